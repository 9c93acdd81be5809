// Optimizer kernels over flat parameter/gradient arrays (chunks bound by the launcher), four
// elements per invocation (vec4 bindings: llvmpipe moves 16 bytes per lane for the cost of 4).
// n counts vec4s; the flat layout pads every tensor to 64 floats, so sizes are multiples of 4.
//   sumsq_partial: partial sums of g^2, one per lane of `count` workgroups of 256, into m[.].x
//   sumsq_final:   normsq[slot] (+)= sum(partial)  (one workgroup)
//   adamw:         PyTorch AdamW with decoupled weight decay; gradients scaled by the clip factor
//                  min(1, maxNorm / (sqrt(normsq[0]) + 1e-6)) when maxNorm > 0
//   ema:           e = decay * e + (1 - decay) * p
// Bindings: 0 p (rw), 1 g, 2 m (rw), 3 v (rw), 4 normsq (rw), 5 params.
struct Params {
  n: u32, stride: u32, count: u32, slot: u32,
  lr: f32, beta1: f32, beta2: f32, eps: f32,
  weightDecay: f32, bc1: f32, bc2: f32, maxNorm: f32,
  decay: f32, _f0: f32, _f1: f32, _f2: f32,
}

@group(0) @binding(0) var<storage, read_write> p: array<vec4f>;
@group(0) @binding(1) var<storage, read> g: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> m: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> v: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> normsq: array<f32>;
@group(0) @binding(5) var<uniform> P: Params;

var<workgroup> partial: array<f32, 256>;

// Dispatch (count, 1, 1) workgroups; workgroup w sums g[w*per .. (w+1)*per), each lane its own
// strided share, into m[w*256 + lane].x. No workgroup reduction here: on llvmpipe every barrier
// switches all of a workgroup's lanes, so the count*256 partials are summed by sumsq_final.
@compute @workgroup_size(256)
fn sumsq_partial(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let per = (P.n + P.count - 1u) / P.count;
  let start = wg.x * per;
  let end = min(start + per, P.n);
  var s = 0.0;
  for (var i = start + l.x; i < end; i += 256u) { s += dot(g[i], g[i]); }
  m[wg.x * 256u + l.x] = vec4f(s, 0.0, 0.0, 0.0);
}

// Sums the count*256 partials in m into normsq[slot].
@compute @workgroup_size(256)
fn sumsq_final(@builtin(local_invocation_id) l: vec3u) {
  var s = 0.0;
  for (var i = l.x; i < P.count * 256u; i += 256u) { s += m[i].x; }
  partial[l.x] = s;
  workgroupBarrier();
  for (var w = 128u; w > 0u; w /= 2u) {
    if (l.x < w) { partial[l.x] += partial[l.x + w]; }
    workgroupBarrier();
  }
  if (l.x == 0u) { normsq[P.slot] += partial[0]; }
}
@compute @workgroup_size(256)
fn adamw(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * P.stride;
  if (i >= P.n) { return; }
  // Uniforms read before the first store (after it the compiler must assume they may change).
  let lr = P.lr;
  let b1 = P.beta1;
  let b2 = P.beta2;
  let eps = P.eps;
  let bc1 = P.bc1;
  let bc2 = P.bc2;
  var scale = 1.0;
  if (P.maxNorm > 0.0) { scale = min(1.0, P.maxNorm / (sqrt(normsq[0]) + 1e-6)); }
  let grad = g[i] * scale;
  let param = p[i] * (1.0 - lr * P.weightDecay);
  let mi = b1 * m[i] + (1.0 - b1) * grad;
  let vi = b2 * v[i] + (1.0 - b2) * grad * grad;
  m[i] = mi;
  v[i] = vi;
  let denom = sqrt(vi / bc2) + eps;
  p[i] = param - lr * (mi / bc1) / denom;
}

// Here p = EMA weights (rw) and g = the model weights.
@compute @workgroup_size(256)
fn ema(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * P.stride;
  if (i >= P.n) { return; }
  p[i] = P.decay * p[i] + (1.0 - P.decay) * g[i];
}
