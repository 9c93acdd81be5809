/**
 * Image transforms for training data: centre crop, resize (area filter when shrinking, bilinear
 * when enlarging), horizontal flip, normalisation to [-1,1], and the full RGBA preparation.
 *
 * Alpha: the dataset keeps straight (non-premultiplied) RGBA with alpha as channel 4. Resampling is
 * done on premultiplied colour and divided back afterwards, because fully transparent pixels in the
 * source PNGs carry arbitrary colours (the Noto emoji have black, grey and even pink under alpha 0);
 * filtering straight RGBA would bleed those colours into the edges (dark or coloured fringes).
 * Pixels that end up fully transparent get RGB 0 (i.e. -1 after normalisation), so invisible colour
 * is deterministic.
 */

/** A [C,H,W] shape. */
export type Shape3 = readonly [number, number, number];

/** Per-output-pixel source taps along one axis: `start[o]`, `count[o]`, weights in `weight`. */
interface AxisTaps {
  start: Int32Array;
  count: Int32Array;
  /** [outSize * maxTaps] weights, row o holds `count[o]` weights for sources `start[o]...` */
  weight: Float32Array;
  maxTaps: number;
}

/**
 * Resampling taps for one axis: area (box) averaging when shrinking, bilinear with half-pixel
 * centres (PyTorch `align_corners=False`, edges clamped) when enlarging, identity when equal.
 */
function axisTaps(inSize: number, outSize: number): AxisTaps {
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  if (outSize <= inSize) {
    const s = inSize / outSize; // source pixels per output pixel
    const maxTaps = Math.ceil(s) + 1;
    const weight = new Float32Array(outSize * maxTaps);
    for (let o = 0; o < outSize; o++) {
      const lo = o * s;
      const hi = Math.min(inSize, (o + 1) * s);
      const first = Math.floor(lo);
      let n = 0;
      for (let i = first; i < hi - 1e-9; i++) {
        const overlap = Math.min(hi, i + 1) - Math.max(lo, i);
        weight[o * maxTaps + n++] = overlap / s;
      }
      start[o] = first;
      count[o] = n;
    }
    return { start, count, weight, maxTaps };
  }
  const weight = new Float32Array(outSize * 2);
  for (let o = 0; o < outSize; o++) {
    const src = Math.max(0, Math.min(inSize - 1, ((o + 0.5) * inSize) / outSize - 0.5));
    const i0 = Math.min(Math.floor(src), inSize - 1);
    const f = src - i0;
    start[o] = i0;
    if (f > 0 && i0 + 1 < inSize) {
      count[o] = 2;
      weight[2 * o] = 1 - f;
      weight[2 * o + 1] = f;
    } else {
      count[o] = 1;
      weight[2 * o] = 1;
    }
  }
  return { start, count, weight, maxTaps: 2 };
}

/**
 * Resizes every channel of an image: area filter when shrinking (exact box average for integer
 * factors, e.g. 64 -> 32 averages 2x2 blocks), bilinear when enlarging. No alpha handling: see
 * {@linkcode prepareRgba} for RGBA.
 *
 * Shapes: x [C,H,W] -> [C,outH,outW].
 */
export function resize(x: Float32Array, shape: Shape3, outH: number, outW: number): Float32Array {
  const [C, H, W] = shape;
  checkShape(x, shape);
  if (!Number.isInteger(outH) || !Number.isInteger(outW) || outH <= 0 || outW <= 0) {
    throw new Error(`Resize target must be positive integers, got ${outH}x${outW}`);
  }
  if (outH === H && outW === W) return x.slice();
  const tx = axisTaps(W, outW);
  const ty = axisTaps(H, outH);
  const tmp = new Float32Array(C * H * outW); // [C,H,outW] after the horizontal pass
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < H; y++) {
      const row = (c * H + y) * W;
      for (let o = 0; o < outW; o++) {
        let acc = 0;
        const s = tx.start[o], base = o * tx.maxTaps;
        for (let k = 0; k < tx.count[o]; k++) acc += tx.weight[base + k] * x[row + s + k];
        tmp[(c * H + y) * outW + o] = acc;
      }
    }
  }
  const out = new Float32Array(C * outH * outW); // [C,outH,outW]
  for (let c = 0; c < C; c++) {
    for (let o = 0; o < outH; o++) {
      const s = ty.start[o], base = o * ty.maxTaps;
      const dst = (c * outH + o) * outW;
      for (let k = 0; k < ty.count[o]; k++) {
        const w = ty.weight[base + k];
        const src = (c * H + s + k) * outW;
        for (let xo = 0; xo < outW; xo++) out[dst + xo] += w * tmp[src + xo];
      }
    }
  }
  return out;
}

/** Crops the centred largest square. Shapes: x [C,H,W] -> [C,S,S] with S = min(H,W). */
export function centerCropSquare(x: Float32Array, shape: Shape3): Float32Array {
  const [C, H, W] = shape;
  checkShape(x, shape);
  if (H === W) return x;
  const S = Math.min(H, W);
  const y0 = (H - S) >> 1, x0 = (W - S) >> 1;
  const out = new Float32Array(C * S * S); // [C,S,S]
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < S; y++) {
      const src = (c * H + y0 + y) * W + x0;
      out.set(x.subarray(src, src + S), (c * S + y) * S);
    }
  }
  return out;
}

/** Mirrors an image left-right into `out` (may be `x` itself). Shapes: x, out [C,H,W]. */
export function flipHorizontal(
  x: Float32Array,
  shape: Shape3,
  out: Float32Array = new Float32Array(x.length),
): Float32Array {
  const [C, H, W] = shape;
  checkShape(x, shape);
  for (let r = 0; r < C * H; r++) {
    const row = r * W;
    for (let i = 0, j = W - 1; i <= j; i++, j--) {
      const a = x[row + i];
      out[row + i] = x[row + j];
      out[row + j] = a;
    }
  }
  return out;
}

/** Maps [0,1] to [-1,1] in place (v -> 2v - 1) and returns `x`. */
export function normalize(x: Float32Array): Float32Array {
  for (let i = 0; i < x.length; i++) x[i] = 2 * x[i] - 1;
  return x;
}

/** Maps [-1,1] to [0,1] in place (v -> (v + 1) / 2, not clamped) and returns `x`. */
export function denormalize(x: Float32Array): Float32Array {
  for (let i = 0; i < x.length; i++) x[i] = (x[i] + 1) / 2;
  return x;
}

/** Options of {@linkcode prepareRgba}. */
export interface PrepareOptions {
  /** output side length (square) */
  size: number;
  /**
   * 4: straight RGBA, alpha kept as channel 4 (default). 3: RGB composited over white (for
   * photo-like folders and 3-channel models).
   */
  channels?: 3 | 4;
  /** "straight" (default) or "premultiplied" colour in the 4-channel output */
  alpha?: "straight" | "premultiplied";
}

/**
 * The data pipeline for one decoded RGBA image: centre crop to a square, premultiply, resize to
 * `size`, then either un-premultiply (straight RGBA, RGB 0 where alpha is 0), keep premultiplied,
 * or composite over white (3 channels); finally normalise to [-1,1].
 *
 * Shapes: rgba [4,H,W] in [0,1] (straight alpha) -> [channels,size,size] in [-1,1].
 */
export function prepareRgba(
  rgba: Float32Array,
  shape: Shape3,
  options: PrepareOptions,
): Float32Array {
  const { size, channels = 4, alpha = "straight" } = options;
  if (shape[0] !== 4) throw new Error(`Expected an RGBA image [4,H,W], got [${shape.join(",")}]`);
  const S = Math.min(shape[1], shape[2]);
  const sq = centerCropSquare(rgba, shape).slice(); // [4,S,S], a copy we may modify
  const hw = S * S;
  for (let i = 0; i < hw; i++) {
    const a = sq[3 * hw + i];
    sq[i] *= a;
    sq[hw + i] *= a;
    sq[2 * hw + i] *= a;
  }
  const r = resize(sq, [4, S, S], size, size); // [4,size,size], premultiplied
  const n = size * size;
  const out = new Float32Array(channels * n); // [channels,size,size]
  for (let i = 0; i < n; i++) {
    const a = Math.min(1, Math.max(0, r[3 * n + i]));
    for (let c = 0; c < 3; c++) {
      const p = r[c * n + i];
      let v: number;
      if (channels === 3) v = p + (1 - a); // over white
      else if (alpha === "premultiplied") v = p;
      else v = a > 1e-6 ? p / a : 0;
      out[c * n + i] = Math.min(1, Math.max(0, v));
    }
    if (channels === 4) out[3 * n + i] = a;
  }
  return normalize(out);
}

/** Throws unless `x` has exactly C*H*W elements of positive dimensions. */
export function checkShape(x: ArrayLike<number>, shape: readonly number[]): void {
  if (shape.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new Error(`Shape must be positive integers, got [${shape.join(",")}]`);
  }
  const n = shape.reduce((a, b) => a * b, 1);
  if (x.length !== n) {
    throw new Error(`Array has ${x.length} elements but shape [${shape.join(",")}] needs ${n}`);
  }
}
