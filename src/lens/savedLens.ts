// A saved lens (lens.safetensors, ours or PyTorch's) set up on the GPU over a data set, for
// `eval` and `trajectory`, as a lens for inference (no gradients, no AdamW state): its
// translators, its position-specific unembedding if it has one, the frozen head and the data,
// with every sample checked to have a translator. Without a lens file, the plain logit lens:
// one zero translator per layer (the head on raw states).
import type { TuneMode } from '../shared/constants.ts';
import { kernelChoices } from './tuning.ts';
import type { Dataset } from '../data/dataset.ts';
import type { Head } from '../data/head.ts';
import { Owner } from '../gpu/buffers.ts';
import type { Gpu } from '../gpu/device.ts';
import { packPositionBlocks } from '../ops/positionUnembed.ts';
import { InputError } from '../shared/errors.ts';
import { positionIndexOf, type RowIndex } from './batch.ts';
import { Lens } from './lens.ts';
import { readLensFile, type LensFile } from './lensFile.ts';
import { DataOnGpu, HeadOnGpu } from './onGpu.ts';
import { memoryPlan, planLine } from './plan.ts';
import { groupTable, type GroupTable } from './preset.ts';
import { deviceTraits, lensShape } from './shape.ts';

export interface SavedLensOnGpu {
  lens: Lens;
  data: DataOnGpu;
  table: GroupTable;
  /** Each data row's translator (and position index, where the lens has a position unembedding). */
  index: RowIndex;
  destroy(): void;
}

export interface SavedLensOptions {
  maxBatch: number;
  targetsPerRow?: number;
  firstTarget?: boolean;
  teacher?: { normed: boolean };
  /** The rows that will be batched (default: all), each checked to have a translator. */
  rows?: number[];
  print?: (line: string) => void;
  /** How the kernels are chosen, timed at maxBatch rows (default $LENSGPU_TUNE, else auto). */
  tune?: TuneMode;
}

export async function savedLensOnGpu(gpu: Gpu, head: Head, lensPath: string | undefined, ds: Dataset, o: SavedLensOptions): Promise<SavedLensOnGpu> {
  const lensFile = lensPath ? readLensFile(lensPath) : undefined;
  if (lensFile && lensFile.d !== head.d) throw new InputError(`${lensPath}: translators of width ${lensFile.d}, the head has d = ${head.d}`);
  const table = lensFile?.table ?? groupTable('baseline', [...ds.layer], [...ds.position]);
  const index = rowIndex(ds, table, lensFile, lensPath, o.rows ?? [...ds.layer.keys()], head.V);
  const pu = lensFile?.unembed;
  const shape = lensShape(deviceTraits(gpu), head, {
    numGroups: table.groups.length,
    maxBatch: o.maxBatch,
    targetsPerRow: o.targetsPerRow,
    firstTarget: o.firstTarget,
    teacher: o.teacher,
    positionUnembed: pu && { mode: pu.mode, positions: pu.positions.length },
  });
  // What it allocates, said before it allocates: the data, the head and an inference lens.
  o.print?.(planLine(memoryPlan({ lens: shape, trainCount: 0, testCount: ds.count, hiddenHalf: ds.hiddenHalf, finalHiddenHalf: ds.finalHiddenHalf }), gpu.adapter.name));
  const owner = new Owner(gpu);
  try {
    const headGpu = owner.own(new HeadOnGpu(gpu, head));
    const kernels = await kernelChoices({ gpu, device: deviceTraits(gpu), head: headGpu, shape, rows: o.maxBatch, mode: o.tune, print: o.print ?? (() => {}) });
    const data = owner.own(new DataOnGpu(gpu, 'data', ds, shape.targetsPerRow, Boolean(o.teacher)));
    const lens = owner.own(await Lens.create(gpu, headGpu, { ...shape, kernels }, [data]));
    if (lensFile) lens.setParams({ params: lensFile.blocks, positions: pu && packPositionBlocks(pu, shape.position!.layout) });
    return { lens, data, table, index, destroy: () => owner.destroy() };
  } catch (e) {
    owner.destroy();
    throw e;
  }
}

/** Each row's translator and position index, every row in `rows` checked to have them. */
function rowIndex(ds: Dataset, table: GroupTable, lensFile: LensFile | undefined, lensPath: string | undefined, rows: number[], V: number): RowIndex {
  const group = Int32Array.from(ds.layer, (l, i) => table.groupOf(l, ds.position[i]!));
  const missing = rows.find((r) => group[r]! < 0);
  if (missing !== undefined) {
    throw new InputError(`${ds.source}: sample ${missing} is at layer ${ds.layer[missing]}, position ${ds.position[missing]}, which ${lensPath} has no translator for`);
  }
  const pu = lensFile?.unembed;
  if (!pu) return { group };
  const position = positionIndexOf(pu.positions, ds.position);
  const at = rows.find((r) => position[r]! < 0);
  if (at !== undefined) throw new InputError(`${ds.source}: sample ${at} is at position ${ds.position[at]}, which ${lensPath} has no unembedding for (it has ${pu.positions.join(',')})`);
  if (pu.V !== V) throw new InputError(`${lensPath}: its position unembedding has V = ${pu.V}, the head ${V}`);
  return { group, position };
}
