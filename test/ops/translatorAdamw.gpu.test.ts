// The fused translator update (translator_ghost_norm.wgsl, and translator_sg.wgsl's gradient
// with ADAMW: dW rebuilt inside AdamW)
// against the unfused path (translator_sg's stored gradient, adamw.wgsl's sumsq and update),
// whose kernels are checked against PyTorch in translator.gpu.test.ts and kernels.gpu.test.ts.
// The whole fused step against PyTorch is in test/lens/step.gpu.test.ts.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { uniformF32 } from '../../src/data/counterRng.ts';
import { AdamW, SEED_ADAMW, type PresentGroup } from '../../src/ops/adamw.ts';
import { blockStride, groupRanges } from '../../src/ops/groups.ts';
import { Translator } from '../../src/ops/translator.ts';
import { expectClose } from '../helpers/close.ts';
import { StepTables } from '../../src/gpu/stepTables.ts';
import { runBound, runOne } from '../helpers/bound.ts';
import { buf, f32, testGpu } from '../helpers/gpu.ts';

const test = suite('fused translator update');

/** Slots a group (0: absent), d, the gradient's scale, and a binding limit to force windows. */
async function fusedCase(counts: number[], d: number, scale: number, maxNorm: number, maxBinding?: number) {
  const gpu = await testGpu();
  const G = counts.length;
  const stride = blockStride(d);
  const groupOf = Int32Array.from(counts.flatMap((c, g) => Array<number>(c).fill(g)));
  const B = groupOf.length;
  const ranges = groupRanges(groupOf);
  const seed = 700 + d + counts.length;
  const x = uniformF32(seed, B * d, 1);
  const dy = uniformF32(seed + 1, B * d, scale);
  const param = uniformF32(seed + 2, G * stride, 0.05);
  const m = uniformF32(seed + 3, G * stride, 1e-3);
  const v = uniformF32(seed + 4, G * stride, 1e-3).map(Math.abs);
  const config = { ...SEED_ADAMW, maxNorm };
  const present: PresentGroup[] = ranges.map((r, i) => ({ group: r.group, step: 1 + 3 * i, first: r.first, count: r.count }));

  const tr = await Translator.create(gpu, d, G, { maxBinding, backward: 'subgroup' });
  const unfused = await AdamW.create(gpu, [{ stride, numGroups: G }], config, { maxBinding });
  const fused = await AdamW.create(gpu, [{ stride, numGroups: G, fusedTranslator: { d } }], config, { maxBinding });
  const xBuf = buf(gpu, 'x', x);
  const dyBuf = buf(gpu, 'dy', dy);
  const grad = buf(gpu, 'grad', new Float32Array(G * stride));
  const a = { param: buf(gpu, 'param a', param), m: buf(gpu, 'm a', m), v: buf(gpu, 'v a', v) };
  const b = { param: buf(gpu, 'param b', param), m: buf(gpu, 'm b', m), v: buf(gpu, 'v b', v) };
  await runBound(gpu, 'unfused', (t) => {
    const [backward, update] = [tr.bindBackward(t, { dy: dyBuf, x: xBuf, grad }, B), unfused.bind(t, [{ ...a, grad }])];
    return (pass) => {
      backward.encode(pass, { rows: new Uint32Array(B), ranges });
      update.encode(pass, [present]);
    };
  });
  await runOne(gpu, 'fused', (t) => fused.bind(t, [{ ...b, dy: dyBuf, x: xBuf }]), [present]);

  // The ghost norm against the stored gradient's norm, summed in float64.
  const dW = await f32(gpu, grad, G * stride);
  let sq = 0;
  for (const r of ranges) for (let i = 0; i < d * d + d; i++) sq += dW[r.group * stride + i]! ** 2;
  const [ghost, coef] = await f32(gpu, fused.clipState, 2);
  expectClose('ghost norm', [ghost!], [Math.sqrt(sq)], { atol: 0, rtol: 1e-6 });
  assert.ok(maxNorm >= Math.sqrt(sq) ? coef === 1 : coef! < 1, `clip coefficient ${coef} for norm ${Math.sqrt(sq)}`);

  // Every weight, bias and moment as the unfused path leaves them (the blocks' zero padding
  // past W and b is no parameter: the unfused update sweeps it, the fused one skips it);
  // absent groups untouched.
  const used = (a: Float32Array) => a.filter((_, i) => i % stride < d * d + d);
  for (const key of ['param', 'm', 'v'] as const) {
    const got = await f32(gpu, b[key], G * stride);
    const want = await f32(gpu, a[key], G * stride);
    expectClose(`${key} after the step`, used(got), used(want), { atol: key === 'param' ? 1e-9 : 1e-12, rtol: 1e-5 });
    for (let g = 0; g < G; g++) {
      if (counts[g]) continue;
      const initial = { param, m, v }[key];
      assert.ok(got.subarray(g * stride, (g + 1) * stride).every((y, i) => Object.is(y, initial[g * stride + i])), `${key}: absent group ${g} changed`);
    }
  }
  for (const o of [unfused, fused]) o.destroy();
}

test('groups of 1, 2, 40 and 3 slots and an empty one, d 50, clipped', () => fusedCase([1, 2, 40, 0, 3], 50, 1, 1));
test('groups of 1, 2, 40 and 3 slots, d 50, below max_norm (no clip)', () => fusedCase([1, 2, 40, 0, 3], 50, 1e-3, 1));
test('d 48, batch 1', () => fusedCase([0, 1, 0], 48, 1, 1));
test('d 2048, groups of 3, 1 and 2 slots (a training batch at the seed width)', () => fusedCase([3, 1, 0, 2], 2048, 0.01, 1));
test('parameters over binding windows of two groups', async () => {
  const gpu = await testGpu();
  const twoGroups = 2 * blockStride(50) * 4;
  const tr = await Translator.create(gpu, 50, 5, { maxBinding: twoGroups });
  assert.is(tr.windows.length, 3);
  await fusedCase([1, 2, 40, 0, 3], 50, 1, 1, twoGroups);
});
test('a fused set needs dy and x, an unfused one its gradient', async () => {
  const gpu = await testGpu();
  const stride = blockStride(8);
  const fused = await AdamW.create(gpu, [{ stride, numGroups: 1, fusedTranslator: { d: 8 } }], SEED_ADAMW);
  const b = buf(gpu, 'b', new Float32Array(stride));
  assert.throws(() => fused.bind(new StepTables(gpu, 'never sealed'), [{ param: b, m: b, v: b, grad: b }]), /set 0 is fused: give it dy and x/);
  fused.destroy();
});

test.run();
