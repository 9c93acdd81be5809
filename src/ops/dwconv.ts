/**
 * Depthwise convolution over the token grid, forward and backward (`kernels/dwconv.wgsl`): the
 * seed architecture's LocalViT MLP. On texture adapters the input is copied into a texture first
 * (image loads are several times cheaper than storage-buffer loads on llvmpipe).
 */
import type { Program, Tensor } from "../gpu/gpu.ts";
import { expectSize, grid } from "./_launch.ts";
import { dispatch, kernelRecord, uniformBlock } from "./_kernel.ts";
import { canCopyRows, copyRows } from "./textures.ts";

/** kernels/dwconv.wgsl. */
export const DWCONV = kernelRecord("dwconv");

/** Depthwise conv geometry over tokens [N, H*W, C] with a [C, 1, KH, KW] kernel. */
export interface DwGeom {
  N: number;
  H: number;
  W: number;
  C: number;
  KH: number;
  KW: number;
  padT: number;
  padL: number;
}

/** dwconv.wgsl's uniforms: the geometry, the grid stride and the weight gradient's chunking. */
function dwUniforms(g: DwGeom, stride: number, rowsPerChunk = 0, chunks = 0) {
  const { N, H, W, C, KH, KW, padT, padL } = g;
  return { N, H, W, C, KH, KW, padT, padL, stride, rowsPerChunk, chunks };
}

/**
 * Sample rows per chunk of the weight gradient: 16 rows keep a chunk of both operands in cache
 * while every tap reads it (one pass over 64 tokens x 512 channels at once fell out of cache on
 * llvmpipe: 16x the time for 4x the batch); at most 64 chunks.
 */
function dwChunks(g: DwGeom): { rowsPerChunk: number; chunks: number } {
  const rows = g.N * g.H;
  const rowsPerChunk = Math.max(16, Math.ceil(rows / 64));
  return { rowsPerChunk, chunks: Math.ceil(rows / rowsPerChunk) };
}

/** 1 where the kernel is 4x4 (the seed's): the weights are then read as vec4s (W4X4). */
function w4x4(g: DwGeom): number {
  return g.KH === 4 && g.KW === 4 ? 1 : 0;
}

/** Checks a depthwise conv geometry (vec4 kernels: C % 4 == 0, kernels at most 4x4). */
function checkDw(g: DwGeom): void {
  if (g.C % 4) throw new Error(`Depthwise conv needs channels divisible by 4, got ${g.C}`);
  if (g.KH > 4 || g.KW > 4) {
    throw new Error(`Depthwise conv kernel ${g.KH}x${g.KW} is larger than 4x4`);
  }
}

/**
 * The input a depthwise-conv kernel reads through load(): on texture adapters a copy into a
 * texture (the `tex` binding, X_TEX), else the tensor itself (`buffer`).
 */
function dwInput(p: Program, g: DwGeom, t: Tensor, slot: string) {
  const rows = g.H * g.W;
  if (!canCopyRows(p.gpu, t, g.N, rows, g.C)) return { buffer: t, texture: 0 };
  return { tex: copyRows(p, t, g.N, rows, g.C, slot), texture: 1 };
}

/** Invocations of the forward and input-gradient kernels: a pair of output rows each. */
function rowPairs(g: DwGeom): number {
  return g.N * Math.ceil(g.H / 2) * g.C / 4;
}

/** y = dwconv(x) + b. */
export async function dwconvForward(
  p: Program,
  g: DwGeom,
  x: Tensor,
  w: Tensor,
  b: Tensor,
  y: Tensor,
) {
  checkDw(g);
  expectSize(x, g.N * g.H * g.W * g.C, "dwconv x");
  expectSize(w, g.C * g.KH * g.KW, "dwconv weight");
  const input = dwInput(p, g, x, "dwconv-in");
  const { wg, stride } = grid(p.gpu, rowPairs(g), 64);
  await dispatch(p, DWCONV, {
    entry: "dwconv_forward",
    bind: { x: input.buffer, w, b, out: y, xt: input.tex, w4: w },
    uniforms: dwUniforms(g, stride),
    constants: { X_TEX: input.texture, W4X4: w4x4(g) },
    workgroups: wg,
  });
}

/** dx = conv^T(dy); dw, db (+)= their gradients (accumulate applies to the weights only). */
export async function dwconvBackward(
  p: Program,
  g: DwGeom,
  x: Tensor,
  w: Tensor,
  dy: Tensor,
  dx: Tensor,
  dw: Tensor,
  db: Tensor,
  accumulate = false,
) {
  checkDw(g);
  // dy reaches a texture once: the input gradient reads it through load() (xt), the weight
  // gradient as dy (dyt).
  const dyIn = dwInput(p, g, dy, "dwconv-dy");
  const { wg, stride } = grid(p.gpu, rowPairs(g), 64);
  await dispatch(p, DWCONV, {
    entry: "dwconv_backward_input",
    bind: { x: dyIn.buffer, w, out: dx, xt: dyIn.tex, w4: w },
    uniforms: dwUniforms(g, stride),
    constants: { X_TEX: dyIn.texture, W4X4: w4x4(g) },
    workgroups: wg,
  });
  // Weight and bias gradients: partial sums per chunk of sample rows (one invocation per row tap
  // and the bias), then their sum (one per tap and the bias).
  const { rowsPerChunk, chunks } = dwChunks(g);
  const lanes = (g.C / 4) * (g.KH * g.KW + 1);
  const part = p.gpu.scratch(chunks * lanes * 4);
  const P = { buffer: uniformBlock(p.gpu, DWCONV, dwUniforms(g, 0, rowsPerChunk, chunks)) };
  const xIn = dwInput(p, g, x, "dwconv-in");
  await dispatch(p, DWCONV, {
    entry: "dwconv_backward_weight",
    bind: { x: xIn.buffer, w, dy: dyIn.buffer, part, P, xt: xIn.tex, dyt: dyIn.tex, w4: w },
    constants: { X_TEX: xIn.texture, DY_TEX: dyIn.texture },
    workgroups: [Math.ceil((g.C / 4) * (g.KH + 1) / 64), 1, chunks],
  });
  await dispatch(p, DWCONV, {
    entry: "dwconv_weight_reduce",
    bind: { w, dw, db, part, P, w4: w },
    constants: { ACCUMULATE: accumulate ? 1 : 0 },
    workgroups: [Math.ceil(lanes / 64)],
  });
}
