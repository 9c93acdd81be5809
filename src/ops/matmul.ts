/**
 * Matmul launcher: C = alpha * op(A) op(B) (+ bias) (+ C), batched and strided, with two kernel
 * families chosen per adapter: texture-fed on llvmpipe (operands packed into rgba32float
 * textures, ~20x faster there), storage buffers with workgroup tiles on real GPUs.
 */
import { f32, type Gpu, type Program, type Tensor } from "../gpu/gpu.ts";
import type { BufferTile } from "../gpu/device.ts";
import { createTexture, MAX_ROWS, scratchTexture } from "./textures.ts";

/** nt: A [M,K] B [N,K]; nn: A [M,K] B [K,N]; tn: A [K,M] B [K,N] (row-major, per batch). */
export type Variant = "nt" | "nn" | "tn";

/** A strided matrix view: element (z, r, c) at t.offset + off + (z/B2)*s1 + (z%B2)*s2 + r*ld + c. */
export interface MatView {
  t: Tensor;
  /** Row stride in elements. */
  ld: number;
  off?: number;
  s1?: number;
  s2?: number;
}

/**
 * A matrix kept packed (a weight on the texture path): `rows` x `cols` in the orientation the
 * matmul reads (rows = output dimension, cols = reduction dimension). Its source is stored
 * [rows, cols], or [cols, rows] when `transposed`; the texture holds it row-major, or k-major
 * (as stored, see matmul_tex.wgsl) when `kmajor`. Re-run its pack program after each update.
 */
export class PackedMatrix {
  constructor(
    readonly texture: GPUTexture | null,
    readonly rows: number,
    readonly cols: number,
    readonly source: MatView,
    readonly transposed: boolean,
    readonly kmajor = false,
  ) {}
}

/** Arguments of {@linkcode matmul}. */
export interface MatmulArgs {
  /** Storage layout of A and B when they are views (packed operands carry their own). */
  variant: Variant;
  M: number;
  N: number;
  K: number;
  /** Batch as [B1, B2] (z = b1*B2 + b2); default [1, 1]. */
  batch?: [number, number];
  a: MatView | PackedMatrix;
  b: MatView | PackedMatrix;
  c: MatView;
  bias?: Tensor;
  alpha?: number;
  accumulate?: boolean;
  /** C = gelu(alpha * product + bias) (PyTorch's tanh form), before any accumulation. */
  gelu?: boolean;
  /** C = residual + gate * (alpha * product + bias): see {@linkcode GatedResidual}. */
  gated?: GatedResidual;
}

/**
 * adaLN-Zero's gated residual fused into a linear layer's store (inference on the texture path,
 * see {@linkcode canFuseGate}): C[m][n] = residual[m][n] + mod[m / T][gateOff + n] * y[m][n].
 */
export interface GatedResidual {
  /** [M, N], laid out as C. */
  residual: Tensor;
  /** The modulation matrix [M / T, stride]. */
  mod: Tensor;
  /** Row stride of `mod`. */
  stride: number;
  /** Column of `mod` where the gate starts. */
  gateOff: number;
  /** Rows per modulation row (tokens per sample). */
  T: number;
}

/**
 * Whether {@linkcode matmul} can fuse a gated residual into an unbatched product of M x N:
 * texture kernels (llvmpipe, where every pass over memory costs per-lane loads), M within one
 * texture (no row chunks), N, the modulation stride and offset multiples of 4.
 */
export function canFuseGate(
  gpu: Gpu,
  M: number,
  N: number,
  stride: number,
  gateOff: number,
): boolean {
  return gpu.info.matmul === "texture" && M <= MAX_ROWS && N % 4 === 0 && stride % 4 === 0 &&
    gateOff % 4 === 0;
}

/** Whether a view can reach a texture by copy commands (rows 256 bytes apart, texel aligned). */
function copyable(v: MatView, cols: number): boolean {
  const strides = [v.t.offset + (v.off ?? 0), v.s1 ?? 0, v.s2 ?? 0];
  return cols % 4 === 0 && v.ld % 64 === 0 && strides.every((n) => n % 4 === 0);
}

/**
 * Texel width of a "heads" texture for a batched view whose B2 entries sit side by side within
 * its rows (attention's heads: s2 = head offset), or 0: such a view is copied as B1 layers of
 * whole rows, and the kernel finds entry (b1, b2) in layer b1 at texel column b2 * s2 / 4.
 */
function headsWidth(v: MatView, cols: number, batch: [number, number]): number {
  const B2 = batch[1];
  const s2 = v.s2 ?? 0;
  const span = (B2 - 1) * s2 + cols;
  if (B2 < 2 || s2 < cols || span > v.ld || !copyable(v, cols)) return 0;
  return span / 4;
}

/** Records packing of a [rows, cols] view (stored [cols, rows] if `transpose`) into `tex`. */
async function recordPack(
  p: Program,
  v: MatView,
  rows: number,
  cols: number,
  batch: [number, number],
  tex: GPUTexture,
  transpose: boolean,
  heads = 0,
): Promise<void> {
  const gpu = p.gpu;
  // Rows already in texel order with 256-byte strides: a copy command (a memcpy per row on
  // llvmpipe) instead of a kernel, whose texel stores run at about 2 GB/s there.
  const off0 = v.t.offset + (v.off ?? 0);
  if (heads) {
    const [B1] = batch;
    const s1 = v.s1 ?? 0;
    if (B1 === 1 || s1 === rows * v.ld) {
      p.copyToTexture(v.t.buffer, off0 * 4, v.ld * 4, tex, 0, heads, rows, B1);
    } else {
      for (let b = 0; b < B1; b++) {
        p.copyToTexture(v.t.buffer, (off0 + b * s1) * 4, v.ld * 4, tex, b, heads, rows);
      }
    }
    return;
  }
  if (!transpose && copyable(v, cols)) {
    // Layers stacked back to back (score matrices, per-sample blocks): one copy for all.
    const [B1, B2] = batch;
    const image = rows * v.ld;
    if ((B2 === 1 || v.s2 === image) && (B1 === 1 || v.s1 === B2 * image)) {
      p.copyToTexture(v.t.buffer, off0 * 4, v.ld * 4, tex, 0, cols / 4, rows, B1 * B2);
      return;
    }
    for (let z = 0; z < batch[0] * batch[1]; z++) {
      const off = off0 + Math.floor(z / batch[1]) * (v.s1 ?? 0) + (z % batch[1]) * (v.s2 ?? 0);
      p.copyToTexture(v.t.buffer, off * 4, v.ld * 4, tex, z, cols / 4, rows);
    }
    return;
  }
  const src = bindView(gpu, v, transpose ? cols : rows, transpose ? rows : cols, batch);
  // vec4 loads when every offset and stride is a multiple of 4 and no texel straddles a row end.
  const aligned = [src.off, v.s1 ?? 0, v.s2 ?? 0, v.ld].every((n) => n % 4 === 0) &&
    cols % 4 === 0 && (!transpose || rows % 4 === 0) && src.binding.offset! % 16 === 0;
  const kernel = await gpu.kernel(
    "pack_texture",
    { TRANSPOSE: transpose ? 1 : 0 },
    aligned ? "main_vec4" : "main",
  );
  const params = gpu.uniform(
    [src.off, v.s1 ?? 0, v.s2 ?? 0, batch[1], v.ld, rows, cols, 0],
    "pack-params",
  );
  const vec4Binding = { ...src.binding, size: Math.ceil((src.binding.size as number) / 16) * 16 };
  if ((vec4Binding.offset ?? 0) + vec4Binding.size > src.binding.buffer.size) {
    vec4Binding.size -= 16;
  }
  p.dispatch(kernel, [
    src.binding,
    aligned ? vec4Binding : src.binding,
    tex.createView({ dimension: "2d-array" }),
    {
      buffer: params,
    },
  ], [
    Math.ceil(Math.ceil(cols / 4) / 64),
    aligned && transpose ? rows / 4 : rows,
    batch[0] * batch[1],
  ]);
}

/**
 * Makes a persistent packed operand from a weight view and records its packing into `p`
 * (on the buffer path nothing is packed: the view is read directly).
 */
export async function packMatrix(
  p: Program,
  v: MatView,
  rows: number,
  cols: number,
  transposed: boolean,
  label: string,
): Promise<PackedMatrix> {
  checkView(v, transposed ? cols : rows, transposed ? rows : cols, [1, 1], label);
  if (p.gpu.info.matmul === "buffer") return new PackedMatrix(null, rows, cols, v, transposed);
  if (transposed && cols <= MAX_ROWS) {
    // Stored [cols, rows]: kept k-major as stored (a copy where aligned, no transposition).
    const tex = createTexture(p.gpu, Math.ceil(rows / 4), Math.ceil(cols / 4) * 4, 1, label);
    await recordPack(p, v, cols, rows, [1, 1], tex, false);
    return new PackedMatrix(tex, rows, cols, v, transposed, true);
  }
  if (rows > MAX_ROWS) throw new Error(`Matrix ${label} has ${rows} rows, over ${MAX_ROWS}`);
  const tex = createTexture(p.gpu, Math.ceil(cols / 4), rows, 1, label);
  await recordPack(p, v, rows, cols, [1, 1], tex, transposed);
  return new PackedMatrix(tex, rows, cols, v, transposed);
}

function checkView(v: MatView, rows: number, cols: number, batch: [number, number], what: string) {
  const last = (v.off ?? 0) + (batch[0] - 1) * (v.s1 ?? 0) + (batch[1] - 1) * (v.s2 ?? 0) +
    (rows - 1) * v.ld + cols;
  if (rows > 0 && cols > 0 && last > v.t.size) {
    throw new Error(
      `Matmul ${what}: view of ${rows}x${cols} (ld ${v.ld}) runs past tensor [${v.t.shape}]`,
    );
  }
}

/** Elements spanned by a view of `rows` x `cols` over `batch`. */
function extent(v: MatView, rows: number, cols: number, batch: [number, number]): number {
  return (batch[0] - 1) * (v.s1 ?? 0) + (batch[1] - 1) * (v.s2 ?? 0) + (rows - 1) * v.ld + cols;
}

/** Binds just the span of a view (bindings are capped at 128 MiB; buffers are not). */
function bindView(gpu: Gpu, v: MatView, rows: number, cols: number, batch: [number, number]) {
  const align = gpu.device.limits.minStorageBufferOffsetAlignment;
  const { binding, rel } = v.t.range(v.off ?? 0, extent(v, rows, cols, batch), align);
  return { binding, off: rel };
}

/** Whether operand `w` of `variant` is stored with the reduction dimension as rows. */
function kMajor(variant: Variant, w: "a" | "b"): boolean {
  return w === "a" ? variant === "tn" : variant !== "nt";
}

/** Records C = alpha * op(A) op(B) (+ bias) (+ C if accumulate) into `p`. */
export async function matmul(p: Program, args: MatmulArgs): Promise<void> {
  const { variant, M, N, K } = args;
  const batch = args.batch ?? [1, 1];
  if (M <= 0 || N <= 0) return;
  checkView(args.c, M, N, batch, "output");
  for (const w of ["a", "b"] as const) {
    const op = args[w];
    const rows = w === "a" ? M : N;
    if (op instanceof PackedMatrix) {
      if (op.rows !== rows || op.cols !== K) {
        throw new Error(`Matmul ${w}: packed ${op.rows}x${op.cols}, expected ${rows}x${K}`);
      }
    } else if (kMajor(variant, w)) checkView(op, K, rows, batch, w);
    else checkView(op, rows, K, batch, w);
  }
  if (args.bias && args.bias.size < N) throw new Error(`Matmul bias has ${args.bias.size} < ${N}`);
  if (args.gated) checkGated(p.gpu, args, batch);
  if (p.gpu.info.matmul === "buffer") return await matmulBuffer(p, args, batch);
  // Texture height limit: split M (rows of A) into chunks; N and K never reach it in a DiT.
  if (M > MAX_ROWS) {
    if (args.a instanceof PackedMatrix) throw new Error(`Matmul: packed A with ${M} rows`);
    const a = args.a;
    const step = kMajor(variant, "a") ? 1 : a.ld;
    for (let m = 0; m < M; m += MAX_ROWS) {
      await matmul(p, {
        ...args,
        M: Math.min(MAX_ROWS, M - m),
        a: { ...a, off: (a.off ?? 0) + m * step },
        c: { ...args.c, off: (args.c.off ?? 0) + m * args.c.ld },
      });
    }
    return;
  }
  if (N > MAX_ROWS) throw new Error(`Matmul N = ${N} exceeds ${MAX_ROWS}`);
  const maxLayers = p.gpu.device.limits.maxTextureArrayLayers;
  if (batch[0] * batch[1] > maxLayers) {
    throw new Error(`Matmul batch ${batch[0] * batch[1]} exceeds ${maxLayers} texture layers`);
  }
  await matmulTexture(p, args, batch);
}

function checkGated(gpu: Gpu, args: MatmulArgs, batch: [number, number]): void {
  const g = args.gated!;
  const c = args.c;
  const ok = canFuseGate(gpu, args.M, args.N, g.stride, g.gateOff) && batch[0] * batch[1] === 1 &&
    !args.accumulate && c.ld === args.N && (c.off ?? 0) % 4 === 0 &&
    (c.t.offset + (c.off ?? 0)) % 4 === 0 && g.residual.offset % 4 === 0 &&
    g.mod.offset % 4 === 0 && g.residual.size === args.M * args.N && args.M % g.T === 0 &&
    g.mod.size >= (args.M / g.T) * g.stride;
  if (!ok) {
    throw new Error(
      `Matmul: a gated residual needs the texture kernels, an unbatched dense [${args.M}, ${args.N}] ` +
        `output without accumulation and vec4-aligned operands (see canFuseGate)`,
    );
  }
}

async function matmulTexture(p: Program, args: MatmulArgs, batch: [number, number]) {
  const gpu = p.gpu;
  const { variant, K } = args;
  const layers = batch[0] * batch[1];
  // A 16x16-per-invocation workgroup spans 128 columns of C, and on llvmpipe idle lanes cost as
  // much as busy ones: narrow products (attention's P V, dQ, dK, dV with N = head width) run
  // twice as fast as C^T = op(B)^T op(A)^T, stored transposed. (Bias runs along columns, and the
  // gated store along rows: those are kept.)
  const swap = args.N <= 64 && args.M >= 2 * args.N && !args.bias && !args.gated;
  const [M, N] = swap ? [args.N, args.M] : [args.M, args.N];
  const operands = [
    { op: args.a, kmajor: kMajor(variant, "a"), slot: "a" },
    { op: args.b, kmajor: kMajor(variant, "b"), slot: "b" },
  ];
  if (swap) operands.reverse();
  const tex: GPUTexture[] = [];
  // Per operand: layer mode (0: one matrix, 1: layer z, 2: heads: layer z / B2 at texel column
  // (z % B2) * xs), xs, k-major.
  const mode: number[] = [];
  const xs: number[] = [];
  const kmajor: number[] = [];
  for (const [i, { op, kmajor: storedKMajor, slot }] of operands.entries()) {
    if (op instanceof PackedMatrix) {
      tex.push(op.texture!);
      mode.push(0);
      xs.push(0);
      kmajor.push(op.kmajor ? 1 : 0);
      continue;
    }
    const rows = i === 0 ? M : N;
    const isBatched = layers > 1 && ((op.s1 ?? 0) !== 0 || (op.s2 ?? 0) !== 0);
    const b: [number, number] = isBatched ? batch : [1, 1];
    // Operands stored with K as rows (dY^T X, P V) go in as stored, k-major (the kernel reads
    // them so), which is usually a plain copy; past the texture height they are transposed.
    const km = storedKMajor && K <= MAX_ROWS;
    const direct = km || !storedKMajor; // packed as stored, not transposed
    const sc = km ? rows : K; // stored columns
    const heads = isBatched && direct ? headsWidth(op, sc, batch) : 0;
    const L = heads ? batch[0] : isBatched ? layers : 1;
    const t = km
      ? scratchTexture(
        gpu,
        heads || Math.ceil(rows / 4),
        K,
        L,
        `${slot}-kmajor${heads ? "-heads" : ""}`,
        Math.ceil(K / 4) * 4,
      )
      : scratchTexture(gpu, heads || Math.ceil(K / 4), rows, L, `${slot}${heads ? "-heads" : ""}`);
    if (km) await recordPack(p, op, K, rows, b, t, false, heads);
    else await recordPack(p, op, rows, K, b, t, storedKMajor, heads);
    tex.push(t);
    mode.push(heads ? 2 : isBatched ? 1 : 0);
    xs.push(heads ? (op.s2 ?? 0) / 4 : 0);
    kmajor.push(km ? 1 : 0);
  }
  const c = args.c;
  const cb = bindView(gpu, c, args.M, args.N, batch);
  // Whole rows of 4x4 blocks are contiguous 16-byte groups of C (whole columns when stored
  // transposed) where its offsets and strides allow.
  const aligned = [cb.off, c.ld, c.s1 ?? 0, c.s2 ?? 0].every((v) => v % 4 === 0);
  const vec4Out = !swap && N % 4 === 0 && aligned;
  const vec4OutT = swap && M % 4 === 0 && aligned;
  if (args.gated && !vec4Out) throw new Error("Matmul: a gated residual needs vec4 output stores");
  const kernel = await gpu.kernel("matmul_tex", {
    HAS_BIAS: args.bias ? 1 : 0,
    ACCUMULATE: args.accumulate ? 1 : 0,
    GELU: args.gelu ? 1 : 0,
    A_KMAJOR: kmajor[0],
    B_KMAJOR: kmajor[1],
    VEC4_OUT: vec4Out ? 1 : 0,
    VEC4_OUT_T: vec4OutT ? 1 : 0,
    GATED: args.gated ? 1 : 0,
    // The gate's sample row (m / T) divides by a constant (a multiply) instead of a uniform.
    ...(args.gated ? { GATE_T: args.gated.T } : {}),
  });
  const g = args.gated;
  const none = gpu.dummyU32().binding;
  // Residual and modulation bound from aligned starts, their offsets in the uniforms.
  const align = gpu.device.limits.minStorageBufferOffsetAlignment;
  const res = g?.residual.range(0, g.residual.size, align);
  const gmod = g?.mod.range(0, g.mod.size, align);
  const params = gpu.uniform([
    M,
    N,
    K,
    batch[1],
    cb.off,
    c.s1 ?? 0,
    c.s2 ?? 0,
    swap ? 1 : c.ld,
    mode[0],
    mode[1],
    0,
    swap ? c.ld : 1,
    f32(args.alpha ?? 1),
    xs[0],
    xs[1],
    0,
    0, // tokens per sample: the GATE_T constant
    g?.stride ?? 0,
    (g?.gateOff ?? 0) + (gmod?.rel ?? 0),
    res?.rel ?? 0,
  ], "matmul-params");
  const sink = gpu.sink().binding;
  p.dispatch(kernel, [
    tex[0].createView({ dimension: "2d-array" }),
    tex[1].createView({ dimension: "2d-array" }),
    vec4Out || vec4OutT ? sink : cb.binding,
    args.bias?.binding ?? { buffer: gpu.dummy },
    { buffer: params },
    vec4Out || vec4OutT ? cb.binding : sink,
    res?.binding ?? none,
    gmod?.binding ?? none,
  ], [Math.ceil(N / 128), Math.ceil(M / 64), layers]);
}

async function matmulBuffer(p: Program, args: MatmulArgs, batch: [number, number]) {
  const gpu = p.gpu;
  const { variant, M, N, K } = args;
  const views: MatView[] = [];
  const kmaj: number[] = [];
  for (const w of ["a", "b"] as const) {
    const op = args[w];
    views.push(op instanceof PackedMatrix ? op.source : op);
    kmaj.push((op instanceof PackedMatrix ? op.transposed : kMajor(variant, w)) ? 1 : 0);
  }
  const [a, b] = views;
  const c = args.c;
  const ab = bindView(gpu, a, kmaj[0] ? K : M, kmaj[0] ? M : K, batch);
  const bb = bindView(gpu, b, kmaj[1] ? K : N, kmaj[1] ? N : K, batch);
  const cb = bindView(gpu, c, M, N, batch);
  const flags = {
    HAS_BIAS: args.bias ? 1 : 0,
    ACCUMULATE: args.accumulate ? 1 : 0,
    GELU: args.gelu ? 1 : 0,
  };
  const view = (v: MatView, off: number): ViewWords => [off, v.s1 ?? 0, v.s2 ?? 0, v.ld];
  const bias = args.bias?.binding ?? { buffer: gpu.dummy };
  const alpha = args.alpha ?? 1;
  const tiles: [number, number] = [Math.ceil(N / 64), Math.ceil(M / 64)];
  const chunk = kChunk(K);
  const n = splitK(M, N, K, batch);
  if (n > 1) {
    // Partial products of K chunks into the shared scratch [n, M, N], then their sum.
    const scratch = gpu.scratch(n * M * N);
    const partial = await gpu.kernel("matmul_buf", {
      A_KMAJOR: kmaj[0],
      B_KMAJOR: kmaj[1],
      SPLIT_K: 1,
    });
    const partialParams = bufParams(gpu, {
      M,
      N,
      K,
      B2: 1,
      a: [ab.off, 0, 0, a.ld],
      b: [bb.off, 0, 0, b.ld],
      c: [0, M * N, 0, N], // slice z of the scratch
      kChunk: chunk,
      splits: n,
      alpha: 1, // applied to the sum, as the unsplit kernel does
    });
    p.dispatch(partial, [ab.binding, bb.binding, scratch, bias, partialParams], [...tiles, n]);
    const reduce = await gpu.kernel("matmul_buf", flags, "reduce_splits");
    const reduceParams = bufParams(gpu, {
      M,
      N,
      K,
      B2: 1,
      a: [0, 0, 0, 0],
      b: [0, 0, 0, 0],
      c: [cb.off, 0, 0, c.ld],
      kChunk: chunk,
      splits: n,
      alpha,
    });
    const rest = [cb.binding, bias, reduceParams];
    p.dispatch(reduce, [scratch, { buffer: gpu.dummy }, ...rest], [Math.ceil((M * N) / 256)]);
    return;
  }
  const tile = bufferTile(gpu, M, N, K, batch);
  const kernel = await gpu.kernel(
    "matmul_buf",
    { A_KMAJOR: kmaj[0], B_KMAJOR: kmaj[1], ...flags },
    tile === 128 ? "main128" : "main",
  );
  const params = bufParams(gpu, {
    M,
    N,
    K,
    B2: batch[1],
    a: view(a, ab.off),
    b: view(b, bb.off),
    c: view(c, cb.off),
    kChunk: chunk,
    alpha,
  });
  p.dispatch(kernel, [ab.binding, bb.binding, cb.binding, bias, params], [
    Math.ceil(N / tile),
    Math.ceil(M / tile),
    batch[0] * batch[1],
  ]);
}

/** K from which the buffer kernels sum a product in chunks of {@linkcode kChunk}. */
export const CHUNK_MIN_K = 1024;

/**
 * Length of the K chunks in which the buffer kernels sum a product of depth K (a multiple of 16;
 * K rounded up to one when K < CHUNK_MIN_K): each output is the sum, in order from zero, of its
 * chunks' partial dot products, each accumulated from zero, whether the chunks run in one
 * workgroup or split across several ({@linkcode splitK}). It depends on K alone, so a row of a
 * product comes out bit for bit the same whatever M is: a request batched with others gets the
 * result it gets alone (splitting is chosen by the number of tiles, that is by M).
 */
export function kChunk(K: number): number {
  if (K < CHUNK_MIN_K) return Math.max(16, Math.ceil(K / 16) * 16);
  return Math.max(256, Math.ceil(K / 64 / 16) * 16);
}

/**
 * Workgroups of 128x128 tiles from which a product takes them instead of 64x64 ones: 8x8 results
 * per thread need half the 64x64 kernel's workgroup-memory reads per multiply-add, but a product
 * with few tiles leaves multiprocessors idle. On an H100 (132 multiprocessors; docs/benchmarks.md)
 * the 128x128 kernel is 7-32% faster at 144 to 768 such tiles, 40% slower at 48.
 */
export const BIG_TILE_MIN_WORKGROUPS = 128;

/**
 * The buffer matmul's tile edge for an M x N x K product over `batch`. The 128x128 kernel sums K
 * in one chunk, so products with K >= CHUNK_MIN_K take the 64x64 one (see {@linkcode kChunk}).
 */
export function bufferTile(
  gpu: Gpu,
  M: number,
  N: number,
  K: number,
  batch: [number, number],
): BufferTile {
  if (K >= CHUNK_MIN_K) return 64;
  if (gpu.info.bufferTile) return gpu.info.bufferTile;
  const big = Math.ceil(M / 128) * Math.ceil(N / 128) * batch[0] * batch[1];
  return big >= BIG_TILE_MIN_WORKGROUPS ? 128 : 64;
}

/** A strided view's words in matmul_buf.wgsl's Params: offset, s1, s2, ld. */
type ViewWords = [number, number, number, number];

/** matmul_buf.wgsl's Params block, by name. */
function bufParams(gpu: Gpu, o: {
  M: number;
  N: number;
  K: number;
  B2: number;
  a: ViewWords;
  b: ViewWords;
  c: ViewWords;
  kChunk?: number;
  splits?: number;
  alpha: number;
}): GPUBufferBinding {
  const words = [o.M, o.N, o.K, o.B2, ...o.a, ...o.b, ...o.c, 0, o.kChunk ?? 0, o.splits ?? 0, 0];
  return { buffer: gpu.uniform([...words, f32(o.alpha)], "matmul-params") };
}

/**
 * Workgroups along K for an unbatched product whose few 64x64 tiles would leave a GPU idle while
 * each walks a long K (weight gradients sum over every token: K = batch x tokens): one per chunk
 * of {@linkcode kChunk}, partial products then their sum. 1 = no split.
 */
export function splitK(M: number, N: number, K: number, batch: [number, number]): number {
  const tiles = Math.ceil(M / 64) * Math.ceil(N / 64);
  if (batch[0] * batch[1] !== 1 || K < CHUNK_MIN_K || tiles >= 64) return 1;
  return Math.ceil(K / kChunk(K));
}
