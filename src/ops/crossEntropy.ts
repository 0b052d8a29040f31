// Softmax cross-entropy over the vocabulary: per-row loss and dlogits = (softmax − onehot) / B.
import type { Gpu } from '../gpu/device.ts';
import { bindGroup, dispatch, params, pipeline, uniform } from '../gpu/pipelines.ts';

export class CrossEntropy {
  private constructor(
    private gpu: Gpu,
    private pipe: GPUComputePipeline,
  ) {}

  static async create(gpu: Gpu): Promise<CrossEntropy> {
    return new CrossEntropy(gpu, await pipeline(gpu, 'cross_entropy', 'main'));
  }

  /**
   * loss [rows] and dlogits [rows, V] from logits [rows, V] and targets [rows] (i32; −1 pads).
   * `count` is the number of real rows, the B of the mean.
   */
  encode(
    pass: GPUComputePassEncoder,
    buf: { logits: GPUBuffer; targets: GPUBuffer; loss: GPUBuffer; dlogits: GPUBuffer },
    rows: number,
    V: number,
    count: number,
  ): void {
    const u = uniform(this.gpu, 'cross entropy', params(V, { f32: count > 0 ? 1 / count : 0 }));
    const bg = bindGroup(this.gpu, this.pipe, [u, buf.logits, buf.targets, buf.loss, buf.dlogits]);
    dispatch(this.gpu, pass, this.pipe, bg, rows);
  }
}

// ---- Plain TypeScript reference (float64) ----

export function crossEntropyRef(logits: Float32Array, targets: Int32Array, rows: number, V: number, count: number) {
  const loss = new Float32Array(rows);
  const dlogits = new Float32Array(rows * V);
  for (let s = 0; s < rows; s++) {
    const t = targets[s]!;
    if (t < 0 || t >= V) continue;
    let max = -Infinity;
    for (let v = 0; v < V; v++) max = Math.max(max, logits[s * V + v]!);
    let sum = 0;
    for (let v = 0; v < V; v++) sum += Math.exp(logits[s * V + v]! - max);
    const logSum = Math.log(sum);
    loss[s] = logSum - (logits[s * V + t]! - max);
    for (let v = 0; v < V; v++) {
      dlogits[s * V + v] = (Math.exp(logits[s * V + v]! - max - logSum) - (v === t ? 1 : 0)) / count;
    }
  }
  return { loss, dlogits };
}
