// One reverse-diffusion step, in place, from a precomputed coefficient table (see
// src/diffusion/samplers.ts). For every element i of the batch [N, L]:
//   e      = eps[(i / L) * eps_stride + i % L]          (model output; eps_stride >= L lets eps be
//                                                         the first L values of a wider per-sample
//                                                         output, e.g. DiT's learned-sigma channels)
//   x0_new = x0x * (x[i] + q * e), clamped to [-clip, clip] when clip > 0
//   x[i]   = a * x[i] + b * x0_new + c * x0[i] + d * e + s * noise[i]
//   x0[i]  = x0_new
// with (x0x, q, clip, a, b, c, d, s) = table[step] (q = x0e / x0x of the plan row; this form rounds
// like diffusers' (x - sqrt(1 - ab) * eps) / sqrt(ab)). The step index comes from the uniform, so a
// whole trajectory is recorded once (one small uniform per step) and runs with no readback.
//
// Bindings (group 0):
//   0 uniform params: { step: u32, count: u32 (N * L), per_sample: u32 (L), eps_stride: u32 }
//   1 storage, read: table: array<f32> [num_steps * 8]
//   2 storage, read: eps: array<f32> [N * eps_stride]
//   3 storage, read: noise: array<f32> [N * L] (read only when s != 0; bind eps when unused)
//   4 storage, read_write: x: array<f32> [N * L] (x_t in, x_prev out)
//   5 storage, read_write: x0: array<f32> [N * L] (previous step's x0 in, this step's x0 out)
//   6-10: table, eps, noise, x, x0 as vec4s, for main4 (each path's unused bindings get
//   placeholders: a written buffer may be bound only once per dispatch)
// Dispatch: main (min(G, 65535), ceil(G / 65535), 1) with G = ceil(count / WG); main4 (ceil(L / 4
// / WG), N, 1): four elements per invocation and the sample from the grid, so no division per
// element (llvmpipe divides by a uniform lane by lane) and a quarter of the storage accesses (each
// a per-lane loop there). main4 needs L, eps_stride and every binding's offset multiples of 4.

override WG: u32 = 256;

struct Params {
  step: u32,
  count: u32,
  per_sample: u32,
  eps_stride: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<storage, read> eps: array<f32>;
@group(0) @binding(3) var<storage, read> noise: array<f32>;
@group(0) @binding(4) var<storage, read_write> x: array<f32>;
@group(0) @binding(5) var<storage, read_write> x0: array<f32>;
@group(0) @binding(6) var<storage, read> table4: array<vec4f>;
@group(0) @binding(7) var<storage, read> eps4: array<vec4f>;
@group(0) @binding(8) var<storage, read> noise4: array<vec4f>;
@group(0) @binding(9) var<storage, read_write> x4: array<vec4f>;
@group(0) @binding(10) var<storage, read_write> x04: array<vec4f>;

// x0_new ([0]) and x_prev without the c and s terms ([1]) of four elements (main's one, splatted)
// from x_t = xi and the model output e, with the step's row t0 = (x0x, q, clip, a), t1 = (b, c, d,
// s). The callers add the c and s terms, reading x0 and noise only when they are used.
fn update(xi: vec4f, e: vec4f, t0: vec4f, t1: vec4f) -> mat2x4f {
  var p = t0.x * (xi + t0.y * e);
  if (t0.z > 0.0) {
    p = clamp(p, vec4f(-t0.z), vec4f(t0.z));
  }
  return mat2x4f(p, t0.w * xi + t1.x * p + t1.z * e);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.count) {
    return;
  }
  let r = params.step * 8u;
  let t0 = vec4f(table[r], table[r + 1u], table[r + 2u], table[r + 3u]);
  let t1 = vec4f(table[r + 4u], table[r + 5u], table[r + 6u], table[r + 7u]);
  let L = params.per_sample;
  let e = eps[(i / L) * params.eps_stride + i % L];
  let u = update(vec4f(x[i]), vec4f(e), t0, t1);
  var v = u[1].x;
  if (t1.y != 0.0) {
    v += t1.y * x0[i];
  }
  if (t1.w != 0.0) {
    v += t1.w * noise[i];
  }
  x[i] = v;
  x0[i] = u[0].x;
}

// main, four elements at a time, with the same arithmetic in the same order per element.
@compute @workgroup_size(WG)
fn main4(@builtin(global_invocation_id) gid: vec3<u32>) {
  let L4 = params.per_sample / 4u;
  let j = gid.x;
  if (j >= L4) {
    return;
  }
  let n = gid.y;
  let i = n * L4 + j;
  let r = params.step * 2u;
  let t0 = table4[r];
  let t1 = table4[r + 1u];
  let u = update(x4[i], eps4[n * (params.eps_stride / 4u) + j], t0, t1);
  var v = u[1];
  if (t1.y != 0.0) {
    v += t1.y * x04[i];
  }
  if (t1.w != 0.0) {
    v += t1.w * noise4[i];
  }
  x4[i] = v;
  x04[i] = u[0];
}
