// Top-k metrics: each row's first target's rank (logits strictly greater), the best rank of
// its positive-weight targets (any-k), and its 10 best token ids.
import type { Gpu } from '../gpu/device.ts';
import { bindGroup, dispatch, pipeline } from '../gpu/pipelines.ts';
import type { Bound, StepTables } from '../gpu/stepTables.ts';
import { InputError, invariant } from '../shared/errors.ts';
import type { Batch } from './groups.ts';

export const TOP_K = 10;
/** Rank reported for a padding row (target −1). */
export const NO_RANK = 0xffffffff;

/** logits [rows, V]; targets, weights [rows, targetsPerRow]; rank, anyRank [rows]; ids [rows, 10]. */
export interface TopKBuffers {
  logits: GPUBuffer;
  targets: GPUBuffer;
  weights: GPUBuffer;
  rank: GPUBuffer;
  anyRank: GPUBuffer;
  ids: GPUBuffer;
}

/**
 * `subgroup`: a row a subgroup (the workgroup is one subgroup of the adapter's smallest size),
 * where the adapter has subgroups; `workgroup`: a row a workgroup of 256, its rounds through
 * workgroup memory and barriers.
 */
export type TopKVariant = 'subgroup' | 'workgroup';

export class TopK {
  private constructor(
    private gpu: Gpu,
    private pipe: GPUComputePipeline,
    readonly V: number,
    readonly targetsPerRow: number,
    readonly variant: TopKVariant,
  ) {}

  static async create(gpu: Gpu, V: number, targetsPerRow = 1, variant: TopKVariant = gpu.hasSubgroups ? 'subgroup' : 'workgroup'): Promise<TopK> {
    if (V < TOP_K) throw new InputError(`top-k needs a vocabulary of at least ${TOP_K} tokens (V = ${V})`);
    const sg = variant === 'subgroup';
    const pipe = await pipeline(gpu, 'topk', 'main', { K: TOP_K, T: targetsPerRow, SUBGROUPS: sg, WG: sg ? gpu.requireSubgroups('the subgroup top-k') : 256 });
    return new TopK(gpu, pipe, V, targetsPerRow, variant);
  }

  /**
   * rank and anyRank [rows] u32 and ids [rows, 10] u32 from logits [rows, V] and the rows'
   * targets and weights [rows, targetsPerRow], bound to its buffers: params written once.
   */
  bind(tables: StepTables, buf: TopKBuffers, maxRows: number): Bound<Batch> {
    const slot = tables.reserve(4);
    let bg: GPUBindGroup;
    tables.whenSealed(() => {
      tables.writeParams(slot, this.pipe, { V: this.V });
      bg = bindGroup(this.gpu, this.pipe, [tables.binding(slot), buf.logits, buf.targets, buf.weights, buf.rank, buf.ids, buf.anyRank]);
    });
    return {
      encode: (pass, { rows }) => {
        invariant(rows.length <= maxRows, `top-k: ${rows.length} rows, bound for ${maxRows}`);
        dispatch(this.gpu, pass, this.pipe, bg, rows.length);
      },
    };
  }
}

// ---- Plain TypeScript reference ----

export function topkRef(logits: Float32Array, targets: Int32Array, rows: number, V: number, weights?: Float32Array) {
  const T = targets.length / rows;
  const rank = new Uint32Array(rows);
  const anyRank = new Uint32Array(rows);
  const ids = new Uint32Array(rows * TOP_K);
  for (let s = 0; s < rows; s++) {
    const row = logits.subarray(s * V, (s + 1) * V);
    const rankOf = (t: number) => {
      if (t < 0 || t >= V) return NO_RANK;
      let above = 0;
      for (let v = 0; v < V; v++) if (row[v]! > row[t]!) above++;
      return above;
    };
    rank[s] = rankOf(targets[s * T]!);
    anyRank[s] = NO_RANK;
    for (let j = 0; j < T; j++) {
      if ((weights ? weights[s * T + j]! : 1) > 0) anyRank[s] = Math.min(anyRank[s]!, rankOf(targets[s * T + j]!));
    }
    const order = Array.from(row.keys()).sort((a, b) => row[b]! - row[a]! || a - b);
    ids.set(order.slice(0, TOP_K), s * TOP_K);
  }
  return { rank, anyRank, ids };
}
