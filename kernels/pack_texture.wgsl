// Packs a (batched, strided) row-major matrix view from a storage buffer into an rgba32float 2-D
// array texture for matmul_tex.wgsl: texel (x, r) of layer z = M[z][r][4x .. 4x+3], zero padded
// past `cols`. Element (z, r, c) of M sits at off + (z/B2)*s1 + (z%B2)*s2 + r*ld + c, or, with
// TRANSPOSE, at ... + c*ld + r (the source stored transposed), so every matmul runs as the nt kernel.
//   main:      one texel per invocation, scalar loads (any alignment)
//   main_vec4: vec4 loads (off, s1, s2, ld multiples of 4; cols % 4 == 0; with TRANSPOSE also
//              rows % 4 == 0): one texel, or with TRANSPOSE a 4x4 block (4 texels), per invocation
// Bindings: 0 src (scalar view), 1 src4 (the same buffer as vec4), 2 dst (storage texture), 3 params.
// Dispatch: (ceil(ceil(cols/4)/64), rows (or rows/4 with TRANSPOSE for main_vec4), batch).

struct Params { off: u32, s1: u32, s2: u32, B2: u32, ld: u32, rows: u32, cols: u32, _p: u32 }

override TRANSPOSE: bool = false;

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read> src4: array<vec4f>;
@group(0) @binding(2) var dst: texture_storage_2d_array<rgba32float, write>;
@group(0) @binding(3) var<uniform> P: Params;

fn batchBase(z: u32) -> u32 {
  return P.off + (z / P.B2) * P.s1 + (z % P.B2) * P.s2;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let x = g.x;
  let r = g.y;
  let z = g.z;
  if (4u * x >= P.cols || r >= P.rows) { return; }
  let c = 4u * x;
  // Element (r, c) of the packed matrix sits at base + r*rs + c*cs.
  var rs = P.ld;
  var cs = 1u;
  if (TRANSPOSE) {
    rs = 1u;
    cs = P.ld;
  }
  let base = batchBase(z) + r * rs + c * cs;
  var v = vec4f(src[base], 0.0, 0.0, 0.0);
  if (c + 1u < P.cols) { v.y = src[base + cs]; }
  if (c + 2u < P.cols) { v.z = src[base + 2u * cs]; }
  if (c + 3u < P.cols) { v.w = src[base + 3u * cs]; }
  textureStore(dst, vec2u(x, r), z, v);
}

@compute @workgroup_size(64)
fn main_vec4(@builtin(global_invocation_id) g: vec3u) {
  let x = g.x;
  let z = g.z;
  if (4u * x >= P.cols) { return; }
  let base = batchBase(z);
  if (!TRANSPOSE) {
    let r = g.y;
    if (r >= P.rows) { return; }
    textureStore(dst, vec2u(x, r), z, src4[(base + r * P.ld) / 4u + x]);
    return;
  }
  // Source rows 4x .. 4x+3 (= packed columns), source columns 4y .. 4y+3 (= packed rows).
  let r0 = 4u * g.y;
  if (r0 >= P.rows) { return; }
  let q = (base + 4u * x * P.ld + r0) / 4u;
  let step = P.ld / 4u;
  let a = src4[q];
  let b = src4[q + step];
  let c = src4[q + 2u * step];
  let d = src4[q + 3u * step];
  let t = transpose(mat4x4f(a, b, c, d));
  textureStore(dst, vec2u(x, r0), z, t[0]);
  textureStore(dst, vec2u(x, r0 + 1u), z, t[1]);
  textureStore(dst, vec2u(x, r0 + 2u), z, t[2]);
  textureStore(dst, vec2u(x, r0 + 3u), z, t[3]);
  _ = src[0];
}
