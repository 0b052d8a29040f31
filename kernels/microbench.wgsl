// microbench: the device's own peaks, measured in the same bench run as the kernels they judge.
//   copy: dst[i] = src[i] over vec4<f32>, a grid-stride loop (2 × size bytes moved)
//   fma:  every thread runs `iters` rounds of 8 independent FMA chains (16 flops a round) and
//         writes its sum, so that nothing can be optimised away; the chains as named scalars
//         (SCALAR), two vec4s (VEC4) or a loop-indexed array (ARRAY), whichever this device
//         runs fastest (the bench takes the highest as its peak)
// Layout: src, dst [n] vec4<f32>; out [threads] f32.
// Launch: workgroup 256; copy: dispatch (min(⌈n/256⌉, 65535)); fma: dispatch (groups).

#if ${COPY}
struct Params { n: u32, stride: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4f>;

@compute @workgroup_size(256)
fn copy(@builtin(global_invocation_id) gid: vec3u) {
  for (var i = gid.x; i < p.n; i += p.stride) { dst[i] = src[i]; }
}
#else
struct Params { iters: u32, seed: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn fma_loop(@builtin(global_invocation_id) gid: vec3u) {
  let x = p.seed + f32(gid.x) * 1e-9;
#if ${SCALAR}
  // 8 chains in named scalars.
  var a0 = x; var a1 = x + 1.0; var a2 = x + 2.0; var a3 = x + 3.0;
  var a4 = x + 4.0; var a5 = x + 5.0; var a6 = x + 6.0; var a7 = x + 7.0;
  for (var i = 0u; i < p.iters; i++) {
    a0 = fma(a0, 0.999999, 1e-7); a1 = fma(a1, 0.999999, 1e-7); a2 = fma(a2, 0.999999, 1e-7); a3 = fma(a3, 0.999999, 1e-7);
    a4 = fma(a4, 0.999999, 1e-7); a5 = fma(a5, 0.999999, 1e-7); a6 = fma(a6, 0.999999, 1e-7); a7 = fma(a7, 0.999999, 1e-7);
  }
  out[gid.x] = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
#endif
#if ${VEC4}
  // 8 chains as two vec4s.
  var a = vec4f(x, x + 1.0, x + 2.0, x + 3.0);
  var b = vec4f(x + 4.0, x + 5.0, x + 6.0, x + 7.0);
  for (var i = 0u; i < p.iters; i++) {
    a = fma(a, vec4f(0.999999), vec4f(1e-7));
    b = fma(b, vec4f(0.999999), vec4f(1e-7));
  }
  out[gid.x] = dot(a + b, vec4f(1.0));
#endif
#if ${ARRAY}
  // 8 chains in a loop-indexed array.
  var a = array<f32, 8>(x, x + 1.0, x + 2.0, x + 3.0, x + 4.0, x + 5.0, x + 6.0, x + 7.0);
  for (var i = 0u; i < p.iters; i++) {
    for (var k = 0u; k < 8u; k++) { a[k] = fma(a[k], 0.999999, 1e-7); }
  }
  out[gid.x] = a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
#endif
}
#endif
