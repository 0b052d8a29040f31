// AdamW with PyTorch's semantics and clip_grad_norm_ over the groups present in a batch.
// The global norm is reduced on the GPU and the update reads its clip coefficient there, so a
// step encodes sumsq → clip → update with no readback. Step counts are kept per group on the
// host (each group's W and b are always updated together, so they share one count).
import { bindingWindows, createBuffer, upload, type Window } from '../gpu/buffers.ts';
import type { Gpu } from '../gpu/device.ts';
import { bindGroup, dispatch, params, pipeline, uniform } from '../gpu/pipelines.ts';
import { blockStride, inGroupWindow } from './groups.ts';

const CHUNK = 4096; // elements per workgroup, as in adamw.wgsl

export interface AdamWConfig {
  lr: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Max global gradient norm; 0 disables clipping. */
  maxNorm: number;
}

export const SEED_ADAMW: AdamWConfig = { lr: 1e-3, weightDecay: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, maxNorm: 1 };

/** One present group and its step count after this step (1 on its first update). */
export interface PresentGroup {
  group: number;
  step: number;
}

export class AdamW {
  readonly stride: number;
  readonly chunks: number;
  readonly windows: Window[];
  /** (norm, coef) of the last encoded step: read it back only when a caller wants the norm. */
  readonly clipState: GPUBuffer;
  private partial: GPUBuffer;

  private constructor(
    private gpu: Gpu,
    readonly d: number,
    readonly numGroups: number,
    readonly config: AdamWConfig,
    private sumsqPipe: GPUComputePipeline,
    private clipPipe: GPUComputePipeline,
    private updatePipe: GPUComputePipeline,
    maxBinding: number,
  ) {
    this.stride = blockStride(d);
    this.chunks = Math.ceil(this.stride / CHUNK);
    this.windows = bindingWindows(numGroups, this.stride * 4, maxBinding, gpu.limits.minStorageBufferOffsetAlignment);
    this.clipState = createBuffer(gpu, 'adamw clip state', 8);
    this.partial = createBuffer(gpu, 'adamw norm partials', numGroups * this.chunks * 4);
  }

  static async create(gpu: Gpu, d: number, numGroups: number, config: AdamWConfig, maxBinding = gpu.maxBinding): Promise<AdamW> {
    const [s, c, u] = await Promise.all([
      pipeline(gpu, 'adamw', 'sumsq', { SUMSQ: true, CLIP: false, UPDATE: false }),
      pipeline(gpu, 'adamw', 'clip', { SUMSQ: false, CLIP: true, UPDATE: false }),
      pipeline(gpu, 'adamw', 'update', { SUMSQ: false, CLIP: false, UPDATE: true }),
    ]);
    return new AdamW(gpu, d, numGroups, config, s, c, u, maxBinding);
  }

  /** Clips the present groups' gradients by their global norm and applies one AdamW step to them. */
  encode(
    pass: GPUComputePassEncoder,
    buf: { param: GPUBuffer; grad: GPUBuffer; m: GPUBuffer; v: GPUBuffer },
    present: PresentGroup[],
  ): void {
    if (present.length === 0) return;
    const sorted = [...present].sort((a, b) => a.group - b.group);
    const { lr, weightDecay, beta1, beta2, eps, maxNorm } = this.config;
    // Per group, as torch.optim.AdamW computes them in Python floats.
    const table = new ArrayBuffer(sorted.length * 16);
    const view = new DataView(table);
    sorted.forEach((p, i) => {
      view.setUint32(i * 16, p.group, true);
      view.setFloat32(i * 16 + 4, lr / (1 - beta1 ** p.step), true);
      view.setFloat32(i * 16 + 8, Math.sqrt(1 - beta2 ** p.step), true);
    });
    const presentBuf = upload(this.gpu, 'adamw present groups', new Uint8Array(table));

    const slices = this.windows
      .map((w) => {
        const [lo, hi] = inGroupWindow(sorted, w.first, w.first + w.count);
        return { w, lo, hi };
      })
      .filter((s) => s.hi > s.lo);
    const bind = (b: GPUBuffer, w: Window): GPUBufferBinding => ({ buffer: b, offset: w.byteOffset, size: w.byteLength });

    for (const { w, lo, hi } of slices) {
      const u = uniform(this.gpu, 'adamw sumsq', params(this.stride, w.first, lo, this.chunks));
      const bg = bindGroup(this.gpu, this.sumsqPipe, [u, bind(buf.grad, w), presentBuf, this.partial]);
      dispatch(this.gpu, pass, this.sumsqPipe, bg, this.chunks, hi - lo);
    }
    {
      const u = uniform(this.gpu, 'adamw clip', params(sorted.length * this.chunks, { f32: maxNorm }));
      const bg = bindGroup(this.gpu, this.clipPipe, [u, this.partial, this.clipState]);
      dispatch(this.gpu, pass, this.clipPipe, bg, 1);
    }
    for (const { w, lo, hi } of slices) {
      const u = uniform(
        this.gpu,
        'adamw update',
        params(this.stride, w.first, lo, 0, { f32: 1 - lr * weightDecay }, { f32: beta1 }, { f32: 1 - beta1 }, { f32: beta2 }, { f32: 1 - beta2 }, { f32: eps }),
      );
      const bg = bindGroup(this.gpu, this.updatePipe, [
        u,
        bind(buf.grad, w),
        presentBuf,
        this.clipState,
        bind(buf.param, w),
        bind(buf.m, w),
        bind(buf.v, w),
      ]);
      dispatch(this.gpu, pass, this.updatePipe, bg, this.chunks, hi - lo);
    }
  }

  destroy(): void {
    this.clipState.destroy();
    this.partial.destroy();
  }
}

// ---- Plain TypeScript reference: clip_grad_norm_ then torch.optim.AdamW, in float32 steps ----

export function adamwRef(
  state: { param: Float32Array; grad: Float32Array; m: Float32Array; v: Float32Array },
  stride: number,
  present: PresentGroup[],
  c: AdamWConfig,
): { norm: number } {
  const f = Math.fround;
  let sq = 0;
  for (const p of present) for (let i = 0; i < stride; i++) sq += state.grad[p.group * stride + i]! ** 2;
  const norm = f(Math.sqrt(sq));
  const coef = c.maxNorm > 0 ? Math.min(f(c.maxNorm / f(norm + 1e-6)), 1) : 1;
  for (const p of present) {
    const stepSize = f(c.lr / (1 - c.beta1 ** p.step));
    const bc2 = f(Math.sqrt(1 - c.beta2 ** p.step));
    for (let i = p.group * stride; i < (p.group + 1) * stride; i++) {
      const g = f(state.grad[i]! * coef);
      const m = f(f(state.m[i]! * f(c.beta1)) + f(f(1 - c.beta1) * g));
      const v = f(f(state.v[i]! * f(c.beta2)) + f(f(f(1 - c.beta2) * g) * g));
      state.m[i] = m;
      state.v[i] = v;
      const denom = f(f(Math.sqrt(v) / bc2) + f(c.eps));
      state.param[i] = f(f(state.param[i]! * f(1 - c.lr * c.weightDecay)) - f(stepSize * f(m / denom)));
    }
  }
  return { norm };
}
