// topk: for each row, its targets' ranks and the K best token ids.
//   rank[s]     = #{v : l[s, v] > l[s, t_0]}, the first target's rank (top-k metrics: the
//                 target is in the top k iff rank < k);
//   anyRank[s]  = the smallest rank among the row's T targets with positive weight (any-k
//                 metrics). Padding (−1) and ids outside [0, V) rank 0xffffffff.
//   ids[s, 0..K) = the ids of the K largest logits, best first; equal logits: lower id first.
// Layout: logits [rows, V] f32; targets, weights [rows, T] i32, f32; rank, anyRank [rows]
//   u32; ids [rows, K] u32.
// Idea: one workgroup per row. Each thread keeps a sorted top-K of its strided slice in
//   registers; K rounds of a workgroup argmax over the 256 list heads pop the row's best,
//   and the thread that owned it advances its head. Each thread counts the logits above
//   every target; the counts meet in workgroup atomics.
//   With SUBGROUPS (adapters with the `subgroups` feature) a row is one subgroup's: the
//   workgroup is one subgroup (WG, the adapter's smallest), so the counts meet in subgroupAdd
//   and each of the K rounds is a subgroupMax and a subgroupMin, with no barrier and no
//   workgroup memory (on a CPU driver a barrier switches between a workgroup's vectors).
// Launch: workgroup 256 (with SUBGROUPS WG); dispatch (rows).

#if ${SUBGROUPS}
enable subgroups;
#endif

const K = ${K}u;
const T = ${T}u;
const NONE = 0xffffffffu;

struct Params { V: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<i32>;
@group(0) @binding(3) var<storage, read> weights: array<f32>;
@group(0) @binding(4) var<storage, read_write> rank: array<u32>;
@group(0) @binding(5) var<storage, read_write> ids: array<u32>;
@group(0) @binding(6) var<storage, read_write> anyRank: array<u32>;

// (va, ia) ranks before (vb, ib): larger logit, or the same logit and a lower id.
fn before(va: f32, ia: u32, vb: f32, ib: u32) -> bool {
  return va > vb || (va == vb && ia < ib);
}

// Inserts (x, v) into the sorted list (bv, bi) of the K best seen so far, if it ranks there.
// Called with ascending ids: an equal logit seen later has a higher id and ranks after.
fn keep(bv: ptr<function, array<f32, K>>, bi: ptr<function, array<u32, K>>, x: f32, v: u32) {
  if (before(x, v, (*bv)[K - 1u], (*bi)[K - 1u])) {
    var j = K - 1u;
    while (j > 0u && before(x, v, (*bv)[j - 1u], (*bi)[j - 1u])) {
      (*bv)[j] = (*bv)[j - 1u];
      (*bi)[j] = (*bi)[j - 1u];
      j--;
    }
    (*bv)[j] = x;
    (*bi)[j] = v;
  }
}

#if ${SUBGROUPS}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wg.x * p.V;
  var targetLogit: array<f32, T>;
  var mine: array<u32, T>;
  for (var j = 0u; j < T; j++) {
    let t = targets[wg.x * T + j];
    // A padding target's logit is +max: nothing counts above it.
    targetLogit[j] = select(0x1.fffffep+127f, logits[row + u32(max(t, 0))], t >= 0 && u32(t) < p.V);
    mine[j] = 0u;
  }
  var bv: array<f32, K>;
  var bi: array<u32, K>;
  for (var j = 0u; j < K; j++) { bv[j] = -0x1.fffffep+127f; bi[j] = NONE; }
  for (var v = lid; v < p.V; v += ${WG}u) {
    let x = logits[row + v];
    for (var j = 0u; j < T; j++) {
      if (x > targetLogit[j]) { mine[j]++; }
    }
    keep(&bv, &bi, x, v);
  }

  var best = NONE;
  for (var j = 0u; j < T; j++) {
    let t = targets[wg.x * T + j];
    let r = select(NONE, subgroupAdd(mine[j]), t >= 0 && u32(t) < p.V);
    if (j == 0u && lid == 0u) { rank[wg.x] = r; }
    if (weights[wg.x * T + j] > 0.0 && r < best) { best = r; }
  }
  if (lid == 0u) { anyRank[wg.x] = best; }

  // K rounds: the best list head of the subgroup, ties to the lower id; its owner advances.
  var head = 0u;
  for (var r = 0u; r < K; r++) {
    var hv = -0x1.fffffep+127f;
    var hi = NONE;
    if (head < K) { hv = bv[head]; hi = bi[head]; }
    let top = subgroupMax(hv);
    let id = subgroupMin(select(NONE, hi, hv == top));
    if (lid == 0u) { ids[wg.x * K + r] = id; }
    if (head < K && hi == id) { head++; }
  }
}
#else
var<workgroup> hv: array<f32, 256>;
var<workgroup> hi: array<u32, 256>;
var<workgroup> above: array<atomic<u32>, T>;
var<workgroup> targetLogit: array<f32, T>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wg.x * p.V;
  for (var j = lid; j < T; j += 256u) {
    let t = targets[wg.x * T + j];
    // A padding target's logit is +max: nothing counts above it.
    targetLogit[j] = select(0x1.fffffep+127f, logits[row + u32(max(t, 0))], t >= 0 && u32(t) < p.V);
    atomicStore(&above[j], 0u);
  }
  workgroupBarrier();

  var bv: array<f32, K>;
  var bi: array<u32, K>;
  for (var j = 0u; j < K; j++) { bv[j] = -0x1.fffffep+127f; bi[j] = NONE; }
  var mine = array<u32, T>();
  for (var v = lid; v < p.V; v += 256u) {
    let x = logits[row + v];
    for (var j = 0u; j < T; j++) {
      if (x > targetLogit[j]) { mine[j]++; }
    }
    keep(&bv, &bi, x, v);
  }

  for (var j = 0u; j < T; j++) {
    if (mine[j] > 0u) { atomicAdd(&above[j], mine[j]); }
  }
  workgroupBarrier();
  if (lid == 0u) {
    var best = NONE;
    for (var j = 0u; j < T; j++) {
      let t = targets[wg.x * T + j];
      let r = select(NONE, atomicLoad(&above[j]), t >= 0 && u32(t) < p.V);
      if (j == 0u) { rank[wg.x] = r; }
      if (weights[wg.x * T + j] > 0.0 && r < best) { best = r; }
    }
    anyRank[wg.x] = best;
  }

  var head = 0u;
  for (var r = 0u; r < K; r++) {
    if (head < K) { hv[lid] = bv[head]; hi[lid] = bi[head]; }
    else { hv[lid] = -0x1.fffffep+127f; hi[lid] = NONE; }
    workgroupBarrier();
    for (var stride = 128u; stride > 0u; stride >>= 1u) {
      if (lid < stride && before(hv[lid + stride], hi[lid + stride], hv[lid], hi[lid])) {
        hv[lid] = hv[lid + stride];
        hi[lid] = hi[lid + stride];
      }
      workgroupBarrier();
    }
    let best = hi[0];
    if (lid == 0u) { ids[wg.x * K + r] = best; }
    if (head < K && bi[head] == best) { head++; }
    workgroupBarrier();
  }
}
#endif
