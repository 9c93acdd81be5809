/**
 * Sinusoidal diffusion-timestep features (the input of the timestep MLP).
 */
import { expectDims, expectLength, type Tensor } from "./check.ts";

/**
 * Which timestep embedding convention to follow.
 *
 * - "official": facebookresearch/DiT `TimestepEmbedder.timestep_embedding`: half = floor(dim/2),
 *   freq_k = exp(-ln(10000) * k / half), out = [cos(t*freq), sin(t*freq)] (cos first), plus a zero
 *   column when dim is odd.
 * - "seed": half = dim/2, freq_k = exp(-k * ln(10000) / (half-1)), out = [sin(t*freq),
 *   cos(t*freq)] (sin first); dim must be even and at least 4.
 */
export type TimestepVariant = "official" | "seed";

/**
 * Sinusoidal features of raw (float) timesteps; see {@linkcode TimestepVariant}. The official code
 * computes in float32, this in float64.
 *
 * Shapes: t [N] -> features [N, dim].
 */
export function timestepFeatures(
  t: Tensor,
  N: number,
  dim: number,
  variant: TimestepVariant,
): Float64Array {
  expectDims({ N, dim });
  expectLength("t", t, N, "[N]");
  const half = Math.floor(dim / 2);
  const freqs = new Float64Array(half);
  let sinFirst: boolean;
  if (variant === "official") {
    if (half < 1) throw new Error(`Timestep feature width must be at least 2, got ${dim}`);
    for (let k = 0; k < half; k++) freqs[k] = Math.exp(-Math.log(10000) * k / half);
    sinFirst = false;
  } else if (variant === "seed") {
    if (dim % 2 !== 0 || half < 2) {
      throw new Error(`Seed timestep feature width must be even and at least 4, got ${dim}`);
    }
    for (let k = 0; k < half; k++) freqs[k] = Math.exp(-k * Math.log(10000) / (half - 1));
    sinFirst = true;
  } else {
    throw new Error(`Unknown timestep variant "${variant}"`);
  }
  const out = new Float64Array(N * dim);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < half; k++) {
      const arg = t[n] * freqs[k];
      const s = Math.sin(arg);
      const c = Math.cos(arg);
      out[n * dim + k] = sinFirst ? s : c;
      out[n * dim + half + k] = sinFirst ? c : s;
    }
  }
  return out;
}
