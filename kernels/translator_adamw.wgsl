// translator_adamw: clip + AdamW on the translators with their gradient never stored. A present
// group's gradient has rank ≤ its slot count: dW = Σ_s dy_s x_sᵀ, db = Σ_s dy_s, so
//   ghost_norm: ‖dW‖² + ‖db‖² = Σ_{s,t ∈ g} (dy_s·dy_t)(x_s·x_t + 1)
//               (the "ghost norm" of per-sample clipping), one partial sum a present group,
//               beside adamw.wgsl's sumsq partials of other parameter sets, for its clip kernel;
//   update:     every element of dW and db rebuilt from dy and x as translator_sg's gradient
//               does (same order, same values), then g = coef · grad and adamw.wgsl's update:
//               p ← p · (1 − lr·wd);  m ← β1·m + (1 − β1)·g;  v ← β2·v + ((1 − β2)·g)·g;
//               p ← p − stepSize · m / (sqrt(v) / bc2Sqrt + eps)
//   Traffic per present parameter: W, m and v read and written (24 bytes), no dW.
//
// Layout
//   dy, x   [B, d] f32, batch slots sorted by group.
//   param, m, v  per group a block of `groupStride` f32 at (g − groupBase)·groupStride: W [d, d]
//           then b [d]; blocks of absent groups are not touched.
//   ranges  ranges[rangeBase + r] = (group, first slot, slot count) of each present group;
//   present present[rangeBase + r] = (group, stepSize, bc2Sqrt) of the same group.
//   partial [partialBase + r] f32; clipState [2] f32 = (norm, coef) from adamw.wgsl's clip.
// Idea: ghost_norm: one workgroup a group, one (s, t) pair (s ≤ t) an invocation, each dot
//   product summed in 8 interleaved partial sums (its rounding grows with √(d / 8)).
//   update: translator_sg's gradient kernel (an invocation owns a column k, dy[s, n0..n0+7]
//   handed between lanes with subgroupShuffle) with AdamW where it stored dW.
// Launch: ghost_norm: workgroup 256; dispatch (ranges).
//         update: workgroup WG; dispatch (ceil(d / WG) column blocks, ceil(d / ROWS) row blocks,
//         ranges).

#if ${GHOST}
#else
enable subgroups;
#endif

struct Range { group: u32, first: u32, count: u32, pad: u32 }

#if ${GHOST}
struct Params { d: u32, rangeBase: u32, partialBase: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ranges: array<Range>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> partial: array<f32>;
var<workgroup> acc: array<f32, 256>;

fn dot8(a: u32, b: u32, which: u32) -> f32 {
  var s: array<f32, 8>;
  for (var j = 0u; j < 8u; j++) { s[j] = 0.0; }
  for (var k0 = 0u; k0 < p.d; k0 += 8u) {
    for (var j = 0u; j < 8u; j++) {
      let k = k0 + j;
      if (k < p.d) {
        if (which == 0u) { s[j] = fma(dy[a + k], dy[b + k], s[j]); } else { s[j] = fma(x[a + k], x[b + k], s[j]); }
      }
    }
  }
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

@compute @workgroup_size(256)
fn ghost_norm(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = ranges[p.rangeBase + wg.x];
  let c = r.count;
  var sum = 0.0;
  for (var q = lid; q < c * c; q += 256u) {
    let s = q / c;
    let t = q % c;
    if (t >= s) {
      let a = (r.first + s) * p.d;
      let b = (r.first + t) * p.d;
      let term = dot8(a, b, 0u) * (dot8(a, b, 1u) + 1.0);
      sum += select(2.0 * term, term, s == t);
    }
  }
  acc[lid] = sum;
  workgroupBarrier();
  for (var stride = 128u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { acc[lid] += acc[lid + stride]; }
    workgroupBarrier();
  }
  if (lid == 0u) { partial[p.partialBase + wg.x] = acc[0]; }
}
#else
const SLOTS = ${SLOTS}u;
const ROWS = ${ROWS}u;

struct Present { group: u32, stepSize: f32, bc2Sqrt: f32, pad: u32 }
struct Params {
  d: u32, groupStride: u32, groupBase: u32, rangeBase: u32,
  decay: f32, beta1: f32, oneMinusBeta1: f32, beta2: f32,
  oneMinusBeta2: f32, eps: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ranges: array<Range>;
@group(0) @binding(2) var<storage, read> present: array<Present>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read> x: array<f32>;
@group(0) @binding(5) var<storage, read> clipState: array<f32>;
@group(0) @binding(6) var<storage, read_write> param: array<f32>;
@group(0) @binding(7) var<storage, read_write> m: array<f32>;
@group(0) @binding(8) var<storage, read_write> v: array<f32>;

/** adamw.wgsl's update of element j with gradient g (before clipping). */
fn step(j: u32, g: f32, coef: f32, pr: Present) {
  let gc = g * coef;
  let mj = m[j] * p.beta1 + p.oneMinusBeta1 * gc;
  let vj = v[j] * p.beta2 + (p.oneMinusBeta2 * gc) * gc;
  m[j] = mj;
  v[j] = vj;
  let denom = sqrt(vj) / pr.bc2Sqrt + p.eps;
  param[j] = param[j] * p.decay + (-pr.stepSize) * (mj / denom);
}

@compute @workgroup_size(${WG})
fn update(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) sgi: u32) {
  let r = ranges[p.rangeBase + wg.z];
  let pr = present[p.rangeBase + wg.z];
  let coef = clipState[1];
  let d = p.d;
  let base = (r.group - p.groupBase) * p.groupStride;
  let k = wg.x * ${WG}u + lid;
  let col = min(k, d - 1u); // columns past d repeat the last column, untouched
  let lane = sgi % 8u;
  // One subgroup updates b: invocations 0–7 (one subgroup, lanes 0–7 in some order).
  let updatesBias = wg.x == 0u && lid < 8u;
  let nEnd = min(d, (wg.y + 1u) * ROWS);
  for (var n0 = wg.y * ROWS; n0 < nEnd; n0 += 8u) {
    let nl = n0 + lane;
    var acc: array<f32, 8>;
    for (var j = 0u; j < 8u; j++) { acc[j] = 0.0; }
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
      for (var j = 0u; j < 8u; j++) {
        for (var i = 0u; i < SLOTS; i++) { acc[j] = fma(subgroupShuffle(l[i], j), xs[i], acc[j]); }
      }
    }
    if (k < d) {
      for (var j = 0u; j < 8u; j++) {
        if (n0 + j < nEnd) { step(base + (n0 + j) * d + k, acc[j], coef, pr); }
      }
    }
    if (updatesBias && nl < nEnd) { step(base + d * d + nl, bias, coef, pr); }
  }
}
#endif
