// Simple-diffusion MSE loss on the first Ct channels of pred [N, Cp, HW] against target [N, Ct, HW]
// (Cp = 2*Ct for the official learned-sigma head, whose sigma channels get zero gradient).
//   mse_forward:  loss[slot] = mean((pred[:, :Ct] - target)^2)  (one workgroup of 256)
//   mse_backward: dpred = 2 (pred - target) / (N*Ct*HW) * scale, 0 for channels >= Ct
// Bindings: 0 pred, 1 target, 2 out (loss or dpred), 3 params. Dispatch: 1 workgroup / grid over pred.

struct Params { N: u32, Cp: u32, Ct: u32, HW: u32, stride: u32, slot: u32, _p0: u32, _p1: u32, scale: f32, _f0: f32, _f1: f32, _f2: f32 }

@group(0) @binding(0) var<storage, read> pred: array<f32>;
@group(0) @binding(1) var<storage, read> target_: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> P: Params;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256)
fn mse_forward(@builtin(local_invocation_id) l: vec3u) {
  let count = P.N * P.Ct * P.HW;
  var s = 0.0;
  for (var i = l.x; i < count; i += 256u) {
    let n = i / (P.Ct * P.HW);
    let r = i % (P.Ct * P.HW);
    let d = pred[n * P.Cp * P.HW + r] - target_[i];
    s += d * d;
  }
  partial[l.x] = s;
  workgroupBarrier();
  for (var w = 128u; w > 0u; w /= 2u) {
    if (l.x < w) { partial[l.x] += partial[l.x + w]; }
    workgroupBarrier();
  }
  if (l.x == 0u) { out[P.slot] = partial[0] / f32(count); }
}

@compute @workgroup_size(256)
fn mse_backward(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x + g.y * P.stride;
  if (i >= P.N * P.Cp * P.HW) { return; }
  let n = i / (P.Cp * P.HW);
  let c = (i / P.HW) % P.Cp;
  if (c >= P.Ct) {
    out[i] = 0.0;
    return;
  }
  let d = pred[i] - target_[(n * P.Ct + c) * P.HW + i % P.HW];
  out[i] = P.scale * 2.0 * d / f32(P.N * P.Ct * P.HW);
}
