// cross_entropy: softmax cross-entropy over the vocabulary, its loss and its gradient.
//   loss[s]       = log Σ_v exp(l[s, v]) − l[s, t_s]
//   dlogits[s, v] = (softmax(l[s])_v − [v = t_s]) · invCount        (invCount = 1 / B)
//   Rows whose target is outside [0, V) (−1 marks padding) get loss 0 and gradient 0.
// Layout: logits, dlogits [rows, V] f32; target [rows] i32; loss [rows] f32.
// Idea: one workgroup per row. Each thread keeps an online (max, Σexp) over its strided slice
//   of the row, the pairs are merged by a tree reduction, and a second sweep writes the
//   gradient as exp((l − max) − log Σ): stable for logits of any size, no V-wide scratch.
// Launch: workgroup 256; dispatch (rows).

struct Params { V: u32, invCount: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<i32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> dlogits: array<f32>;

var<workgroup> wmax: array<f32, 256>;
var<workgroup> wsum: array<f32, 256>;

// Merges two (max, Σ exp(x − max)) pairs; a pair with an empty sum contributes nothing.
fn merge(ma: f32, sa: f32, mb: f32, sb: f32) -> vec2f {
  let m = max(ma, mb);
  var s = 0.0;
  if (sa > 0.0) { s += sa * exp(ma - m); }
  if (sb > 0.0) { s += sb * exp(mb - m); }
  return vec2f(m, s);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wg.x * p.V;
  let t = targets[wg.x];
  let valid = t >= 0 && u32(t) < p.V;

  var m = -0x1.fffffep+127f;
  var s = 0.0;
  for (var v = lid; v < p.V; v += 256u) {
    let x = logits[row + v];
    if (x > m) { s = s * exp(m - x) + 1.0; m = x; } else { s += exp(x - m); }
  }
  wmax[lid] = m;
  wsum[lid] = s;
  workgroupBarrier();
  for (var stride = 128u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      let r = merge(wmax[lid], wsum[lid], wmax[lid + stride], wsum[lid + stride]);
      wmax[lid] = r.x;
      wsum[lid] = r.y;
    }
    workgroupBarrier();
  }
  let rowMax = wmax[0];
  let logSum = log(wsum[0]);

  if (lid == 0u) {
    loss[wg.x] = select(0.0, logSum - (logits[row + u32(max(t, 0))] - rowMax), valid);
  }
  for (var v = lid; v < p.V; v += 256u) {
    var g = 0.0;
    if (valid) {
      g = exp((logits[row + v] - rowMax) - logSum);
      if (v == u32(t)) { g -= 1.0; }
      g *= p.invCount;
    }
    dlogits[row + v] = g;
  }
}
