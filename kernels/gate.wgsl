// adaLN-Zero gated residual: out[r, c] = x[r, c] + gate[b, c] * y[r, c], b = r / T, where gate
// is the column block at gateOff of the modulation matrix mod [B, modStride].
//   gate_forward:        out = x + gate * y
//   gate_backward_y:     out = gate * dout                      (gradient into the branch)
//   gate_backward_gate:  out[b, gateOff + c] = sum_t dout * y    (one invocation per (b, c))
// gate_forward4 / gate_backward_y4 / gate_backward_gate4 do four columns per invocation through
// the vec4 bindings (C, modStride and gateOff multiples of 4, operands 16-byte aligned; llvmpipe
// runs them ~3x faster).
// Bindings: 0 x (forward) or dout (backward), 1 y, 2 mod, 3 out, 4 x4, 5 y4, 6 out4, 7 params
// (x4/y4 view the same buffers as x/y; the unused bindings of a path get placeholders).
struct Params { R: u32, C: u32, T: u32, modStride: u32, gateOff: u32, stride: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> mod_: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read> x4: array<vec4f>;
@group(0) @binding(5) var<storage, read> y4: array<vec4f>;
@group(0) @binding(6) var<storage, read_write> out4: array<vec4f>;
@group(0) @binding(7) var<uniform> P: Params;

fn gateAt(i: u32) -> f32 {
  let r = i / P.C;
  return mod_[(r / P.T) * P.modStride + P.gateOff + i % P.C];
}

@compute @workgroup_size(256)
fn gate_forward(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x + g.y * P.stride;
  if (i >= P.R * P.C) { return; }
  out[i] = x[i] + gateAt(i) * y[i];
}

// Gates of elements 4i .. 4i+3 (one row: C is a multiple of 4).
fn gateAt4(i: u32) -> vec4f {
  let C = P.C;
  let e = 4u * i;
  let j = (e / C / P.T) * P.modStride + P.gateOff + e % C;
  return vec4f(mod_[j], mod_[j + 1u], mod_[j + 2u], mod_[j + 3u]);
}

@compute @workgroup_size(256)
fn gate_forward4(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x + g.y * P.stride;
  if (i >= P.R * P.C / 4u) { return; }
  out4[i] = x4[i] + gateAt4(i) * y4[i];
}

@compute @workgroup_size(256)
fn gate_backward_y4(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x + g.y * P.stride;
  if (i >= P.R * P.C / 4u) { return; }
  out4[i] = gateAt4(i) * x4[i];
}

@compute @workgroup_size(256)
fn gate_backward_y(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x + g.y * P.stride;
  if (i >= P.R * P.C) { return; }
  out[i] = gateAt(i) * x[i];
}

// Four columns per invocation (B*C/4 invocations) through the vec4 bindings; dmod as vec4s too.
@compute @workgroup_size(64)
fn gate_backward_gate4(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x + g.y * P.stride;
  let C4 = P.C / 4u;
  let B = P.R / P.T;
  if (i >= B * C4) { return; }
  let b = i / C4;
  let c = i % C4;
  var s = vec4f(0.0);
  for (var t = 0u; t < P.T; t++) {
    let j = (b * P.T + t) * C4 + c;
    s += x4[j] * y4[j];
  }
  out4[(b * P.modStride + P.gateOff) / 4u + c] = s;
}

@compute @workgroup_size(64)
fn gate_backward_gate(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x + g.y * P.stride;
  let B = P.R / P.T;
  if (i >= B * P.C) { return; }
  let b = i / P.C;
  let c = i % P.C;
  var s = 0.0;
  for (var t = 0u; t < P.T; t++) {
    let j = (b * P.T + t) * P.C + c;
    s += x[j] * y[j];
  }
  out[b * P.modStride + P.gateOff + c] = s;
}
