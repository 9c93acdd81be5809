/** Image <-> token permutations (`kernels/patchify.wgsl`). */
import type { Program, Tensor } from "../gpu/gpu.ts";
import { expectSize, grid } from "./_launch.ts";
import { dispatch, kernelRecord } from "./_kernel.ts";

/** kernels/patchify.wgsl. */
export const PATCHIFY = kernelRecord("patchify");

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
  const { wg, stride } = grid(p.gpu, N * C * H * W, 256);
  await dispatch(p, PATCHIFY, {
    entry: to === "tokens" ? "to_tokens" : "to_image",
    bind: { src, dst },
    uniforms: { N, stride },
    constants: { ORDER: order === "conv" ? 1 : 0, C, H, W, PATCH: dims.p },
    workgroups: wg,
  });
}
