// The VAE posterior (diffusers DiagonalGaussianDistribution) from the quant_conv output, and the
// latent handed to the diffusion model:
//   mean = moments[:, :L], logvar = clamp(moments[:, L:], -30, 20), std = exp(0.5 * logvar),
//   z = ((mean + std * noise) - shift) * scale   (HAS_NOISE), else (mean - shift) * scale.
// moments: NHWC [N, HW, 2L]; noise and every output: NCHW [N, L, HW]. out holds four [N, L, HW]
// planes: mean, logvar, std, z.
// Bindings: 0 moments, 1 noise (a placeholder without HAS_NOISE), 2 out [4, N, L, HW] (rw), 3 params.
// Dispatch: grid over N*L*HW; i = g.x + g.y * stride.

struct Params {
  N: u32, L: u32, HW: u32, stride: u32,
  scale: f32, shift: f32, _f0: f32, _f1: f32,
}

override HAS_NOISE: bool = false;

@group(0) @binding(0) var<storage, read> moments: array<f32>;
@group(0) @binding(1) var<storage, read> noise: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> P: Params;

@compute @workgroup_size(64)
fn posterior(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x + g.y * P.stride;
  let total = P.N * P.L * P.HW;
  if (i >= total) { return; }
  let p = i % P.HW;
  let c = (i / P.HW) % P.L;
  let n = i / (P.HW * P.L);
  let m = (n * P.HW + p) * 2u * P.L;
  let mean = moments[m + c];
  let logvar = clamp(moments[m + P.L + c], -30.0, 20.0);
  let sd = exp(0.5 * logvar);
  var z = mean;
  if (HAS_NOISE) { z = mean + sd * noise[i]; }
  out[i] = mean;
  out[total + i] = logvar;
  out[2u * total + i] = sd;
  out[3u * total + i] = (z - P.shift) * P.scale;
}
