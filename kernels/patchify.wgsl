// Patchify / unpatchify permutations between images [N, C, H, W] and tokens [N, T, p*p*C]
// (T = (H/p)*(W/p), token t = row*(W/p) + col). Feature order inside a token: ORDER 0 =
// (i, j, c) as the seed's reshape and both architectures' unpatchify; ORDER 1 = (c, i, j) as a
// flattened Conv2d(C, D, p, stride p) weight (the official patch embedding).
//   to_tokens: tokens[n, t, f] = img[n, c, row*p + i, col*p + j]   (one invocation per token element)
//   to_image:  img[n, c, y, x] = tokens[n, t, f]                    (one invocation per pixel)
// Each is the other's backward. Bindings: 0 src, 1 dst, 2 params.
// The geometry (C, H, W, p) comes as pipeline constants: the index arithmetic is a chain of
// divisions, which LLVM turns into multiplications only for constant divisors (on llvmpipe a
// division by a uniform is a per-lane scalar divide; constants make these kernels ~2x faster).

struct Params { N: u32, stride: u32, _p0: u32, _p1: u32 }

override ORDER: u32 = 0u;
override C: u32 = 1u;
override H: u32 = 1u;
override W: u32 = 1u;
override PATCH: u32 = 1u;

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> P: Params;

fn feature(c: u32, i: u32, j: u32) -> u32 {
  if (ORDER == 1u) { return (c * PATCH + i) * PATCH + j; }
  return (i * PATCH + j) * C + c;
}

// Flat index of pixel (n, c, y, x) in tokens.
fn tokenIndex(n: u32, c: u32, y: u32, x: u32) -> u32 {
  let wp = W / PATCH;
  let t = (y / PATCH) * wp + x / PATCH;
  let F = PATCH * PATCH * C;
  return (n * ((H / PATCH) * wp) + t) * F + feature(c, y % PATCH, x % PATCH);
}

// Token index of image element i = ((n*C + c)*H + y)*W + x.
fn tokenOfPixel(i: u32) -> u32 {
  let x = i % W;
  let y = (i / W) % H;
  let c = (i / (W * H)) % C;
  let n = i / (W * H * C);
  return tokenIndex(n, c, y, x);
}

@compute @workgroup_size(256)
fn to_image(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x + g.y * P.stride;
  if (i >= P.N * C * H * W) { return; }
  dst[i] = src[tokenOfPixel(i)];
}

@compute @workgroup_size(256)
fn to_tokens(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x + g.y * P.stride;
  if (i >= P.N * C * H * W) { return; }
  dst[tokenOfPixel(i)] = src[i];
}
