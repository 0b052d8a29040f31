// translator_ghost_norm: the translators' share of the global gradient norm without their
// gradient. A present group's gradient has rank ≤ its slot count: dW = Σ_s dy_s x_sᵀ,
// db = Σ_s dy_s, so
//   ‖dW‖² + ‖db‖² = Σ_{s,t ∈ g} (dy_s·dy_t)(x_s·x_t + 1)
// (the "ghost norm" of per-sample clipping): one partial sum a present group, beside
// adamw.wgsl's sumsq partials of other parameter sets, for its clip kernel. translator_sg.wgsl's
// gradient with ADAMW then applies clip + AdamW without storing dW.
//
// Layout
//   dy, x   [B, d] f32, batch slots sorted by group.
//   ranges  ranges[rangeBase + r] = (group, first slot, slot count) of each present group.
//   partial [partialBase + r] f32.
// Idea: one workgroup a group, one (s, t) pair (s ≤ t) an invocation, each dot product summed
//   in 8 interleaved partial sums (its rounding grows with √(d / 8)).
// Launch: workgroup 256; dispatch (ranges).

struct Params { d: u32, rangeBase: u32, partialBase: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ranges: array<Range>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> partial: array<f32>;

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
  let total = workgroupSum256(lid, sum);
  if (lid == 0u) { partial[p.partialBase + wg.x] = total; }
}
