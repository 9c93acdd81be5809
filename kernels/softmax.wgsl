// Row softmax of attention scores, in place, one invocation per row of length C.
//   softmax_forward:  s = softmax(s)   (scores arrive already scaled by 1/sqrt(head_dim))
//   softmax_backward: d = alpha * p * (d - sum(d * p))   (d: dP in, dScores out; alpha = the scale)
// Bindings: 0 p (probabilities; unused by forward), 1 s/d (rw), 2 params. Dispatch: grid over R.

struct Params { R: u32, C: u32, stride: u32, _p: u32, alpha: f32, _f0: f32, _f1: f32, _f2: f32 }

@group(0) @binding(0) var<storage, read> p: array<f32>;
@group(0) @binding(1) var<storage, read_write> s: array<f32>;
@group(0) @binding(2) var<uniform> P: Params;

@compute @workgroup_size(64)
fn softmax_forward(@builtin(global_invocation_id) g: vec3u) {
  let r = g.x + g.y * P.stride;
  // Uniforms into registers first: after a store to `s` the compiler must reload them.
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
