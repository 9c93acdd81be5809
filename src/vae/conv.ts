/**
 * Convolutions (and Linear layers, as 1x1 convolutions) on NHWC activations: im2col tiles of output
 * rows written straight into the packed A operand, times the weight packed once at load as the B
 * operand, through the engine's matmul launcher (texture-fed on CPU adapters). Bias and the
 * residual (`accumulate`) are fused into the matmul's store.
 */
import type { Tensor } from "../gpu/gpu.ts";
import { matmul, PackedMatrix } from "../ops/matmul.ts";
import type { VaeMemory } from "./memory.ts";
import { im2col, packRows, type PatchGeom, patchSpan, texels } from "./pack.ts";
import type { Act, Rec } from "./types.ts";

/** A convolution's weights on the GPU: W' [Cout, Kp], column (i*ks + j)*Cin + ci (zero padded). */
export interface ConvWeight {
  name: string;
  Cout: number;
  Cin: number;
  ks: number;
  /** 4 * ceil(ks*ks*Cin / 4) */
  Kp: number;
  /** the B operand: Cout rows of Kp */
  packed: PackedMatrix;
  /** [Cout] */
  bias: Tensor;
}

/**
 * Uploads a PyTorch conv weight w [Cout, Cin, ks, ks] (a Linear weight [Cout, Cin] is ks = 1) and
 * its bias [Cout]: permuted to the im2col column order and packed (a texture on CPU adapters).
 */
export function uploadConv(
  mem: VaeMemory,
  name: string,
  w: Float32Array,
  b: Float32Array,
  Cout: number,
  Cin: number,
  ks: number,
): ConvWeight {
  if (w.length !== Cout * Cin * ks * ks) {
    throw new Error(`Weight ${name} has ${w.length} values, expected [${Cout},${Cin},${ks},${ks}]`);
  }
  if (b.length !== Cout) {
    throw new Error(`Bias of ${name} has ${b.length} values, expected ${Cout}`);
  }
  const K = ks * ks * Cin;
  const Kp = 4 * texels(K);
  const host = new Float32Array(Cout * Kp); // [Cout, Kp]
  for (let o = 0; o < Cout; o++) {
    for (let ci = 0; ci < Cin; ci++) {
      for (let t = 0; t < ks * ks; t++) {
        host[o * Kp + t * Cin + ci] = w[(o * Cin + ci) * ks * ks + t];
      }
    }
  }
  const gpu = mem.gpu;
  const bias = mem.tensor([Cout], `${name}.bias`);
  gpu.write(bias, b);
  let packed: PackedMatrix;
  if (gpu.info.matmul === "texture") {
    const tex = mem.texture(Kp / 4, Cout, name);
    gpu.device.queue.writeTexture({ texture: tex }, host, {
      bytesPerRow: Kp * 4,
      rowsPerImage: Cout,
    }, [Kp / 4, Cout, 1]);
    packed = new PackedMatrix(tex, Cout, Kp, { t: bias, ld: Kp }, false);
  } else {
    const t = mem.tensor([Cout * Kp], name);
    gpu.write(t, host);
    packed = new PackedMatrix(null, Cout, Kp, { t, ld: Kp }, false);
  }
  return { name, Cout, Cin, ks, Kp, packed, bias };
}

/** Options of {@linkcode conv2d}. */
export interface ConvOptions {
  /** stride (1 or 2; default 1) */
  stride?: number;
  /** zero padding top/left (default (ks - 1) / 2) */
  pad?: number;
  /** zero padding bottom/right (default `pad`; diffusers' Downsample2D: pad 0, padEnd 1) */
  padEnd?: number;
  /** convolve the nearest 2x upsampling of x (diffusers' Upsample2D), fused into the im2col */
  up?: boolean;
  /** add into `out` instead of overwriting it (the residual) */
  accumulate?: boolean;
}

/** Output size of one axis. */
export function convOut(
  size: number,
  ks: number,
  stride: number,
  pad: number,
  padEnd: number,
): number {
  return Math.floor((size + pad + padEnd - ks) / stride) + 1;
}

/** The resolved options and output size of a convolution of x by w (its `ks` and `name`). */
export function convGeometry(
  x: { H: number; W: number },
  w: { ks: number; name: string },
  opts: ConvOptions = {},
): { stride: number; pad: number; padEnd: number; up: boolean; Ho: number; Wo: number } {
  const stride = opts.stride ?? 1;
  const pad = opts.pad ?? (w.ks - 1) / 2;
  const padEnd = opts.padEnd ?? pad;
  const up = opts.up ?? false;
  const Ho = convOut(up ? 2 * x.H : x.H, w.ks, stride, pad, padEnd);
  const Wo = convOut(up ? 2 * x.W : x.W, w.ks, stride, pad, padEnd);
  if (Ho <= 0 || Wo <= 0) {
    throw new Error(`Conv ${w.name}: input ${x.H}x${x.W} is too small (output ${Ho}x${Wo})`);
  }
  return { stride, pad, padEnd, up, Ho, Wo };
}

/**
 * out [N, Ho, Wo, Cout] (+)= conv(x) + bias, tiled over output rows so that every packed tile
 * stays within the tile budget and every binding within the binding limit. Returns the output
 * activation (a view of `out`).
 */
export async function conv2d(
  rec: Rec,
  x: Act,
  w: ConvWeight,
  out: Tensor,
  opts: ConvOptions = {},
): Promise<Act> {
  if (x.C !== w.Cin) {
    throw new Error(`Conv ${w.name}: input has ${x.C} channels, expected ${w.Cin}`);
  }
  const { stride, pad, padEnd, up, Ho, Wo } = convGeometry(x, w, opts);
  const M = x.N * Ho * Wo;
  if (out.size < M * w.Cout) throw new Error(`Conv ${w.name}: output [${out.shape}] is too small`);
  const g: PatchGeom = {
    N: x.N,
    H: x.H,
    W: x.W,
    Cin: x.C,
    ld: x.C,
    colOff: 0,
    Ho,
    Wo,
    ks: w.ks,
    stride,
    pad,
    up,
  };
  const { mem } = rec;
  const bind = mem.limits.bindBytes;
  const maxRows = mem.tileRows(w.Kp / 4);
  for (let r0 = 0; r0 < M;) {
    let rows = Math.min(maxRows, M - r0);
    const fits = (n: number) => {
      const [s0, s1] = patchSpan(g, r0, n);
      return (s1 - s0) * 4 <= bind && n * w.Cout * 4 <= bind;
    };
    while (rows > 1 && !fits(rows)) rows = Math.ceil(rows / 2);
    if (!fits(rows)) throw new Error(`Conv ${w.name}: one output row exceeds the binding limit`);
    const pointwise = w.ks === 1 && stride === 1 && pad === 0 && padEnd === 0 && !up;
    const a = pointwise
      ? await packRows(rec, x.t, r0, rows, x.C, x.C, 0)
      : await im2col(rec, x.t, g, r0, rows);
    await matmul(rec.p, {
      variant: "nt",
      M: rows,
      N: w.Cout,
      K: w.Kp,
      a: a.op,
      b: w.packed,
      c: { t: out, ld: w.Cout, off: r0 * w.Cout },
      bias: w.bias,
      accumulate: opts.accumulate ?? false,
    });
    a.release();
    r0 += rows;
  }
  return { t: out, N: x.N, H: Ho, W: Wo, C: w.Cout };
}
