/**
 * Mean squared error losses, forward and backward.
 */
import { expectDims, expectLength, expectSameLength, type Tensor } from "./check.ts";

/** Mean squared error over all elements: mean((pred - target)^2). Shapes: pred, target [same]. */
export function mseLoss(pred: Tensor, target: Tensor): number {
  expectSameLength("pred", pred, "target", target);
  if (pred.length === 0) throw new Error("Mean squared error of empty tensors is undefined");
  let sum = 0;
  for (let i = 0; i < pred.length; i++) sum += (pred[i] - target[i]) ** 2;
  return sum / pred.length;
}

/** Backward of {@linkcode mseLoss}: dpred = 2 (pred - target) / numel. Shape: [same as pred]. */
export function mseLossBackward(pred: Tensor, target: Tensor): Float64Array {
  expectSameLength("pred", pred, "target", target);
  const dpred = new Float64Array(pred.length);
  for (let i = 0; i < pred.length; i++) dpred[i] = 2 * (pred[i] - target[i]) / pred.length;
  return dpred;
}

function checkChannels(
  pred: Tensor,
  target: Tensor,
  N: number,
  Cpred: number,
  Ctarget: number,
  HW: number,
): void {
  expectDims({ N, Cpred, Ctarget, HW });
  if (Ctarget > Cpred) {
    throw new Error(`Target has ${Ctarget} channels but the prediction only ${Cpred}`);
  }
  expectLength("pred", pred, N * Cpred * HW, "[N,Cpred,HW]");
  expectLength("target", target, N * Ctarget * HW, "[N,Ctarget,HW]");
}

/**
 * Mean squared error on the first Ctarget channels of the prediction (the noise half of the
 * official learned-sigma output), averaged over N*Ctarget*HW elements; other channels are ignored.
 *
 * Shapes: pred [N,Cpred,HW], target [N,Ctarget,HW] -> scalar.
 */
export function mseLossChannels(
  pred: Tensor,
  target: Tensor,
  N: number,
  Cpred: number,
  Ctarget: number,
  HW: number,
): number {
  checkChannels(pred, target, N, Cpred, Ctarget, HW);
  let sum = 0;
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < Ctarget; c++) {
      for (let i = 0; i < HW; i++) {
        sum += (pred[(n * Cpred + c) * HW + i] - target[(n * Ctarget + c) * HW + i]) ** 2;
      }
    }
  }
  return sum / (N * Ctarget * HW);
}

/**
 * Backward of {@linkcode mseLossChannels}: dpred = 2 (pred - target) / (N*Ctarget*HW) on the first
 * Ctarget channels, zero on the rest.
 *
 * Shapes: pred [N,Cpred,HW], target [N,Ctarget,HW] -> dpred [N,Cpred,HW].
 */
export function mseLossChannelsBackward(
  pred: Tensor,
  target: Tensor,
  N: number,
  Cpred: number,
  Ctarget: number,
  HW: number,
): Float64Array {
  checkChannels(pred, target, N, Cpred, Ctarget, HW);
  const count = N * Ctarget * HW;
  const dpred = new Float64Array(N * Cpred * HW);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < Ctarget; c++) {
      for (let i = 0; i < HW; i++) {
        const p = (n * Cpred + c) * HW + i;
        dpred[p] = 2 * (pred[p] - target[(n * Ctarget + c) * HW + i]) / count;
      }
    }
  }
  return dpred;
}
