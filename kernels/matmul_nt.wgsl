// matmul_nt: C[s, n] = Σ_k A[s, k] · B[g, n, k] for the batch slots s of a tile whose group is g;
// with RESIDUAL_BIAS also C[s, n] = A[s, n] + (Σ_k … + bias[g, n]), the translator
// y = x + (W x + b). Without groups (groupStride 0) it is the unembedding logits = z Uᵀ.
//
// Layout
//   A      [M, K] f32 row-major: batch slots, sorted so that the slots of one tile share a group.
//   B      per group a block of `groupStride` elements at (g − groupBase)·groupStride: an [N, K]
//          row-major matrix (nn.Linear weight [out, in], or U [V, d]), then with RESIDUAL_BIAS
//          the bias [N] at offset N·K. f32, or with B_F16 f16 packed two per u32.
//   tiles  tiles[tileBase + t] = (group, first slot, slot count ≤ TM).
//   C      [M, cStride] f32; this dispatch writes columns [nBase, nBase + N).
// Idea: a workgroup owns TM slots × 64 outputs and streams its group's B rows through
//   workgroup memory 32 columns at a time, so B, the big operand, is read once per tile of
//   slots instead of once per slot. Each thread accumulates TM/4 rows of one output column.
// Launch: workgroup 256; dispatch (tiles, ceil(N / 64)).

const TM = ${TM}u;
const TN = ${TN}u;
const TK = ${TK}u;
const RPT = TM / 4u; // rows per thread

struct Params {
  M: u32, N: u32, K: u32, groupStride: u32,
  groupBase: u32, nBase: u32, cStride: u32, tileBase: u32,
}
struct Tile { group: u32, first: u32, count: u32, pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<f32>;
#if ${B_F16}
@group(0) @binding(2) var<storage, read> B: array<u32>;
fn loadB(i: u32) -> f32 {
  let pair = unpack2x16float(B[i >> 1u]);
  return select(pair.x, pair.y, (i & 1u) == 1u);
}
#else
@group(0) @binding(2) var<storage, read> B: array<f32>;
fn loadB(i: u32) -> f32 { return B[i]; }
#endif
@group(0) @binding(3) var<storage, read> tiles: array<Tile>;
@group(0) @binding(4) var<storage, read_write> C: array<f32>;

var<workgroup> As: array<array<f32, TK>, TM>;
var<workgroup> Bs: array<array<f32, 65>, TK>; // [k][n], padded against bank conflicts

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let tile = tiles[p.tileBase + wg.x];
  let n0 = wg.y * TN;
  let bBase = (tile.group - p.groupBase) * p.groupStride;
  let col = lid % TN;
  let rowGroup = lid / TN;
  var acc: array<f32, RPT>;

  for (var k0 = 0u; k0 < p.K; k0 += TK) {
    for (var e = lid; e < TN * TK; e += 256u) {
      let nn = e / TK;
      let kk = e % TK;
      var v = 0.0;
      if (n0 + nn < p.N && k0 + kk < p.K) { v = loadB(bBase + (n0 + nn) * p.K + k0 + kk); }
      Bs[kk][nn] = v;
    }
    for (var e = lid; e < TM * TK; e += 256u) {
      let mm = e / TK;
      let kk = e % TK;
      var v = 0.0;
      if (mm < tile.count && k0 + kk < p.K) { v = A[(tile.first + mm) * p.K + k0 + kk]; }
      As[mm][kk] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk++) {
      let b = Bs[kk][col];
      for (var i = 0u; i < RPT; i++) {
        acc[i] = fma(As[rowGroup + 4u * i][kk], b, acc[i]);
      }
    }
    workgroupBarrier();
  }

  let n = n0 + col;
  if (n >= p.N) { return; }
  for (var i = 0u; i < RPT; i++) {
    let m = rowGroup + 4u * i;
    if (m < tile.count) {
      let s = tile.first + m;
      var v = acc[i];
#if ${RESIDUAL_BIAS}
      v = A[s * p.K + n] + (v + loadB(bBase + p.N * p.K + n));
#endif
      C[s * p.cStride + p.nBase + n] = v;
    }
  }
}
