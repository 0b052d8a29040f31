// Host-side float16: the unembedding may be stored as f16, packed two per u32 for the kernels
// (unpack2x16float), which works without the shader-f16 feature.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE binary16 bits of `x`, rounded to nearest even (as PyTorch's .half()). */
export function f16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  const sign = (b >>> 16) & 0x8000;
  const e = (b >>> 23) & 0xff;
  let m = b & 0x7fffff;
  if (e === 255) return sign | 0x7c00 | (m ? 0x200 : 0);
  const e16 = e - 127 + 15;
  if (e16 >= 31) return sign | 0x7c00;
  if (e16 <= 0) {
    if (e16 < -10) return sign;
    m |= 0x800000;
    const shift = 14 - e16;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e16 << 10) | (m >>> 13);
  const rem = m & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** f32 values as f16 pairs packed little-endian into u32 words (length must be even). */
export function packF16(values: Float32Array): Uint32Array {
  if (values.length % 2) throw new Error('packF16: an even number of values is required');
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f16Bits(values[i]!);
  return new Uint32Array(out.buffer);
}

/** Rounds each value through f16 (what an f16 head stores). */
export function roundF16(values: Float32Array): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f16ToF32(f16Bits(values[i]!));
  return out;
}
