/**
 * rgba32float textures for the CPU-adapter kernels (llvmpipe): operands copied into textures are
 * read by image loads, several times cheaper there than storage-buffer loads.
 */
import type { Gpu, Program, Tensor } from "../gpu/gpu.ts";

/** Rows per texture (maxTextureDimension2D is 8192 on many GPUs, 16384 on llvmpipe). */
export const MAX_ROWS = 8192;

const pools = new WeakMap<Gpu, Map<string, GPUTexture>>();

/** A `width` x `rows` x `layers` rgba32float texture that kernels read and copies fill. */
export function createTexture(
  gpu: Gpu,
  width: number,
  rows: number,
  layers: number,
  label: string,
): GPUTexture {
  return gpu.device.createTexture({
    label,
    size: [width, rows, layers],
    format: "rgba32float",
    usage: GPUTextureUsage.STORAGE_BINDING | GPUTextureUsage.TEXTURE_BINDING |
      GPUTextureUsage.COPY_DST,
  });
}

/**
 * Scratch textures shared by all kernels of a context, one per slot and size (commands run in
 * order, so reuse is safe). `height` (>= rows) pads k-major matmul operands to whole texels of K:
 * those rows are never written by any user of the same key, so they stay zero.
 */
export function scratchTexture(
  gpu: Gpu,
  width: number,
  rows: number,
  layers: number,
  slot: string,
  height = rows,
): GPUTexture {
  let pool = pools.get(gpu);
  if (!pool) pools.set(gpu, pool = new Map());
  const key = `${slot}:${width}x${rows}x${layers}`;
  let tex = pool.get(key);
  if (!tex) pool.set(key, tex = createTexture(gpu, width, height, layers, `scratch-${key}`));
  return tex;
}

/**
 * Whether a [samples, rows, C] tensor can reach a texture of (C/4 texels, rows, a layer per
 * sample) by one copy command on this adapter: texture kernels, rows 256 bytes apart (C % 64 == 0),
 * a texel-aligned start, and within the device's texture limits.
 */
export function canCopyRows(gpu: Gpu, t: Tensor, samples: number, rows: number, C: number) {
  return t.offset % 4 === 0 && canCopyRowsOf(gpu, samples, rows, C);
}

/** {@linkcode canCopyRows} for any texel-aligned tensor of that geometry. */
export function canCopyRowsOf(gpu: Gpu, samples: number, rows: number, C: number) {
  const l = gpu.device.limits;
  return gpu.info.matmul === "texture" && C % 64 === 0 && samples <= l.maxTextureArrayLayers &&
    Math.max(rows, C / 4) <= l.maxTextureDimension2D;
}

/**
 * Records the copy of a [samples, rows, C] tensor into the scratch texture `slot` (texel
 * (c / 4, row), layer = sample); see {@linkcode canCopyRows}. Returns its array view.
 */
export function copyRows(
  p: Program,
  t: Tensor,
  samples: number,
  rows: number,
  C: number,
  slot: string,
): GPUTextureView {
  const tex = scratchTexture(p.gpu, C / 4, rows, samples, slot);
  p.copyToTexture(t.buffer, t.offset * 4, C * 4, tex, 0, C / 4, rows, samples);
  return tex.createView({ dimension: "2d-array" });
}

/** A 1x1x1 texture view for texture bindings a kernel variant does not read. */
export function placeholderTexture(gpu: Gpu): GPUTextureView {
  return scratchTexture(gpu, 1, 1, 1, "placeholder").createView({ dimension: "2d-array" });
}
