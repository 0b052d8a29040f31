// Whole passes of a lens over a data set on the GPU, each the one owner of its buffers:
// evaluation (every batch's forward pass, loss and top-k encoded, per-sample results gathered
// in epoch-long buffers and read back once, then put back in file order), the teacher's
// argmax, and a training epoch's per-sample losses.
import { Owner, readF32, readU32, writeBuffer } from '../gpu/buffers.ts';
import type { Gpu } from '../gpu/device.ts';
import { TOP_K } from '../ops/topk.ts';
import { makeBatch, rowRange, type Batch, type RowIndex } from './batch.ts';
import type { Lens } from './lens.ts';
import type { RunData } from './onGpu.ts';

export interface SampleResults {
  /** Per test sample, in file order: CE loss and target rank (logits strictly greater). */
  loss: Float32Array;
  rank: Uint32Array;
  /** The best rank among the sample's positive-weight targets (any-k), with several targets. */
  anyRank?: Uint32Array;
  /** The lens's most probable token for each sample. */
  top1: Int32Array;
}

/** The same batches every time: file order, sorted by group (and by position) inside a batch. */
function fileOrderBatches(count: number, index: RowIndex, batchSize: number): Batch[] {
  const batches: Batch[] = [];
  for (let at = 0; at < count; at += batchSize) batches.push(makeBatch(rowRange(at, Math.min(count, at + batchSize)), index));
  return batches;
}

export class Evaluator {
  private batches: Batch[];
  private slotRows: Uint32Array;
  private owner: Owner;
  private lossBuf: GPUBuffer;
  private rankBuf: GPUBuffer;
  private anyRankBuf: GPUBuffer | undefined;
  private topIdsBuf: GPUBuffer;

  constructor(
    private gpu: Gpu,
    private data: RunData,
    index: RowIndex,
    private batchSize: number,
  ) {
    this.batches = fileOrderBatches(data.count, index, batchSize);
    this.slotRows = new Uint32Array(data.count);
    this.batches.forEach((b, i) => this.slotRows.set(b.rows, i * batchSize));
    const owner = (this.owner = new Owner(gpu));
    this.lossBuf = owner.buffer('eval losses', data.count * 4);
    this.rankBuf = owner.buffer('eval ranks', data.count * 4);
    if (data.targetsPerRow > 1) this.anyRankBuf = owner.buffer('eval best ranks', data.count * 4);
    this.topIdsBuf = owner.buffer('eval top ids', data.count * TOP_K * 4);
  }

  /** Evaluates in chunks of batches so that `progress(done, total)` can report on long runs. */
  async run(lens: Lens, progress?: (done: number, total: number) => void): Promise<SampleResults> {
    const CHUNK = 4; // batches between progress reports: fresh even on a software GPU
    for (let first = 0; first < this.batches.length; first += CHUNK) {
      // One submission a batch: each batch's step tables are written just before it.
      this.batches.slice(first, first + CHUNK).forEach((batch, k) => this.submit(lens, batch, (first + k) * this.batchSize));
      if (progress) {
        await this.gpu.device.queue.onSubmittedWorkDone();
        this.gpu.throwIfLost('evaluation');
        progress(Math.min(this.batches.length, first + CHUNK), this.batches.length);
      }
    }
    return this.results();
  }

  /** One batch's evaluation, its per-slot results copied to slot `at` of the epoch-long buffers. */
  private submit(lens: Lens, batch: Batch, at: number): void {
    const enc = this.gpu.device.createCommandEncoder({ label: 'evaluation' });
    lens.encodeEvalStep(enc, this.data, batch);
    const n = batch.rows.length * 4;
    enc.copyBufferToBuffer(lens.loss, 0, this.lossBuf, at * 4, n);
    enc.copyBufferToBuffer(lens.rank, 0, this.rankBuf, at * 4, n);
    if (this.anyRankBuf) enc.copyBufferToBuffer(lens.anyRank, 0, this.anyRankBuf, at * 4, n);
    enc.copyBufferToBuffer(lens.topIds, 0, this.topIdsBuf, at * 4 * TOP_K, n * TOP_K);
    this.gpu.device.queue.submit([enc.finish()]);
  }

  /** The per-slot results read back and put in file order. */
  private async results(): Promise<SampleResults> {
    const N = this.data.count;
    const slotLoss = await readF32(this.gpu, this.lossBuf, N);
    const slotRank = await readU32(this.gpu, this.rankBuf, N);
    const slotAny = this.anyRankBuf ? await readU32(this.gpu, this.anyRankBuf, N) : undefined;
    const slotIds = await readU32(this.gpu, this.topIdsBuf, N * TOP_K);
    const top1 = new Int32Array(N);
    const loss = new Float32Array(N);
    const rank = new Uint32Array(N);
    const anyRank = slotAny ? new Uint32Array(N) : undefined;
    this.slotRows.forEach((row, slot) => {
      loss[row] = slotLoss[slot]!;
      rank[row] = slotRank[slot]!;
      if (anyRank) anyRank[row] = slotAny![slot]!;
      top1[row] = slotIds[slot * TOP_K]!;
    });
    return { loss, rank, anyRank, top1 };
  }

  get batchCount(): number {
    return this.batches.length;
  }

  destroy(): void {
    this.owner.destroy();
  }
}

/** Each row's teacher argmax (file order), computed batch by batch on the GPU, written into the data's targets. */
export async function teacherArgmax(gpu: Gpu, lens: Lens, data: RunData, index: RowIndex, batchSize: number): Promise<Int32Array> {
  const out = new Int32Array(data.count);
  const owner = new Owner(gpu);
  const staging = owner.buffer('teacher argmax', Math.min(batchSize, data.count) * TOP_K * 4);
  try {
    for (const batch of fileOrderBatches(data.count, index, batchSize)) {
      const enc = gpu.device.createCommandEncoder({ label: 'teacher argmax' });
      lens.encodeTeacherTop(enc, data, batch);
      enc.copyBufferToBuffer(lens.topIds, 0, staging, 0, batch.rows.length * TOP_K * 4);
      await gpu.submitAndWait('teacher argmax', [enc.finish()]);
      const ids = await readU32(gpu, staging, batch.rows.length * TOP_K);
      batch.rows.forEach((row, slot) => (out[row] = ids[slot * TOP_K]!));
    }
  } finally {
    owner.destroy();
  }
  data.setTargets(out);
  return out;
}

/**
 * A training epoch's per-sample losses, kept on the GPU: each step is submitted with a copy of
 * its losses into place, and the host reads back only the stretches it checks.
 */
export class EpochLosses {
  private owner: Owner;
  private buffer: GPUBuffer;

  constructor(
    private gpu: Gpu,
    readonly count: number,
  ) {
    this.owner = new Owner(gpu);
    this.buffer = this.owner.buffer('epoch train losses', count * 4);
  }

  /** Encodes and submits one training step of `batch`, its losses recorded for samples at, at + 1, …. */
  step(lens: Lens, data: RunData, batch: Batch, at: number): void {
    const enc = this.gpu.device.createCommandEncoder({ label: `train step at sample ${at}` });
    lens.encodeTrainStep(enc, data, batch);
    enc.copyBufferToBuffer(lens.loss, 0, this.buffer, at * 4, batch.rows.length * 4);
    this.gpu.device.queue.submit([enc.finish()]);
  }

  /** The losses of samples [from, to), once the steps submitted so far have finished. */
  async read(from = 0, to = this.count): Promise<Float32Array> {
    await this.gpu.device.queue.onSubmittedWorkDone();
    this.gpu.throwIfLost('training');
    return readF32(this.gpu, this.buffer, to - from, from);
  }

  /** Puts back the losses of a run resumed mid-epoch. */
  restore(losses: Float32Array): void {
    writeBuffer(this.gpu, this.buffer, losses);
  }

  destroy(): void {
    this.owner.destroy();
  }
}
