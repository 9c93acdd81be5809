// LayerNorm without affine (eps inside the sqrt, biased variance) fused with adaLN modulation:
//   y[r, c] = (x[r, c] - mean[r]) * rstd[r] * (1 + scale[b, c]) + shift[b, c],  b = r / T,
// where shift/scale are columns of the modulation matrix mod [B, modStride] at shiftOff/scaleOff.
// ln_forward and ln_backward take one invocation per row (rows are short: C <= a few thousand),
// which suits a CPU adapter; the _wg entries take a workgroup of 64 per row, for real GPUs, where
// lanes walking different rows read memory C floats apart (one cache line per lane) and a few
// workgroups would hold the whole batch (the H200 spent a quarter of a DiT forward there).
//   ln_forward(_wg):     x -> y, mean, rstd
//   ln_backward(_wg):    dx (+)= rstd * (dxh - mean(dxh) - xhat * mean(dxh * xhat)), dxh = dy * (1 + scale)
//   ln_backward_mod:     dmod[b, shiftOff + c] = sum_t dy, dmod[b, scaleOff + c] = sum_t dy * xhat
// ln_backward_mod4 sums four columns per invocation through the same bindings (any adapter).
// ln_forward4 / ln_backward4: one invocation per row through the vec4 bindings (C, modStride and
// the offsets multiples of 4, operands 16-byte aligned): llvmpipe runs every storage access as a
// per-lane loop, so a quarter of them is ~3x faster there.
// Bindings: 0 x, 1 mod, 2 dy, 3 mean, 4 rstd, 5 out (y, dx or dmod), 6 params, 7 x4, 8 mod4, 9 dy4,
// 10 out4 (the vec4 views of the same buffers; the unused bindings of a path get placeholders),
// 11 x as a read-only storage texture (X_TEX, ln_forward4r only: texel (c / 4, token within the
// sample), layer = sample, filled by a copy command): llvmpipe's image loads are several times
// cheaper than its storage loads, and the forward reads each row three times.

struct Params {
  R: u32, C: u32, T: u32, modStride: u32,
  shiftOff: u32, scaleOff: u32, stride: u32, _p: u32,
  eps: f32, _f0: f32, _f1: f32, _f2: f32,
}

override ACCUMULATE: bool = false;
override X_TEX: bool = false;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> mod_: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> mean: array<f32>;
@group(0) @binding(4) var<storage, read_write> rstd: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<uniform> P: Params;
@group(0) @binding(7) var<storage, read> x4: array<vec4f>;
@group(0) @binding(8) var<storage, read> mod4: array<vec4f>;
@group(0) @binding(9) var<storage, read> dy4: array<vec4f>;
@group(0) @binding(10) var<storage, read_write> out4: array<vec4f>;
@group(0) @binding(11) var xt: texture_storage_2d_array<rgba32float, read>;

// The row passes, over elements c = first, first + step, ... of the row at `base`: one invocation
// per row walks them all (first 0, step 1); a workgroup per row splits them among its lanes.

fn rowSum(base: u32, C: u32, first: u32, step: u32) -> f32 {
  var s = 0.0;
  for (var c = first; c < C; c += step) { s += x[base + c]; }
  return s;
}

fn rowSquares(base: u32, C: u32, first: u32, step: u32, mu: f32) -> f32 {
  var v = 0.0;
  for (var c = first; c < C; c += step) {
    let d = x[base + c] - mu;
    v += d * d;
  }
  return v;
}

// y = xhat * (1 + scale) + shift, with modulation columns at scale/shift.
fn rowForward(base: u32, C: u32, first: u32, step: u32, mu: f32, rs: f32, scale: u32, shift: u32) {
  for (var c = first; c < C; c += step) {
    let xh = (x[base + c] - mu) * rs;
    out[base + c] = xh * (1.0 + mod_[scale + c]) + mod_[shift + c];
  }
}

// (sum dxh, sum dxh * xhat) with dxh = dy * (1 + scale).
fn rowGradSums(base: u32, C: u32, first: u32, step: u32, mu: f32, rs: f32, scale: u32) -> vec2f {
  var s = vec2f(0.0);
  for (var c = first; c < C; c += step) {
    let dxh = dy[base + c] * (1.0 + mod_[scale + c]);
    s += vec2f(dxh, dxh * (x[base + c] - mu) * rs);
  }
  return s;
}

// dx (+)= rstd * (dxh - mean(dxh) - xhat * mean(dxh * xhat)); `means` holds the two means.
fn rowBackward(base: u32, C: u32, first: u32, step: u32, mu: f32, rs: f32, scale: u32, means: vec2f) {
  for (var c = first; c < C; c += step) {
    let xh = (x[base + c] - mu) * rs;
    let v = rs * (dy[base + c] * (1.0 + mod_[scale + c]) - means.x - xh * means.y);
    if (ACCUMULATE) { out[base + c] += v; } else { out[base + c] = v; }
  }
}

@compute @workgroup_size(64)
fn ln_forward(@builtin(global_invocation_id) g: vec3u) {
  let r = g.x + g.y * P.stride;
  // Uniforms into registers first: after a store the compiler must reload them.
  let C = P.C;
  if (r >= P.R) { return; }
  let base = r * C;
  let mu = rowSum(base, C, 0u, 1u) / f32(C);
  let rs = inverseSqrt(rowSquares(base, C, 0u, 1u, mu) / f32(C) + P.eps);
  let mb = (r / P.T) * P.modStride;
  let scale = mb + P.scaleOff;
  let shift = mb + P.shiftOff;
  mean[r] = mu;
  rstd[r] = rs;
  rowForward(base, C, 0u, 1u, mu, rs, scale, shift);
}

@compute @workgroup_size(64)
fn ln_backward(@builtin(global_invocation_id) g: vec3u) {
  let r = g.x + g.y * P.stride;
  let C = P.C;
  if (r >= P.R) { return; }
  let base = r * C;
  let mu = mean[r];
  let rs = rstd[r];
  let scale = (r / P.T) * P.modStride + P.scaleOff;
  let sums = rowGradSums(base, C, 0u, 1u, mu, rs, scale);
  rowBackward(base, C, 0u, 1u, mu, rs, scale, sums / f32(C));
}

fn sum4(v: vec4f) -> f32 { return v.x + v.y + v.z + v.w; }

@compute @workgroup_size(64)
fn ln_forward4(@builtin(global_invocation_id) g: vec3u) {
  let r = g.x + g.y * P.stride;
  let C = P.C;
  let C4 = C / 4u;
  if (r >= P.R) { return; }
  let base = r * C4;
  var s = vec4f(0.0);
  for (var c = 0u; c < C4; c++) { s += x4[base + c]; }
  let mu = sum4(s) / f32(C);
  var v = vec4f(0.0);
  for (var c = 0u; c < C4; c++) {
    let d = x4[base + c] - mu;
    v += d * d;
  }
  let rs = inverseSqrt(sum4(v) / f32(C) + P.eps);
  let mb = (r / P.T) * P.modStride;
  let scale = (mb + P.scaleOff) / 4u;
  let shift = (mb + P.shiftOff) / 4u;
  mean[r] = mu;
  rstd[r] = rs;
  for (var c = 0u; c < C4; c++) {
    out4[base + c] = (x4[base + c] - mu) * rs * (1.0 + mod4[scale + c]) + mod4[shift + c];
  }
}

// ln_forward4r: as ln_forward4 for four rows of one sample per invocation (T a multiple of 4): the
// two modulation vectors are loaded once for the four rows instead of once per row (llvmpipe runs
// every storage access as a per-lane loop; once per row, those loads are half the kernel's time).
// Same arithmetic, in the same order, per row.
// Texel c of row k (0..3) of an invocation's four rows: from the texture (sample n, token t0 + k)
// or from x4 at b0 + k * C4.
fn rowX(k: u32, c: u32, b0: u32, C4: u32, n: i32, t0: u32) -> vec4f {
  if (X_TEX) { return textureLoad(xt, vec2u(c, t0 + k), n); }
  return x4[b0 + k * C4 + c];
}

@compute @workgroup_size(64)
fn ln_forward4r(@builtin(global_invocation_id) g: vec3u) {
  let r0 = 4u * (g.x + g.y * P.stride);
  let C = P.C;
  let C4 = C / 4u;
  if (r0 >= P.R) { return; }
  let b0 = r0 * C4;
  let b1 = b0 + C4;
  let b2 = b1 + C4;
  let b3 = b2 + C4;
  let n = r0 / P.T; // the sample and its first token: the four rows share both (T % 4 == 0)
  let t0 = r0 - n * P.T;
  let ni = i32(n);
  var s = mat4x4f(); // s[k]: row r0 + k
  for (var c = 0u; c < C4; c++) {
    s[0] += rowX(0u, c, b0, C4, ni, t0);
    s[1] += rowX(1u, c, b0, C4, ni, t0);
    s[2] += rowX(2u, c, b0, C4, ni, t0);
    s[3] += rowX(3u, c, b0, C4, ni, t0);
  }
  let mu = vec4f(sum4(s[0]), sum4(s[1]), sum4(s[2]), sum4(s[3])) / f32(C);
  var v = mat4x4f();
  for (var c = 0u; c < C4; c++) {
    let d0 = rowX(0u, c, b0, C4, ni, t0) - mu.x;
    let d1 = rowX(1u, c, b0, C4, ni, t0) - mu.y;
    let d2 = rowX(2u, c, b0, C4, ni, t0) - mu.z;
    let d3 = rowX(3u, c, b0, C4, ni, t0) - mu.w;
    v[0] += d0 * d0;
    v[1] += d1 * d1;
    v[2] += d2 * d2;
    v[3] += d3 * d3;
  }
  let rs = inverseSqrt(vec4f(sum4(v[0]), sum4(v[1]), sum4(v[2]), sum4(v[3])) / f32(C) + P.eps);
  let mb = n * P.modStride;
  let scale = (mb + P.scaleOff) / 4u;
  let shift = (mb + P.shiftOff) / 4u;
  mean[r0] = mu.x;
  mean[r0 + 1u] = mu.y;
  mean[r0 + 2u] = mu.z;
  mean[r0 + 3u] = mu.w;
  rstd[r0] = rs.x;
  rstd[r0 + 1u] = rs.y;
  rstd[r0 + 2u] = rs.z;
  rstd[r0 + 3u] = rs.w;
  for (var c = 0u; c < C4; c++) {
    let sc = 1.0 + mod4[scale + c];
    let sh = mod4[shift + c];
    out4[b0 + c] = (rowX(0u, c, b0, C4, ni, t0) - mu.x) * rs.x * sc + sh;
    out4[b1 + c] = (rowX(1u, c, b0, C4, ni, t0) - mu.y) * rs.y * sc + sh;
    out4[b2 + c] = (rowX(2u, c, b0, C4, ni, t0) - mu.z) * rs.z * sc + sh;
    out4[b3 + c] = (rowX(3u, c, b0, C4, ni, t0) - mu.w) * rs.w * sc + sh;
  }
}

@compute @workgroup_size(64)
fn ln_backward4(@builtin(global_invocation_id) g: vec3u) {
  let r = g.x + g.y * P.stride;
  let C = P.C;
  let C4 = C / 4u;
  if (r >= P.R) { return; }
  let base = r * C4;
  let mu = mean[r];
  let rs = rstd[r];
  let scale = ((r / P.T) * P.modStride + P.scaleOff) / 4u;
  var s1 = vec4f(0.0);
  var s2 = vec4f(0.0);
  for (var c = 0u; c < C4; c++) {
    let dxh = dy4[base + c] * (1.0 + mod4[scale + c]);
    s1 += dxh;
    s2 += dxh * (x4[base + c] - mu) * rs;
  }
  let m1 = sum4(s1) / f32(C);
  let m2 = sum4(s2) / f32(C);
  for (var c = 0u; c < C4; c++) {
    let xh = (x4[base + c] - mu) * rs;
    let v = rs * (dy4[base + c] * (1.0 + mod4[scale + c]) - m1 - xh * m2);
    if (ACCUMULATE) { out4[base + c] += v; } else { out4[base + c] = v; }
  }
}

// Four columns per invocation (B*C/4 invocations) through the vec4 bindings, dmod as vec4s.
@compute @workgroup_size(64)
fn ln_backward_mod4(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x + g.y * P.stride;
  let C4 = P.C / 4u;
  let B = P.R / P.T;
  if (i >= B * C4) { return; }
  let b = i / C4;
  let c = i % C4;
  var ds = vec4f(0.0);
  var dsc = vec4f(0.0);
  for (var t = 0u; t < P.T; t++) {
    let r = b * P.T + t;
    let d = dy4[r * C4 + c];
    ds += d;
    dsc += d * (x4[r * C4 + c] - mean[r]) * rstd[r];
  }
  let mb = b * P.modStride;
  out4[(mb + P.shiftOff) / 4u + c] = ds;
  out4[(mb + P.scaleOff) / 4u + c] = dsc;
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

// ---- one workgroup per row (real GPUs); row = workgroup (x, y) with P.stride / 64 groups per y ----

const WG = 64u;
var<workgroup> red0: array<f32, 64>;
var<workgroup> red1: array<f32, 64>;

// Sums (a, b) over the workgroup; every lane gets the totals.
fn workgroupSum2(l: u32, a: f32, b: f32) -> vec2f {
  red0[l] = a;
  red1[l] = b;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (l < s) {
      red0[l] += red0[l + s];
      red1[l] += red1[l + s];
    }
    workgroupBarrier();
  }
  let total = vec2f(red0[0], red1[0]);
  workgroupBarrier(); // the next call overwrites red0/red1
  return total;
}

@compute @workgroup_size(64)
fn ln_forward_wg(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) li: vec3u) {
  let r = wg.x + wg.y * (P.stride / WG);
  let C = P.C;
  let l = li.x;
  if (r >= P.R) { return; }
  let base = r * C;
  let mu = workgroupSum2(l, rowSum(base, C, l, WG), 0.0).x / f32(C);
  let rs = inverseSqrt(workgroupSum2(l, rowSquares(base, C, l, WG, mu), 0.0).x / f32(C) + P.eps);
  let mb = (r / P.T) * P.modStride;
  if (l == 0u) {
    mean[r] = mu;
    rstd[r] = rs;
  }
  rowForward(base, C, l, WG, mu, rs, mb + P.scaleOff, mb + P.shiftOff);
}

@compute @workgroup_size(64)
fn ln_backward_wg(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) li: vec3u) {
  let r = wg.x + wg.y * (P.stride / WG);
  let C = P.C;
  let l = li.x;
  if (r >= P.R) { return; }
  let base = r * C;
  let mu = mean[r];
  let rs = rstd[r];
  let scale = (r / P.T) * P.modStride + P.scaleOff;
  let part = rowGradSums(base, C, l, WG, mu, rs, scale);
  let sums = workgroupSum2(l, part.x, part.y);
  rowBackward(base, C, l, WG, mu, rs, scale, sums / f32(C));
}
