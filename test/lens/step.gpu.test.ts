// Whole training steps of a tiny lite lens (forward, loss, backward, clip, AdamW) against a
// PyTorch run of three steps (also with the arrays over small buffers and the data in host memory),
// and a finite-difference check of the loss gradient on the GPU.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readF32 } from '../../src/gpu/buffers.ts';
import type { Gpu } from '../../src/gpu/device.ts';
import { makeBatch, type Batch } from '../../src/lens/batch.ts';
import { Lens } from '../../src/lens/lens.ts';
import { lensBuffers } from '../../src/lens/bufferTable.ts';
import { DataOnGpu, DataOnHost, HeadOnGpu } from '../../src/lens/onGpu.ts';
import { deviceTraits, lensShape } from '../../src/lens/shape.ts';
import { SEED_ADAMW } from '../../src/ops/adamw.ts';
import { blockStride, unpackBlocks } from '../../src/ops/groups.ts';
import { expectClose } from '../helpers/close.ts';
import { fixture, type Fixture } from '../helpers/fixtures.ts';
import { openTestGpu, testGpu } from '../helpers/gpu.ts';
import { Rows } from '../../src/data/rows.ts';

const test = suite('lens step');
const range = (lo: number, hi: number) => Array.from({ length: hi - lo }, (_, i) => lo + i);

/** The fixture's lens and data; `split`: on a device whose buffers hold 2 translator blocks, the data in host memory. */
async function setUp(fx: Fixture, update: 'fused' | 'unfused' = 'unfused', split = false) {
  const { d, V, N, eps, groups: G, lr, weight_decay: weightDecay, max_norm: maxNorm } = fx.meta;
  const gpu = split ? await openTestGpu({ maxBuffer: 2 * blockStride(d) * 4 }) : await testGpu();
  const zeros = new Int32Array(N);
  const ds = { source: 'step_lite', count: N, d, hidden: Rows.of(fx.f32('x'), d), layer: zeros, position: zeros, target: fx.i32('target') };
  const data = split ? new DataOnHost(ds) : new DataOnGpu(gpu, 'step', ds);
  const head = new HeadOnGpu(gpu, { d, V, eps, dtype: 'f32', gamma: fx.f32('gamma'), U: fx.f32('U') });
  const lens = await Lens.create(gpu, head, lensShape(deviceTraits(gpu), head, { numGroups: G, maxBatch: 33, adamw: { ...SEED_ADAMW, lr, weightDecay, maxNorm }, update }), [data]);
  const group = fx.i32('group');
  const batches: Batch[] = fx.meta.batches.map(([lo, hi]: [number, number]) => makeBatch(range(lo, hi), { group }));
  return { gpu, lens, data, batches, d, G, stride: blockStride(d) };
}

async function submit(gpu: Gpu, what: string, encode: (enc: GPUCommandEncoder) => void) {
  await gpu.checked(what, async () => {
    const enc = gpu.device.createCommandEncoder({ label: what });
    encode(enc);
    await gpu.submitAndWait(what, [enc.finish()]);
  });
}

async function meanLoss(gpu: Gpu, lens: Lens, B: number): Promise<number> {
  const rows = await readF32(gpu, lens.loss, B);
  return rows.reduce((s, v) => s + v, 0) / B;
}

for (const [update, split] of [['unfused', false], ['fused', false], ['unfused', true], ['fused', true]] as const) test(`three AdamW steps (${update} update${split ? ', parameters, gradients and moments over buffers of 2 blocks, the data in host memory' : ''}) match PyTorch: loss, clipped norm, W and b of every group`, async () => {
  const fx = fixture('step_lite');
  const { gpu, lens, data, batches, d, G, stride } = await setUp(fx, update, split);
  if (split) assert.is(lensBuffers(lens.shape).find((spec) => spec.key === 'params')!.parts.length, Math.ceil(G / 2));
  let before: Float32Array | undefined;
  const wTol = new Float64Array(G * d * d).fill(2e-9);
  const bTol = new Float64Array(G * d).fill(2e-9);
  for (let k = 0; k < batches.length; k++) {
    const batch = batches[k]!;
    await submit(gpu, `train step ${k}`, (enc) => lens.encodeTrainStep(enc, data, batch));
    const loss = await meanLoss(gpu, lens, batch.rows.length);
    const [norm] = await readF32(gpu, lens.clipState, 1);
    expectClose(`step ${k} loss`, [loss], [fx.f32('loss')[k]!], { atol: 0, rtol: 1e-6 });
    expectClose(`step ${k} grad norm`, [norm!], [fx.f32('norm')[k]!], { atol: 0, rtol: 1e-5 });

    const unpack = (blocks: Float32Array) => unpackBlocks(blocks, G, d);
    const present = new Set(batch.ranges.map((r) => r.group));
    const dWRef = fx.f32(`dW_${k}`);
    const dbRef = fx.f32(`db_${k}`);
    const gradScale = Math.max(...dWRef.map(Math.abs));
    const gradTol = { atol: 1e-6 * gradScale, rtol: 1e-5 };
    if (update === 'unfused') {
      // The fused update never stores the gradient; its W and b below show it was right.
      const grad = unpack(await lens.readGrad());
      const onlyPresent = (a: Float32Array, n: number) => a.filter((_, i) => present.has(Math.floor(i / n)));
      expectClose(`step ${k} dW`, onlyPresent(grad.W, d * d), onlyPresent(dWRef, d * d), gradTol);
      expectClose(`step ${k} db`, onlyPresent(grad.b, d), onlyPresent(dbRef, d), gradTol);
    } else {
      const err = await lens.readGrad().then(() => undefined, (e: Error) => e);
      assert.match(err?.message ?? 'no error', /no grad buffer .*the translators' gradient is never stored/);
    }

    const blocks = (await lens.readParams()).params;
    const { W, b } = unpack(blocks);
    // AdamW divides by |g|: an f32 gradient error δ moves a parameter by up to lr·δ/|g| per
    // step (a near-zero gradient element lets noise pick the sign of its first update).
    const delta = gradTol.atol + 4e-8;
    const lr = fx.meta.lr;
    const grow = (tol: Float64Array, ref: Float32Array, n: number) =>
      tol.forEach((t, i) => {
        if (present.has(Math.floor(i / n))) tol[i] = t + lr * Math.min(2, delta / Math.abs(ref[i]!));
      });
    grow(wTol, dWRef, d * d);
    grow(bTol, dbRef, d);
    expectClose(`step ${k} W`, W, fx.f32(`W_after_${k}`), { atol: wTol, rtol: 1e-5 });
    expectClose(`step ${k} b`, b, fx.f32(`b_after_${k}`), { atol: bTol, rtol: 1e-5 });

    // A group absent from the batch is not touched at all (no decay, no step count).
    for (let g = 0; g < G; g++) {
      if (present.has(g)) continue;
      const now = blocks.subarray(g * stride, (g + 1) * stride);
      const then = before?.subarray(g * stride, (g + 1) * stride) ?? new Float32Array(stride);
      assert.ok(now.every((v, i) => Object.is(v, then[i])), `step ${k}: absent group ${g} changed`);
    }
    before = blocks;
  }
  // Group 1 sat out the second batch; group 7 (layer 3, position 2) never had a sample.
  assert.equal([...lens.steps], [3, 2, 3, 3, 3, 3, 3, 0]);
  lens.destroy();
  if (split) gpu.destroy();
});

test('the loss gradient agrees with central finite differences of the GPU loss', async () => {
  const fx = fixture('step_lite');
  const { gpu, lens, data, batches, G, stride } = await setUp(fx);
  // Move away from the zero start so that W's gradient matters; then freeze.
  for (const batch of batches) await submit(gpu, 'warm-up step', (enc) => lens.encodeTrainStep(enc, data, batch));
  const batch = batches[0]!;
  const B = batch.rows.length;
  const lossAt = async (theta: Float32Array) => {
    lens.setParams(theta);
    await submit(gpu, 'forward', (enc) => {
      lens.encodeGather(enc, data, batch);
      const pass = enc.beginComputePass();
      lens.encodeForward(pass, batch);
      pass.end();
    });
    return meanLoss(gpu, lens, B);
  };
  const theta = (await lens.readParams()).params;
  await submit(gpu, 'gradient', (enc) => {
    lens.encodeGather(enc, data, batch);
    const pass = enc.beginComputePass();
    lens.encodeForward(pass, batch);
    lens.encodeBackward(pass, batch);
    pass.end();
  });
  const grad = await lens.readGrad();

  // Directions: the whole gradient, each present group's part of it, and two random ones.
  const mask = new Float32Array(G * stride);
  for (const r of batch.ranges) mask.fill(1, r.group * stride, (r.group + 1) * stride);
  const unit = (u: Float32Array) => {
    const n = Math.hypot(...u);
    return u.map((v) => v / n);
  };
  const dirs: [string, Float32Array][] = [['whole gradient', unit(grad.map((g, i) => g * mask[i]!))]];
  for (const r of batch.ranges) {
    dirs.push([`group ${r.group}`, unit(grad.map((g, i) => (Math.floor(i / stride) === r.group ? g : 0)))]);
  }
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  for (const k of [1, 2]) dirs.push([`random ${k}`, unit(mask.map((m) => m * rand()))]);

  const gradNorm = Math.hypot(...grad.map((g, i) => g * mask[i]!));
  const h = 1e-2;
  for (const [name, u] of dirs) {
    let analytic = 0;
    for (let i = 0; i < u.length; i++) analytic += grad[i]! * u[i]!;
    const plus = await lossAt(theta.map((t, i) => t + h * u[i]!));
    const minus = await lossAt(theta.map((t, i) => t - h * u[i]!));
    const numeric = (plus - minus) / (2 * h);
    // f32 loss noise (~1e-7) / h plus O(h²) curvature: far below a wrong term or factor.
    expectClose(`d loss along ${name}`, [numeric], [analytic], { atol: 2e-4 * gradNorm, rtol: 2e-3 });
  }
  lens.destroy();
});

test.run();
