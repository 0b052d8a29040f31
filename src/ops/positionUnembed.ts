// The position-specific unembedding's vocabulary bias: logits += c_p, and dc_p = Σ dlogits
// over the batch's slots at position p. Parameters are one block per position (c_p [V] at
// the end of the block, after ΔU_p [V, d] in the full mode), 256-byte aligned.
import { upload } from '../gpu/buffers.ts';
import type { Gpu } from '../gpu/device.ts';
import { bindGroup, dispatch, params, pipeline, uniform } from '../gpu/pipelines.ts';
import { packRanges, type GroupRange } from './groups.ts';

export type PositionUnembedMode = 'bias' | 'full';

/** f32 per position block: c_p [V] (bias), or ΔU_p [V, d] then c_p [V] (full), padded to 64. */
export function positionBlockStride(mode: PositionUnembedMode, V: number, d: number): number {
  return Math.ceil(((mode === 'full' ? V * d : 0) + V) / 64) * 64;
}

/** The slots of a batch ordered by position, and each present position's range over them. */
export function positionSlots(slotPosition: Int32Array): { slots: Uint32Array; ranges: GroupRange[] } {
  const order = Array.from(slotPosition.keys()).sort((a, b) => slotPosition[a]! - slotPosition[b]! || a - b);
  const ranges: GroupRange[] = [];
  order.forEach((slot, i) => {
    const q = slotPosition[slot]!;
    const last = ranges[ranges.length - 1];
    if (last && last.group === q) last.count++;
    else ranges.push({ group: q, first: i, count: 1 });
  });
  return { slots: Uint32Array.from(order), ranges };
}

export class PositionUnembed {
  readonly stride: number;
  readonly biasOffset: number;

  private constructor(
    private gpu: Gpu,
    readonly mode: PositionUnembedMode,
    readonly V: number,
    readonly d: number,
    private addPipe: GPUComputePipeline,
    private gradPipe: GPUComputePipeline,
  ) {
    this.stride = positionBlockStride(mode, V, d);
    this.biasOffset = mode === 'full' ? V * d : 0;
  }

  static async create(gpu: Gpu, mode: PositionUnembedMode, V: number, d: number): Promise<PositionUnembed> {
    const [add, grad] = await Promise.all([
      pipeline(gpu, 'position_unembed', 'add_bias', { ADD: true }),
      pipeline(gpu, 'position_unembed', 'bias_grad', { ADD: false }),
    ]);
    return new PositionUnembed(gpu, mode, V, d, add, grad);
  }

  private params(): GPUBuffer {
    return uniform(this.gpu, 'position unembed', params(this.V, this.stride, this.biasOffset, 0));
  }

  /** logits [rows, V] += c_{position of the slot}. */
  addBias(pass: GPUComputePassEncoder, buf: { params: GPUBuffer; slotPosition: GPUBuffer; logits: GPUBuffer }, rows: number): void {
    const bg = bindGroup(this.gpu, this.addPipe, [this.params(), buf.params, buf.slotPosition, buf.logits]);
    dispatch(this.gpu, pass, this.addPipe, bg, Math.ceil(this.V / 256), rows);
  }

  /** grad blocks of the present positions ← dc_p (other blocks are left as they are). */
  biasGrad(pass: GPUComputePassEncoder, buf: { dlogits: GPUBuffer; positionSlots: GPUBuffer; grad: GPUBuffer }, ranges: GroupRange[]): void {
    if (ranges.length === 0) return;
    const rangeBuf = upload(this.gpu, 'position unembed ranges', packRanges(ranges));
    const bg = bindGroup(this.gpu, this.gradPipe, [this.params(), buf.dlogits, buf.positionSlots, rangeBuf, buf.grad]);
    dispatch(this.gpu, pass, this.gradPipe, bg, Math.ceil(this.V / 256), ranges.length);
  }
}

// ---- Plain TypeScript references ----

/** logits + c_{slotPosition[s]} (c: [positions, V]). */
export function addBiasRef(logits: Float32Array, c: Float32Array, slotPosition: Int32Array, V: number): Float32Array {
  return logits.map((x, i) => Math.fround(x + c[slotPosition[Math.floor(i / V)]! * V + (i % V)]!));
}

/** dc [positions, V]: Σ over the slots of each position (float64). */
export function biasGradRef(dlogits: Float32Array, slotPosition: Int32Array, positions: number, V: number): Float64Array {
  const dc = new Float64Array(positions * V);
  slotPosition.forEach((q, s) => {
    for (let v = 0; v < V; v++) dc[q * V + v] += dlogits[s * V + v]!;
  });
  return dc;
}
