// LayerNorm without affine (eps inside the sqrt, biased variance) fused with adaLN modulation:
//   y[r, c] = (x[r, c] - mean[r]) * rstd[r] * (1 + scale[b, c]) + shift[b, c],  b = r / T,
// where shift/scale are columns of the modulation matrix mod [B, modStride] at shiftOff/scaleOff.
// One invocation per row (rows are short: C <= a few thousand).
//   ln_forward:          x -> y, mean, rstd
//   ln_backward:         dx (+)= rstd * (dxh - mean(dxh) - xhat * mean(dxh * xhat)), dxh = dy * (1 + scale)
//   ln_backward_mod:     dmod[b, shiftOff + c] = sum_t dy, dmod[b, scaleOff + c] = sum_t dy * xhat
// Bindings: 0 x, 1 mod, 2 dy, 3 mean, 4 rstd, 5 out (y, dx or dmod), 6 params.

struct Params {
  R: u32, C: u32, T: u32, modStride: u32,
  shiftOff: u32, scaleOff: u32, stride: u32, _p: u32,
  eps: f32, _f0: f32, _f1: f32, _f2: f32,
}

override ACCUMULATE: bool = false;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> mod_: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> mean: array<f32>;
@group(0) @binding(4) var<storage, read_write> rstd: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<uniform> P: Params;

@compute @workgroup_size(64)
fn ln_forward(@builtin(global_invocation_id) g: vec3u) {
  let r = g.x + g.y * P.stride;
  // Uniforms into registers first: after a store the compiler must reload them.
  let C = P.C;
  if (r >= P.R) { return; }
  let base = r * C;
  var s = 0.0;
  for (var c = 0u; c < C; c++) { s += x[base + c]; }
  let mu = s / f32(C);
  var v = 0.0;
  for (var c = 0u; c < C; c++) {
    let d = x[base + c] - mu;
    v += d * d;
  }
  let rs = inverseSqrt(v / f32(C) + P.eps);
  let mb = (r / P.T) * P.modStride;
  let scale = mb + P.scaleOff;
  let shift = mb + P.shiftOff;
  mean[r] = mu;
  rstd[r] = rs;
  for (var c = 0u; c < C; c++) {
    let xh = (x[base + c] - mu) * rs;
    out[base + c] = xh * (1.0 + mod_[scale + c]) + mod_[shift + c];
  }
}

@compute @workgroup_size(64)
fn ln_backward(@builtin(global_invocation_id) g: vec3u) {
  let r = g.x + g.y * P.stride;
  let C = P.C;
  if (r >= P.R) { return; }
  let base = r * C;
  let mu = mean[r];
  let rs = rstd[r];
  let mb = (r / P.T) * P.modStride + P.scaleOff;
  var s1 = 0.0;
  var s2 = 0.0;
  for (var c = 0u; c < C; c++) {
    let dxh = dy[base + c] * (1.0 + mod_[mb + c]);
    s1 += dxh;
    s2 += dxh * (x[base + c] - mu) * rs;
  }
  s1 /= f32(C);
  s2 /= f32(C);
  for (var c = 0u; c < C; c++) {
    let xh = (x[base + c] - mu) * rs;
    let v = rs * (dy[base + c] * (1.0 + mod_[mb + c]) - s1 - xh * s2);
    if (ACCUMULATE) { out[base + c] += v; } else { out[base + c] = v; }
  }
}

// One invocation per (b, c): B*C invocations.
@compute @workgroup_size(64)
fn ln_backward_mod(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x + g.y * P.stride;
  let B = P.R / P.T;
  if (i >= B * P.C) { return; }
  let b = i / P.C;
  let c = i % P.C;
  var ds = 0.0;
  var dsc = 0.0;
  for (var t = 0u; t < P.T; t++) {
    let r = b * P.T + t;
    let d = dy[r * P.C + c];
    ds += d;
    dsc += d * (x[r * P.C + c] - mean[r]) * rstd[r];
  }
  out[b * P.modStride + P.shiftOff + c] = ds;
  out[b * P.modStride + P.scaleOff + c] = dsc;
}
