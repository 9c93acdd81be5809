/**
 * General matrix product with optional transposed storage, forward and backward.
 */
import { expectDims, expectLength, type Tensor } from "./check.ts";

/** Index of logical A[i,k] in storage: [M,K], or [K,M] when transposed. */
function indexA(i: number, k: number, M: number, K: number, transA: boolean): number {
  return transA ? k * M + i : i * K + k;
}

/** Index of logical B[k,n] in storage: [K,N], or [N,K] when transposed. */
function indexB(k: number, n: number, K: number, N: number, transB: boolean): number {
  return transB ? n * K + k : k * N + n;
}

/**
 * C = op(A) op(B).
 *
 * Shapes: a stored [M,K] ([K,M] when transA), b stored [K,N] ([N,K] when transB) -> c [M,N].
 */
export function matmul(
  a: Tensor,
  b: Tensor,
  M: number,
  N: number,
  K: number,
  transA = false,
  transB = false,
): Float64Array {
  expectDims({ M, N, K });
  expectLength("a", a, M * K, transA ? "[K,M]" : "[M,K]");
  expectLength("b", b, K * N, transB ? "[N,K]" : "[K,N]");
  const c = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let n = 0; n < N; n++) {
      let acc = 0;
      for (let k = 0; k < K; k++) {
        acc += a[indexA(i, k, M, K, transA)] * b[indexB(k, n, K, N, transB)];
      }
      c[i * N + n] = acc;
    }
  }
  return c;
}

/** Gradients of {@linkcode matmul}, each in the storage layout of its input. */
export interface MatmulGrads {
  /** Stored like a: [M,K], or [K,M] when transA. */
  da: Float64Array;
  /** Stored like b: [K,N], or [N,K] when transB. */
  db: Float64Array;
}

/**
 * Backward of {@linkcode matmul}: dA = dC op(B)^T and dB = op(A)^T dC, written back in the
 * storage layouts of a and b.
 *
 * Shapes: a, b as in {@linkcode matmul}, dc [M,N].
 */
export function matmulBackward(
  a: Tensor,
  b: Tensor,
  dc: Tensor,
  M: number,
  N: number,
  K: number,
  transA = false,
  transB = false,
): MatmulGrads {
  expectDims({ M, N, K });
  expectLength("a", a, M * K, transA ? "[K,M]" : "[M,K]");
  expectLength("b", b, K * N, transB ? "[N,K]" : "[K,N]");
  expectLength("dc", dc, M * N, "[M,N]");
  const da = new Float64Array(M * K);
  const db = new Float64Array(K * N);
  for (let i = 0; i < M; i++) {
    for (let n = 0; n < N; n++) {
      const g = dc[i * N + n];
      for (let k = 0; k < K; k++) {
        const ia = indexA(i, k, M, K, transA);
        const ib = indexB(k, n, K, N, transB);
        da[ia] += g * b[ib];
        db[ib] += g * a[ia];
      }
    }
  }
  return { da, db };
}
