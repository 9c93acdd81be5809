// Column sums: out[b, c] (+)= sum_r x[b, r, c] for x [B, R, C] (bias gradients with B = 1, the
// learnable positional embedding's gradient with x viewed as [1, N, T*D]).
//   sum_rows:         one invocation per (b, c), over all R rows (short columns)
//   sum_rows_partial: one invocation per (b, c) and workgroup z per chunk of rowsPerChunk rows,
//                     writing part[z, b, c]; long columns (R = the tokens of a batch) otherwise
//                     leave a GPU with a few workgroups each walking thousands of rows
//   sum_rows_final:   out[b, c] (+)= sum_z part[z, b, c]
// With VEC4 (C a multiple of 4, x 16-byte aligned) sum_rows and sum_rows_partial take four columns
// per invocation through x4, the vec4 view of x (a quarter of the per-lane loads on llvmpipe).
// Bindings: 0 x, 1 out, 2 params, 3 part, 4 x4. Dispatch: grid over B*C, or B*C/4 with VEC4 (x =
// lanes, z = chunks).

struct Params { B: u32, R: u32, C: u32, stride: u32, rowsPerChunk: u32, chunks: u32, _p0: u32, _p1: u32 }

override ACCUMULATE: bool = false;
override VEC4: bool = false;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> P: Params;
@group(0) @binding(3) var<storage, read_write> part: array<f32>;
@group(0) @binding(4) var<storage, read> x4: array<vec4f>;

fn columnSum(b: u32, c: u32, r0: u32, r1: u32) -> f32 {
  let R = P.R;
  let C = P.C;
  var s = 0.0;
  for (var r = r0; r < r1; r++) { s += x[(b * R + r) * C + c]; }
  return s;
}

// Columns 4 c4 .. 4 c4 + 3 of batch entry b over rows [r0, r1).
fn columnSum4(b: u32, c4: u32, r0: u32, r1: u32) -> vec4f {
  let R = P.R;
  let C4 = P.C / 4u;
  var s = vec4f(0.0);
  for (var r = r0; r < r1; r++) { s += x4[(b * R + r) * C4 + c4]; }
  return s;
}

fn store(i: u32, s: f32) {
  if (ACCUMULATE) { out[i] += s; } else { out[i] = s; }
}

@compute @workgroup_size(64)
fn sum_rows(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x + g.y * P.stride;
  if (VEC4) {
    let C4 = P.C / 4u;
    if (i >= P.B * C4) { return; }
    let s = columnSum4(i / C4, i % C4, 0u, P.R);
    store(4u * i, s.x); store(4u * i + 1u, s.y); store(4u * i + 2u, s.z); store(4u * i + 3u, s.w);
    return;
  }
  if (i >= P.B * P.C) { return; }
  store(i, columnSum(i / P.C, i % P.C, 0u, P.R));
}

@compute @workgroup_size(64)
fn sum_rows_partial(@builtin(global_invocation_id) g: vec3u) {
  let n = P.B * P.C;
  let i = g.x;
  let r0 = g.z * P.rowsPerChunk;
  let r1 = min(r0 + P.rowsPerChunk, P.R);
  if (VEC4) {
    let C4 = P.C / 4u;
    if (i >= P.B * C4) { return; }
    let s = columnSum4(i / C4, i % C4, r0, r1);
    let j = g.z * n + 4u * i;
    part[j] = s.x; part[j + 1u] = s.y; part[j + 2u] = s.z; part[j + 3u] = s.w;
    return;
  }
  if (i >= n) { return; }
  part[g.z * n + i] = columnSum(i / P.C, i % P.C, r0, r1);
}

@compute @workgroup_size(64)
fn sum_rows_final(@builtin(global_invocation_id) g: vec3u) {
  let n = P.B * P.C;
  let chunks = P.chunks;
  let i = g.x;
  if (i >= n) { return; }
  var s = 0.0;
  for (var z = 0u; z < chunks; z++) { s += part[z * n + i]; }
  store(i, s);
}
