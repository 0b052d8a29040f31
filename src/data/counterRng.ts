// A seeded counter-based generator shared bit for bit with fixtures/counter_rng.py: value i of
// stream `seed` depends only on (seed, i), so large inputs (a 32,000 × 2,048 head) are
// regenerated on both sides instead of being stored in fixtures.
//   h(x)        = lowbias32 (x ^= x>>16; x *= 0x7feb352d; x ^= x>>15; x *= 0x846ca68b; x ^= x>>16)
//   uniform(i)  = (h(i ^ h(seed)) >> 8) · 2⁻²³ − 1        exactly representable in f32, in [−1, 1)

export function hash32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** `n` values uniform in [−1, 1) from stream `seed`, times `scale` (rounded to f32 as numpy does). */
export function uniformF32(seed: number, n: number, scale = 1, offset = 0): Float32Array {
  const out = new Float32Array(n);
  const key = hash32(seed >>> 0);
  const s = Math.fround(scale);
  for (let i = 0; i < n; i++) {
    const u = (hash32(((offset + i) ^ key) >>> 0) >>> 8) * 2 ** -23 - 1;
    out[i] = Math.fround(u * s);
  }
  return out;
}

/** `n` integers in [0, bound) from stream `seed` (bound ≤ 2²⁴). */
export function uniformInt(seed: number, n: number, bound: number): Int32Array {
  const out = new Int32Array(n);
  const key = hash32(seed >>> 0);
  for (let i = 0; i < n; i++) out[i] = Math.floor(((hash32((i ^ key) >>> 0) >>> 8) * bound) / 2 ** 24);
  return out;
}
