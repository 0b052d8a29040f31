// `trajectory`: what a lens predicts at every layer and position of one problem (all rows
// with one `example` id). The lens's logits for those rows come from the GPU (one forward
// pass); the rest is host arithmetic on them: softmax, the 5 best tokens, the entropy and
// the target's rank. With `noLens`, the plain logit lens: the frozen head on the raw hidden
// state (identity translators).
import type { Dataset } from '../data/dataset.ts';
import { InputError } from '../data/errors.ts';
import type { Head } from '../data/head.ts';
import { readF32 } from '../gpu/buffers.ts';
import type { Gpu } from '../gpu/device.ts';
import { makeBatch } from '../lens/batch.ts';
import { Lens, uploadData, uploadHead } from '../lens/lens.ts';
import { readLensFile } from '../lens/lensFile.ts';
import { groupTable } from '../lens/preset.ts';
import { SEED_ADAMW } from '../ops/adamw.ts';
import { packPositionBlocks } from '../ops/positionUnembed.ts';
import { writeBuffer } from '../gpu/buffers.ts';
import type { Trajectory, TrajectoryCell } from '../report/trajectory.ts';

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
): Promise<Trajectory> {
  if (!data.example) throw new InputError(`${data.source}: no 'example' tensor (each sample's problem id), so one problem's rows cannot be found`);
  const rows: number[] = [];
  data.example.forEach((e, i) => e === example && rows.push(i));
  if (!rows.length) {
    const ids = [...new Set(data.example)].sort((a, b) => a - b);
    throw new InputError(`${data.source}: no rows of example ${example} (ids ${ids.slice(0, 8).join(', ')}${ids.length > 8 ? ', …' : ''})`);
  }
  const lensFile = lensPath ? readLensFile(lensPath) : undefined;
  if (lensFile && lensFile.d !== head.d) throw new InputError(`${lensPath}: translators of width ${lensFile.d}, the head has d = ${head.d}`);
  // Without a lens: one zero translator per layer, i.e. the frozen head on the raw hidden state.
  const table = lensFile?.table ?? groupTable('baseline', [...data.layer], [...data.position]);
  const groupOf = Int32Array.from(data.layer, (l, i) => table.groupOf(l, data.position[i]!));
  const missing = rows.find((r) => groupOf[r]! < 0);
  if (missing !== undefined) throw new InputError(`${data.source}: row ${missing} is at layer ${data.layer[missing]}, position ${data.position[missing]}, which ${lensPath} has no translator for`);
  const pu = lensFile?.unembed;
  let positionIndex: Int32Array | undefined;
  if (pu) {
    const index = new Map(pu.positions.map((p, q) => [p, q]));
    const at = rows.find((r) => !index.has(data.position[r]!));
    if (at !== undefined) throw new InputError(`${data.source}: row ${at} is at position ${data.position[at]}, which ${lensPath} has no unembedding for`);
    positionIndex = Int32Array.from(data.position, (p) => index.get(p) ?? 0);
  }

  const headGpu = uploadHead(gpu, head);
  const gpuData = { ...uploadData(gpu, 'trajectory', { ...data, multi: undefined, target: Int32Array.from(data.target, (t) => Math.max(0, t)) }), positionIndex };
  const lens = await Lens.create(gpu, headGpu, {
    numGroups: table.groups.length,
    maxBatch: rows.length,
    positionUnembed: pu && { mode: pu.mode, positions: pu.positions.length },
    adamw: SEED_ADAMW,
  });
  try {
    if (lensFile) lens.setParams(lensFile.blocks);
    if (pu) writeBuffer(gpu, lens.positionState!.params, packPositionBlocks(pu, lens.positionLayout!));
    const batch = makeBatch(rows, groupOf);
    const logits = await gpu.checked('trajectory', async () => {
      const enc = gpu.device.createCommandEncoder({ label: 'trajectory' });
      lens.encodeEvalStep(enc, gpuData, batch);
      await gpu.submitAndWait('trajectory', [enc.finish()]);
      return readF32(gpu, lens.logits, rows.length * head.V);
    });
    const cells: TrajectoryCell[] = [];
    batch.rows.forEach((row, slot) => {
      const t = data.targetsFromTeacher ? undefined : data.target[row];
      cells.push({ layer: data.layer[row]!, position: data.position[row]!, ...summarise(logits.subarray(slot * head.V, (slot + 1) * head.V), t) });
    });
    cells.sort((a, b) => a.layer - b.layer || a.position - b.position);
    return { example, lens: lensPath ?? 'none (logit lens)', V: head.V, cells };
  } finally {
    lens.destroy();
    for (const b of [headGpu.gamma, headGpu.U, gpuData.hidden, gpuData.targets]) b.destroy();
  }
}
