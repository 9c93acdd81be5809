// Storage-buffer matmul for real GPUs: C[z] = act(alpha * op(A[z]) op(B[z]) (+ bias[n])) (+ C[z]),
// act = GELU (tanh) or none.
// A is stored [M,K], or [K,M] with A_KMAJOR; B is stored [N,K], or [K,N] with B_KMAJOR.
// Every operand is a strided view: element (z, row, col) at off + (z/B2)*s1 + (z%B2)*s2 + row*ld + col.
// Workgroups of 16x16 threads, operands staged through workgroup memory in K-slices of 16. Two
// tiles (matmul.ts, bufferTile, picks): `main`, 64x64 outputs per workgroup, 4x4 per thread, for
// most products; `main128`, 128x128 per workgroup, 8x8 per thread, for products with many tiles
// and K < 1024. Bindings: 0 A, 1 B, 2 C (rw), 3 bias, 4 params. Dispatch (ceil(N/T), ceil(M/T),
// batch) for tile edge T.
//
// Sum order (batch invariance): K is summed in chunks of kChunk (a multiple of 16 that depends on
// K alone, see matmul.ts): each chunk's dot product accumulates from zero, and the chunks' sums
// add up in order from zero, then alpha, bias, GELU and accumulation apply. Split K (SPLIT_K,
// unbatched products with a long K and few tiles, such as weight gradients summed over every
// token) runs the same sums on more workgroups: workgroup z covers chunk z and writes it to slice
// z of C (the caller passes a scratch C with s1 = M*N and zero batch strides for A and B), and
// `reduce_splits` adds the slices in order. Every row of a product thus comes out bit for bit the
// same whether it is split or not, so whatever M is. Without splitting such products ran on a
// dozen workgroups walking thousands of rows. `main128` serves only K < 1024, one chunk.
//
// Why it looks the way it does (NVIDIA over Vulkan; measured on an H100, docs/benchmarks.md):
// - per-thread results live in vec4 registers, never in an indexed private array (which
//   compilers may place in local memory: written that way, this kernel runs 100x slower on an
//   H200);
// - a thread owns a block of 4 rows x 4 columns (or 2 x 2 such blocks), so each k-step reads one
//   vec4 of A and one of B from workgroup memory per 16 multiply-adds (four scalars of each
//   instead: 7-20% slower);
// - the next slice's global loads are issued into registers before this slice's multiply-adds,
//   and stored to workgroup memory once they are done (after the barrier that ends the slice):
//   DiT-sized products have a few hundred workgroups, too few to hide memory latency by
//   occupancy alone (15-20% off the DiT-S/2 forward and training step);
// - global loads walk each operand's contiguous dimension across consecutive threads;
// - slices are stored k-major as rows of vec4 padded by one vec4, which turns the k-fastest
//   stores' bank conflicts (row-major operands) from 32-way into 2-way.

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

// Row m, columns n..n+3.
fn store4(o: Out, m: u32, n: u32, v: vec4f) {
  if (m >= o.M) { return; }
  let row = o.base + m * o.ldc;
  store1(o, row, n, v.x);
  store1(o, row, n + 1u, v.y);
  store1(o, row, n + 2u, v.z);
  store1(o, row, n + 3u, v.w);
}

// Where staged element idx of a 16 x T operand slice goes: (k, row within the tile). Consecutive
// threads walk the operand's contiguous dimension: k for a row-major operand, the row for a
// k-major one.
fn stagePos(idx: u32, kmajor: bool, T: u32) -> vec2u {
  if (kmajor) { return vec2u(idx / T, idx % T); }
  return vec2u(idx % 16u, idx / 16u);
}

// Element idx of the 16 x T slice of A (B) at k0 for the tile starting at row mBase (nBase), or
// 0 past the edges. (Separate functions: WGSL passes no storage pointers.)
fn loadA(base: u32, ld: u32, M: u32, mBase: u32, k0: u32, kEnd: u32, idx: u32, T: u32) -> f32 {
  let pa = stagePos(idx, A_KMAJOR, T);
  let m = mBase + pa.y;
  let k = k0 + pa.x;
  if (m >= M || k >= kEnd) { return 0.0; }
  if (A_KMAJOR) { return a[base + k * ld + m]; }
  return a[base + m * ld + k];
}

fn loadB(base: u32, ld: u32, N: u32, nBase: u32, k0: u32, kEnd: u32, idx: u32, T: u32) -> f32 {
  let pb = stagePos(idx, B_KMAJOR, T);
  let n = nBase + pb.y;
  let k = k0 + pb.x;
  if (n >= N || k >= kEnd) { return 0.0; }
  if (B_KMAJOR) { return b[base + k * ld + n]; }
  return b[base + n * ld + k];
}

// Elements i, i + 256, i + 512, i + 768 of a slice (a thread's share), as one vec4 of registers.
fn loadA4(base: u32, ld: u32, M: u32, mBase: u32, k0: u32, kEnd: u32, i: u32, T: u32) -> vec4f {
  return vec4f(
    loadA(base, ld, M, mBase, k0, kEnd, i, T),
    loadA(base, ld, M, mBase, k0, kEnd, i + 256u, T),
    loadA(base, ld, M, mBase, k0, kEnd, i + 512u, T),
    loadA(base, ld, M, mBase, k0, kEnd, i + 768u, T),
  );
}

fn loadB4(base: u32, ld: u32, N: u32, nBase: u32, k0: u32, kEnd: u32, i: u32, T: u32) -> vec4f {
  return vec4f(
    loadB(base, ld, N, nBase, k0, kEnd, i, T),
    loadB(base, ld, N, nBase, k0, kEnd, i + 256u, T),
    loadB(base, ld, N, nBase, k0, kEnd, i + 512u, T),
    loadB(base, ld, N, nBase, k0, kEnd, i + 768u, T),
  );
}

// Where the operands of batch entry z start, and its output geometry.
struct Geom { aBase: u32, bBase: u32, o: Out }

fn geom(z: u32) -> Geom {
  let zq = z / P.B2;
  let zr = z % P.B2;
  return Geom(
    P.aOff + zq * P.aS1 + zr * P.aS2,
    P.bOff + zq * P.bS1 + zr * P.bS2,
    Out(P.M, P.N, P.cOff + zq * P.cS1 + zr * P.cS2, P.ldc, P.alpha, P.biasOff),
  );
}

// ---- main: 64x64 tiles, thread (x, y) owns rows 4y..4y+3 and columns 4x..4x+3 ----
const S4 = 17u;
var<workgroup> As4: array<vec4f, 272>; // [16 k][17], m within the tile in groups of 4
var<workgroup> Bs4: array<vec4f, 272>; // [16 k][17], n within the tile in groups of 4

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let M = P.M;
  let N = P.N;
  let K = P.K;
  let lda = P.lda;
  let ldb = P.ldb;
  let kChunk = P.kChunk;
  let g = geom(wg.z); // split K: the caller's zero batch strides for A and B, C's slice wg.z
  let mBase = wg.y * 64u;
  let nBase = wg.x * 64u;
  let tid = l.y * 16u + l.x;
  var acc0 = vec4f(0.0); // row 4y + i: acc<i> (this chunk), sum<i> (the chunks before)
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  var sum0 = vec4f(0.0);
  var sum1 = vec4f(0.0);
  var sum2 = vec4f(0.0);
  var sum3 = vec4f(0.0);
  var kBegin = 0u;
  var kEnd = K;
  if (SPLIT_K) {
    kBegin = wg.z * kChunk;
    kEnd = min(kBegin + kChunk, K);
  }
  // This thread's staged elements tid + 256e, e = 0..3, of the slice in flight.
  var ra = loadA4(g.aBase, lda, M, mBase, kBegin, kEnd, tid, 64u);
  var rb = loadB4(g.bBase, ldb, N, nBase, kBegin, kEnd, tid, 64u);
  for (var k0 = kBegin; k0 < kEnd; k0 += 16u) {
    for (var e = 0u; e < 4u; e++) {
      let pa = stagePos(tid + e * 256u, A_KMAJOR, 64u);
      As4[pa.x * S4 + pa.y / 4u][pa.y % 4u] = ra[e];
      let pb = stagePos(tid + e * 256u, B_KMAJOR, 64u);
      Bs4[pb.x * S4 + pb.y / 4u][pb.y % 4u] = rb[e];
    }
    workgroupBarrier();
    let next = k0 + 16u;
    if (next < kEnd) {
      ra = loadA4(g.aBase, lda, M, mBase, next, kEnd, tid, 64u);
      rb = loadB4(g.bBase, ldb, N, nBase, next, kEnd, tid, 64u);
    }
    for (var kk = 0u; kk < 16u; kk++) {
      let a4 = As4[kk * S4 + l.y];
      let b4 = Bs4[kk * S4 + l.x];
      acc0 = fma(vec4f(a4.x), b4, acc0);
      acc1 = fma(vec4f(a4.y), b4, acc1);
      acc2 = fma(vec4f(a4.z), b4, acc2);
      acc3 = fma(vec4f(a4.w), b4, acc3);
    }
    workgroupBarrier();
    if (next % kChunk == 0u || next >= kEnd) {
      sum0 += acc0;
      sum1 += acc1;
      sum2 += acc2;
      sum3 += acc3;
      acc0 = vec4f(0.0);
      acc1 = vec4f(0.0);
      acc2 = vec4f(0.0);
      acc3 = vec4f(0.0);
    }
  }
  let m0 = mBase + 4u * l.y;
  let n0 = nBase + 4u * l.x;
  store4(g.o, m0, n0, sum0);
  store4(g.o, m0 + 1u, n0, sum1);
  store4(g.o, m0 + 2u, n0, sum2);
  store4(g.o, m0 + 3u, n0, sum3);
}

// ---- main128: 128x128 tiles, thread (x, y) owns rows 4y.. and 64+4y.., columns 4x.. and 64+4x..
// Each k-step reads two vec4 of A and two of B for 64 multiply-adds. K < 1024 only (one chunk).
const S8 = 33u;
var<workgroup> As8: array<vec4f, 528>; // [16 k][33], m within the tile in groups of 4
var<workgroup> Bs8: array<vec4f, 528>; // [16 k][33], n within the tile in groups of 4

@compute @workgroup_size(16, 16)
fn main128(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let M = P.M;
  let N = P.N;
  let K = P.K;
  let lda = P.lda;
  let ldb = P.ldb;
  let g = geom(wg.z);
  let mBase = wg.y * 128u;
  let nBase = wg.x * 128u;
  let tid = l.y * 16u + l.x;
  // c<i><h>: row 4y + i, columns 4x.. (h = 0) or 64 + 4x.. (h = 1); d<i><h>: row 64 + 4y + i.
  var c00 = vec4f(0.0); var c01 = vec4f(0.0);
  var c10 = vec4f(0.0); var c11 = vec4f(0.0);
  var c20 = vec4f(0.0); var c21 = vec4f(0.0);
  var c30 = vec4f(0.0); var c31 = vec4f(0.0);
  var d00 = vec4f(0.0); var d01 = vec4f(0.0);
  var d10 = vec4f(0.0); var d11 = vec4f(0.0);
  var d20 = vec4f(0.0); var d21 = vec4f(0.0);
  var d30 = vec4f(0.0); var d31 = vec4f(0.0);
  // This thread's staged elements tid + 256e, e = 0..7 (lo: 0..3, hi: 4..7), of the slice in flight.
  var raLo = loadA4(g.aBase, lda, M, mBase, 0u, K, tid, 128u);
  var raHi = loadA4(g.aBase, lda, M, mBase, 0u, K, tid + 1024u, 128u);
  var rbLo = loadB4(g.bBase, ldb, N, nBase, 0u, K, tid, 128u);
  var rbHi = loadB4(g.bBase, ldb, N, nBase, 0u, K, tid + 1024u, 128u);
  for (var k0 = 0u; k0 < K; k0 += 16u) {
    for (var e = 0u; e < 4u; e++) {
      let pa = stagePos(tid + e * 256u, A_KMAJOR, 128u);
      As8[pa.x * S8 + pa.y / 4u][pa.y % 4u] = raLo[e];
      let qa = stagePos(tid + (e + 4u) * 256u, A_KMAJOR, 128u);
      As8[qa.x * S8 + qa.y / 4u][qa.y % 4u] = raHi[e];
      let pb = stagePos(tid + e * 256u, B_KMAJOR, 128u);
      Bs8[pb.x * S8 + pb.y / 4u][pb.y % 4u] = rbLo[e];
      let qb = stagePos(tid + (e + 4u) * 256u, B_KMAJOR, 128u);
      Bs8[qb.x * S8 + qb.y / 4u][qb.y % 4u] = rbHi[e];
    }
    workgroupBarrier();
    let next = k0 + 16u;
    if (next < K) {
      raLo = loadA4(g.aBase, lda, M, mBase, next, K, tid, 128u);
      raHi = loadA4(g.aBase, lda, M, mBase, next, K, tid + 1024u, 128u);
      rbLo = loadB4(g.bBase, ldb, N, nBase, next, K, tid, 128u);
      rbHi = loadB4(g.bBase, ldb, N, nBase, next, K, tid + 1024u, 128u);
    }
    for (var kk = 0u; kk < 16u; kk++) {
      let row = kk * S8;
      let a0 = As8[row + l.y];
      let a1 = As8[row + 16u + l.y];
      let b0 = Bs8[row + l.x];
      let b1 = Bs8[row + 16u + l.x];
      c00 = fma(vec4f(a0.x), b0, c00); c01 = fma(vec4f(a0.x), b1, c01);
      c10 = fma(vec4f(a0.y), b0, c10); c11 = fma(vec4f(a0.y), b1, c11);
      c20 = fma(vec4f(a0.z), b0, c20); c21 = fma(vec4f(a0.z), b1, c21);
      c30 = fma(vec4f(a0.w), b0, c30); c31 = fma(vec4f(a0.w), b1, c31);
      d00 = fma(vec4f(a1.x), b0, d00); d01 = fma(vec4f(a1.x), b1, d01);
      d10 = fma(vec4f(a1.y), b0, d10); d11 = fma(vec4f(a1.y), b1, d11);
      d20 = fma(vec4f(a1.z), b0, d20); d21 = fma(vec4f(a1.z), b1, d21);
      d30 = fma(vec4f(a1.w), b0, d30); d31 = fma(vec4f(a1.w), b1, d31);
    }
    workgroupBarrier();
  }
  // One chunk: its sum is added to zero, as in `main` (the same bits for any M).
  let o = g.o;
  let m0 = mBase + 4u * l.y;
  let m1 = m0 + 64u;
  let n0 = nBase + 4u * l.x;
  let n1 = n0 + 64u;
  let z = vec4f(0.0);
  store4(o, m0, n0, z + c00); store4(o, m0, n1, z + c01);
  store4(o, m0 + 1u, n0, z + c10); store4(o, m0 + 1u, n1, z + c11);
  store4(o, m0 + 2u, n0, z + c20); store4(o, m0 + 2u, n1, z + c21);
  store4(o, m0 + 3u, n0, z + c30); store4(o, m0 + 3u, n1, z + c31);
  store4(o, m1, n0, z + d00); store4(o, m1, n1, z + d01);
  store4(o, m1 + 1u, n0, z + d10); store4(o, m1 + 1u, n1, z + d11);
  store4(o, m1 + 2u, n0, z + d20); store4(o, m1 + 2u, n1, z + d21);
  store4(o, m1 + 3u, n0, z + d30); store4(o, m1 + 3u, n1, z + d31);
}

// C[m, n] = alpha sum_z part[z, m, n] (+ bias[n]) (+ C[m, n]): part is bound as A, contiguous
// [splits, M, N].
@compute @workgroup_size(256)
fn reduce_splits(@builtin(global_invocation_id) g: vec3u) {
  let M = P.M;
  let N = P.N;
  let splits = P.splits;
  let i = g.x;
  if (i >= M * N) { return; }
  var s = 0.0;
  for (var z = 0u; z < splits; z++) { s += a[z * M * N + i]; }
  s *= P.alpha;
  let m = i / N;
  let n = i % N;
  let o = P.cOff + m * P.ldc + n;
  if (HAS_BIAS) { s += bias[P.biasOff + n]; }
  if (GELU) { s = gelu(vec4f(s)).x; }
  if (ACCUMULATE) { s += c[o]; }
  c[o] = s;
}
