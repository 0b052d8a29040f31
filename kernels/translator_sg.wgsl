// translator_sg: the grouped translator with subgroup operations (the variant for adapters with
// the `subgroups` feature; translator_gemv and translator_grad are the plain ones):
//   forward  y[s] = x[s] + (W_g x[s] + b_g)
//   gradient dW[g, n, k] = Σ_{s ∈ g} dy[s, n] · x[s, k]        db[g, n] = Σ_{s ∈ g} dy[s, n]
//            stored, or with ADAMW never stored: each element goes straight into clip + AdamW
//            as adamw.wgsl's update does it (g = coef · grad; p ← p · (1 − lr·wd);
//            m ← β1·m + (1 − β1)·g; v ← β2·v + ((1 − β2)·g)·g; p ← p − stepSize · m / (sqrt(v) /
//            bc2Sqrt + eps)), 24 bytes of traffic a present parameter (W, m, v read and
//            written); its clip norm is translator_ghost_norm.wgsl's.
//
// Layout
//   x, y, dy  [B, d] f32, batch slots sorted by group.
//   params, grad (with ADAMW param, m, v)  per group a block of `groupStride` f32 at
//           (g − groupBase)·groupStride: W [d, d] (nn.Linear layout [out, in]) then b [d];
//           blocks of absent groups are not touched.
//   ranges  ranges[rangeBase + r] = (group, first slot, slot count) of each present group;
//           with ADAMW present[rangeBase + r] = (group, stepSize, bc2Sqrt) of the same group
//           and clipState [2] f32 = (norm, coef) from adamw.wgsl's clip.
// Idea: the operand that differs between invocations is read by each invocation; the operand
//   they share is read once per LANES lanes (8, or the adapter's smallest subgroup where that
//   is smaller) and handed around with subgroupShuffle (lane i loads element i of a block of
//   LANES, so each lane loads one element per LANES FMAs; on a CPU driver every lane's load is
//   a scalar load). Lanes LANES and up repeat the first lanes; every sum runs in the same
//   order whatever LANES is.
//   forward: an invocation owns one row n of W_g (streamed once per SLOTS slots); x[s, k0..k0+7]
//            is shared.
//   gradient: an invocation owns one column k of dW_g and writes it for ROWS rows, LANES at a
//            time; x[s, k] is its own, dy[s, n0 .. n0 + LANES − 1] is shared. db comes from the
//            shared loads: lane i of the column block 0 holds dy[s, n0 + i].
//   The gradient sums over slots in translator_grad's order.
// Launch: workgroup WG; forward: dispatch (ranges, ceil(d / WG));
//         gradient: dispatch (ceil(d / WG) column blocks, ceil(d / ROWS) row blocks, ranges).

enable subgroups;

const SLOTS = ${SLOTS}u;
const ROWS = ${ROWS}u;
const LANES = ${LANES}u;

#if ${ADAMW}
struct Params {
  d: u32, groupStride: u32, groupBase: u32, rangeBase: u32,
  decay: f32, beta1: f32, oneMinusBeta1: f32, beta2: f32,
  oneMinusBeta2: f32, eps: f32,
}
#else
struct Params { d: u32, groupStride: u32, groupBase: u32, rangeBase: u32 }
#endif

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ranges: array<Range>;

#if ${FORWARD}
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> params: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(${WG})
fn forward(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) sgi: u32) {
  let r = ranges[p.rangeBase + wg.x];
  let d = p.d;
  let block = (r.group - p.groupBase) * p.groupStride;
  let n = wg.y * ${WG}u + lid;
  let wRow = block + min(n, d - 1u) * d; // rows past d repeat the last row, unwritten
  let lane = sgi % LANES;
  for (var c0 = 0u; c0 < r.count; c0 += SLOTS) {
    // Zeroed explicitly: lavapipe was seen to keep a loop-local array's values between passes.
    var acc: array<f32, SLOTS>;
    var xRow: array<u32, SLOTS>;
    for (var i = 0u; i < SLOTS; i++) {
      acc[i] = 0.0;
      xRow[i] = (r.first + min(c0 + i, r.count - 1u)) * d; // slots past the range repeat its last
    }
    for (var k0 = 0u; k0 < d; k0 += LANES) {
      let k = k0 + lane;
      var xl: array<f32, SLOTS>;
      for (var i = 0u; i < SLOTS; i++) { xl[i] = select(0.0, x[xRow[i] + min(k, d - 1u)], k < d); }
      for (var j = 0u; j < LANES; j++) {
        let w = select(0.0, params[wRow + min(k0 + j, d - 1u)], k0 + j < d);
        for (var i = 0u; i < SLOTS; i++) { acc[i] = fma(w, subgroupShuffle(xl[i], j), acc[i]); }
      }
    }
    if (n < d) {
      let b = params[block + d * d + n];
      for (var i = 0u; i < SLOTS; i++) {
        if (c0 + i < r.count) {
          let s = (r.first + c0 + i) * d + n;
          y[s] = x[s] + (acc[i] + b);
        }
      }
    }
  }
}
#else
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
#if ${ADAMW}
@group(0) @binding(4) var<storage, read> present: array<Present>;
@group(0) @binding(5) var<storage, read> clipState: array<f32>;
@group(0) @binding(6) var<storage, read_write> param: array<f32>;
@group(0) @binding(7) var<storage, read_write> m: array<f32>;
@group(0) @binding(8) var<storage, read_write> v: array<f32>;
var<private> pr: Present;
var<private> coef: f32;

fn beginRange(r: u32) {
  pr = present[r];
  coef = clipState[1];
}

/** Element j's gradient g (before clipping) into the AdamW step (common.wgsl), as adamw.wgsl's update. */
fn emit(j: u32, g: f32) {
  let a = AdamWSettings(p.decay, p.beta1, p.oneMinusBeta1, p.beta2, p.oneMinusBeta2, p.eps);
  let next = adamwStep(param[j], m[j], v[j], g * coef, pr, a);
  param[j] = next.x;
  m[j] = next.y;
  v[j] = next.z;
}
#else
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;

fn beginRange(r: u32) {}

fn emit(j: u32, g: f32) { grad[j] = g; }
#endif

@compute @workgroup_size(${WG})
fn gradient(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) sgi: u32) {
  let r = ranges[p.rangeBase + wg.z];
  beginRange(p.rangeBase + wg.z);
  let d = p.d;
  let base = (r.group - p.groupBase) * p.groupStride;
  let k = wg.x * ${WG}u + lid;
  let col = min(k, d - 1u); // columns past d repeat the last column, untouched
  let lane = sgi % LANES;
  // One subgroup emits db: invocations 0 .. LANES − 1 (one subgroup, its first lanes in some order).
  let writesBias = wg.x == 0u && lid < LANES;
  let nEnd = min(d, (wg.y + 1u) * ROWS);
  for (var n0 = wg.y * ROWS; n0 < nEnd; n0 += LANES) {
    let nl = n0 + lane;
    var acc: array<f32, LANES>;
    for (var j = 0u; j < LANES; j++) { acc[j] = 0.0; }
    var bias = 0.0;
    for (var c0 = 0u; c0 < r.count; c0 += SLOTS) {
      var xs: array<f32, SLOTS>;
      var l: array<f32, SLOTS>;
      for (var i = 0u; i < SLOTS; i++) {
        let row = (r.first + min(c0 + i, r.count - 1u)) * d;
        let inRange = c0 + i < r.count;
        xs[i] = select(0.0, x[row + col], inRange);
        l[i] = select(0.0, dy[row + min(nl, d - 1u)], inRange && nl < d);
        bias += l[i];
      }
      for (var j = 0u; j < LANES; j++) {
        for (var i = 0u; i < SLOTS; i++) { acc[j] = fma(subgroupShuffle(l[i], j), xs[i], acc[j]); }
      }
    }
    if (k < d) {
      for (var j = 0u; j < LANES; j++) {
        if (n0 + j < nEnd) { emit(base + (n0 + j) * d + k, acc[j]); }
      }
    }
    if (writesBias && nl < nEnd) { emit(base + d * d + nl, bias); }
  }
}
#endif
