// The grouped translator y = x + W_g x + b_g (forward: matmul_nt with RESIDUAL_BIAS) and its
// parameter gradients (translator_grad), over a batch whose slots are sorted by group.
// Parameters and gradients are `numGroups` blocks of blockStride(d) f32 (see groups.ts), in
// one buffer or over several (whole blocks in each); where they exceed one storage binding,
// each window of groups gets its own dispatch.
import { bindingWindows, windowBinding, type BufferLimits, type Split, type Window } from '../gpu/buffers.ts';
import type { Gpu } from '../gpu/device.ts';
import { bindGroup, dispatch, pipeline } from '../gpu/pipelines.ts';
import type { Bound, StepTables } from '../gpu/stepTables.ts';
import { invariant } from '../shared/errors.ts';
import { GEMV_TILE, GRAD_TILE, MATMUL_TILE, TRANSLATOR_SUBGROUP_TILE, TRANSLATOR_TILE_SLOTS } from './tiles.ts';
import { blockStride, inGroupWindow, packRanges, tiles, type Batch, type GroupRange } from './groups.ts';

/**
 * Forward kernels: `subgroup` (translator_sg, one row of W an invocation, x handed between
 * lanes), `tiled` (matmul_nt, 16 slots a tile) or `gemv` (translator_gemv, W read once per
 * GEMV_TILE.SLOTS slots). The default is subgroup where the adapter has subgroups, else `auto`:
 * gemv when the present groups average at most GEMV_TILE.SLOTS slots (training batches of 32
 * over a preset's groups), tiled otherwise (the evaluation's large batches).
 */
export type ForwardVariant = 'auto' | 'subgroup' | 'tiled' | 'gemv';
/** Backward kernels: `subgroup` (translator_sg) where the adapter has subgroups, else `tiled` (translator_grad). */
export type BackwardVariant = 'subgroup' | 'tiled';

/** The translator's kernels: forward and backward variants (defaults: subgroups where the adapter has them). */
export interface TranslatorOptions extends Partial<BufferLimits> {
  forward?: ForwardVariant;
  backward?: BackwardVariant;
}

export class Translator {
  readonly stride: number;
  readonly windows: Window[];

  private constructor(
    private gpu: Gpu,
    readonly d: number,
    readonly numGroups: number,
    readonly forwardVariant: ForwardVariant,
    readonly backwardVariant: BackwardVariant,
    private pipes: { tiled: GPUComputePipeline; gemv: GPUComputePipeline; grad: GPUComputePipeline; sgForward?: GPUComputePipeline; sgGrad?: GPUComputePipeline },
    limits: BufferLimits,
  ) {
    this.stride = blockStride(d);
    this.windows = bindingWindows(numGroups, this.stride * 4, limits.maxBinding, gpu.limits.minStorageBufferOffsetAlignment, { maxBuffer: limits.maxBuffer });
  }

  static async create(gpu: Gpu, d: number, numGroups: number, o: TranslatorOptions = {}): Promise<Translator> {
    const sg = gpu.hasSubgroups;
    const forward = o.forward ?? (sg ? 'subgroup' : 'auto');
    const backward = o.backward ?? (sg ? 'subgroup' : 'tiled');
    if (forward === 'subgroup' || backward === 'subgroup') gpu.requireSubgroups('the subgroup translator');
    const [tiled, gemv, grad, sgForward, sgGrad] = await Promise.all([
      pipeline(gpu, 'matmul_nt', 'main', { TM: TRANSLATOR_TILE_SLOTS, ...MATMUL_TILE, B_F16: false, RESIDUAL_BIAS: true }),
      pipeline(gpu, 'translator_gemv', 'main', GEMV_TILE),
      pipeline(gpu, 'translator_grad', 'main', GRAD_TILE),
      sg ? pipeline(gpu, 'translator_sg', 'forward', { ...TRANSLATOR_SUBGROUP_TILE, LANES: gpu.subgroupLanes, FORWARD: true, ADAMW: false }) : undefined,
      sg ? pipeline(gpu, 'translator_sg', 'gradient', { ...TRANSLATOR_SUBGROUP_TILE, LANES: gpu.subgroupLanes, FORWARD: false, ADAMW: false }) : undefined,
    ]);
    return new Translator(gpu, d, numGroups, forward, backward, { tiled, gemv, grad, sgForward, sgGrad }, gpu.bufferLimits(o));
  }

  /**
   * y [B, d] = x + W_g x + b_g for the slots of each range, bound to its buffers for batches of
   * up to `maxRows` slots: the batch's tiles or ranges and each window's params live in
   * step-tables slots, the bind groups (every variant, every window) are made once.
   */
  bindForward(tables: StepTables, buf: TranslatorForwardBuffers, maxRows: number): Bound<Batch> {
    // A batch has at most one range, and one tile, per slot.
    const tileSlot = tables.reserve(maxRows * 16);
    const rangeSlot = tables.reserve(maxRows * 16);
    const tiledSlots = this.windows.map(() => tables.reserve(32));
    // The GEMV and the subgroup forward read the same ranges and the same params.
    const rangeParams = this.windows.map(() => tables.reserve(16));
    const { tiled: tiledPipe, gemv: gemvPipe, sgForward } = this.pipes;
    const byRange = {
      gemv: { pipe: gemvPipe, rowsPerWorkgroup: GEMV_TILE.ROWS, bindGroups: [] as GPUBindGroup[] },
      subgroup: sgForward && { pipe: sgForward, rowsPerWorkgroup: TRANSLATOR_SUBGROUP_TILE.WG, bindGroups: [] as GPUBindGroup[] },
    };
    const tiled: GPUBindGroup[] = [];
    tables.whenSealed(() =>
      this.windows.forEach((w, i) => {
        const params = windowBinding(buf.params, w);
        const [ranges, p] = [tables.binding(rangeSlot), tables.binding(rangeParams[i]!)];
        tiled[i] = bindGroup(this.gpu, tiledPipe, [tables.binding(tiledSlots[i]!), buf.x, params, tables.binding(tileSlot), buf.y]);
        byRange.gemv.bindGroups[i] = bindGroup(this.gpu, gemvPipe, [p, buf.x, params, ranges, buf.y]);
        if (byRange.subgroup) byRange.subgroup.bindGroups[i] = bindGroup(this.gpu, byRange.subgroup.pipe, [p, ranges, buf.x, params, buf.y]);
      }),
    );
    const byRanges = (pass: GPUComputePassEncoder, ranges: GroupRange[], variant: 'gemv' | 'subgroup') => {
      const { pipe, rowsPerWorkgroup, bindGroups } = byRange[variant]!;
      tables.write(rangeSlot, packRanges(ranges));
      this.windows.forEach((w, i) => {
        const [lo, hi] = inGroupWindow(ranges, w.first, w.first + w.count);
        if (hi === lo) return;
        tables.writeParams(rangeParams[i]!, pipe, { d: this.d, groupStride: this.stride, groupBase: w.first, rangeBase: lo });
        dispatch(this.gpu, pass, pipe, bindGroups[i]!, hi - lo, Math.ceil(this.d / rowsPerWorkgroup));
      });
    };
    const byTiles = (pass: GPUComputePassEncoder, ranges: GroupRange[], batch: number) => {
      const t = tiles(ranges, TRANSLATOR_TILE_SLOTS);
      tables.write(tileSlot, packRanges(t));
      this.windows.forEach((w, i) => {
        const [lo, hi] = inGroupWindow(t, w.first, w.first + w.count);
        if (hi === lo) return;
        tables.writeParams(tiledSlots[i]!, tiledPipe, { M: batch, N: this.d, K: this.d, groupStride: this.stride, groupBase: w.first, nBase: 0, cStride: this.d, tileBase: lo });
        dispatch(this.gpu, pass, tiledPipe, tiled[i]!, hi - lo, Math.ceil(this.d / MATMUL_TILE.TN));
      });
    };
    return {
      encode: (pass, { rows, ranges }) => {
        invariant(rows.length <= maxRows, `translator forward: ${rows.length} slots, bound for ${maxRows}`);
        let variant = this.forwardVariant;
        if (variant === 'auto') variant = rows.length <= GEMV_TILE.SLOTS * ranges.length ? 'gemv' : 'tiled';
        if (variant === 'tiled') byTiles(pass, ranges, rows.length);
        else byRanges(pass, ranges, variant);
      },
    };
  }

  /** grad blocks of the present groups ← (dW_g, db_g), other blocks left as they are; bound as bindForward. */
  bindBackward(tables: StepTables, buf: TranslatorBackwardBuffers, maxRows: number): Bound<Batch> {
    const subgroup = this.backwardVariant === 'subgroup';
    const pipe = subgroup ? this.pipes.sgGrad! : this.pipes.grad;
    const rangeSlot = tables.reserve(maxRows * 16);
    const paramSlots = this.windows.map(() => tables.reserve(16));
    const bindGroups: GPUBindGroup[] = [];
    tables.whenSealed(() =>
      this.windows.forEach((w, i) => {
        const grad = windowBinding(buf.grad, w);
        const ranges = tables.binding(rangeSlot);
        bindGroups[i] = bindGroup(this.gpu, pipe, subgroup
          ? [tables.binding(paramSlots[i]!), ranges, buf.dy, buf.x, grad]
          : [tables.binding(paramSlots[i]!), buf.dy, buf.x, ranges, grad]);
      }),
    );
    const grid: [number, number] = subgroup
      ? [Math.ceil(this.d / TRANSLATOR_SUBGROUP_TILE.WG), Math.ceil(this.d / TRANSLATOR_SUBGROUP_TILE.ROWS)]
      : [Math.ceil(this.d / GRAD_TILE.T), Math.ceil(this.d / GRAD_TILE.T)];
    return {
      encode: (pass, { rows, ranges }) => {
        invariant(rows.length <= maxRows, `translator backward: ${rows.length} slots, bound for ${maxRows}`);
        tables.write(rangeSlot, packRanges(ranges));
        this.windows.forEach((w, i) => {
          const [lo, hi] = inGroupWindow(ranges, w.first, w.first + w.count);
          if (hi === lo) return;
          tables.writeParams(paramSlots[i]!, pipe, { d: this.d, groupStride: this.stride, groupBase: w.first, rangeBase: lo });
          dispatch(this.gpu, pass, pipe, bindGroups[i]!, grid[0], grid[1], hi - lo);
        });
      },
    };
  }
}

/** x, y [B, d]; params: the groups' blocks (one buffer, or the parts of bufferParts). */
export interface TranslatorForwardBuffers {
  x: GPUBuffer;
  params: Split;
  y: GPUBuffer;
}

/** dy, x [B, d]; grad: the groups' gradient blocks. */
export interface TranslatorBackwardBuffers {
  dy: GPUBuffer;
  x: GPUBuffer;
  grad: Split;
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
