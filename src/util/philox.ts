/**
 * Philox4x32-10 counter-based random numbers (Salmon et al., "Parallel random numbers: as easy as
 * 1, 2, 3", SC 2011; constants and round structure of Random123), bit-exact with
 * `kernels/philox_normal.wgsl`.
 *
 * Noise layout used by the engine: for a row (one sample of a request) with 64-bit seed
 * `(seedLo, seedHi)`, element `i` of that row's noise for stream `stream` in domain `domain` is
 * lane `i % 4` of `philox4x32_10(counter = [i / 4, 0, stream, domain], key = [seedLo, seedHi])`
 * turned into a standard normal by {@linkcode boxMuller}. The value depends only on
 * (seed, stream, domain, i), so sample n of a request gets the same noise whatever batch it is in.
 * Streams distinguish draws of one purpose (e.g. the denoising step index); domains distinguish
 * purposes ({@linkcode NoiseDomain}).
 */

/** Purposes of noise draws (the counter's last word), so that streams never collide. */
export const NoiseDomain = {
  /** The initial latent x_T of a request (stream 0). */
  initial: 0,
  /** Per-step sampler noise (DDPM, DDIM eta > 0); stream = step index. */
  step: 1,
  /** Training noise; stream = training step. */
  train: 2,
  /** VAE posterior sampling; stream = image index. */
  vae: 3,
} as const;

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High 32 bits of the 64-bit product of two u32 values (exact in float64 pieces). */
function mulhi(a: number, b: number): number {
  const al = a & 0xffff;
  const ah = a >>> 16;
  const p1 = al * b; // < 2^48
  const p2 = ah * b; // < 2^48; a*b = p2 * 2^16 + p1
  return (Math.floor(p2 / 65536) + Math.floor(((p2 % 65536) * 65536 + p1) / 4294967296)) >>> 0;
}

/**
 * Philox4x32 with `rounds` rounds (10 = Philox4x32-10) on `counter` [4 x u32] and `key`
 * [2 x u32]; writes the 4 output words to `out` (returned).
 */
export function philox4x32(
  counter: ArrayLike<number>,
  key: ArrayLike<number>,
  out: Uint32Array = new Uint32Array(4),
  rounds = 10,
): Uint32Array {
  let c0 = counter[0] >>> 0, c1 = counter[1] >>> 0, c2 = counter[2] >>> 0, c3 = counter[3] >>> 0;
  let k0 = key[0] >>> 0, k1 = key[1] >>> 0;
  for (let r = 0; r < rounds; r++) {
    if (r > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const hi0 = mulhi(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
  return out;
}

// ln(1 + f) = f + f^2 * Q(f) on [sqrt(1/2) - 1, sqrt(2) - 1]: degree-9 least-squares fit on
// Chebyshev nodes (< 0.9 ulp in float32 Horner evaluation).
const LOG_Q = [
  -0.5,
  0.3333331048488617,
  -0.25000032782554626,
  0.20002254843711853,
  -0.16667477786540985,
  0.14216960966587067,
  -0.12409283220767975,
  0.11907040327787399,
  -0.11670336127281189,
  0.0670795887708664,
].map(Math.fround);
const LN2 = Math.fround(Math.LN2);
const SQRT2 = Math.fround(Math.SQRT2);
// Taylor coefficients of sin(2 pi w) / w and (cos(2 pi w) - 1) / w^2 in w^2, for |w| <= 1/8.
const SIN_C = [0, 1, 2, 3, 4].map((k) =>
  Math.fround((-1) ** k * (2 * Math.PI) ** (2 * k + 1) / factorial(2 * k + 1))
);
const COS_C = [1, 2, 3, 4, 5].map((k) =>
  Math.fround((-1) ** k * (2 * Math.PI) ** (2 * k) / factorial(2 * k))
);

function factorial(n: number): number {
  return n <= 1 ? 1 : n * factorial(n - 1);
}

/** Horner evaluation in float32 steps: c[0] + x (c[1] + x (c[2] + ...)). */
function hornerF32(c: number[], x: number): number {
  const f = Math.fround;
  let q = c[c.length - 1];
  for (let i = c.length - 2; i >= 0; i--) q = f(f(q * x) + c[i]);
  return q;
}

/**
 * ln(k * 2^-24) for an integer k in [1, 2^24], in the float32 steps of the WGSL kernel: exact
 * split k * 2^-24 = m * 2^e with m in [sqrt(1/2), sqrt(2)), then e ln 2 + ln(1 + (m - 1)).
 * Within ~1 ulp of the true value; only +, * and exact bit operations, so the GPU agrees.
 */
export function logU24(k: number): number {
  const f = Math.fround;
  const p = 31 - Math.clz32(k);
  let m = k * 2 ** -p; // exact, in [1, 2)
  let e = p - 24;
  if (m > SQRT2) {
    m *= 0.5;
    e += 1;
  }
  const x = f(m - 1);
  const q = hornerF32(LOG_Q, x);
  return f(f(e * LN2) + f(x + f(f(x * x) * q)));
}

/**
 * (cos(2 pi v), sin(2 pi v)) for v on the 2^-24 grid in [-0.5, 0.5], in the float32 steps of the
 * WGSL kernel: exact quadrant reduction w = v - q/4 (|w| <= 1/8), Taylor polynomials in w,
 * quadrant rotation. Within ~2 ulp of the true values.
 */
export function cosSinTurns(v: number): [number, number] {
  const f = Math.fround;
  const q = Math.floor(v * 4 + 0.5);
  const w = v - q * 0.25; // exact
  const w2 = f(w * w);
  const s = f(w * hornerF32(SIN_C, w2));
  const c = f(1 + f(w2 * hornerF32(COS_C, w2)));
  switch (q & 3) {
    case 0:
      return [c, s];
    case 1:
      return [-s, c];
    case 2:
      return [-c, -s];
    default:
      return [s, -c];
  }
}

/**
 * Box-Muller on two u32 words, in the same float32 steps as the WGSL kernel:
 * `u = ((a >> 8) + 1) * 2^-24` in (0, 1], `v = (b >> 8) * 2^-24 - 0.5` in [-0.5, 0.5),
 * `r = sqrt(-2 ln u)`; returns `[r cos(2 pi v), r sin(2 pi v)]`. Largest magnitude
 * sqrt(48 ln 2) = 5.77. ln, cos and sin are our own polynomials ({@linkcode logU24},
 * {@linkcode cosSinTurns}) so the GPU reproduces these values to ~1 ulp on any device.
 */
export function boxMuller(a: number, b: number): [number, number] {
  const f = Math.fround;
  const r = f(Math.sqrt(f(-2 * logU24((a >>> 8) + 1))));
  const [c, s] = cosSinTurns((b >>> 8) * 2 ** -24 - 0.5);
  return [f(r * c), f(r * s)];
}

/** A 64-bit seed as the two u32 key words `[lo, hi]` (numbers must be safe non-negative integers). */
export function seedWords(seed: number | bigint): [number, number] {
  const s = BigInt(seed);
  if (s < 0n || s >= 1n << 64n) throw new Error(`Seed ${seed} is outside 0..2^64-1`);
  return [Number(s & 0xffffffffn), Number(s >> 32n)];
}

/** Where a row's noise comes from. */
export interface NoiseKey {
  /** 64-bit seed (or its `[lo, hi]` words). */
  seed: number | bigint | [number, number];
  /** Stream id (e.g. step index); default 0. */
  stream?: number;
  /** {@linkcode NoiseDomain} value; default 0. */
  domain?: number;
}

function keyWords(seed: NoiseKey["seed"]): [number, number] {
  return Array.isArray(seed) ? [seed[0] >>> 0, seed[1] >>> 0] : seedWords(seed);
}

/**
 * Elements `[start, start + count)` of one row: element i is lane i % 4 of the four values `map`
 * makes from Philox block i / 4 (counter = [i/4 lo, i/4 hi, stream, domain]).
 */
function philoxRow<T extends Uint32Array | Float32Array>(
  key: NoiseKey,
  out: T,
  start: number,
  map: (block: Uint32Array) => ArrayLike<number>,
): T {
  const k = keyWords(key.seed);
  const block = new Uint32Array(4);
  const ctr = [0, 0, (key.stream ?? 0) >>> 0, (key.domain ?? 0) >>> 0];
  let cur = -1;
  let lanes: ArrayLike<number> = block;
  for (let j = 0; j < out.length; j++) {
    const i = start + j;
    const b = Math.floor(i / 4);
    if (b !== cur) {
      ctr[0] = b >>> 0;
      ctr[1] = Math.floor(b / 4294967296) >>> 0;
      philox4x32(ctr, k, block);
      lanes = map(block);
      cur = b;
    }
    out[j] = lanes[i & 3];
  }
  return out;
}

/**
 * Raw Philox words of one row: element i is lane i % 4 of block i / 4 (see the module comment).
 * Shape: [count] (u32).
 */
export function philoxBits(key: NoiseKey, count: number, start = 0): Uint32Array {
  return philoxRow(key, new Uint32Array(count), start, (block) => block);
}

/**
 * Standard normal noise of one row, elements `[start, start + count)`: block `i / 4` gives four
 * normals, lanes 0/1 from Box-Muller on words (0, 1), lanes 2/3 on words (2, 3). Shape: [count].
 */
export function philoxNormal(key: NoiseKey, count: number, start = 0): Float32Array {
  return philoxRow(
    key,
    new Float32Array(count),
    start,
    (block) => [...boxMuller(block[0], block[1]), ...boxMuller(block[2], block[3])],
  );
}

/**
 * Noise for a batch: row n uses `keys[n]` (with `stream`/`domain` added to the per-key values).
 * Shape: [N, L] flat.
 */
export function philoxNormalBatch(keys: NoiseKey[], L: number): Float32Array {
  const out = new Float32Array(keys.length * L);
  keys.forEach((k, n) => out.set(philoxNormal(k, L), n * L));
  return out;
}

/**
 * The per-row table the GPU kernel reads: `[N, 4]` u32 of (seedLo, seedHi, stream, domain).
 * The kernel adds its uniform stream offset to the row's stream.
 */
export function philoxRowTable(keys: NoiseKey[]): Uint32Array {
  const out = new Uint32Array(keys.length * 4);
  keys.forEach((k, n) => {
    const [lo, hi] = keyWords(k.seed);
    out.set([lo, hi, (k.stream ?? 0) >>> 0, (k.domain ?? 0) >>> 0], n * 4);
  });
  return out;
}
