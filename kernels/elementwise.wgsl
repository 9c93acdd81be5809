// Elementwise ops on flat float32 arrays. Element i = g.x + g.y * P.stride (2-D dispatch past
// 65535 workgroups). Each op has a scalar entry (any length and offset) and a `4` entry that
// handles four elements per invocation through the vec4 bindings (length a multiple of 4, every
// operand 16-byte aligned): llvmpipe moves 16 bytes per lane at the cost of 4, so it runs ~3x
// faster. The math is written once, on vec4; the scalar entries use lane x.
//   silu_forward:  out = a * sigmoid(a)
//   silu_backward: out = b * dsilu(a)            (a = forward input, b = dy)
//   gelu_forward:  out = GELU_tanh(a)             (PyTorch approximate="tanh")
//   gelu_backward: out = b * dGELU_tanh(a)
//   add:           out = a + b
//   add_bcast:     out = a + b[i % period]        (positional embedding over samples)
// ACCUMULATE adds into out instead of overwriting. P.n counts invocations' items: elements for
// scalar entries, vec4s for the `4` entries.
// Bindings: 0 a, 1 b (second operand / upstream gradient), 2 out, 3 a4, 4 b4, 5 out4, 6 params
// (a4/b4 view the same buffers as a/b; the unused bindings of a path get placeholders).
// Dispatch: grid of ceil(n/256) workgroups.

struct Params { n: u32, stride: u32, _p0: u32, _p1: u32 }

override ACCUMULATE: bool = false;
// add_bcast's period as a pipeline constant (in items: elements, or vec4s for add_bcast4): a
// remainder by a constant is a multiply and shift, by a uniform a per-lane divide on llvmpipe.
override PERIOD: u32 = 1u;

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read> a4: array<vec4f>;
@group(0) @binding(4) var<storage, read> b4: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> out4: array<vec4f>;
@group(0) @binding(6) var<uniform> P: Params;

fn put(i: u32, v: f32) {
  if (ACCUMULATE) { out[i] += v; } else { out[i] = v; }
}

fn put4(i: u32, v: vec4f) {
  if (ACCUMULATE) { out4[i] += v; } else { out4[i] = v; }
}

//! include activations

fn index(g: vec3u) -> u32 { return g.x + g.y * P.stride; }

@compute @workgroup_size(256)
fn silu_forward(@builtin(global_invocation_id) g: vec3u) {
  let i = index(g);
  if (i < P.n) { put(i, silu(vec4f(a[i])).x); }
}

@compute @workgroup_size(256)
fn silu_forward4(@builtin(global_invocation_id) g: vec3u) {
  let i = index(g);
  if (i < P.n) { put4(i, silu(a4[i])); }
}

@compute @workgroup_size(256)
fn silu_backward(@builtin(global_invocation_id) g: vec3u) {
  let i = index(g);
  if (i < P.n) { put(i, b[i] * silu_grad(vec4f(a[i])).x); }
}

@compute @workgroup_size(256)
fn silu_backward4(@builtin(global_invocation_id) g: vec3u) {
  let i = index(g);
  if (i < P.n) { put4(i, b4[i] * silu_grad(a4[i])); }
}

@compute @workgroup_size(256)
fn gelu_forward(@builtin(global_invocation_id) g: vec3u) {
  let i = index(g);
  if (i < P.n) { put(i, gelu(vec4f(a[i])).x); }
}

@compute @workgroup_size(256)
fn gelu_forward4(@builtin(global_invocation_id) g: vec3u) {
  let i = index(g);
  if (i < P.n) { put4(i, gelu(a4[i])); }
}

@compute @workgroup_size(256)
fn gelu_backward(@builtin(global_invocation_id) g: vec3u) {
  let i = index(g);
  if (i < P.n) { put(i, b[i] * gelu_grad(vec4f(a[i])).x); }
}

@compute @workgroup_size(256)
fn gelu_backward4(@builtin(global_invocation_id) g: vec3u) {
  let i = index(g);
  if (i < P.n) { put4(i, b4[i] * gelu_grad(a4[i])); }
}

@compute @workgroup_size(256)
fn add(@builtin(global_invocation_id) g: vec3u) {
  let i = index(g);
  if (i < P.n) { put(i, a[i] + b[i]); }
}

@compute @workgroup_size(256)
fn add4(@builtin(global_invocation_id) g: vec3u) {
  let i = index(g);
  if (i < P.n) { put4(i, a4[i] + b4[i]); }
}

@compute @workgroup_size(256)
fn add_bcast(@builtin(global_invocation_id) g: vec3u) {
  let i = index(g);
  if (i < P.n) { put(i, a[i] + b[i % PERIOD]); }
}

@compute @workgroup_size(256)
fn add_bcast4(@builtin(global_invocation_id) g: vec3u) {
  let i = index(g);
  if (i < P.n) { put4(i, a4[i] + b4[i % PERIOD]); }
}
