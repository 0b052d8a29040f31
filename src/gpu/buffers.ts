// Buffers: labelled creation, chunked upload and download, an owner that frees what it
// made, and binding windows, the pieces of a big buffer that each fit in one storage binding.
import './device.ts'; // installs the WebGPU globals (GPUBufferUsage, …) used below
import { fmtBytes } from '../shared/constants.ts';
import { BugError, InputError } from '../shared/errors.ts';
import type { Gpu } from './device.ts';

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

  /** Takes `object` (a buffer, step tables, an op with buffers of its own) into this owner's care. */
  own<T extends { destroy(): void }>(object: T): T {
    this.objects.push(object);
    return object;
  }

  destroy(): void {
    for (const o of this.objects.splice(0).reverse()) o.destroy();
  }
}

/** A contiguous range of rows [first, first + count) of a row-major buffer, bindable at once. */
export interface Window {
  first: number;
  count: number;
  byteOffset: number;
  byteLength: number;
}

/**
 * Splits `rows` rows of `rowBytes` each into windows that fit one storage binding
 * (`maxBinding` bytes) and start at offsets the device accepts (`align` bytes).
 * A row must itself fit; row starts must fall on the alignment for windows beyond the first.
 */
export function bindingWindows(rows: number, rowBytes: number, maxBinding: number, align: number): Window[] {
  if (rowBytes > maxBinding) {
    throw new InputError(`one row of ${fmtBytes(rowBytes)} exceeds the binding limit of ${fmtBytes(maxBinding)}`);
  }
  // Rows per window: as many as fit, rounded down so each window's start stays aligned.
  const rowsPerAlign = align / gcd(rowBytes, align);
  let perWindow = Math.floor(maxBinding / rowBytes);
  if (perWindow < rows) perWindow -= perWindow % rowsPerAlign;
  if (perWindow <= 0) {
    throw new BugError(`cannot split rows of ${rowBytes} bytes into ${align}-byte aligned bindings`);
  }
  const windows: Window[] = [];
  for (let first = 0; first < rows || (rows === 0 && windows.length === 0); first += perWindow) {
    const count = Math.min(perWindow, rows - first);
    windows.push({ first, count, byteOffset: first * rowBytes, byteLength: Math.max(4, count * rowBytes) });
    if (rows === 0) break;
  }
  return windows;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

