// Depthwise convolution over the token grid (LocalViT MLP): x [N, H*W, C] (token t = row*W + col),
// weight [C, 1, KH, KW] (PyTorch layout), bias [C], zero padding padT/padL before (the rest after:
// k=3 pads 1/1, k=4 PyTorch "same" pads 1 before and 2 after). 1-D over sequences: H = 1, KH = 1.
// Activations are read as vec4 over 4 channels (C % 4 == 0): llvmpipe runs each storage load as a
// scalar loop, so 4 channels per load is 4x fewer of them, and the kernels here load each input
// once per column sweep (forward: (KH+1)/2 loads per output, not KH*KW): loads, not arithmetic,
// set their speed on a CPU adapter. KH, KW <= 4.
//   dwconv_forward:         y[n,r,c,ch] = b[ch] + sum_ij w[ch,i,j] x[n, r+i-padT, c+j-padL, ch]
//                           one invocation per (n, pair of rows, ch4), sweeping the input columns once
//   dwconv_backward_input:  dx[n,r,c,ch] = sum_ij w[ch,i,j] dy[n, r-i+padT, c-j+padL, ch]
//   dwconv_backward_weight: partial sums of dw[ch,i,j] = sum dy * x(shifted) and db[ch] = sum dy
//                           over chunks of sample rows: one invocation per (row tap i, ch4), ch4
//                           fastest (i = KH: the bias), workgroup z = chunk; a sliding window of
//                           x columns serves the KW column taps
//   dwconv_weight_reduce:   dw, db (+)= the sum of the chunks' partial sums
// X_TEX: the input read by load() (x; dy for the input gradient) comes from binding 9, a read-only
// storage texture holding it as texel (ch4, token within the sample), layer = sample (a copy
// command puts it there): llvmpipe's image loads are several times cheaper than its storage-
// buffer loads, which it runs as a per-lane loop. Binding 0 then gets a placeholder.
// Bindings: 0 x (dy for the input gradient), 1 w, 2 bias, 3 dy (weight gradient), 4 out (y or dx),
// 5 dw, 6 db, 7 partial sums [chunk, tap, ch4], 8 params, 9 x as a texture (X_TEX), 10 dy as a
// texture (DY_TEX, weight gradient), 11 w as vec4s (W4X4).
// W4X4 (KH = KW = 4, the seed's kernel): each channel's 16 taps are four vec4 rows, so the 64
// weights of an invocation's 4 channels are 16 vec4 loads instead of 64 scalar ones (llvmpipe runs
// each storage load as a per-lane loop: as scalars, those loads are ~a third of the forward's
// time).

struct Params {
  N: u32, H: u32, W: u32, C: u32,
  KH: u32, KW: u32, padT: u32, padL: u32,
  stride: u32, rowsPerChunk: u32, chunks: u32, _p2: u32,
}

override ACCUMULATE: bool = false;
override X_TEX: bool = false;
override DY_TEX: bool = false; // the weight gradient reads dy from binding 10 likewise
override W4X4: bool = false;

@group(0) @binding(0) var<storage, read> x: array<vec4f>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> out: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> dw: array<f32>;
@group(0) @binding(6) var<storage, read_write> db: array<f32>;
@group(0) @binding(7) var<storage, read_write> part: array<vec4f>;
@group(0) @binding(8) var<uniform> P: Params;
@group(0) @binding(9) var xt: texture_storage_2d_array<rgba32float, read>;
@group(0) @binding(10) var dyt: texture_storage_2d_array<rgba32float, read>;
@group(0) @binding(11) var<storage, read> w4: array<vec4f>;

fn weights4(ch4: u32, tap: u32) -> vec4f {
  let taps = P.KH * P.KW;
  let c = 4u * ch4;
  return vec4f(w[c * taps + tap], w[(c + 1u) * taps + tap], w[(c + 2u) * taps + tap], w[(c + 3u) * taps + tap]);
}

// W4X4: row tap i of channels 4 ch4 .. 4 ch4 + 3, [j] = tap (i, j) of the four channels.
fn tapRow4(ch4: u32, i: u32) -> mat4x4f {
  let r = 16u * ch4 + i; // channel c's row i is vec4 4c + i
  return transpose(mat4x4f(w4[r], w4[r + 4u], w4[r + 8u], w4[r + 12u]));
}

// Weight of accumulator slot k (output column base + k) for row tap i: the forward pass meets
// input column cc at tap j = KW-1-k, the transposed pass at j = k. Zero past the kernel. row: the
// tapRow4 of row i (W4X4; i and k are constants there, so row[j] needs no dynamic index).
fn slotWeight(ch4: u32, i: u32, k: u32, KH: u32, KW: u32, flip: bool, row: mat4x4f) -> vec4f {
  if (W4X4) { return row[select(3u - k, k, flip)]; }
  if (i >= KH || k >= KW) { return vec4f(0.0); }
  return weights4(ch4, i * KW + select(KW - 1u - k, k, flip));
}

// x of sample n at token yb + cc (yb = row * W) for one channel group, zero outside the row or
// off the grid (ok).
fn load(ok: bool, n: u32, yb: u32, cc: i32, W: i32, C4: u32, ch4: u32) -> vec4f {
  if (!ok || cc < 0 || cc >= W) { return vec4f(0.0); }
  let t = yb + u32(cc);
  if (X_TEX) { return textureLoad(xt, vec2u(ch4, t), n); }
  return x[(n * P.H * P.W + t) * C4 + ch4];
}

// dy of sample n at token t (global token index n * H * W + t) for one channel group.
fn loadDy(n: u32, t: u32, C4: u32, ch4: u32) -> vec4f {
  if (DY_TEX) { return textureLoad(dyt, vec2u(ch4, t), n); }
  return dy[(n * P.H * P.W + t) * C4 + ch4];
}

// acc + w * v with explicit fused multiply-adds (LLVM does not contract a separate mul and add).
fn mac4(acc: vec4f, w0: vec4f, v0: vec4f, w1: vec4f, v1: vec4f, w2: vec4f, v2: vec4f, w3: vec4f, v3: vec4f) -> vec4f {
  return fma(w3, v3, fma(w2, v2, fma(w1, v1, fma(w0, v0, acc))));
}

// Two output rows (n, 2 rp) and (n, 2 rp + 1) of one channel group. The sweep visits input
// columns cc in order; each input row is loaded once per column (KH + 1 loads serve both output
// rows: 2 per output for k = 3, against 9 for a tap-by-tap gather) and added into the (up to 4)
// outputs of each row it feeds: accumulators a0..a3 (first row) and b0..b3 (second row) for
// output columns base .. base+3; a0 and b0 are complete once cc is their last input column, and
// are stored. flip = false: forward taps (r + i - padT, c + j - padL) with bias; true: transposed
// taps (r - i + padT, c - j + padL), no bias. The input rows u0..u4 run upwards from the first
// row's first tap (forward: u_q = r - padT + q, first row taps v0..v3, second v1..v4) or
// downwards from the second row's first tap (transposed: u_q = r + 1 + padT - q, first row taps
// v1..v4, second v0..v3). Taps and slots are written out with constant indices so that they stay
// in registers (a dynamically indexed private array is a per-lane memory gather on llvmpipe);
// slots, rows and taps past the kernel or the grid are skipped by uniform branches.
fn conv_rows(idx: u32, flip: bool) {
  let C4 = P.C / 4u;
  let KH = P.KH;
  let KW = P.KW;
  let H = i32(P.H);
  let W = i32(P.W);
  let padT = i32(P.padT);
  let padL = i32(P.padL);
  let pairs = (P.H + 1u) / 2u;
  if (idx >= P.N * pairs * C4) { return; }
  let ch4 = idx % C4;
  let row = 2 * i32((idx / C4) % pairs);
  let n = idx / (C4 * pairs);
  let second = row + 1 < H;
  var t0 = mat4x4f();
  var t1 = mat4x4f();
  var t2 = mat4x4f();
  var t3 = mat4x4f();
  if (W4X4) {
    t0 = tapRow4(ch4, 0u);
    t1 = tapRow4(ch4, 1u);
    t2 = tapRow4(ch4, 2u);
    t3 = tapRow4(ch4, 3u);
  }
  let w00 = slotWeight(ch4, 0u, 0u, KH, KW, flip, t0);
  let w01 = slotWeight(ch4, 0u, 1u, KH, KW, flip, t0);
  let w02 = slotWeight(ch4, 0u, 2u, KH, KW, flip, t0);
  let w03 = slotWeight(ch4, 0u, 3u, KH, KW, flip, t0);
  let w10 = slotWeight(ch4, 1u, 0u, KH, KW, flip, t1);
  let w11 = slotWeight(ch4, 1u, 1u, KH, KW, flip, t1);
  let w12 = slotWeight(ch4, 1u, 2u, KH, KW, flip, t1);
  let w13 = slotWeight(ch4, 1u, 3u, KH, KW, flip, t1);
  let w20 = slotWeight(ch4, 2u, 0u, KH, KW, flip, t2);
  let w21 = slotWeight(ch4, 2u, 1u, KH, KW, flip, t2);
  let w22 = slotWeight(ch4, 2u, 2u, KH, KW, flip, t2);
  let w23 = slotWeight(ch4, 2u, 3u, KH, KW, flip, t2);
  let w30 = slotWeight(ch4, 3u, 0u, KH, KW, flip, t3);
  let w31 = slotWeight(ch4, 3u, 1u, KH, KW, flip, t3);
  let w32 = slotWeight(ch4, 3u, 2u, KH, KW, flip, t3);
  let w33 = slotWeight(ch4, 3u, 3u, KH, KW, flip, t3);
  var bias = vec4f(0.0);
  if (!flip) {
    let c = 4u * ch4;
    bias = vec4f(b[c], b[c + 1u], b[c + 2u], b[c + 3u]);
  }
  let dr = select(1, -1, flip);
  let u0 = select(row - padT, row + 1 + padT, flip);
  let u1 = u0 + dr;
  let u2 = u1 + dr;
  let u3 = u2 + dr;
  let u4 = u3 + dr;
  // Input row u_q is read when a tap i < KH of an output row lands on it: forward, the first
  // row reads q = 0..KH-1 and the second q = 1..KH; transposed, the first q = 1..KH and the
  // second q = 0..KH-1.
  let last = select(i32(KH) - select(1, 0, second), i32(KH), flip);
  let ok0 = u0 >= 0 && u0 < H && (!flip || second);
  let ok1 = u1 >= 0 && u1 < H && 1 <= last;
  let ok2 = u2 >= 0 && u2 < H && 2 <= last;
  let ok3 = u3 >= 0 && u3 < H && 3 <= last;
  let ok4 = u4 >= 0 && u4 < H && 4 <= last;
  let s0 = n * P.H;
  let rb0 = u32(max(u0, 0)) * u32(W);
  let rb1 = u32(max(u1, 0)) * u32(W);
  let rb2 = u32(max(u2, 0)) * u32(W);
  let rb3 = u32(max(u3, 0)) * u32(W);
  let rb4 = u32(max(u4, 0)) * u32(W);
  let ob = (s0 + u32(row)) * u32(W);
  // Input column cc = base + shift feeds outputs base .. base + KW - 1.
  let shift = select(i32(KW) - 1 - padL, padL, flip);
  var a0 = bias;
  var a1 = bias;
  var a2 = bias;
  var a3 = bias;
  var b0 = bias;
  var b1 = bias;
  var b2 = bias;
  var b3 = bias;
  for (var base = 1 - i32(KW); base < W; base++) {
    let cc = base + shift;
    if (cc >= 0 && cc < W) {
      let v0 = load(ok0, n, rb0, cc, W, C4, ch4);
      let v1 = load(ok1, n, rb1, cc, W, C4, ch4);
      let v2 = load(ok2, n, rb2, cc, W, C4, ch4);
      let v3 = load(ok3, n, rb3, cc, W, C4, ch4);
      let v4 = load(ok4, n, rb4, cc, W, C4, ch4);
      // First row's taps i = 0..3 on u_i (forward) or u_{i+1} (transposed); the second's the other.
      let p0 = select(v0, v1, flip);
      let p1 = select(v1, v2, flip);
      let p2 = select(v2, v3, flip);
      let p3 = select(v3, v4, flip);
      let q0 = select(v1, v0, flip);
      let q1 = select(v2, v1, flip);
      let q2 = select(v3, v2, flip);
      let q3 = select(v4, v3, flip);
      a0 = mac4(a0, w00, p0, w10, p1, w20, p2, w30, p3);
      if (KW > 1u) { a1 = mac4(a1, w01, p0, w11, p1, w21, p2, w31, p3); }
      if (KW > 2u) { a2 = mac4(a2, w02, p0, w12, p1, w22, p2, w32, p3); }
      if (KW > 3u) { a3 = mac4(a3, w03, p0, w13, p1, w23, p2, w33, p3); }
      if (second) {
        b0 = mac4(b0, w00, q0, w10, q1, w20, q2, w30, q3);
        if (KW > 1u) { b1 = mac4(b1, w01, q0, w11, q1, w21, q2, w31, q3); }
        if (KW > 2u) { b2 = mac4(b2, w02, q0, w12, q1, w22, q2, w32, q3); }
        if (KW > 3u) { b3 = mac4(b3, w03, q0, w13, q1, w23, q2, w33, q3); }
      }
    }
    if (base >= 0) {
      out[(ob + u32(base)) * C4 + ch4] = a0;
      if (second) { out[(ob + u32(W) + u32(base)) * C4 + ch4] = b0; }
    }
    a0 = a1;
    a1 = a2;
    a2 = a3;
    a3 = bias;
    b0 = b1;
    b1 = b2;
    b2 = b3;
    b3 = bias;
  }
}

@compute @workgroup_size(64)
fn dwconv_forward(@builtin(global_invocation_id) g: vec3u) {
  conv_rows(g.x + g.y * P.stride, false);
}

@compute @workgroup_size(64)
fn dwconv_backward_input(@builtin(global_invocation_id) g: vec3u) {
  conv_rows(g.x + g.y * P.stride, true);
}

@compute @workgroup_size(64)
fn dwconv_backward_weight(@builtin(global_invocation_id) g: vec3u) {
  let KH = P.KH;
  let KW = P.KW;
  let taps = KH * KW;
  let C4 = P.C / 4u;
  let idx = g.x;
  if (idx >= C4 * (KH + 1u)) { return; }
  // Channel groups fastest: the lanes of a SIMD group share a row tap (same loop bounds) and read
  // neighbouring 16-byte groups. Workgroup z takes sample rows [z R, (z + 1) R) of the N*H.
  let ch4 = idx % C4;
  let i = idx / C4;
  let H = P.H;
  let W = P.W;
  let q0 = g.z * P.rowsPerChunk;
  let q1 = min(q0 + P.rowsPerChunk, P.N * H);
  let pb = g.z * (taps + 1u);
  if (i == KH) {
    var s = vec4f(0.0);
    for (var q = q0; q < q1; q++) {
      let n = q / H;
      let yb = (q % H) * W;
      for (var c = 0u; c < W; c++) { s += loadDy(n, yb + c, C4, ch4); }
    }
    part[(pb + taps) * C4 + ch4] = s;
    return;
  }
  // Column taps j of row tap i: dw[i][j] += dy[r][c] * x[r + i - padT][c + j - padL]. Window
  // slot s (0..3) holds x column c + s + KW - 4 - padL, i.e. tap j = s + KW - 4 (slots below
  // 4 - KW are unused); each column loads one new x and one dy.
  let di = i32(i) - i32(P.padT);
  let iW = i32(W);
  let first = i32(KW) - 4 - i32(P.padL);
  var a0 = vec4f(0.0);
  var a1 = vec4f(0.0);
  var a2 = vec4f(0.0);
  var a3 = vec4f(0.0);
  for (var q = q0; q < q1; q++) {
    let xr = i32(q % H) + di;
    if (xr < 0 || xr >= i32(H)) { continue; }
    let n = q / H;
    let yb = (q % H) * W;
    let xb = u32(xr) * W;
    var x0 = load(true, n, xb, first, iW, C4, ch4);
    var x1 = load(true, n, xb, first + 1, iW, C4, ch4);
    var x2 = load(true, n, xb, first + 2, iW, C4, ch4);
    for (var c = 0; c < iW; c++) {
      let x3 = load(true, n, xb, c + first + 3, iW, C4, ch4);
      let d = loadDy(n, yb + u32(c), C4, ch4);
      a3 = fma(d, x3, a3);
      if (KW > 1u) { a2 = fma(d, x2, a2); }
      if (KW > 2u) { a1 = fma(d, x1, a1); }
      if (KW > 3u) { a0 = fma(d, x0, a0); }
      x0 = x1;
      x1 = x2;
      x2 = x3;
    }
  }
  let t = pb + i * KW;
  part[(t + KW - 1u) * C4 + ch4] = a3;
  if (KW > 1u) { part[(t + KW - 2u) * C4 + ch4] = a2; }
  if (KW > 2u) { part[(t + KW - 3u) * C4 + ch4] = a1; }
  if (KW > 3u) { part[(t + KW - 4u) * C4 + ch4] = a0; }
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
