// What a run will be before any data is loaded onto the GPU: its lens's options and shape,
// its memory plan, and the settings that would shrink it when it does not fit. train asks this
// about its data; `lensgpu plan` about a model's shapes alone.
import { memoryPlan, planProblem, type Alternative, type MemoryBudget, type PlanItem } from '../lens/plan.ts';
import { groupTable, type GroupTable } from '../lens/preset.ts';
import { lensShape, type DeviceTraits, type LensOptions, type LensShape } from '../lens/shape.ts';
import type { DataPlace, HalfDtype, HeadDtype } from '../shared/constants.ts';
import type { TrainSettings } from './settings.ts';

/** A run described by its shapes: the device, the head, the samples, the settings and the groups. */
export interface PlanRequest {
  device: DeviceTraits;
  /** The device's own largest buffer (arrays are split by device.maxBuffer, which tests may make smaller), and the memory a run may use where it is known. */
  maxBufferSize: number;
  budget: MemoryBudget | undefined;
  head: { d: number; V: number; dtype: HeadDtype };
  trainCount: number;
  testCount: number;
  /** The data's hidden states kept as bf16 or f16 (default f32). */
  hiddenHalf?: HalfDtype;
  finalHiddenHalf?: HalfDtype;
  /** Targets a sample: 1, or the most any row of either set carries. */
  targetsPerRow: number;
  settings: TrainSettings;
  table: GroupTable;
  /** Where the data sets are kept: auto (the GPU where the plan fits with them there), gpu or host. */
  dataOn: DataPlace;
}

/** The lens a run trains: its groups, a batch as large as training's or the evaluation's, the loss, AdamW. */
export function lensOptionsOf(r: PlanRequest): LensOptions {
  const s = r.settings;
  const pu = s.positionUnembed;
  return {
    numGroups: r.table.groups.length,
    // The evaluation's batches are as large as fit one binding, up to 256 rows.
    maxBatch: Math.max(s.batchSize, Math.min(256, Math.floor(r.device.maxBinding / (r.head.V * 4)))),
    trainBatch: s.batchSize,
    targetsPerRow: r.targetsPerRow,
    firstTarget: s.targets === 'first',
    teacher: s.loss === 'kl' ? { normed: Boolean(s.finalNormed) } : undefined,
    positionUnembed: pu && { mode: pu, positions: r.table.positions.length },
    adamw: { lr: s.lr, weightDecay: s.weightDecay, beta1: 0.9, beta2: 0.999, eps: 1e-8, maxNorm: s.clip },
  };
}

/** What planning decides: the lens's shape, the memory plan, where the data sets go, and why it does not fit (undefined when it does). */
export interface RunLayout {
  shape: LensShape;
  plan: PlanItem[];
  dataOn: 'gpu' | 'host';
  /** With --data-on auto and the data in host memory: why not on the GPU. */
  hostBecause?: string;
  problem: string | undefined;
}

/** The run's lens shape and memory plan, with the data sets on the GPU unless --data-on or the plan puts them in host memory. */
export function planOf(r: PlanRequest): RunLayout {
  const shape = lensShape(r.device, r.head, lensOptionsOf(r));
  const layout = (dataOn: 'gpu' | 'host') => {
    const plan = memoryPlan({ lens: shape, ...samplesOf(r, dataOn) });
    return { shape, plan, dataOn, problem: planProblem(plan, r.maxBufferSize, r.budget, smallerRuns(r, dataOn), r.device.maxBinding) };
  };
  if (r.dataOn !== 'auto') return layout(r.dataOn);
  const onGpu = layout('gpu');
  if (!onGpu.problem) return onGpu;
  const onHost = layout('host');
  // In host memory only where that fits: else the refusal names what would fit with the data on the GPU.
  return onHost.problem ? onGpu : { ...onHost, hostBecause: `with them on the GPU, ${onGpu.problem.split('; ')[0]}` };
}

/** The samples a plan counts: how many, how their hidden states are stored, and where. */
function samplesOf(r: PlanRequest, dataOn: 'gpu' | 'host') {
  return { trainCount: r.trainCount, testCount: r.testCount, hiddenHalf: r.hiddenHalf, finalHiddenHalf: r.finalHiddenHalf, dataOn };
}

/** Settings that shrink the run (its data on `dataOn`), for the message when it does not fit. */
export function smallerRuns(r: PlanRequest, dataOn: 'gpu' | 'host'): Alternative[] {
  const { head, table, settings: s } = r;
  const options = lensOptionsOf(r);
  const plan = (change: Partial<LensOptions>, dtype = head.dtype, on = dataOn) => ({
    lens: lensShape(r.device, { ...head, dtype }, { ...options, ...change }),
    ...samplesOf(r, on),
  });
  const out: Alternative[] = [];
  if (dataOn === 'gpu') out.push({ flag: '--data-on host', inputs: plan({}, head.dtype, 'host') });
  if (head.dtype === 'f32') out.push({ flag: '--head-dtype f16', inputs: plan({}, 'f16') });
  const P = table.positions.length;
  if (s.preset === 'full') out.push({ flag: '--preset lite', inputs: plan({ numGroups: groupTable('lite', table.layers, table.positions, s.criticalLayers).groups.length }) });
  if (s.preset !== 'baseline') out.push({ flag: '--preset baseline', inputs: plan({ numGroups: table.layers.length }) });
  const critical = s.criticalLayers.filter((l) => table.layers.includes(l));
  if (s.preset === 'lite' && critical.length > 1) {
    const fewer = critical.slice(Math.ceil(critical.length / 2));
    out.push({ flag: `--critical-layers ${fewer.join(',')}`, inputs: plan({ numGroups: options.numGroups - (critical.length - fewer.length) * (P - 1) }) });
  }
  if (options.positionUnembed?.mode === 'full') out.push({ flag: '--position-unembed bias', inputs: plan({ positionUnembed: { ...options.positionUnembed, mode: 'bias' } }) });
  // The lens is sized for the larger of the training batch and the evaluation's (≤ 256 rows).
  if (s.batchSize > 256) out.push({ flag: `--batch-size ${s.batchSize >> 1}`, inputs: plan({ maxBatch: Math.max(s.batchSize >> 1, 256), trainBatch: s.batchSize >> 1 }) });
  return out;
}
