/** Row softmax and its backward (`kernels/softmax.wgsl`), on vec4s where the shapes allow. */
import type { Program, Tensor } from "../gpu/gpu.ts";
import { expectSize, grid, vec4Aligned } from "./_launch.ts";
import { dispatch, kernelRecord } from "./_kernel.ts";

/** kernels/softmax.wgsl. */
export const SOFTMAX = kernelRecord("softmax");

/** Records softmax.wgsl's `entry` over R rows, on vec4s when C and the offsets allow it. */
async function softmaxRows(
  p: Program,
  entry: "softmax_forward" | "softmax_backward",
  prob: Tensor | undefined,
  d: Tensor,
  R: number,
  C: number,
  alpha: number,
) {
  const vec4 = C % 4 === 0 && vec4Aligned(...(prob ? [prob, d] : [d]));
  const { wg, stride } = grid(p.gpu, R, 64);
  await dispatch(p, SOFTMAX, {
    entry: vec4 ? `${entry}4` : entry,
    bind: vec4 ? { p4: prob, s4: d } : { p: prob, s: d },
    uniforms: { R, C, stride, alpha },
    workgroups: wg,
  });
}

/** In-place row softmax of s [R, C]. */
export async function softmaxForward(p: Program, s: Tensor, R: number, C: number) {
  expectSize(s, R * C, "softmax");
  await softmaxRows(p, "softmax_forward", undefined, s, R, C, 1);
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
