// What a run will allocate on the GPU, computed before it allocates anything, and whether it
// fits: every buffer within the device's largest buffer, and the total within the memory the
// device has (known for a software adapter, which uses system memory, or stated with
// --gpu-memory). When it does not fit, the message says which settings would make it fit.
import { totalmem } from 'node:os';
import type { AdapterSummary } from '../gpu/device.ts';
import type { Part } from '../gpu/buffers.ts';
import { V_PER_SPLIT } from '../ops/tiles.ts';
import { TOP_K } from '../ops/topk.ts';
import { headParts, headRowBytes } from '../ops/unembed.ts';
import { fmtBytes, type HalfDtype } from '../shared/constants.ts';
import { lensBuffers } from './bufferTable.ts';
import { dataSetParts } from './onGpu.ts';
import type { LensShape } from './shape.ts';

/** What a run allocates: its lens's shape, and its data sets' samples (train 0 for eval and trajectory). */
export interface PlanInputs {
  lens: LensShape;
  trainCount: number;
  testCount: number;
  /** The data's hidden states (and final hidden states) kept as bf16 or f16, 2 bytes a value; default f32. */
  hiddenHalf?: HalfDtype;
  finalHiddenHalf?: HalfDtype;
  /** Where the data sets' arrays are kept (default the GPU); in host memory, a batch's rows go through the step tables. */
  dataOn?: 'gpu' | 'host';
}

export interface PlanItem {
  name: string;
  bytes: number;
  /** How many buffers it takes, and whether an array of it lies over several. */
  buffers: number;
  split: boolean;
  /** The largest single buffer among them (each must fit the device's maxBufferSize). */
  largest: number;
  /** The most bytes a kernel must bind of one of them at once: a whole buffer, one block or U's V_PER_SPLIT rows (within the binding limit). */
  bound: number;
}

export function memoryPlan(p: PlanInputs): PlanItem[] {
  const { d, V, headDtype, targetsPerRow: K, maxBuffer } = p.lens;
  const items: PlanItem[] = [];
  const add = (name: string, parts: Part[], bound = parts[0]!.byteLength) => {
    let item = items.find((it) => it.name === name);
    if (!item) items.push((item = { name, bytes: 0, buffers: 0, split: false, largest: 0, bound: 0 }));
    item.bound = Math.max(item.bound, bound);
    for (const part of parts) {
      item.bytes += Math.max(16, Math.ceil(part.byteLength / 4) * 4);
      item.largest = Math.max(item.largest, part.byteLength);
    }
    item.buffers += parts.length;
    item.split ||= parts.length > 1;
  };
  // A data set's arrays over the buffers DataOnGpu makes: hidden [d] (and final hidden [d] with
  // the KL loss), K targets (and K weights when K > 1) a sample; the run keeps a train sample's
  // loss of the epoch, a test sample's loss, rank, best rank (K > 1) and top ids (evaluate.ts).
  const teacher = Boolean(p.lens.teacher);
  const dataSet = (name: string, count: number, kept: number[]) => {
    const { hiddenHalf, finalHiddenHalf } = p;
    const parts = dataSetParts({ count, d, targetsPerRow: K, hiddenHalf, finalHidden: teacher, finalHiddenHalf }, maxBuffer);
    if (p.dataOn !== 'host') {
      // The gather binds whole samples, at least one row at a time.
      add(name, parts.hidden, d * 4);
      if (parts.finalHidden) add(name, parts.finalHidden, d * 4);
      add(name, parts.targets, K * 4);
      if (parts.weights) add(name, parts.weights, K * 4);
    }
    for (const width of kept) add(name, [{ first: 0, count, byteLength: count * width * 4 }]);
  };
  if (p.trainCount) dataSet('train set', p.trainCount, [1]);
  dataSet(p.trainCount ? 'test set' : 'data', p.testCount, [1, 1, ...(K > 1 ? [1] : []), TOP_K]);
  if (p.dataOn === 'host') {
    // A batch's rows of host data, in the step tables' buffer (Gather.stage): ids, hidden
    // states (f32-wide), targets, weights (K > 1), final hidden states (KL); the widest is bound.
    const B = p.lens.maxBatch;
    const words = [1, d, K, ...(K > 1 ? [K] : []), ...(teacher ? [d] : [])].reduce((a, w) => a + w, 0);
    add('batch rows from host memory', [{ first: 0, count: B, byteLength: B * words * 4 }], B * d * 4);
  }
  add(`head (U ${headDtype})`, headParts(V, d, headDtype, maxBuffer), Math.min(V, V_PER_SPLIT) * headRowBytes(d, headDtype));
  add(`head (U ${headDtype})`, [{ first: 0, count: d, byteLength: d * 4 }]);
  // The lens's own buffers, from its buffer table, one line per item.
  for (const spec of lensBuffers(p.lens)) add(spec.item, spec.parts, spec.bound);
  return items;
}

export const planTotal = (plan: PlanItem[]) => plan.reduce((a, it) => a + it.bytes, 0);

/** The line a run prints before it allocates: the total on this adapter, item by item. */
export function planLine(plan: PlanItem[], adapterName: string): string {
  const item = (it: PlanItem) => `${it.name} ${fmtBytes(it.bytes)}${it.split ? ` in ${it.buffers} buffers` : ''}`;
  return `GPU memory: ${fmtBytes(planTotal(plan))} on ${adapterName} (${plan.map(item).join(', ')})`;
}

export interface MemoryBudget {
  bytes: number;
  /** Where the figure comes from, for messages. */
  source: string;
}

/** The memory a run may use: --gpu-memory, else system memory for a software adapter. */
export function memoryBudget(adapter: AdapterSummary, gpuMemoryGiB: number | undefined): MemoryBudget | undefined {
  if (gpuMemoryGiB !== undefined) return { bytes: gpuMemoryGiB * 2 ** 30, source: `--gpu-memory ${gpuMemoryGiB}` };
  const software = /llvmpipe|lavapipe|swiftshader|software/i.test(`${adapter.name} ${adapter.architecture} ${adapter.description}`);
  if (software) return { bytes: totalmem(), source: `this machine's memory (${adapter.name.split(':')[0]} is a software adapter)` };
  return undefined;
}

/** Settings a user can change to shrink a run, each as a change to the plan's inputs. */
export interface Alternative {
  flag: string;
  inputs: PlanInputs;
}

/**
 * Why the plan does not fit (one line), or undefined when it does. `alternatives` are tried
 * in turn; those that would fit are named, else each one's saving.
 */
export function planProblem(
  plan: PlanItem[],
  maxBufferSize: number,
  budget: MemoryBudget | undefined,
  alternatives: Alternative[],
  maxBinding = Infinity,
): string | undefined {
  const bindable = (p: PlanItem[]) => p.every((it) => it.largest <= maxBufferSize && it.bound <= maxBinding);
  const fits = (p: PlanItem[]) => bindable(p) && (!budget || planTotal(p) <= budget.bytes);
  if (fits(plan)) return undefined;
  const tooBig = plan.find((it) => it.largest > maxBufferSize);
  const unbound = plan.find((it) => it.bound > maxBinding);
  const need = (it: PlanItem) => `the ${it.name} need${it.name.endsWith('s') ? '' : 's'}`;
  const problem = tooBig
    ? `${need(tooBig)} a ${fmtBytes(tooBig.largest)} buffer, more than this device's largest (${fmtBytes(maxBufferSize)})`
    : unbound
      ? `${need(unbound)} ${fmtBytes(unbound.bound)} bound at once, more than this device's binding limit (${fmtBytes(maxBinding)})`
      : `this run needs ${fmtBytes(planTotal(plan))} on the GPU, more than ${budget!.source} allows (${fmtBytes(budget!.bytes)})`;
  if ((tooBig || unbound) && !alternatives.some((a) => fits(memoryPlan(a.inputs)))) {
    return `${problem}; use a device with larger buffers`;
  }
  return `${problem}; ${shrinkAdvice(plan, alternatives, fits)}`;
}

/** Which settings would make the run fit (by `fits`), else what each would save. */
export function shrinkAdvice(plan: PlanItem[], alternatives: Alternative[], fits: (p: PlanItem[]) => boolean = () => false): string {
  const tried = alternatives.map((a) => ({ flag: a.flag, plan: memoryPlan(a.inputs) }));
  const fitting = tried.filter((t) => fits(t.plan));
  if (fitting.length) return `it would fit with ${fitting.map((t) => `${t.flag} (${fmtBytes(planTotal(t.plan))})`).join(', or ')}`;
  if (!tried.length) return 'use fewer samples (--layers) or a device with more memory';
  const saving = tried.map((t) => `${t.flag} saves ${fmtBytes(planTotal(plan) - planTotal(t.plan))}`).join(', ');
  return `smaller runs: ${saving} (they combine; or keep fewer samples with --layers)`;
}
