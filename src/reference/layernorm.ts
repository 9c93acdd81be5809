/**
 * Layer normalization without affine parameters (the DiT blocks' `elementwise_affine=False`).
 */
import { expectDims, expectLength, type Tensor } from "./check.ts";

/** Result of {@linkcode layerNorm}. */
export interface LayerNormResult {
  /** Normalized rows, [R,C]. */
  y: Float64Array;
  /** Row means, [R]. */
  mean: Float64Array;
  /** Row reciprocal standard deviations 1/sqrt(var + eps), biased variance, [R]. */
  rstd: Float64Array;
}

/**
 * Normalizes each row: y = (x - mean) / sqrt(var + eps), biased variance, no affine.
 *
 * Shapes: x [R,C] -> y [R,C], mean [R], rstd [R].
 */
export function layerNorm(x: Tensor, R: number, C: number, eps: number): LayerNormResult {
  expectDims({ R, C });
  expectLength("x", x, R * C, "[R,C]");
  const y = new Float64Array(R * C);
  const mean = new Float64Array(R);
  const rstd = new Float64Array(R);
  for (let r = 0; r < R; r++) {
    let sum = 0;
    for (let c = 0; c < C; c++) sum += x[r * C + c];
    const mu = sum / C;
    let sq = 0;
    for (let c = 0; c < C; c++) sq += (x[r * C + c] - mu) ** 2;
    const rs = 1 / Math.sqrt(sq / C + eps);
    for (let c = 0; c < C; c++) y[r * C + c] = (x[r * C + c] - mu) * rs;
    mean[r] = mu;
    rstd[r] = rs;
  }
  return { y, mean, rstd };
}

/**
 * Backward of {@linkcode layerNorm}: with xhat = (x - mean) * rstd,
 * dx = rstd * (dy - mean(dy) - xhat * mean(dy * xhat)) per row.
 *
 * Shapes: x [R,C], mean [R], rstd [R], dy [R,C] -> dx [R,C].
 */
export function layerNormBackward(
  x: Tensor,
  mean: Tensor,
  rstd: Tensor,
  dy: Tensor,
  R: number,
  C: number,
): Float64Array {
  expectDims({ R, C });
  expectLength("x", x, R * C, "[R,C]");
  expectLength("mean", mean, R, "[R]");
  expectLength("rstd", rstd, R, "[R]");
  expectLength("dy", dy, R * C, "[R,C]");
  const dx = new Float64Array(R * C);
  for (let r = 0; r < R; r++) {
    let sumDy = 0;
    let sumDyXhat = 0;
    for (let c = 0; c < C; c++) {
      const xhat = (x[r * C + c] - mean[r]) * rstd[r];
      sumDy += dy[r * C + c];
      sumDyXhat += dy[r * C + c] * xhat;
    }
    for (let c = 0; c < C; c++) {
      const xhat = (x[r * C + c] - mean[r]) * rstd[r];
      dx[r * C + c] = rstd[r] * (dy[r * C + c] - sumDy / C - xhat * sumDyXhat / C);
    }
  }
  return dx;
}
