/**
 * The texture-fed matmul family for CPU adapters (llvmpipe): operands packed into rgba32float
 * textures (by copy commands or `kernels/pack_texture.wgsl`) and read by image loads in
 * `kernels/matmul_tex.wgsl`, ~20x faster there than storage-buffer loads.
 */
import type { Program } from "../gpu/gpu.ts";
import { dispatch, kernelRecord } from "./_kernel.ts";
import { bindView, kMajor, type MatmulArgs, type MatView, PackedMatrix } from "./matmul_args.ts";
import { createTexture, MAX_ROWS, scratchTexture } from "./textures.ts";

/** kernels/matmul_tex.wgsl. */
export const MATMUL_TEX = kernelRecord("matmul_tex");

/** kernels/pack_texture.wgsl. */
export const PACK_TEXTURE = kernelRecord("pack_texture");

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
  const vec4Binding = { ...src.binding, size: Math.ceil((src.binding.size as number) / 16) * 16 };
  if ((vec4Binding.offset ?? 0) + vec4Binding.size > src.binding.buffer.size) {
    vec4Binding.size -= 16;
  }
  await dispatch(p, PACK_TEXTURE, {
    entry: aligned ? "main_vec4" : "main",
    bind: {
      src: src.binding,
      src4: aligned ? vec4Binding : src.binding,
      dst: tex.createView({ dimension: "2d-array" }),
    },
    uniforms: {
      off: src.off,
      s1: v.s1 ?? 0,
      s2: v.s2 ?? 0,
      B2: batch[1],
      ld: v.ld,
      rows,
      cols,
    },
    constants: { TRANSPOSE: transpose ? 1 : 0 },
    workgroups: [
      Math.ceil(Math.ceil(cols / 4) / 64),
      aligned && transpose ? rows / 4 : rows,
      batch[0] * batch[1],
    ],
  });
}

/** A weight to keep packed: `rows` x `cols` read from `v`, stored [cols, rows] when `transposed`. */
export interface PackRequest {
  v: MatView;
  rows: number;
  cols: number;
  transposed: boolean;
  label: string;
}

/** A persistent packed weight on the texture path, its packing recorded into `p`. */
export async function packTexture(p: Program, w: PackRequest): Promise<PackedMatrix> {
  const { v, rows, cols, transposed, label } = w;
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

/** Records C = alpha * op(A) op(B) with the texture kernels (M, N within one texture). */
export async function matmulTexture(p: Program, args: MatmulArgs, batch: [number, number]) {
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
  const g = args.gated;
  // Residual and modulation bound from aligned starts, their offsets in the uniforms.
  const align = gpu.device.limits.minStorageBufferOffsetAlignment;
  const res = g?.residual.range(0, g.residual.size, align);
  const gmod = g?.mod.range(0, g.mod.size, align);
  await dispatch(p, MATMUL_TEX, {
    entry: "main",
    bind: {
      ta: tex[0].createView({ dimension: "2d-array" }),
      tb: tex[1].createView({ dimension: "2d-array" }),
      [vec4Out || vec4OutT ? "c4" : "c"]: cb.binding,
      bias: args.bias?.binding,
      res4: res?.binding,
      gmod4: gmod?.binding,
    },
    uniforms: {
      M,
      N,
      K,
      B2: batch[1],
      cOff: cb.off,
      cS1: c.s1 ?? 0,
      cS2: c.s2 ?? 0,
      // Stored transposed (swap): C^T's rows are C's columns.
      ldc: swap ? 1 : c.ld,
      aMode: mode[0],
      bMode: mode[1],
      biasOff: 0,
      cCol: swap ? c.ld : 1,
      alpha: args.alpha ?? 1,
      aXs: xs[0],
      bXs: xs[1],
      modStride: g?.stride ?? 0,
      gateOff: (g?.gateOff ?? 0) + (gmod?.rel ?? 0),
      resOff: res?.rel ?? 0,
    },
    constants: {
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
    },
    workgroups: [Math.ceil(N / 128), Math.ceil(M / 64), layers],
  });
}
