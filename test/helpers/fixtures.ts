// Reads the msgpack fixtures written by fixtures/make_fixtures.py.
import { readFileSync } from 'node:fs';
import { unpack } from 'msgpackr';

type Packed = { dtype: 'f32' | 'i32' | 'u32'; shape: number[]; data: Uint8Array };

export class Fixture {
  constructor(
    readonly name: string,
    readonly meta: Record<string, any>,
    private tensors: Record<string, Packed>,
  ) {}

  has(key: string): boolean {
    return key in this.tensors;
  }

  private raw(key: string, dtype: Packed['dtype']): ArrayBuffer {
    const t = this.tensors[key];
    if (!t) throw new Error(`fixture ${this.name}: no tensor '${key}'`);
    if (t.dtype !== dtype) throw new Error(`fixture ${this.name}: '${key}' is ${t.dtype}, not ${dtype}`);
    return t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength) as ArrayBuffer;
  }

  shape(key: string): number[] {
    return this.tensors[key]!.shape;
  }
  f32(key: string): Float32Array {
    return new Float32Array(this.raw(key, 'f32'));
  }
  i32(key: string): Int32Array {
    return new Int32Array(this.raw(key, 'i32'));
  }
  u32(key: string): Uint32Array {
    return new Uint32Array(this.raw(key, 'u32'));
  }
}

export function fixture(name: string): Fixture {
  const path = new URL(`../../fixtures/data/${name}.msgpack`, import.meta.url);
  const body = unpack(readFileSync(path)) as { meta: Record<string, any>; tensors: Record<string, Packed> };
  return new Fixture(name, body.meta, body.tensors);
}
