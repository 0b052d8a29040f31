// unembed_grad: dz = dlogits · U, the gradient through logits = z Uᵀ (U frozen):
//   dz[s, k] = Σ_v dlogits[s, v] · U[v, k]
//
// Layout
//   dlogits  [M, dlStride] f32; this dispatch reads columns [vBase, vBase + V).
//   U        [V, d] rows of the vocabulary window bound for this dispatch; f32, or with U_F16
//            f16 packed two per u32.
//   partial  [splits, M, d] f32: one slice per (vocabulary window, split).
//   dz       [M, d] f32.
// Idea: the sum over the vocabulary is long (32k–128k) and the output small, so it is split:
//   each workgroup sums `vPerSplit` vocabulary rows for 32 slots × 64 columns into its own
//   partial slice (split-K), and `reduce` adds the slices in a fixed order — deterministic,
//   no atomics.
//   With SUBGROUPS (adapters with the `subgroups` feature) an invocation owns one column k of dz
//   and SLOTS rows at a time, so U[·, k] is the only operand that differs between invocations;
//   dlogits, the same for all of them, is read cooperatively: for a block of LANES vocabulary
//   rows (8, or the adapter's smallest subgroup where that is smaller), lane i loads
//   dlogits[s, v0 + i] and subgroupShuffle hands it to every lane (one load per LANES FMAs; on a
//   CPU driver every lane's load is a scalar load). The sum runs over v in the same order as
//   the plain path's, whatever LANES is.
// Launch: partials: workgroup 256; dispatch (ceil(d / 64), ceil(M / 32), splits in window);
//           with SUBGROUPS workgroup WG; dispatch (ceil(d / WG), 1, splits in window).
//         reduce:   workgroup 256; dispatch (ceil(M·d / 256)).

#if ${SUBGROUPS}
enable subgroups;
#endif

const TM = ${TM}u;
const TN = ${TN}u;
const TV = ${TV}u;
const RPT = TM / 4u;

struct Params {
  M: u32, V: u32, d: u32, vPerSplit: u32,
  splitBase: u32, vBase: u32, dlStride: u32, splits: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

#if ${PARTIALS}
@group(0) @binding(1) var<storage, read> dlogits: array<f32>;
#if ${U_F16}
@group(0) @binding(2) var<storage, read> U: array<u32>;
fn loadU(i: u32) -> f32 {
  let pair = unpack2x16float(U[i >> 1u]);
  return select(pair.x, pair.y, (i & 1u) == 1u);
}
#else
@group(0) @binding(2) var<storage, read> U: array<f32>;
fn loadU(i: u32) -> f32 { return U[i]; }
#endif
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;

#if ${SUBGROUPS}
const SLOTS = ${SLOTS}u;
const LANES = ${LANES}u;

@compute @workgroup_size(${WG})
fn partials(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wg: vec3u, @builtin(subgroup_invocation_id) sgi: u32) {
  let k = gid.x;
  let col = min(k, p.d - 1u); // spare invocations compute a copy of the last column, unstored
  let vStart = wg.z * p.vPerSplit;
  let vEnd = min(p.V, vStart + p.vPerSplit);
  let lane = sgi % LANES;
  let slice = (p.splitBase + wg.z) * p.M * p.d;
  for (var s0 = 0u; s0 < p.M; s0 += SLOTS) {
    // Zeroed explicitly: lavapipe was seen to keep a loop-local array's values between iterations.
    var acc: array<f32, SLOTS>;
    var lRow: array<u32, SLOTS>;
    for (var i = 0u; i < SLOTS; i++) {
      acc[i] = 0.0;
      lRow[i] = min(s0 + i, p.M - 1u) * p.dlStride + p.vBase;
    }
    for (var v0 = vStart; v0 < vEnd; v0 += LANES) {
      let v = v0 + lane;
      var l: array<f32, SLOTS>;
      for (var i = 0u; i < SLOTS; i++) { l[i] = select(0.0, dlogits[lRow[i] + min(v, vEnd - 1u)], v < vEnd); }
      for (var j = 0u; j < LANES; j++) {
        let u = loadU(min(v0 + j, vEnd - 1u) * p.d + col);
        for (var i = 0u; i < SLOTS; i++) { acc[i] = fma(subgroupShuffle(l[i], j), u, acc[i]); }
      }
    }
    if (k < p.d) {
      for (var i = 0u; i < SLOTS; i++) {
        if (s0 + i < p.M) { partial[slice + (s0 + i) * p.d + k] = acc[i]; }
      }
    }
  }
}
#else
var<workgroup> Ls: array<array<f32, TV>, TM>;  // [slot][v]
var<workgroup> Us: array<array<f32, TN>, TV>;  // [v][k]

@compute @workgroup_size(256)
fn partials(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let k0 = wg.x * TN;
  let m0 = wg.y * TM;
  let vStart = wg.z * p.vPerSplit;
  let vEnd = min(p.V, vStart + p.vPerSplit);
  let col = lid % TN;
  let rowGroup = lid / TN;
  var acc: array<f32, RPT>;

  for (var v0 = vStart; v0 < vEnd; v0 += TV) {
    for (var e = lid; e < TV * TN; e += 256u) {
      let vv = e / TN;
      let kk = e % TN;
      var u = 0.0;
      if (v0 + vv < vEnd && k0 + kk < p.d) { u = loadU((v0 + vv) * p.d + k0 + kk); }
      Us[vv][kk] = u;
    }
    for (var e = lid; e < TM * TV; e += 256u) {
      let mm = e / TV;
      let vv = e % TV;
      var l = 0.0;
      if (m0 + mm < p.M && v0 + vv < vEnd) { l = dlogits[(m0 + mm) * p.dlStride + p.vBase + v0 + vv]; }
      Ls[mm][vv] = l;
    }
    workgroupBarrier();
    for (var vv = 0u; vv < TV; vv++) {
      let u = Us[vv][col];
      for (var i = 0u; i < RPT; i++) {
        acc[i] = fma(Ls[rowGroup + 4u * i][vv], u, acc[i]);
      }
    }
    workgroupBarrier();
  }

  let k = k0 + col;
  if (k >= p.d) { return; }
  let slice = (p.splitBase + wg.z) * p.M * p.d;
  for (var i = 0u; i < RPT; i++) {
    let m = m0 + rowGroup + 4u * i;
    if (m < p.M) { partial[slice + m * p.d + k] = acc[i]; }
  }
}
#endif
#else
@group(0) @binding(1) var<storage, read> partial: array<f32>;
@group(0) @binding(2) var<storage, read_write> dz: array<f32>;

@compute @workgroup_size(256)
fn reduce(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  let n = p.M * p.d;
  if (i >= n) { return; }
  var sum = 0.0;
  for (var s = 0u; s < p.splits; s++) { sum += partial[s * n + i]; }
  dz[i] = sum;
}
#endif
