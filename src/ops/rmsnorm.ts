// The frozen final RMSNorm z = y / sqrt(mean(y²) + eps) ⊙ γ and its gradient dz → dy.
import type { Gpu } from '../gpu/device.ts';
import { bindGroup, dispatch, paramsBuffer, pipeline } from '../gpu/pipelines.ts';

export class RmsNorm {
  private constructor(
    private gpu: Gpu,
    readonly d: number,
    readonly eps: number,
    private forwardPipe: GPUComputePipeline,
    private backwardPipe: GPUComputePipeline,
  ) {}

  /**
   * `subgroups` (the default where the adapter has them): a row a subgroup, its sum a
   * subgroupAdd; otherwise a row a workgroup of 256 and a tree in workgroup memory.
   */
  static async create(gpu: Gpu, d: number, eps: number, subgroups = gpu.hasSubgroups): Promise<RmsNorm> {
    const variant = { SUBGROUPS: subgroups, WG: subgroups ? gpu.requireSubgroups('the subgroup RMSNorm') : 256 };
    const [f, b] = await Promise.all([
      pipeline(gpu, 'rmsnorm', 'forward', { ...variant, FORWARD: true }),
      pipeline(gpu, 'rmsnorm', 'backward', { ...variant, FORWARD: false }),
    ]);
    return new RmsNorm(gpu, d, eps, f, b);
  }

  private params(pipe: GPUComputePipeline): GPUBuffer {
    return paramsBuffer(this.gpu, pipe, { d: this.d, eps: this.eps });
  }

  /** The forward bound to its buffers: params and bind group made now; a call only dispatches. */
  bindForward(buf: { y: GPUBuffer; gamma: GPUBuffer; z: GPUBuffer; rstd: GPUBuffer }): (pass: GPUComputePassEncoder, rows: number) => void {
    const bg = bindGroup(this.gpu, this.forwardPipe, [this.params(this.forwardPipe), buf.y, buf.gamma, buf.z, buf.rstd]);
    return (pass, rows) => dispatch(this.gpu, pass, this.forwardPipe, bg, rows);
  }

  /** The backward bound to its buffers, as bindForward. */
  bindBackward(buf: { y: GPUBuffer; gamma: GPUBuffer; rstd: GPUBuffer; dz: GPUBuffer; dy: GPUBuffer }): (pass: GPUComputePassEncoder, rows: number) => void {
    const bg = bindGroup(this.gpu, this.backwardPipe, [this.params(this.backwardPipe), buf.y, buf.gamma, buf.rstd, buf.dz, buf.dy]);
    return (pass, rows) => dispatch(this.gpu, pass, this.backwardPipe, bg, rows);
  }

  /** z [rows, d] and rstd [rows] from y. */
  forward(pass: GPUComputePassEncoder, buf: { y: GPUBuffer; gamma: GPUBuffer; z: GPUBuffer; rstd: GPUBuffer }, rows: number): void {
    this.bindForward(buf)(pass, rows);
  }

  /** dy [rows, d] from dz, with y and the rstd saved by forward. */
  backward(
    pass: GPUComputePassEncoder,
    buf: { y: GPUBuffer; gamma: GPUBuffer; rstd: GPUBuffer; dz: GPUBuffer; dy: GPUBuffer },
    rows: number,
  ): void {
    this.bindBackward(buf)(pass, rows);
  }
}

// ---- Plain TypeScript reference (float64) ----

export function rmsnormForwardRef(y: Float32Array, gamma: Float32Array, rows: number, d: number, eps: number) {
  const z = new Float32Array(rows * d);
  const rstd = new Float32Array(rows);
  for (let s = 0; s < rows; s++) {
    let sq = 0;
    for (let j = 0; j < d; j++) sq += y[s * d + j]! ** 2;
    const r = 1 / Math.sqrt(sq / d + eps);
    rstd[s] = r;
    for (let j = 0; j < d; j++) z[s * d + j] = gamma[j]! * y[s * d + j]! * r;
  }
  return { z, rstd };
}

export function rmsnormBackwardRef(y: Float32Array, gamma: Float32Array, dz: Float32Array, rows: number, d: number, eps: number): Float32Array {
  const dy = new Float32Array(rows * d);
  for (let s = 0; s < rows; s++) {
    let sq = 0;
    let uy = 0;
    for (let j = 0; j < d; j++) {
      sq += y[s * d + j]! ** 2;
      uy += dz[s * d + j]! * gamma[j]! * y[s * d + j]!;
    }
    const r = 1 / Math.sqrt(sq / d + eps);
    for (let j = 0; j < d; j++) dy[s * d + j] = r * dz[s * d + j]! * gamma[j]! - ((r * r * r) / d) * y[s * d + j]! * uy;
  }
  return dy;
}
