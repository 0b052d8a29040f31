// position_adamw: the full position unembedding's share of the clip norm and its clip + AdamW
// update without its gradient. At position q the gradient has rank ≤ the slots at q:
//   dΔU_q[n, k] = Σ_s dlogits[s, n] · z[s, k]        dc_q[n] = Σ_s dlogits[s, n]
// (s over the slots at q, in slot-list order: position_unembed's delta_grad and bias_grad sum
// in the same order, so each element equals the stored one), hence
//   ghost_norm: ‖dΔU_q‖² + ‖dc_q‖² = Σ_{s,t at q} (dlogits_s · dlogits_t)(z_s · z_t + 1)
//   update:     each element's gradient rebuilt as above, then adamw.wgsl's update
//               (g = coef · grad; decoupled weight decay; per-position step counts).
//
// Layout
//   slots    the batch's slots ordered by position (position_unembed's slot list).
//   ranges   ranges[rangeBase + r] = (sub-block, first, count): a present position's sub-block
//            q · subBlocks + i and its slots [first, first + count) of the slot list.
//   present  present[rangeBase + r] = (sub-block, stepSize, bc2Sqrt) of the same sub-block.
//   dlogits  [rows, V] f32; z [rows, d] f32.
//   param, m, v  the positions' blocks in sub-blocks of subStride f32 at
//            (sub-block − groupBase) · subStride; a position's block is c_q [V], zeros to
//            deltaOffset, ΔU_q [V, d] row-major, zeros (positionUnembed.ts positionLayout).
//   partial  [partialBase + r] f32: a position's norm in its first sub-block's entry, 0 in the others.
// Idea: ghost_norm: one workgroup a present sub-block; each (s, t ≤ s) pair's two dot products
//   are summed by the whole workgroup (strided, then the tree sum), pair after pair.
//   update: adamw.wgsl's chunked update, with each element's gradient summed over the
//   position's slots from dlogits and z (neighbouring invocations read neighbouring z, the same
//   dlogits): W, m, v read and written, no gradient buffer.
//   update_rows (d a multiple of 4): an invocation owns 4 neighbouring columns of ΔU_q (vec4
//   loads of W, m, v and z, neighbouring invocations neighbouring addresses) over ROWS rows:
//   each slot's z is loaded once for the ROWS rows, its dlogits of a row is one value for the
//   whole workgroup, and the ROWS gradients wait in registers for the AdamW step. The last
//   workgroup row of the grid (wg.x = bands) updates c_q. Padding, whose gradient and moments
//   are zero, stays zero without being touched.
// Launch: workgroup 256; ghost_norm: dispatch (ranges); update: dispatch (chunks, ranges);
//   update_rows: dispatch (bands + 1, ranges, ⌈d / 1024⌉), bands = the most ROWS-row bands of
//   ΔU_q rows one sub-block meets.

const CHUNK = ${CHUNK}u;
const ROWS = ${ROWS}u;

#if ${GHOST}
struct Params { V: u32, d: u32, subBlocks: u32, rangeBase: u32, partialBase: u32 }
#else
struct Params {
  V: u32, d: u32, deltaOffset: u32, subStride: u32,
  subBlocks: u32, groupBase: u32, rangeBase: u32, bands: u32,
  decay: f32, beta1: f32, oneMinusBeta1: f32, beta2: f32,
  oneMinusBeta2: f32, eps: f32,
}
#endif

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ranges: array<Range>;
@group(0) @binding(2) var<storage, read> slots: array<u32>;
@group(0) @binding(3) var<storage, read> dlogits: array<f32>;
#if ${VEC4}
@group(0) @binding(4) var<storage, read> z: array<vec4f>;
#else
@group(0) @binding(4) var<storage, read> z: array<f32>;
#endif

#if ${GHOST}
@group(0) @binding(5) var<storage, read_write> partial: array<f32>;

/** The workgroup's sum of a[i] · b[i] over i < n, rows at aBase and bBase of `which` (0 dlogits, 1 z). */
fn dotAll(lid: u32, aBase: u32, bBase: u32, n: u32, which: u32) -> f32 {
  var s = 0.0;
  for (var i = lid; i < n; i += 256u) {
    if (which == 0u) { s = fma(dlogits[aBase + i], dlogits[bBase + i], s); } else { s = fma(z[aBase + i], z[bBase + i], s); }
  }
  return workgroupSum256(lid, s);
}

@compute @workgroup_size(256)
fn ghost_norm(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = ranges[p.rangeBase + wg.x];
  var sum = 0.0;
  if (r.group % p.subBlocks == 0u) {
    for (var s = 0u; s < r.count; s++) {
      let rowS = slots[r.first + s];
      for (var t = 0u; t <= s; t++) {
        let rowT = slots[r.first + t];
        let term = dotAll(lid, rowS * p.V, rowT * p.V, p.V, 0u) * (dotAll(lid, rowS * p.d, rowT * p.d, p.d, 1u) + 1.0);
        sum += select(2.0 * term, term, s == t);
      }
    }
  }
  if (lid == 0u) { partial[p.partialBase + wg.x] = sum; }
}
#else
@group(0) @binding(5) var<storage, read> present: array<Present>;
@group(0) @binding(6) var<storage, read> clipState: array<f32>;
#if ${VEC4}
@group(0) @binding(7) var<storage, read_write> param: array<vec4f>;
@group(0) @binding(8) var<storage, read_write> m: array<vec4f>;
@group(0) @binding(9) var<storage, read_write> v: array<vec4f>;

/** AdamW on 4 neighbouring elements at j of the bound sub-blocks. */
fn step4(j: u32, g: vec4f, pr: Present, a: AdamWSettings) {
  let next = adamwStep4(param[j], m[j], v[j], g, pr, a);
  param[j] = next[0];
  m[j] = next[1];
  v[j] = next[2];
}

/** c_q's elements of the sub-block at block element `offset`: dc_q = Σ_s dlogits_s, in slot order. */
fn updateBias(lid: u32, base4: u32, offset: u32, r: Range, coef: f32, pr: Present, a: AdamWSettings) {
  let end = min(p.deltaOffset, offset + p.subStride);
  for (var e = offset + 4u * lid; e < end; e += 1024u) {
    var g = vec4f(0.0);
    for (var i = 0u; i < r.count; i++) {
      let row = slots[r.first + i] * p.V;
      for (var c = 0u; c < 4u; c++) { if (e + c < p.V) { g[c] += dlogits[row + e + c]; } }
    }
    step4(base4 + (e - offset) / 4u, g * coef, pr, a);
  }
}

@compute @workgroup_size(256)
fn update_rows(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = ranges[p.rangeBase + wg.y];
  let pr = present[p.rangeBase + wg.y];
  let base4 = (pr.group - p.groupBase) * (p.subStride / 4u);
  let offset = (pr.group % p.subBlocks) * p.subStride; // the sub-block's place in its position's block
  let coef = clipState[1];
  let a = AdamWSettings(p.decay, p.beta1, p.oneMinusBeta1, p.beta2, p.oneMinusBeta2, p.eps);
  if (wg.x == p.bands) {
    if (wg.z == 0u && offset < p.deltaOffset) { updateBias(lid, base4, offset, r, coef, pr, a); }
    return;
  }
  // The rows of ΔU_q this sub-block meets start at row n0 of band 0.
  let d4 = p.d / 4u;
  let k4 = wg.z * 256u + lid;
  let n0 = select(0u, (offset - p.deltaOffset) / p.d, offset > p.deltaOffset) + wg.x * ROWS;
  if (k4 >= d4 || n0 >= p.V) { return; }
  var acc: array<vec4f, ROWS>;
  for (var i = 0u; i < r.count; i++) {
    let row = slots[r.first + i];
    let zi = z[row * d4 + k4];
    for (var t = 0u; t < ROWS; t++) { acc[t] = fma(vec4f(dlogits[row * p.V + min(n0 + t, p.V - 1u)]), zi, acc[t]); }
  }
  for (var t = 0u; t < ROWS; t++) {
    let e = p.deltaOffset + (n0 + t) * p.d + 4u * k4; // the 4 elements' place in the position's block
    if (n0 + t < p.V && e >= offset && e < offset + p.subStride) { step4(base4 + (e - offset) / 4u, acc[t] * coef, pr, a); }
  }
}
#else
@group(0) @binding(7) var<storage, read_write> param: array<f32>;
@group(0) @binding(8) var<storage, read_write> m: array<f32>;
@group(0) @binding(9) var<storage, read_write> v: array<f32>;

/** Element e of a position's block: its gradient over the slots [first, first + count). */
fn gradient(e: u32, first: u32, count: u32) -> f32 {
  var g = 0.0;
  if (e < p.V) {
    for (var i = 0u; i < count; i++) { g += dlogits[slots[first + i] * p.V + e]; }
  } else if (e >= p.deltaOffset && e < p.deltaOffset + p.V * p.d) {
    let n = (e - p.deltaOffset) / p.d;
    let k = (e - p.deltaOffset) % p.d;
    for (var i = 0u; i < count; i++) {
      let row = slots[first + i];
      g = fma(dlogits[row * p.V + n], z[row * p.d + k], g);
    }
  }
  return g;
}

@compute @workgroup_size(256)
fn update(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = ranges[p.rangeBase + wg.y];
  let pr = present[p.rangeBase + wg.y];
  let base = (pr.group - p.groupBase) * p.subStride;
  let offset = (pr.group % p.subBlocks) * p.subStride; // the sub-block's place in its position's block
  let coef = clipState[1];
  let a = AdamWSettings(p.decay, p.beta1, p.oneMinusBeta1, p.beta2, p.oneMinusBeta2, p.eps);
  let start = wg.x * CHUNK;
  let end = min(p.subStride, start + CHUNK);
  for (var i = start + lid; i < end; i += 256u) {
    let j = base + i;
    let next = adamwStep(param[j], m[j], v[j], gradient(offset + i, r.first, r.count) * coef, pr, a);
    param[j] = next.x;
    m[j] = next.y;
    v[j] = next.z;
  }
}
#endif
#endif
