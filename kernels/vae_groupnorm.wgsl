// GroupNorm (PyTorch nn.GroupNorm: affine, biased variance, eps inside the sqrt), optionally fused
// with SiLU, on NHWC activations x [N, P = H*W, C] (C % 4 == 0; group g owns channels
// [g*C/G, (g+1)*C/G)). Two-pass statistics for accuracy: each image's P pixels are cut into NB
// blocks of BP pixels;
//   gn_partial (phase 0): part[n, b, c] = sum_{p in block b} x[n, p, c]
//   gn_stats   (phase 0): stats[n, g].mean = sum_{b, c in g} part / (P * C/G)
//   gn_partial (phase 1): part[n, b, c] = sum_{p in block b} (x[n, p, c] - mean[n, g(c)])^2
//   gn_stats   (phase 1): stats[n, g].rstd = 1 / sqrt(sum / (P * C/G) + eps)
//   gn_affine:  aff[n, c] = rstd * gamma[c], aff[N*C + n*C + c] = beta[c] - mean * rstd * gamma[c]
//   gn_apply:   y = x * aff[n, c] + aff[N*C + n*C + c], then y = y * sigmoid(y) if SILU
// gn_partial and gn_apply see a band of x (and y) only, so no binding exceeds the size limit:
// gn_partial covers flat blocks [fb0, fb0 + nfb) (flat block fb = n*NB + b), gn_apply the pixel
// rows [r0, r0 + rows) of image n (a band never crosses images). base4x / base4y: vec4 index of
// the bindings' first elements. C4 (= C/4) is a pipeline constant so that divisions by it are cheap.
// Bindings: 0 x4, 1 gamma, 2 beta, 3 part [N*NB*C] (rw), 4 stats [N*G*2] (mean, rstd) (rw),
// 5 y4 (rw), 6 aff [2*N*C] (rw), 7 aff4 (the same table, read as vec4), 8 params.
// NB is at most 64, so gn_stats sums at most 64 * C/G partials per group.
// Dispatch: grid over nfb*C4 (gn_partial), N*G (gn_stats), N*C (gn_affine), rows*C4 (gn_apply);
// i = g.x + g.y * stride.

struct Params {
  P: u32, C: u32, G: u32, NB: u32,
  BP: u32, fb0: u32, nfb: u32, phase: u32,
  r0: u32, rows: u32, base4x: u32, base4y: u32,
  N: u32, stride: u32, n: u32, _p1: u32,
  eps: f32, _f0: f32, _f1: f32, _f2: f32,
}

override SILU: bool = false;
override C4: u32 = 1u;

@group(0) @binding(0) var<storage, read> x4: array<vec4f>;
@group(0) @binding(1) var<storage, read> gamma: array<f32>;
@group(0) @binding(2) var<storage, read> beta: array<f32>;
@group(0) @binding(3) var<storage, read_write> part: array<f32>;
@group(0) @binding(4) var<storage, read_write> stats: array<f32>;
@group(0) @binding(5) var<storage, read_write> y4: array<vec4f>;
@group(0) @binding(6) var<storage, read_write> aff: array<f32>;
@group(0) @binding(7) var<storage, read> aff4: array<vec4f>;
@group(0) @binding(8) var<uniform> P: Params;

@compute @workgroup_size(64)
fn gn_partial(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x + g.y * P.stride;
  if (i >= P.nfb * C4) { return; }
  let fb = P.fb0 + i / C4;
  let c4 = i % C4;
  let n = fb / P.NB;
  let b = fb % P.NB;
  let p0 = b * P.BP;
  let p1 = min(P.P, p0 + P.BP);
  var s = vec4f(0.0);
  var at = (n * P.P + p0) * C4 + c4 - P.base4x;
  if (P.phase == 0u) {
    for (var p = p0; p < p1; p++) {
      s += x4[at];
      at += C4;
    }
  } else {
    let cpg = P.C / P.G;
    let c = 4u * c4;
    let s0 = 2u * n * P.G;
    let mu = vec4f(
      stats[s0 + 2u * (c / cpg)],
      stats[s0 + 2u * ((c + 1u) / cpg)],
      stats[s0 + 2u * ((c + 2u) / cpg)],
      stats[s0 + 2u * ((c + 3u) / cpg)],
    );
    for (var p = p0; p < p1; p++) {
      let d = x4[at] - mu;
      s += d * d;
      at += C4;
    }
  }
  let o = fb * P.C + 4u * c4;
  part[o] = s.x;
  part[o + 1u] = s.y;
  part[o + 2u] = s.z;
  part[o + 3u] = s.w;
}

@compute @workgroup_size(64)
fn gn_stats(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x + g.y * P.stride;
  if (i >= P.N * P.G) { return; }
  let n = i / P.G;
  let grp = i % P.G;
  let cpg = P.C / P.G;
  var s = 0.0;
  for (var b = 0u; b < P.NB; b++) {
    let o = (n * P.NB + b) * P.C + grp * cpg;
    for (var c = 0u; c < cpg; c++) { s += part[o + c]; }
  }
  let v = s / f32(P.P * cpg);
  if (P.phase == 0u) {
    stats[2u * i] = v;
  } else {
    stats[2u * i + 1u] = inverseSqrt(v + P.eps);
  }
}

@compute @workgroup_size(64)
fn gn_affine(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x + g.y * P.stride;
  if (i >= P.N * P.C) { return; }
  let n = i / P.C;
  let c = i % P.C;
  let s = 2u * (n * P.G + c / (P.C / P.G));
  let a = stats[s + 1u] * gamma[c];
  aff[i] = a;
  aff[P.N * P.C + i] = beta[c] - stats[s] * a;
}

@compute @workgroup_size(64)
fn gn_apply(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x + g.y * P.stride;
  if (i >= P.rows * C4) { return; }
  let row = P.r0 + i / C4;
  let c4 = i % C4;
  let t = P.n * C4 + c4;
  let a = aff4[t];
  let b = aff4[P.N * C4 + t];
  let at = (P.n * P.P + row) * C4 + c4;
  var y = x4[at - P.base4x] * a + b;
  if (SILU) { y = y / (1.0 + exp(-y)); }
  y4[at - P.base4y] = y;
}
