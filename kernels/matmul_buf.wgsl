// Storage-buffer matmul for real GPUs: C[z] = act(alpha * op(A[z]) op(B[z]) (+ bias[n])) (+ C[z]),
// act = GELU (tanh) or none.
// A is stored [M,K], or [K,M] with A_KMAJOR; B is stored [N,K], or [K,N] with B_KMAJOR.
// Every operand is a strided view: element (z, row, col) at off + (z/B2)*s1 + (z%B2)*s2 + row*ld + col.
// A 64x64 tile of C per workgroup of 16x16 threads, staged through workgroup memory in K-slices
// of 16. Bindings: 0 A, 1 B, 2 C (rw), 3 bias, 4 params. Dispatch (ceil(N/64), ceil(M/64), batch).
//
// Split K (SPLIT_K, unbatched products with a long K and few tiles, such as weight gradients
// summed over every token): workgroup z covers K range [z kChunk, (z + 1) kChunk) and writes its
// partial product to slice z of C (the caller passes a scratch C with s1 = M*N and zero batch
// strides for A and B); `reduce_splits` then adds the slices into the real C with bias and
// accumulation. Without it such products ran on a dozen workgroups walking thousands of rows.
//
// Why it looks the way it does (NVIDIA over Vulkan): per-thread results live in four vec4
// registers, never in an indexed private array (which compilers may place in local memory: the
// first version of this kernel, written that way, ran 100x slower than this on an H200). Thread
// (x, y) owns rows y + 16i and columns x + 16j, so workgroup-memory reads and the final stores
// are contiguous across a warp; global loads walk each operand's contiguous dimension across
// consecutive threads; the tiles' row stride of 65 floats keeps the k-fastest stores conflict-free.

struct Params {
  M: u32, N: u32, K: u32, B2: u32,
  aOff: u32, aS1: u32, aS2: u32, lda: u32,
  bOff: u32, bS1: u32, bS2: u32, ldb: u32,
  cOff: u32, cS1: u32, cS2: u32, ldc: u32,
  biasOff: u32, kChunk: u32, splits: u32, _p2: u32,
  alpha: f32, _f0: f32, _f1: f32, _f2: f32,
}

override A_KMAJOR: bool = false;
override B_KMAJOR: bool = false;
override HAS_BIAS: bool = false;
override ACCUMULATE: bool = false;
override GELU: bool = false; // C = gelu(alpha * product + bias): the MLP's first layer, fused
override SPLIT_K: bool = false;

//! include activations

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<uniform> P: Params;

const S = 65u; // tile row stride (floats): 64 + 1 of padding
var<workgroup> As: array<f32, 1040>; // [16 k][S], m within the tile
var<workgroup> Bs: array<f32, 1040>; // [16 k][S], n within the tile

// Output geometry, read from the uniform block once (a storage write may alias it otherwise).
struct Out { M: u32, N: u32, base: u32, ldc: u32, alpha: f32, biasOff: u32 }

fn store1(o: Out, row: u32, n: u32, v: f32) {
  if (n >= o.N) { return; }
  var x = o.alpha * v;
  if (HAS_BIAS) { x += bias[o.biasOff + n]; }
  if (GELU) { x = gelu(vec4f(x)).x; }
  if (ACCUMULATE) { x += c[row + n]; }
  c[row + n] = x;
}

// Row m, columns n, n + 16, n + 32, n + 48.
fn store(o: Out, m: u32, n: u32, v: vec4f) {
  if (m >= o.M) { return; }
  let row = o.base + m * o.ldc;
  store1(o, row, n, v.x);
  store1(o, row, n + 16u, v.y);
  store1(o, row, n + 32u, v.z);
  store1(o, row, n + 48u, v.w);
}

// Where staged element idx (0..1023) of a 16 x 64 operand slice goes: (k, row within the tile).
// Consecutive threads walk the operand's contiguous dimension: k for a row-major operand, the row
// for a k-major one. (The A and B loads stay apart: WGSL passes no storage pointers.)
fn stagePos(idx: u32, kmajor: bool) -> vec2u {
  if (kmajor) { return vec2u(idx / 64u, idx % 64u); }
  return vec2u(idx % 16u, idx / 16u);
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let M = P.M;
  let N = P.N;
  let K = P.K;
  let zq = wg.z / P.B2;
  let zr = wg.z % P.B2;
  let aBase = P.aOff + zq * P.aS1 + zr * P.aS2;
  let bBase = P.bOff + zq * P.bS1 + zr * P.bS2;
  let lda = P.lda;
  let ldb = P.ldb;
  let o = Out(M, N, P.cOff + zq * P.cS1 + zr * P.cS2, P.ldc, P.alpha, P.biasOff);
  let mBase = wg.y * 64u;
  let nBase = wg.x * 64u;
  let tid = l.y * 16u + l.x;
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  var kBegin = 0u;
  var kEnd = K;
  if (SPLIT_K) {
    kBegin = wg.z * P.kChunk;
    kEnd = min(kBegin + P.kChunk, K);
  }
  for (var k0 = kBegin; k0 < kEnd; k0 += 16u) {
    // 256 threads stage 16x64 of each operand, 4 elements each, walking the stored layout's
    // contiguous dimension across consecutive threads.
    for (var e = 0u; e < 4u; e++) {
      let idx = tid + e * 256u;
      let pa = stagePos(idx, A_KMAJOR);
      let m = mBase + pa.y;
      let k = k0 + pa.x;
      var av = 0.0;
      if (m < M && k < kEnd) {
        if (A_KMAJOR) { av = a[aBase + k * lda + m]; } else { av = a[aBase + m * lda + k]; }
      }
      As[pa.x * S + pa.y] = av;
      let pb = stagePos(idx, B_KMAJOR);
      let n = nBase + pb.y;
      let kn = k0 + pb.x;
      var bv = 0.0;
      if (n < N && kn < kEnd) {
        if (B_KMAJOR) { bv = b[bBase + kn * ldb + n]; } else { bv = b[bBase + n * ldb + kn]; }
      }
      Bs[pb.x * S + pb.y] = bv;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk++) {
      let row = kk * S;
      let b4 = vec4f(Bs[row + l.x], Bs[row + l.x + 16u], Bs[row + l.x + 32u], Bs[row + l.x + 48u]);
      acc0 = fma(vec4f(As[row + l.y]), b4, acc0);
      acc1 = fma(vec4f(As[row + l.y + 16u]), b4, acc1);
      acc2 = fma(vec4f(As[row + l.y + 32u]), b4, acc2);
      acc3 = fma(vec4f(As[row + l.y + 48u]), b4, acc3);
    }
    workgroupBarrier();
  }
  let n0 = nBase + l.x;
  store(o, mBase + l.y, n0, acc0);
  store(o, mBase + l.y + 16u, n0, acc1);
  store(o, mBase + l.y + 32u, n0, acc2);
  store(o, mBase + l.y + 48u, n0, acc3);
}

// C[m, n] = sum_z part[z, m, n] (+ bias[n]) (+ C[m, n]): part is bound as A, contiguous [splits, M, N].
@compute @workgroup_size(256)
fn reduce_splits(@builtin(global_invocation_id) g: vec3u) {
  let M = P.M;
  let N = P.N;
  let splits = P.splits;
  let i = g.x;
  if (i >= M * N) { return; }
  var s = 0.0;
  for (var z = 0u; z < splits; z++) { s += a[z * M * N + i]; }
  let m = i / N;
  let n = i % N;
  let o = P.cOff + m * P.ldc + n;
  if (HAS_BIAS) { s += bias[P.biasOff + n]; }
  if (GELU) { s = gelu(vec4f(s)).x; }
  if (ACCUMULATE) { s += c[o]; }
  c[o] = s;
}
