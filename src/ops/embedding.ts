/** Label embedding lookup and its scatter-add backward (`kernels/embed.wgsl`). */
import type { Program, Tensor } from "../gpu/gpu.ts";
import { expectSize, grid } from "./_launch.ts";
import { dispatch, kernelRecord } from "./_kernel.ts";

/** kernels/embed.wgsl. */
export const EMBED = kernelRecord("embed");

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
  const { wg, stride } = grid(p.gpu, N * D, 64);
  await dispatch(p, EMBED, {
    entry: "embedding_forward",
    bind: { src: table, ids, out },
    uniforms: { N, D, rows, stride },
    workgroups: wg,
  });
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
  const { wg, stride } = grid(p.gpu, rows * D, 64);
  await dispatch(p, EMBED, {
    entry: "embedding_backward",
    bind: { src: dy, ids, out: dtable },
    uniforms: { N, D, rows, stride },
    constants: { ACCUMULATE: accumulate ? 1 : 0 },
    workgroups: wg,
  });
}
