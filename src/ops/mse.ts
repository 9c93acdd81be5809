/** The diffusion loss: MSE on the predicted noise channels (`kernels/mse.wgsl`). */
import type { Program, Tensor } from "../gpu/gpu.ts";
import { expectSize, grid } from "./_launch.ts";
import { dispatch, kernelRecord } from "./_kernel.ts";

/** kernels/mse.wgsl. */
export const MSE = kernelRecord("mse");

/** Loss geometry: pred [N, Cp, HW], target [N, Ct, HW]. */
export interface MseGeom {
  N: number;
  Cp: number;
  Ct: number;
  HW: number;
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
  await dispatch(p, MSE, {
    entry: "mse_forward",
    bind: { pred, target_: target, out: loss },
    uniforms: { N: g.N, Cp: g.Cp, Ct: g.Ct, HW: g.HW, stride: 0, slot, scale: 1 },
    workgroups: [1],
  });
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
  const { wg, stride } = grid(p.gpu, pred.size, 256);
  await dispatch(p, MSE, {
    entry: "mse_backward",
    bind: { pred, target_: target, out: dpred },
    uniforms: { N: g.N, Cp: g.Cp, Ct: g.Ct, HW: g.HW, stride, slot: 0, scale },
    workgroups: wg,
  });
}
