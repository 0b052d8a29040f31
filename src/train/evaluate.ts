// Evaluation of a lens over a test set on the GPU: every batch's forward pass, loss and top-k
// encoded into one command buffer, per-sample results gathered in an epoch-long buffer and
// read back once, then put back in file order.
import { createBuffer, readF32, readU32 } from '../gpu/buffers.ts';
import { TOP_K } from '../ops/topk.ts';
import type { Gpu } from '../gpu/device.ts';
import { makeBatch, rowRange, type Batch } from '../lens/batch.ts';
import type { DataOnGpu, Lens } from '../lens/lens.ts';

export interface SampleResults {
  /** Per test sample, in file order: CE loss and target rank (logits strictly greater). */
  loss: Float32Array;
  rank: Uint32Array;
  /** The best rank among the sample's positive-weight targets (any-k), with several targets. */
  anyRank?: Uint32Array;
  /** The lens's most probable token for each sample. */
  top1: Int32Array;
}

export class Evaluator {
  private batches: Batch[] = [];
  private slotRows: Uint32Array;
  private lossBuf: GPUBuffer;
  private rankBuf: GPUBuffer;
  private anyRankBuf: GPUBuffer | undefined;
  private topIdsBuf: GPUBuffer;

  constructor(
    private gpu: Gpu,
    private data: DataOnGpu,
    groupOfRow: Int32Array,
    private batchSize: number,
  ) {
    // The same batches every time: file order, sorted by group inside a batch.
    for (let at = 0; at < data.count; at += batchSize) {
      this.batches.push(makeBatch(rowRange(at, Math.min(data.count, at + batchSize)), groupOfRow));
    }
    this.slotRows = new Uint32Array(data.count);
    this.batches.forEach((b, i) => this.slotRows.set(b.rows, i * batchSize));
    this.lossBuf = createBuffer(gpu, 'eval losses', data.count * 4);
    this.rankBuf = createBuffer(gpu, 'eval ranks', data.count * 4);
    if (data.K > 1) this.anyRankBuf = createBuffer(gpu, 'eval best ranks', data.count * 4);
    this.topIdsBuf = createBuffer(gpu, 'eval top ids', data.count * TOP_K * 4);
  }

  /** Evaluates in chunks of batches so that `progress(done, total)` can report on long runs. */
  async run(lens: Lens, progress?: (done: number, total: number) => void): Promise<SampleResults> {
    const CHUNK = 4; // batches between progress reports: fresh even on a software GPU
    for (let first = 0; first < this.batches.length; first += CHUNK) {
      // One submission a batch: each batch's step tables are written just before it.
      this.batches.slice(first, first + CHUNK).forEach((batch, k) => {
        const i = first + k;
        const enc = this.gpu.device.createCommandEncoder({ label: 'evaluation' });
        lens.encodeEvalStep(enc, this.data, batch);
        const at = i * this.batchSize * 4;
        enc.copyBufferToBuffer(lens.loss, 0, this.lossBuf, at, batch.rows.length * 4);
        enc.copyBufferToBuffer(lens.rank, 0, this.rankBuf, at, batch.rows.length * 4);
        if (this.anyRankBuf) enc.copyBufferToBuffer(lens.anyRank, 0, this.anyRankBuf, at, batch.rows.length * 4);
        enc.copyBufferToBuffer(lens.topIds, 0, this.topIdsBuf, at * TOP_K, batch.rows.length * TOP_K * 4);
        this.gpu.device.queue.submit([enc.finish()]);
      });
      if (progress) {
        await this.gpu.device.queue.onSubmittedWorkDone();
        this.gpu.throwIfLost('evaluation');
        progress(Math.min(this.batches.length, first + CHUNK), this.batches.length);
      }
    }
    const slotLoss = await readF32(this.gpu, this.lossBuf, this.data.count);
    const slotRank = await readU32(this.gpu, this.rankBuf, this.data.count);
    const slotAny = this.anyRankBuf ? await readU32(this.gpu, this.anyRankBuf, this.data.count) : undefined;
    const slotIds = await readU32(this.gpu, this.topIdsBuf, this.data.count * TOP_K);
    const top1 = new Int32Array(this.data.count);
    const loss = new Float32Array(this.data.count);
    const rank = new Uint32Array(this.data.count);
    const anyRank = slotAny ? new Uint32Array(this.data.count) : undefined;
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
    this.lossBuf.destroy();
    this.rankBuf.destroy();
    this.anyRankBuf?.destroy();
    this.topIdsBuf.destroy();
  }
}

/** Each row's teacher argmax (file order), computed batch by batch on the GPU. */
export async function teacherArgmax(gpu: Gpu, lens: Lens, data: DataOnGpu, groupOf: Int32Array, batchSize: number): Promise<Int32Array> {
  const out = new Int32Array(data.count);
  const staging = createBuffer(gpu, 'teacher argmax', Math.min(batchSize, data.count) * TOP_K * 4);
  try {
    for (let at = 0; at < data.count; at += batchSize) {
      const batch = makeBatch(rowRange(at, Math.min(data.count, at + batchSize)), groupOf);
      const enc = gpu.device.createCommandEncoder({ label: 'teacher argmax' });
      lens.encodeTeacherTop(enc, data, batch);
      enc.copyBufferToBuffer(lens.topIds, 0, staging, 0, batch.rows.length * TOP_K * 4);
      await gpu.submitAndWait('teacher argmax', [enc.finish()]);
      const ids = await readU32(gpu, staging, batch.rows.length * TOP_K);
      batch.rows.forEach((row, slot) => (out[row] = ids[slot * TOP_K]!));
    }
  } finally {
    staging.destroy();
  }
  return out;
}
