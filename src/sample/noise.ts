/**
 * The noise a sampling run draws, in one place: sample n's initial x_T and its per-step noise come
 * from Philox streams keyed by that sample's seed alone (`src/util/philox.ts`), so a sample
 * never depends on its batch. The GPU denoiser draws the same values with `kernels/philox_normal.wgsl`
 * from the row keys below; CPU samplers and servers draw them with the functions below.
 */
import { NoiseDomain, type NoiseKey, philoxNormal } from "../util/philox.ts";

/** Row key of a sample's initial noise x_T (domain "initial", stream 0). */
export function initialNoiseKey(seed: number): NoiseKey {
  return { seed, domain: NoiseDomain.initial };
}

/**
 * Row key of a sample's step noise (domain "step"); the GPU adds the step index to its stream 0,
 * so step k's noise is stream k.
 */
export function stepNoiseKey(seed: number, step = 0): NoiseKey {
  return { seed, domain: NoiseDomain.step, stream: step };
}

/** A sample's initial noise x_T. Shape: [L]. */
export function initialNoise(seed: number, L: number): Float32Array {
  return philoxNormal(initialNoiseKey(seed), L);
}

/** The noise a sample's step `step` adds (DDPM, DDIM with eta > 0). Shape: [L]. */
export function stepNoise(seed: number, step: number, L: number): Float32Array {
  return philoxNormal(stepNoiseKey(seed, step), L);
}
