// What every op family's bench file shares: the device and its timer, the measured peaks the
// roofline is built from, the table of rows, buffers owned for the whole run, and the check of
// a variant against its TypeScript reference before it is timed (llm.c's dev/cuda pattern:
// list the variants, check each, then time it).
import { uniformF32 } from '../src/data/counterRng.ts';
import { Owner } from '../src/gpu/buffers.ts';
import type { Gpu } from '../src/gpu/device.ts';
import { bindGroup, dispatch, pipeline } from '../src/gpu/pipelines.ts';
import { OneOff, StepTables } from '../src/gpu/stepTables.ts';

export { OneOff };
import { PassTimer } from '../src/gpu/timer.ts';
import type { TuneMode } from '../src/shared/constants.ts';
import { candidatesOf, type Family } from '../src/lens/kernels.ts';
import { deviceTraits } from '../src/lens/shape.ts';

export interface Shape {
  d: number;
  V: number;
  B: number;
  layers: number;
  positions: number;
}

export interface Row {
  name: string;
  medianMs: number;
  spreadMs: [number, number];
  gflops: number;
  gbps: number;
  roofline: number;
  /** The tuner's family and candidate this row times, where it is one. */
  candidate?: Candidate;
}

export interface Candidate {
  family: Family;
  name: string;
}

/** A small, awkward shape every variant is checked at before it is timed: a prime V, d no multiple of a tile, an empty group. */
export const CHECK_SHAPE = { d: 50, V: 509, B: 33, counts: [1, 2, 0, 27, 3] } as const;

export class Harness {
  readonly rows: Row[] = [];
  readonly owner: Owner;
  readonly timer: PassTimer;
  /** This device's streaming copy (bytes/s) and f32 FMA (flop/s) peaks, measured by measurePeaks(). */
  peaks = { bw: 0, flops: 0 };
  /** Each op family's candidates on this device: the variants the bench checks and times. */
  readonly candidates: ReturnType<typeof candidatesOf>;

  constructor(
    readonly gpu: Gpu,
    readonly shape: Shape,
    readonly repeat: number,
    readonly log: (line: string) => void,
    /** How the steps' kernels are chosen (--tune). */
    readonly tune: TuneMode = 'auto',
  ) {
    this.owner = new Owner(gpu);
    this.candidates = candidatesOf(deviceTraits(gpu));
    this.timer = this.owner.own(new PassTimer(gpu));
  }

  /** A buffer of `n` counter-generated f32 values (owned for the run). */
  f32(label: string, n: number, seed: number, scale = 1): GPUBuffer {
    return this.owner.upload(label, uniformF32(seed, n, scale));
  }

  buffer(label: string, bytes: number): GPUBuffer {
    return this.owner.buffer(label, bytes);
  }

  /** Median and (min, max) over `repeat` runs after one warm-up; a GPU error names the figure. */
  async measure(label: string, encode: (pass: GPUComputePassEncoder) => void): Promise<[number, [number, number]]> {
    await this.gpu.checked(`bench: ${label}`, () => this.timer.time(label, encode));
    const times: number[] = [];
    for (let i = 0; i < this.repeat; i++) times.push(await this.timer.time(label, encode));
    times.sort((a, b) => a - b);
    return [times[Math.floor(times.length / 2)]!, [times[0]!, times[times.length - 1]!]];
  }

  /** Times `encode` and adds its row: GFLOP/s, GB/s and the share of this device's roofline. */
  async add(name: string, encode: (pass: GPUComputePassEncoder) => void, flops: number, bytes: number, candidate?: Candidate): Promise<void> {
    const [median, spread] = await this.measure(name, encode);
    const ideal = Math.max(flops / this.peaks.flops, bytes / this.peaks.bw);
    this.rows.push({ name, medianMs: median * 1e3, spreadMs: [spread[0] * 1e3, spread[1] * 1e3], gflops: flops / median / 1e9, gbps: bytes / median / 1e9, roofline: ideal / median, ...(candidate ? { candidate } : {}) });
  }

  /** The streaming-copy and FMA peaks of this device (kernels/microbench.wgsl), measured now. */
  async measurePeaks(quick: boolean): Promise<void> {
    const tables = this.owner.own(new StepTables(this.gpu, 'bench peaks'));
    const copyBytes = Math.min(((quick ? 8 : 64) << 20) * 16, this.gpu.maxBinding); // vec4s: 128 MiB or 1 GiB a buffer
    const [src, dst] = [this.buffer('bench copy src', copyBytes), this.buffer('bench copy dst', copyBytes)];
    const copyPipe = await pipeline(this.gpu, 'microbench', 'copy', { COPY: true, SCALAR: false, VEC4: false, ARRAY: false });
    const n4 = copyBytes / 16;
    const copyWorkgroups = Math.min(Math.ceil(n4 / 256), 65535);
    const [fmaGroups, iters] = quick ? [1024, 256] : [4096, 1024]; // 262,144 or 1 M invocations
    const fmaOut = this.buffer('bench fma out', fmaGroups * 256 * 4);
    const chains = ['SCALAR', 'VEC4', 'ARRAY'] as const;
    const fmaPipes = await Promise.all(chains.map((c) => pipeline(this.gpu, 'microbench', 'fma_loop', { COPY: false, SCALAR: c === 'SCALAR', VEC4: c === 'VEC4', ARRAY: c === 'ARRAY' })));
    const copySlot = tables.reserve(8);
    const fmaSlots = fmaPipes.map(() => tables.reserve(8));
    let copyBg: GPUBindGroup;
    const fmaBgs: GPUBindGroup[] = [];
    tables.whenSealed(() => {
      tables.writeParams(copySlot, copyPipe, { n: n4, stride: copyWorkgroups * 256 });
      copyBg = bindGroup(this.gpu, copyPipe, [tables.binding(copySlot), src, dst]);
      fmaPipes.forEach((pipe, i) => {
        tables.writeParams(fmaSlots[i]!, pipe, { iters, seed: 0.5 });
        fmaBgs[i] = bindGroup(this.gpu, pipe, [tables.binding(fmaSlots[i]!), fmaOut]);
      });
    });
    tables.seal();
    tables.flush();
    const [copyT] = await this.measure('peak copy', (p) => dispatch(this.gpu, p, copyPipe, copyBg, copyWorkgroups));
    // The FMA peak is the fastest of the chain layouts: compilers keep some in registers better than others.
    let fmaT = Infinity;
    for (const [i, pipe] of fmaPipes.entries()) {
      const [t] = await this.measure(`peak fma (${chains[i]!.toLowerCase()})`, (p) => dispatch(this.gpu, p, pipe, fmaBgs[i]!, fmaGroups));
      fmaT = Math.min(fmaT, t);
    }
    this.peaks = { bw: (2 * copyBytes) / copyT, flops: (fmaGroups * 256 * iters * 16) / fmaT };
  }

  /** Runs `encode` once in one pass and waits (a variant's check). */
  async runOnce(what: string, encode: (pass: GPUComputePassEncoder) => void): Promise<void> {
    await this.gpu.checked(what, async () => {
      const enc = this.gpu.device.createCommandEncoder({ label: what });
      const pass = enc.beginComputePass({ label: what });
      encode(pass);
      pass.end();
      await this.gpu.submitAndWait(what, [enc.finish()]);
    });
  }

  destroy(): void {
    this.owner.destroy();
  }
}

/**
 * Throws, naming the variant, when `got` differs from the reference beyond atol + rtol·|ref|
 * anywhere: a wrong variant is never timed.
 */
export function verify(what: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: { atol: number; rtol: number }): void {
  if (got.length !== want.length) throw new Error(`${what}: ${got.length} values, the reference has ${want.length}`);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i]! - want[i]!);
    if (!(err <= tol.atol + tol.rtol * Math.abs(want[i]!))) throw new Error(`${what}: element ${i} is ${got[i]}, the reference ${want[i]}`);
  }
}

export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
