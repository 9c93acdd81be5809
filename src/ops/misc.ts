/**
 * Column sums, softmax, patchify, label embeddings, depthwise convolution and the MSE loss
 * (kernels/reduce.wgsl, softmax.wgsl, patchify.wgsl, embed.wgsl, dwconv.wgsl, mse.wgsl).
 */
import { f32, type Program, type Tensor } from "../gpu/gpu.ts";
import { expectSize, launch, scalarOrVec4, vec4Aligned } from "./_launch.ts";
import { canCopyRows, copyRows, placeholderTexture } from "./textures.ts";

/** Rows per chunk of a long column sum (see {@linkcode sumRows}). */
const SUM_ROWS_CHUNK = 64;

/**
 * out[b, c] (+)= sum_r x[b, r, c]. Columns longer than two chunks of 64 rows are summed in chunks
 * (partial sums, then their sum): bias gradients sum over every token of the batch, and one
 * invocation per column walking all of them leaves a GPU nearly idle.
 */
export async function sumRows(
  p: Program,
  x: Tensor,
  B: number,
  R: number,
  C: number,
  out: Tensor,
  accumulate = false,
): Promise<void> {
  expectSize(x, B * R * C, "sum_rows x");
  expectSize(out, B * C, "sum_rows out");
  const vec4 = C % 4 === 0 && vec4Aligned(x);
  const x4 = vec4 ? x : p.gpu.dummyU32();
  const lanes = vec4 ? B * C / 4 : B * C;
  const constants = { ACCUMULATE: accumulate ? 1 : 0, VEC4: vec4 ? 1 : 0 };
  const chunks = Math.ceil(R / SUM_ROWS_CHUNK);
  const groups = Math.ceil(lanes / 64);
  const maxGroups = p.gpu.device.limits.maxComputeWorkgroupsPerDimension;
  if (chunks <= 2 || groups > maxGroups || chunks > maxGroups) {
    const sink = p.gpu.sink();
    await launch(
      p,
      "reduce",
      "sum_rows",
      [x, out],
      (stride) => [B, R, C, stride, 0, 0, 0, 0],
      lanes,
      64,
      constants,
      [sink, x4],
    );
    return;
  }
  const part = p.gpu.scratch(chunks * B * C);
  const params = p.gpu.uniform([B, R, C, 0, SUM_ROWS_CHUNK, chunks, 0, 0], "reduce.sum_rows");
  const partial = await p.gpu.kernel("reduce", { VEC4: vec4 ? 1 : 0 }, "sum_rows_partial");
  p.dispatch(partial, [x, p.gpu.sink(), { buffer: params }, part, x4], [groups, 1, chunks]);
  const final = await p.gpu.kernel("reduce", { ACCUMULATE: accumulate ? 1 : 0 }, "sum_rows_final");
  const none = p.gpu.dummyU32();
  p.dispatch(final, [none, out, { buffer: params }, part, none], [Math.ceil(B * C / 64)]);
}

/** Records softmax.wgsl's `entry` over R rows, on vec4s when C and the offsets allow it. */
async function softmaxRows(
  p: Program,
  entry: string,
  prob: Tensor | null,
  d: Tensor,
  R: number,
  C: number,
  alpha: number,
) {
  const pr = prob ?? p.gpu.dummyU32();
  const vec4 = C % 4 === 0 && vec4Aligned(pr, d);
  await launch(
    p,
    "softmax",
    vec4 ? `${entry}4` : entry,
    scalarOrVec4(p, vec4, [pr], d),
    (stride) => [R, C, stride, 0, f32(alpha)],
    R,
    64,
  );
}

/** In-place row softmax of s [R, C]. */
export async function softmaxForward(p: Program, s: Tensor, R: number, C: number) {
  expectSize(s, R * C, "softmax");
  await softmaxRows(p, "softmax_forward", null, s, R, C, 1);
}

/** In place: d = alpha * prob * (d - rowsum(d * prob)). `prob` must not alias `d`. */
export async function softmaxBackward(
  p: Program,
  prob: Tensor,
  d: Tensor,
  R: number,
  C: number,
  alpha: number,
) {
  expectSize(prob, R * C, "softmax_backward p");
  expectSize(d, R * C, "softmax_backward d");
  await softmaxRows(p, "softmax_backward", prob, d, R, C, alpha);
}

/** Token feature order: "seed" (i, j, c) or "conv" (c, i, j). */
export type PatchOrder = "seed" | "conv";

/** Image [N,C,H,W] <-> tokens [N,T,p*p*C]; direction "tokens" patchifies, "image" unpatchifies. */
export async function patchPermute(
  p: Program,
  to: "tokens" | "image",
  src: Tensor,
  dst: Tensor,
  dims: { N: number; C: number; H: number; W: number; p: number },
  order: PatchOrder,
): Promise<void> {
  const { N, C, H, W } = dims;
  if (H % dims.p || W % dims.p) {
    throw new Error(`Image ${H}x${W} is not divisible by patch ${dims.p}`);
  }
  expectSize(src, N * C * H * W, `patchify ${to} src`);
  expectSize(dst, N * C * H * W, `patchify ${to} dst`);
  await launch(
    p,
    "patchify",
    to === "tokens" ? "to_tokens" : "to_image",
    [src, dst],
    (stride) => [N, stride, 0, 0],
    N * C * H * W,
    256,
    { ORDER: order === "conv" ? 1 : 0, C, H, W, PATCH: dims.p },
  );
}

/** out[n] = table[ids[n]] for a table [rows, D] and u32 ids [N]. */
export async function embeddingForward(
  p: Program,
  table: Tensor,
  ids: Tensor,
  out: Tensor,
  N: number,
  rows: number,
  D: number,
) {
  expectSize(table, rows * D, "embedding table");
  await launch(
    p,
    "embed",
    "embedding_forward",
    [table, ids, out],
    (stride) => [N, D, rows, stride],
    N * D,
    64,
  );
}

/** dtable (+)= scatter of dy [N, D] by ids. */
export async function embeddingBackward(
  p: Program,
  dy: Tensor,
  ids: Tensor,
  dtable: Tensor,
  N: number,
  rows: number,
  D: number,
  accumulate = false,
) {
  expectSize(dtable, rows * D, "embedding dtable");
  await launch(
    p,
    "embed",
    "embedding_backward",
    [dy, ids, dtable],
    (stride) => [N, D, rows, stride],
    rows * D,
    64,
    {
      ACCUMULATE: accumulate ? 1 : 0,
    },
  );
}

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

function dwParams(g: DwGeom, rowsPerChunk = 0, chunks = 0) {
  return (stride: number) => [
    g.N,
    g.H,
    g.W,
    g.C,
    g.KH,
    g.KW,
    g.padT,
    g.padL,
    stride,
    rowsPerChunk,
    chunks,
    0,
  ];
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
 * texture (binding 9, X_TEX) with a placeholder at binding 0, else the tensor at binding 0.
 */
function dwInput(p: Program, g: DwGeom, t: Tensor, slot: string) {
  const rows = g.H * g.W;
  if (!canCopyRows(p.gpu, t, g.N, rows, g.C)) {
    return { x: t, tex: placeholderTexture(p.gpu), texture: 0 };
  }
  const tex = copyRows(p, t, g.N, rows, g.C, slot);
  return { x: p.gpu.dummyU32(), tex, texture: 1 };
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
  const [u, o] = [p.gpu.dummyU32(), p.gpu.sink()];
  const input = dwInput(p, g, x, "dwconv-in");
  await launch(
    p,
    "dwconv",
    "dwconv_forward",
    [input.x, w, b, u, y, o, o, o],
    dwParams(g),
    g.N * Math.ceil(g.H / 2) * g.C / 4, // a pair of output rows each
    64,
    { X_TEX: input.texture, W4X4: w4x4(g) },
    [input.tex, placeholderTexture(p.gpu), w],
  );
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
  const [u, o] = [p.gpu.dummyU32(), p.gpu.sink()];
  const c = { ACCUMULATE: accumulate ? 1 : 0 };
  // dy reaches a texture once: the input gradient reads it through load() (binding 9), the
  // weight gradient as dy (binding 10).
  const dyIn = dwInput(p, g, dy, "dwconv-dy");
  await launch(
    p,
    "dwconv",
    "dwconv_backward_input",
    [dyIn.x, w, u, u, dx, o, o, o],
    dwParams(g),
    g.N * Math.ceil(g.H / 2) * g.C / 4, // a pair of output rows each
    64,
    { X_TEX: dyIn.texture, W4X4: w4x4(g) },
    [dyIn.tex, placeholderTexture(p.gpu), w],
  );
  // Weight and bias gradients: partial sums per chunk of sample rows (one invocation per row tap
  // and the bias), then their sum (one per tap and the bias).
  const { rowsPerChunk, chunks } = dwChunks(g);
  const lanes = (g.C / 4) * (g.KH * g.KW + 1);
  const part = p.gpu.scratch(chunks * lanes * 4);
  const params = p.gpu.uniform(dwParams(g, rowsPerChunk, chunks)(0), "dwconv.weight");
  const xIn = dwInput(p, g, x, "dwconv-in");
  const partial = await p.gpu.kernel(
    "dwconv",
    { X_TEX: xIn.texture, DY_TEX: dyIn.texture },
    "dwconv_backward_weight",
  );
  const binds = [xIn.x, w, u, dyIn.x, o, o, o, part, { buffer: params }, xIn.tex, dyIn.tex, w];
  p.dispatch(partial, binds, [
    Math.ceil((g.C / 4) * (g.KH + 1) / 64),
    1,
    chunks,
  ]);
  const reduce = await p.gpu.kernel("dwconv", c, "dwconv_weight_reduce");
  const none = placeholderTexture(p.gpu);
  p.dispatch(reduce, [u, w, u, u, o, dw, db, part, { buffer: params }, none, none, w], [
    Math.ceil(lanes / 64),
  ]);
}

/** Loss geometry: pred [N, Cp, HW], target [N, Ct, HW]. */
export interface MseGeom {
  N: number;
  Cp: number;
  Ct: number;
  HW: number;
}

function mseParams(g: MseGeom, slot: number, scale: number) {
  return (stride: number) => [g.N, g.Cp, g.Ct, g.HW, stride, slot, 0, 0, f32(scale)];
}

/** loss[slot] = mean((pred[:, :Ct] - target)^2). */
export async function mseForward(
  p: Program,
  g: MseGeom,
  pred: Tensor,
  target: Tensor,
  loss: Tensor,
  slot = 0,
) {
  expectSize(pred, g.N * g.Cp * g.HW, "mse pred");
  expectSize(target, g.N * g.Ct * g.HW, "mse target");
  const kernel = await p.gpu.kernel("mse", {}, "mse_forward");
  const u = p.gpu.uniform(mseParams(g, slot, 1)(0), "mse");
  p.dispatch(kernel, [pred, target, loss, { buffer: u }], [1]);
}

/** dpred = scale * d loss / d pred. */
export async function mseBackward(
  p: Program,
  g: MseGeom,
  pred: Tensor,
  target: Tensor,
  dpred: Tensor,
  scale = 1,
) {
  await launch(
    p,
    "mse",
    "mse_backward",
    [pred, target, dpred],
    mseParams(g, 0, scale),
    pred.size,
    256,
  );
}
