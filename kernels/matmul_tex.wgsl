// Texture-fed matmul for CPU adapters (llvmpipe), where texel fetches are vectorised and
// storage-buffer loads are not. C[z] = act(alpha * op(A[z]) op(B[z]) (+ bias[n])) (+ C[z] if
// ACCUMULATE), act = GELU (tanh) or none.
// Operands are rgba32float 2-D array textures (see source(): one matrix, a layer per batch entry,
// or attention's heads side by side), filled by copy commands or pack_texture.wgsl, bound as
// read-only storage textures: llvmpipe's image loads are cheaper than a sampled texture's texel
// fetch (presumably no mip-level and sampler arithmetic), ~30% off these kernels there. One of two
// layouts per operand:
//   row-major (A_KMAJOR / B_KMAJOR false): texel (k/4, r) = op[r][k .. k+3], rows r = m (A) or n (B),
//     zero padded past K;
//   k-major (true): texel (r/4, k) = op[r .. r+3][k], i.e. the operand as stored for tn/nn products
//     (dY^T X, P V), so those need no transposition; the texture has ceil(K/4)*4 rows, those past
//     K never written (zero).
// Each invocation computes a 16x16 tile of C as 4x4 blocks of mat4x4 accumulators (register
// blocking is what llvmpipe needs; loops over 4x4 blocks are written out so LLVM keeps them in
// registers). Bindings: 0 A, 1 B, 2 C (storage rw), 3 bias (storage), 4 params (uniform), 5 C as
// vec4s: with VEC4_OUT (C row-major with row stride, offset and N multiples of 4) each row of a
// 4x4 block is one 16-byte store instead of four scalar ones (llvmpipe runs every storage access
// as a per-lane loop: a quarter of the stores, ~10% of a K = 128 product); the path not taken
// gets a placeholder. VEC4_OUT_T does the same for products stored transposed (C^T computed as
// op(B)^T op(A)^T for narrow attention products): the contiguous run is a column of the block.
// 6 the residual and 7 the modulation matrix as vec4s (GATED; placeholders otherwise).
// Dispatch: (ceil(N/128), ceil(M/64), batch) with workgroup (8, 4).

struct Params {
  M: u32, N: u32, K: u32, B2: u32,
  cOff: u32, cS1: u32, cS2: u32, ldc: u32,
  aMode: u32, bMode: u32, biasOff: u32, cCol: u32,
  alpha: f32, aXs: u32, bXs: u32, _p3: u32,
  _p4: u32, modStride: u32, gateOff: u32, resOff: u32,
}

override HAS_BIAS: bool = false;
override ACCUMULATE: bool = false;
override A_KMAJOR: bool = false;
override B_KMAJOR: bool = false;
override GELU: bool = false; // C = gelu(alpha * product + bias): the MLP's first layer, fused
override VEC4_OUT: bool = false;
override VEC4_OUT_T: bool = false; // C stored transposed (ldc = 1), M a multiple of 4: vec4s along m
// C = res + gate[m / T] * (alpha * product + bias): adaLN-Zero's gated residual fused into the store
// (with VEC4_OUT, unbatched; res laid out as C from resOff, gate = columns gateOff.. of row
// m / GATE_T of mod [B, modStride]).
override GATED: bool = false;
// GATED: tokens per sample, a pipeline constant rather than a uniform: llvmpipe divides by a
// uniform lane by lane (136 divides per tile in the gated store).
override GATE_T: u32 = 1u;

//! include activations

@group(0) @binding(0) var ta: texture_storage_2d_array<rgba32float, read>;
@group(0) @binding(1) var tb: texture_storage_2d_array<rgba32float, read>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<uniform> P: Params;
@group(0) @binding(5) var<storage, read_write> c4: array<vec4f>;
@group(0) @binding(6) var<storage, read> res4: array<vec4f>;
@group(0) @binding(7) var<storage, read> gmod4: array<vec4f>;

// Output geometry loaded once into registers: stores into `c` could alias the uniform block as far
// as the compiler knows, so reading P inside the store loop would reload (and divide) per element.
// C[m][n] sits at base + m * ldc + n * cCol (ldc = 1 and cCol = the row stride when the launcher
// computes a transposed product into C).
struct Out {
  base: u32, ldc: u32, cCol: u32, mEnd: u32, nEnd: u32, biasOff: u32, alpha: f32,
  modStride: u32, gateOff: u32, resOff: u32,
}

// v = alpha * product + bias, already computed.
fn store(o: Out, m: u32, n: u32, v: f32) {
  if (m >= o.mEnd || n >= o.nEnd) { return; }
  let i = o.base + m * o.ldc + n * o.cCol;
  if (ACCUMULATE) { c[i] += v; } else { c[i] = v; }
}

// Bias of columns n .. n+3, loaded once per tile column block (reads past N only feed dropped
// outputs).
fn biasAt(o: Out, n: u32) -> vec4f {
  if (!HAS_BIAS) { return vec4f(); }
  let j = o.biasOff + min(n, o.nEnd - 1u);
  return vec4f(bias[j], bias[j + select(0u, 1u, n + 1u < o.nEnd)],
    bias[j + select(0u, 2u, n + 2u < o.nEnd)], bias[j + select(0u, 3u, n + 3u < o.nEnd)]);
}

// GATED: the gate of columns n .. n+3 for row m (sample m / GATE_T).
fn gateAt(o: Out, m: u32, n: u32) -> vec4f {
  return gmod4[((m / GATE_T) * o.modStride + o.gateOff + n) / 4u];
}

// When a tile's 16 rows lie in one sample (GATE_T a multiple of 16; tiles start at multiples of
// 16), they share their gates: one load per column block of the tile instead of one per row
// (storage loads are per-lane loops on llvmpipe).
override GATE_PER_TILE: bool = GATE_T % 16u == 0u;

// Stores a 4x4 block whose column i holds C[m + i][n .. n + 3] (before alpha, bias bv and GELU).
// gv: the gate of columns n .. n+3 when GATE_PER_TILE.
fn storeBlock(o: Out, m: u32, n: u32, blk: mat4x4f, bv: vec4f, gv: vec4f) {
  for (var i = 0u; i < 4u; i++) {
    var col = o.alpha * blk[i] + bv;
    if (GELU) { col = gelu(col); }
    if (VEC4_OUT) {
      if (m + i < o.mEnd && n < o.nEnd) {
        let e = (m + i) * o.ldc + n;
        if (GATED) {
          var gate = gv;
          if (!GATE_PER_TILE) { gate = gateAt(o, m + i, n); }
          col = fma(gate, col, res4[(o.resOff + e) / 4u]);
        }
        let j = (o.base + e) / 4u;
        if (ACCUMULATE) { c4[j] += col; } else { c4[j] = col; }
      }
      continue;
    }
    store(o, m + i, n, col.x);
    store(o, m + i, n + 1u, col.y);
    store(o, m + i, n + 2u, col.z);
    store(o, m + i, n + 3u, col.w);
  }
}

// One column n of a 4x4 block, C[m .. m+3][n] (before alpha, the bias b of column n and GELU), as
// one vec4 store where C is stored transposed (VEC4_OUT_T: those four are contiguous).
fn storeColumnT(o: Out, m: u32, n: u32, v: vec4f, b: f32) {
  if (m >= o.mEnd || n >= o.nEnd) { return; }
  var col = o.alpha * v + vec4f(b);
  if (GELU) { col = gelu(col); }
  let j = (o.base + m + n * o.cCol) / 4u;
  if (ACCUMULATE) { c4[j] += col; } else { c4[j] = col; }
}

// The 4x4 block cIJ (c[j][i] = C[m + i][n + j]) with bias bv (and gate gv) of columns n .. n+3.
fn storeTile(o: Out, m: u32, n: u32, c: mat4x4f, bv: vec4f, gv: vec4f) {
  if (VEC4_OUT_T) {
    storeColumnT(o, m, n, c[0], bv.x);
    storeColumnT(o, m, n + 1u, c[1], bv.y);
    storeColumnT(o, m, n + 2u, c[2], bv.z);
    storeColumnT(o, m, n + 3u, c[3], bv.w);
    return;
  }
  storeBlock(o, m, n, transpose(c), bv, gv);
}

// acc + a * b with explicit fused multiply-adds (LLVM does not contract a separate mul and add).
fn mad(acc: mat4x4f, a: mat4x4f, b: mat4x4f) -> mat4x4f {
  var r = acc;
  for (var j = 0; j < 4; j++) {
    let bj = b[j];
    r[j] = fma(a[3], vec4f(bj.w), fma(a[2], vec4f(bj.z), fma(a[1], vec4f(bj.y), fma(a[0], vec4f(bj.x), r[j]))));
  }
  return r;
}

// Where batch entry z of an operand lives: layer and texel column offset. Mode 0: one matrix for
// the batch; 1: layer z; 2 (heads side by side in rows): layer z / B2, columns from (z % B2) * xs.
struct Src { layer: i32, x: u32 }

fn source(mode: u32, xs: u32, z: u32) -> Src {
  if (mode == 1u) { return Src(i32(z), 0u); }
  if (mode == 2u) { return Src(i32(z / P.B2), (z % P.B2) * xs); }
  return Src(0, 0u);
}

fn la(x: u32, y: u32, s: Src) -> vec4f { return textureLoad(ta, vec2u(s.x + x, y), s.layer); }
fn lb(x: u32, y: u32, s: Src) -> vec4f { return textureLoad(tb, vec2u(s.x + x, y), s.layer); }

// Block I of A for k-step k as columns over kk: [kk] = A[rows r][4k + kk] for the (clamped) rows
// r = ra[4I .. 4I+3]. Row-major: the 4 texels of those rows, transposed (free: each element is
// its own SIMD register on llvmpipe). K-major: texel column r.x / 4 at rows 4k .. 4k+3.
fn blockA(k: u32, r: vec4u, l: Src) -> mat4x4f {
  if (A_KMAJOR) {
    let x = r.x / 4u;
    let y = 4u * k;
    return mat4x4f(la(x, y, l), la(x, y + 1u, l), la(x, y + 2u, l), la(x, y + 3u, l));
  }
  return transpose(mat4x4f(la(k, r.x, l), la(k, r.y, l), la(k, r.z, l), la(k, r.w, l)));
}

// Block J of B for k-step k as columns over n: [j] = B[rows r.j][4k .. 4k+3], r = rb[4J .. 4J+3].
fn blockB(k: u32, r: vec4u, l: Src) -> mat4x4f {
  if (B_KMAJOR) {
    let x = r.x / 4u;
    let y = 4u * k;
    return transpose(mat4x4f(lb(x, y, l), lb(x, y + 1u, l), lb(x, y + 2u, l), lb(x, y + 3u, l)));
  }
  return mat4x4f(lb(k, r.x, l), lb(k, r.y, l), lb(k, r.z, l), lb(k, r.w, l));
}

@compute @workgroup_size(8, 4)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let n0 = g.x * 16u;
  let m0 = g.y * 16u;
  let z = g.z;
  let M = P.M;
  let N = P.N;
  if (n0 >= N || m0 >= M) { return; }
  let o = Out(P.cOff + (z / P.B2) * P.cS1 + (z % P.B2) * P.cS2, P.ldc, P.cCol, M, N, P.biasOff,
    P.alpha, P.modStride, P.gateOff, P.resOff);
  let la_ = source(P.aMode, P.aXs, z);
  let lb_ = source(P.bMode, P.bXs, z);
  // Clamped rows: out-of-range rows compute junk that store() drops. (In k-major blocks rows
  // m0 + 4I .. +3 share one texel; a clamped first row picks the last texel.)
  var ra: array<vec4u, 4>;
  var rb: array<vec4u, 4>;
  for (var i = 0u; i < 4u; i++) {
    ra[i] = min(vec4u(m0 + 4u * i) + vec4u(0u, 1u, 2u, 3u), vec4u(M - 1u));
    rb[i] = min(vec4u(n0 + 4u * i) + vec4u(0u, 1u, 2u, 3u), vec4u(N - 1u));
  }
  var c00 = mat4x4f(); var c01 = mat4x4f(); var c02 = mat4x4f(); var c03 = mat4x4f();
  var c10 = mat4x4f(); var c11 = mat4x4f(); var c12 = mat4x4f(); var c13 = mat4x4f();
  var c20 = mat4x4f(); var c21 = mat4x4f(); var c22 = mat4x4f(); var c23 = mat4x4f();
  var c30 = mat4x4f(); var c31 = mat4x4f(); var c32 = mat4x4f(); var c33 = mat4x4f();
  let K = P.K;
  let K4 = (K + 3u) / 4u;
  for (var k = 0u; k < K4; k++) {
    let a0 = blockA(k, ra[0], la_); let a1 = blockA(k, ra[1], la_);
    let a2 = blockA(k, ra[2], la_); let a3 = blockA(k, ra[3], la_);
    let b0 = blockB(k, rb[0], lb_); let b1 = blockB(k, rb[1], lb_);
    let b2 = blockB(k, rb[2], lb_); let b3 = blockB(k, rb[3], lb_);
    c00 = mad(c00, a0, b0); c01 = mad(c01, a0, b1); c02 = mad(c02, a0, b2); c03 = mad(c03, a0, b3);
    c10 = mad(c10, a1, b0); c11 = mad(c11, a1, b1); c12 = mad(c12, a1, b2); c13 = mad(c13, a1, b3);
    c20 = mad(c20, a2, b0); c21 = mad(c21, a2, b1); c22 = mad(c22, a2, b2); c23 = mad(c23, a2, b3);
    c30 = mad(c30, a3, b0); c31 = mad(c31, a3, b1); c32 = mad(c32, a3, b2); c33 = mad(c33, a3, b3);
  }
  // cIJ[j][i] = C[m0+4I+i][n0+4J+j].
  let bv0 = biasAt(o, n0); let bv1 = biasAt(o, n0 + 4u);
  let bv2 = biasAt(o, n0 + 8u); let bv3 = biasAt(o, n0 + 12u);
  var gv0 = vec4f(); var gv1 = vec4f(); var gv2 = vec4f(); var gv3 = vec4f();
  if (GATED && GATE_PER_TILE) {
    // Column blocks past N (their stores are dropped) read the last one instead.
    let nl = o.nEnd - 4u;
    gv0 = gateAt(o, m0, n0); gv1 = gateAt(o, m0, min(n0 + 4u, nl));
    gv2 = gateAt(o, m0, min(n0 + 8u, nl)); gv3 = gateAt(o, m0, min(n0 + 12u, nl));
  }
  storeTile(o, m0, n0, c00, bv0, gv0); storeTile(o, m0, n0 + 4u, c01, bv1, gv1);
  storeTile(o, m0, n0 + 8u, c02, bv2, gv2); storeTile(o, m0, n0 + 12u, c03, bv3, gv3);
  storeTile(o, m0 + 4u, n0, c10, bv0, gv0); storeTile(o, m0 + 4u, n0 + 4u, c11, bv1, gv1);
  storeTile(o, m0 + 4u, n0 + 8u, c12, bv2, gv2); storeTile(o, m0 + 4u, n0 + 12u, c13, bv3, gv3);
  storeTile(o, m0 + 8u, n0, c20, bv0, gv0); storeTile(o, m0 + 8u, n0 + 4u, c21, bv1, gv1);
  storeTile(o, m0 + 8u, n0 + 8u, c22, bv2, gv2); storeTile(o, m0 + 8u, n0 + 12u, c23, bv3, gv3);
  storeTile(o, m0 + 12u, n0, c30, bv0, gv0); storeTile(o, m0 + 12u, n0 + 4u, c31, bv1, gv1);
  storeTile(o, m0 + 12u, n0 + 8u, c32, bv2, gv2); storeTile(o, m0 + 12u, n0 + 12u, c33, bv3, gv3);
}
