// translator_grad: gradients of the grouped translator y = x + W_g x + b_g, only for the
// groups present in the batch:
//   dW[g, n, k] = Σ_{s ∈ g} dy[s, n] · x[s, k]        db[g, n] = Σ_{s ∈ g} dy[s, n]
//
// Layout
//   dy, x   [B, d] f32, batch slots sorted by group.
//   grad    per group a block of `groupStride` f32 at (g − groupBase)·groupStride: dW [d, d]
//           (nn.Linear layout [out, in]) then db [d]; blocks of absent groups are not touched.
//   ranges  ranges[rangeBase + r] = (group, first slot, slot count) of each present group.
// Idea: a workgroup owns a 64×64 tile of one group's dW, each thread a 4×4 block of it, and
//   sums outer products of dy and x rows staged through workgroup memory 16 slots at a time.
//   Every element is written once (overwritten, as with zero_grad(set_to_none=True)).
//   The workgroups of the first k tile also sum db.
// Launch: workgroup 256; dispatch (ceil(d / 64) k tiles, ceil(d / 64) n tiles, ranges).

const T = ${T}u;
const S = ${S}u;

struct Params { d: u32, groupStride: u32, groupBase: u32, rangeBase: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> ranges: array<Range>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;

var<workgroup> dys: array<array<f32, T>, S>; // [slot][n]
var<workgroup> xs: array<array<f32, T>, S>;  // [slot][k]

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = ranges[p.rangeBase + wg.z];
  let k0 = wg.x * T;
  let n0 = wg.y * T;
  let tn = (lid / 16u) * 4u;
  let tk = (lid % 16u) * 4u;
  var acc: array<vec4f, 4>; // acc[i][j]: n = n0 + tn + i, k = k0 + tk + j
  var bsum = vec4f(0.0);

  for (var s0 = 0u; s0 < r.count; s0 += S) {
    for (var e = lid; e < S * T; e += 256u) {
      let ss = e / T;
      let c = e % T;
      var a = 0.0;
      var b = 0.0;
      if (s0 + ss < r.count) {
        let row = (r.first + s0 + ss) * p.d;
        if (n0 + c < p.d) { a = dy[row + n0 + c]; }
        if (k0 + c < p.d) { b = x[row + k0 + c]; }
      }
      dys[ss][c] = a;
      xs[ss][c] = b;
    }
    workgroupBarrier();
    for (var ss = 0u; ss < S; ss++) {
      let a = vec4f(dys[ss][tn], dys[ss][tn + 1u], dys[ss][tn + 2u], dys[ss][tn + 3u]);
      let b = vec4f(xs[ss][tk], xs[ss][tk + 1u], xs[ss][tk + 2u], xs[ss][tk + 3u]);
      for (var i = 0u; i < 4u; i++) { acc[i] = fma(vec4f(a[i]), b, acc[i]); }
      bsum += a;
    }
    workgroupBarrier();
  }

  let base = (r.group - p.groupBase) * p.groupStride;
  for (var i = 0u; i < 4u; i++) {
    let n = n0 + tn + i;
    if (n >= p.d) { break; }
    for (var j = 0u; j < 4u; j++) {
      let k = k0 + tk + j;
      if (k < p.d) { grad[base + n * p.d + k] = acc[i][j]; }
    }
    if (wg.x == 0u && tk == 0u) { grad[base + p.d * p.d + n] = bsum[i]; }
  }
}
