// The frozen final RMSNorm z = y / sqrt(mean(y²) + eps) ⊙ γ and its gradient dz → dy.
import type { Gpu } from '../gpu/device.ts';
import { bindGroup, dispatch, pipeline } from '../gpu/pipelines.ts';
import type { Bound, StepTables } from '../gpu/stepTables.ts';
import { invariant } from '../shared/errors.ts';
import type { Batch } from './groups.ts';

export class RmsNorm {
  private constructor(
    private gpu: Gpu,
    readonly d: number,
    readonly eps: number,
    private forwardPipe: GPUComputePipeline,
    private backwardPipe: GPUComputePipeline,
  ) {}

  /** `variant`: see RmsNormVariant; subgroup by default where the adapter has subgroups. */
  static async create(gpu: Gpu, d: number, eps: number, variant: RmsNormVariant = gpu.hasSubgroups ? 'subgroup' : 'workgroup'): Promise<RmsNorm> {
    const subgroups = variant === 'subgroup';
    const defines = { SUBGROUPS: subgroups, WG: subgroups ? gpu.requireSubgroups('the subgroup RMSNorm') : 256 };
    const [f, b] = await Promise.all([
      pipeline(gpu, 'rmsnorm', 'forward', { ...defines, FORWARD: true }),
      pipeline(gpu, 'rmsnorm', 'backward', { ...defines, FORWARD: false }),
    ]);
    return new RmsNorm(gpu, d, eps, f, b);
  }

  /** z [rows, d] and rstd [rows] from y, bound to its buffers: its params written once into its slot. */
  bindForward(tables: StepTables, buf: RmsNormForwardBuffers, maxRows: number): Bound<Batch> {
    return this.bind(tables, this.forwardPipe, [buf.y, buf.gamma, buf.z, buf.rstd], maxRows);
  }

  /** dy [rows, d] from dz, with y and the rstd saved by forward; bound as bindForward. */
  bindBackward(tables: StepTables, buf: RmsNormBackwardBuffers, maxRows: number): Bound<Batch> {
    return this.bind(tables, this.backwardPipe, [buf.y, buf.gamma, buf.rstd, buf.dz, buf.dy], maxRows);
  }

  private bind(tables: StepTables, pipe: GPUComputePipeline, buffers: GPUBuffer[], maxRows: number): Bound<Batch> {
    const slot = tables.reserve(8);
    let bg: GPUBindGroup;
    tables.whenSealed(() => {
      tables.writeParams(slot, pipe, { d: this.d, eps: this.eps });
      bg = bindGroup(this.gpu, pipe, [tables.binding(slot), ...buffers]);
    });
    return {
      encode: (pass, { rows }) => {
        invariant(rows.length <= maxRows, `rmsnorm: ${rows.length} rows, bound for ${maxRows}`);
        dispatch(this.gpu, pass, pipe, bg, rows.length);
      },
    };
  }
}

/** `subgroup`: a row a subgroup, its sum a subgroupAdd; `workgroup`: a row a workgroup of 256 and a tree in workgroup memory. */
export type RmsNormVariant = 'subgroup' | 'workgroup';

export interface RmsNormForwardBuffers {
  y: GPUBuffer;
  gamma: GPUBuffer;
  z: GPUBuffer;
  rstd: GPUBuffer;
}

export interface RmsNormBackwardBuffers {
  y: GPUBuffer;
  gamma: GPUBuffer;
  rstd: GPUBuffer;
  dz: GPUBuffer;
  dy: GPUBuffer;
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
