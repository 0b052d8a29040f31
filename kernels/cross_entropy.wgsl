// cross_entropy: softmax cross-entropy of each row against a target distribution q over the
// vocabulary, its loss and its gradient, in one workgroup per row:
//   loss[s]       = − Σ_v q_s(v) · log softmax(l[s])_v
//   dlogits[s, v] = (softmax(l[s])_v − q_s(v)) · invCount                  (invCount = 1 / B)
// q comes in one of two forms (templated, one kernel each):
//   sparse (TEACHER false): up to K (token, weight) pairs per row, −1 pads, weights summing
//     to 1, a token listed twice gets the sum of its weights. K = 1 with weight 1 is the
//     plain one-hot cross-entropy, bit for bit. No V-wide q is ever built. With FIRST the
//     loss reads only each row's first target, with weight 1 (`--targets first` on rows that
//     carry several: the others serve the any-k metrics), the one-hot cross-entropy again.
//   dense (TEACHER true): q = softmax(teacher[s]), the model's own prediction, and the loss
//     is KL(q ‖ softmax(l)) = Σ_v q(v) (log q(v) − log softmax(l)_v), teacher entropy included.
// Rows with no target (first token −1) get loss 0 and gradient 0.
// Layout: logits, dlogits, teacher [rows, V] f32; targets [rows, K] i32 and weights [rows, K]
//   f32 (sparse only); loss [rows] f32.
// Idea: each thread keeps an online (max, Σexp) over its strided slice of the row (and of the
//   teacher's), the pairs merge in a tree; a second sweep writes the gradient as
//   exp((l − max) − log Σ): stable for logits of any size. Sparse rows keep their K pairs in
//   workgroup memory; the dense loss is a second tree sum.
// Launch: workgroup 256; dispatch (rows).

const K = ${K}u;                                // targets a row in the buffers
const LOSS_K = ${LOSS_K}u;                      // targets the loss reads: K, or 1 with FIRST

struct Params { V: u32, invCount: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(4) var<storage, read_write> loss: array<f32>;
@group(0) @binding(5) var<storage, read_write> dlogits: array<f32>;
var<workgroup> wmax: array<f32, 256>;
var<workgroup> wsum: array<f32, 256>;
#if ${TEACHER}
@group(0) @binding(2) var<storage, read> teacher: array<f32>;
var<workgroup> tmax: array<f32, 256>;
var<workgroup> tsum: array<f32, 256>;
#else
@group(0) @binding(2) var<storage, read> targets: array<i32>;
@group(0) @binding(3) var<storage, read> weights: array<f32>;
var<workgroup> rowTargets: array<i32, LOSS_K>;
var<workgroup> rowWeights: array<f32, LOSS_K>;
#endif

// Merges two (max, Σ exp(x − max)) pairs; a pair with an empty sum contributes nothing.
fn merge(ma: f32, sa: f32, mb: f32, sb: f32) -> vec2f {
  let m = max(ma, mb);
  var s = 0.0;
  if (sa > 0.0) { s += sa * exp(ma - m); }
  if (sb > 0.0) { s += sb * exp(mb - m); }
  return vec2f(m, s);
}

// One thread's online (max, Σexp) over x[row + lid], x[row + lid + 256], …
fn online(x: f32, acc: vec2f) -> vec2f {
  if (x > acc.x) { return vec2f(x, acc.y * exp(acc.x - x) + 1.0); }
  return vec2f(acc.x, acc.y + exp(x - acc.x));
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wg.x * p.V;

  var a = vec2f(-0x1.fffffep+127f, 0.0);
#if ${TEACHER}
  var b = vec2f(-0x1.fffffep+127f, 0.0);
#endif
  for (var v = lid; v < p.V; v += 256u) {
    a = online(logits[row + v], a);
#if ${TEACHER}
    b = online(teacher[row + v], b);
#endif
  }
  wmax[lid] = a.x;
  wsum[lid] = a.y;
#if ${TEACHER}
  tmax[lid] = b.x;
  tsum[lid] = b.y;
#endif
  workgroupBarrier();
  for (var stride = 128u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      let r = merge(wmax[lid], wsum[lid], wmax[lid + stride], wsum[lid + stride]);
      wmax[lid] = r.x;
      wsum[lid] = r.y;
#if ${TEACHER}
      let t = merge(tmax[lid], tsum[lid], tmax[lid + stride], tsum[lid + stride]);
      tmax[lid] = t.x;
      tsum[lid] = t.y;
#endif
    }
    workgroupBarrier();
  }
  let rowMax = wmax[0];
  let logSum = log(wsum[0]);

#if ${TEACHER}
  // dense q: the gradient, and the KL summed per thread, then over the workgroup.
  let teacherMax = tmax[0];
  let teacherLogSum = log(tsum[0]);
  var kl = 0.0;
  for (var v = lid; v < p.V; v += 256u) {
    let logS = (logits[row + v] - rowMax) - logSum;
    let logQ = (teacher[row + v] - teacherMax) - teacherLogSum;
    let q = exp(logQ);
    kl += q * (logQ - logS);
    dlogits[row + v] = (exp(logS) - q) * p.invCount;
  }
  let total = workgroupSum256(lid, kl);
  if (lid == 0u) { loss[wg.x] = total; }
#else
  // sparse q: loss = Σ_k w_k (log Σ − (l[t_k] − max)); q(v) = Σ_{k: t_k = v} w_k.
  for (var k = lid; k < LOSS_K; k += 256u) {
    rowTargets[k] = targets[wg.x * K + k];
    rowWeights[k] = select(weights[wg.x * K + k], 1.0, ${FIRST});
  }
  workgroupBarrier();
  let valid = rowTargets[0] >= 0;
  if (lid == 0u) {
    var l = 0.0;
    if (valid) {
      for (var k = 0u; k < LOSS_K; k++) {
        let t = rowTargets[k];
        if (t >= 0 && u32(t) < p.V) { l += rowWeights[k] * (logSum - (logits[row + u32(t)] - rowMax)); }
      }
    }
    loss[wg.x] = l;
  }
  for (var v = lid; v < p.V; v += 256u) {
    var g = 0.0;
    if (valid) {
      g = exp((logits[row + v] - rowMax) - logSum);
      var q = 0.0;
      for (var k = 0u; k < LOSS_K; k++) {
        if (rowTargets[k] == i32(v)) { q += rowWeights[k]; }
      }
      g = (g - q) * p.invCount;
    }
    dlogits[row + v] = g;
  }
#endif
}
