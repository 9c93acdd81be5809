/**
 * Seeds and per-sample random streams.
 *
 * A request carries one 32-bit seed; sample i of that request gets
 * `sampleSeed(seed, i) = mix32((seed + i * 0x9E3779B9) mod 2^32)` where `mix32` is MurmurHash3's
 * finaliser (`src/util/prng.ts`). Every random number of a sample (its x_T and, for stochastic
 * samplers, the noise of each step) comes from Philox streams keyed by that value alone
 * (`src/sample/noise.ts`), so a sample's result does not depend on the batch it ran in, on its
 * position there or on the other requests.
 *
 * @module
 */

import { mix32 } from "../util/prng.ts";

/** The seed of sample `index` of a request whose seed is `seed` (both uint32). */
export function sampleSeed(seed: number, index: number): number {
  return mix32((seed + Math.imul(index, 0x9e3779b9)) >>> 0);
}

/** The seeds of samples `0..n-1` of a request. */
export function sampleSeeds(seed: number, n: number): number[] {
  const seeds = new Array<number>(n);
  for (let i = 0; i < n; i++) seeds[i] = sampleSeed(seed, i);
  return seeds;
}

/** A random uint32 from the platform's cryptographic generator (for requests without a seed). */
export function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}
