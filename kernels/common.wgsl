// common.wgsl: what several kernels share, written once; kernelSource (src/gpu/pipelines.ts)
// puts it in every kernel's source, after its `enable` directives. WGSL ignores what a kernel
// does not use: an unused function is not compiled in, an unused workgroup array takes no
// workgroup memory.

/** A present group's slots [first, first + count) of a batch sorted by group (ops/groups.ts packRanges). */
struct Range { group: u32, first: u32, count: u32, pad: u32 }

/** A present group and its AdamW step size lr / (1 − β₁ᵗ) and √(1 − β₂ᵗ) (ops/adamw.ts writes them). */
struct Present { group: u32, stepSize: f32, bc2Sqrt: f32, pad: u32 }

/** AdamW's settings as its kernels' Params carry them: decay = 1 − lr · weight decay. */
struct AdamWSettings { decay: f32, beta1: f32, oneMinusBeta1: f32, beta2: f32, oneMinusBeta2: f32, eps: f32 }

/**
 * One element's AdamW step with PyTorch's semantics (torch.optim.AdamW, decoupled weight
 * decay): from the parameter w, its moments (m, v) and its clipped gradient g, the new
 * (w, m, v).
 */
fn adamwStep(w: f32, m: f32, v: f32, g: f32, pr: Present, a: AdamWSettings) -> vec3f {
  let mj = m * a.beta1 + a.oneMinusBeta1 * g;
  let vj = v * a.beta2 + (a.oneMinusBeta2 * g) * g;
  let denom = sqrt(vj) / pr.bc2Sqrt + a.eps;
  return vec3f(w * a.decay + (-pr.stepSize) * (mj / denom), mj, vj);
}

/** adamwStep on 4 neighbouring elements: the new (w, m, v), each a vec4f. */
fn adamwStep4(w: vec4f, m: vec4f, v: vec4f, g: vec4f, pr: Present, a: AdamWSettings) -> array<vec4f, 3> {
  var next: array<vec4f, 3>;
  for (var c = 0u; c < 4u; c++) {
    let e = adamwStep(w[c], m[c], v[c], g[c], pr, a);
    next[0][c] = e.x;
    next[1][c] = e.y;
    next[2][c] = e.z;
  }
  return next;
}

var<workgroup> sumTree: array<f32, 256>;

/**
 * The sum of `mine` over a workgroup of 256 invocations (`lid` the local index), as a tree
 * in workgroup memory in a fixed order; every invocation gets it. Call it from uniform
 * control flow.
 */
fn workgroupSum256(lid: u32, mine: f32) -> f32 {
  sumTree[lid] = mine;
  workgroupBarrier();
  for (var stride = 128u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { sumTree[lid] += sumTree[lid + stride]; }
    workgroupBarrier();
  }
  let total = sumTree[0];
  workgroupBarrier();
  return total;
}
