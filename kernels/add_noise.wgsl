// Forward diffusion for training (diffusers add_noise): for sample n and element i of [N, L],
//   out[n, i] = sqrt(ab[t_n]) * x0[n, i] + sqrt(1 - ab[t_n]) * noise[n, i]
// with the per-sample timestep t_n read from a buffer (so a training step's timesteps can be
// sampled or uploaded without re-recording) and (sqrt(ab_t), sqrt(1 - ab_t)) from a table.
//
// Bindings (group 0):
//   0 uniform params: { count: u32 (N * L), per_sample: u32 (L), _, _ }
//   1 storage, read: table: array<vec2<f32>> [T] = (sqrt(ab_t), sqrt(1 - ab_t))
//   2 storage, read: t: array<u32> [N] (clamped to T - 1)
//   3 storage, read: x0: array<f32> [N * L]
//   4 storage, read: noise: array<f32> [N * L]
//   5 storage, read_write: out: array<f32> [N * L] (may not alias x0 or noise)
// Dispatch: (min(G, 65535), ceil(G / 65535), 1) with G = ceil(count / WG).

override WG: u32 = 256;

struct Params {
  count: u32,
  per_sample: u32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> table: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> t: array<u32>;
@group(0) @binding(3) var<storage, read> x0: array<f32>;
@group(0) @binding(4) var<storage, read> noise: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.count) {
    return;
  }
  let ts = min(t[i / params.per_sample], arrayLength(&table) - 1u);
  let k = table[ts];
  out[i] = k.x * x0[i] + k.y * noise[i];
}
