// The grouped translator y = x + W_g x + b_g (forward: matmul_nt with RESIDUAL_BIAS) and its
// parameter gradients (translator_grad), over a batch whose slots are sorted by group.
// Parameters and gradients are `numGroups` blocks of blockStride(d) f32 (see groups.ts);
// where they exceed one storage binding, each window of groups gets its own dispatch.
import { bindingWindows, type Window } from '../gpu/buffers.ts';
import type { Gpu } from '../gpu/device.ts';
import { bindGroup, dispatch, pipeline } from '../gpu/pipelines.ts';
import { once, type StepTables } from '../gpu/stepTables.ts';
import { GEMV_TILE, GRAD_TILE, MATMUL_TILE, TRANSLATOR_SUBGROUP_TILE, TRANSLATOR_TILE_SLOTS } from './tiles.ts';
import { blockStride, inGroupWindow, packRanges, tiles, type GroupRange } from './groups.ts';

/**
 * Forward kernels: `subgroup` (translator_sg, one row of W an invocation, x handed between
 * lanes), `tiled` (matmul_nt, 16 slots a tile) or `gemv` (translator_gemv, W read once per
 * GEMV_TILE.SLOTS slots). `auto` takes subgroup where the adapter has subgroups; elsewhere gemv
 * when the present groups average at most GEMV_TILE.SLOTS slots (training batches of 32 over a
 * preset's groups), tiled otherwise (the evaluation's large batches).
 */
export type ForwardVariant = 'auto' | 'subgroup' | 'tiled' | 'gemv';
/** Backward kernels: `subgroup` (translator_sg) where the adapter has subgroups, else `tiled` (translator_grad). */
export type BackwardVariant = 'subgroup' | 'tiled';

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
    private sgForwardPipe: GPUComputePipeline | undefined,
    private sgGradPipe: GPUComputePipeline | undefined,
    maxBinding: number,
  ) {
    this.stride = blockStride(d);
    this.windows = bindingWindows(numGroups, this.stride * 4, maxBinding, gpu.limits.minStorageBufferOffsetAlignment);
  }

  /** `maxBinding` overrides the device's binding limit (tests use it to force windows). */
  static async create(gpu: Gpu, d: number, numGroups: number, maxBinding = gpu.maxBinding): Promise<Translator> {
    const sg = gpu.hasSubgroups;
    const [fwd, gemv, grad, sgForward, sgGrad] = await Promise.all([
      pipeline(gpu, 'matmul_nt', 'main', { TM: TRANSLATOR_TILE_SLOTS, ...MATMUL_TILE, B_F16: false, RESIDUAL_BIAS: true }),
      pipeline(gpu, 'translator_gemv', 'main', GEMV_TILE),
      pipeline(gpu, 'translator_grad', 'main', GRAD_TILE),
      sg ? pipeline(gpu, 'translator_sg', 'forward', { ...TRANSLATOR_SUBGROUP_TILE, FORWARD: true, ADAMW: false }) : undefined,
      sg ? pipeline(gpu, 'translator_sg', 'gradient', { ...TRANSLATOR_SUBGROUP_TILE, FORWARD: false, ADAMW: false }) : undefined,
    ]);
    return new Translator(gpu, d, numGroups, fwd, gemv, grad, sgForward, sgGrad, maxBinding);
  }

  /** y [B, d] = x + W_g x + b_g for the slots of each range. */
  forward(pass: GPUComputePassEncoder, buf: TranslatorForwardBuffers, ranges: GroupRange[], variant: ForwardVariant = 'auto'): void {
    const rows = ranges.reduce((n, r) => n + r.count, 0);
    once(this.gpu, 'translator forward tables', (t) => this.bindForward(t, buf, rows))(pass, ranges, variant);
  }

  /**
   * The forward bound to its buffers for batches of up to `maxRows` slots: the batch's tiles
   * or ranges and each window's params live in step-tables slots, the bind groups (both
   * variants, every window) are made once; a call fills the slots and dispatches.
   */
  bindForward(
    tables: StepTables,
    buf: TranslatorForwardBuffers,
    maxRows: number,
  ): (pass: GPUComputePassEncoder, ranges: GroupRange[], variant?: ForwardVariant) => void {
    // A batch has at most one range, and one tile, per slot.
    const tileSlot = tables.reserve(maxRows * 16);
    const rangeSlot = tables.reserve(maxRows * 16);
    const tiledSlots = this.windows.map(() => tables.reserve(32));
    // The GEMV and the subgroup forward read the same ranges and the same params.
    const rangeParams = this.windows.map(() => tables.reserve(16));
    const byRange = {
      gemv: { pipe: this.gemvPipe, rowsPerWorkgroup: GEMV_TILE.ROWS, groups: [] as GPUBindGroup[] },
      subgroup: this.sgForwardPipe && { pipe: this.sgForwardPipe, rowsPerWorkgroup: TRANSLATOR_SUBGROUP_TILE.WG, groups: [] as GPUBindGroup[] },
    };
    const tiled: GPUBindGroup[] = [];
    tables.whenSealed(() =>
      this.windows.forEach((w, i) => {
        const params = { buffer: buf.params, offset: w.byteOffset, size: w.byteLength };
        const [ranges, p] = [tables.binding(rangeSlot), tables.binding(rangeParams[i]!)];
        tiled[i] = bindGroup(this.gpu, this.forwardPipe, [tables.binding(tiledSlots[i]!), buf.x, params, tables.binding(tileSlot), buf.y]);
        byRange.gemv.groups[i] = bindGroup(this.gpu, this.gemvPipe, [p, buf.x, params, ranges, buf.y]);
        if (byRange.subgroup) byRange.subgroup.groups[i] = bindGroup(this.gpu, byRange.subgroup.pipe, [p, ranges, buf.x, params, buf.y]);
      }),
    );
    return (pass, ranges, variant = 'auto') => {
      const batch = ranges.reduce((n, r) => n + r.count, 0);
      if (batch > maxRows) throw new RangeError(`translator forward: ${batch} slots, bound for ${maxRows}`);
      if (variant === 'auto') variant = this.sgForwardPipe ? 'subgroup' : batch <= GEMV_TILE.SLOTS * ranges.length ? 'gemv' : 'tiled';
      if (variant !== 'tiled') {
        if (variant === 'subgroup') this.gpu.requireSubgroups('the subgroup translator');
        const { pipe, rowsPerWorkgroup, groups } = byRange[variant]!;
        tables.write(rangeSlot, packRanges(ranges));
        this.windows.forEach((w, i) => {
          const [lo, hi] = inGroupWindow(ranges, w.first, w.first + w.count);
          if (hi === lo) return;
          tables.writeParams(rangeParams[i]!, pipe, { d: this.d, groupStride: this.stride, groupBase: w.first, rangeBase: lo });
          dispatch(this.gpu, pass, pipe, groups[i]!, hi - lo, Math.ceil(this.d / rowsPerWorkgroup));
        });
        return;
      }
      const t = tiles(ranges, TRANSLATOR_TILE_SLOTS);
      tables.write(tileSlot, packRanges(t));
      this.windows.forEach((w, i) => {
        const [lo, hi] = inGroupWindow(t, w.first, w.first + w.count);
        if (hi === lo) return;
        tables.writeParams(tiledSlots[i]!, this.forwardPipe, { M: batch, N: this.d, K: this.d, groupStride: this.stride, groupBase: w.first, nBase: 0, cStride: this.d, tileBase: lo });
        dispatch(this.gpu, pass, this.forwardPipe, tiled[i]!, hi - lo, Math.ceil(this.d / MATMUL_TILE.TN));
      });
    };
  }

  /** grad blocks of the present groups ← (dW_g, db_g); other blocks are left as they are. */
  backward(pass: GPUComputePassEncoder, buf: TranslatorBackwardBuffers, ranges: GroupRange[], variant = this.backwardVariant): void {
    const rows = ranges.reduce((n, r) => n + r.count, 0);
    once(this.gpu, 'translator backward tables', (t) => this.bindBackward(t, buf, rows, variant))(pass, ranges);
  }

  /** The backward this adapter runs by default: subgroups where it has them. */
  get backwardVariant(): BackwardVariant {
    return this.sgGradPipe ? 'subgroup' : 'tiled';
  }

  /** The backward bound to its buffers for batches of up to `maxRows` slots, as bindForward. */
  bindBackward(
    tables: StepTables,
    buf: TranslatorBackwardBuffers,
    maxRows: number,
    variant = this.backwardVariant,
  ): (pass: GPUComputePassEncoder, ranges: GroupRange[]) => void {
    if (variant === 'subgroup') this.gpu.requireSubgroups('the subgroup translator');
    const pipe = variant === 'subgroup' ? this.sgGradPipe! : this.gradPipe;
    const rangeSlot = tables.reserve(maxRows * 16);
    const paramSlots = this.windows.map(() => tables.reserve(16));
    const groups: GPUBindGroup[] = [];
    tables.whenSealed(() =>
      this.windows.forEach((w, i) => {
        const grad = { buffer: buf.grad, offset: w.byteOffset, size: w.byteLength };
        const ranges = tables.binding(rangeSlot);
        groups[i] = bindGroup(this.gpu, pipe, variant === 'subgroup'
          ? [tables.binding(paramSlots[i]!), ranges, buf.dy, buf.x, grad]
          : [tables.binding(paramSlots[i]!), buf.dy, buf.x, ranges, grad]);
      }),
    );
    const grid: [number, number] = variant === 'subgroup'
      ? [Math.ceil(this.d / TRANSLATOR_SUBGROUP_TILE.WG), Math.ceil(this.d / TRANSLATOR_SUBGROUP_TILE.ROWS)]
      : [Math.ceil(this.d / GRAD_TILE.T), Math.ceil(this.d / GRAD_TILE.T)];
    return (pass, ranges) => {
      const batch = ranges.reduce((k, r) => k + r.count, 0);
      if (batch > maxRows) throw new RangeError(`translator backward: ${batch} slots, bound for ${maxRows}`);
      tables.write(rangeSlot, packRanges(ranges));
      this.windows.forEach((w, i) => {
        const [lo, hi] = inGroupWindow(ranges, w.first, w.first + w.count);
        if (hi === lo) return;
        tables.writeParams(paramSlots[i]!, pipe, { d: this.d, groupStride: this.stride, groupBase: w.first, rangeBase: lo });
        dispatch(this.gpu, pass, pipe, groups[i]!, grid[0], grid[1], hi - lo);
      });
    };
  }
}

/** x, y [B, d]; params: the groups' blocks. */
export interface TranslatorForwardBuffers {
  x: GPUBuffer;
  params: GPUBuffer;
  y: GPUBuffer;
}

/** dy, x [B, d]; grad: the groups' gradient blocks. */
export interface TranslatorBackwardBuffers {
  dy: GPUBuffer;
  x: GPUBuffer;
  grad: GPUBuffer;
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
