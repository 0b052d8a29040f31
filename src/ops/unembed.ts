// The frozen unembedding: logits = z Uᵀ (matmul_nt) and dz = dlogits · U (unembed_grad),
// U stored [V, d] as f32, or as f16 packed two per u32. U is bound in vocabulary windows that
// each fit one storage binding (V 32,000 × d 2,048 in f32 is 262 MB; lavapipe binds 128 MiB).
import { bindingWindows, ScratchPool, upload, type Window } from '../gpu/buffers.ts';
import type { Gpu } from '../gpu/device.ts';
import type { HeadDtype } from '../shared/constants.ts';
import { bindGroup, dispatch, params, pipeline, uniform } from '../gpu/pipelines.ts';
import { packRanges } from './groups.ts';


const TILE_SLOTS = 32; // TM of matmul_nt here: U is streamed once per 32 batch rows
const V_PER_SPLIT = 1024; // vocabulary rows summed by one unembed_grad workgroup

export class Unembed {
  readonly windows: Window[];
  private scratch: ScratchPool;

  private constructor(
    private gpu: Gpu,
    readonly V: number,
    readonly d: number,
    readonly dtype: HeadDtype,
    private logitsPipe: GPUComputePipeline,
    private partialsPipe: GPUComputePipeline,
    private reducePipe: GPUComputePipeline,
    maxBinding: number,
  ) {
    const rowBytes = dtype === 'f16' ? d * 2 : d * 4;
    this.windows = bindingWindows(V, rowBytes, maxBinding, gpu.limits.minStorageBufferOffsetAlignment);
    this.scratch = new ScratchPool(gpu);
  }

  /** `maxBinding` overrides the device's binding limit (tests use it to force windows). */
  static async create(gpu: Gpu, V: number, d: number, dtype: HeadDtype, maxBinding = gpu.maxBinding): Promise<Unembed> {
    if (dtype === 'f16' && d % 2) throw new Error(`an f16 head needs an even hidden size (d = ${d})`);
    const f16 = dtype === 'f16';
    const [logits, partials, reduce] = await Promise.all([
      pipeline(gpu, 'matmul_nt', 'main', { TM: TILE_SLOTS, B_F16: f16, RESIDUAL_BIAS: false }),
      pipeline(gpu, 'unembed_grad', 'partials', { PARTIALS: true, U_F16: f16 }),
      pipeline(gpu, 'unembed_grad', 'reduce', { PARTIALS: false, U_F16: f16 }),
    ]);
    return new Unembed(gpu, V, d, dtype, logits, partials, reduce, maxBinding);
  }

  private window(U: GPUBuffer, w: Window): GPUBufferBinding {
    return { buffer: U, offset: w.byteOffset, size: w.byteLength };
  }

  /** logits [M, V] = z [M, d] · Uᵀ. */
  logits(pass: GPUComputePassEncoder, buf: { z: GPUBuffer; U: GPUBuffer; logits: GPUBuffer }, M: number): void {
    const tileList = [];
    for (let first = 0; first < M; first += TILE_SLOTS) {
      tileList.push({ group: 0, first, count: Math.min(TILE_SLOTS, M - first) });
    }
    const tileBuf = upload(this.gpu, 'unembed tiles', packRanges(tileList));
    for (const w of this.windows) {
      const u = uniform(this.gpu, 'unembed logits', params(M, w.count, this.d, 0, 0, w.first, this.V, 0));
      const bg = bindGroup(this.gpu, this.logitsPipe, [u, buf.z, this.window(buf.U, w), tileBuf, buf.logits]);
      dispatch(this.gpu, pass, this.logitsPipe, bg, tileList.length, Math.ceil(w.count / 64));
    }
  }

  /** dz [M, d] = dlogits [M, V] · U, through split-K partial sums and a fixed-order reduce. */
  backward(pass: GPUComputePassEncoder, buf: { dlogits: GPUBuffer; U: GPUBuffer; dz: GPUBuffer }, M: number): void {
    const splitsOf = (w: Window) => Math.max(1, Math.ceil(w.count / V_PER_SPLIT));
    const totalSplits = this.windows.reduce((n, w) => n + splitsOf(w), 0);
    const partial = this.scratch.get('unembed partial sums', totalSplits * M * this.d * 4);
    let splitBase = 0;
    for (const w of this.windows) {
      const splits = splitsOf(w);
      const u = uniform(
        this.gpu,
        'unembed grad',
        params(M, w.count, this.d, V_PER_SPLIT, splitBase, w.first, this.V, totalSplits),
      );
      const bg = bindGroup(this.gpu, this.partialsPipe, [u, buf.dlogits, this.window(buf.U, w), partial]);
      dispatch(this.gpu, pass, this.partialsPipe, bg, Math.ceil(this.d / 64), Math.ceil(M / 32), splits);
      splitBase += splits;
    }
    const u = uniform(this.gpu, 'unembed grad reduce', params(M, this.V, this.d, V_PER_SPLIT, 0, 0, this.V, totalSplits));
    const bg = bindGroup(this.gpu, this.reducePipe, [u, partial, buf.dz]);
    dispatch(this.gpu, pass, this.reducePipe, bg, Math.ceil((M * this.d) / 256));
  }

  destroy(): void {
    this.scratch.destroy();
  }
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
