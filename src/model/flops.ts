/** Model FLOPs of a DiT (multiply-adds count 2), for MFU in benchmarks and training logs. */
import { dims, type DiTConfig } from "./config.ts";

/** FLOPs of one forward pass over `N` samples (matmuls, attention and the depthwise conv). */
export function forwardFlops(cfg: DiTConfig, N: number): number {
  const d = dims(cfg);
  const { T, D, F, Fout, hidden4, tFreq } = d;
  const NT = N * T;
  let f = 2 * NT * F * D + 2 * N * (tFreq * D + D * D);
  if (cfg.condition.kind === "vector") f += 2 * N * cfg.condition.dim * D;
  const perBlock = 2 * N * D * 6 * D + // adaLN
    2 * NT * D * 3 * D + // qkv
    2 * 2 * N * T * T * D + // q k^T and p v over all heads
    2 * NT * D * D + // proj
    2 * 2 * NT * D * hidden4 + // fc1, fc2
    2 * NT * hidden4 * cfg.dwKernel * (cfg.input.kind === "image" ? cfg.dwKernel : 1);
  f += cfg.depth * perBlock;
  f += 2 * N * D * 2 * D + 2 * NT * D * Fout;
  return f;
}

/** FLOPs of one training step (forward + backward = 3 forwards, the usual approximation). */
export function trainFlops(cfg: DiTConfig, N: number): number {
  return 3 * forwardFlops(cfg, N);
}
