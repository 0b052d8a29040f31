// Whole training steps as the lens runs them (each preset, then lite with each of the seed's
// next experiments), an evaluation batch of the inference lens, each against the step's
// traffic floor; the lens's buffer table gives each step's GPU memory.
import { uniformF32, uniformInt } from '../src/data/counterRng.ts';
import type { Dataset } from '../src/data/dataset.ts';
import { Rows } from '../src/data/rows.ts';
import { makeBatch, rowRange, type RowIndex } from '../src/lens/batch.ts';
import { lensBuffers } from '../src/lens/bufferTable.ts';
import { Lens } from '../src/lens/lens.ts';
import { DataOnGpu, HeadOnGpu } from '../src/lens/onGpu.ts';
import { groupTable, type PresetName } from '../src/lens/preset.ts';
import type { KernelChoices } from '../src/lens/kernels.ts';
import { deviceTraits, lensShape, type LensOptions } from '../src/lens/shape.ts';
import { kernelChoices } from '../src/lens/tuning.ts';
import { SEED_ADAMW } from '../src/ops/adamw.ts';
import { fmtBytes, type PositionUnembedMode } from '../src/shared/constants.ts';
import { K4 } from './crossEntropy.ts';
import { range, type Harness } from './harness.ts';
import { EVAL_ROWS } from './unembed.ts';

/** floorMs: the step's traffic floor (stepFloorBytes) at this device's measured copy bandwidth. */
export interface StepRow { preset: string; groups: number; presentGroups: number; medianMs: number; spreadMs: [number, number]; stepsPerS: number; epochS: number; memory: number; floorMs: number; kernels: KernelChoices }

export interface StepConfig { name: string; preset: PresetName; K?: number; teacher?: boolean; position?: PositionUnembedMode; /** The built-in kernels (--tune off) instead of the tuner's. */ builtIn?: boolean }

/** The name's tail of a step run with the built-in kernels, beside the tuned one (PyTorch has no such row). */
export const BUILT_IN_KERNELS = 'built-in kernels';

/** Samples in an epoch of the seed's data, for the epoch-time column. */
export const EPOCH_SAMPLES = 76_800;
/** The seed's test set: 1,200 problems × 16 layers, each spread over 6 positions as 200 a cell. */
const SEED_TEST_SAMPLES = 19_200;

/** The steps timed: the presets asked for, then lite with soft targets, the KL loss and the position unembeddings. */
export function stepConfigs(presets: PresetName[], extensions: boolean): StepConfig[] {
  return [
    ...presets.map((preset) => ({ name: preset, preset })),
    ...(presets.includes('lite') ? [{ name: `lite · ${BUILT_IN_KERNELS}`, preset: 'lite' as const, builtIn: true }] : []),
    ...(extensions
      ? [
          { name: 'lite · targets ×4', preset: 'lite' as const, K: K4 },
          { name: 'lite · KL', preset: 'lite' as const, teacher: true },
          { name: 'lite · position bias', preset: 'lite' as const, position: 'bias' as const },
          { name: 'lite · position full', preset: 'lite' as const, position: 'full' as const },
        ]
      : []),
  ];
}

/**
 * The bytes a step must move at the least: each present translator's W and b read and
 * written with their AdamW moments (24 bytes a parameter, the fused update's traffic), the
 * head U read twice (logits, dz), the logits written and read once (the teacher's too with
 * the KL loss, which reads U a third time), and the present positions' c_p (and ΔU_p) with
 * their moments, 24 bytes a parameter.
 */
function stepFloorBytes(h: Harness, o: { presentGroups: number; teacher: boolean; positionParams: number }): number {
  const { d, V, B } = h.shape;
  const translator = 24 * o.presentGroups * (d * d + d);
  const head = (o.teacher ? 3 : 2) * V * d * 4;
  const logits = (o.teacher ? 2 : 1) * 2 * B * V * 4;
  return translator + head + logits + 24 * o.positionParams;
}

/** A data set of `rows` samples over the bench's layers × positions (random cells), K targets a row. */
function benchData(h: Harness, rows: number, seed: number, K: number, teacher: boolean): Dataset {
  const { d, V, positions } = h.shape;
  const cells = uniformInt(seed, rows, h.shape.layers * positions);
  return {
    source: 'bench',
    count: rows,
    d,
    hidden: Rows.of(uniformF32(seed + 1, rows * d, 1), d),
    layer: Int32Array.from(cells, (k) => Math.floor(k / positions)),
    position: Int32Array.from(cells, (k) => k % positions),
    target: Int32Array.from(uniformInt(seed + 2, rows, V)),
    multi: K > 1 ? { targetsPerRow: K, ids: Int32Array.from(uniformInt(seed + 2, rows * K, V)), weights: new Float32Array(rows * K).fill(1 / K) } : undefined,
    finalHidden: teacher ? Rows.of(uniformF32(seed + 3, rows * d, 1), d) : undefined,
  };
}

/** The shape of a lens of `preset` over the bench's layers and positions, its group count and every row's index. */
function benchLens(h: Harness, head: HeadOnGpu, preset: PresetName, ds: Dataset, options: Omit<LensOptions, 'numGroups'>) {
  const t = groupTable(preset, range(h.shape.layers), range(h.shape.positions));
  const shape = lensShape(deviceTraits(h.gpu), head, { ...options, numGroups: t.groups.length });
  const index: RowIndex = { group: Int32Array.from(ds.layer, (l, i) => t.groupOf(l, ds.position[i]!)), position: shape.position && ds.position };
  return { shape, index, groups: t.groups.length };
}

/** Median and spread of `repeat` wall-clock runs of `timeOne` after a warm-up (seconds). */
async function timeRuns(h: Harness, label: string, timeOne: () => Promise<number>, repeat = h.repeat): Promise<{ median: number; spread: [number, number] }> {
  await h.gpu.checked(`bench: ${label}`, timeOne);
  const times: number[] = [];
  for (let i = 0; i < repeat; i++) times.push(await timeOne());
  times.sort((a, c) => a - c);
  return { median: times[Math.floor(times.length / 2)]!, spread: [times[0]!, times[times.length - 1]!] };
}

/** One step row: the lens bound once, then `repeat` steps of one batch, submitted and waited for. */
async function benchStep(h: Harness, head: HeadOnGpu, cfg: StepConfig): Promise<StepRow | undefined> {
  const { d, V, B, positions } = h.shape;
  const K = cfg.K ?? 1;
  const ds = benchData(h, B, 7, K, Boolean(cfg.teacher));
  const options = { maxBatch: B, targetsPerRow: K, teacher: cfg.teacher ? { normed: false } : undefined, positionUnembed: cfg.position && { mode: cfg.position, positions }, adamw: SEED_ADAMW };
  const { shape: untuned, index, groups } = benchLens(h, head, cfg.preset, ds, options);
  const kernels = await kernelChoices({ gpu: h.gpu, device: deviceTraits(h.gpu), head, shape: untuned, rows: B, mode: cfg.builtIn ? 'off' : h.tune, print: (l) => h.log(`${cfg.name}: ${l}`) });
  const shape = { ...untuned, kernels };
  const memory = lensBuffers(shape).reduce((n, spec) => n + spec.bytes, 0);
  if (memory > h.gpu.limits.maxBufferSize * 8) {
    h.log(`${cfg.name}: skipped (${fmtBytes(memory)})`);
    return undefined;
  }
  const data = new DataOnGpu(h.gpu, 'bench', ds, K, Boolean(cfg.teacher));
  const lens = await Lens.create(h.gpu, head, shape, [data]);
  try {
    const batch = makeBatch(rowRange(0, B), index);
    const { median, spread } = await timeRuns(h, `${cfg.name} step`, async () => {
      const enc = h.gpu.device.createCommandEncoder({ label: `${cfg.name} step` });
      lens.encodeTrainStep(enc, data, batch);
      const t0 = performance.now();
      await h.gpu.submitAndWait('step', [enc.finish()]);
      return (performance.now() - t0) / 1e3;
    });
    const presentPositions = new Set(ds.position).size;
    const positionParams = cfg.position ? presentPositions * V * (cfg.position === 'full' ? d + 1 : 1) : 0;
    const floorMs = (stepFloorBytes(h, { presentGroups: batch.ranges.length, teacher: Boolean(cfg.teacher), positionParams }) / h.peaks.bw) * 1e3;
    return { preset: cfg.name, groups, presentGroups: batch.ranges.length, medianMs: median * 1e3, spreadMs: [spread[0] * 1e3, spread[1] * 1e3], stepsPerS: 1 / median, epochS: (EPOCH_SAMPLES / B) * median, memory, floorMs, kernels };
  } finally {
    lens.destroy();
    data.destroy();
  }
}

export async function benchSteps(h: Harness, configs: StepConfig[]): Promise<StepRow[]> {
  const { d, V } = h.shape;
  const head = new HeadOnGpu(h.gpu, { d, V, eps: 1e-5, dtype: 'f32', gamma: uniformF32(3, d, 1), U: uniformF32(6, V * d, 0.02) });
  try {
    const rows: StepRow[] = [];
    for (const cfg of configs) {
      const row = await benchStep(h, head, cfg);
      if (row) rows.push(row);
    }
    return rows;
  } finally {
    head.destroy();
  }
}

/** `position`: the lens has a position unembedding of that mode. */
export interface EvaluationRow { rows: number; presentGroups: number; batchMs: number; spreadMs: [number, number]; seedTestSetS: number; position?: PositionUnembedMode }

/** The lite lens (with a position unembedding of mode `position`) for inference over a batch of EVAL_ROWS, as `eval` and validation run it. */
export async function benchEvaluation(h: Harness, position?: PositionUnembedMode): Promise<EvaluationRow> {
  const { d, V, positions } = h.shape;
  const head = new HeadOnGpu(h.gpu, { d, V, eps: 1e-5, dtype: 'f32', gamma: uniformF32(3, d, 1), U: uniformF32(6, V * d, 0.02) });
  const ds = benchData(h, EVAL_ROWS, 16, 1, false);
  const { shape, index } = benchLens(h, head, 'lite', ds, { maxBatch: EVAL_ROWS, positionUnembed: position && { mode: position, positions } });
  const data = new DataOnGpu(h.gpu, 'bench eval', ds);
  const lens = await Lens.create(h.gpu, head, shape, [data]);
  try {
    const batch = makeBatch(rowRange(0, EVAL_ROWS), index);
    const { median, spread } = await timeRuns(h, 'evaluation', async () => {
      const enc = h.gpu.device.createCommandEncoder({ label: 'eval batch' });
      lens.encodeEvalStep(enc, data, batch);
      const t0 = performance.now();
      await h.gpu.submitAndWait('eval batch', [enc.finish()]);
      return performance.now() - t0;
    }, Math.min(h.repeat, 3));
    return { rows: EVAL_ROWS, presentGroups: batch.ranges.length, batchMs: median, spreadMs: spread, seedTestSetS: (Math.ceil(SEED_TEST_SAMPLES / EVAL_ROWS) * median) / 1e3, position };
  } finally {
    lens.destroy();
    data.destroy();
    head.destroy();
  }
}
