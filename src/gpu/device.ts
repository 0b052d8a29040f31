// The GPU runtime: one Dawn adapter and device, with the largest limits the adapter allows,
// errors that name the kernel they came from, and a clean shutdown.
import { createRequire } from 'node:module';
import { AsyncLocalStorage } from 'node:async_hooks';
import { create, globals } from 'webgpu';
import { BugError } from '../shared/errors.ts';

Object.assign(globalThis, globals); // GPUBufferUsage, GPUMapMode, … as in a browser

/** The smallest subgroup WebGPU allows; the subgroup kernels are correct at any size from it up. */
const MIN_SUBGROUP = 4;

/** The Gpu whose checked() the current async call chain runs inside, if any. */
const insideChecked = new AsyncLocalStorage<Gpu>();

export class GpuError extends Error {
  override name = 'GpuError';
}

export interface GpuOptions {
  /** Dawn backend: vulkan, metal, d3d12, … (default: Dawn's choice). */
  backend?: string;
  /** Substring of the adapter's name (Dawn picks the first match). */
  adapter?: string;
  /**
   * Splits parameters, moments, the head and data sets into buffers of at most this many bytes,
   * as if the device's largest buffer were this small, so that the splits run at tiny shapes
   * (a batch's activations keep the device's limits); default: LENSGPU_MAX_BUFFER, else the device's.
   */
  maxBuffer?: number;
}

/** LENSGPU_MAX_BUFFER=BYTES, where set: arrays split as if the device's largest buffer were that small. */
function maxBufferKnob(): number | undefined {
  const raw = process.env.LENSGPU_MAX_BUFFER;
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 4096) throw new GpuError(`LENSGPU_MAX_BUFFER=${raw}: give a whole number of bytes, at least 4096`);
  return n;
}

/** Settings that cut arrays into buffers and bindings: the largest of each, in bytes. */
export interface BufferLimits {
  maxBinding: number;
  maxBuffer: number;
}

export interface AdapterSummary {
  name: string;
  vendor: string;
  architecture: string;
  description: string;
  /** The adapter's smallest and largest subgroup (0 where it does not say). */
  subgroupMinSize?: number;
  subgroupMaxSize?: number;
  /** Dawn's device string (driver and build details on some backends). */
  device?: string;
  /** A fallback (software) adapter. */
  fallback?: boolean;
}

/** The version of the npm webgpu package: the Dawn build this runs on. */
export function dawnVersion(): string {
  return (createRequire(import.meta.url)('webgpu/package.json') as { version: string }).version;
}

export class Gpu {
  /** Set when the device is lost for any reason other than destroy(). */
  lostReason: string | undefined;
  readonly hasTimestamps: boolean;
  readonly hasF16: boolean;
  /** The kernels' subgroup variants need the `subgroups` feature (WebGPU's subgroups hold at least 4 invocations). */
  readonly hasSubgroups: boolean;
  /**
   * How many lanes of a subgroup hand a shared operand around in the subgroup kernels
   * (translator_sg, unembed_logits, unembed_grad): 8, or the adapter's smallest subgroup where
   * that is smaller, so that every lane a shuffle reads exists at any subgroup size the adapter
   * runs; lanes past it repeat the first ones' loads.
   */
  readonly subgroupLanes: number;
  /**
   * Read-back staging buffers kept for the next read (buffers.ts takes and gives them); the
   * device owns them and frees them in releaseStaging() or destroy().
   */
  readonly staging: GPUBuffer[] = [];

  private constructor(
    /**
     * The Dawn instance. Held for the device's lifetime: if it is garbage-collected while the
     * device is in use, dispatches crash the process (SIGSEGV / std::system_error) at random.
     */
    readonly instance: GPU,
    readonly device: GPUDevice,
    readonly adapter: AdapterSummary,
    private shrink: number | undefined,
  ) {
    this.hasTimestamps = device.features.has('timestamp-query');
    this.hasF16 = device.features.has('shader-f16');
    this.hasSubgroups = device.features.has('subgroups') && (adapter.subgroupMinSize ?? 0) >= MIN_SUBGROUP;
    this.subgroupLanes = Math.min(8, adapter.subgroupMinSize ?? 0);
    device.lost.then((info) => {
      if (info.reason !== 'destroyed') this.lostReason = info.message || String(info.reason);
    });
  }

  static async open(options: GpuOptions = {}): Promise<Gpu> {
    const flags = ['disable-dawn-features=timestamp_quantization'];
    if (options.backend) flags.push(`backend=${options.backend}`);
    if (options.adapter) flags.push(`adapter=${options.adapter}`);
    let adapter: GPUAdapter | null;
    const instance = create(flags);
    try {
      adapter = await instance.requestAdapter({ powerPreference: 'high-performance' });
    } catch (e) {
      throw new GpuError(`no WebGPU adapter: ${firstLines((e as Error).message, 4)}`);
    }
    if (!adapter) {
      throw new GpuError(
        'no WebGPU adapter found: install a Vulkan driver (or Mesa lavapipe: `make setup`)',
      );
    }
    const a = adapter.limits;
    const requiredLimits: Record<string, number> = {
      maxStorageBufferBindingSize: a.maxStorageBufferBindingSize,
      maxBufferSize: a.maxBufferSize,
      maxComputeWorkgroupStorageSize: a.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: a.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: a.maxComputeWorkgroupSizeX,
      maxStorageBuffersPerShaderStage: a.maxStorageBuffersPerShaderStage,
      maxComputeWorkgroupsPerDimension: a.maxComputeWorkgroupsPerDimension,
    };
    const requiredFeatures = (['timestamp-query', 'shader-f16', 'subgroups'] as GPUFeatureName[]).filter((f) =>
      adapter.features.has(f),
    );
    const device = await adapter.requestDevice({ label: 'lensgpu', requiredLimits, requiredFeatures });
    const info = adapter.info;
    return new Gpu(instance, device, {
      name: info.description || info.device || info.vendor || 'unknown adapter',
      vendor: info.vendor,
      architecture: info.architecture,
      description: info.description,
      subgroupMinSize: info.subgroupMinSize ?? 0,
      subgroupMaxSize: info.subgroupMaxSize ?? 0,
      device: info.device,
      fallback: (info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false,
    }, options.maxBuffer ?? maxBufferKnob());
  }

  /**
   * The workgroup size of the kernels' one-subgroup variants (the adapter's smallest subgroup);
   * an error naming `what` where the adapter has no subgroups.
   */
  requireSubgroups(what: string): number {
    if (!this.hasSubgroups) throw new BugError(`${what} needs an adapter with subgroups (of ${MIN_SUBGROUP} or more invocations)`);
    return this.adapter.subgroupMinSize!;
  }

  /** A CPU driver (a fallback adapter, or lavapipe, SwiftShader, WARP by name): its cost model is a CPU's. */
  get isCpuDriver(): boolean {
    const a = this.adapter;
    return Boolean(a.fallback) || /llvmpipe|lavapipe|swiftshader|warp|software|cpu/i.test([a.name, a.vendor, a.architecture, a.description, a.device].join(' '));
  }

  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }

  /** Largest byte range one storage binding may cover. */
  get maxBinding(): number {
    return this.device.limits.maxStorageBufferBindingSize;
  }

  /** The largest buffer an array is held in (LENSGPU_MAX_BUFFER or GpuOptions.maxBuffer may make it smaller than the device's). */
  get maxBuffer(): number {
    return Math.min(this.device.limits.maxBufferSize, this.shrink ?? Infinity);
  }

  /** How arrays are cut into buffers and bindings on this device, with any of `o` instead (tests force windows and parts). */
  bufferLimits(o: Partial<BufferLimits> = {}): BufferLimits {
    return { maxBinding: o.maxBinding ?? this.maxBinding, maxBuffer: o.maxBuffer ?? this.maxBuffer };
  }

  /**
   * Runs `work` inside validation and out-of-memory error scopes and turns what they catch
   * into a GpuError naming `what` (a kernel or a step), so that a mistake reads as
   * "kernel crossEntropy: …" instead of a silent wrong result.
   */
  async checked<T>(what: string, work: () => T | Promise<T>): Promise<T> {
    // Error scopes are one stack per device: two overlapping checked() calls would pop each
    // other's scopes, so they run one after another. A checked() inside another's work (a
    // kernel compiled while a run allocates) nests its scopes inside the outer ones instead:
    // waiting for the outer one to finish would wait forever.
    if (insideChecked.getStore() === this) return this.inScopes(what, work);
    const previous = this.scopeChain;
    let release!: () => void;
    this.scopeChain = new Promise<void>((r) => (release = r));
    await previous;
    try {
      return await insideChecked.run(this, () => this.inScopes(what, work));
    } finally {
      release();
    }
  }

  private scopeChain: Promise<void> = Promise.resolve();

  private async inScopes<T>(what: string, work: () => T | Promise<T>): Promise<T> {
    this.throwIfLost(what);
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    let result: T;
    try {
      result = await work();
    } finally {
      const validation = await this.device.popErrorScope();
      const oom = await this.device.popErrorScope();
      const err = validation ?? oom;
      if (err) throw new GpuError(`${what}: ${firstLines(err.message, 6)}`);
    }
    this.throwIfLost(what);
    return result;
  }

  throwIfLost(what: string): void {
    if (this.lostReason !== undefined) {
      throw new GpuError(`${what}: the GPU device was lost (${this.lostReason})`);
    }
  }

  /** Submits command buffers and waits until the GPU has finished them. */
  async submitAndWait(what: string, commands: GPUCommandBuffer[]): Promise<void> {
    this.device.queue.submit(commands);
    await this.device.queue.onSubmittedWorkDone();
    this.throwIfLost(what);
  }

  /** Frees the pooled read-back staging buffers. */
  releaseStaging(): void {
    for (const b of this.staging.splice(0)) b.destroy();
  }

  destroy(): void {
    this.releaseStaging();
    this.device.destroy();
  }
}

function firstLines(text: string, n: number): string {
  return text.split('\n').slice(0, n).join('\n');
}
