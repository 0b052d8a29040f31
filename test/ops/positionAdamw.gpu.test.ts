// The fused update of the full position unembedding (position_adamw.wgsl: its ghost norm, and
// ΔU_p's and c_p's gradient rebuilt inside AdamW) against the unfused path (position_unembed's
// stored gradient, adamw.wgsl's sumsq and update), whose kernels are checked against PyTorch
// in positionUnembed.gpu.test.ts and kernels.gpu.test.ts; whole runs in train/parity.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { uniformF32 } from '../../src/data/counterRng.ts';
import { AdamW, SEED_ADAMW } from '../../src/ops/adamw.ts';
import { StepTables } from '../../src/gpu/stepTables.ts';
import { positionSlots } from '../../src/ops/groups.ts';
import { packPositionBlocks, positionParamSet, positionPresent, PositionUnembed } from '../../src/ops/positionUnembed.ts';
import { expectClose } from '../helpers/close.ts';
import { runBound } from '../helpers/bound.ts';
import { buf, f32, testGpu } from '../helpers/gpu.ts';
import { interleavedPositions } from '../helpers/positions.ts';

const test = suite('fused position update');

/** Slots at each position (0: absent), V, d, the gradient's scale, and a binding limit to force windows and sub-blocks. */
async function fusedCase(counts: number[], V: number, d: number, scale: number, maxBinding?: number) {
  const gpu = await testGpu();
  const P = counts.length;
  const slotPosition = interleavedPositions(counts);
  const B = slotPosition.length;
  const positions = positionSlots(slotPosition);
  const op = await PositionUnembed.create(gpu, 'full', V, d, P, { maxBinding });
  const { stride, deltaOffset } = op.layout;
  const seed = 900 + V + d + P;
  const blocks = packPositionBlocks({ mode: 'full', V, positions: counts.map((_, q) => q), c: uniformF32(seed, P * V, 0.05), delta: uniformF32(seed + 1, P * V * d, 0.05) }, op.layout);
  // Moments as a run holds them: zero in the blocks' padding, whose gradient is always zero.
  const padding = (i: number) => i % stride >= V && (i % stride < deltaOffset || i % stride >= deltaOffset + V * d);
  const m = uniformF32(seed + 2, P * stride, 1e-3).map((x, i) => (padding(i) ? 0 : x));
  const v = uniformF32(seed + 3, P * stride, 1e-3).map((x, i) => (padding(i) ? 0 : Math.abs(x)));
  const z = buf(gpu, 'z', uniformF32(seed + 4, B * d, 1));
  const dlogits = buf(gpu, 'dlogits', uniformF32(seed + 5, B * V, scale));
  const dz = buf(gpu, 'dz', new Float32Array(B * d));
  const grad = buf(gpu, 'grad', new Float32Array(P * stride));
  const present = positionPresent(op.layout, positions.ranges, (_, i) => 1 + 3 * i);
  // The sets as the lens makes them (a position's sub-blocks in one buffer).
  const unfused = await AdamW.create(gpu, [positionParamSet(op.layout, P, false)], SEED_ADAMW, { maxBinding });
  const fused = await AdamW.create(gpu, [positionParamSet(op.layout, P, true)], SEED_ADAMW, { maxBinding });
  const a = { param: buf(gpu, 'param a', blocks), m: buf(gpu, 'm a', m), v: buf(gpu, 'v a', v) };
  const b = { param: buf(gpu, 'param b', blocks), m: buf(gpu, 'm b', m), v: buf(gpu, 'v b', v) };
  const batch = { rows: new Uint32Array(B), ranges: [], positions };
  await runBound(gpu, 'unfused', (t) => {
    const [backward, update] = [op.bindBackward(t, { params: a.param, grad, z, dlogits, dz }, B), unfused.bind(t, [{ ...a, grad }])];
    return (pass) => {
      backward.encode(pass, batch);
      update.encode(pass, [present]);
    };
  });
  await runBound(gpu, 'fused', (t) => {
    const backward = op.bindBackward(t, { params: b.param, z, dlogits, dz }, B);
    const update = fused.bind(t, [{ ...b, dlogits, z, slots: backward.slots }]);
    return (pass) => {
      backward.encode(pass, batch);
      update.encode(pass, [present]);
    };
  });

  // The ghost norm against the stored gradient's norm, summed in float64.
  const stored = await f32(gpu, grad, P * stride);
  let sq = 0;
  for (const r of positions.ranges) for (let i = 0; i < stride; i++) sq += stored[r.group * stride + i]! ** 2;
  const [ghost, coef] = await f32(gpu, fused.clipState, 2);
  expectClose('ghost norm', [ghost!], [Math.sqrt(sq)], { atol: 0, rtol: 1e-6 });
  assert.ok(Math.sqrt(sq) <= 1 ? coef === 1 : coef! < 1, `clip coefficient ${coef} for norm ${Math.sqrt(sq)}`);
  // Every ΔU_p, c_p and moment as the unfused path leaves them; absent positions untouched.
  // The two norms differ by ~1e-7 relative, so does the clip coefficient: m (of ±1e-3 here)
  // then differs by up to (1 − β₁) · 1e-7 · |coef · g| (~1e-9), far below a wrong element's
  // (1 − β₁) · |coef · g|.
  const atol = { param: 1e-9, m: 1e-9, v: 1e-12 };
  for (const key of ['param', 'm', 'v'] as const) {
    const got = await f32(gpu, b[key], P * stride);
    expectClose(`${key} after the step`, got, await f32(gpu, a[key], P * stride), { atol: atol[key], rtol: 1e-5 });
    const initial = { param: blocks, m, v }[key];
    counts.forEach((c, q) => {
      if (!c) assert.ok(got.subarray(q * stride, (q + 1) * stride).every((y, i) => Object.is(y, initial[q * stride + i])), `${key}: absent position ${q} changed`);
    });
  }
  for (const o of [unfused, fused]) o.destroy();
}

test('positions of 1, 2, 30 and 3 slots and an absent one, V 509, d 48, clipped', () => fusedCase([1, 2, 30, 0, 3], 509, 48, 1));
test('below max_norm (no clip), d 50 (not a multiple of 4: element by element)', () => fusedCase([1, 2, 30, 0, 3], 509, 50, 1e-4));
test('batch 1', () => fusedCase([0, 1], 509, 48, 1));
test('d 300: columns over two workgroups, the second part-full', () => fusedCase([3, 0, 17], 509, 300, 1));
test('d 1100: rows of 4-column vectors over two workgroups, the second part-full', () => fusedCase([3, 0, 2], 509, 1100, 1));
test('V 32,000, d 16, a seed batch of 32 over 6 positions', () => fusedCase([5, 6, 5, 0, 8, 8], 32000, 16, 0.01));
for (const [d, how] of [[48, 'rows of 4-column vectors'], [50, 'element by element (d not a multiple of 4)']] as const) {
  test(`ΔU_p in sub-blocks over binding windows (blocks larger than a binding), d ${d}: ${how}`, async () => {
    const maxBinding = 128 * d * 4;
    const gpu = await testGpu();
    const op = await PositionUnembed.create(gpu, 'full', 509, d, 5, { maxBinding });
    assert.ok(op.layout.subBlocks > 1, `sub-blocks ${op.layout.subBlocks}`);
    await fusedCase([1, 2, 30, 0, 3], 509, d, 1, maxBinding);
  });
}
test('a fused position set needs dlogits, z and the slot list', async () => {
  const gpu = await testGpu();
  const fused = await AdamW.create(gpu, [{ stride: 64, numGroups: 1, fusedPosition: { V: 8, d: 4, deltaOffset: 64, subBlocks: 1 } }], SEED_ADAMW);
  const b = buf(gpu, 'b', new Float32Array(64));
  assert.throws(() => fused.bind(new StepTables(gpu, 'never sealed'), [{ param: b, m: b, v: b, grad: b }]), /set 0 is fused: give it dlogits, z and slots/);
  fused.destroy();
});

test.run();
