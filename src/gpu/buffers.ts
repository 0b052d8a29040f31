// Buffers: labelled creation, chunked upload and download, an owner that frees what it
// made, parts (an array too large for one buffer held as several, whole rows in each) and
// binding windows (the pieces of a part that each fit in one storage binding).
import './device.ts'; // installs the WebGPU globals (GPUBufferUsage, …) used below
import { fmtBytes } from '../shared/constants.ts';
import { InputError } from '../shared/errors.ts';
import type { BufferLimits, Gpu } from './device.ts';

export type { BufferLimits };

const TRANSFER_CHUNK = 64 * 1024 * 1024; // bytes per writeBuffer / staging copy

export const STORAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

export function createBuffer(gpu: Gpu, label: string, byteLength: number, usage = STORAGE): GPUBuffer {
  // WebGPU requires sizes that are multiples of 4 and rejects 0-byte bindings.
  const size = Math.max(16, Math.ceil(byteLength / 4) * 4);
  if (size > gpu.limits.maxBufferSize) {
    throw new InputError(
      `buffer '${label}' needs ${fmtBytes(size)}, more than this device's largest buffer (${fmtBytes(gpu.limits.maxBufferSize)})`,
    );
  }
  return gpu.device.createBuffer({ label, size, usage });
}

/** Writes `data` into `buffer` at `byteOffset`, in chunks so that no single staging copy is huge. */
export function writeBuffer(gpu: Gpu, buffer: GPUBuffer, data: ArrayBufferView, byteOffset = 0): void {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  for (let at = 0; at < bytes.byteLength; at += TRANSFER_CHUNK) {
    const piece = bytes.subarray(at, Math.min(bytes.byteLength, at + TRANSFER_CHUNK));
    if (piece.byteLength % 4 === 0) {
      gpu.device.queue.writeBuffer(buffer, byteOffset + at, piece as Uint8Array<ArrayBuffer>);
    } else {
      const padded = new Uint8Array(Math.ceil(piece.byteLength / 4) * 4);
      padded.set(piece);
      gpu.device.queue.writeBuffer(buffer, byteOffset + at, padded);
    }
  }
}

/**
 * Writes byte runs back to back into `buffer` from its start, as whole 4-byte words: a run
 * may end mid-word (rows of an odd number of 16-bit values), the next one completes it.
 */
export function writeRuns(gpu: Gpu, buffer: GPUBuffer, runs: Uint8Array[]): void {
  let offset = 0;
  let carry = new Uint8Array(0);
  for (const run of runs) {
    let bytes = run;
    if (carry.length) {
      const word = new Uint8Array(4);
      word.set(carry);
      word.set(bytes.subarray(0, 4 - carry.length), carry.length);
      writeBuffer(gpu, buffer, word, offset);
      offset += 4;
      bytes = bytes.subarray(4 - carry.length);
    }
    const whole = bytes.length - (bytes.length % 4);
    writeBuffer(gpu, buffer, bytes.subarray(0, whole), offset);
    offset += whole;
    carry = bytes.slice(whole);
  }
  if (carry.length) writeBuffer(gpu, buffer, carry, offset);
}

/** A new storage buffer holding `data`. */
export function upload(gpu: Gpu, label: string, data: ArrayBufferView, usage = STORAGE): GPUBuffer {
  const buffer = createBuffer(gpu, label, data.byteLength, usage);
  writeBuffer(gpu, buffer, data);
  return buffer;
}

/** Read-back staging buffers up to this size are kept for the next read (the device's `staging`). */
const POOLED_STAGING = 4 * 1024 * 1024;

/** A MAP_READ staging buffer of at least `size` bytes: a pooled one where one is free. */
function takeStaging(gpu: Gpu, size: number, label: string): GPUBuffer {
  const pool = gpu.staging;
  // Sizes in powers of two from 4 KiB, so buffers serve reads of similar sizes.
  const classSize = size <= POOLED_STAGING ? Math.max(4096, 2 ** Math.ceil(Math.log2(size))) : size;
  const at = pool.findIndex((b) => b.size === classSize);
  if (at >= 0) return pool.splice(at, 1)[0]!;
  return gpu.device.createBuffer({ label: `${label} (readback)`, size: classSize, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
}

function giveStaging(gpu: Gpu, staging: GPUBuffer): void {
  if (staging.size <= POOLED_STAGING && staging.mapState === 'unmapped') gpu.staging.push(staging);
  else staging.destroy();
}

/** Copies `byteLength` bytes from `buffer` back to the host, through staging chunks (pooled). */
export async function readBuffer(
  gpu: Gpu,
  buffer: GPUBuffer,
  byteLength = buffer.size,
  byteOffset = 0,
): Promise<ArrayBuffer> {
  const out = new Uint8Array(byteLength);
  const stagingSize = Math.min(TRANSFER_CHUNK, Math.ceil(byteLength / 4) * 4);
  const staging = takeStaging(gpu, Math.max(4, stagingSize), buffer.label);
  try {
    for (let at = 0; at < byteLength; at += TRANSFER_CHUNK) {
      const n = Math.min(TRANSFER_CHUNK, byteLength - at);
      const n4 = Math.ceil(n / 4) * 4;
      const enc = gpu.device.createCommandEncoder({ label: `read ${buffer.label}` });
      enc.copyBufferToBuffer(buffer, byteOffset + at, staging, 0, n4);
      gpu.device.queue.submit([enc.finish()]);
      await staging.mapAsync(GPUMapMode.READ, 0, n4);
      out.set(new Uint8Array(staging.getMappedRange(0, n4), 0, n), at);
      staging.unmap();
    }
  } finally {
    giveStaging(gpu, staging);
  }
  gpu.throwIfLost(`reading '${buffer.label}'`);
  return out.buffer;
}

export async function readF32(gpu: Gpu, buffer: GPUBuffer, count: number, offset = 0): Promise<Float32Array> {
  return new Float32Array(await readBuffer(gpu, buffer, count * 4, offset * 4));
}

export async function readU32(gpu: Gpu, buffer: GPUBuffer, count: number, offset = 0): Promise<Uint32Array> {
  return new Uint32Array(await readBuffer(gpu, buffer, count * 4, offset * 4));
}

/**
 * The one owner of a set of GPU objects (a lens, a data set, an evaluator): every buffer it
 * makes, and every object given to it, is freed by its one destroy(), last made first freed.
 */
export class Owner {
  private objects: { destroy(): void }[] = [];

  constructor(readonly gpu: Gpu) {}

  buffer(label: string, byteLength: number, usage = STORAGE): GPUBuffer {
    return this.own(createBuffer(this.gpu, label, byteLength, usage));
  }

  upload(label: string, data: ArrayBufferView, usage = STORAGE): GPUBuffer {
    return this.own(upload(this.gpu, label, data, usage));
  }

  /** One buffer a part of a row-major array laid out by bufferParts (labelled `label i/n` when there are several). */
  parts(label: string, parts: Part[], usage = STORAGE): GPUBuffer[] {
    return parts.map((p, i) => this.buffer(partLabel(label, i, parts.length), p.byteLength, usage));
  }

  /** `data` (rows laid out by `parts`) uploaded over one buffer a part. */
  uploadParts(label: string, data: ArrayBufferView, parts: Part[], usage = STORAGE): GPUBuffer[] {
    const bufs = this.parts(label, parts, usage);
    writeParts(this.gpu, bufs, parts, data);
    return bufs;
  }

  /** Takes `object` (a buffer, step tables, an op with buffers of its own) into this owner's care. */
  own<T extends { destroy(): void }>(object: T): T {
    this.objects.push(object);
    return object;
  }

  destroy(): void {
    for (const o of this.objects.splice(0).reverse()) o.destroy();
  }
}

/** One buffer of a row-major array held over several: its rows [first, first + count). */
export interface Part {
  first: number;
  count: number;
  byteLength: number;
}

/**
 * Splits `rows` rows of `rowBytes` each into parts of at most `maxBuffer` bytes, each a whole
 * number of `unit`s of rows (a position's sub-blocks stay together). A unit larger than
 * `maxBuffer` becomes a part of its own, which the memory plan refuses.
 */
export function bufferParts(rows: number, rowBytes: number, maxBuffer: number, unit = 1): Part[] {
  const unitBytes = rowBytes * unit;
  const perPart = Math.max(unit, Math.floor(maxBuffer / unitBytes) * unit);
  const parts: Part[] = [];
  for (let first = 0; first < rows || parts.length === 0; first += perPart) {
    const count = Math.min(perPart, rows - first);
    parts.push({ first, count, byteLength: count * rowBytes });
  }
  return parts;
}

const partLabel = (label: string, i: number, n: number) => (n > 1 ? `${label} ${i + 1}/${n}` : label);

/** One buffer, or the buffers of an array's parts in order (bufferParts). */
export type Split = GPUBuffer | readonly GPUBuffer[];

export const partsOf = (split: Split): readonly GPUBuffer[] => (Array.isArray(split) ? split : [split as GPUBuffer]);

/** Writes `data` (rows laid out by `parts`) into the parts' buffers. */
export function writeParts(gpu: Gpu, bufs: Split, parts: Part[], data: ArrayBufferView): void {
  const b = partsOf(bufs);
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let at = 0;
  parts.forEach((p, i) => {
    writeBuffer(gpu, b[i]!, bytes.subarray(at, at + p.byteLength));
    at += p.byteLength;
  });
}

/** The parts' bytes read back into one array, in row order. */
export async function readParts(gpu: Gpu, bufs: Split, parts: Part[]): Promise<ArrayBuffer> {
  const b = partsOf(bufs);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const [i, p] of parts.entries()) {
    out.set(new Uint8Array(await readBuffer(gpu, b[i]!, p.byteLength)), at);
    at += p.byteLength;
  }
  return out.buffer;
}

/** A contiguous range of rows [first, first + count) of a row-major array, bindable at once: bytes of its part's buffer. */
export interface Window {
  first: number;
  count: number;
  /** Which part's buffer holds it (0 for an array in one buffer). */
  part: number;
  byteOffset: number;
  byteLength: number;
}

/** A window's binding: its bytes of its part's buffer. */
export function windowBinding(bufs: Split, w: Window): GPUBufferBinding {
  return { buffer: partsOf(bufs)[w.part]!, offset: w.byteOffset, size: w.byteLength };
}

/**
 * Splits `rows` rows of `rowBytes` each into windows that fit one storage binding
 * (`maxBinding` bytes) and start at offsets the device accepts (`align` bytes), within the
 * parts of at most `maxBuffer` bytes that bufferParts makes with `unit` (rows kept in one
 * buffer); each window holds a whole number of `bindUnit` rows (rows one kernel sums together).
 * A row must itself fit; row starts must fall on the alignment for windows beyond the first.
 */
export function bindingWindows(rows: number, rowBytes: number, maxBinding: number, align: number, split: { maxBuffer?: number; unit?: number; bindUnit?: number } = {}): Window[] {
  if (rowBytes > maxBinding) {
    throw new InputError(`one row of ${fmtBytes(rowBytes)} exceeds the binding limit of ${fmtBytes(maxBinding)}`);
  }
  return bufferParts(rows, rowBytes, split.maxBuffer ?? Infinity, split.unit).flatMap((part, i) =>
    partWindows(part.count, rowBytes, maxBinding, align, split.bindUnit ?? 1).map((w) => ({ ...w, first: w.first + part.first, part: i })),
  );
}

/** The windows of one buffer's rows, from its start, each a whole number of `unit`s of rows. */
function partWindows(rows: number, rowBytes: number, maxBinding: number, align: number, unit: number): Omit<Window, 'part'>[] {
  // Rows per window: as many as fit, rounded down so each window's start stays aligned.
  const rowsPerAlign = align / gcd(rowBytes, align);
  const step = (rowsPerAlign * unit) / gcd(rowsPerAlign, unit);
  let perWindow = Math.floor(maxBinding / rowBytes);
  if (perWindow < rows) perWindow -= perWindow % step;
  if (perWindow <= 0) {
    throw new InputError(
      `rows of ${fmtBytes(rowBytes)} bound ${step} at a time (${fmtBytes(step * rowBytes)}) exceed this device's binding limit of ${fmtBytes(maxBinding)}`,
    );
  }
  const windows: Omit<Window, 'part'>[] = [];
  for (let first = 0; first < rows || windows.length === 0; first += perWindow) {
    const count = Math.min(perWindow, rows - first);
    // Bindings are whole words: a last window of 2-byte rows may end inside its buffer's padding.
    windows.push({ first, count, byteOffset: first * rowBytes, byteLength: Math.max(4, Math.ceil((count * rowBytes) / 4) * 4) });
  }
  return windows;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

