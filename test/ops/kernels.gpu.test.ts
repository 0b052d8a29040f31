// Unembedding, cross-entropy, top-k and AdamW kernels on the GPU against PyTorch fixtures.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { uniformF32 } from '../../src/data/counterRng.ts';
import { headParts, partialSumBytes, REGISTER_TILES, Unembed, type UnembedVariant } from '../../src/ops/unembed.ts';
import type { BufferLimits } from '../../src/gpu/buffers.ts';
import { CrossEntropy } from '../../src/ops/crossEntropy.ts';
import { TopK, TOP_K, topkRef, type TopKVariant } from '../../src/ops/topk.ts';
import { AdamW, SEED_ADAMW } from '../../src/ops/adamw.ts';
import { blockStride } from '../../src/ops/groups.ts';
import { expectClose, gather } from '../helpers/close.ts';
import { adamwInputs, extremeLogits, fixture } from '../helpers/fixtures.ts';
import { rowsBatch, runBound, runOne } from '../helpers/bound.ts';
import { buf, bufParts, f32, testGpu, u32 } from '../helpers/gpu.ts';
import { packF16 } from '../../src/shared/f16.ts';
import { pipeline, writeParams } from '../../src/gpu/pipelines.ts';
import { ADAMW_CHUNK } from '../../src/ops/tiles.ts';

const test = suite('kernels');

async function unembedCase(name: string, limits: Partial<BufferLimits> = {}, variant: UnembedVariant = 'tiled') {
  const gpu = await testGpu();
  const fx = fixture(name);
  const { V, d, M, seed, f16 } = fx.meta;
  const stored = fx.has('U');
  const U = stored ? fx.f32('U') : uniformF32(seed, V * d, 0.05);
  const z = stored ? fx.f32('z') : uniformF32(seed + 1, M * d, 1);
  const dl = stored ? fx.f32('dlogits') : uniformF32(seed + 2, M * V, 1e-3);
  const dtype = f16 ? 'f16' : 'f32';
  const op = await Unembed.create(gpu, V, d, dtype, limits, variant);
  assert.is(op.variant, variant);
  const b = {
    z: buf(gpu, 'z', z),
    U: bufParts(gpu, 'U', f16 ? packF16(U) : U, headParts(V, d, dtype, gpu.bufferLimits(limits).maxBuffer)),
    logits: buf(gpu, 'logits', new Float32Array(M * V)),
    dlogits: buf(gpu, 'dlogits', dl),
    dz: buf(gpu, 'dz', new Float32Array(M * d)),
    partial: buf(gpu, 'partial', new Float32Array(partialSumBytes(op.windows, M, d) / 4)),
  };
  await runBound(gpu, `unembed ${name}`, (t) => {
    const [forward, backward] = [op.bindForward(t, b, M), op.bindBackward(t, b, M)];
    return (pass) => {
      forward.encode(pass, rowsBatch(M));
      backward.encode(pass, rowsBatch(M));
    };
  });
  const logits = await f32(gpu, b.logits, M * V);
  const tol = { atol: 2e-6 * Math.sqrt(d), rtol: 1e-5 };
  if (stored) expectClose(`${name} logits`, logits, fx.f32('logits'), tol);
  else {
    expectClose(`${name} logits sampled`, gather(logits, fx.i32('logits_index')), fx.f32('logits_sampled'), tol);
    const sumsq = new Float64Array(M);
    for (let s = 0; s < M; s++) for (let v = 0; v < V; v++) sumsq[s] += logits[s * V + v]! ** 2;
    expectClose(`${name} logits row Σ²`, sumsq, fx.f32('logits_row_sumsq'), { atol: 0, rtol: 1e-5 });
  }
  expectClose(`${name} dz`, await f32(gpu, b.dz, M * d), fx.f32('dz'), { atol: 1e-3 * 2e-6 * Math.sqrt(V), rtol: 1e-5 });
}

test("a kernel's params are filled by the field names of its WGSL struct, checked", async () => {
  const gpu = await testGpu();
  const adam = await pipeline(gpu, 'adamw', 'update', { CHUNK: ADAMW_CHUNK, SUMSQ: false, CLIP: false, UPDATE: true });
  const given = { groupStride: 7, groupBase: 1, rangeBase: 2, decay: 0.5, beta1: 0.9, oneMinusBeta1: 0.1, beta2: 0.999, oneMinusBeta2: 0.001, eps: 1e-8 };
  const view = new DataView(new ArrayBuffer(64));
  const pack = (values: Record<string, number>) => writeParams(adam, values, view, 0);
  assert.is(pack(given), 40);
  // struct Params { groupStride, groupBase, rangeBase, pad: u32, decay, beta1, … : f32 }
  assert.equal([view.getUint32(0, true), view.getUint32(4, true), view.getUint32(8, true), view.getUint32(12, true)], [7, 1, 2, 0]);
  assert.is(view.getFloat32(16, true), 0.5);
  assert.is(view.getFloat32(36, true), Math.fround(1e-8));
  const { eps: _eps, ...missing } = given;
  assert.throws(() => pack(missing), /struct Params field eps not given/);
  assert.throws(() => pack({ ...given, lr: 1 }), /struct Params has no field lr/);
  assert.throws(() => pack({ ...given, groupBase: -1 }), /groupBase = -1 is not a u32/);
});

for (const variant of ['tiled', 'subgroup', ...REGISTER_TILES] as const) {
  const t = (title: string, fn: () => Promise<void>) => test(`unembedding (${variant}) ${title}`, fn);
  t('V 509 (prime), d 48, batch 33, f32', () => unembedCase('unembed_v509_d48', {}, variant));
  t('V 509, f16 head', () => unembedCase('unembed_v509_d48_f16', {}, variant));
  t('V 509, batch 1', () => unembedCase('unembed_v509_d48_b1', {}, variant));
  t('V 509, d 50 (not a multiple of 8 or of a tile)', () => unembedCase('unembed_v509_d50', {}, variant));
  t('V 509, d 50, f16 head', () => unembedCase('unembed_v509_d50_f16', {}, variant));
  t('V 509, d 50, batch 256 (evaluation)', () => unembedCase('unembed_v509_d50_m256', {}, variant));
  t('V 32,000 over three buffers of 12,288 rows, bound in windows of 8,192 rows', async () => {
    const gpu = await testGpu();
    const limits = { maxBinding: 64 * 2 ** 20, maxBuffer: 96 * 2 ** 20 };
    const op = await Unembed.create(gpu, 32000, 2048, 'f32', limits, variant);
    assert.equal(op.windows.map((w) => [w.part, w.first, w.count]), [[0, 0, 8192], [0, 8192, 4096], [1, 12288, 8192], [1, 20480, 4096], [2, 24576, 7424]]);
    await unembedCase('unembed_v32000_d2048', limits, variant);
  });
  t('V 32,000, d 2,048 (262 MB: several windows on lavapipe)', () => unembedCase('unembed_v32000_d2048', {}, variant));
  t('V 32,000, d 2,048, f16 head', () => unembedCase('unembed_v32000_d2048_f16', {}, variant));
}

function logitsFor(fx: ReturnType<typeof fixture>): Float32Array {
  return fx.has('logits') ? fx.f32('logits') : extremeLogits(fx.meta.V, fx.meta.B, fx.meta.seed);
}

async function ceCase(name: string) {
  const gpu = await testGpu();
  const fx = fixture(name);
  const { V, B, count } = fx.meta;
  const targets = fx.i32('targets');
  const op = await CrossEntropy.create(gpu, V);
  const b = {
    logits: buf(gpu, 'logits', logitsFor(fx)),
    targets: buf(gpu, 'targets', targets),
    weights: buf(gpu, 'weights', new Float32Array(B).fill(1)),
    loss: buf(gpu, 'loss', new Float32Array(B)),
    dlogits: buf(gpu, 'dlogits', new Float32Array(B * V)),
  };
  await runOne(gpu, `cross entropy ${name}`, (t) => op.bind(t, b, B), { ...rowsBatch(B), count });
  expectClose(`${name} loss`, await f32(gpu, b.loss, B), fx.f32('loss'), { atol: 2e-5, rtol: 2e-6 });
  const g = await f32(gpu, b.dlogits, B * V);
  const gtol = { atol: 1e-9, rtol: 2e-5 };
  if (fx.has('dlogits')) expectClose(`${name} dlogits`, g, fx.f32('dlogits'), gtol);
  else {
    expectClose(`${name} dlogits sampled`, gather(g, fx.i32('dlogits_index')), fx.f32('dlogits_sampled'), gtol);
    const atT = Array.from(targets, (t, s) => g[s * V + Math.max(t, 0)]!);
    expectClose(`${name} dlogits at target`, atT, fx.f32('dlogits_at_target'), gtol);
    const abs = new Float64Array(B);
    for (let s = 0; s < B; s++) for (let v = 0; v < V; v++) abs[s] += Math.abs(g[s * V + v]!);
    expectClose(`${name} Σ|dlogits| per row`, abs, fx.f32('dlogits_row_abs_sum'), { atol: 1e-8, rtol: 1e-5 });
  }
}

test('cross-entropy V 509, padded rows, logits ±100', () => ceCase('ce_v509'));
test('cross-entropy V 509, batch 1', () => ceCase('ce_v509_b1'));
test('cross-entropy V 32,000', () => ceCase('ce_v32000'));
test('cross-entropy V 128,256', () => ceCase('ce_v128256'));

async function topkCase(name: string, variant: TopKVariant) {
  const gpu = await testGpu();
  const fx = fixture(name);
  const { V, B } = fx.meta;
  const op = await TopK.create(gpu, V, 1, variant);
  assert.is(op.variant, variant);
  const b = {
    logits: buf(gpu, 'logits', logitsFor(fx)),
    targets: buf(gpu, 'targets', fx.i32('targets')),
    weights: buf(gpu, 'weights', new Float32Array(B).fill(1)),
    rank: buf(gpu, 'rank', new Uint32Array(B)),
    anyRank: buf(gpu, 'any rank', new Uint32Array(B)),
    ids: buf(gpu, 'ids', new Uint32Array(B * TOP_K)),
  };
  await runOne(gpu, `topk ${name}`, (t) => op.bind(t, b, B), rowsBatch(B));
  assert.equal(Array.from(await u32(gpu, b.rank, B)), Array.from(fx.u32('rank')), `${name} rank`);
  assert.equal(Array.from(await u32(gpu, b.anyRank, B)), Array.from(fx.u32('rank')), `${name} any rank (one target a row)`);
  assert.equal(Array.from(await u32(gpu, b.ids, B * TOP_K)), Array.from(fx.u32('ids')), `${name} ids`);
}

for (const variant of ['workgroup', 'subgroup'] as const) {
  test(`top-k (${variant}) V 509: ties, a padded row`, () => topkCase('topk_v509', variant));
  test(`top-k (${variant}) V 32,000`, () => topkCase('topk_v32000', variant));
  test(`top-k (${variant}) V 128,256`, () => topkCase('topk_v128256', variant));
  test(`top-k (${variant}) with K weighted targets a row: first-target and any-target ranks (zero weights skipped)`, async () => {
    const gpu = await testGpu();
    const fx = fixture('topk_any_v509');
    const { V, B, K } = fx.meta;
    const op = await TopK.create(gpu, V, K, variant);
    const b = {
      logits: buf(gpu, 'logits', fx.f32('logits')),
      targets: buf(gpu, 'targets', fx.i32('targets')),
      weights: buf(gpu, 'weights', fx.f32('weights')),
      rank: buf(gpu, 'rank', new Uint32Array(B)),
      anyRank: buf(gpu, 'any rank', new Uint32Array(B)),
      ids: buf(gpu, 'ids', new Uint32Array(B * TOP_K)),
    };
    await runOne(gpu, 'topk any', (t) => op.bind(t, b, B), rowsBatch(B));
    assert.equal(Array.from(await u32(gpu, b.rank, B)), Array.from(fx.u32('rank')), 'first-target rank');
    assert.equal(Array.from(await u32(gpu, b.anyRank, B)), Array.from(fx.u32('any_rank')), 'any-target rank');
    const ref = topkRef(fx.f32('logits'), fx.i32('targets'), B, V, fx.f32('weights'));
    assert.equal(Array.from(ref.anyRank), Array.from(fx.u32('any_rank')), 'reference any-target rank');
  });
}

async function adamwCase(name: string, maxBinding?: number) {
  const gpu = await testGpu();
  const fx = fixture(name);
  const { d, groups: G, present, prior_steps: prior } = fx.meta;
  const stride = blockStride(d);
  const init = adamwInputs(fx, stride);
  const op = await AdamW.create(gpu, [{ stride, numGroups: G }], { ...SEED_ADAMW, maxNorm: fx.meta.max_norm }, { maxBinding });
  const b = { param: buf(gpu, 'param', init.param), grad: buf(gpu, 'grad', init.grad), m: buf(gpu, 'm', init.m), v: buf(gpu, 'v', init.v) };
  await runOne(gpu, `adamw ${name}`, (t) => op.bind(t, [b]), [present.map((g: number) => ({ group: g, step: prior[g] + 1 }))]);
  const norm = await f32(gpu, op.clipState, 1);
  expectClose(`${name} norm`, norm, fx.f32('norm'), { atol: 0, rtol: 2e-6 });
  const out = { param: await f32(gpu, b.param, G * stride), m: await f32(gpu, b.m, G * stride), v: await f32(gpu, b.v, G * stride) };
  for (let g = 0; g < G; g++) {
    for (const [k, off, n] of [['W', 0, d * d], ['b', d * d, d]] as const) {
      for (const t of ['param', 'm', 'v'] as const) {
        const got = out[t].subarray(g * stride + off, g * stride + off + n);
        if (!present.includes(g)) {
          assert.equal(Array.from(got), Array.from(init[t].subarray(g * stride + off, g * stride + off + n)), `${name}: absent group ${g} ${t} changed`);
          continue;
        }
        const ref = fx.f32(`${k}${g}_${t}`);
        const scale = Math.max(...Array.from(ref, Math.abs));
        expectClose(`${name} ${k}${g} ${t}`, got, ref, { atol: 1e-6 * scale, rtol: 1e-6 });
      }
    }
  }
  op.destroy();
}

test('AdamW + clip: norm above max_norm, steps 1, 4, 11', () => adamwCase('adamw_clip'));
test('AdamW + clip: norm below max_norm', () => adamwCase('adamw_noclip'));
test('AdamW: tiny values where eps dominates', () => adamwCase('adamw_tiny'));
test('AdamW: tiny gradients clipped (the 1e-6 of the clip matters)', () => adamwCase('adamw_tiny_clip'));
test('AdamW over binding windows of one group', () => adamwCase('adamw_clip', blockStride(72) * 4));

test.run();
