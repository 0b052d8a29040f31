// adamw: global-norm gradient clipping and the AdamW update with PyTorch's semantics, over
// the parameter blocks of the groups present in a batch (absent groups are not touched), for
// one or several parameter sets (translators, position unembeddings) under one norm.
//   sumsq:  partial[base + r·chunks + c] = Σ grad² over chunk c of present group r's block
//           (base: where this parameter set's partial sums start)
//   clip:   norm = sqrt(Σ partial); coef = min(maxNorm / (norm + 1e-6), 1)   (1 if maxNorm ≤ 0)
//   update: g = coef · grad
//           p ← p · (1 − lr·wd)
//           m ← β1·m + (1 − β1)·g;   v ← β2·v + ((1 − β2)·g)·g
//           p ← p − stepSize · m / (sqrt(v) / bc2Sqrt + eps)
//   where the host computes, from each group's own step count t in float64 as PyTorch does,
//   stepSize = lr / (1 − β1^t) and bc2Sqrt = sqrt(1 − β2^t).
// Layout: param, grad, m, v: per group a block of groupStride f32 at (g − groupBase)·groupStride
//   (W [d, d], b [d], zero padding); present[rangeBase + r] = (group, stepSize, bc2Sqrt);
//   partial [ranges · chunks] f32; clipState [2] f32 = (norm, coef).
// Idea: the norm is reduced on the GPU in two levels and the update reads its coefficient
//   from clipState, so a training step needs no readback.
// Launch: sumsq, update: workgroup 256, CHUNK elements per workgroup; dispatch (chunks, ranges).
//         clip: dispatch (1).

const CHUNK = ${CHUNK}u;

#if ${SUMSQ}
struct Params { groupStride: u32, groupBase: u32, rangeBase: u32, chunks: u32, partialBase: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read> present: array<Present>;
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;

@compute @workgroup_size(256)
fn sumsq(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = p.rangeBase + wg.y;
  let base = (present[r].group - p.groupBase) * p.groupStride;
  let start = wg.x * CHUNK;
  let end = min(p.groupStride, start + CHUNK);
  var s = 0.0;
  for (var i = start + lid; i < end; i += 256u) { let g = grad[base + i]; s = fma(g, g, s); }
  let total = workgroupSum256(lid, s);
  if (lid == 0u) { partial[p.partialBase + r * p.chunks + wg.x] = total; }
}
#endif

#if ${CLIP}
struct Params { count: u32, maxNorm: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> partial: array<f32>;
@group(0) @binding(2) var<storage, read_write> clipState: array<f32>;

@compute @workgroup_size(256)
fn clip(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = lid; i < p.count; i += 256u) { s += partial[i]; }
  let total = workgroupSum256(lid, s);
  if (lid == 0u) {
    let norm = sqrt(total);
    var coef = 1.0;
    if (p.maxNorm > 0.0) { coef = min(p.maxNorm / (norm + 1e-6), 1.0); }
    clipState[0] = norm;
    clipState[1] = coef;
  }
}
#endif

#if ${UPDATE}
struct Params {
  groupStride: u32, groupBase: u32, rangeBase: u32, pad: u32,
  decay: f32, beta1: f32, oneMinusBeta1: f32, beta2: f32,
  oneMinusBeta2: f32, eps: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read> present: array<Present>;
@group(0) @binding(3) var<storage, read> clipState: array<f32>;
@group(0) @binding(4) var<storage, read_write> param: array<f32>;
@group(0) @binding(5) var<storage, read_write> m: array<f32>;
@group(0) @binding(6) var<storage, read_write> v: array<f32>;

@compute @workgroup_size(256)
fn update(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let pr = present[p.rangeBase + wg.y];
  let base = (pr.group - p.groupBase) * p.groupStride;
  let coef = clipState[1];
  let a = AdamWSettings(p.decay, p.beta1, p.oneMinusBeta1, p.beta2, p.oneMinusBeta2, p.eps);
  let start = wg.x * CHUNK;
  let end = min(p.groupStride, start + CHUNK);
  for (var i = start + lid; i < end; i += 256u) {
    let j = base + i;
    let next = adamwStep(param[j], m[j], v[j], grad[j] * coef, pr, a);
    param[j] = next.x;
    m[j] = next.y;
    v[j] = next.z;
  }
}
#endif
