// The frozen head and the data sets on the GPU, each the one owner of its buffers: uploaded
// once for a run, freed by its destroy(). An array larger than the device's largest buffer
// lies over several, whole rows in each (U in whole blocks of V_PER_SPLIT rows). A data set may
// instead stay in host memory (DataOnHost), each step writing its batch's rows.
import { paddedTargets, type Dataset } from '../data/dataset.ts';
import type { Head } from '../data/head.ts';
import { bufferParts, Owner, writeParts, writeRuns, type Part } from '../gpu/buffers.ts';
import type { Rows } from '../data/rows.ts';
import { sourceRowBytes } from '../ops/gather.ts';
import { headParts } from '../ops/unembed.ts';
import type { Gpu } from '../gpu/device.ts';
import { InputError } from '../shared/errors.ts';
import type { HalfDtype, HeadDtype } from '../shared/constants.ts';

/** The frozen final norm and unembedding, resident on the GPU. */
export class HeadOnGpu {
  readonly d: number;
  readonly V: number;
  readonly eps: number;
  readonly dtype: HeadDtype;
  /** γ [d] f32. */
  readonly gamma: GPUBuffer;
  /** U [V, d], f32 or f16 (two per u32), over headParts' buffers. */
  readonly U: GPUBuffer[];
  private owner: Owner;

  constructor(gpu: Gpu, head: Pick<Head, 'd' | 'V' | 'eps' | 'dtype' | 'gamma' | 'U'>) {
    ({ d: this.d, V: this.V, eps: this.eps, dtype: this.dtype } = head);
    this.owner = new Owner(gpu);
    this.gamma = this.owner.upload('head gamma', head.gamma);
    this.U = this.owner.uploadParts(`head U (${head.dtype})`, head.U, headParts(this.V, this.d, this.dtype, gpu.maxBuffer));
  }

  destroy(): void {
    this.owner.destroy();
  }
}

/**
 * A dataset resident on the GPU: hidden [N, d] (f32, or bf16 / f16 as the file had them, 2
 * bytes a value) and `targetsPerRow` targets a row [N, targetsPerRow] i32 with their weights
 * [N, targetsPerRow] f32 (absent for one target a row: weight 1), and with the KL loss the
 * model's last hidden state [N, d]; each over the buffers of dataParts.
 */
export class DataOnGpu {
  readonly count: number;
  readonly hidden: GPUBuffer[];
  readonly hiddenHalf: HalfDtype | undefined;
  readonly finalHiddenHalf: HalfDtype | undefined;
  readonly targets: GPUBuffer[];
  readonly weights: GPUBuffer[] | undefined;
  readonly finalHidden: GPUBuffer[] | undefined;
  private owner: Owner;
  private targetParts: Part[];

  constructor(gpu: Gpu, name: string, ds: Dataset, readonly targetsPerRow = 1, withFinalHidden = false) {
    if (withFinalHidden && !ds.finalHidden) throw new InputError(`${ds.source}: no final_hidden to upload`);
    const owner = (this.owner = new Owner(gpu));
    this.count = ds.count;
    [this.hiddenHalf, this.finalHiddenHalf] = [ds.hiddenHalf, withFinalHidden ? ds.finalHiddenHalf : undefined];
    const parts = dataSetParts({ count: ds.count, d: ds.d, targetsPerRow, hiddenHalf: ds.hiddenHalf, finalHidden: withFinalHidden, finalHiddenHalf: ds.finalHiddenHalf }, gpu.maxBuffer);
    this.targetParts = parts.targets;
    const uploadRows = (label: string, rows: Rows, at: Part[]) => {
      const bufs = owner.parts(label, at);
      at.forEach((p, i) => writeRuns(gpu, bufs[i]!, rows.runs(p.first, p.count)));
      return bufs;
    };
    this.hidden = uploadRows(`${name} hidden`, ds.hidden, parts.hidden);
    this.finalHidden = parts.finalHidden && uploadRows(`${name} final hidden`, ds.finalHidden!, parts.finalHidden);
    const t = paddedTargets(ds, targetsPerRow);
    this.targets = owner.uploadParts(`${name} targets`, t.ids, parts.targets);
    this.weights = parts.weights && owner.uploadParts(`${name} target weights`, t.weights, parts.weights);
  }

  /** Replaces each row's first target (one target a row): the teacher's argmax where the data has none. */
  setTargets(ids: Int32Array): void {
    writeParts(this.owner.gpu, this.targets, this.targetParts, ids);
  }

  destroy(): void {
    this.owner.destroy();
  }
}

/**
 * A dataset kept in host memory (too large for the GPU's memory, or --data-on host): the same
 * arrays as DataOnGpu's, of which each step writes its batch's rows with its one writeBuffer.
 */
export class DataOnHost {
  readonly count: number;
  readonly hidden: HostRows;
  readonly finalHidden: HostRows | undefined;
  readonly targets: HostRows;
  readonly weights: HostRows | undefined;
  readonly hiddenHalf: HalfDtype | undefined;
  readonly finalHiddenHalf: HalfDtype | undefined;
  /** [count, targetsPerRow]: a copy, so that setTargets leaves the dataset's own targets alone. */
  private targetIds: Int32Array;

  constructor(ds: Dataset, readonly targetsPerRow = 1, withFinalHidden = false) {
    if (withFinalHidden && !ds.finalHidden) throw new InputError(`${ds.source}: no final_hidden to read batches from`);
    this.count = ds.count;
    [this.hiddenHalf, this.finalHiddenHalf] = [ds.hiddenHalf, withFinalHidden ? ds.finalHiddenHalf : undefined];
    const hidden = ds.hidden;
    const finalHidden = withFinalHidden ? ds.finalHidden! : undefined;
    this.hidden = (row) => hidden.bytes(row);
    this.finalHidden = finalHidden && ((row) => finalHidden.bytes(row));
    const t = paddedTargets(ds, targetsPerRow);
    this.targetIds = t.ids.slice();
    this.targets = hostRows(this.targetIds, targetsPerRow * 4);
    this.weights = targetsPerRow > 1 ? hostRows(t.weights, targetsPerRow * 4) : undefined;
  }

  /** Replaces each row's first target (one target a row): the teacher's argmax where the data has none. */
  setTargets(ids: Int32Array): void {
    this.targetIds.set(ids);
  }

  destroy(): void {}
}

/** Each row's bytes of a row-major array. */
export type HostRows = (row: number) => Uint8Array;

export function hostRows(a: ArrayBufferView, rowBytes: number): HostRows {
  return (row) => new Uint8Array(a.buffer, a.byteOffset + row * rowBytes, rowBytes);
}

/** A data set as a lens runs on it: on the GPU, or in host memory. */
export type RunData = DataOnGpu | DataOnHost;

/** The data set on the GPU (`gpu`) or in host memory (`host`). */
export function placeData(gpu: Gpu, name: string, ds: Dataset, on: 'gpu' | 'host', targetsPerRow: number, withFinalHidden: boolean): RunData {
  return on === 'gpu' ? new DataOnGpu(gpu, name, ds, targetsPerRow, withFinalHidden) : new DataOnHost(ds, targetsPerRow, withFinalHidden);
}

/** What of a data set goes to the GPU: its samples, their width and targets, which hidden states and how they are stored. */
export interface DataSetShape {
  count: number;
  d: number;
  targetsPerRow: number;
  hiddenHalf?: HalfDtype;
  /** With the KL loss: the final hidden states too. */
  finalHidden: boolean;
  finalHiddenHalf?: HalfDtype;
}

/**
 * The buffers of a data set's arrays, whole samples in each: hidden [count, d] (16-bit where
 * hiddenHalf), final hidden, targets [count, K] i32 and, for K > 1, their weights f32. DataOnGpu
 * allocates them and the memory plan counts them.
 */
export function dataSetParts(s: DataSetShape, maxBuffer: number): { hidden: Part[]; finalHidden?: Part[]; targets: Part[]; weights?: Part[] } {
  const rows = (width: number, half?: HalfDtype) => bufferParts(s.count, sourceRowBytes(width, half), maxBuffer);
  const K = s.targetsPerRow;
  return {
    hidden: rows(s.d, s.hiddenHalf),
    ...(s.finalHidden ? { finalHidden: rows(s.d, s.finalHiddenHalf) } : {}),
    targets: rows(K),
    ...(K > 1 ? { weights: rows(K) } : {}),
  };
}
