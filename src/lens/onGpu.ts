// The frozen head and the data sets on the GPU, each the one owner of its buffers: uploaded
// once for a run, freed by its destroy(). An array larger than the device's largest buffer
// lies over several, whole rows in each (U in whole blocks of V_PER_SPLIT rows).
import { paddedTargets, type Dataset } from '../data/dataset.ts';
import type { Head } from '../data/head.ts';
import { bufferParts, Owner, writeParts } from '../gpu/buffers.ts';
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

  constructor(gpu: Gpu, name: string, ds: Dataset, readonly targetsPerRow = 1, withFinalHidden = false) {
    if (withFinalHidden && !ds.finalHidden) throw new InputError(`${ds.source}: no final_hidden to upload`);
    const owner = (this.owner = new Owner(gpu));
    this.count = ds.count;
    const rows = (width: number, half?: HalfDtype) => dataParts(ds.count, width, gpu.maxBuffer, half);
    [this.hiddenHalf, this.finalHiddenHalf] = [ds.hiddenHalf, withFinalHidden ? ds.finalHiddenHalf : undefined];
    this.hidden = owner.uploadParts(`${name} hidden`, ds.hidden, rows(ds.d, ds.hiddenHalf));
    this.finalHidden = withFinalHidden ? owner.uploadParts(`${name} final hidden`, ds.finalHidden!, rows(ds.d, ds.finalHiddenHalf)) : undefined;
    const t = paddedTargets(ds, targetsPerRow);
    this.targets = owner.uploadParts(`${name} targets`, t.ids, rows(targetsPerRow));
    this.weights = targetsPerRow > 1 ? owner.uploadParts(`${name} target weights`, t.weights, rows(targetsPerRow)) : undefined;
  }

  /** Replaces each row's first target (one target a row): the teacher's argmax where the data has none. */
  setTargets(ids: Int32Array): void {
    writeParts(this.owner.gpu, this.targets, dataParts(this.count, 1, this.owner.gpu.maxBuffer), ids);
  }

  destroy(): void {
    this.owner.destroy();
  }
}

/** The buffers of a data set's array of `count` rows of `width` 32-bit values (16-bit where `half`). */
export function dataParts(count: number, width: number, maxBuffer: number, half?: HalfDtype) {
  return bufferParts(count, sourceRowBytes(width, half), maxBuffer);
}
