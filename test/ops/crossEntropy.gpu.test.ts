// The generalised cross-entropy on the GPU against PyTorch: soft targets given sparsely (K
// weighted ids a row, duplicates, padding, a padded row), a dense teacher (KL), and the K = 1
// kernel bit for bit equal to a wider one whose rows hold one target.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { uniformF32 } from '../../src/data/counterRng.ts';
import { crossEntropyRef, CrossEntropy, klRef, normaliseWeights } from '../../src/ops/crossEntropy.ts';
import { expectClose, gather } from '../helpers/close.ts';
import { extremeLogits, fixture } from '../helpers/fixtures.ts';
import { rowsBatch, runOne } from '../helpers/bound.ts';
import { buf, f32, testGpu } from '../helpers/gpu.ts';

const test = suite('cross-entropy: soft targets and teacher');

/** The teacher of ce_teacher_case(), regenerated. */
function teacherLogits(V: number, B: number, seed: number, L: Float32Array): Float32Array {
  const T = uniformF32(seed + 3, B * V, 8);
  if (B >= 4) {
    T.fill(0, 0, V);
    T[V + 11] = 100;
    T.set(L.subarray(3 * V, 4 * V), 3 * V);
  }
  return T;
}

const LOSS_TOL = { atol: 2e-5, rtol: 2e-6 };
const GRAD_TOL = { atol: 1e-9, rtol: 2e-5 };

function checkGrad(name: string, g: Float32Array, fx: ReturnType<typeof fixture>, B: number, V: number) {
  if (fx.has('dlogits')) return expectClose(`${name} dlogits`, g, fx.f32('dlogits'), GRAD_TOL);
  expectClose(`${name} dlogits sampled`, gather(g, fx.i32('dlogits_index')), fx.f32('dlogits_sampled'), GRAD_TOL);
  const abs = new Float64Array(B);
  for (let s = 0; s < B; s++) for (let v = 0; v < V; v++) abs[s] += Math.abs(g[s * V + v]!);
  expectClose(`${name} Σ|dlogits| per row`, abs, fx.f32('dlogits_row_abs_sum'), { atol: 1e-8, rtol: 1e-5 });
}

async function sparseCase(name: string) {
  const gpu = await testGpu();
  const fx = fixture(name);
  const { V, B, K, count, seed } = fx.meta;
  const logits = fx.has('logits') ? fx.f32('logits') : extremeLogits(V, B, seed);
  const targets = fx.i32('targets');
  const { weights, badRow } = normaliseWeights(targets, fx.f32('weights'), K);
  assert.is(badRow, -1);
  const op = await CrossEntropy.create(gpu, V, { kind: 'sparse', targetsPerRow: K });
  const b = {
    logits: buf(gpu, 'logits', logits),
    targets: buf(gpu, 'targets', targets),
    weights: buf(gpu, 'weights', weights),
    loss: buf(gpu, 'loss', new Float32Array(B)),
    dlogits: buf(gpu, 'dlogits', new Float32Array(B * V)),
  };
  await runOne(gpu, name, (t) => op.bind(t, b, B), { ...rowsBatch(B), count });
  const loss = await f32(gpu, b.loss, B);
  const g = await f32(gpu, b.dlogits, B * V);
  expectClose(`${name} loss`, loss, fx.f32('loss'), LOSS_TOL);
  checkGrad(name, g, fx, B, V);
  if (fx.has('dlogits_at_targets')) {
    const at = Array.from(targets, (t, i) => g[Math.floor(i / K) * V + Math.max(t, 0)]!);
    expectClose(`${name} dlogits at the targets`, at, fx.f32('dlogits_at_targets'), GRAD_TOL);
  }
  // The TypeScript reference agrees with PyTorch too.
  if (fx.has('logits')) {
    const ref = crossEntropyRef(logits, targets, B, V, count, weights);
    expectClose(`${name} reference loss`, ref.loss, fx.f32('loss'), { atol: 1e-6, rtol: 1e-6 });
    expectClose(`${name} reference dlogits`, ref.dlogits, fx.f32('dlogits'), GRAD_TOL);
  }
}

test('sparse soft targets, V 509, K 5: duplicates add, padding inside rows, a padded row, ±100 logits', () => sparseCase('ce_sparse_v509'));
test('sparse soft targets, V 32,000, K 64 (the most a row may hold)', () => sparseCase('ce_sparse_v32000'));

async function teacherCase(name: string) {
  const gpu = await testGpu();
  const fx = fixture(name);
  const { V, B, count, seed } = fx.meta;
  const logits = fx.has('logits') ? fx.f32('logits') : extremeLogits(V, B, seed);
  const teacher = fx.has('teacher') ? fx.f32('teacher') : teacherLogits(V, B, seed, logits);
  const op = await CrossEntropy.create(gpu, V, { kind: 'teacher' });
  const b = {
    logits: buf(gpu, 'logits', logits),
    teacher: buf(gpu, 'teacher', teacher),
    loss: buf(gpu, 'loss', new Float32Array(B)),
    dlogits: buf(gpu, 'dlogits', new Float32Array(B * V)),
  };
  await runOne(gpu, name, (t) => op.bind(t, b, B), { ...rowsBatch(B), count });
  const loss = await f32(gpu, b.loss, B);
  expectClose(`${name} KL`, loss, fx.f32('loss'), LOSS_TOL);
  checkGrad(name, await f32(gpu, b.dlogits, B * V), fx, B, V);
  if (fx.has('teacher')) {
    const ref = klRef(logits, teacher, B, V, count);
    expectClose(`${name} reference KL`, ref.loss, fx.f32('loss'), { atol: 1e-6, rtol: 1e-6 });
    expectClose(`${name} reference dlogits`, ref.dlogits, fx.f32('dlogits'), GRAD_TOL);
  }
}

test('teacher (KL), V 509: uniform and certain teachers, teacher equal to the student', () => teacherCase('ce_teacher_v509'));
test('teacher (KL), V 32,000', () => teacherCase('ce_teacher_v32000'));

test('K = 1 is bit for bit a K = 4 kernel whose rows hold one target', async () => {
  const gpu = await testGpu();
  const fx = fixture('ce_v32000');
  const { V, B, count, seed } = fx.meta;
  const logits = buf(gpu, 'logits', extremeLogits(V, B, seed));
  const one = fx.i32('targets');
  const four = new Int32Array(4 * B).fill(-1);
  const fourWeights = new Float32Array(4 * B);
  one.forEach((t, s) => {
    four[4 * s] = t;
    fourWeights[4 * s] = t >= 0 ? 1 : 0;
  });
  const out = async (K: number, targets: Int32Array, weights: Float32Array) => {
    const op = await CrossEntropy.create(gpu, V, { kind: 'sparse', targetsPerRow: K });
    const b = { logits, targets: buf(gpu, 't', targets), weights: buf(gpu, 'w', weights), loss: buf(gpu, 'l', new Float32Array(B)), dlogits: buf(gpu, 'g', new Float32Array(B * V)) };
    await runOne(gpu, `K ${K}`, (t) => op.bind(t, b, B), { ...rowsBatch(B), count });
    return [await f32(gpu, b.loss, B), await f32(gpu, b.dlogits, B * V)] as const;
  };
  const [l1, g1] = await out(1, one, new Float32Array(B).fill(1));
  const [l4, g4] = await out(4, four, fourWeights);
  assert.ok(Buffer.from(l1.buffer).equals(Buffer.from(l4.buffer)), 'losses differ');
  assert.ok(Buffer.from(g1.buffer).equals(Buffer.from(g4.buffer)), 'dlogits differ');
  expectClose('K 1 loss against PyTorch', l1, fx.f32('loss'), LOSS_TOL);
});

test("`first` reads only each row's first target, weight 1: bit for bit the K = 1 kernel on that column", async () => {
  const gpu = await testGpu();
  const fx = fixture('ce_sparse_v509');
  const { V, B, K, count, seed } = fx.meta;
  const logits = buf(gpu, 'logits', fx.has('logits') ? fx.f32('logits') : extremeLogits(V, B, seed));
  const targets = fx.i32('targets');
  const { weights } = normaliseWeights(targets, fx.f32('weights'), K);
  const firsts = Int32Array.from({ length: B }, (_, s) => targets[s * K]!);
  const out = async (kind: { kind: 'sparse'; K: number; first?: boolean }, t: Int32Array, w: Float32Array) => {
    const op = await CrossEntropy.create(gpu, V, { kind: 'sparse', targetsPerRow: kind.K, first: kind.first });
    const b = { logits, targets: buf(gpu, 't', t), weights: buf(gpu, 'w', w), loss: buf(gpu, 'l', new Float32Array(B)), dlogits: buf(gpu, 'g', new Float32Array(B * V)) };
    await runOne(gpu, `K ${kind.K}${kind.first ? ' first' : ''}`, (t) => op.bind(t, b, B), { ...rowsBatch(B), count });
    return [await f32(gpu, b.loss, B), await f32(gpu, b.dlogits, B * V)] as const;
  };
  const [lf, gf] = await out({ kind: 'sparse', K, first: true }, targets, weights);
  const [l1, g1] = await out({ kind: 'sparse', K: 1 }, firsts, Float32Array.from(firsts, (t) => (t >= 0 ? 1 : 0)));
  assert.ok(Buffer.from(lf.buffer).equals(Buffer.from(l1.buffer)), 'losses differ');
  assert.ok(Buffer.from(gf.buffer).equals(Buffer.from(g1.buffer)), 'dlogits differ');
  // Not the soft-target loss: rows with several targets differ from it.
  const [ls] = await out({ kind: 'sparse', K }, targets, weights);
  assert.ok(Array.from(lf).some((l, s) => Math.abs(l - ls[s]!) > 1e-3), 'first equals the soft-target loss');
  const ref = crossEntropyRef(fx.has('logits') ? fx.f32('logits') : extremeLogits(V, B, seed), firsts, B, V, count);
  expectClose('first against the one-hot reference', lf, ref.loss, LOSS_TOL);
});

test('weights are normalised per row; a row with no positive weight is reported', () => {
  const { weights, badRow } = normaliseWeights(Int32Array.from([3, 3, -1, 5, 6, -1, 2, -1, -1]), Float32Array.from([1, 3, 0, 0, 0, 0, 2, 0, 0]), 3);
  assert.equal(Array.from(weights), [0.25, 0.75, 0, 0, 0, 0, 1, 0, 0]);
  assert.is(badRow, 1);
  assert.equal(Array.from(normaliseWeights(Int32Array.from([4, 9]), undefined, 2).weights), [0.5, 0.5]);
});

test.run();
