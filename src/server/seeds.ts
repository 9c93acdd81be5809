/**
 * Seeds and per-sample random streams.
 *
 * A request carries one 32-bit seed; sample i of that request gets
 * `sampleSeed(seed, i) = fmix32((seed + i * 0x9E3779B9) mod 2^32)` where `fmix32` is MurmurHash3's
 * finaliser. Every random number of a sample (its x_T and, for stochastic samplers, the noise of each
 * step) comes from a generator seeded with that value alone, so a sample's result does not depend on
 * the batch it ran in, on its position there or on the other requests.
 *
 * @module
 */

/** MurmurHash3's 32-bit finaliser: a bijective mix of a uint32. */
export function fmix32(h: number): number {
  h = (h ^ (h >>> 16)) >>> 0;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h = (h ^ (h >>> 13)) >>> 0;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** The seed of sample `index` of a request whose seed is `seed` (both uint32). */
export function sampleSeed(seed: number, index: number): number {
  return fmix32((seed + Math.imul(index, 0x9e3779b9)) >>> 0);
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

/** A small seeded generator (mulberry32) with standard normal draws (Box-Muller). */
export class SeededRandom {
  #state: number;
  #spare: number | null = null;

  /** Starts a stream from a uint32 seed. */
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** A standard normal draw. */
  normal(): number {
    if (this.#spare !== null) {
      const s = this.#spare;
      this.#spare = null;
      return s;
    }
    const u = 1 - this.uniform(); // (0, 1]
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Fills `out` with standard normal draws. */
  fillNormal(out: Float64Array | Float32Array): void {
    for (let i = 0; i < out.length; i++) out[i] = this.normal();
  }
}
