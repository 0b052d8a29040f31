// unembed_logits: logits[s, vBase + v] = Σ_k z[s, k] · U[v, k], the frozen unembedding's forward
// with subgroup operations (the variant for adapters with the `subgroups` feature; matmul_nt is
// the plain one).
//
// Layout
//   z       [M, K] f32 row-major (the normed hidden states).
//   U       [N, K] rows of the vocabulary window bound for this dispatch; f32, or with U_F16 f16
//           packed two per u32 (K even).
//   logits  [M, cStride] f32; this dispatch writes columns [vBase, vBase + N).
// Idea: each invocation owns one vocabulary row v and SLOTS batch rows at a time; the only
//   operand that differs between invocations is U[v, ·], read once per SLOTS rows. z, the same
//   for all of them, is read cooperatively: for a block of LANES k (8, or the adapter's smallest
//   subgroup where that is smaller), lane i of the subgroup loads z[s, k0 + i] and
//   subgroupShuffle hands it to every lane, so each lane loads one z element per LANES FMAs
//   instead of one per FMA (on a CPU driver every lane's load is a scalar load). Lanes LANES
//   and up repeat the first lanes' loads; the sum runs over k in order whatever LANES is. Past
//   K (a last, partial block) z reads as 0.
// Launch: workgroup WG (a multiple of the subgroup size); dispatch (ceil(N / WG)).

enable subgroups;

const SLOTS = ${SLOTS}u;
const LANES = ${LANES}u;

struct Params { M: u32, N: u32, K: u32, vBase: u32, cStride: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> z: array<f32>;
#if ${U_F16}
@group(0) @binding(2) var<storage, read> U: array<u32>;
#else
@group(0) @binding(2) var<storage, read> U: array<f32>;
#endif
@group(0) @binding(3) var<storage, read_write> logits: array<f32>;

/** U[row, k0 .. k0 + LANES − 1]: k beyond K reads whatever follows; its z is 0. */
fn loadU(row: u32, k0: u32) -> array<f32, LANES> {
  var u: array<f32, LANES>;
#if ${U_F16}
  let base = (row * p.K + k0) >> 1u;
  let last = arrayLength(&U) - 1u;
  for (var j = 0u; j < LANES / 2u; j++) {
    let pair = unpack2x16float(U[min(base + j, last)]);
    u[2u * j] = pair.x;
    u[2u * j + 1u] = pair.y;
  }
#else
  let base = row * p.K + k0;
  let last = arrayLength(&U) - 1u;
  for (var j = 0u; j < LANES; j++) { u[j] = U[min(base + j, last)]; }
#endif
  return u;
}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(subgroup_invocation_id) sgi: u32) {
  let v = gid.x;
  let row = min(v, p.N - 1u); // spare invocations compute a copy of the last row, unstored
  let lane = sgi % LANES;
  for (var s0 = 0u; s0 < p.M; s0 += SLOTS) {
    // Zeroed explicitly: lavapipe was seen to keep a loop-local array's values between iterations.
    var acc: array<f32, SLOTS>;
    var zRow: array<u32, SLOTS>;
    for (var i = 0u; i < SLOTS; i++) {
      acc[i] = 0.0;
      zRow[i] = min(s0 + i, p.M - 1u) * p.K;
    }
    for (var k0 = 0u; k0 < p.K; k0 += LANES) {
      let k = k0 + lane;
      var zl: array<f32, SLOTS>;
      for (var i = 0u; i < SLOTS; i++) { zl[i] = select(0.0, z[zRow[i] + min(k, p.K - 1u)], k < p.K); }
      let u = loadU(row, k0);
      for (var j = 0u; j < LANES; j++) {
        for (var i = 0u; i < SLOTS; i++) { acc[i] = fma(subgroupShuffle(zl[i], j), u[j], acc[i]); }
      }
    }
    if (v < p.N) {
      for (var i = 0u; i < SLOTS; i++) {
        if (s0 + i < p.M) { logits[(s0 + i) * p.cStride + p.vBase + v] = acc[i]; }
      }
    }
  }
}
