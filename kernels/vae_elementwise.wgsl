// Elementwise VAE ops on NHWC activations, over a band of the tensors (so bindings stay under the
// size limit); base*: absolute index (elements, or vec4s for the vec4 bindings) of a binding's first
// element, i0: first absolute index of the band, n: its length.
//   silu:       y4[i] = y4[i] * sigmoid(y4[i])        (in place, vec4 units)
//   add:        y4[i] += x4[i]                         (residual add, vec4 units)
//   upsample2x: nearest 2x upsampling [N, H, W, C] -> [N, 2H, 2W, C]:
//               y[n, oy, ox, c] = x[n, oy/2, ox/2, c]; with VEC4 (C % 4 == 0) in vec4 units of
//               channels (C = channel vec4s per pixel), else scalar; i indexes the output
// Bindings: 0 x (scalar), 1 x4 (vec4), 2 y (scalar rw), 3 y4 (vec4 rw), 4 params; every dispatch
// binds a real buffer to the bindings its entry uses and placeholders elsewhere.
// Dispatch: grid over n; i = i0 + g.x + g.y * stride.

struct Params {
  i0: u32, n: u32, stride: u32, baseX: u32,
  baseY: u32, H: u32, W: u32, C: u32,
}

override VEC4: bool = false;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> x4: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> y4: array<vec4f>;
@group(0) @binding(4) var<uniform> P: Params;

@compute @workgroup_size(64)
fn silu(@builtin(global_invocation_id) g: vec3u) {
  let j = g.x + g.y * P.stride;
  if (j >= P.n) { return; }
  let i = P.i0 + j - P.baseY;
  let v = y4[i];
  y4[i] = v / (1.0 + exp(-v));
}

@compute @workgroup_size(64)
fn add(@builtin(global_invocation_id) g: vec3u) {
  let j = g.x + g.y * P.stride;
  if (j >= P.n) { return; }
  let i = P.i0 + j;
  y4[i - P.baseY] += x4[i - P.baseX];
}

@compute @workgroup_size(64)
fn upsample2x(@builtin(global_invocation_id) g: vec3u) {
  let j = g.x + g.y * P.stride;
  if (j >= P.n) { return; }
  let i = P.i0 + j;
  let c = i % P.C;
  let pix = i / P.C;
  let W2 = 2u * P.W;
  let ox = pix % W2;
  let rest = pix / W2;
  let oy = rest % (2u * P.H);
  let n = rest / (2u * P.H);
  let src = ((n * P.H + oy / 2u) * P.W + ox / 2u) * P.C + c;
  if (VEC4) {
    y4[i - P.baseY] = x4[src - P.baseX];
  } else {
    y[i - P.baseY] = x[src - P.baseX];
  }
}
