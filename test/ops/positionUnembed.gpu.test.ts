// The position-specific unembedding on the GPU against PyTorch: logits + c_p (+ ΔU_p z)
// forward; dc_p, dΔU_p and dz += ΔU_pᵀ dlogits backward; an absent position's block
// untouched; ΔU_p bound in vocabulary windows when a block exceeds one binding.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { uniformF32 } from '../../src/data/counterRng.ts';
import { positionSlots } from '../../src/ops/groups.ts';
import { packPositionBlocks, PositionUnembed, type PositionVariant, positionBackwardRef, positionForwardRef, positionLayout, unpackPositionBlocks } from '../../src/ops/positionUnembed.ts';
import { expectClose, gather } from '../helpers/close.ts';
import { fixture } from '../helpers/fixtures.ts';
import { runBound } from '../helpers/bound.ts';
import { buf, f32, testGpu } from '../helpers/gpu.ts';
import { interleavedPositions } from '../helpers/positions.ts';

const test = suite('position unembedding');
const SENTINEL = 777.25;

async function runCase(name: string, variant: PositionVariant, maxBinding?: number) {
  const gpu = await testGpu();
  const fx = fixture(name);
  const { V, B, P, d, seed, full } = fx.meta;
  const mode = full ? 'full' : 'bias';
  const op = await PositionUnembed.create(gpu, mode, V, d, P, { maxBinding }, variant);
  assert.is(op.variant, variant);
  const c = fx.f32('c');
  const delta = full ? uniformF32(seed + 5, P * V * d, 0.05) : undefined;
  const positions = Array.from({ length: P }, (_, q) => q);
  const layout = op.layout;
  const slotPosition = fx.i32('slot_position');
  const { slots, ranges } = positionSlots(slotPosition);
  assert.is(ranges.length, P - 1);
  const z = fx.f32('z');
  const dzBefore = uniformF32(seed + 7, B * d, 0.01); // U's part of dz, which ΔU_p adds to
  const b = {
    params: buf(gpu, 'params', packPositionBlocks({ mode, V, positions, c, delta }, layout)),
    grad: buf(gpu, 'grad', new Float32Array(P * layout.stride).fill(SENTINEL)),
    z: buf(gpu, 'z', z),
    logits: buf(gpu, 'logits', fx.f32('logits')),
    dlogits: buf(gpu, 'dlogits', fx.f32('dlogits')),
    dz: buf(gpu, 'dz', dzBefore),
  };
  const batch = { rows: new Uint32Array(B), ranges: [], positions: { slots, ranges } };
  await runBound(gpu, name, (t) => {
    const [forward, backward] = [op.bindForward(t, b, B), op.bindBackward(t, b, B)];
    return (pass) => {
      forward.encode(pass, batch);
      backward.encode(pass, batch);
    };
  });
  const tol = { atol: 2e-6 * Math.sqrt(d), rtol: 1e-5 };
  expectClose(`${name} logits`, await f32(gpu, b.logits, B * V), fx.f32('out'), tol);
  const grad = await f32(gpu, b.grad, P * layout.stride);
  const g = unpackPositionBlocks(grad, layout, positions);
  const present = (P - 1) * V;
  expectClose(`${name} dc_p`, g.c.subarray(0, present), fx.f32('dc').subarray(0, present), { atol: 1e-8, rtol: 1e-5 });
  assert.ok(grad.subarray((P - 1) * layout.stride, P * layout.stride).every((x) => x === SENTINEL), "the absent position's block was written");
  if (full) {
    expectClose(`${name} dΔU_p sampled`, gather(g.delta!, fx.i32('ddelta_index')).map((x, i) => (fx.i32('ddelta_index')[i]! < present * d ? x : 0)),
      Array.from(fx.f32('ddelta_sampled'), (x, i) => (fx.i32('ddelta_index')[i]! < present * d ? x : 0)), { atol: 1e-8, rtol: 1e-5 });
    const rowSums = new Float64Array(present);
    for (let i = 0; i < present; i++) for (let k = 0; k < d; k++) rowSums[i] += g.delta![i * d + k]!;
    expectClose(`${name} dΔU_p row sums`, rowSums, fx.f32('ddelta_row_sums').subarray(0, present), { atol: 1e-7, rtol: 1e-5 });
    const dz = await f32(gpu, b.dz, B * d);
    expectClose(`${name} dz − U's part`, dz.map((x, i) => x - dzBefore[i]!), fx.f32('dz'), { atol: 1e-7, rtol: 1e-4 });
  }
  // The TypeScript references agree with PyTorch too.
  expectClose(`${name} reference logits`, positionForwardRef(fx.f32('logits'), z, slotPosition, V, d, c, delta), fx.f32('out'), tol);
  const ref = positionBackwardRef(fx.f32('dlogits'), z, slotPosition, P, V, d, delta);
  expectClose(`${name} reference dc_p`, ref.dc, fx.f32('dc'), { atol: 1e-9, rtol: 1e-6 });
  if (full) expectClose(`${name} reference dz`, ref.dz, fx.f32('dz'), { atol: 1e-9, rtol: 1e-6 });
}

const variants: PositionVariant[] = (await testGpu()).hasSubgroups ? ['tiled', 'subgroup'] : ['tiled'];
for (const variant of variants) {
  test(`bias (${variant}): V 509 (prime), 33 rows over 5 of 6 positions`, () => runCase('position_bias_v509', variant));
  test(`full (${variant}): ΔU_p z forward, dΔU_p and dz backward, d 48`, () => runCase('position_full_v509', variant));
  test(`full (${variant}) with ΔU_p in vocabulary windows of 128 rows and blocks in sub-blocks`, async () => {
    const maxBinding = 128 * 48 * 4;
    const layout = positionLayout('full', 509, 48, maxBinding);
    assert.ok(layout.subBlocks > 1 && layout.subStride * 4 <= maxBinding, `sub-blocks ${layout.subBlocks} of ${layout.subStride}`);
    const gpu = await testGpu();
    assert.is((await PositionUnembed.create(gpu, 'full', 509, 48, 6, { maxBinding }, variant)).deltaWindows.length, 4);
    await runCase('position_full_v509', variant, maxBinding);
  });
}

if (variants.includes('subgroup')) {
  test('full (subgroup) at several slot widths: positions of 1, 3, 17 (two passes of 16), 0 and 5 slots', async () => {
    const gpu = await testGpu();
    const [V, d, counts] = [509, 48, [1, 3, 17, 0, 5]];
    const P = counts.length;
    const slotPosition = interleavedPositions(counts);
    const B = slotPosition.length;
    const op = await PositionUnembed.create(gpu, 'full', V, d, P, {}, 'subgroup');
    const [c, delta, z] = [uniformF32(41, P * V, 0.05), uniformF32(42, P * V * d, 0.05), uniformF32(43, B * d, 1)];
    const [logits, dlogits] = [uniformF32(44, B * V, 1), uniformF32(45, B * V, 1)];
    const b = {
      params: buf(gpu, 'params', packPositionBlocks({ mode: 'full', V, positions: counts.map((_, q) => q), c, delta }, op.layout)),
      z: buf(gpu, 'z', z),
      logits: buf(gpu, 'logits', logits),
      dlogits: buf(gpu, 'dlogits', dlogits),
      dz: buf(gpu, 'dz', new Float32Array(B * d)),
    };
    const batch = { rows: new Uint32Array(B), ranges: [], positions: positionSlots(slotPosition) };
    await runBound(gpu, 'slot widths', (t) => {
      const [forward, backward] = [op.bindForward(t, b, B), op.bindBackward(t, b, B)];
      return (pass) => {
        forward.encode(pass, batch);
        backward.encode(pass, batch);
      };
    });
    // The float64 references, which agree with PyTorch in the cases above.
    expectClose('logits', await f32(gpu, b.logits, B * V), positionForwardRef(logits, z, slotPosition, V, d, c, delta), { atol: 2e-6 * Math.sqrt(d), rtol: 1e-5 });
    expectClose('dz', await f32(gpu, b.dz, B * d), positionBackwardRef(dlogits, z, slotPosition, P, V, d, delta).dz, { atol: 1e-6, rtol: 1e-5 });
  });
}

test.run();
