// Conditioning embeddings.
//   timestep_features: out[n, k] for t[n] (float timesteps), dim = D features, half = D/2:
//     VARIANT 0 (official DiT): f_k = exp(-ln(10000) k / half), out = [cos(t f), sin(t f)] (+0 if D odd)
//     VARIANT 1 (seed):         f_k = exp(-ln(10000) k / (half - 1)), out = [sin(t f), cos(t f)]
//   embedding_forward:  out[n, d] = table[ids[n], d]
//   embedding_backward: dtable[r, d] (+)= sum over n with ids[n] = r of dy[n, d] (one invocation per (r, d))
// Bindings: 0 src (t, or table, or dy), 1 ids (u32), 2 out, 3 params. Dispatch: grid over outputs.

struct Params { N: u32, D: u32, rows: u32, stride: u32 }

override VARIANT: u32 = 0u;
override ACCUMULATE: bool = false;

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> P: Params;

const LN_10000: f32 = 9.210340371976184;

// sin/cos after Cody-Waite reduction by 2*pi (split into an exactly representable head and a
// tail): arguments reach ~1000 rad, where GPU sin/cos lose accuracy without it.
fn reduce(x: f32) -> f32 {
  let k = round(x * 0.15915494309189535);
  return (x - k * 6.28125) - k * 0.0019353071795864769;
}

@compute @workgroup_size(64)
fn timestep_features(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x + g.y * P.stride;
  if (i >= P.N * P.D) { return; }
  let n = i / P.D;
  let k = i % P.D;
  let half = P.D / 2u;
  let t = src[n];
  if (k >= 2u * half) {
    out[i] = 0.0;
    return;
  }
  let kk = k % half;
  var v = 0.0;
  if (VARIANT == 0u) {
    let arg = t * exp(-LN_10000 * f32(kk) / f32(half));
    let r = reduce(arg);
    v = select(sin(r), cos(r), k < half);
  } else {
    let arg = t * exp(-LN_10000 * f32(kk) / f32(half - 1u));
    let r = reduce(arg);
    v = select(cos(r), sin(r), k < half);
  }
  out[i] = v;
}

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
