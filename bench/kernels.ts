// npm run bench [-- --quick] [--repeat N] [--presets P] [--backend B] [--adapter A] [--no-torch] [--no-extensions] [--no-save]
//
// Times every kernel family in isolation and whole training steps, at the seed's shape
// (d 2,048, V 32,000, batch 32 over the lite preset's groups) or, with --quick, a small one.
// Each figure is the median of N timed runs (GPU timestamps where the device has them, else
// wall clock around onSubmittedWorkDone) with its spread, GFLOP/s and GB/s, and the percent
// of the roofline built from this device's peaks, measured here by microbenchmarks
// (a streaming copy and an FMA loop) in the same run. Then bench/torch_step.py takes the same
// step in PyTorch fp32 eager on this machine (CUDA if it has it, else the CPU, where numpy
// also times our GEMMs' shapes), for ours / PyTorch; and bench/hostEncode.ts the host's
// time to encode a step and the GPU objects each step creates. Results go to stdout and
// bench/results/<adapter>-<date>.json.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { createBuffer, upload } from '../src/gpu/buffers.ts';
import { Gpu } from '../src/gpu/device.ts';
import { bindGroup, dispatch, paramsBuffer, pipeline } from '../src/gpu/pipelines.ts';
import { PassTimer } from '../src/gpu/timer.ts';
import { uniformF32, uniformInt } from '../src/data/counterRng.ts';
import { makeBatch } from '../src/lens/batch.ts';
import { defaultTranslatorUpdate, Lens, type DataOnGpu } from '../src/lens/lens.ts';
import { lensBuffers } from '../src/lens/bufferTable.ts';
import { DEFAULT_CRITICAL_LAYERS, groupTable, type PresetName } from '../src/lens/preset.ts';
import { AdamW, SEED_ADAMW } from '../src/ops/adamw.ts';
import { CrossEntropy } from '../src/ops/crossEntropy.ts';
import { blockStride } from '../src/ops/groups.ts';
import { PositionUnembed, positionSlots, type PositionUnembedMode } from '../src/ops/positionUnembed.ts';
import { RmsNorm } from '../src/ops/rmsnorm.ts';
import { TopK, TOP_K } from '../src/ops/topk.ts';
import { Translator } from '../src/ops/translator.ts';
import { Unembed, type UnembedVariant } from '../src/ops/unembed.ts';
import { fmtBytes } from '../src/shared/constants.ts';
import { describeHostEncode, measureHostEncode } from './hostEncode.ts';

const opts = new Command()
  .option('--quick', 'a small shape (d 256, V 4096) instead of the seed’s (d 2048, V 32000)')
  .option('--repeat <n>', 'timed runs per figure', (v) => Math.max(1, Number(v)), 0)
  .option('--presets <list>', 'presets whose whole step is timed', 'baseline,lite,full')
  .option('--backend <name>', 'Dawn backend')
  .option('--adapter <name>', 'adapter whose name contains this text')
  .option('--no-torch', 'do not run the PyTorch side by side (bench/torch_step.py)')
  .option('--no-extensions', 'skip the steps with the seed\'s next experiments (targets ×4, KL, position bias and full)')
  .option('--no-save', 'do not write bench/results/*.json')
  .parse()
  .opts();

const quick = Boolean(opts.quick);
const shape = quick ? { d: 256, V: 4096, B: 32, layers: 16, positions: 6 } : { d: 2048, V: 32000, B: 32, layers: 16, positions: 6 };
const repeat = opts.repeat || (quick ? 10 : 5);
const EPOCH_SAMPLES = 76_800;
const PYTHON = process.env.PYTHON ?? '/usr/bin/python3';

interface Row {
  name: string;
  medianMs: number;
  spreadMs: [number, number];
  gflops: number;
  gbps: number;
  roofline: number;
}

const gpu = await Gpu.open({ backend: opts.backend, adapter: opts.adapter });
const timer = new PassTimer(gpu);
const log = (s: string) => process.stdout.write(s + '\n');
log(`device: ${gpu.adapter.name} (${gpu.adapter.vendor || 'unknown vendor'}); timing: ${timer.kind === 'timestamp' ? 'GPU timestamps' : 'wall clock'}`);
log(`shape: d ${shape.d}, V ${shape.V}, batch ${shape.B}, ${shape.layers} layers × ${shape.positions} positions; ${repeat} runs per figure`);

/** Median and (min, max) over `repeat` runs after one warm-up; a GPU error names the figure. */
async function measure(label: string, encode: (pass: GPUComputePassEncoder) => void): Promise<[number, [number, number]]> {
  await gpu.checked(`bench: ${label}`, () => timer.time(label, encode));
  const times: number[] = [];
  for (let i = 0; i < repeat; i++) times.push(await timer.time(label, encode));
  times.sort((a, b) => a - b);
  return [times[Math.floor(times.length / 2)]!, [times[0]!, times[times.length - 1]!]];
}

// ---- peaks ----
const copyElems = (quick ? 8 : 64) << 20; // vec4 elements: 128 MiB or 1 GiB per buffer
const copyBytes = Math.min(copyElems * 16, gpu.maxBinding);
const src = createBuffer(gpu, 'bench copy src', copyBytes);
const dst = createBuffer(gpu, 'bench copy dst', copyBytes);
const copyPipe = await pipeline(gpu, 'microbench', 'copy', { COPY: true });
const n4 = copyBytes / 16;
const groups = Math.min(Math.ceil(n4 / 256), 65535);
const copyBg = bindGroup(gpu, copyPipe, [paramsBuffer(gpu, copyPipe, { n: n4, stride: groups * 256 }), src, dst]);
const [copyT] = await measure('peak copy', (p) => dispatch(gpu, p, copyPipe, copyBg, groups));
const peakBW = (2 * copyBytes) / copyT;
const fmaPipe = await pipeline(gpu, 'microbench', 'fma_loop', { COPY: false });
const fmaGroups = quick ? 512 : 4096;
const iters = quick ? 512 : 4096;
const fmaOut = createBuffer(gpu, 'bench fma out', fmaGroups * 256 * 4);
const fmaBg = bindGroup(gpu, fmaPipe, [paramsBuffer(gpu, fmaPipe, { iters, seed: 0.5 }), fmaOut]);
const [fmaT] = await measure('peak fma', (p) => dispatch(gpu, p, fmaPipe, fmaBg, fmaGroups));
const peakFlops = (fmaGroups * 256 * iters * 16) / fmaT;
log(`peaks measured here: ${(peakBW / 1e9).toFixed(1)} GB/s streaming copy, ${(peakFlops / 1e9).toFixed(1)} GFLOP/s f32 FMA`);

function row(name: string, t: [number, [number, number]], flops: number, bytes: number): Row {
  const [median, spread] = t;
  const ideal = Math.max(flops / peakFlops, bytes / peakBW);
  return { name, medianMs: median * 1e3, spreadMs: [spread[0] * 1e3, spread[1] * 1e3], gflops: flops / median / 1e9, gbps: bytes / median / 1e9, roofline: ideal / median };
}

// ---- kernels at the step's shapes ----
const { d, V, B } = shape;
const table = groupTable('lite', range(shape.layers), range(shape.positions));
const G = table.groups.length;
const stride = blockStride(d);
const groupOfSample = Int32Array.from(uniformInt(7, B, shape.layers * shape.positions), (k) => table.groupOf(Math.floor(k / shape.positions), k % shape.positions));
const batch = makeBatch(range(B), groupOfSample);
const present = batch.ranges.length;
const f32 = (label: string, n: number, seed: number, scale = 1) => upload(gpu, label, uniformF32(seed, n, scale));
const x = f32('x', B * d, 1);
const y = createBuffer(gpu, 'y', B * d * 4);
const z = createBuffer(gpu, 'z', B * d * 4);
const dz = createBuffer(gpu, 'dz', B * d * 4);
const dy = f32('dy', B * d, 2, 1e-3);
const rstd = createBuffer(gpu, 'rstd', B * 4);
const gamma = f32('gamma', d, 3, 1);
const paramBuf = f32('params', G * stride, 4, 0.01);
const grad = f32('grad', G * stride, 5, 1e-4);
const m = createBuffer(gpu, 'm', G * stride * 4);
const v = createBuffer(gpu, 'v', G * stride * 4);
const U = f32('U', V * d, 6, 0.02);
const logits = createBuffer(gpu, 'logits', B * V * 4);
const dlogits = createBuffer(gpu, 'dlogits', B * V * 4);
const loss = createBuffer(gpu, 'loss', B * 4);
const targets = upload(gpu, 'targets', uniformInt(8, B, V));
const rank = createBuffer(gpu, 'rank', B * 4);
const ids = createBuffer(gpu, 'ids', B * TOP_K * 4);

const translator = await Translator.create(gpu, d, G);
const ce = await CrossEntropy.create(gpu);
const adamw = await AdamW.create(gpu, d, G, SEED_ADAMW);
const presentSteps = batch.ranges.map((r) => ({ group: r.group, step: 1 }));

const rows: Row[] = [];
const add = async (name: string, encode: (p: GPUComputePassEncoder) => void, flops: number, bytes: number) => {
  rows.push(row(name, await measure(name, encode), flops, bytes));
};
// Each kernel's variants side by side, the one the step runs first.
for (const variant of [...(gpu.hasSubgroups ? ['subgroup'] as const : []), 'gemv', 'tiled'] as const) {
  await add(`translator forward · ${variant}`, (p) => translator.forward(p, { x, params: paramBuf, y }, batch.ranges, variant), 2 * B * d * d, 4 * (present * (d * d + d) + 2 * B * d));
}
for (const variant of [...(gpu.hasSubgroups ? ['subgroup'] as const : []), 'tiled'] as const) {
  await add(`translator backward · ${variant}`, (p) => translator.backward(p, { dy, x, grad }, batch.ranges, variant), 2 * B * d * d, 4 * (present * (d * d + d) + 2 * B * d));
}
for (const subgroups of gpu.hasSubgroups ? [true, false] : [false]) {
  const op = await RmsNorm.create(gpu, d, 1e-5, subgroups);
  const variant = subgroups ? 'subgroup' : 'workgroup';
  await add(`rmsnorm forward · ${variant}`, (p) => op.forward(p, { y: x, gamma, z, rstd }, B), 4 * B * d, 4 * (2 * B * d + d));
  await add(`rmsnorm backward · ${variant}`, (p) => op.backward(p, { y: x, gamma, rstd, dz: dy, dy: z }, B), 8 * B * d, 4 * (3 * B * d + d));
}
// The unembedding's variants side by side (the default first): M = B in training, M = EVAL_ROWS
// when evaluating.
const unembedVariants: UnembedVariant[] = gpu.hasSubgroups ? ['subgroup', 'tiled'] : ['tiled'];
const EVAL_ROWS = 256;
const zEval = f32('z eval', EVAL_ROWS * d, 15, 1);
const logitsEval = createBuffer(gpu, 'logits eval', EVAL_ROWS * V * 4);
for (const variant of unembedVariants) {
  const op = await Unembed.create(gpu, V, d, 'f32', gpu.maxBinding, variant);
  await add(`unembed logits · ${variant}`, (p) => op.logits(p, { z: x, U, logits }, B), 2 * B * V * d, 4 * (V * d + B * V + B * d));
  await add(`unembed backward · ${variant}`, (p) => op.backward(p, { dlogits: logits, U, dz }, B), 2 * B * V * d, 4 * (V * d + B * V + B * d));
  if (variant === unembedVariants[0]) {
    await add(`unembed logits M ${EVAL_ROWS} · ${variant}`, (p) => op.logits(p, { z: zEval, U, logits: logitsEval }, EVAL_ROWS), 2 * EVAL_ROWS * V * d, 4 * (V * d + EVAL_ROWS * V + EVAL_ROWS * d));
  }
  op.destroy();
}
zEval.destroy();
logitsEval.destroy();
const ones = upload(gpu, 'target weights', new Float32Array(B).fill(1));
await add('cross-entropy', (p) => ce.encode(p, { logits, targets, weights: ones, loss, dlogits }, B, V, B), 6 * B * V, 4 * 3 * B * V);
const anyRank = createBuffer(gpu, 'any rank', B * 4);
for (const variant of [...(gpu.hasSubgroups ? ['subgroup'] as const : []), 'workgroup'] as const) {
  const op = await TopK.create(gpu, 1, variant);
  await add(`top-k · ${variant}`, (p) => op.encode(p, { logits, targets, weights: ones, rank, anyRank, ids }, B, V), 2 * B * V, 4 * B * V);
}
// AdamW over a stored gradient (after the translator backward above), and fused with the
// gradient (its ghost norm, dW rebuilt inside the update): 24 bytes a present parameter.
await add(`AdamW + clip · unfused (${present} groups)`, (p) => adamw.encode(p, { param: paramBuf, grad, m, v }, presentSteps), 18 * present * stride, 4 * 8 * present * stride);
if (gpu.hasSubgroups) {
  const fused = await AdamW.createSets(gpu, [{ stride, numGroups: G, fusedTranslator: { d } }], SEED_ADAMW);
  const presentSlots = batch.ranges.map((r) => ({ group: r.group, step: 1, first: r.first, count: r.count }));
  await add(`AdamW + clip · fused (${present} groups)`, (p) => fused.encode(p, { param: paramBuf, dy, x, m, v }, presentSlots), 2 * B * d * d + 18 * present * stride, 4 * 6 * present * stride);
  fused.destroy();
}

// The seed's next experiments: soft targets (4 a row), the KL teacher, the position bias.
const K4 = 4;
const ceSparse = await CrossEntropy.create(gpu, { kind: 'sparse', K: K4 });
const targets4 = upload(gpu, 'targets ×4', uniformInt(10, B * K4, V));
const weights4 = upload(gpu, 'weights ×4', new Float32Array(B * K4).fill(1 / K4));
await add('cross-entropy · sparse K 4', (p) => ceSparse.encode(p, { logits, targets: targets4, weights: weights4, loss, dlogits }, B, V, B), (6 + K4) * B * V, 4 * 3 * B * V);
const ceTeacher = await CrossEntropy.create(gpu, { kind: 'teacher' });
const teacherLogits = f32('teacher logits', B * V, 11, 5);
await add('cross-entropy · teacher (KL)', (p) => ceTeacher.encode(p, { logits, teacher: teacherLogits, loss, dlogits }, B, V, B), 12 * B * V, 4 * 4 * B * V);
const P = shape.positions;
const { slots: posSlots, ranges: posRanges } = positionSlots(Int32Array.from(uniformInt(13, B, P)));
const posBatch = { slots: posSlots, ranges: posRanges };
const positionBufs: GPUBuffer[] = [];
for (const mode of ['bias', 'full'] as const) {
  const op = await PositionUnembed.create(gpu, mode, V, d);
  const size = P * op.stride * 4;
  if (size > gpu.limits.maxBufferSize) {
    log(`position unembedding (${mode}): skipped, ${fmtBytes(size)} exceeds this device's largest buffer`);
    continue;
  }
  const pParams = f32(`position ${mode}`, P * op.stride, 12, 0.01);
  const pGrad = createBuffer(gpu, `position ${mode} grad`, size);
  positionBufs.push(pParams, pGrad);
  const fl = mode === 'full' ? 2 * B * V * d : 0;
  const by = mode === 'full' ? P * V * d * 4 : 0;
  await add(`position ${mode} forward`, (p) => op.forward(p, { params: pParams, z: x, logits }, posBatch), fl + B * V, by + 4 * (2 * B * V + P * V));
  await add(`position ${mode} backward`, (p) => op.backward(p, { params: pParams, grad: pGrad, z: x, dlogits, dz }, posBatch), 2 * fl + B * V, 2 * by + 4 * (B * V + P * V));
}
for (const b of [targets4, weights4, teacherLogits, ...positionBufs]) b.destroy();

log('');
log('kernel                       |  median ms | spread ms        |  GFLOP/s |    GB/s | roofline');
log('-----------------------------+------------+------------------+----------+---------+---------');
for (const r of rows) {
  log(
    `${r.name.padEnd(28)} | ${r.medianMs.toFixed(3).padStart(10)} | ${`${r.spreadMs[0].toFixed(3)}–${r.spreadMs[1].toFixed(3)}`.padStart(16)} | ` +
      `${r.gflops.toFixed(1).padStart(8)} | ${r.gbps.toFixed(1).padStart(7)} | ${(100 * r.roofline).toFixed(1).padStart(6)} %`,
  );
}
for (const b of [x, y, z, dz, dy, rstd, gamma, paramBuf, grad, m, v, U, logits, dlogits, loss, targets, ones, rank, anyRank, ids, src, dst, fmaOut]) b.destroy();
adamw.destroy();

// ---- whole training steps: each preset, then lite with each of the seed's next experiments ----
/** floorMs: the step's traffic floor (stepFloorBytes) at this device's measured copy bandwidth. */
interface StepRow { preset: string; groups: number; presentGroups: number; medianMs: number; spreadMs: [number, number]; stepsPerS: number; epochS: number; memory: number; floorMs: number }

/**
 * The bytes a step must move at the least: each present translator's W and b read and
 * written with their AdamW moments (24 bytes a parameter, the fused update's traffic), the
 * head U read twice (logits, dz), the logits written and read once (the teacher's too with
 * the KL loss, which reads U a third time), and the present positions' c_p (and ΔU_p) with
 * their moments, 24 bytes a parameter.
 */
function stepFloorBytes(o: { presentGroups: number; teacher: boolean; positionParams: number }): number {
  const translator = 24 * o.presentGroups * (d * d + d);
  const head = (o.teacher ? 3 : 2) * V * d * 4;
  const logits = (o.teacher ? 2 : 1) * 2 * B * V * 4;
  return translator + head + logits + 24 * o.positionParams;
}
interface StepConfig { name: string; preset: PresetName; K?: number; teacher?: boolean; position?: PositionUnembedMode }
const steps: StepRow[] = [];
const Ustep = f32('U', V * d, 6, 0.02);
const gammaStep = f32('gamma', d, 3, 1);
const hidden = f32('hidden', B * d, 9, 1);
const cells = uniformInt(7, B, shape.layers * shape.positions);
const stepConfigs: StepConfig[] = [
  ...(String(opts.presets).split(',') as PresetName[]).map((preset) => ({ name: preset, preset })),
  ...(opts.extensions ? [
    { name: 'lite · targets ×4', preset: 'lite' as const, K: K4 },
    { name: 'lite · KL', preset: 'lite' as const, teacher: true },
    { name: 'lite · position bias', preset: 'lite' as const, position: 'bias' as const },
    { name: 'lite · position full', preset: 'lite' as const, position: 'full' as const },
  ] : []),
];
for (const cfg of stepConfigs) {
  const preset = cfg.name;
  const t = groupTable(cfg.preset, range(shape.layers), range(shape.positions));
  const K = cfg.K ?? 1;
  // The lens's buffer table (gradients, AdamW moments, activations, the options' extras).
  const memory = lensBuffers({
    d, V, headDtype: 'f32', numGroups: t.groups.length, maxBatch: B, K, teacher: Boolean(cfg.teacher),
    position: cfg.position && { mode: cfg.position, positions: shape.positions }, training: true, fusedUpdate: defaultTranslatorUpdate(gpu) === 'fused',
    maxBinding: gpu.maxBinding, align: gpu.limits.minStorageBufferOffsetAlignment,
  }).reduce((n, spec) => n + spec.bytes, 0);
  if (memory > gpu.limits.maxBufferSize * 8) {
    log(`${preset}: skipped (${fmtBytes(memory)})`);
    continue;
  }
  const data: DataOnGpu = {
    hidden,
    targets: upload(gpu, 'targets', uniformInt(8, B * K, V)),
    weights: K > 1 ? upload(gpu, 'weights', new Float32Array(B * K).fill(1 / K)) : undefined,
    finalHidden: cfg.teacher ? f32('final hidden', B * d, 14, 1) : undefined,
    positionIndex: Int32Array.from(cells, (k) => k % shape.positions),
    K,
    count: B,
  };
  const lens = await Lens.create(gpu, { d, V, eps: 1e-5, dtype: 'f32', gamma: gammaStep, U: Ustep }, {
    numGroups: t.groups.length,
    maxBatch: B,
    K,
    teacher: cfg.teacher ? { normed: false } : undefined,
    positionUnembed: cfg.position ? { mode: cfg.position, positions: shape.positions } : undefined,
    adamw: SEED_ADAMW,
  });
  const g = Int32Array.from(cells, (k) => t.groupOf(Math.floor(k / shape.positions), k % shape.positions));
  const b = makeBatch(range(B), g);
  const stepOnce = async () => {
    const enc = gpu.device.createCommandEncoder({ label: `${preset} step` });
    lens.encodeTrainStep(enc, data, b);
    const t0 = performance.now();
    await gpu.submitAndWait('step', [enc.finish()]);
    return (performance.now() - t0) / 1e3;
  };
  await gpu.checked(`bench: ${preset} step`, stepOnce);
  const times: number[] = [];
  for (let i = 0; i < repeat; i++) times.push(await stepOnce());
  times.sort((a, c) => a - c);
  const med = times[Math.floor(times.length / 2)]!;
  const presentPositions = new Set(data.positionIndex).size;
  const positionParams = cfg.position ? presentPositions * V * (cfg.position === 'full' ? d + 1 : 1) : 0;
  const floorMs = (stepFloorBytes({ presentGroups: b.ranges.length, teacher: Boolean(cfg.teacher), positionParams }) / peakBW) * 1e3;
  steps.push({ preset, groups: t.groups.length, presentGroups: b.ranges.length, medianMs: med * 1e3, spreadMs: [times[0]! * 1e3, times[times.length - 1]! * 1e3], stepsPerS: 1 / med, epochS: (EPOCH_SAMPLES / B) * med, memory, floorMs });
  lens.destroy();
  for (const buf of [data.targets, data.weights, data.finalHidden]) buf?.destroy();
}
log('');
log(`whole step (forward, backward, clip, AdamW; wall clock incl. submit), batch ${B}; epoch = ${EPOCH_SAMPLES.toLocaleString('en-US')} samples`);
log(`traffic floor: the bytes a step must move at ${(peakBW / 1e9).toFixed(1)} GB/s (this device's copy peak); × floor = median / floor`);
log('step                 | groups (in batch) |  median ms | spread ms        | steps/s | epoch s | floor ms | × floor | GPU memory');
log('---------------------+-------------------+------------+------------------+---------+---------+----------+---------+-----------');
for (const s of steps) {
  log(
    `${s.preset.padEnd(20)} | ${`${s.groups} (${s.presentGroups})`.padStart(17)} | ${s.medianMs.toFixed(2).padStart(10)} | ` +
      `${`${s.spreadMs[0].toFixed(2)}–${s.spreadMs[1].toFixed(2)}`.padStart(16)} | ${s.stepsPerS.toFixed(1).padStart(7)} | ${s.epochS.toFixed(1).padStart(7)} | ` +
      `${s.floorMs.toFixed(2).padStart(8)} | ${(s.medianMs / s.floorMs).toFixed(1).padStart(7)} | ${fmtBytes(s.memory)}`,
  );
}

// ---- evaluation: the lite lens for inference over batches of EVAL_ROWS, as `eval` and validation run ----
/** The seed's test set: 1,200 problems × 16 layers, each spread over 6 positions as 200 a cell. */
const SEED_TEST_SAMPLES = 19_200;
const evaluation = await gpu.checked('bench: evaluation', async () => {
  const t = groupTable('lite', range(shape.layers), range(shape.positions));
  const evalCells = uniformInt(16, EVAL_ROWS, shape.layers * shape.positions);
  const data: DataOnGpu = {
    hidden: f32('eval hidden', EVAL_ROWS * d, 17, 1),
    targets: upload(gpu, 'eval targets', uniformInt(18, EVAL_ROWS, V)),
    positionIndex: Int32Array.from(evalCells, (k) => k % shape.positions),
    K: 1,
    count: EVAL_ROWS,
  };
  const lens = await Lens.create(gpu, { d, V, eps: 1e-5, dtype: 'f32', gamma: gammaStep, U: Ustep }, { numGroups: t.groups.length, maxBatch: EVAL_ROWS, K: 1 });
  lens.attach(data);
  const b = makeBatch(range(EVAL_ROWS), Int32Array.from(evalCells, (k) => t.groupOf(Math.floor(k / shape.positions), k % shape.positions)));
  const once = async () => {
    const enc = gpu.device.createCommandEncoder({ label: 'eval batch' });
    lens.encodeEvalStep(enc, data, b);
    const t0 = performance.now();
    await gpu.submitAndWait('eval batch', [enc.finish()]);
    return performance.now() - t0;
  };
  await once();
  const times: number[] = [];
  for (let i = 0; i < Math.min(repeat, 3); i++) times.push(await once());
  times.sort((a, c) => a - c);
  lens.destroy();
  data.hidden.destroy();
  data.targets.destroy();
  const batchMs = times[Math.floor(times.length / 2)]!;
  return { rows: EVAL_ROWS, presentGroups: b.ranges.length, batchMs, spreadMs: [times[0]!, times[times.length - 1]!] as [number, number], seedTestSetS: (Math.ceil(SEED_TEST_SAMPLES / EVAL_ROWS) * batchMs) / 1e3 };
});
log('');
log(
  `evaluation (lite, inference lens: forward, loss, top-k; batches of ${evaluation.rows} over ${evaluation.presentGroups} groups): ` +
    `${evaluation.batchMs.toFixed(0)} ms a batch (${evaluation.spreadMs[0].toFixed(0)}–${evaluation.spreadMs[1].toFixed(0)}); ` +
    `${SEED_TEST_SAMPLES.toLocaleString('en-US')} samples (as many as the seed's test set) ${evaluation.seedTestSetS.toFixed(1)} s`,
);

// ---- the host's share of a step: encode + finish, and the objects each step makes ----
const hostEncode = await gpu.checked('bench: host encode', () => measureHostEncode(gpu, shape));
log('');
log(describeHostEncode(hostEncode, shape));

// ---- PyTorch side by side: after our figures, so the two never share the hardware ----
interface TorchResult {
  torch: string;
  numpy: string;
  device: string;
  /** Threads PyTorch ran with, the BLAS it was built with, and the CPU. */
  threads: number;
  blas: string;
  cpu: string;
  cuda: boolean;
  steps: { preset: string; medianMs: number; spreadMs: [number, number] }[];
  gemm: { name: string; medianMs: number; gflops: number }[];
}
const TORCH_MIN_REPEAT = 9;
let torch: TorchResult | { skipped: string } = { skipped: 'not run (--no-torch)' };
if (opts.torch) {
  // PyTorch's CPU step varies several-fold from one step to the next on a shared 2-core
  // machine (its allocator's page faults among the causes): more runs, a steadier median.
  torch = runTorch({ ...shape, critical: DEFAULT_CRITICAL_LAYERS, presets: steps.map((s) => s.preset), repeat: Math.max(repeat, TORCH_MIN_REPEAT), K: K4 });
  if ('skipped' in torch) log(`\nPyTorch side by side skipped: ${torch.skipped}`);
  else printSideBySide(torch);
}

if (opts.save) {
  const dir = new URL('./results/', import.meta.url).pathname;
  mkdirSync(dir, { recursive: true });
  const date = new Date().toISOString().slice(0, 10);
  const name = `${gpu.adapter.name.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 40)}-${date}${quick ? '-quick' : ''}.json`;
  const file = join(dir, name);
  writeFileSync(
    file,
    JSON.stringify(
      {
        date,
        device: gpu.adapter,
        timing: timer.kind,
        shape,
        repeat,
        versions: { node: process.version, webgpu: (await import('webgpu/package.json', { with: { type: 'json' } })).default.version },
        peaks: { copyGBps: peakBW / 1e9, fmaGFlops: peakFlops / 1e9 },
        kernels: rows,
        steps,
        hostEncode,
        evaluation,
        pytorch: torch,
      },
      null,
      2,
    ) + '\n',
  );
  log(`\nwrote ${file}`);
}
timer.destroy();
gpu.destroy();

/** Runs bench/torch_step.py; its progress goes to our stderr, its JSON comes back. */
function runTorch(cfg: object): TorchResult | { skipped: string } {
  log(`\nPyTorch side by side (${PYTHON} bench/torch_step.py)…`);
  const script = new URL('./torch_step.py', import.meta.url).pathname;
  const r = spawnSync(PYTHON, [script, JSON.stringify(cfg)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 24 });
  if (r.error) return { skipped: `${PYTHON}: ${r.error.message}` };
  if (r.status !== 0) {
    const lines = r.stderr.trim().split('\n');
    return { skipped: `${PYTHON} exited ${r.status}: ${lines[lines.length - 1] ?? ''} (install python3-torch and python3-numpy, or set PYTHON)` };
  }
  process.stderr.write(r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as TorchResult;
}

function printSideBySide(t: TorchResult): void {
  log(`PyTorch ${t.torch} fp32 eager on ${t.device} (${t.cuda ? '' : `${t.cpu}, `}BLAS ${t.blas}): the same step (shapes, groups, AdamW, clipping)`);
  log('step                 |    ours ms | PyTorch ms | PyTorch spread ms | ours / PyTorch');
  log('---------------------+------------+------------+-------------------+---------------');
  for (const p of t.steps) {
    const ours = steps.find((s) => s.preset === p.preset)!;
    const ratio = ours.medianMs / p.medianMs;
    const spread = `${p.spreadMs[0].toFixed(0)}–${p.spreadMs[1].toFixed(0)}`;
    log(`${p.preset.padEnd(20)} | ${ours.medianMs.toFixed(2).padStart(10)} | ${p.medianMs.toFixed(2).padStart(10)} | ${spread.padStart(17)} | ${ratio.toFixed(2).padStart(6)} (${ratio < 1 ? `${(1 / ratio).toFixed(1)}× faster` : `${ratio.toFixed(1)}× slower`})`);
  }
  if (t.gemm.length === 0) return;
  log('');
  log(`GEMMs at the lite step's shapes: ours on ${gpu.adapter.name} against numpy ${t.numpy} (OpenBLAS) on the CPU`);
  log('GEMM                         | ours GFLOP/s | numpy GFLOP/s | ours / numpy');
  log('-----------------------------+--------------+---------------+-------------');
  for (const g of t.gemm) {
    // Every variant of ours (e.g. `translator forward · tiled` and `· gemv`) against numpy's one.
    for (const ours of rows.filter((r) => r.name.startsWith(g.name))) {
      log(`${ours.name.padEnd(28)} | ${ours.gflops.toFixed(2).padStart(12)} | ${g.gflops.toFixed(2).padStart(13)} | ${(ours.gflops / g.gflops).toFixed(3).padStart(11)}`);
    }
  }
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
