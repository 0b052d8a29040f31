// position_unembed: the position-specific unembedding logits = (U + ΔU_q) z + c_q of a slot
// at position q; the frozen U z is unembed's, these kernels add the position's part and its
// gradients, one dispatch per present position (and vocabulary window of ΔU_q):
//   add_bias:      logits[s, v] += c_q[v]
//   bias_grad:     dc_q[v] = Σ_s dlogits[s, v]
//   delta_logits:  logits[s, vBase + n] += Σ_k ΔU_q[n, k] z[s, k]
//   delta_dz:      dz[s, k] += Σ_n dlogits[s, vBase + n] ΔU_q[n, k]
//   delta_grad:    dΔU_q[n, k] = Σ_s dlogits[s, vBase + n] z[s, k]        (overwritten)
// where s runs over the position's slots: slots[first … first + count) (the batch's slots
// ordered by position).
// Layout: logits, dlogits [rows, V] f32; z, dz [rows, d] f32; c, dc: the position's c_q [V]
//   (bound alone); delta, dDelta: rows [vBase, vBase + vCount) of ΔU_q [V, d] (bound alone, a
//   window of the position's block when a block exceeds one binding).
// Idea: like matmul_nt and translator_grad, with the batch rows reached through the slot
//   list; the gradient sums slots in list order, so it is deterministic. With SUBGROUPS,
//   delta_logits and delta_dz take unembed_logits's and unembed_grad's subgroup design: an
//   invocation owns one row n of ΔU_q (logits) or one column k (dz) and SG_SLOTS slots at a
//   time, and the operand all invocations share (z[slot, ·] or dlogits[slot, ·]) is loaded
//   lane by lane, LANES at a time, and handed around with subgroupShuffle; sums run in order.
//   The host compiles several SG_SLOTS and gives a position the narrowest that holds its
//   slots (tiles.ts POSITION_SG_SLOTS); each slot's sum is the same at any width.
// Launch: workgroup 256; add_bias, bias_grad: (ceil(V / 256), count or 1);
//   delta_logits: (ceil(count / SLOTS), ceil(vCount / COLS)); delta_dz: (ceil(count / SLOTS),
//   ceil(d / COLS)); delta_grad: (ceil(d / COLS), ceil(vCount / COLS)).
//   With SUBGROUPS workgroup WG; delta_logits: (ceil(vCount / WG)); delta_dz: (ceil(d / WG)).

#if ${SUBGROUPS}
enable subgroups;
#endif

const SLOTS = ${SLOTS}u; // slots per workgroup (delta_logits, delta_dz)
const COLS = ${COLS}u;  // output columns per workgroup (vocabulary rows or hidden units)

struct Params { V: u32, d: u32, first: u32, count: u32, vBase: u32, vCount: u32, pad0: u32, pad1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> slots: array<u32>;

#if ${ADD}
@group(0) @binding(2) var<storage, read> c: array<f32>;
@group(0) @binding(3) var<storage, read_write> logits: array<f32>;

@compute @workgroup_size(256)
fn add_bias(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let v = wg.x * 256u + lid;
  if (v < p.V) { logits[slots[p.first + wg.y] * p.V + v] += c[v]; }
}
#elif ${BIAS_GRAD}
@group(0) @binding(2) var<storage, read> dlogits: array<f32>;
@group(0) @binding(3) var<storage, read_write> dc: array<f32>;

@compute @workgroup_size(256)
fn bias_grad(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let v = wg.x * 256u + lid;
  if (v >= p.V) { return; }
  var sum = 0.0;
  for (var i = 0u; i < p.count; i++) { sum += dlogits[slots[p.first + i] * p.V + v]; }
  dc[v] = sum;
}
#elif ${DELTA_LOGITS}
@group(0) @binding(2) var<storage, read> z: array<f32>;
@group(0) @binding(3) var<storage, read> delta: array<f32>;
@group(0) @binding(4) var<storage, read_write> logits: array<f32>;
#if ${SUBGROUPS}
const SG_SLOTS = ${SG_SLOTS}u;
const LANES = ${LANES}u;

@compute @workgroup_size(${WG})
fn delta_logits(@builtin(global_invocation_id) gid: vec3u, @builtin(subgroup_invocation_id) sgi: u32) {
  let n = gid.x;
  let row = min(n, p.vCount - 1u) * p.d; // spare invocations compute a copy of the last row, unstored
  let lane = sgi % LANES;
  for (var s0 = 0u; s0 < p.count; s0 += SG_SLOTS) {
    var acc: array<f32, SG_SLOTS>;
    var zRow: array<u32, SG_SLOTS>;
    for (var i = 0u; i < SG_SLOTS; i++) {
      acc[i] = 0.0;
      zRow[i] = slots[p.first + min(s0 + i, p.count - 1u)] * p.d;
    }
    for (var k0 = 0u; k0 < p.d; k0 += LANES) {
      let k = k0 + lane;
      var zl: array<f32, SG_SLOTS>;
      for (var i = 0u; i < SG_SLOTS; i++) { zl[i] = select(0.0, z[zRow[i] + min(k, p.d - 1u)], k < p.d); }
      for (var j = 0u; j < LANES; j++) {
        let u = delta[row + min(k0 + j, p.d - 1u)];
        for (var i = 0u; i < SG_SLOTS; i++) { acc[i] = fma(subgroupShuffle(zl[i], j), u, acc[i]); }
      }
    }
    if (n < p.vCount) {
      for (var i = 0u; i < SG_SLOTS; i++) {
        if (s0 + i < p.count) { logits[slots[p.first + s0 + i] * p.V + p.vBase + n] += acc[i]; }
      }
    }
  }
}
#else
var<workgroup> Ds: array<array<f32, 65>, 32>; // [k][n]
var<workgroup> Zs: array<array<f32, 32>, 16>; // [slot][k]

@compute @workgroup_size(256)
fn delta_logits(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let s0 = wg.x * SLOTS;
  let n0 = wg.y * COLS;
  let col = lid % 64u;
  let sg = lid / 64u; // this thread's slots: sg, sg + 4, sg + 8, sg + 12
  var acc = array<f32, 4>();
  for (var k0 = 0u; k0 < p.d; k0 += 32u) {
    for (var e = lid; e < 64u * 32u; e += 256u) {
      let nn = e / 32u;
      let kk = e % 32u;
      var v = 0.0;
      if (n0 + nn < p.vCount && k0 + kk < p.d) { v = delta[(n0 + nn) * p.d + k0 + kk]; }
      Ds[kk][nn] = v;
    }
    for (var e = lid; e < 16u * 32u; e += 256u) {
      let mm = e / 32u;
      let kk = e % 32u;
      var v = 0.0;
      if (s0 + mm < p.count && k0 + kk < p.d) { v = z[slots[p.first + s0 + mm] * p.d + k0 + kk]; }
      Zs[mm][kk] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 32u; kk++) {
      let b = Ds[kk][col];
      for (var i = 0u; i < 4u; i++) { acc[i] = fma(Zs[sg + 4u * i][kk], b, acc[i]); }
    }
    workgroupBarrier();
  }
  if (n0 + col < p.vCount) {
    for (var i = 0u; i < 4u; i++) {
      let m = s0 + sg + 4u * i;
      if (m < p.count) { logits[slots[p.first + m] * p.V + p.vBase + n0 + col] += acc[i]; }
    }
  }
}
#endif
#elif ${DELTA_DZ}
@group(0) @binding(2) var<storage, read> dlogits: array<f32>;
@group(0) @binding(3) var<storage, read> delta: array<f32>;
@group(0) @binding(4) var<storage, read_write> dz: array<f32>;
#if ${SUBGROUPS}
const SG_SLOTS = ${SG_SLOTS}u;
const LANES = ${LANES}u;

@compute @workgroup_size(${WG})
fn delta_dz(@builtin(global_invocation_id) gid: vec3u, @builtin(subgroup_invocation_id) sgi: u32) {
  let k = gid.x;
  let col = min(k, p.d - 1u); // spare invocations compute a copy of the last column, unstored
  let lane = sgi % LANES;
  for (var s0 = 0u; s0 < p.count; s0 += SG_SLOTS) {
    var acc: array<f32, SG_SLOTS>;
    var lRow: array<u32, SG_SLOTS>;
    for (var i = 0u; i < SG_SLOTS; i++) {
      acc[i] = 0.0;
      lRow[i] = slots[p.first + min(s0 + i, p.count - 1u)] * p.V + p.vBase;
    }
    for (var n0 = 0u; n0 < p.vCount; n0 += LANES) {
      let n = n0 + lane;
      var l: array<f32, SG_SLOTS>;
      for (var i = 0u; i < SG_SLOTS; i++) { l[i] = select(0.0, dlogits[lRow[i] + min(n, p.vCount - 1u)], n < p.vCount); }
      for (var j = 0u; j < LANES; j++) {
        let u = delta[min(n0 + j, p.vCount - 1u) * p.d + col];
        for (var i = 0u; i < SG_SLOTS; i++) { acc[i] = fma(subgroupShuffle(l[i], j), u, acc[i]); }
      }
    }
    if (k < p.d) {
      for (var i = 0u; i < SG_SLOTS; i++) {
        if (s0 + i < p.count) { dz[slots[p.first + s0 + i] * p.d + k] += acc[i]; }
      }
    }
  }
}
#else
var<workgroup> Ds: array<array<f32, 65>, 32>; // [n][k]
var<workgroup> Gs: array<array<f32, 32>, 16>; // [slot][n]

@compute @workgroup_size(256)
fn delta_dz(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let s0 = wg.x * SLOTS;
  let k0 = wg.y * COLS;
  let col = lid % 64u;
  let sg = lid / 64u;
  var acc = array<f32, 4>();
  for (var n0 = 0u; n0 < p.vCount; n0 += 32u) {
    for (var e = lid; e < 32u * 64u; e += 256u) {
      let nn = e / 64u;
      let kk = e % 64u;
      var v = 0.0;
      if (n0 + nn < p.vCount && k0 + kk < p.d) { v = delta[(n0 + nn) * p.d + k0 + kk]; }
      Ds[nn][kk] = v;
    }
    for (var e = lid; e < 16u * 32u; e += 256u) {
      let mm = e / 32u;
      let nn = e % 32u;
      var v = 0.0;
      if (s0 + mm < p.count && n0 + nn < p.vCount) { v = dlogits[slots[p.first + s0 + mm] * p.V + p.vBase + n0 + nn]; }
      Gs[mm][nn] = v;
    }
    workgroupBarrier();
    for (var nn = 0u; nn < 32u; nn++) {
      let b = Ds[nn][col];
      for (var i = 0u; i < 4u; i++) { acc[i] = fma(Gs[sg + 4u * i][nn], b, acc[i]); }
    }
    workgroupBarrier();
  }
  if (k0 + col < p.d) {
    for (var i = 0u; i < 4u; i++) {
      let m = s0 + sg + 4u * i;
      if (m < p.count) { dz[slots[p.first + m] * p.d + k0 + col] += acc[i]; }
    }
  }
}
#endif
#else
@group(0) @binding(2) var<storage, read> dlogits: array<f32>;
@group(0) @binding(3) var<storage, read> z: array<f32>;
@group(0) @binding(4) var<storage, read_write> dDelta: array<f32>;
var<workgroup> gs: array<array<f32, 64>, 16>; // [slot][n]
var<workgroup> zs: array<array<f32, 64>, 16>; // [slot][k]

@compute @workgroup_size(256)
fn delta_grad(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let k0 = wg.x * COLS;
  let n0 = wg.y * COLS;
  let tn = (lid / 16u) * 4u;
  let tk = (lid % 16u) * 4u;
  var acc: array<vec4f, 4>; // acc[i][j]: n = n0 + tn + i, k = k0 + tk + j
  for (var s0 = 0u; s0 < p.count; s0 += 16u) {
    for (var e = lid; e < 16u * 64u; e += 256u) {
      let ss = e / 64u;
      let cc = e % 64u;
      var a = 0.0;
      var b = 0.0;
      if (s0 + ss < p.count) {
        let slot = slots[p.first + s0 + ss];
        if (n0 + cc < p.vCount) { a = dlogits[slot * p.V + p.vBase + n0 + cc]; }
        if (k0 + cc < p.d) { b = z[slot * p.d + k0 + cc]; }
      }
      gs[ss][cc] = a;
      zs[ss][cc] = b;
    }
    workgroupBarrier();
    for (var ss = 0u; ss < 16u; ss++) {
      let a = vec4f(gs[ss][tn], gs[ss][tn + 1u], gs[ss][tn + 2u], gs[ss][tn + 3u]);
      let b = vec4f(zs[ss][tk], zs[ss][tk + 1u], zs[ss][tk + 2u], zs[ss][tk + 3u]);
      for (var i = 0u; i < 4u; i++) { acc[i] = fma(vec4f(a[i]), b, acc[i]); }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let n = n0 + tn + i;
    if (n >= p.vCount) { break; }
    for (var j = 0u; j < 4u; j++) {
      let k = k0 + tk + j;
      if (k < p.d) { dDelta[n * p.d + k] = acc[i][j]; }
    }
  }
}
#endif
