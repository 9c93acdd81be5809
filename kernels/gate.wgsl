// adaLN-Zero gated residual: out[r, c] = x[r, c] + gate[b, c] * y[r, c], b = r / T, where gate
// is the column block at gateOff of the modulation matrix mod [B, modStride].
//   gate_forward:        out = x + gate * y
//   gate_backward_y:     out = gate * dout                      (gradient into the branch)
//   gate_backward_gate:  out[b, gateOff + c] = sum_t dout * y    (one invocation per (b, c))
// Bindings: 0 x (forward) or dout (backward), 1 y, 2 mod, 3 out, 4 params.

struct Params { R: u32, C: u32, T: u32, modStride: u32, gateOff: u32, stride: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> mod_: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> P: Params;

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

@compute @workgroup_size(256)
fn gate_backward_y(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x + g.y * P.stride;
  if (i >= P.R * P.C) { return; }
  out[i] = gateAt(i) * x[i];
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
