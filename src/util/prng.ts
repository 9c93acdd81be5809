/**
 * Small deterministic pseudo-random helpers: a counter-free 32-bit integer hash and a seeded
 * generator (SplitMix32-style), for reproducible shuffles, splits and augmentations.
 *
 * These are not cryptographic. They are stable across platforms and Deno versions, which is what
 * exact training resumption needs.
 */

/** Mixes one 32-bit integer into a well-distributed 32-bit unsigned integer (murmur3 finaliser). */
export function mix32(x: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x85ebca6b) >>> 0;
  x = (x ^ (x >>> 13)) >>> 0;
  x = Math.imul(x, 0xc2b2ae35) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

/** Hashes a list of integers (each taken modulo 2^32) into one unsigned 32-bit integer. */
export function hash32(...values: number[]): number {
  let h = 0x9e3779b9;
  for (const v of values) h = mix32((h ^ mix32(v >>> 0)) + 0x7f4a7c15);
  return h;
}

/** A seeded pseudo-random generator (SplitMix32-style: a Weyl sequence through {@linkcode mix32}). */
export class Rng {
  #state: number;

  /** Creates a generator; equal seeds give equal sequences. */
  constructor(seed: number) {
    this.#state = hash32(seed) >>> 0;
  }

  /** The next unsigned 32-bit integer. */
  nextU32(): number {
    this.#state = (this.#state + 0x9e3779b9) >>> 0;
    return mix32(this.#state);
  }

  /** A float uniform in [0, 1) with 32 random bits. */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** An integer uniform in [0, n) (n a positive integer below 2^32; bias below 2^-32 * n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/** Shuffles `items` in place with Fisher-Yates driven by `rng`, and returns it. */
export function shuffleInPlace<T extends { length: number; [i: number]: unknown }>(
  items: T,
  rng: Rng,
): T {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = items[i];
    items[i] = items[j];
    items[j] = t;
  }
  return items;
}
