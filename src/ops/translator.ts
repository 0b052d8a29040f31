// The grouped translator y = x + W_g x + b_g (forward: matmul_nt with RESIDUAL_BIAS) and its
// parameter gradients (translator_grad), over a batch whose slots are sorted by group.
// Parameters and gradients are `numGroups` blocks of blockStride(d) f32 (see groups.ts);
// where they exceed one storage binding, each window of groups gets its own dispatch.
import { bindingWindows, upload, type Window } from '../gpu/buffers.ts';
import type { Gpu } from '../gpu/device.ts';
import { bindGroup, dispatch, paramsBuffer, pipeline } from '../gpu/pipelines.ts';
import { GEMV_TILE, GRAD_TILE, MATMUL_TILE, TRANSLATOR_TILE_SLOTS } from './tiles.ts';
import { blockStride, inGroupWindow, packRanges, tiles, type GroupRange } from './groups.ts';


/**
 * Forward kernels: `tiled` (matmul_nt, 16 slots a tile) or `gemv` (translator_gemv, W read
 * once per GEMV_SLOTS slots). `auto` takes gemv when the present groups average at most
 * GEMV_SLOTS slots (training batches of 32 over a preset's groups), tiled otherwise (the
 * evaluation's large batches).
 */
export type ForwardVariant = 'auto' | 'tiled' | 'gemv';

export class Translator {
  readonly stride: number;
  readonly windows: Window[];

  private constructor(
    private gpu: Gpu,
    readonly d: number,
    readonly numGroups: number,
    private forwardPipe: GPUComputePipeline,
    private gemvPipe: GPUComputePipeline,
    private gradPipe: GPUComputePipeline,
    maxBinding: number,
  ) {
    this.stride = blockStride(d);
    this.windows = bindingWindows(numGroups, this.stride * 4, maxBinding, gpu.limits.minStorageBufferOffsetAlignment);
  }

  /** `maxBinding` overrides the device's binding limit (tests use it to force windows). */
  static async create(gpu: Gpu, d: number, numGroups: number, maxBinding = gpu.maxBinding): Promise<Translator> {
    const [fwd, gemv, grad] = await Promise.all([
      pipeline(gpu, 'matmul_nt', 'main', { TM: TRANSLATOR_TILE_SLOTS, ...MATMUL_TILE, B_F16: false, RESIDUAL_BIAS: true }),
      pipeline(gpu, 'translator_gemv', 'main', GEMV_TILE),
      pipeline(gpu, 'translator_grad', 'main', GRAD_TILE),
    ]);
    return new Translator(gpu, d, numGroups, fwd, gemv, grad, maxBinding);
  }

  /** y [B, d] = x + W_g x + b_g for the slots of each range. */
  forward(
    pass: GPUComputePassEncoder,
    buf: { x: GPUBuffer; params: GPUBuffer; y: GPUBuffer },
    ranges: GroupRange[],
    variant: ForwardVariant = 'auto',
  ): void {
    const batch = ranges.reduce((n, r) => n + r.count, 0);
    if (variant === 'auto') variant = batch <= GEMV_TILE.SLOTS * ranges.length ? 'gemv' : 'tiled';
    if (variant === 'gemv') return this.forwardGemv(pass, buf, ranges);
    const t = tiles(ranges, TRANSLATOR_TILE_SLOTS);
    const tileBuf = upload(this.gpu, 'translator tiles', packRanges(t));
    for (const w of this.windows) {
      const [lo, hi] = inGroupWindow(t, w.first, w.first + w.count);
      if (hi === lo) continue;
      const u = paramsBuffer(this.gpu, this.forwardPipe, {
        M: batch, N: this.d, K: this.d, groupStride: this.stride, groupBase: w.first, nBase: 0, cStride: this.d, tileBase: lo,
      });
      const bg = bindGroup(this.gpu, this.forwardPipe, [
        u,
        buf.x,
        { buffer: buf.params, offset: w.byteOffset, size: w.byteLength },
        tileBuf,
        buf.y,
      ]);
      dispatch(this.gpu, pass, this.forwardPipe, bg, hi - lo, Math.ceil(this.d / MATMUL_TILE.TN));
    }
  }

  private forwardGemv(pass: GPUComputePassEncoder, buf: { x: GPUBuffer; params: GPUBuffer; y: GPUBuffer }, ranges: GroupRange[]): void {
    const rangeBuf = upload(this.gpu, 'translator gemv ranges', packRanges(ranges));
    for (const w of this.windows) {
      const [lo, hi] = inGroupWindow(ranges, w.first, w.first + w.count);
      if (hi === lo) continue;
      const u = paramsBuffer(this.gpu, this.gemvPipe, { d: this.d, groupStride: this.stride, groupBase: w.first, rangeBase: lo });
      const bg = bindGroup(this.gpu, this.gemvPipe, [
        u,
        buf.x,
        { buffer: buf.params, offset: w.byteOffset, size: w.byteLength },
        rangeBuf,
        buf.y,
      ]);
      dispatch(this.gpu, pass, this.gemvPipe, bg, hi - lo, Math.ceil(this.d / GEMV_TILE.ROWS));
    }
  }

  /** grad blocks of the present groups ← (dW_g, db_g); other blocks are left as they are. */
  backward(
    pass: GPUComputePassEncoder,
    buf: { dy: GPUBuffer; x: GPUBuffer; grad: GPUBuffer },
    ranges: GroupRange[],
  ): void {
    const rangeBuf = upload(this.gpu, 'translator ranges', packRanges(ranges));
    const n = Math.ceil(this.d / GRAD_TILE.T);
    for (const w of this.windows) {
      const [lo, hi] = inGroupWindow(ranges, w.first, w.first + w.count);
      if (hi === lo) continue;
      const u = paramsBuffer(this.gpu, this.gradPipe, { d: this.d, groupStride: this.stride, groupBase: w.first, rangeBase: lo });
      const bg = bindGroup(this.gpu, this.gradPipe, [
        u,
        buf.dy,
        buf.x,
        rangeBuf,
        { buffer: buf.grad, offset: w.byteOffset, size: w.byteLength },
      ]);
      dispatch(this.gpu, pass, this.gradPipe, bg, n, n, hi - lo);
    }
  }
}

// ---- Plain TypeScript reference (float64 accumulation) ----

/** y = x + W_g x + b_g with params as blocks of blockStride(d). */
export function translatorForwardRef(x: Float32Array, paramsFlat: Float32Array, groupOfSlot: ArrayLike<number>, d: number): Float32Array {
  const stride = blockStride(d);
  const y = new Float32Array(groupOfSlot.length * d);
  for (let s = 0; s < groupOfSlot.length; s++) {
    const base = groupOfSlot[s]! * stride;
    for (let n = 0; n < d; n++) {
      let acc = 0;
      for (let k = 0; k < d; k++) acc += paramsFlat[base + n * d + k]! * x[s * d + k]!;
      y[s * d + n] = x[s * d + n]! + (acc + paramsFlat[base + d * d + n]!);
    }
  }
  return y;
}

/** Gradient blocks (dW, db) for every group; absent groups get zeros. */
export function translatorBackwardRef(dy: Float32Array, x: Float32Array, groupOfSlot: ArrayLike<number>, d: number, numGroups: number): Float32Array {
  const stride = blockStride(d);
  const acc = new Float64Array(numGroups * stride);
  for (let s = 0; s < groupOfSlot.length; s++) {
    const base = groupOfSlot[s]! * stride;
    for (let n = 0; n < d; n++) {
      const g = dy[s * d + n]!;
      for (let k = 0; k < d; k++) acc[base + n * d + k] += g * x[s * d + k]!;
      acc[base + d * d + n] += g;
    }
  }
  return Float32Array.from(acc);
}
