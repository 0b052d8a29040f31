// gather: a batch's rows of a data set, copied into slot order:
//   dst[s, :] = src[rowIds[s] − rowBase, :]    for each slot s whose row lies in this window
// of the source, rows [rowBase, rowBase + rowCount). One dispatch per window of a source too
// large for one binding (a data set's hidden states); slots whose row is elsewhere return.
// Rows of 32-bit words (f32 states, i32 targets, f32 weights) are copied as words; with HALF,
// rows of 16-bit values (bf16 or f16 hidden states, two to a word, a row starting mid-word
// where width is odd) are widened to f32 here, exactly, so the data stays 2 bytes a value.
// Layout: rowIds [slots] u32; src: the window's rows [rowCount, width]; dst [slots, width] (f32
// bits where HALF).
// Idea: one workgroup per slot, its invocations striding over the row's values.
// Launch: workgroup 64; dispatch (slots).

struct Params { width: u32, rowBase: u32, rowCount: u32, pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> rowIds: array<u32>;
@group(0) @binding(2) var<storage, read> src: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst: array<u32>;

#if ${HALF}
// The value of 16-bit element e of the window (little-endian halves), as f32 bits.
fn widened(e: u32) -> u32 {
  let h = (src[e >> 1u] >> ((e & 1u) * 16u)) & 0xffffu;
#if ${BF16}
  return h << 16u;
#else
  // f16 → f32 by its fields, exact for subnormals too (no reliance on the driver's conversion).
  let sign = (h & 0x8000u) << 16u;
  let exponent = (h >> 10u) & 0x1fu;
  let mantissa = h & 0x3ffu;
  if (exponent == 0u) { return sign | bitcast<u32>(f32(mantissa) * 0x1p-24f); }
  return sign | ((exponent + 112u) << 23u) | (mantissa << 13u);
#endif
}
#endif

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let s = wg.x;
  let row = rowIds[s];
  if (row < p.rowBase || row >= p.rowBase + p.rowCount) { return; }
  let at = (row - p.rowBase) * p.width;
  let to = s * p.width;
  for (var i = lid; i < p.width; i += 64u) {
#if ${HALF}
    dst[to + i] = widened(at + i);
#else
    dst[to + i] = src[at + i];
#endif
  }
}
