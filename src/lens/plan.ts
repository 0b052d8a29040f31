// What a run will allocate on the GPU, computed before it allocates anything, and whether it
// fits: every buffer within the device's largest buffer, and the total within the memory the
// device has (known for a software adapter, which uses system memory, or stated with
// --gpu-memory). When it does not fit, the message says which settings would make it fit.
import { totalmem } from 'node:os';
import type { AdapterSummary } from '../gpu/device.ts';
import { fmtBytes } from '../shared/constants.ts';
import { lensBuffers } from './bufferTable.ts';
import type { LensShape } from './shape.ts';

/** What a run allocates: its lens's shape, and its data sets' samples (train 0 for eval and trajectory). */
export interface PlanInputs {
  lens: LensShape;
  trainCount: number;
  testCount: number;
}

export interface PlanItem {
  name: string;
  bytes: number;
  /** The largest single buffer among them (each must fit the device's maxBufferSize). */
  largest: number;
}

export function memoryPlan(p: PlanInputs): PlanItem[] {
  const { d, V, headDtype, targetsPerRow: K } = p.lens;
  const headU = V * d * (headDtype === 'f16' ? 2 : 4);
  // Per sample: hidden [d] (and final hidden [d] with the KL loss), K targets (and K weights
  // when K > 1); train: its loss of the epoch; test: its loss and ranks.
  const perSample = (d * (p.lens.teacher ? 2 : 1) + K * (K > 1 ? 2 : 1)) * 4;
  const items: PlanItem[] = [
    ...(p.trainCount ? [{ name: 'train set', bytes: p.trainCount * (perSample + 4), largest: p.trainCount * d * 4 }] : []),
    { name: p.trainCount ? 'test set' : 'data', bytes: p.testCount * (perSample + (K > 1 ? 12 : 8)), largest: p.testCount * d * 4 },
    { name: `head (U ${headDtype})`, bytes: headU + d * 4, largest: headU },
  ];
  // The lens's own buffers, from its buffer table, one line per item.
  for (const spec of lensBuffers(p.lens)) {
    let item = items.find((it) => it.name === spec.item);
    if (!item) items.push((item = { name: spec.item, bytes: 0, largest: 0 }));
    item.bytes += spec.bytes;
    item.largest = Math.max(item.largest, spec.bytes);
  }
  return items;
}

export const planTotal = (plan: PlanItem[]) => plan.reduce((a, it) => a + it.bytes, 0);

/** The line a run prints before it allocates: the total on this adapter, item by item. */
export function planLine(plan: PlanItem[], adapterName: string): string {
  return `GPU memory: ${fmtBytes(planTotal(plan))} on ${adapterName} (${plan.map((it) => `${it.name} ${fmtBytes(it.bytes)}`).join(', ')})`;
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
): string | undefined {
  const fits = (p: PlanItem[]) =>
    p.every((it) => it.largest <= maxBufferSize) && (!budget || planTotal(p) <= budget.bytes);
  if (fits(plan)) return undefined;
  const tooBig = plan.find((it) => it.largest > maxBufferSize);
  const problem = tooBig
    ? `the ${tooBig.name} need${tooBig.name.endsWith('s') ? '' : 's'} a ${fmtBytes(tooBig.largest)} buffer, more than this device's largest (${fmtBytes(maxBufferSize)})`
    : `this run needs ${fmtBytes(planTotal(plan))} on the GPU, more than ${budget!.source} allows (${fmtBytes(budget!.bytes)})`;
  if (tooBig && !alternatives.some((a) => fits(memoryPlan(a.inputs)))) {
    return `${problem}; ${tooBig.name.endsWith('set') ? 'keep fewer samples (--layers) or ' : ''}use a device with larger buffers`;
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
