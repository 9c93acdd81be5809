// Column sums: out[b, c] (+)= sum_r x[b, r, c] for x [B, R, C] (bias gradients with B = 1, the
// learnable positional embedding's gradient with x viewed as [1, N, T*D]).
// One invocation per (b, c). Bindings: 0 x, 1 out, 2 params. Dispatch: grid over B*C.

struct Params { B: u32, R: u32, C: u32, stride: u32 }

override ACCUMULATE: bool = false;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> P: Params;

@compute @workgroup_size(64)
fn sum_rows(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x + g.y * P.stride;
  if (i >= P.B * P.C) { return; }
  let b = i / P.C;
  let c = i % P.C;
  var s = 0.0;
  for (var r = 0u; r < P.R; r++) { s += x[(b * P.R + r) * P.C + c]; }
  if (ACCUMULATE) { out[i] += s; } else { out[i] = s; }
}
