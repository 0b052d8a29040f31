// A saved lens (lens.safetensors, ours or PyTorch's) set up on the GPU over a data set, for
// `eval` and `trajectory`, as a lens for inference (no gradients, no AdamW state): its
// translators, its position-specific unembedding if it has one, the frozen head and the data,
// with every sample checked to have a translator. Without a lens file, the plain logit lens:
// one zero translator per layer (the head on raw states).
import type { Dataset } from '../data/dataset.ts';
import { InputError } from '../data/errors.ts';
import type { Head } from '../data/head.ts';
import type { Gpu } from '../gpu/device.ts';
import { Lens, uploadData, uploadHead, type DataOnGpu } from '../lens/lens.ts';
import { readLensFile } from '../lens/lensFile.ts';
import { groupTable, type GroupTable } from '../lens/preset.ts';
import { memoryPlan, planLine } from './plan.ts';
import { packPositionBlocks, positionIndexOf } from '../ops/positionUnembed.ts';

export interface SavedLensOnGpu {
  lens: Lens;
  data: DataOnGpu;
  table: GroupTable;
  /** Each data row's translator. */
  groupOf: Int32Array;
  destroy(): void;
}

export async function savedLensOnGpu(
  gpu: Gpu,
  head: Head,
  lensPath: string | undefined,
  ds: Dataset,
  o: { maxBatch: number; K?: number; firstTarget?: boolean; teacher?: { normed: boolean }; rows?: number[]; print?: (line: string) => void },
): Promise<SavedLensOnGpu> {
  const lensFile = lensPath ? readLensFile(lensPath) : undefined;
  if (lensFile && lensFile.d !== head.d) throw new InputError(`${lensPath}: translators of width ${lensFile.d}, the head has d = ${head.d}`);
  const table = lensFile?.table ?? groupTable('baseline', [...ds.layer], [...ds.position]);
  const groupOf = Int32Array.from(ds.layer, (l, i) => table.groupOf(l, ds.position[i]!));
  const rows = o.rows ?? [...groupOf.keys()];
  const missing = rows.find((r) => groupOf[r]! < 0);
  if (missing !== undefined) {
    throw new InputError(`${ds.source}: sample ${missing} is at layer ${ds.layer[missing]}, position ${ds.position[missing]}, which ${lensPath} has no translator for`);
  }
  const pu = lensFile?.unembed;
  let positionIndex: Int32Array | undefined;
  if (pu) {
    positionIndex = positionIndexOf(pu.positions, ds.position);
    const at = rows.find((r) => positionIndex![r]! < 0);
    if (at !== undefined) throw new InputError(`${ds.source}: sample ${at} is at position ${ds.position[at]}, which ${lensPath} has no unembedding for (it has ${pu.positions.join(',')})`);
    if (pu.V !== head.V) throw new InputError(`${lensPath}: its position unembedding has V = ${pu.V}, the head ${head.V}`);
  }
  // What it allocates, said before it allocates: the data, the head and an inference lens.
  const plan = memoryPlan({
    d: head.d, V: head.V, numGroups: table.groups.length, headDtype: head.dtype, trainCount: 0, testCount: ds.count, maxBatch: o.maxBatch,
    K: o.K, teacher: Boolean(o.teacher), positionUnembed: pu && { mode: pu.mode, positions: pu.positions.length }, training: false,
    maxBinding: gpu.maxBinding, align: gpu.limits.minStorageBufferOffsetAlignment,
  });
  o.print?.(planLine(plan, gpu.adapter.name));
  const headGpu = uploadHead(gpu, head);
  const data: DataOnGpu = { ...uploadData(gpu, 'data', ds, o.K ?? 1, Boolean(o.teacher)), positionIndex };
  const lens = await Lens.create(gpu, headGpu, {
    numGroups: table.groups.length,
    maxBatch: o.maxBatch,
    K: o.K,
    firstTarget: o.firstTarget,
    teacher: o.teacher,
    positionUnembed: pu && { mode: pu.mode, positions: pu.positions.length },
  });
  if (lensFile) lens.setParams({ params: lensFile.blocks, positions: pu && packPositionBlocks(pu, lens.positionLayout!) });
  return {
    lens,
    data,
    table,
    groupOf,
    destroy: () => {
      lens.destroy();
      for (const b of [headGpu.gamma, headGpu.U, data.hidden, data.targets, data.weights, data.finalHidden]) b?.destroy();
    },
  };
}
