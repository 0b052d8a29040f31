// position_unembed: the position-specific vocabulary bias c_p of the unembedding,
//   add_bias:   logits[s, v] += c_{q(s)}[v]                       (q(s): the slot's position)
//   bias_grad:  dc_q[v] = Σ_{s : q(s) = q} dlogits[s, v]           (for the positions present)
// Layout: logits, dlogits [rows, V] f32; per position q a parameter block of `stride` f32 at
//   q·stride holding c_q [V] at `biasOffset` (after ΔU_q [V, d] in the full mode);
//   slotPosition [rows] u32; positionSlots [rows] u32 (the slots ordered by position) and
//   ranges (position, first, count, 0) over it, one per present position.
// Idea: one thread per vocabulary entry; the gradient sums a position's slots in slot order,
//   so it is deterministic, and absent positions' blocks are never written.
// Launch: workgroup 256; add_bias: dispatch (ceil(V / 256), rows);
//         bias_grad: dispatch (ceil(V / 256), present positions).

struct Params { V: u32, stride: u32, biasOffset: u32, pad: u32 }
struct Range { position: u32, first: u32, count: u32, pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
#if ${ADD}
@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read> slotPosition: array<u32>;
@group(0) @binding(3) var<storage, read_write> logits: array<f32>;

@compute @workgroup_size(256)
fn add_bias(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let v = wg.x * 256u + lid;
  if (v >= p.V) { return; }
  let s = wg.y;
  logits[s * p.V + v] += params[slotPosition[s] * p.stride + p.biasOffset + v];
}
#else
@group(0) @binding(1) var<storage, read> dlogits: array<f32>;
@group(0) @binding(2) var<storage, read> positionSlots: array<u32>;
@group(0) @binding(3) var<storage, read> ranges: array<Range>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;

@compute @workgroup_size(256)
fn bias_grad(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let v = wg.x * 256u + lid;
  if (v >= p.V) { return; }
  let r = ranges[wg.y];
  var sum = 0.0;
  for (var i = 0u; i < r.count; i++) { sum += dlogits[positionSlots[r.first + i] * p.V + v]; }
  grad[r.position * p.stride + p.biasOffset + v] = sum;
}
#endif
