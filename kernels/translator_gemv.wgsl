// translator_gemv: the translator forward y[s] = x[s] + (W_g x[s] + b_g), as matrix–vector
// products, for batches whose groups hold few slots (a random batch of 32 over the 13–36
// groups of a preset has 1–3 per group). It computes what matmul_nt with RESIDUAL_BIAS does.
//
// Layout
//   x, y    [M, d] f32, batch slots sorted by group.
//   params  per group a block of `groupStride` f32 at (g − groupBase)·groupStride: W [d, d]
//           (nn.Linear layout [out, in]) then b [d].
//   ranges  ranges[rangeBase + r] = (group, first slot, slot count) of each present group.
// Idea: the tiled GEMM computes 16 slots per tile whatever a group holds, and synchronizes
//   every 32 columns. Here 32 lanes share one row of W, lane l reading columns l, l + 32, …
//   (adjacent lanes, adjacent addresses) against SLOTS slots at once, so W streams from
//   memory once per group; the lanes' partial sums meet in workgroup memory at the end.
//   A group of more than SLOTS slots takes further passes over its rows, which are cached.
// Launch: workgroup 256 = 8 rows × 32 lanes; dispatch (ranges, ceil(d / 8)).

const LANES = ${LANES}u;
const ROWS = ${ROWS}u;
const SLOTS = ${SLOTS}u;

struct Params { d: u32, groupStride: u32, groupBase: u32, rangeBase: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read> ranges: array<Range>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

var<workgroup> partial: array<array<f32, 256>, SLOTS>; // [slot][row · LANES + lane]

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = ranges[p.rangeBase + wg.x];
  let d = p.d;
  let block = (r.group - p.groupBase) * p.groupStride;
  let lane = lid % LANES;
  // Rows past d repeat the last row (in bounds) and are not written.
  let wRow = block + min(wg.y * ROWS + lid / LANES, d - 1u) * d;

  for (var c0 = 0u; c0 < r.count; c0 += SLOTS) {
    // Slots past the range repeat its last slot (in bounds) and are not written.
    var xRow: array<u32, SLOTS>;
    for (var i = 0u; i < SLOTS; i++) { xRow[i] = (r.first + min(c0 + i, r.count - 1u)) * d; }
    var acc = array<f32, SLOTS>(); // explicit zero: uninitialised, lavapipe kept the last pass's sums
    for (var k = lane; k < d; k += LANES) {
      let w = params[wRow + k];
      for (var i = 0u; i < SLOTS; i++) { acc[i] = fma(w, x[xRow[i] + k], acc[i]); }
    }
    for (var i = 0u; i < SLOTS; i++) { partial[i][lid] = acc[i]; }
    workgroupBarrier();

    if (lid < ROWS * SLOTS) {
      let row = lid / SLOTS;
      let i = lid % SLOTS;
      let n = wg.y * ROWS + row;
      if (n < d && c0 + i < r.count) {
        var sum = 0.0;
        for (var l = 0u; l < LANES; l++) { sum += partial[i][row * LANES + l]; }
        let s = r.first + c0 + i;
        y[s * d + n] = x[s * d + n] + (sum + params[block + d * d + n]);
      }
    }
    workgroupBarrier();
  }
}
