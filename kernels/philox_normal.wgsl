// Philox4x32-10 counter-based noise: fills out[N, L] with standard normal float32 values (or raw
// Philox words), bit-exact with src/util/philox.ts.
//
// Row n has key (seed_lo, seed_hi) = rows[n].xy and stream rows[n].z + params.stream, domain
// rows[n].w. Element i of the row is lane i % 4 of
//   philox4x32_10(counter = (i / 4, 0, stream, domain), key)
// turned into normals by Box-Muller: lanes 0/1 from words (0, 1), lanes 2/3 from words (2, 3),
// u = (float(a >> 8) + 1) * 2^-24 in (0, 1], v = float(b >> 8) * 2^-24 - 0.5,
// z = sqrt(-2 ln u) * (cos(2 pi v), sin(2 pi v)), with ln, cos and sin computed by the
// polynomials below (not the built-ins, whose accuracy varies by device: llvmpipe's cos is off by
// up to 4e-6 near its zeros). A row's values depend only on its key, stream, domain and element
// index, never on the batch it is in.
//
// Bindings (group 0):
//   0 uniform params: { cols: u32 (L), rows: u32 (N), stream: u32 (added to each row's stream), _ }
//   1 storage, read: rows: array<vec4<u32>> [N] = (seed_lo, seed_hi, stream, domain)
//   2 storage, read_write: out: array<u32> [N * L]: f32 bit patterns of the normals, or the raw
//     Philox words when RAW_BITS (bind any f32 tensor; the bits are stored exactly)
// Dispatch: (ceil(ceil(L / 4) / WG), N, 1); each invocation computes one Philox block (4 values).

override WG: u32 = 64;
override RAW_BITS: bool = false;

struct Params {
  cols: u32,
  rows: u32,
  stream: u32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> rows: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

// (hi, lo) of the 64-bit product a * b, from 16-bit halves.
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
  let al = a & 0xffffu;
  let ah = a >> 16u;
  let bl = b & 0xffffu;
  let bh = b >> 16u;
  let ll = al * bl;
  let lh = al * bh;
  let hl = ah * bl;
  let hh = ah * bh;
  let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  let hi = hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
  return vec2<u32>(hi, a * b);
}

fn philox4x32_10(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
  var c = counter;
  var k = key;
  for (var r = 0u; r < 10u; r++) {
    if (r > 0u) {
      k = k + vec2<u32>(0x9e3779b9u, 0xbb67ae85u);
    }
    let p0 = mulhilo(0xd2511f53u, c.x);
    let p1 = mulhilo(0xcd9e8d57u, c.z);
    c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
  }
  return c;
}

// ln(k * 2^-24) for k in [1, 2^24]: exact split into m * 2^e with m in [sqrt(1/2), sqrt(2)),
// then e ln 2 + ln(1 + f), ln(1 + f) = f + f^2 Q(f) (degree-9 fit). Only +, * and bit operations,
// so every device (and the TypeScript mirror) gets the same value to ~1 ulp.
fn log_u24(k: u32) -> f32 {
  let p = firstLeadingBit(k);
  var m = bitcast<f32>((bitcast<u32>(f32(k)) & 0x007fffffu) | 0x3f800000u);
  var e = i32(p) - 24;
  if (m > 1.4142135381698608) {
    m = m * 0.5;
    e = e + 1;
  }
  let x = m - 1.0;
  var q = 0.0670795887708664;
  q = q * x + -0.11670336127281189;
  q = q * x + 0.11907040327787399;
  q = q * x + -0.12409283220767975;
  q = q * x + 0.14216960966587067;
  q = q * x + -0.16667477786540985;
  q = q * x + 0.20002254843711853;
  q = q * x + -0.25000032782554626;
  q = q * x + 0.3333331048488617;
  q = q * x + -0.5;
  return f32(e) * 0.6931471824645996 + (x + x * x * q);
}

// (cos(2 pi v), sin(2 pi v)) for v in [-0.5, 0.5]: exact reduction w = v - q/4 (|w| <= 1/8),
// Taylor polynomials in w, quadrant rotation.
fn cos_sin_turns(v: f32) -> vec2<f32> {
  let q = floor(v * 4.0 + 0.5);
  let w = v - q * 0.25;
  let w2 = w * w;
  var s = 42.058692932128906;
  s = s * w2 + -76.70585632324219;
  s = s * w2 + 81.6052474975586;
  s = s * w2 + -41.34170150756836;
  s = s * w2 + 6.2831854820251465;
  s = w * s;
  var c = -26.42625617980957;
  c = c * w2 + 60.2446403503418;
  c = c * w2 + -85.45681762695312;
  c = c * w2 + 64.93939208984375;
  c = c * w2 + -19.739208221435547;
  c = 1.0 + w2 * c;
  switch (i32(q) & 3) {
    case 0: {
      return vec2<f32>(c, s);
    }
    case 1: {
      return vec2<f32>(-s, c);
    }
    case 2: {
      return vec2<f32>(-c, -s);
    }
    default: {
      return vec2<f32>(s, -c);
    }
  }
}

fn box_muller(a: u32, b: u32) -> vec2<f32> {
  let r = sqrt(-2.0 * log_u24((a >> 8u) + 1u));
  let cs = cos_sin_turns(f32(b >> 8u) * 5.9604644775390625e-8 - 0.5);
  return r * cs;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n = gid.y;
  let block = gid.x;
  let cols = params.cols;
  if (n >= params.rows || block * 4u >= cols) {
    return;
  }
  let row = rows[n];
  let words = philox4x32_10(vec4<u32>(block, 0u, row.z + params.stream, row.w), row.xy);
  var vals = words;
  if (!RAW_BITS) {
    let z01 = box_muller(words.x, words.y);
    let z23 = box_muller(words.z, words.w);
    vals = bitcast<vec4<u32>>(vec4<f32>(z01, z23));
  }
  let base = n * cols + block * 4u;
  let left = cols - block * 4u;
  out[base] = vals.x;
  if (left > 1u) {
    out[base + 1u] = vals.y;
  }
  if (left > 2u) {
    out[base + 2u] = vals.z;
  }
  if (left > 3u) {
    out[base + 3u] = vals.w;
  }
}
