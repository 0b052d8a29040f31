// `trajectory`: what a lens predicts at every layer and position of one problem (all rows
// with one `example` id). The lens's logits for those rows come from the GPU (one forward
// pass); the rest is host arithmetic on them: softmax, the 5 best tokens, the entropy and
// the target's rank. With `noLens`, the plain logit lens: the frozen head on the raw hidden
// state (identity translators).
import type { Dataset } from '../data/dataset.ts';
import { InputError } from '../shared/errors.ts';
import type { Head } from '../data/head.ts';
import { makeBatch } from '../lens/batch.ts';
import type { Gpu } from '../lens/device.ts';
import { savedLensOnGpu } from '../lens/savedLens.ts';
import type { Trajectory, TrajectoryCell } from '../report/trajectory.ts';
import type { TuneMode } from '../shared/constants.ts';

/** Softmax summary of one row of logits (float64). */
export function summarise(logits: Float32Array, target: number | undefined): Omit<TrajectoryCell, 'layer' | 'position'> {
  const V = logits.length;
  let max = -Infinity;
  for (const x of logits) max = Math.max(max, x);
  let sum = 0;
  for (const x of logits) sum += Math.exp(x - max);
  const logSum = Math.log(sum);
  let entropy = 0;
  for (const x of logits) {
    const lp = x - max - logSum;
    entropy -= Math.exp(lp) * lp;
  }
  const order = Array.from({ length: V }, (_, v) => v).sort((a, b) => logits[b]! - logits[a]! || a - b);
  const prob = (v: number) => Math.exp(logits[v]! - max - logSum);
  const top = order.slice(0, 5).map((id) => ({ id, p: prob(id) }));
  if (target === undefined || target < 0) return { top, entropy };
  let rank = 0;
  for (const x of logits) if (x > logits[target]!) rank++;
  return { top, entropy, target: { id: target, p: prob(target), rank } };
}

export async function trajectory(
  gpu: Gpu,
  head: Head,
  data: Dataset,
  example: number,
  lensPath: string | undefined,
  tune?: TuneMode,
): Promise<Trajectory> {
  if (!data.example) throw new InputError(`${data.source}: no 'example' tensor (each sample's problem id), so one problem's rows cannot be found`);
  const rows: number[] = [];
  data.example.forEach((e, i) => e === example && rows.push(i));
  if (!rows.length) {
    const ids = [...new Set(data.example)].sort((a, b) => a - b);
    throw new InputError(`${data.source}: no rows of example ${example} (ids ${ids.slice(0, 8).join(', ')}${ids.length > 8 ? ', …' : ''})`);
  }
  // Targets only serve the ranks here: a file without any (KL data) gets placeholders.
  const forGpu = { ...data, multi: undefined, target: Int32Array.from(data.target, (t) => Math.max(0, t)) };
  const saved = await savedLensOnGpu(gpu, head, lensPath, forGpu, { maxBatch: rows.length, rows, tune });
  try {
    const batch = makeBatch(rows, saved.index);
    const logits = await saved.lens.logitsOf(saved.data, batch);
    const cells: TrajectoryCell[] = [];
    batch.rows.forEach((row, slot) => {
      const t = data.targetsFromTeacher ? undefined : data.target[row];
      cells.push({ layer: data.layer[row]!, position: data.position[row]!, ...summarise(logits.subarray(slot * head.V, (slot + 1) * head.V), t) });
    });
    cells.sort((a, b) => a.layer - b.layer || a.position - b.position);
    return { example, lens: lensPath ?? 'none (logit lens)', V: head.V, cells };
  } finally {
    saved.destroy();
  }
}
