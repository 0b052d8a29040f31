// rmsnorm: the frozen final norm of the model and its gradient.
//   forward:  z[s, j] = γ_j · (y[s, j] · r_s),   r_s = 1 / sqrt(mean_j y[s, j]² + eps)
//   backward: with u = dz ⊙ γ,  dy[s, j] = r_s · u_j − (r_s³ / d) · y[s, j] · Σ_k u_k · y[s, k]
//   (γ is frozen: no dγ.)
// Layout: y, z, dz, dy [rows, d] f32; gamma [d] f32; rstd [rows] f32 (r_s, saved by forward).
// Idea: one workgroup per row; a tree reduction in workgroup memory for the row's sum. With
//   SUBGROUPS (adapters with the `subgroups` feature) the workgroup is one subgroup (WG, the
//   adapter's smallest) and the sum is a subgroupAdd: no barrier, no workgroup memory.
// Launch: workgroup WG (256 without SUBGROUPS); dispatch (rows).

#if ${SUBGROUPS}
enable subgroups;
#endif

const WG = ${WG}u;

struct Params { d: u32, eps: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;

#if ${SUBGROUPS}
fn rowSum(lid: u32, mine: f32) -> f32 {
  return subgroupAdd(mine);
}
#else
fn rowSum(lid: u32, mine: f32) -> f32 {
  return workgroupSum256(lid, mine);
}
#endif

#if ${FORWARD}
@group(0) @binding(3) var<storage, read_write> z: array<f32>;
@group(0) @binding(4) var<storage, read_write> rstd: array<f32>;

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wg.x * p.d;
  var sq = 0.0;
  for (var j = lid; j < p.d; j += WG) { let v = y[row + j]; sq = fma(v, v, sq); }
  let r = 1.0 / sqrt(rowSum(lid, sq) / f32(p.d) + p.eps);
  for (var j = lid; j < p.d; j += WG) { z[row + j] = gamma[j] * (y[row + j] * r); }
  if (lid == 0u) { rstd[wg.x] = r; }
}
#else
@group(0) @binding(3) var<storage, read> rstd: array<f32>;
@group(0) @binding(4) var<storage, read> dz: array<f32>;
@group(0) @binding(5) var<storage, read_write> dy: array<f32>;

@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wg.x * p.d;
  let r = rstd[wg.x];
  var uy = 0.0;
  for (var j = lid; j < p.d; j += WG) { uy = fma(dz[row + j] * gamma[j], y[row + j], uy); }
  let c = r * r * r * rowSum(lid, uy) / f32(p.d);
  for (var j = lid; j < p.d; j += WG) {
    dy[row + j] = r * (dz[row + j] * gamma[j]) - c * y[row + j];
  }
}
#endif
