// Row softmax of the VAE attention scores s [R, T] (already scaled by 1/sqrt(C) in the matmul),
// max-subtracted as PyTorch's: p = exp(s - max) / sum(exp(s - max)). One invocation per row.
//   softmax_tex: writes p into the rgba32float texture dst (texel (kx, r) = p[r, 4kx .. 4kx+3],
//                zero past T): the A operand of the following P V matmul on CPU adapters
//   softmax_buf: in place in srw (the storage-buffer matmul path)
// Bindings: 0 s (read), 1 srw (rw), 2 dst (storage texture), 3 params.
// Dispatch: grid over R; r = g.x + g.y * stride.

struct Params { R: u32, T: u32, stride: u32, _p: u32 }

@group(0) @binding(0) var<storage, read> s: array<f32>;
@group(0) @binding(1) var<storage, read_write> srw: array<f32>;
@group(0) @binding(2) var dst: texture_storage_2d_array<rgba32float, write>;
@group(0) @binding(3) var<uniform> P: Params;

@compute @workgroup_size(64)
fn softmax_tex(@builtin(global_invocation_id) g: vec3u) {
  let r = g.x + g.y * P.stride;
  if (r >= P.R) { return; }
  let base = r * P.T;
  var m = s[base];
  for (var c = 1u; c < P.T; c++) { m = max(m, s[base + c]); }
  var z = 0.0;
  for (var c = 0u; c < P.T; c++) { z += exp(s[base + c] - m); }
  let K4 = (P.T + 3u) / 4u;
  for (var kx = 0u; kx < K4; kx++) {
    var v = vec4f(0.0);
    for (var l = 0u; l < 4u; l++) {
      let c = 4u * kx + l;
      if (c < P.T) { v[l] = exp(s[base + c] - m) / z; }
    }
    textureStore(dst, vec2u(kx, r), 0, v);
  }
}

@compute @workgroup_size(64)
fn softmax_buf(@builtin(global_invocation_id) g: vec3u) {
  let r = g.x + g.y * P.stride;
  if (r >= P.R) { return; }
  let base = r * P.T;
  var m = srw[base];
  for (var c = 1u; c < P.T; c++) { m = max(m, srw[base + c]); }
  var z = 0.0;
  for (var c = 0u; c < P.T; c++) {
    let e = exp(srw[base + c] - m);
    srw[base + c] = e;
    z += e;
  }
  for (var c = 0u; c < P.T; c++) { srw[base + c] = srw[base + c] / z; }
}
