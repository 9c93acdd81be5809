// Label embeddings (the timestep features are kernels/timestep_features.wgsl).
//   embedding_forward:  out[n, d] = table[ids[n], d]
//   embedding_backward: dtable[r, d] (+)= sum over n with ids[n] = r of dy[n, d] (one invocation per (r, d))
// Bindings: 0 src (table, or dy), 1 ids (u32), 2 out, 3 params. Dispatch: grid over outputs.

struct Params { N: u32, D: u32, rows: u32, stride: u32 }

override ACCUMULATE: bool = false;

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> P: Params;

@compute @workgroup_size(64)
fn embedding_forward(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x + g.y * P.stride;
  if (i >= P.N * P.D) { return; }
  let n = i / P.D;
  out[i] = src[min(ids[n], P.rows - 1u) * P.D + i % P.D];
}

@compute @workgroup_size(64)
fn embedding_backward(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x + g.y * P.stride;
  if (i >= P.rows * P.D) { return; }
  let r = i / P.D;
  let d = i % P.D;
  var s = 0.0;
  for (var n = 0u; n < P.N; n++) {
    if (ids[n] == r) { s += src[n * P.D + d]; }
  }
  if (ACCUMULATE) { out[i] += s; } else { out[i] = s; }
}
