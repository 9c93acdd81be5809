// Activation functions and their derivatives, per vec4 (shared: `//! include activations`).
//   gelu: PyTorch GELU(approximate="tanh"); silu: x * sigmoid(x).

const GELU_K: f32 = 0.7978845608028654; // sqrt(2/pi)

fn gelu(x: vec4f) -> vec4f {
  let u = GELU_K * (x + 0.044715 * x * x * x);
  return 0.5 * x * (1.0 + tanh(u));
}

fn gelu_grad(x: vec4f) -> vec4f {
  let u = GELU_K * (x + 0.044715 * x * x * x);
  let t = tanh(u);
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GELU_K * (1.0 + 3.0 * 0.044715 * x * x);
}

fn sigmoid(x: vec4f) -> vec4f { return 1.0 / (1.0 + exp(-x)); }

fn silu(x: vec4f) -> vec4f { return x * sigmoid(x); }

fn silu_grad(x: vec4f) -> vec4f {
  let s = sigmoid(x);
  return s * (1.0 + x * (1.0 - s));
}
