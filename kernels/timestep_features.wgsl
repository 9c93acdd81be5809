// Sinusoidal timestep features: out[n, j] for float timesteps t[n], D = P.D features, half = P.half.
//   arg_k = t[n] * freq[k] in float32, freq the architecture's float32 frequency table (built on the
//   CPU as torch builds it, src/ops/timestep_features.ts), so the arguments are torch's bit for bit.
//   SIN_FIRST 0 (official DiT): out = [cos(arg), sin(arg)], plus a zero column when D is odd
//   SIN_FIRST 1 (seed):         out = [sin(arg), cos(arg)]
// sin/cos are evaluated here rather than with the builtins: arguments reach ~1000 rad and WGSL only
// bounds sin/cos on [-pi, pi] (2^-11 absolute). Cody-Waite reduction by pi/2 in three parts (the
// first two short enough that q * part is exact for q < 2^13, i.e. |arg| < ~12,800) leaves
// r in [-pi/4, pi/4], where Taylor polynomials through r^9 / r^10 are below 2e-9 off.
// Bindings: 0 t [N], 1 freq [half], 2 out [N, D], 3 params. Dispatch: (ceil(D / 64), N): feature
// j = g.x of sample n = g.y.

struct Params { N: u32, D: u32, half: u32, _p: u32 }

override SIN_FIRST: u32 = 0u;

@group(0) @binding(0) var<storage, read> t: array<f32>;
@group(0) @binding(1) var<storage, read> freq: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> P: Params;

const TWO_OVER_PI: f32 = 0.6366197723675814;
const PIO2_A: f32 = 1.5703125; // 8 significant bits
const PIO2_B: f32 = 4.837512969970703125e-4; // 11 significant bits
const PIO2_C: f32 = 7.549789954891882e-8;

// (sin x, cos x) for |x| up to ~12,800.
fn sin_cos(x: f32) -> vec2f {
  let q = round(x * TWO_OVER_PI);
  let r = ((x - q * PIO2_A) - q * PIO2_B) - q * PIO2_C;
  let r2 = r * r;
  let s = r + r * r2 * (-1.0 / 6.0 + r2 * (1.0 / 120.0 + r2 * (-1.0 / 5040.0 + r2 * (1.0 / 362880.0))));
  let c = 1.0 - 0.5 * r2 +
    r2 * r2 * (1.0 / 24.0 + r2 * (-1.0 / 720.0 + r2 * (1.0 / 40320.0 + r2 * (-1.0 / 3628800.0))));
  // x = q * pi/2 + r: rotate (sin r, cos r) by the quadrant q mod 4.
  switch (u32(i32(q) & 3)) {
    case 0u: { return vec2f(s, c); }
    case 1u: { return vec2f(c, -s); }
    case 2u: { return vec2f(-s, -c); }
    default: { return vec2f(-c, s); }
  }
}

@compute @workgroup_size(64)
fn timestep_features(@builtin(global_invocation_id) g: vec3u) {
  let j = g.x;
  if (j >= P.D || g.y >= P.N) { return; }
  let o = g.y * P.D + j;
  if (j >= 2u * P.half) {
    out[o] = 0.0; // odd D (official): the zero column
    return;
  }
  let first = j < P.half;
  let sc = sin_cos(t[g.y] * freq[select(j - P.half, j, first)]);
  // The first half holds sin when SIN_FIRST, else cos.
  out[o] = select(sc.x, sc.y, first != (SIN_FIRST == 1u));
}
