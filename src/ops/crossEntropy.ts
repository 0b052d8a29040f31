// Softmax cross-entropy against a target distribution q, per row: loss and
// dlogits = (softmax − q) / B. q is sparse (up to `targetsPerRow` weighted token ids a row, −1
// pads; one with weight 1 is the one-hot cross-entropy) or dense (the softmax of teacher logits: the
// loss is then the KL divergence to the teacher).
import type { Gpu } from '../gpu/device.ts';
import { MAX_TARGETS } from '../shared/constants.ts';
import { bindGroup, dispatch, pipeline } from '../gpu/pipelines.ts';
import type { Bound, StepTables } from '../gpu/stepTables.ts';
import { InputError, invariant } from '../shared/errors.ts';
import type { Batch } from './groups.ts';

/** logits, loss, dlogits [rows, …]; sparse: targets and weights [rows, targetsPerRow]; dense: teacher logits. */
export interface CrossEntropyBuffers {
  logits: GPUBuffer;
  targets?: GPUBuffer;
  weights?: GPUBuffer;
  teacher?: GPUBuffer;
  loss: GPUBuffer;
  dlogits: GPUBuffer;
}

/**
 * Sparse: `targetsPerRow` targets a row; `first`: the loss reads only the first, with weight 1 (the rest
 * serve the any-k metrics). Teacher: dense q from teacher logits.
 */
export type TargetKind = { kind: 'sparse'; targetsPerRow: number; first?: boolean } | { kind: 'teacher' };

export class CrossEntropy {
  private constructor(
    private gpu: Gpu,
    private pipe: GPUComputePipeline,
    readonly V: number,
    readonly target: TargetKind,
  ) {}

  static async create(gpu: Gpu, V: number, target: TargetKind = { kind: 'sparse', targetsPerRow: 1 }): Promise<CrossEntropy> {
    if (target.kind === 'sparse' && !(Number.isInteger(target.targetsPerRow) && target.targetsPerRow >= 1 && target.targetsPerRow <= MAX_TARGETS)) {
      throw new InputError(`cross-entropy: ${target.targetsPerRow} targets a row (1 to ${MAX_TARGETS})`);
    }
    const defines =
      target.kind === 'sparse'
        ? { K: target.targetsPerRow, LOSS_K: target.first ? 1 : target.targetsPerRow, FIRST: Boolean(target.first), TEACHER: false }
        : { K: 1, LOSS_K: 1, FIRST: false, TEACHER: true };
    return new CrossEntropy(gpu, await pipeline(gpu, 'cross_entropy', 'main', defines), V, target);
  }

  /**
   * loss [rows] and dlogits [rows, V] from logits [rows, V] and, sparse, targets and weights
   * [rows, targetsPerRow] (weights normalised per row), or, dense, teacher logits [rows, V];
   * bound once, its params in a step-tables slot. `count` is the B of the mean: the batch's
   * rows unless given (a caller may leave padded rows out of it).
   */
  bind(tables: StepTables, buf: CrossEntropyBuffers, maxRows: number): Bound<Batch & { count?: number }> {
    const sparse = this.target.kind === 'sparse';
    invariant(sparse ? buf.targets && buf.weights : buf.teacher, `cross-entropy (${this.target.kind}): ${sparse ? 'targets and weights' : 'teacher logits'} needed`);
    const slot = tables.reserve(8);
    let bg: GPUBindGroup;
    tables.whenSealed(() => {
      bg = bindGroup(this.gpu, this.pipe, [tables.binding(slot), buf.logits, sparse ? buf.targets : buf.teacher, sparse ? buf.weights : undefined, buf.loss, buf.dlogits]);
    });
    return {
      encode: (pass, { rows, count = rows.length }) => {
        invariant(rows.length <= maxRows, `cross-entropy: ${rows.length} rows, bound for ${maxRows}`);
        tables.writeParams(slot, this.pipe, { V: this.V, invCount: count > 0 ? 1 / count : 0 });
        dispatch(this.gpu, pass, this.pipe, bg, rows.length);
      },
    };
  }
}

/**
 * Normalises each row's weights to sum to 1 (float64, then rounded), zero for padding (−1).
 * A row whose first target is padding is a padded row and keeps zeros; any other row with
 * no positive weight is an error the caller reports.
 */
export function normaliseWeights(targets: Int32Array, weights: Float32Array | undefined, K: number): { weights: Float32Array; badRow: number } {
  const rows = targets.length / K;
  const out = new Float32Array(targets.length);
  let badRow = -1;
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let k = 0; k < K; k++) if (targets[r * K + k]! >= 0) sum += weights ? weights[r * K + k]! : 1;
    if (targets[r * K]! < 0) continue;
    if (!(sum > 0)) {
      if (badRow < 0) badRow = r;
      continue;
    }
    for (let k = 0; k < K; k++) if (targets[r * K + k]! >= 0) out[r * K + k] = (weights ? weights[r * K + k]! : 1) / sum;
  }
  return { weights: out, badRow };
}

// ---- Plain TypeScript references (float64) ----

function logSoftmax(logits: Float32Array, s: number, V: number): Float64Array {
  let max = -Infinity;
  for (let v = 0; v < V; v++) max = Math.max(max, logits[s * V + v]!);
  let sum = 0;
  for (let v = 0; v < V; v++) sum += Math.exp(logits[s * V + v]! - max);
  const logSum = Math.log(sum);
  return Float64Array.from({ length: V }, (_, v) => logits[s * V + v]! - max - logSum);
}

/** Sparse q: targets and normalised weights [rows, K]; K = 1 with weights 1 is the one-hot CE. */
export function crossEntropyRef(logits: Float32Array, targets: Int32Array, rows: number, V: number, count: number, weights?: Float32Array) {
  const K = targets.length / rows;
  const loss = new Float32Array(rows);
  const dlogits = new Float32Array(rows * V);
  for (let s = 0; s < rows; s++) {
    if (targets[s * K]! < 0) continue;
    const q = new Float64Array(V);
    for (let k = 0; k < K; k++) {
      const t = targets[s * K + k]!;
      if (t >= 0 && t < V) q[t] += weights ? weights[s * K + k]! : 1;
    }
    const ls = logSoftmax(logits, s, V);
    let l = 0;
    for (let v = 0; v < V; v++) {
      if (q[v]) l -= q[v]! * ls[v]!;
      dlogits[s * V + v] = (Math.exp(ls[v]!) - q[v]!) / count;
    }
    loss[s] = l;
  }
  return { loss, dlogits };
}

/** Dense q = softmax(teacher): loss = KL(q ‖ softmax(logits)). */
export function klRef(logits: Float32Array, teacher: Float32Array, rows: number, V: number, count: number) {
  const loss = new Float32Array(rows);
  const dlogits = new Float32Array(rows * V);
  for (let s = 0; s < rows; s++) {
    const ls = logSoftmax(logits, s, V);
    const lq = logSoftmax(teacher, s, V);
    let l = 0;
    for (let v = 0; v < V; v++) {
      const q = Math.exp(lq[v]!);
      l += q * (lq[v]! - ls[v]!);
      dlogits[s * V + v] = (Math.exp(ls[v]!) - q) / count;
    }
    loss[s] = l;
  }
  return { loss, dlogits };
}
