/**
 * numpy's legacy `np.random.RandomState` for the draws Push-T's reset makes, bit for bit: the
 * MT19937 generator seeded by `init_genrand(seed)` (what RandomState does with an integer seed),
 * `randint(low, high)` by masked rejection on 32-bit outputs, `random_sample()` as a 53-bit double
 * from two outputs, and `randn()` by the Marsaglia polar method that caches its second value.
 * Written from numpy's documented algorithms so that a seed gives gym-pusht's initial state.
 */

const N = 624;
const M = 397;

/** A port of `numpy.random.RandomState` (integer seeds, the few methods Push-T uses). */
export class NumpyRandomState {
  readonly #mt = new Uint32Array(N);
  #mti = N;
  #gauss = 0;
  #hasGauss = false;

  /** Seeds like `np.random.RandomState(seed)` for an integer seed in [0, 2^32). */
  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new Error(`RandomState seed must be an integer in [0, 2^32), got ${seed}`);
    }
    const mt = this.#mt;
    mt[0] = seed >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      // 1812433253 * prev + i modulo 2^32, split to stay exact in doubles
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
    this.#mti = N;
  }

  /** The next raw 32-bit output of MT19937. */
  nextUint32(): number {
    const mt = this.#mt;
    if (this.#mti >= N) {
      for (let k = 0; k < N; k++) {
        const y = (mt[k] & 0x80000000) | (mt[(k + 1) % N] & 0x7fffffff);
        mt[k] = mt[(k + M) % N] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      this.#mti = 0;
    }
    let y = mt[this.#mti++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** `random_sample()`: a double in [0, 1) with 53 random bits. */
  randomSample(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** `randint(low, high)`: an integer in [low, high), drawn as numpy's legacy int64 path does. */
  randint(low: number, high: number): number {
    if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low) {
      throw new Error(`randint needs integers low < high, got ${low}, ${high}`);
    }
    const range = high - 1 - low;
    if (range === 0) return low;
    if (range > 0xffffffff) throw new Error(`randint range ${range} exceeds 2^32 - 1`);
    if (range === 0xffffffff) return low + this.nextUint32();
    // smallest all-ones mask covering the range; reject draws above it
    let mask = range;
    mask |= mask >>> 1;
    mask |= mask >>> 2;
    mask |= mask >>> 4;
    mask |= mask >>> 8;
    mask |= mask >>> 16;
    mask >>>= 0;
    for (;;) {
      const v = (this.nextUint32() & mask) >>> 0;
      if (v <= range) return low + v;
    }
  }

  /** `randn()`: a standard normal draw (legacy polar Box-Muller, second value cached). */
  randn(): number {
    if (this.#hasGauss) {
      this.#hasGauss = false;
      const g = this.#gauss;
      this.#gauss = 0;
      return g;
    }
    let x1: number, x2: number, r2: number;
    do {
      x1 = 2 * this.randomSample() - 1;
      x2 = 2 * this.randomSample() - 1;
      r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1 || r2 === 0);
    const f = Math.sqrt(-2 * Math.log(r2) / r2);
    this.#gauss = f * x1;
    this.#hasGauss = true;
    return f * x2;
  }
}
