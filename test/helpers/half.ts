// 16-bit floats on the host, for tests of data kept as bf16 or f16: their f32 values.
import type { HalfDtype } from '../../src/shared/constants.ts';
import { f16ToF32 } from '../../src/shared/f16.ts';

/** The f32 values of bf16 (the top half of an f32) or f16 bits, exactly. */
export function halfToF32(half: HalfDtype, bits: Uint16Array): Float32Array {
  if (half === 'f16') return Float32Array.from(bits, f16ToF32);
  return new Float32Array(Uint32Array.from(bits, (b) => b << 16).buffer);
}
