// im2col for the VAE's convolutions on NHWC activations, written straight into the packed A
// operand of the matmul (an rgba32float texture on CPU adapters, a row-major buffer elsewhere).
// Row r of a tile is output pixel R = r0 + r, flat over images (R = (n*Ho + oy)*Wo + ox); column
// k = (i*KS + j)*Cin + ci is input channel ci at tap (i, j) (the weights are permuted to match):
//   patch[R, k] = x[n, iy, ix, ci],  iy = oy*stride + i - pad,  ix = ox*stride + j - pad,
// zero outside the image. diffusers' Downsample2D (zero pad right/bottom by 1, then a stride-2
// conv without padding) is pad = 0, stride = 2: taps past the bottom/right edge read zero. With
// up = 1 the input is the nearest 2x upsampling of x, read on the fly at (iy/2, ix/2) of a
// 2H x 2W image (Upsample2D's interpolate + conv without materialising the big tensor).
// Pixel (n, y, x) of the input starts at element ((n*H + y)*W + x)*ld + colOff - base, where base is
// the absolute element index of the binding's first element, so any row-major [rows, cols] view
// (ld, colOff) can be packed as a 1x1 "convolution" with H = rows, W = 1.
//   im2col_tex: texel (kx, r) of dst = patch[R, 4kx .. 4kx+3] (zero past K)
//   im2col_buf: the same into dst4, a row-major [rows, K4] array of vec4 (K4 = ceil(K/4))
//   pack_t_tex: transposed pack for B = V^T: texel (kx, c) of dst = v[4kx .. 4kx+3, c] of the
//               [H, Cin] view v whose row r is pixel row r0 + r (zero past H); kx = kx0 + g.x
// VEC4 (Cin, ld, colOff and base multiples of 4): one invocation per (row, tap) copies the tap's
// Cin/4 texels with vec4 loads; otherwise one invocation per texel (scalar loads).
// Bindings: 0 x (scalar view), 1 x4 (the same range as vec4), 2 dst (storage texture),
// 3 dst4 (storage rw), 4 params.
// Dispatch: VEC4 (ceil(rows/64), ks*ks, 1), else (ceil(K4/64), rows, 1); pack_t_tex: (ceil(texels/64), Cin, 1) for texels kx0.. of
// ceil(H/4).

struct Params {
  H: u32, W: u32, Cin: u32, ld: u32,
  Ho: u32, Wo: u32, stride: u32, pad: u32,
  ks: u32, up: u32, r0: u32, rows: u32,
  K: u32, K4: u32, base: u32, colOff: u32,
  kx0: u32, _p0: u32, _p1: u32, _p2: u32,
}

override VEC4: bool = false;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> x4: array<vec4f>;
@group(0) @binding(2) var dst: texture_storage_2d_array<rgba32float, write>;
@group(0) @binding(3) var<storage, read_write> dst4: array<vec4f>;
@group(0) @binding(4) var<uniform> P: Params;

// Element index (in the binding) of channel 0 of the tap (i, j) of output row R, or -1 when the
// tap falls outside the (virtual, upsampled) image.
fn tapBase(R: u32, tap: u32) -> i32 {
  let hw = P.Ho * P.Wo;
  let n = R / hw;
  let rem = R % hw;
  let oy = rem / P.Wo;
  let ox = rem % P.Wo;
  let i = tap / P.ks;
  let j = tap % P.ks;
  let iy = i32(oy * P.stride + i) - i32(P.pad);
  let ix = i32(ox * P.stride + j) - i32(P.pad);
  let Hv = i32(P.H << P.up);
  let Wv = i32(P.W << P.up);
  if (iy < 0 || ix < 0 || iy >= Hv || ix >= Wv) { return -1; }
  let sy = u32(iy) >> P.up;
  let sx = u32(ix) >> P.up;
  return i32(((n * P.H + sy) * P.W + sx) * P.ld + P.colOff - P.base);
}

// Scalar path (any Cin): one texel per invocation.
fn texel(kx: u32, r: u32) -> vec4f {
  let R = P.r0 + r;
  let k0 = 4u * kx;
  var v = vec4f(0.0);
  for (var l = 0u; l < 4u; l++) {
    let k = k0 + l;
    if (k >= P.K) { break; }
    let b = tapBase(R, k / P.Cin);
    if (b >= 0) { v[l] = x[u32(b) + k % P.Cin]; }
  }
  return v;
}

@compute @workgroup_size(64)
fn im2col_tex(@builtin(global_invocation_id) g: vec3u) {
  if (VEC4) {
    // One (row, tap) per invocation: the index arithmetic is shared by the tap's Cin/4 texels.
    let r = g.x;
    let tap = g.y;
    if (r >= P.rows || tap >= P.ks * P.ks) { return; }
    let C4 = P.Cin / 4u;
    let x0 = tap * C4;
    let b = tapBase(P.r0 + r, tap);
    if (b < 0) {
      for (var c = 0u; c < C4; c++) { textureStore(dst, vec2u(x0 + c, r), 0, vec4f(0.0)); }
    } else {
      let b4 = u32(b) / 4u;
      for (var c = 0u; c < C4; c++) { textureStore(dst, vec2u(x0 + c, r), 0, x4[b4 + c]); }
    }
    return;
  }
  if (g.x >= P.K4 || g.y >= P.rows) { return; }
  textureStore(dst, vec2u(g.x, g.y), 0, texel(g.x, g.y));
}

@compute @workgroup_size(64)
fn im2col_buf(@builtin(global_invocation_id) g: vec3u) {
  if (VEC4) {
    let r = g.x;
    let tap = g.y;
    if (r >= P.rows || tap >= P.ks * P.ks) { return; }
    let C4 = P.Cin / 4u;
    let o = r * P.K4 + tap * C4;
    let b = tapBase(P.r0 + r, tap);
    if (b < 0) {
      for (var c = 0u; c < C4; c++) { dst4[o + c] = vec4f(0.0); }
    } else {
      let b4 = u32(b) / 4u;
      for (var c = 0u; c < C4; c++) { dst4[o + c] = x4[b4 + c]; }
    }
    return;
  }
  if (g.x >= P.K4 || g.y >= P.rows) { return; }
  dst4[g.y * P.K4 + g.x] = texel(g.x, g.y);
}

@compute @workgroup_size(64)
fn pack_t_tex(@builtin(global_invocation_id) g: vec3u) {
  let kx = P.kx0 + g.x;
  let c = g.y;
  if (g.x >= P.K4 || 4u * kx >= P.H || c >= P.Cin) { return; }
  var v = vec4f(0.0);
  for (var l = 0u; l < 4u; l++) {
    let r = 4u * kx + l;
    if (r >= P.H) { break; }
    v[l] = x[(P.r0 + r) * P.ld + P.colOff + c - P.base];
  }
  textureStore(dst, vec2u(kx, c), 0, v);
}
