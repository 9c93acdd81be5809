// Depthwise convolution over the token grid (LocalViT MLP): x [N, H*W, C] (token t = row*W + col),
// weight [C, 1, KH, KW] (PyTorch layout), bias [C], zero padding padT/padL before (the rest after:
// k=3 pads 1/1, k=4 PyTorch "same" pads 1 before and 2 after). 1-D over sequences: H = 1, KH = 1.
//   dwconv_forward:        y[n,r,c,ch] = b[ch] + sum_ij w[ch,i,j] x[n, r+i-padT, c+j-padL, ch]
//   dwconv_backward_input: dx[n,r,c,ch] = sum_ij w[ch,i,j] dy[n, r-i+padT, c-j+padL, ch]
//   dwconv_backward_weight: dw[ch,i,j] (+)= sum dy * x(shifted); entry KH*KW is db[ch] (+)= sum dy.
//     One invocation per (ch, tap), taps 0..KH*KW (the last one is the bias); out = dw, out2 = db.
// Bindings: 0 x (or dy), 1 w, 2 bias (or dy for weights), 3 out, 4 out2, 5 params.

struct Params {
  N: u32, H: u32, W: u32, C: u32,
  KH: u32, KW: u32, padT: u32, padL: u32,
  stride: u32, _p0: u32, _p1: u32, _p2: u32,
}

override ACCUMULATE: bool = false;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> out2: array<f32>;
@group(0) @binding(5) var<uniform> P: Params;

@compute @workgroup_size(256)
fn dwconv_forward(@builtin(global_invocation_id) g: vec3u) {
  let idx = g.x + g.y * P.stride;
  if (idx >= P.N * P.H * P.W * P.C) { return; }
  let ch = idx % P.C;
  let col = i32((idx / P.C) % P.W);
  let row = i32((idx / (P.C * P.W)) % P.H);
  let n = idx / (P.C * P.W * P.H);
  var s = b[ch];
  for (var i = 0u; i < P.KH; i++) {
    let rr = row + i32(i) - i32(P.padT);
    if (rr < 0 || rr >= i32(P.H)) { continue; }
    for (var j = 0u; j < P.KW; j++) {
      let cc = col + i32(j) - i32(P.padL);
      if (cc < 0 || cc >= i32(P.W)) { continue; }
      s += w[(ch * P.KH + i) * P.KW + j] * x[((n * P.H + u32(rr)) * P.W + u32(cc)) * P.C + ch];
    }
  }
  out[idx] = s;
}

@compute @workgroup_size(256)
fn dwconv_backward_input(@builtin(global_invocation_id) g: vec3u) {
  let idx = g.x + g.y * P.stride;
  if (idx >= P.N * P.H * P.W * P.C) { return; }
  let ch = idx % P.C;
  let col = i32((idx / P.C) % P.W);
  let row = i32((idx / (P.C * P.W)) % P.H);
  let n = idx / (P.C * P.W * P.H);
  var s = 0.0;
  for (var i = 0u; i < P.KH; i++) {
    let rr = row - i32(i) + i32(P.padT);
    if (rr < 0 || rr >= i32(P.H)) { continue; }
    for (var j = 0u; j < P.KW; j++) {
      let cc = col - i32(j) + i32(P.padL);
      if (cc < 0 || cc >= i32(P.W)) { continue; }
      s += w[(ch * P.KH + i) * P.KW + j] * x[((n * P.H + u32(rr)) * P.W + u32(cc)) * P.C + ch];
    }
  }
  if (ACCUMULATE) { out[idx] += s; } else { out[idx] = s; }
}

// Here x = forward input, b = dy (same layout as x).
@compute @workgroup_size(64)
fn dwconv_backward_weight(@builtin(global_invocation_id) g: vec3u) {
  let idx = g.x + g.y * P.stride;
  let taps = P.KH * P.KW;
  if (idx >= P.C * (taps + 1u)) { return; }
  let ch = idx / (taps + 1u);
  let tap = idx % (taps + 1u);
  var s = 0.0;
  if (tap == taps) {
    for (var q = 0u; q < P.N * P.H * P.W; q++) { s += b[q * P.C + ch]; }
    if (ACCUMULATE) { out2[ch] += s; } else { out2[ch] = s; }
    return;
  }
  let i = i32(tap / P.KW);
  let j = i32(tap % P.KW);
  for (var n = 0u; n < P.N; n++) {
    for (var row = 0; row < i32(P.H); row++) {
      let rr = row + i - i32(P.padT);
      if (rr < 0 || rr >= i32(P.H)) { continue; }
      for (var col = 0; col < i32(P.W); col++) {
        let cc = col + j - i32(P.padL);
        if (cc < 0 || cc >= i32(P.W)) { continue; }
        let o = ((n * P.H + u32(row)) * P.W + u32(col)) * P.C + ch;
        s += b[o] * x[((n * P.H + u32(rr)) * P.W + u32(cc)) * P.C + ch];
      }
    }
  }
  _ = w[0];
  if (ACCUMULATE) { out[ch * taps + u32(tap)] += s; } else { out[ch * taps + u32(tap)] = s; }
}
