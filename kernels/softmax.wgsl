// Row softmax of attention scores, in place, one invocation per row of length C.
//   softmax_forward:  s = softmax(s)   (scores arrive already scaled by 1/sqrt(head_dim))
//   softmax_backward: d = alpha * p * (d - sum(d * p))   (d: dP in, dScores out; alpha = the scale)
// The `4` entries read and write rows as vec4s through p4/s4 (C a multiple of 4, 16-byte aligned
// buffers): llvmpipe moves 16 bytes per lane for the cost of 4.
// Bindings: 0 p (probabilities; unused by forward), 1 s/d (rw), 2 p4, 3 s4 (the same buffers as
// vec4; the unused bindings of a path get placeholders), 4 params. Dispatch: grid over R.

struct Params { R: u32, C: u32, stride: u32, _p: u32, alpha: f32, _f0: f32, _f1: f32, _f2: f32 }

@group(0) @binding(0) var<storage, read> p: array<f32>;
@group(0) @binding(1) var<storage, read_write> s: array<f32>;
@group(0) @binding(2) var<storage, read> p4: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> s4: array<vec4f>;
@group(0) @binding(4) var<uniform> P: Params;

// Uniforms are read into registers before the first store: after it the compiler must reload them.

@compute @workgroup_size(64)
fn softmax_forward(@builtin(global_invocation_id) g: vec3u) {
  let r = g.x + g.y * P.stride;
  let C = P.C;
  if (r >= P.R) { return; }
  let base = r * C;
  var m = s[base];
  for (var c = 1u; c < C; c++) { m = max(m, s[base + c]); }
  var z = 0.0;
  for (var c = 0u; c < C; c++) {
    let e = exp(s[base + c] - m);
    s[base + c] = e;
    z += e;
  }
  let inv = 1.0 / z;
  for (var c = 0u; c < C; c++) { s[base + c] *= inv; }
}

@compute @workgroup_size(64)
fn softmax_forward4(@builtin(global_invocation_id) g: vec3u) {
  let r = g.x + g.y * P.stride;
  let C4 = P.C / 4u;
  if (r >= P.R) { return; }
  let base = r * C4;
  var m4 = s4[base];
  for (var c = 1u; c < C4; c++) { m4 = max(m4, s4[base + c]); }
  let m = max(max(m4.x, m4.y), max(m4.z, m4.w));
  var z = vec4f();
  for (var c = 0u; c < C4; c++) {
    let e = exp(s4[base + c] - m);
    s4[base + c] = e;
    z += e;
  }
  let inv = 1.0 / (z.x + z.y + z.z + z.w);
  for (var c = 0u; c < C4; c++) { s4[base + c] *= inv; }
}

@compute @workgroup_size(64)
fn softmax_backward(@builtin(global_invocation_id) g: vec3u) {
  let r = g.x + g.y * P.stride;
  let C = P.C;
  let alpha = P.alpha;
  if (r >= P.R) { return; }
  let base = r * C;
  var dot_ = 0.0;
  for (var c = 0u; c < C; c++) { dot_ += s[base + c] * p[base + c]; }
  for (var c = 0u; c < C; c++) {
    s[base + c] = alpha * p[base + c] * (s[base + c] - dot_);
  }
}

@compute @workgroup_size(64)
fn softmax_backward4(@builtin(global_invocation_id) g: vec3u) {
  let r = g.x + g.y * P.stride;
  let C4 = P.C / 4u;
  let alpha = P.alpha;
  if (r >= P.R) { return; }
  let base = r * C4;
  var d4 = vec4f();
  for (var c = 0u; c < C4; c++) { d4 += s4[base + c] * p4[base + c]; }
  let dot_ = d4.x + d4.y + d4.z + d4.w;
  for (var c = 0u; c < C4; c++) {
    s4[base + c] = alpha * p4[base + c] * (s4[base + c] - dot_);
  }
}
