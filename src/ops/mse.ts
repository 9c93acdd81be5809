/** The diffusion loss: MSE on the predicted noise channels (`kernels/mse.wgsl`). */
import type { Program, Tensor } from "../gpu/gpu.ts";
import { expectSize, grid } from "./_launch.ts";
import { dispatch, kernelSpec } from "./_kernel.ts";

/** kernels/mse.wgsl. */
export const MSE = kernelSpec({
  file: "mse",
  entries: ["mse_forward", "mse_backward"],
  bindings: ["pred", "target_", "out", "P"],
  uniforms: {
    N: "u32",
    Cp: "u32",
    Ct: "u32",
    HW: "u32",
    stride: "u32",
    slot: "u32",
    _p0: "u32",
    _p1: "u32",
    scale: "f32",
    _f0: "f32",
    _f1: "f32",
    _f2: "f32",
  },
});

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
