// Top-k metrics: each row's target rank (logits strictly greater) and its 10 best token ids.
import type { Gpu } from '../gpu/device.ts';
import { bindGroup, dispatch, params, pipeline, uniform } from '../gpu/pipelines.ts';

export const TOP_K = 10;
/** Rank reported for a padding row (target −1). */
export const NO_RANK = 0xffffffff;

export class TopK {
  private constructor(
    private gpu: Gpu,
    private pipe: GPUComputePipeline,
  ) {}

  static async create(gpu: Gpu): Promise<TopK> {
    return new TopK(gpu, await pipeline(gpu, 'topk', 'main', { K: TOP_K }));
  }

  /** rank [rows] u32 and ids [rows, 10] u32 from logits [rows, V] and targets [rows] i32. */
  encode(
    pass: GPUComputePassEncoder,
    buf: { logits: GPUBuffer; targets: GPUBuffer; rank: GPUBuffer; ids: GPUBuffer },
    rows: number,
    V: number,
  ): void {
    if (V < TOP_K) throw new Error(`top-k needs a vocabulary of at least ${TOP_K} tokens (V = ${V})`);
    const u = uniform(this.gpu, 'topk', params(V));
    const bg = bindGroup(this.gpu, this.pipe, [u, buf.logits, buf.targets, buf.rank, buf.ids]);
    dispatch(this.gpu, pass, this.pipe, bg, rows);
  }
}

// ---- Plain TypeScript reference ----

export function topkRef(logits: Float32Array, targets: Int32Array, rows: number, V: number) {
  const rank = new Uint32Array(rows);
  const ids = new Uint32Array(rows * TOP_K);
  for (let s = 0; s < rows; s++) {
    const row = logits.subarray(s * V, (s + 1) * V);
    const t = targets[s]!;
    if (t < 0 || t >= V) rank[s] = NO_RANK;
    else {
      let above = 0;
      for (let v = 0; v < V; v++) if (row[v]! > row[t]!) above++;
      rank[s] = above;
    }
    const order = Array.from(row.keys()).sort((a, b) => row[b]! - row[a]! || a - b);
    ids.set(order.slice(0, TOP_K), s * TOP_K);
  }
  return { rank, ids };
}
