/**
 * Optimizer step, EMA and gradient clipping with PyTorch semantics, updating buffers in place.
 */
import { expectSameLength, type MutableTensor, type Tensor } from "./check.ts";

/** Hyperparameters of {@linkcode adamwStep} (torch.optim.AdamW names in parentheses). */
export interface AdamWOptions {
  /** Learning rate (lr). */
  lr: number;
  /** First-moment decay (betas[0]). */
  beta1: number;
  /** Second-moment decay (betas[1]). */
  beta2: number;
  /** Denominator epsilon (eps), added after the square root. */
  eps: number;
  /** Decoupled weight decay (weight_decay). */
  weightDecay: number;
}

/**
 * One torch.optim.AdamW step (amsgrad off, maximize off), in place on param, m and v:
 * p *= 1 - lr*wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p -= lr * (m / (1-b1^step)) / (sqrt(v / (1-b2^step)) + eps).
 * Each element is computed in float64 and stored once into its buffer.
 *
 * Shapes: param, grad, m, v [same]; step is the 1-based count including this step.
 */
export function adamwStep(
  param: MutableTensor,
  grad: Tensor,
  m: MutableTensor,
  v: MutableTensor,
  step: number,
  opts: AdamWOptions,
): void {
  expectSameLength("param", param, "grad", grad);
  expectSameLength("param", param, "m", m);
  expectSameLength("param", param, "v", v);
  if (!Number.isInteger(step) || step < 1) {
    throw new Error(`AdamW step must be a positive integer (1 on the first step), got ${step}`);
  }
  const { lr, beta1, beta2, eps, weightDecay } = opts;
  const bc1 = 1 - Math.pow(beta1, step);
  const bc2Sqrt = Math.sqrt(1 - Math.pow(beta2, step));
  for (let i = 0; i < param.length; i++) {
    const g = grad[i];
    const p = param[i] * (1 - lr * weightDecay);
    const mi = beta1 * m[i] + (1 - beta1) * g;
    const vi = beta2 * v[i] + (1 - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = p - (lr / bc1) * mi / (Math.sqrt(vi) / bc2Sqrt + eps);
  }
}

/** Exponential moving average in place: ema = decay * ema + (1 - decay) * param. */
export function emaUpdate(ema: MutableTensor, param: Tensor, decay: number): void {
  expectSameLength("ema", ema, "param", param);
  for (let i = 0; i < ema.length; i++) ema[i] = decay * ema[i] + (1 - decay) * param[i];
}

/** L2 norm of all gradients together, sqrt(sum of squares), as `clip_grad_norm_` computes. */
export function globalNorm(grads: Tensor[]): number {
  let sum = 0;
  for (const g of grads) {
    for (let i = 0; i < g.length; i++) sum += g[i] * g[i];
  }
  return Math.sqrt(sum);
}

/**
 * Factor `torch.nn.utils.clip_grad_norm_` multiplies every gradient by:
 * min(1, maxNorm / (norm + 1e-6)).
 */
export function clipScale(norm: number, maxNorm: number): number {
  return Math.min(1, maxNorm / (norm + 1e-6));
}
