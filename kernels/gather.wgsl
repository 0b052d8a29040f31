// gather: a batch's rows of a data set, copied into slot order:
//   dst[s, :] = src[rowIds[s] − rowBase, :]    for each slot s whose row lies in this window
// of the source, rows [rowBase, rowBase + rowCount). One dispatch per window of a source too
// large for one binding (a data set's hidden states); slots whose row is elsewhere return.
// Rows are copied as 32-bit words, so f32 states, i32 targets and f32 weights alike.
// Layout: rowIds [slots] u32; src: the window's rows [rowCount, width]; dst [slots, width].
// Idea: one workgroup per slot, its invocations striding over the row's words.
// Launch: workgroup 64; dispatch (slots).

struct Params { width: u32, rowBase: u32, rowCount: u32, pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> rowIds: array<u32>;
@group(0) @binding(2) var<storage, read> src: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let s = wg.x;
  let row = rowIds[s];
  if (row < p.rowBase || row >= p.rowBase + p.rowCount) { return; }
  let at = (row - p.rowBase) * p.width;
  let to = s * p.width;
  for (var i = lid; i < p.width; i += 64u) {
    dst[to + i] = src[at + i];
  }
}
