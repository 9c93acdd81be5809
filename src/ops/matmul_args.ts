/**
 * The matmul op's arguments and strided views, shared by its two kernel families
 * (`matmul_texture.ts`, `matmul_buffer.ts`).
 */
import type { Gpu, Tensor } from "../gpu/gpu.ts";

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

/** Throws unless a view of `rows` x `cols` over `batch` lies within its tensor. */
export function checkView(
  v: MatView,
  rows: number,
  cols: number,
  batch: [number, number],
  what: string,
) {
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
export function bindView(
  gpu: Gpu,
  v: MatView,
  rows: number,
  cols: number,
  batch: [number, number],
) {
  const align = gpu.device.limits.minStorageBufferOffsetAlignment;
  const { binding, rel } = v.t.range(v.off ?? 0, extent(v, rows, cols, batch), align);
  return { binding, off: rel };
}

/** Whether operand `w` of `variant` is stored with the reduction dimension as rows. */
export function kMajor(variant: Variant, w: "a" | "b"): boolean {
  return w === "a" ? variant === "tn" : variant !== "nt";
}
