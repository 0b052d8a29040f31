// Reads the msgpack fixtures written by fixtures/make_fixtures.py.
import { readFileSync } from 'node:fs';
import { unpack } from 'msgpackr';
import { uniformF32 } from '../../src/data/counterRng.ts';

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

/**
 * The initial parameter blocks, moments and gradients of an adamw_* fixture, regenerated from
 * counter_rng exactly as adamw_inputs() in make_fixtures.py does.
 */
export function adamwInputs(fx: Fixture, stride: number) {
  const { d, groups: G, present, prior_steps: prior, seed, grad_scale: gs, param_scale: ps } = fx.meta;
  const st = {
    param: new Float32Array(G * stride),
    grad: new Float32Array(G * stride),
    m: new Float32Array(G * stride),
    v: new Float32Array(G * stride),
  };
  for (let g = 0; g < G; g++) {
    for (const [isB, off, n] of [[0, 0, d * d], [1, d * d, d]] as const) {
      const at = g * stride + off;
      st.param.set(uniformF32(seed + 100 * isB + g, n, ps), at);
      if (prior[g] > 0) {
        st.m.set(uniformF32(seed + 200 + g * 2 + isB, n, 1e-3 * gs), at);
        st.v.set(uniformF32(seed + 300 + g * 2 + isB, n, 1e-6 * gs ** 2).map(Math.abs), at);
      }
      if (present.includes(g)) st.grad.set(uniformF32(seed + 400 + 100 * isB + g, n, gs), at);
    }
  }
  return st;
}

/** extreme_logits() of make_fixtures.py, regenerated: a uniform row, ±100 spikes, a ±100 range. */
export function extremeLogits(V: number, B: number, seed: number): Float32Array {
  const L = uniformF32(seed, B * V, 10);
  if (B === 1) return L.map((x) => Math.fround(x * 10));
  for (let v = 0; v < V; v++) {
    L[v] = 0;
    L[V + v] = Math.fround(L[V + v]! * 10);
    L[2 * V + v] = 0;
    L[3 * V + v] = 0;
  }
  L[2 * V + 7] = 100;
  L[3 * V + V - 1] = -100;
  return L;
}
