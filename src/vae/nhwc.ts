/** Host-side layout conversions between PyTorch's NCHW and the VAE's NHWC activations. */

/** [N, C, H, W] -> [N, H, W, C]. */
export function nchwToNhwc(
  x: ArrayLike<number>,
  N: number,
  C: number,
  H: number,
  W: number,
): Float32Array {
  const out = new Float32Array(x.length);
  const HW = H * W;
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const src = (n * C + c) * HW;
      for (let p = 0; p < HW; p++) out[(n * HW + p) * C + c] = x[src + p];
    }
  }
  return out;
}

/** [N, H, W, C] -> [N, C, H, W]. */
export function nhwcToNchw(
  x: ArrayLike<number>,
  N: number,
  C: number,
  H: number,
  W: number,
): Float32Array {
  const out = new Float32Array(N * C * H * W);
  const HW = H * W;
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const dst = (n * C + c) * HW;
      for (let p = 0; p < HW; p++) out[dst + p] = x[(n * HW + p) * C + c];
    }
  }
  return out;
}
