// The frozen unembedding: logits = z Uᵀ (matmul_nt) and dz = dlogits · U (unembed_grad),
// U stored [V, d] as f32, or as f16 packed two per u32, in one buffer or over several. U is
// bound in vocabulary windows that each fit one storage binding (V 32,000 × d 2,048 in f32 is
// 262 MB; lavapipe binds 128 MiB). Windows and buffers start at multiples of V_PER_SPLIT rows,
// so the backward's split-K sums the same rows in the same order however U is cut.
import { bindingWindows, bufferParts, windowBinding, type BufferLimits, type Part, type Split, type Window } from '../gpu/buffers.ts';
import type { Gpu } from '../gpu/device.ts';
import type { HeadDtype } from '../shared/constants.ts';
import { bindGroup, dispatch, pipeline } from '../gpu/pipelines.ts';
import type { Bound, StepTables } from '../gpu/stepTables.ts';
import { InputError, invariant } from '../shared/errors.ts';
import { MATMUL_TILE, UNEMBED_GRAD_TILE, UNEMBED_REGISTER_TILES, UNEMBED_SUBGROUP_TILE, UNEMBED_TILE_SLOTS, V_PER_SPLIT } from './tiles.ts';
import { packRanges, type Batch } from './groups.ts';

/** Bytes of one row of U: d values of f32, or of f16. */
export const headRowBytes = (d: number, dtype: HeadDtype) => (dtype === 'f16' ? d * 2 : d * 4);

/** U's vocabulary windows, each within one storage binding and one of headParts' buffers (f32 or f16 rows of d). */
export function unembedWindows(V: number, d: number, dtype: HeadDtype, limits: BufferLimits, align: number): Window[] {
  return bindingWindows(V, headRowBytes(d, dtype), limits.maxBinding, align, { maxBuffer: limits.maxBuffer, unit: V_PER_SPLIT, bindUnit: V_PER_SPLIT });
}

/** The buffers U is held in: whole V_PER_SPLIT-row blocks of the vocabulary in each. */
export function headParts(V: number, d: number, dtype: HeadDtype, maxBuffer: number): Part[] {
  return bufferParts(V, headRowBytes(d, dtype), maxBuffer, V_PER_SPLIT);
}

/** The backward's split-K: how many V_PER_SPLIT-row splits the windows make. */
function splitCount(windows: Window[]): number {
  return windows.reduce((n, w) => n + Math.max(1, Math.ceil(w.count / V_PER_SPLIT)), 0);
}

/** Bytes of the split-K partial sums of dz ([rows, d] a split) over these windows. */
export function partialSumBytes(windows: Window[], rows: number, d: number): number {
  return splitCount(windows) * rows * d * 4;
}

/**
 * `subgroup`: one vocabulary row (logits) or one column of dz (backward) an invocation, the
 * operand shared by all invocations handed between lanes (unembed_logits.wgsl, unembed_grad.wgsl
 * with SUBGROUPS); `tiled`: workgroup tiles staged in workgroup memory, a column an invocation
 * (matmul_nt.wgsl, unembed_grad.wgsl); `register-…`: register blocks fed by vec4 loads staged
 * through workgroup memory (unembed_register.wgsl), one candidate per UNEMBED_REGISTER_TILES entry.
 */
export type UnembedVariant = 'subgroup' | 'tiled' | RegisterTile;
export type RegisterTile = keyof typeof UNEMBED_REGISTER_TILES;
export const REGISTER_TILES = Object.keys(UNEMBED_REGISTER_TILES) as RegisterTile[];

/** The variant an adapter runs by default: subgroups where it has them. */
export function defaultUnembedVariant(gpu: Gpu): UnembedVariant {
  return gpu.hasSubgroups ? 'subgroup' : 'tiled';
}

const isRegister = (v: UnembedVariant): v is RegisterTile => v in UNEMBED_REGISTER_TILES;

export class Unembed {
  readonly windows: Window[];

  private constructor(
    private gpu: Gpu,
    readonly V: number,
    readonly d: number,
    readonly dtype: HeadDtype,
    readonly variant: UnembedVariant,
    private logitsPipe: GPUComputePipeline,
    private partialsPipe: GPUComputePipeline,
    private reducePipe: GPUComputePipeline,
    limits: BufferLimits,
  ) {
    this.windows = unembedWindows(V, d, dtype, limits, gpu.limits.minStorageBufferOffsetAlignment);
  }

  /** `limits` override the device's (tests use them to force windows and parts). */
  static async create(
    gpu: Gpu,
    V: number,
    d: number,
    dtype: HeadDtype,
    limits: Partial<BufferLimits> = {},
    variant: UnembedVariant = defaultUnembedVariant(gpu),
  ): Promise<Unembed> {
    if (dtype === 'f16' && d % 2) throw new InputError(`an f16 head needs an even hidden size (d = ${d})`);
    if (variant === 'subgroup') gpu.requireSubgroups('the subgroup unembedding');
    const f16 = dtype === 'f16';
    const sg = variant === 'subgroup';
    const grad = { ...UNEMBED_GRAD_TILE, ...UNEMBED_SUBGROUP_TILE, LANES: gpu.subgroupLanes, SUBGROUPS: sg, U_F16: f16 };
    const [logits, partials, reduce] = await Promise.all([
      isRegister(variant)
        ? registerPipeline(gpu, variant, d, f16, true)
        : sg
          ? pipeline(gpu, 'unembed_logits', 'main', { ...UNEMBED_SUBGROUP_TILE, LANES: gpu.subgroupLanes, U_F16: f16 })
          : pipeline(gpu, 'matmul_nt', 'main', { TM: UNEMBED_TILE_SLOTS, ...MATMUL_TILE, B_F16: f16, RESIDUAL_BIAS: false }),
      isRegister(variant) ? registerPipeline(gpu, variant, d, f16, false) : pipeline(gpu, 'unembed_grad', 'partials', { ...grad, PARTIALS: true }),
      pipeline(gpu, 'unembed_grad', 'reduce', { ...grad, SUBGROUPS: false, PARTIALS: false }),
    ]);
    return new Unembed(gpu, V, d, dtype, variant, logits, partials, reduce, gpu.bufferLimits(limits));
  }

  /** The logits dispatch for a window of N rows and M batch rows (subgroup and register variants). */
  private logitsGrid(N: number, M: number): [number, number] {
    if (isRegister(this.variant)) {
      const { TM, TN } = UNEMBED_REGISTER_TILES[this.variant];
      return [Math.ceil(N / TN), Math.ceil(M / TM)];
    }
    return [Math.ceil(N / UNEMBED_SUBGROUP_TILE.WG), 1];
  }

  /** The partial sums' dispatch, before the splits: columns of dz × batch rows. */
  private partialsGrid(M: number): [number, number] {
    if (isRegister(this.variant)) {
      const { TM, TN } = UNEMBED_REGISTER_TILES[this.variant];
      return [Math.ceil(this.d / TN), Math.ceil(M / TM)];
    }
    if (this.variant === 'subgroup') return [Math.ceil(this.d / UNEMBED_SUBGROUP_TILE.WG), 1];
    return [Math.ceil(this.d / UNEMBED_GRAD_TILE.TN), Math.ceil(M / UNEMBED_GRAD_TILE.TM)];
  }

  /**
   * logits [M, V] = z [M, d] · Uᵀ for batches of up to `maxRows` rows: each window's params
   * (and for the tiled variant the row tiles) live in step-tables slots, the bind groups are
   * made once.
   */
  bindForward(tables: StepTables, buf: UnembedForwardBuffers, maxRows: number): Bound<Batch> {
    const paramSlots = this.windows.map(() => tables.reserve(32));
    const bindGroups: GPUBindGroup[] = [];
    const checkRows = (M: number) => invariant(M <= maxRows, `unembed logits: ${M} rows, bound for ${maxRows}`);
    if (this.variant !== 'tiled') {
      tables.whenSealed(() =>
        this.windows.forEach((w, i) => {
          bindGroups[i] = bindGroup(this.gpu, this.logitsPipe, [tables.binding(paramSlots[i]!), buf.z, windowBinding(buf.U, w), buf.logits]);
        }),
      );
      return {
        encode: (pass, { rows: { length: M } }) => {
          checkRows(M);
          this.windows.forEach((w, i) => {
            tables.writeParams(paramSlots[i]!, this.logitsPipe, { M, N: w.count, K: this.d, vBase: w.first, cStride: this.V });
            dispatch(this.gpu, pass, this.logitsPipe, bindGroups[i]!, ...this.logitsGrid(w.count, M));
          });
        },
      };
    }
    const tileSlot = tables.reserve(Math.ceil(maxRows / UNEMBED_TILE_SLOTS) * 16);
    tables.whenSealed(() =>
      this.windows.forEach((w, i) => {
        bindGroups[i] = bindGroup(this.gpu, this.logitsPipe, [tables.binding(paramSlots[i]!), buf.z, windowBinding(buf.U, w), tables.binding(tileSlot), buf.logits]);
      }),
    );
    return {
      encode: (pass, { rows: { length: M } }) => {
        checkRows(M);
        const tileList = [];
        for (let first = 0; first < M; first += UNEMBED_TILE_SLOTS) tileList.push({ group: 0, first, count: Math.min(UNEMBED_TILE_SLOTS, M - first) });
        tables.write(tileSlot, packRanges(tileList));
        this.windows.forEach((w, i) => {
          tables.writeParams(paramSlots[i]!, this.logitsPipe, { M, N: w.count, K: this.d, groupStride: 0, groupBase: 0, nBase: w.first, cStride: this.V, tileBase: 0 });
          dispatch(this.gpu, pass, this.logitsPipe, bindGroups[i]!, tileList.length, Math.ceil(w.count / MATMUL_TILE.TN));
        });
      },
    };
  }

  /**
   * dz [M, d] = dlogits [M, V] · U through split-K partial sums (`partial`, of partialSumBytes
   * for maxRows) and a fixed-order reduce; bound as bindForward.
   */
  bindBackward(tables: StepTables, buf: UnembedBackwardBuffers, maxRows: number): Bound<Batch> {
    const totalSplits = splitCount(this.windows);
    const paramSlots = this.windows.map(() => tables.reserve(32));
    const reduceSlot = tables.reserve(32);
    const bindGroups: GPUBindGroup[] = [];
    let reduce: GPUBindGroup;
    tables.whenSealed(() => {
      this.windows.forEach((w, i) => {
        bindGroups[i] = bindGroup(this.gpu, this.partialsPipe, [tables.binding(paramSlots[i]!), buf.dlogits, windowBinding(buf.U, w), buf.partial]);
      });
      reduce = bindGroup(this.gpu, this.reducePipe, [tables.binding(reduceSlot), buf.partial, buf.dz]);
    });
    return {
      encode: (pass, { rows: { length: M } }) => {
        invariant(M <= maxRows, `unembed backward: ${M} rows, bound for ${maxRows}`);
        let splitBase = 0;
        this.windows.forEach((w, i) => {
          const splits = Math.max(1, Math.ceil(w.count / V_PER_SPLIT));
          tables.writeParams(paramSlots[i]!, this.partialsPipe, { M, V: w.count, d: this.d, vPerSplit: V_PER_SPLIT, splitBase, vBase: w.first, dlStride: this.V, splits: totalSplits });
          dispatch(this.gpu, pass, this.partialsPipe, bindGroups[i]!, ...this.partialsGrid(M), splits);
          splitBase += splits;
        });
        tables.writeParams(reduceSlot, this.reducePipe, { M, V: this.V, d: this.d, vPerSplit: V_PER_SPLIT, splitBase: 0, vBase: 0, dlStride: this.V, splits: totalSplits });
        dispatch(this.gpu, pass, this.reducePipe, reduce, Math.ceil((M * this.d) / 256));
      },
    };
  }
}

/** unembed_register's logits or partials for `tile`: vec4 loads where d is a multiple of 4. */
function registerPipeline(gpu: Gpu, tile: RegisterTile, d: number, f16: boolean, logits: boolean): Promise<GPUComputePipeline> {
  const defines = { ...UNEMBED_REGISTER_TILES[tile], U_F16: f16, VEC4: d % 4 === 0, LOGITS: logits };
  return pipeline(gpu, 'unembed_register', logits ? 'logits_main' : 'partials', defines);
}

/** z [M, d]; U [V, d] (f32, or f16 two per u32; one buffer or headParts' buffers); logits [M, V]. */
export interface UnembedForwardBuffers {
  z: GPUBuffer;
  U: Split;
  logits: GPUBuffer;
}

/** dlogits [M, V]; U; dz [M, d]; partial: the split-K partial sums (partialSumBytes). */
export interface UnembedBackwardBuffers {
  dlogits: GPUBuffer;
  U: Split;
  dz: GPUBuffer;
  partial: GPUBuffer;
}

// ---- Plain TypeScript reference (float64 accumulation) ----

export function unembedLogitsRef(z: Float32Array, U: Float32Array, M: number, V: number, d: number): Float32Array {
  const out = new Float32Array(M * V);
  for (let s = 0; s < M; s++) {
    for (let v = 0; v < V; v++) {
      let acc = 0;
      for (let k = 0; k < d; k++) acc += z[s * d + k]! * U[v * d + k]!;
      out[s * V + v] = acc;
    }
  }
  return out;
}

export function unembedBackwardRef(dlogits: Float32Array, U: Float32Array, M: number, V: number, d: number): Float32Array {
  const acc = new Float64Array(M * d);
  for (let s = 0; s < M; s++) {
    for (let v = 0; v < V; v++) {
      const g = dlogits[s * V + v]!;
      if (g === 0) continue;
      for (let k = 0; k < d; k++) acc[s * d + k] += g * U[v * d + k]!;
    }
  }
  return Float32Array.from(acc);
}
