// Elementwise ops on flat float32 arrays. Element i = g.x + g.y * P.stride (2-D dispatch past
// 65535 workgroups). Bindings: 0 a, 1 b (second operand / upstream gradient), 2 out, 3 params.
//   silu_forward:  out = a * sigmoid(a)
//   silu_backward: out = b * dsilu(a)            (a = forward input, b = dy)
//   gelu_forward:  out = GELU_tanh(a)             (PyTorch approximate="tanh")
//   gelu_backward: out = b * dGELU_tanh(a)
//   add:           out = a + b
//   add_bcast:     out = a + b[i % period]        (positional embedding over samples)
// ACCUMULATE adds into out instead of overwriting. Dispatch: grid of ceil(n/256) workgroups.

struct Params { n: u32, stride: u32, period: u32, _p: u32 }

override ACCUMULATE: bool = false;

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> P: Params;

fn put(i: u32, v: f32) {
  if (ACCUMULATE) { out[i] += v; } else { out[i] = v; }
}

const GELU_K: f32 = 0.7978845608028654; // sqrt(2/pi)

fn gelu(x: f32) -> f32 {
  let u = GELU_K * (x + 0.044715 * x * x * x);
  return 0.5 * x * (1.0 + tanh(u));
}

fn gelu_grad(x: f32) -> f32 {
  let u = GELU_K * (x + 0.044715 * x * x * x);
  let t = tanh(u);
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GELU_K * (1.0 + 3.0 * 0.044715 * x * x);
}

fn sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }

@compute @workgroup_size(256)
fn silu_forward(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x + g.y * P.stride;
  if (i >= P.n) { return; }
  let x = a[i];
  put(i, x * sigmoid(x));
}

@compute @workgroup_size(256)
fn silu_backward(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x + g.y * P.stride;
  if (i >= P.n) { return; }
  let x = a[i];
  let s = sigmoid(x);
  put(i, b[i] * s * (1.0 + x * (1.0 - s)));
}

@compute @workgroup_size(256)
fn gelu_forward(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x + g.y * P.stride;
  if (i >= P.n) { return; }
  put(i, gelu(a[i]));
}

@compute @workgroup_size(256)
fn gelu_backward(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x + g.y * P.stride;
  if (i >= P.n) { return; }
  put(i, b[i] * gelu_grad(a[i]));
}

@compute @workgroup_size(256)
fn add(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x + g.y * P.stride;
  if (i >= P.n) { return; }
  put(i, a[i] + b[i]);
}

@compute @workgroup_size(256)
fn add_bcast(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x + g.y * P.stride;
  if (i >= P.n) { return; }
  put(i, a[i] + b[i % P.period]);
}
