// Grouped translator forward (y = x + W_g x + b_g, both kernel variants) and backward (dW_g, db_g) against PyTorch.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { uniformF32 } from '../../src/data/counterRng.ts';
import { blockStride, groupRanges, packBlocks } from '../../src/ops/groups.ts';
import { Translator } from '../../src/ops/translator.ts';
import { expectClose, gather } from '../helpers/close.ts';
import { fixture } from '../helpers/fixtures.ts';
import { runBound } from '../helpers/bound.ts';
import { buf, f32, testGpu } from '../helpers/gpu.ts';

const test = suite('translator');
const SENTINEL = 12345.5; // blocks of absent groups must keep it
const VARIANTS = ['tiled', 'gemv', 'subgroup'] as const; // every forward kernel, whichever `auto` would pick
const BACKWARD = ['tiled', 'subgroup'] as const;

async function runCase(name: string, maxBinding?: number) {
  const gpu = await testGpu();
  const fx = fixture(name);
  const { d, groups: G, batch: B, seed } = fx.meta;
  const stored = fx.has('W');
  const W = stored ? fx.f32('W') : uniformF32(seed, G * d * d, 0.05);
  const b = stored ? fx.f32('b') : uniformF32(seed + 1, G * d, 0.1);
  const x = stored ? fx.f32('x') : uniformF32(seed + 2, B * d, 1);
  const dy = stored ? fx.f32('dy') : uniformF32(seed + 3, B * d, 1);
  const groupOf = fx.i32('group_of_slot');
  const ranges = groupRanges(groupOf);
  const forward = await Promise.all(VARIANTS.map((v) => Translator.create(gpu, d, G, { maxBinding, forward: v })));
  const backward = await Promise.all(BACKWARD.map((v) => Translator.create(gpu, d, G, { maxBinding, backward: v })));
  const batch = { rows: new Uint32Array(B), ranges };
  const stride = blockStride(d);
  const xBuf = buf(gpu, 'x', x);
  const pBuf = buf(gpu, 'params', packBlocks(W, b, G, d));
  const yBufs = VARIANTS.map((v) => buf(gpu, `y ${v}`, new Float32Array(B * d)));
  const dyBuf = buf(gpu, 'dy', dy);
  const gBufs = BACKWARD.map((v) => buf(gpu, `grad ${v}`, new Float32Array(G * stride).fill(SENTINEL)));
  await runBound(gpu, `translator ${name}`, (t) => {
    const calls = [
      ...forward.map((tr, i) => tr.bindForward(t, { x: xBuf, params: pBuf, y: yBufs[i]! }, B)),
      ...backward.map((tr, i) => tr.bindBackward(t, { dy: dyBuf, x: xBuf, grad: gBufs[i]! }, B)),
    ];
    return (pass) => calls.forEach((c) => c.encode(pass, batch));
  });
  const tol = { atol: 2e-6 * Math.sqrt(d), rtol: 1e-5 };
  for (const [i, v] of VARIANTS.entries()) expectClose(`${name} y (${v})`, await f32(gpu, yBufs[i]!, B * d), fx.f32('y'), tol);
  for (const [i, v] of BACKWARD.entries()) checkGrad(`${name} (${v})`, await f32(gpu, gBufs[i]!, G * stride), fx, ranges, { d, G, B, stride });
}

function checkGrad(
  name: string,
  grad: Float32Array,
  fx: ReturnType<typeof fixture>,
  ranges: ReturnType<typeof groupRanges>,
  { d, G, B, stride }: { d: number; G: number; B: number; stride: number },
) {
  const stored = fx.has('W');

  const dW = new Float32Array(G * d * d);
  const db = new Float32Array(G * d);
  const present = new Set(ranges.map((r) => r.group));
  for (let g = 0; g < G; g++) {
    const block = grad.subarray(g * stride, (g + 1) * stride);
    if (!present.has(g)) {
      assert.ok(block.every((v) => v === SENTINEL), `${name}: block of absent group ${g} was written`);
      continue;
    }
    dW.set(block.subarray(0, d * d), g * d * d);
    db.set(block.subarray(d * d, d * d + d), g * d);
  }
  const gradTol = { atol: 2e-6 * Math.sqrt(B), rtol: 1e-5 };
  expectClose(`${name} db`, db, fx.f32('db'), gradTol);
  if (stored) {
    expectClose(`${name} dW`, dW, fx.f32('dW'), gradTol);
  } else {
    expectClose(`${name} dW sampled`, gather(dW, fx.i32('dW_index')), fx.f32('dW_sampled'), gradTol);
    const rowSums = new Float64Array(G * d);
    const colSums = new Float64Array(G * d);
    for (let g = 0; g < G; g++)
      for (let n = 0; n < d; n++)
        for (let k = 0; k < d; k++) {
          const v = dW[(g * d + n) * d + k]!;
          rowSums[g * d + n] += v;
          colSums[g * d + k] += v;
        }
    const sumTol = { atol: 2e-6 * Math.sqrt(B * d), rtol: 1e-5 };
    expectClose(`${name} dW row sums`, rowSums, fx.f32('dW_row_sums'), sumTol);
    expectClose(`${name} dW col sums`, colSums, fx.f32('dW_col_sums'), sumTol);
  }
}

test('d 48, 5 groups, batch 33, one group empty, a group spanning two tiles', () => runCase('translator_d48'));
test('d 48, batch 1', () => runCase('translator_d48_b1'));
test('d 50 (no tile divides it), groups of 1, 2, 40 and 3 slots, one empty', () => runCase('translator_d50'));
test('d 2048, batch 33, an empty group between two present ones', () => runCase('translator_d2048'));
test('d 48 with parameters split over binding windows of two groups', async () => {
  const gpu = await testGpu();
  const twoGroups = 2 * blockStride(48) * 4;
  const tr = await Translator.create(gpu, 48, 5, { maxBinding: twoGroups });
  assert.is(tr.windows.length, 3);
  await runCase('translator_d48', twoGroups);
});

test.run();
