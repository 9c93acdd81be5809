// Column sums: out[b, c] (+)= sum_r x[b, r, c] for x [B, R, C] (bias gradients with B = 1, the
// learnable positional embedding's gradient with x viewed as [1, N, T*D]).
//   sum_rows:  one invocation per (b, c)
//   sum_rows4: one invocation per (b, 4 columns), through the vec4 bindings (C a multiple of 4,
//              operands 16-byte aligned; llvmpipe moves 16 bytes per lane for the cost of 4)
// Bindings: 0 x, 1 out, 2 x4, 3 out4 (the same buffers as vec4; the unused bindings of a path
// get placeholders), 4 params. Dispatch: grid over B*C (or B*C/4).

struct Params { B: u32, R: u32, C: u32, stride: u32 }

override ACCUMULATE: bool = false;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> x4: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> out4: array<vec4f>;
@group(0) @binding(4) var<uniform> P: Params;

@compute @workgroup_size(64)
fn sum_rows(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x + g.y * P.stride;
  let R = P.R;
  let C = P.C;
  if (i >= P.B * C) { return; }
  let b = i / C;
  let c = i % C;
  var s = 0.0;
  for (var r = 0u; r < R; r++) { s += x[(b * R + r) * C + c]; }
  if (ACCUMULATE) { out[i] += s; } else { out[i] = s; }
}

@compute @workgroup_size(64)
fn sum_rows4(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x + g.y * P.stride;
  let R = P.R;
  let C4 = P.C / 4u;
  if (i >= P.B * C4) { return; }
  let b = i / C4;
  let c = i % C4;
  var s = vec4f();
  for (var r = 0u; r < R; r++) { s += x4[(b * R + r) * C4 + c]; }
  if (ACCUMULATE) { out4[i] += s; } else { out4[i] = s; }
}
