// What changes from one step to the next, in one GPU buffer made once: each kernel call site
// owns a fixed, aligned slot in it (its params struct, or a table such as a batch's group
// ranges, sized for the largest batch), bound into its bind group once. A step fills its slots
// in a host mirror and flush() sends the bytes that changed with one writeBuffer, so encoding
// a step creates no buffer and no bind group.
//
// Queue order makes this safe across steps: a writeBuffer issued after a submit lands after
// that submit's work has read the old values. Work that reads the slots must be submitted
// before the next step's flush (one step per submit).
import { createBuffer } from './buffers.ts';
import type { Gpu } from './device.ts';
import { writeParams } from './pipelines.ts';
import { BugError } from '../shared/errors.ts';

/**
 * A kernel call bound once to its buffers (an op's bind… methods return one): encode() fills
 * its step-tables slots from `input` (a batch, or the update's present groups) and dispatches.
 */
export interface Bound<In> {
  encode(pass: GPUComputePassEncoder, input: In): void;
}

export interface Slot {
  offset: number;
  size: number;
}

export class StepTables {
  private used = 0;
  private buffer: GPUBuffer | undefined;
  private mirror = new ArrayBuffer(0);
  private view = new DataView(this.mirror);
  private dirty: [number, number] | undefined;
  private readonly align: number;
  private onSealed: (() => void)[] = [];

  constructor(
    private gpu: Gpu,
    readonly label: string,
  ) {
    this.align = Math.max(gpu.limits.minUniformBufferOffsetAlignment, gpu.limits.minStorageBufferOffsetAlignment);
  }

  /** A slot of `bytes` (rounded up to 16, uniform-struct size), before seal(). */
  reserve(bytes: number): Slot {
    if (this.buffer) throw new BugError(`${this.label}: reserve() after seal()`);
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    const slot = { offset: this.used, size };
    this.used += Math.ceil(size / this.align) * this.align;
    return slot;
  }

  /** Runs `build` (making bind groups over slots) once the buffer exists: now, or at seal(). */
  whenSealed(build: () => void): void {
    if (this.buffer) build();
    else this.onSealed.push(build);
  }

  /** Makes the GPU buffer once every slot is reserved, then the bind groups waiting for it. */
  seal(): void {
    if (this.buffer) return;
    this.buffer = createBuffer(this.gpu, this.label, Math.max(16, this.used), GPUBufferUsage.UNIFORM | GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
    this.mirror = new ArrayBuffer(this.buffer.size);
    this.view = new DataView(this.mirror);
    for (const build of this.onSealed.splice(0)) build();
  }

  /** The binding of a slot (after seal()). */
  binding(slot: Slot): GPUBufferBinding {
    if (!this.buffer) throw new BugError(`${this.label}: binding() before seal()`);
    return { buffer: this.buffer, offset: slot.offset, size: slot.size };
  }

  /** Sets a slot's bytes (from its start) for the next flush. */
  write(slot: Slot, bytes: ArrayBuffer | ArrayBufferView): void {
    const src = bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.region(slot, src.byteLength).set(src);
  }

  /** The first `byteLength` bytes of a slot in the host mirror, filled in place for the next flush (no copy). */
  region(slot: Slot, byteLength: number): Uint8Array {
    if (byteLength > slot.size) throw new BugError(`${this.label}: ${byteLength} bytes for a slot of ${slot.size}`);
    this.touch(slot.offset, slot.offset + Math.ceil(byteLength / 4) * 4);
    return new Uint8Array(this.mirror, slot.offset, byteLength);
  }

  /** Sets a params slot: `pipe`'s struct Params by field name, written straight into the mirror. */
  writeParams(slot: Slot, pipe: GPUComputePipeline, values: Record<string, number>): void {
    const bytes = writeParams(pipe, values, this.view, slot.offset);
    if (bytes > slot.size) throw new BugError(`${this.label}: ${bytes} bytes of params for a slot of ${slot.size}`);
    this.touch(slot.offset, slot.offset + bytes);
  }

  private touch(lo: number, hi: number): void {
    this.dirty = this.dirty ? [Math.min(this.dirty[0], lo), Math.max(this.dirty[1], hi)] : [lo, hi];
  }

  /** Sends what changed since the last flush: one writeBuffer, or none. */
  flush(): void {
    if (!this.dirty || !this.buffer) return;
    const [lo, hi] = this.dirty;
    this.gpu.device.queue.writeBuffer(this.buffer, lo, this.mirror, lo, hi - lo);
    this.dirty = undefined;
  }

  destroy(): void {
    this.buffer?.destroy();
  }
}

/**
 * A bound kernel call run outside a lens's step (the tuner's trials, the bench): step tables
 * of its own, sealed at once and flushed after each call (as a step flushes its tables once);
 * destroy() frees them.
 */
export class OneOff<In> implements Bound<In> {
  private tables: StepTables;
  private call: Bound<In>;

  constructor(gpu: Gpu, label: string, bind: (tables: StepTables) => Bound<In>) {
    this.tables = new StepTables(gpu, label);
    this.call = bind(this.tables);
    this.tables.seal();
  }

  encode(pass: GPUComputePassEncoder, input: In): void {
    this.call.encode(pass, input);
    this.tables.flush();
  }

  destroy(): void {
    this.tables.destroy();
  }
}
