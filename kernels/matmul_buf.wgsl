// Storage-buffer matmul for real GPUs: C[z] = alpha * op(A[z]) op(B[z]) (+ bias[n]) (+ C[z]).
// A is stored [M,K], or [K,M] with A_KMAJOR; B is stored [N,K], or [K,N] with B_KMAJOR.
// Every operand is a strided view: element (z, row, col) at off + (z/B2)*s1 + (z%B2)*s2 + row*ld + col.
// A 64x64 tile of C per workgroup of 16x16 threads (4x4 each), staged through workgroup memory
// in K-slices of 16. Bindings: 0 A, 1 B, 2 C (rw), 3 bias, 4 params. Dispatch (ceil(N/64), ceil(M/64), batch).

struct Params {
  M: u32, N: u32, K: u32, B2: u32,
  aOff: u32, aS1: u32, aS2: u32, lda: u32,
  bOff: u32, bS1: u32, bS2: u32, ldb: u32,
  cOff: u32, cS1: u32, cS2: u32, ldc: u32,
  biasOff: u32, _p0: u32, _p1: u32, _p2: u32,
  alpha: f32, _f0: f32, _f1: f32, _f2: f32,
}

override A_KMAJOR: bool = false;
override B_KMAJOR: bool = false;
override HAS_BIAS: bool = false;
override ACCUMULATE: bool = false;

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<uniform> P: Params;

var<workgroup> As: array<array<f32, 64>, 16>; // [k][m]
var<workgroup> Bs: array<array<f32, 64>, 16>; // [k][n]

fn loadA(z: u32, m: u32, k: u32) -> f32 {
  if (m >= P.M || k >= P.K) { return 0.0; }
  let base = P.aOff + (z / P.B2) * P.aS1 + (z % P.B2) * P.aS2;
  if (A_KMAJOR) { return a[base + k * P.lda + m]; }
  return a[base + m * P.lda + k];
}

fn loadB(z: u32, k: u32, n: u32) -> f32 {
  if (n >= P.N || k >= P.K) { return 0.0; }
  let base = P.bOff + (z / P.B2) * P.bS1 + (z % P.B2) * P.bS2;
  if (B_KMAJOR) { return b[base + k * P.ldb + n]; }
  return b[base + n * P.ldb + k];
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let z = wg.z;
  let mBase = wg.y * 64u;
  let nBase = wg.x * 64u;
  let tid = l.y * 16u + l.x;
  var acc: array<array<f32, 4>, 4>;
  for (var k0 = 0u; k0 < P.K; k0 += 16u) {
    // 256 threads load 16x64 of each operand: 4 elements each.
    for (var e = 0u; e < 4u; e++) {
      let idx = tid + e * 256u;
      let kk = idx / 64u;
      let mm = idx % 64u;
      As[kk][mm] = loadA(z, mBase + mm, k0 + kk);
      Bs[kk][mm] = loadB(z, k0 + kk, nBase + mm);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk++) {
      var av: array<f32, 4>;
      var bv: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        av[i] = As[kk][l.y * 4u + i];
        bv[i] = Bs[kk][l.x * 4u + i];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i][j] += av[i] * bv[j]; }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let m = mBase + l.y * 4u + i;
    for (var j = 0u; j < 4u; j++) {
      let n = nBase + l.x * 4u + j;
      if (m < P.M && n < P.N) {
        let o = P.cOff + (z / P.B2) * P.cS1 + (z % P.B2) * P.cS2 + m * P.ldc + n;
        var r = P.alpha * acc[i][j];
        if (HAS_BIAS) { r += bias[P.biasOff + n]; }
        if (ACCUMULATE) { r += c[o]; }
        c[o] = r;
      }
    }
  }
}
