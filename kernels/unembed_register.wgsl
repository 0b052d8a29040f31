// unembed_register: the unembedding's two GEMMs in register tiles, shaped for GPUs:
//   logits:   logits[s, vBase + v] = Σ_k z[s, k] · U[v, k]
//   partials: partial[splitBase + split, s, k] = Σ_{v in split} dlogits[s, vBase + v] · U[v, k]
//             (split-K over the vocabulary; unembed_grad's `reduce` adds the slices in order)
//
// Layout
//   z        [M, K] f32 row-major (logits).
//   dlogits  [M, dlStride] f32; this dispatch reads columns [vBase, vBase + V) (partials).
//   U        the vocabulary window bound for this dispatch, rows of d (= K); f32, or with U_F16
//            f16 packed two per u32. With VEC4 (d a multiple of 4) bound as vec4<f32>, or as
//            vec2<u32> (four halves), so that a row's 16 (or 8) bytes are one load.
//   logits   [M, cStride] f32; this dispatch writes columns [vBase, vBase + N).
//   partial  [splits, M, d] f32.
// Idea: a workgroup of (TM / RM) · (TN / RN) invocations (128 or 256: several subgroups of any
//   size) owns TM batch rows × TN output columns. The operands are staged through workgroup
//   memory TK rows of the summed index at a time by coalesced loads: neighbouring invocations
//   read neighbouring 4-element pieces of one row of U (or z). Each invocation accumulates an
//   RM × RN block in registers, so it makes RM + RN workgroup reads per RM · RN FMAs. Its rows
//   are ty + i · (TM / RM) and its columns tx + j · (TN / RN): neighbouring invocations read
//   neighbouring workgroup words (no bank conflicts) and write neighbouring addresses. The sum
//   runs over k (or v) in order. Past the ends operands read as 0.
// Launch: workgroup (TM / RM) · (TN / RN);
//   logits:   dispatch (ceil(N / TN), ceil(M / TM));
//   partials: dispatch (ceil(d / TN), ceil(M / TM), splits in window).

const TM = ${TM}u;
const TN = ${TN}u;
const TK = ${TK}u;
const RM = ${RM}u;
const RN = ${RN}u;
const MT = TM / RM; // invocations along the rows
const NT = TN / RN; // invocations along the columns
const WG = MT * NT;

#if ${LOGITS}
struct Params { M: u32, N: u32, K: u32, vBase: u32, cStride: u32 }
#else
struct Params {
  M: u32, V: u32, d: u32, vPerSplit: u32,
  splitBase: u32, vBase: u32, dlStride: u32, splits: u32,
}
#endif

@group(0) @binding(0) var<uniform> p: Params;
#if ${LOGITS}
#if ${VEC4}
@group(0) @binding(1) var<storage, read> z: array<vec4f>;
#else
@group(0) @binding(1) var<storage, read> z: array<f32>;
#endif
#else
@group(0) @binding(1) var<storage, read> dlogits: array<f32>;
#endif
#if ${U_F16}
#if ${VEC4}
@group(0) @binding(2) var<storage, read> U: array<vec2u>;
#else
@group(0) @binding(2) var<storage, read> U: array<u32>;
#endif
#else
#if ${VEC4}
@group(0) @binding(2) var<storage, read> U: array<vec4f>;
#else
@group(0) @binding(2) var<storage, read> U: array<f32>;
#endif
#endif
#if ${LOGITS}
@group(0) @binding(3) var<storage, read_write> logits: array<f32>;
#else
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;
#endif

/** U[i .. i + 3] (i a multiple of 4 into rows of even length), elements from `left` on as 0. */
fn loadU4(i: u32, left: u32) -> vec4f {
#if ${U_F16}
#if ${VEC4}
  let w = U[i >> 2u];
  return vec4f(unpack2x16float(w.x), unpack2x16float(w.y));
#else
  let lo = unpack2x16float(U[i >> 1u]);
  var hi = vec2f(0.0);
  if (left > 2u) { hi = unpack2x16float(U[(i >> 1u) + 1u]); }
  return vec4f(lo, hi);
#endif
#else
#if ${VEC4}
  return U[i >> 2u];
#else
  var u = vec4f(0.0);
  for (var c = 0u; c < min(left, 4u); c++) { u[c] = U[i + c]; }
  return u;
#endif
#endif
}

// The staged slice: TK rows of the summed index, by row (As: z or dlogits) and by column (Bs: U).
var<workgroup> As: array<array<f32, TM>, TK>;
var<workgroup> Bs: array<array<f32, TN>, TK>;

/** Adds the staged slice's products to an invocation's RM × RN block. */
fn accumulate(acc: ptr<function, array<array<f32, RN>, RM>>, tx: u32, ty: u32) {
  for (var kk = 0u; kk < TK; kk++) {
    var a: array<f32, RM>;
    var b: array<f32, RN>;
    for (var i = 0u; i < RM; i++) { a[i] = As[kk][ty + i * MT]; }
    for (var j = 0u; j < RN; j++) { b[j] = Bs[kk][tx + j * NT]; }
    for (var i = 0u; i < RM; i++) {
      for (var j = 0u; j < RN; j++) { (*acc)[i][j] = fma(a[i], b[j], (*acc)[i][j]); }
    }
  }
}

#if ${LOGITS}
/** z[i .. i + 3] (i a multiple of 4), elements from `left` on as 0. */
fn loadZ4(i: u32, left: u32) -> vec4f {
#if ${VEC4}
  return z[i >> 2u];
#else
  var v = vec4f(0.0);
  for (var c = 0u; c < min(left, 4u); c++) { v[c] = z[i + c]; }
  return v;
#endif
}

@compute @workgroup_size(WG)
fn logits_main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let n0 = wg.x * TN;
  let m0 = wg.y * TM;
  let tx = lid % NT;
  let ty = lid / NT;
  var acc: array<array<f32, RN>, RM>;
  for (var k0 = 0u; k0 < p.K; k0 += TK) {
    for (var e = lid; e < TN * TK / 4u; e += WG) {
      let r = e / (TK / 4u);
      let kq = (e % (TK / 4u)) * 4u;
      var u = vec4f(0.0);
      if (n0 + r < p.N && k0 + kq < p.K) { u = loadU4((n0 + r) * p.K + k0 + kq, p.K - k0 - kq); }
      for (var c = 0u; c < 4u; c++) { Bs[kq + c][r] = u[c]; }
    }
    for (var e = lid; e < TM * TK / 4u; e += WG) {
      let r = e / (TK / 4u);
      let kq = (e % (TK / 4u)) * 4u;
      var a = vec4f(0.0);
      if (m0 + r < p.M && k0 + kq < p.K) { a = loadZ4((m0 + r) * p.K + k0 + kq, p.K - k0 - kq); }
      for (var c = 0u; c < 4u; c++) { As[kq + c][r] = a[c]; }
    }
    workgroupBarrier();
    accumulate(&acc, tx, ty);
    workgroupBarrier();
  }
  for (var i = 0u; i < RM; i++) {
    let m = m0 + ty + i * MT;
    for (var j = 0u; j < RN; j++) {
      let n = n0 + tx + j * NT;
      if (m < p.M && n < p.N) { logits[m * p.cStride + p.vBase + n] = acc[i][j]; }
    }
  }
}
#else
@compute @workgroup_size(WG)
fn partials(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c0 = wg.x * TN;
  let m0 = wg.y * TM;
  let vStart = wg.z * p.vPerSplit;
  let vEnd = min(p.V, vStart + p.vPerSplit);
  let tx = lid % NT;
  let ty = lid / NT;
  var acc: array<array<f32, RN>, RM>;
  for (var v0 = vStart; v0 < vEnd; v0 += TK) {
    for (var e = lid; e < TK * TN / 4u; e += WG) {
      let vv = e / (TN / 4u);
      let cq = (e % (TN / 4u)) * 4u;
      var u = vec4f(0.0);
      if (v0 + vv < vEnd && c0 + cq < p.d) { u = loadU4((v0 + vv) * p.d + c0 + cq, p.d - c0 - cq); }
      for (var c = 0u; c < 4u; c++) { Bs[vv][cq + c] = u[c]; }
    }
    for (var e = lid; e < TM * TK; e += WG) {
      let r = e / TK;
      let vv = e % TK;
      var l = 0.0;
      if (m0 + r < p.M && v0 + vv < vEnd) { l = dlogits[(m0 + r) * p.dlStride + p.vBase + v0 + vv]; }
      As[vv][r] = l;
    }
    workgroupBarrier();
    accumulate(&acc, tx, ty);
    workgroupBarrier();
  }
  let slice = (p.splitBase + wg.z) * p.M * p.d;
  for (var i = 0u; i < RM; i++) {
    let m = m0 + ty + i * MT;
    for (var j = 0u; j < RN; j++) {
      let c = c0 + tx + j * NT;
      if (m < p.M && c < p.d) { partial[slice + m * p.d + c] = acc[i][j]; }
    }
  }
}
#endif
