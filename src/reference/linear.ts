/**
 * Fully connected layer (PyTorch `nn.Linear`), forward and backward.
 */
import { expectDims, expectLength, type Tensor } from "./check.ts";

/**
 * y = x w^T + b, as PyTorch `nn.Linear`.
 *
 * Shapes: x [M,K], w [N,K] (PyTorch layout: one row per output feature), b [N] or null -> y [M,N].
 */
export function linear(
  x: Tensor,
  w: Tensor,
  b: Tensor | null,
  M: number,
  K: number,
  N: number,
): Float64Array {
  expectDims({ M, K, N });
  expectLength("x", x, M * K, "[M,K]");
  expectLength("w", w, N * K, "[N,K]");
  if (b) expectLength("b", b, N, "[N]");
  const y = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let acc = b ? b[n] : 0;
      for (let k = 0; k < K; k++) acc += x[m * K + k] * w[n * K + k];
      y[m * N + n] = acc;
    }
  }
  return y;
}

/** Gradients of {@linkcode linear}. */
export interface LinearGrads {
  /** [M,K] */
  dx: Float64Array;
  /** [N,K] */
  dw: Float64Array;
  /** [N] (the bias gradient; ignore it when the layer has no bias) */
  db: Float64Array;
}

/**
 * Backward of {@linkcode linear}: dx = dy w, dw = dy^T x, db = column sums of dy.
 *
 * Shapes: x [M,K], w [N,K], dy [M,N] -> dx [M,K], dw [N,K], db [N].
 */
export function linearBackward(
  x: Tensor,
  w: Tensor,
  dy: Tensor,
  M: number,
  K: number,
  N: number,
): LinearGrads {
  expectDims({ M, K, N });
  expectLength("x", x, M * K, "[M,K]");
  expectLength("w", w, N * K, "[N,K]");
  expectLength("dy", dy, M * N, "[M,N]");
  const dx = new Float64Array(M * K);
  const dw = new Float64Array(N * K);
  const db = new Float64Array(N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      const g = dy[m * N + n];
      db[n] += g;
      for (let k = 0; k < K; k++) {
        dx[m * K + k] += g * w[n * K + k];
        dw[n * K + k] += g * x[m * K + k];
      }
    }
  }
  return { dx, dw, db };
}
