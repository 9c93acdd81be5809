/**
 * Packing matmul A/B operands for the VAE (kernels/vae_im2col.wgsl): im2col tiles of convolutions
 * (with Downsample2D padding and Upsample2D's nearest 2x fused in), row-major views and transposed
 * views, written into pooled rgba32float textures on CPU adapters and into pooled buffers (or used
 * as views) elsewhere. Source bindings cover only the rows a tile reads.
 */
import type { Tensor } from "../gpu/gpu.ts";
import { PackedMatrix } from "../ops/matmul.ts";
import { compileKernel, dispatch, kernelRecord, recordKernel } from "../ops/_kernel.ts";
import { bindRange } from "./memory.ts";
import { type Operand, type Rec, usesTextures } from "./types.ts";

/** kernels/vae_im2col.wgsl. */
export const VAE_IM2COL = kernelRecord("vae_im2col");

/** Geometry of an im2col: the source image, the output grid and the convolution. */
export interface PatchGeom {
  /** source [N, H, W, Cin] (pixel stride `ld` elements, channel 0 at `colOff`) */
  N: number;
  H: number;
  W: number;
  Cin: number;
  ld: number;
  colOff: number;
  /** output grid */
  Ho: number;
  Wo: number;
  /** kernel size (1 or 3), stride, top/left zero padding */
  ks: number;
  stride: number;
  pad: number;
  /** read the nearest 2x upsampling of the source */
  up: boolean;
}

/** Elements [start, end) of the source that output rows [r0, r0 + rows) of an im2col read. */
export function patchSpan(g: PatchGeom, r0: number, rows: number): [number, number] {
  const hw = g.Ho * g.Wo;
  const sh = g.up ? 1 : 0;
  const Hv = g.H << sh;
  const srcRow = (r: number, last: boolean) => {
    const n = Math.floor(r / hw);
    const oy = Math.floor((r % hw) / g.Wo);
    const vy = oy * g.stride - g.pad + (last ? g.ks - 1 : 0);
    return n * g.H + (Math.min(Hv - 1, Math.max(0, vy)) >> sh);
  };
  const first = srcRow(r0, false) * g.W;
  const last = srcRow(r0 + rows - 1, true) * g.W + g.W - 1;
  return [first * g.ld + g.colOff, last * g.ld + g.colOff + g.Cin];
}

/** Texels per packed row of a K-wide operand. */
export const texels = (K: number): number => Math.ceil(K / 4);

/**
 * Packs output rows [r0, r0 + rows) of the patch matrix of `src` (see kernels/vae_im2col.wgsl)
 * into an operand of rows x 4*ceil(K/4) (K = ks*ks*Cin, zero padded): a pooled texture of `slot`
 * on CPU adapters, a pooled buffer elsewhere.
 */
export async function im2col(
  rec: Rec,
  src: Tensor,
  g: PatchGeom,
  r0: number,
  rows: number,
  slot = "a",
): Promise<Operand> {
  const { p, mem } = rec;
  const gpu = p.gpu;
  const K = g.ks * g.ks * g.Cin;
  const K4 = texels(K);
  const [s0, s1] = patchSpan(g, r0, rows);
  const vec4 = g.Cin % 4 === 0 && g.ld % 4 === 0 && g.colOff % 4 === 0;
  const xb = bindRange(gpu, src, s0, s1 - s0, vec4);
  const tex = usesTextures(rec);
  const t = tex ? mem.packTexture(slot, K4, rows) : null;
  const out = tex ? null : mem.acquire(rows * 4 * K4, "patches");
  await dispatch(p, VAE_IM2COL, {
    entry: tex ? "im2col_tex" : "im2col_buf",
    bind: {
      x: xb.binding,
      x4: xb.binding,
      dst: t?.createView({ dimension: "2d-array" }),
      dst4: out ?? undefined,
    },
    uniforms: {
      H: g.H,
      W: g.W,
      Cin: g.Cin,
      ld: g.ld,
      Ho: g.Ho,
      Wo: g.Wo,
      stride: g.stride,
      pad: g.pad,
      ks: g.ks,
      up: g.up ? 1 : 0,
      r0,
      rows,
      K,
      K4,
      base: xb.base,
      colOff: g.colOff,
      kx0: 0,
    },
    constants: { VEC4: vec4 ? 1 : 0 },
    workgroups: vec4 ? [Math.ceil(rows / 64), g.ks * g.ks] : [Math.ceil(K4 / 64), rows],
  });
  if (t) {
    return { op: new PackedMatrix(t, rows, 4 * K4, { t: src, ld: 4 * K4 }, false), release() {} };
  }
  return {
    op: new PackedMatrix(null, rows, 4 * K4, { t: out!, ld: 4 * K4 }, false),
    release: () => mem.release(out!),
  };
}

/**
 * The operand rows [r0, r0 + rows) x cols of the row-major view (`ld`, `colOff`) of `src`: packed
 * into a texture on CPU adapters (cols padded to a multiple of 4), the view itself elsewhere when
 * cols and the view are 4-aligned (else packed into a padded buffer).
 */
export async function packRows(
  rec: Rec,
  src: Tensor,
  r0: number,
  rows: number,
  cols: number,
  ld: number,
  colOff: number,
  slot = "a",
): Promise<Operand> {
  if (!usesTextures(rec) && cols % 4 === 0) {
    const view = { t: src, ld, off: r0 * ld + colOff };
    return { op: new PackedMatrix(null, rows, cols, view, false), release() {} };
  }
  const g: PatchGeom = {
    N: 1,
    H: r0 + rows,
    W: 1,
    Cin: cols,
    ld,
    colOff,
    Ho: r0 + rows,
    Wo: 1,
    ks: 1,
    stride: 1,
    pad: 0,
    up: false,
  };
  return await im2col(rec, src, g, r0, rows, slot);
}

/**
 * The transposed operand of a [rows, cols] row-major view (`ld`, `colOff`) starting at row `r0`:
 * an operand of cols x rows (B = V^T for P V). A texture on CPU adapters (packed in bands of
 * source rows), the transposed view elsewhere.
 */
export async function packTransposed(
  rec: Rec,
  src: Tensor,
  r0: number,
  rows: number,
  cols: number,
  ld: number,
  colOff: number,
  slot = "v",
): Promise<PackedMatrix> {
  if (!usesTextures(rec)) {
    return new PackedMatrix(null, cols, rows, { t: src, ld, off: r0 * ld + colOff }, true);
  }
  const { p, mem } = rec;
  const gpu = p.gpu;
  const width = texels(rows);
  const tex = mem.packTexture(slot, width, cols);
  const kernel = await compileKernel(gpu, VAE_IM2COL, "pack_t_tex", { VEC4: 0 });
  // Texels per dispatch so that the 4*n source rows stay within the binding limit.
  const perBand = Math.max(1, Math.floor(mem.limits.bindBytes / (4 * ld * 4)));
  for (let kx0 = 0; kx0 < width; kx0 += perBand) {
    const n = Math.min(perBand, width - kx0);
    const first = r0 + 4 * kx0;
    const last = Math.min(r0 + rows, first + 4 * n) - 1;
    const xb = bindRange(gpu, src, first * ld + colOff, (last - first) * ld + cols);
    recordKernel(p, VAE_IM2COL, kernel, {
      bind: { x: xb.binding, x4: xb.binding, dst: tex.createView({ dimension: "2d-array" }) },
      uniforms: {
        // The source is H = rows rows of Cin = cols; this band fills K4 = n texel columns from kx0.
        H: rows,
        W: 1,
        Cin: cols,
        ld,
        Ho: 0,
        Wo: 0,
        stride: 0,
        pad: 0,
        ks: 0,
        up: 0,
        r0,
        rows: 0,
        K: 0,
        K4: n,
        base: xb.base,
        colOff,
        kx0,
      },
      workgroups: [Math.ceil(n / 64), cols],
    });
  }
  return new PackedMatrix(tex, cols, rows, { t: src, ld }, false);
}
