// Depthwise convolution over the token grid (LocalViT MLP): x [N, H*W, C] (token t = row*W + col),
// weight [C, 1, KH, KW] (PyTorch layout), bias [C], zero padding padT/padL before (the rest after:
// k=3 pads 1/1, k=4 PyTorch "same" pads 1 before and 2 after). 1-D over sequences: H = 1, KH = 1.
// Activations are read as vec4 over 4 channels (C % 4 == 0): llvmpipe runs each storage load as a
// scalar loop, so 4 channels per load is 4x fewer of them. KH*KW <= 16.
//   dwconv_forward:         y[n,r,c,ch] = b[ch] + sum_ij w[ch,i,j] x[n, r+i-padT, c+j-padL, ch]
//                           one invocation per (n, row, ch4), looping over columns
//   dwconv_backward_input:  dx[n,r,c,ch] = sum_ij w[ch,i,j] dy[n, r-i+padT, c-j+padL, ch]
//   dwconv_backward_weight: partial sums of dw[ch,i,j] = sum dy * x(shifted) and (tap KH*KW)
//                           db[ch] = sum dy over chunks of sample rows: one invocation per
//                           (tap, ch4), ch4 fastest, workgroup z = chunk; a chunk's rows stay in
//                           cache while every tap reads them, and the chunks run in parallel
//   dwconv_weight_reduce:   dw, db (+)= the sum of the chunks' partial sums
// Bindings: 0 x (dy for the input gradient), 1 w, 2 bias, 3 dy (weight gradient), 4 out (y or dx),
// 5 dw, 6 db, 7 partial sums [chunk, tap, ch4], 8 params.

struct Params {
  N: u32, H: u32, W: u32, C: u32,
  KH: u32, KW: u32, padT: u32, padL: u32,
  stride: u32, rowsPerChunk: u32, chunks: u32, _p2: u32,
}

override ACCUMULATE: bool = false;

@group(0) @binding(0) var<storage, read> x: array<vec4f>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> out: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> dw: array<f32>;
@group(0) @binding(6) var<storage, read_write> db: array<f32>;
@group(0) @binding(7) var<storage, read_write> part: array<vec4f>;
@group(0) @binding(8) var<uniform> P: Params;

fn weights4(ch4: u32, tap: u32) -> vec4f {
  let taps = P.KH * P.KW;
  let c = 4u * ch4;
  return vec4f(w[c * taps + tap], w[(c + 1u) * taps + tap], w[(c + 2u) * taps + tap], w[(c + 3u) * taps + tap]);
}

// Geometry in registers (after a store the compiler would reload every uniform).
struct Geom { H: i32, W: i32, KH: i32, KW: i32, padT: i32, padL: i32, C4: u32, sample: u32, ch4: u32 }

fn tapWeight(ch4: u32, i: u32, j: u32, KH: u32, KW: u32) -> vec4f {
  if (i >= KH || j >= KW) { return vec4f(0.0); }
  return weights4(ch4, i * KW + j);
}

// acc + w * x at tap (i, j) of output (row, col); taps past KH x KW (zero weight) are skipped.
fn tap(acc: vec4f, g: Geom, row: i32, col: i32, i: i32, j: i32, w: vec4f, flip: bool) -> vec4f {
  if (i >= g.KH || j >= g.KW) { return acc; }
  var rr = row + i - g.padT;
  var cc = col + j - g.padL;
  if (flip) {
    rr = row - i + g.padT;
    cc = col - j + g.padL;
  }
  if (rr < 0 || rr >= g.H || cc < 0 || cc >= g.W) { return acc; }
  return acc + w * x[((g.sample + u32(rr)) * u32(g.W) + u32(cc)) * g.C4 + g.ch4];
}

// flip = false: forward taps (r + i - padT); true: transposed taps (r - i + padT), no bias.
// The 4x4 taps are written out with constant indices so that the weights stay in registers (a
// dynamically indexed private array is a per-lane memory gather on llvmpipe).
fn conv_row(idx: u32, flip: bool) {
  let C4 = P.C / 4u;
  let KH = P.KH;
  let KW = P.KW;
  if (idx >= P.N * P.H * C4) { return; }
  let ch4 = idx % C4;
  let row = i32((idx / C4) % P.H);
  let n = idx / (C4 * P.H);
  let g = Geom(i32(P.H), i32(P.W), i32(KH), i32(KW), i32(P.padT), i32(P.padL), C4, n * P.H, ch4);
  let w00 = tapWeight(ch4, 0u, 0u, KH, KW);
  let w01 = tapWeight(ch4, 0u, 1u, KH, KW);
  let w02 = tapWeight(ch4, 0u, 2u, KH, KW);
  let w03 = tapWeight(ch4, 0u, 3u, KH, KW);
  let w10 = tapWeight(ch4, 1u, 0u, KH, KW);
  let w11 = tapWeight(ch4, 1u, 1u, KH, KW);
  let w12 = tapWeight(ch4, 1u, 2u, KH, KW);
  let w13 = tapWeight(ch4, 1u, 3u, KH, KW);
  let w20 = tapWeight(ch4, 2u, 0u, KH, KW);
  let w21 = tapWeight(ch4, 2u, 1u, KH, KW);
  let w22 = tapWeight(ch4, 2u, 2u, KH, KW);
  let w23 = tapWeight(ch4, 2u, 3u, KH, KW);
  let w30 = tapWeight(ch4, 3u, 0u, KH, KW);
  let w31 = tapWeight(ch4, 3u, 1u, KH, KW);
  let w32 = tapWeight(ch4, 3u, 2u, KH, KW);
  let w33 = tapWeight(ch4, 3u, 3u, KH, KW);
  var bias = vec4f(0.0);
  if (!flip) {
    let c = 4u * ch4;
    bias = vec4f(b[c], b[c + 1u], b[c + 2u], b[c + 3u]);
  }
  for (var col = 0; col < g.W; col++) {
    var s = bias;
    s = tap(s, g, row, col, 0, 0, w00, flip);
    s = tap(s, g, row, col, 0, 1, w01, flip);
    s = tap(s, g, row, col, 0, 2, w02, flip);
    s = tap(s, g, row, col, 0, 3, w03, flip);
    s = tap(s, g, row, col, 1, 0, w10, flip);
    s = tap(s, g, row, col, 1, 1, w11, flip);
    s = tap(s, g, row, col, 1, 2, w12, flip);
    s = tap(s, g, row, col, 1, 3, w13, flip);
    s = tap(s, g, row, col, 2, 0, w20, flip);
    s = tap(s, g, row, col, 2, 1, w21, flip);
    s = tap(s, g, row, col, 2, 2, w22, flip);
    s = tap(s, g, row, col, 2, 3, w23, flip);
    s = tap(s, g, row, col, 3, 0, w30, flip);
    s = tap(s, g, row, col, 3, 1, w31, flip);
    s = tap(s, g, row, col, 3, 2, w32, flip);
    s = tap(s, g, row, col, 3, 3, w33, flip);
    out[((g.sample + u32(row)) * u32(g.W) + u32(col)) * C4 + ch4] = s;
  }
}

@compute @workgroup_size(64)
fn dwconv_forward(@builtin(global_invocation_id) g: vec3u) {
  conv_row(g.x + g.y * P.stride, false);
}

@compute @workgroup_size(64)
fn dwconv_backward_input(@builtin(global_invocation_id) g: vec3u) {
  conv_row(g.x + g.y * P.stride, true);
}

@compute @workgroup_size(64)
fn dwconv_backward_weight(@builtin(global_invocation_id) g: vec3u) {
  let taps = P.KH * P.KW;
  let C4 = P.C / 4u;
  let idx = g.x;
  if (idx >= C4 * (taps + 1u)) { return; }
  // Channel groups fastest: the lanes of a SIMD group share a tap (same loop bounds) and read
  // neighbouring 16-byte groups. Workgroup z takes sample rows [z R, (z + 1) R) of the N*H.
  let ch4 = idx % C4;
  let tap = idx / C4;
  let W = P.W;
  let q0 = g.z * P.rowsPerChunk;
  let q1 = min(q0 + P.rowsPerChunk, P.N * P.H);
  var s = vec4f(0.0);
  if (tap == taps) {
    for (var q = q0 * W; q < q1 * W; q++) { s += dy[q * C4 + ch4]; }
  } else {
    // Geometry in registers, and the valid output range of this tap computed once.
    let H = P.H;
    let di = i32(tap / P.KW) - i32(P.padT);
    let dj = i32(tap % P.KW) - i32(P.padL);
    let r0 = max(0, -di);
    let r1 = min(i32(H), i32(H) - di);
    let c0 = max(0, -dj);
    let c1 = min(i32(W), i32(W) - dj);
    for (var q = q0; q < q1; q++) {
      let row = i32(q % H);
      if (row < r0 || row >= r1) { continue; }
      let yb = q * W;
      let xb = u32(i32(q) + di) * W;
      for (var col = c0; col < c1; col++) {
        s += dy[(yb + u32(col)) * C4 + ch4] * x[(xb + u32(col + dj)) * C4 + ch4];
      }
    }
  }
  part[(g.z * (taps + 1u) + tap) * C4 + ch4] = s;
}

// Sums the chunks' partial sums: dw[ch, tap] (+)= ..., db[ch] (+)= ... (tap KH*KW).
@compute @workgroup_size(64)
fn dwconv_weight_reduce(@builtin(global_invocation_id) g: vec3u) {
  let taps = P.KH * P.KW;
  let C4 = P.C / 4u;
  let chunks = P.chunks;
  let idx = g.x;
  if (idx >= C4 * (taps + 1u)) { return; }
  let ch4 = idx % C4;
  let tap = idx / C4;
  var s = vec4f(0.0);
  for (var z = 0u; z < chunks; z++) { s += part[(z * (taps + 1u) + tap) * C4 + ch4]; }
  let c = 4u * ch4;
  if (tap == taps) {
    if (ACCUMULATE) {
      db[c] += s.x; db[c + 1u] += s.y; db[c + 2u] += s.z; db[c + 3u] += s.w;
    } else {
      db[c] = s.x; db[c + 1u] = s.y; db[c + 2u] = s.z; db[c + 3u] = s.w;
    }
    return;
  }
  if (ACCUMULATE) {
    dw[c * taps + tap] += s.x; dw[(c + 1u) * taps + tap] += s.y;
    dw[(c + 2u) * taps + tap] += s.z; dw[(c + 3u) * taps + tap] += s.w;
  } else {
    dw[c * taps + tap] = s.x; dw[(c + 1u) * taps + tap] = s.y;
    dw[(c + 2u) * taps + tap] = s.z; dw[(c + 3u) * taps + tap] = s.w;
  }
}
