/**
 * Row softmax, forward and backward.
 */
import { expectDims, expectLength, type Tensor } from "./check.ts";

/**
 * Softmax over the last axis (max-subtracted for stability).
 *
 * Shapes: x [R,C] -> y [R,C].
 */
export function softmax(x: Tensor, R: number, C: number): Float64Array {
  expectDims({ R, C });
  expectLength("x", x, R * C, "[R,C]");
  const y = new Float64Array(R * C);
  for (let r = 0; r < R; r++) {
    let max = -Infinity;
    for (let c = 0; c < C; c++) max = Math.max(max, x[r * C + c]);
    let sum = 0;
    for (let c = 0; c < C; c++) {
      const e = Math.exp(x[r * C + c] - max);
      y[r * C + c] = e;
      sum += e;
    }
    for (let c = 0; c < C; c++) y[r * C + c] /= sum;
  }
  return y;
}

/**
 * Backward of {@linkcode softmax} from its output: dx = y * (dy - sum_c(dy * y)) per row.
 *
 * Shapes: y [R,C], dy [R,C] -> dx [R,C].
 */
export function softmaxBackward(y: Tensor, dy: Tensor, R: number, C: number): Float64Array {
  expectDims({ R, C });
  expectLength("y", y, R * C, "[R,C]");
  expectLength("dy", dy, R * C, "[R,C]");
  const dx = new Float64Array(R * C);
  for (let r = 0; r < R; r++) {
    let dot = 0;
    for (let c = 0; c < C; c++) dot += dy[r * C + c] * y[r * C + c];
    for (let c = 0; c < C; c++) dx[r * C + c] = y[r * C + c] * (dy[r * C + c] - dot);
  }
  return dx;
}
