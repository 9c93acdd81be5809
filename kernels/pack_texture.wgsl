// Packs a (batched, strided) row-major matrix view from a storage buffer into an rgba32float 2-D
// array texture for matmul_tex.wgsl: texel (x, r) of layer z = src[z][r][4x .. 4x+3], zero
// padded past `cols`. Element (z, r, c) of the view sits at off + (z/B2)*s1 + (z%B2)*s2 + r*ld + c.
// With TRANSPOSE the view is read transposed: texel (x, r) = src[z][4x .. 4x+3][r] (cols = the
// source's rows), so every matmul variant can run as the nt kernel.
// Bindings: 0 src (storage), 1 dst (storage texture), 2 params. Dispatch (ceil(ceil(cols/4)/64), rows, batch).

struct Params { off: u32, s1: u32, s2: u32, B2: u32, ld: u32, rows: u32, cols: u32, _p: u32 }

override TRANSPOSE: bool = false;

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var dst: texture_storage_2d_array<rgba32float, write>;
@group(0) @binding(2) var<uniform> P: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let x = g.x;
  let r = g.y;
  let z = g.z;
  if (4u * x >= P.cols || r >= P.rows) { return; }
  let c = 4u * x;
  // Element (r, c) of the packed matrix sits at base + r*rs + c*cs.
  var base = P.off + (z / P.B2) * P.s1 + (z % P.B2) * P.s2;
  var rs = P.ld;
  var cs = 1u;
  if (TRANSPOSE) {
    rs = 1u;
    cs = P.ld;
  }
  base += r * rs + c * cs;
  var v = vec4f(src[base], 0.0, 0.0, 0.0);
  if (c + 1u < P.cols) { v.y = src[base + cs]; }
  if (c + 2u < P.cols) { v.z = src[base + 2u * cs]; }
  if (c + 3u < P.cols) { v.w = src[base + 3u * cs]; }
  textureStore(dst, vec2u(x, r), z, v);
}
