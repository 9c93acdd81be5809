/**
 * Elementwise activations (SiLU, tanh-approximated GELU), forward and backward.
 */
import { expectSameLength, type Tensor } from "./check.ts";

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const GELU_C = 0.044715;

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** SiLU (swish): y = x * sigmoid(x). Shape: x [any] -> y [same]. */
export function silu(x: Tensor): Float64Array {
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = x[i] * sigmoid(x[i]);
  return y;
}

/** Backward of {@linkcode silu}: dx = dy * s * (1 + x*(1-s)), s = sigmoid(x). Shapes: x, dy [same]. */
export function siluBackward(x: Tensor, dy: Tensor): Float64Array {
  expectSameLength("x", x, "dy", dy);
  const dx = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const s = sigmoid(x[i]);
    dx[i] = dy[i] * s * (1 + x[i] * (1 - s));
  }
  return dx;
}

/**
 * GELU with the tanh approximation, as PyTorch `GELU(approximate="tanh")`:
 * y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). Shape: x [any] -> y [same].
 */
export function geluTanh(x: Tensor): Float64Array {
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    y[i] = 0.5 * v * (1 + Math.tanh(SQRT_2_OVER_PI * (v + GELU_C * v * v * v)));
  }
  return y;
}

/** Backward of {@linkcode geluTanh}. Shapes: x, dy [same] -> dx [same]. */
export function geluTanhBackward(x: Tensor, dy: Tensor): Float64Array {
  expectSameLength("x", x, "dy", dy);
  const dx = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    const th = Math.tanh(SQRT_2_OVER_PI * (v + GELU_C * v * v * v));
    const du = SQRT_2_OVER_PI * (1 + 3 * GELU_C * v * v);
    dx[i] = dy[i] * (0.5 * (1 + th) + 0.5 * v * (1 - th * th) * du);
  }
  return dx;
}
