/**
 * Matmul launcher: C = alpha * op(A) op(B) (+ bias) (+ C), batched and strided, with two kernel
 * families chosen per adapter: texture-fed on llvmpipe (operands packed into rgba32float
 * textures, ~20x faster there; `matmul_texture.ts`), storage buffers with workgroup tiles on real
 * GPUs (`matmul_buffer.ts`). The arguments and views are in `matmul_args.ts`.
 */
import type { Gpu, Program } from "../gpu/gpu.ts";
import { checkView, kMajor, type MatmulArgs, type MatView, PackedMatrix } from "./matmul_args.ts";
import { matmulBuffer } from "./matmul_buffer.ts";
import { matmulTexture, packTexture } from "./matmul_texture.ts";
import { MAX_ROWS } from "./textures.ts";

export {
  type GatedResidual,
  type MatmulArgs,
  type MatView,
  PackedMatrix,
  type Variant,
} from "./matmul_args.ts";
export {
  BIG_TILE_MIN_WORKGROUPS,
  bufferTile,
  CHUNK_MIN_K,
  kChunk,
  splitK,
} from "./matmul_buffer.ts";

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
  return await packTexture(p, { v, rows, cols, transposed, label });
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
