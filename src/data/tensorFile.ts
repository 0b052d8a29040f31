// Named tensors in a file, whatever holds them: safetensors, a NumPy .npz archive or a folder
// of .npy files. Each format's reader lists every tensor's dtype and shape up front (in
// safetensors' dtype names) and reads a tensor's bytes only when asked; the conversions to
// what the trainer keeps (f32, f16 bits, i32) are shared here.
import { readSync } from 'node:fs';
import { InputError } from '../shared/errors.ts';
import { f16Bits, f16ToF32 } from '../shared/f16.ts';
import type { HalfDtype } from '../shared/constants.ts';
import { HOST_CHUNK_BYTES, Rows } from './rows.ts';

export const ITEM_BYTES: Record<string, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, U16: 2, U32: 4, U64: 8, BOOL: 1,
};

/** `length` bytes of a file from `position`, read in chunks; a file that ends early is an error naming `where`. */
export function readAt(fd: number, position: number, length: number, where: string): Buffer {
  const out = Buffer.alloc(length);
  const CHUNK = 1 << 30;
  for (let at = 0; at < length; ) {
    const got = readSync(fd, out, at, Math.min(CHUNK, length - at), position + at);
    if (got === 0) throw new InputError(`${where}: the file ends before byte ${position + at} (truncated?)`);
    at += got;
  }
  return out;
}

export interface TensorInfo {
  name: string;
  /** safetensors' dtype name (F32, I64, …). */
  dtype: string;
  shape: number[];
}

export abstract class TensorFile {
  abstract readonly path: string;
  /** What the file is, for messages: 'safetensors', 'npz', 'npy folder'. */
  abstract readonly format: string;
  abstract readonly tensors: ReadonlyMap<string, TensorInfo>;
  /** The raw little-endian bytes of a tensor, row-major: all of them, or `length` from byte `offset`. */
  abstract bytes(name: string, offset?: number, length?: number): Uint8Array;
  abstract close(): void;

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  get(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) {
      const have = [...this.tensors.keys()].slice(0, 8).join(', ');
      throw new InputError(`${this.path}: no tensor '${name}' (it has: ${have || 'none'}${this.tensors.size > 8 ? ', …' : ''})`);
    }
    return t;
  }

  /** A float tensor (F32, F16, BF16, or F64 rounded) as f32. */
  readF32(name: string): Float32Array {
    return this.f32Of(name, this.bytes(name));
  }

  /** Bytes of float tensor `name` as f32. */
  private f32Of(name: string, raw: Uint8Array): Float32Array {
    const t = this.get(name);
    switch (t.dtype) {
      case 'F32':
        return new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4);
      case 'F64':
        return Float32Array.from(new Float64Array(raw.buffer, raw.byteOffset, raw.length / 8));
      case 'F16': {
        const h = new Uint16Array(raw.buffer, raw.byteOffset, raw.length / 2);
        const out = new Float32Array(h.length);
        for (let i = 0; i < h.length; i++) out[i] = f16ToF32(h[i]!);
        return out;
      }
      case 'BF16': {
        const h = new Uint16Array(raw.buffer, raw.byteOffset, raw.length / 2);
        const bits = new Uint32Array(h.length);
        for (let i = 0; i < h.length; i++) bits[i] = h[i]! << 16;
        return new Float32Array(bits.buffer);
      }
      default:
        throw new InputError(`${this.path}: tensor '${name}' is ${t.dtype}; F32, F16, BF16 or F64 expected`);
    }
  }

  /**
   * A [count, width] tensor of hidden states as the data keeps them, read in chunks of whole
   * rows (Rows): F16 and BF16 as their bits (2 bytes a value, `half` says which), F32 as f32,
   * F64 rounded to f32.
   */
  readStates(name: string, chunkBytes = HOST_CHUNK_BYTES): { values: Rows; half?: HalfDtype } {
    const t = this.get(name);
    const [count, width] = t.shape as [number, number];
    const half = t.dtype === 'BF16' ? 'bf16' : t.dtype === 'F16' ? 'f16' : undefined;
    const item = ITEM_BYTES[t.dtype] ?? 0;
    const values = Rows.build(count, width, half ? 2 : 4, (first, rows) => {
      const raw = this.bytes(name, first * width * item, rows * width * item);
      if (!half) return this.f32Of(name, raw);
      // A view where the bytes are 2-aligned (they are in safetensors and .npy), else a copy.
      return raw.byteOffset % 2 === 0 ? new Uint16Array(raw.buffer, raw.byteOffset, raw.length / 2) : new Uint16Array(raw.slice().buffer);
    }, chunkBytes);
    return { values, ...(half ? { half } : {}) };
  }

  /** A float tensor as IEEE f16 bits (F16 as stored; others rounded to nearest even). */
  readF16Bits(name: string): Uint16Array {
    const t = this.get(name);
    if (t.dtype === 'F16') {
      const raw = this.bytes(name);
      return new Uint16Array(raw.buffer, raw.byteOffset, raw.length / 2);
    }
    const f = this.readF32(name);
    const out = new Uint16Array(f.length);
    for (let i = 0; i < f.length; i++) out[i] = f16Bits(f[i]!);
    return out;
  }

  /** An integer tensor (I32 or I64) as i32; I64 values outside the i32 range are an error. */
  readInt(name: string): Int32Array {
    const t = this.get(name);
    const raw = this.bytes(name);
    if (t.dtype === 'I32') return new Int32Array(raw.buffer, raw.byteOffset, raw.length / 4);
    if (t.dtype === 'I64') {
      const big = new BigInt64Array(raw.buffer, raw.byteOffset, raw.length / 8);
      const out = new Int32Array(big.length);
      for (let i = 0; i < big.length; i++) {
        const v = big[i]!;
        if (v < -2147483648n || v > 2147483647n) throw new InputError(`${this.path}: '${name}'[${i}] = ${v} is out of range`);
        out[i] = Number(v);
      }
      return out;
    }
    throw new InputError(`${this.path}: tensor '${name}' is ${t.dtype}; I32 or I64 expected`);
  }
}
