/**
 * The storage-buffer matmul family for real GPUs (`kernels/matmul_buf.wgsl`): workgroup tiles of
 * 64x64 or 128x128, K summed in fixed chunks, long K split across workgroups for few-tile products.
 */
import type { Gpu, Program } from "../gpu/gpu.ts";
import type { BufferTile } from "../gpu/device.ts";
import { dispatch, kernelRecord } from "./_kernel.ts";
import { bindView, kMajor, type MatmulArgs, type MatView, PackedMatrix } from "./matmul_args.ts";

/** kernels/matmul_buf.wgsl. */
export const MATMUL_BUF = kernelRecord("matmul_buf");

/** Records C = alpha * op(A) op(B) with the storage-buffer kernels (real GPUs). */
export async function matmulBuffer(p: Program, args: MatmulArgs, batch: [number, number]) {
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
  const bias = args.bias?.binding;
  const alpha = args.alpha ?? 1;
  const tiles: [number, number] = [Math.ceil(N / 64), Math.ceil(M / 64)];
  const chunk = kChunk(K);
  const n = splitK(M, N, K, batch);
  if (n > 1) {
    // Partial products of K chunks into the shared scratch [n, M, N], then their sum.
    const scratch = gpu.scratch(n * M * N);
    await dispatch(p, MATMUL_BUF, {
      entry: "main",
      bind: { a: ab.binding, b: bb.binding, c: scratch, bias },
      uniforms: {
        ...dims(M, N, K, 1, chunk, n),
        ...operand("a", ab.off, 0, 0, a.ld),
        ...operand("b", bb.off, 0, 0, b.ld),
        ...operand("c", 0, M * N, 0, N), // slice z of the scratch
        alpha: 1, // applied to the sum, as the unsplit kernel does
      },
      constants: { A_KMAJOR: kmaj[0], B_KMAJOR: kmaj[1], SPLIT_K: 1 },
      workgroups: [...tiles, n],
    });
    await dispatch(p, MATMUL_BUF, {
      entry: "reduce_splits",
      bind: { a: scratch, c: cb.binding, bias },
      uniforms: {
        ...dims(M, N, K, 1, chunk, n),
        ...operand("a", 0, 0, 0, 0),
        ...operand("b", 0, 0, 0, 0),
        ...operand("c", cb.off, 0, 0, c.ld),
        alpha,
      },
      constants: flags,
      workgroups: [Math.ceil((M * N) / 256)],
    });
    return;
  }
  const tile = bufferTile(gpu, M, N, K, batch);
  await dispatch(p, MATMUL_BUF, {
    entry: tile === 128 ? "main128" : "main",
    bind: { a: ab.binding, b: bb.binding, c: cb.binding, bias },
    uniforms: {
      ...dims(M, N, K, batch[1], chunk, 0),
      ...operand("a", ab.off, a.s1 ?? 0, a.s2 ?? 0, a.ld),
      ...operand("b", bb.off, b.s1 ?? 0, b.s2 ?? 0, b.ld),
      ...operand("c", cb.off, c.s1 ?? 0, c.s2 ?? 0, c.ld),
      alpha,
    },
    constants: { A_KMAJOR: kmaj[0], B_KMAJOR: kmaj[1], ...flags },
    workgroups: [Math.ceil(N / tile), Math.ceil(M / tile), batch[0] * batch[1]],
  });
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

/** matmul_buf.wgsl's product geometry fields (the bias offset is always 0). */
function dims(M: number, N: number, K: number, B2: number, kChunk: number, splits: number) {
  return { M, N, K, B2, biasOff: 0, kChunk, splits };
}

/** matmul_buf.wgsl's fields of one strided operand view: `<x>Off`, `<x>S1`, `<x>S2`, `ld<x>`. */
function operand<X extends "a" | "b" | "c">(x: X, off: number, s1: number, s2: number, ld: number) {
  return { [`${x}Off`]: off, [`${x}S1`]: s1, [`${x}S2`]: s2, [`ld${x}`]: ld } as Record<
    `${X}Off` | `${X}S1` | `${X}S2` | `ld${X}`,
    number
  >;
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
