// Fused multi-head self-attention for inference on CPU adapters (llvmpipe):
// out[n, t, h*hd ..] = softmax(q k^T / sqrt(hd)) v per (sample n, head h), without writing the
// score matrix: the training path's two matmuls, softmax and their texture copies become one
// copy and one dispatch.
// qkv [N, T, 3D] arrives as an rgba32float texture (texel (c/4, t), layer n; q|k|v along c, heads
// contiguous hd-wide slices), read by image loads (several times cheaper there than storage-buffer
// loads). Each invocation owns 8 query rows of one (sample, head), as two groups of 4 held side
// by side in mat4x4 columns (as in matmul_tex.wgsl), and walks the keys in blocks of 4 with an
// online softmax: running max m and sum l per row, the accumulators rescaled once per block; each
// key texel loaded serves 8 rows.
// Head width hd = 4 * HD4, a pipeline constant up to 4 * MAX_HD4 = 64. Every access to the
// per-row arrays has a constant index: the loops over the head's texels are written out (calls
// with literal c, inlined by the compiler; texels past HD4 are dead code). On llvmpipe a private
// array indexed by a loop variable lives in memory and each access is a per-lane gather: that
// version of this kernel took twice as long (and NIR does not unroll loops this large by itself).
// Dispatch: (ceil(T / 64), H, N), workgroup 8.

struct Params { T: u32, D4: u32, scale: f32, _p: u32 }

override HD4: u32 = 8u;
const MAX_HD4 = 16u;

@group(0) @binding(0) var qkv: texture_storage_2d_array<rgba32float, read>;
@group(0) @binding(1) var<storage, read_write> out4: array<vec4f>;
@group(0) @binding(2) var<uniform> P: Params;

// Per-invocation state (module scope so that the helpers below can reach it; only ever indexed
// with constants).
var<private> qa: array<mat4x4f, MAX_HD4>; // qa[c][i]: texel c of query row r0 + i, pre-scaled
var<private> qb: array<mat4x4f, MAX_HD4>; // rows r0 + 4 + i
var<private> acca: array<mat4x4f, MAX_HD4>; // output texel c of each row, unnormalised
var<private> accb: array<mat4x4f, MAX_HD4>;
var<private> sa: mat4x4f; // sa[jj][i] = q_{r0 + i} . k_{j0 + jj} of the current key block
var<private> sb: mat4x4f;
var<private> n: i32; // sample (layer)
var<private> qx: u32; // texel columns of this head: q at qx, k at D4 + qx, v at 2 D4 + qx
var<private> kx: u32;
var<private> vx: u32;

fn texel(x: u32, t: u32) -> vec4f { return textureLoad(qkv, vec2u(x, t), n); }

fn loadQ(c: u32, ra: vec4u, rb: vec4u, scale: f32) {
  if (c >= HD4) { return; }
  qa[c] = scale * mat4x4f(texel(qx + c, ra.x), texel(qx + c, ra.y), texel(qx + c, ra.z),
    texel(qx + c, ra.w));
  qb[c] = scale * mat4x4f(texel(qx + c, rb.x), texel(qx + c, rb.y), texel(qx + c, rb.z),
    texel(qx + c, rb.w));
}

// Adds texel c's share of the block's scores.
fn scoreTexel(c: u32, keys: vec4u) {
  if (c >= HD4) { return; }
  let k0 = texel(kx + c, keys.x);
  let k1 = texel(kx + c, keys.y);
  let k2 = texel(kx + c, keys.z);
  let k3 = texel(kx + c, keys.w);
  let qac = qa[c];
  let qbc = qb[c];
  sa[0] += k0 * qac; sa[1] += k1 * qac; sa[2] += k2 * qac; sa[3] += k3 * qac;
  sb[0] += k0 * qbc; sb[1] += k1 * qbc; sb[2] += k2 * qbc; sb[3] += k3 * qbc;
}

// Row i of a 4-row group: acc[i] * corr[i] + sum over the block's keys jj of v_jj * pt[i][jj].
fn rescaleAdd(acc: mat4x4f, corr: vec4f, vt: mat4x4f, pt: mat4x4f) -> mat4x4f {
  return mat4x4f(fma(acc[0], vec4f(corr.x), vt * pt[0]), fma(acc[1], vec4f(corr.y), vt * pt[1]),
    fma(acc[2], vec4f(corr.z), vt * pt[2]), fma(acc[3], vec4f(corr.w), vt * pt[3]));
}

// Rescales output texel c and adds the block's values (weights pta, ptb: rows as columns).
fn valueTexel(c: u32, keys: vec4u, ca: vec4f, cb: vec4f, pta: mat4x4f, ptb: mat4x4f) {
  if (c >= HD4) { return; }
  // vt[jj] = v_{j0 + jj} texel c; vt * w sums the 4 keys' texels with weights w.
  let vt = mat4x4f(texel(vx + c, keys.x), texel(vx + c, keys.y), texel(vx + c, keys.z),
    texel(vx + c, keys.w));
  acca[c] = rescaleAdd(acca[c], ca, vt, pta);
  accb[c] = rescaleAdd(accb[c], cb, vt, ptb);
}

// Writes texel c of the 8 rows (those before T), normalised by 1/l.
fn storeTexel(c: u32, base: u32, r0: u32, T: u32, D4: u32, ia: vec4f, ib: vec4f) {
  if (c >= HD4) { return; }
  for (var i = 0u; i < 4u; i++) {
    if (r0 + i < T) { out4[base + i * D4 + c] = acca[c][i] * ia[i]; }
    if (r0 + 4u + i < T) { out4[base + (4u + i) * D4 + c] = accb[c][i] * ib[i]; }
  }
}

@compute @workgroup_size(8)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let T = P.T;
  let D4 = P.D4;
  let r0 = g.x * 8u;
  if (r0 >= T) { return; }
  n = i32(g.z);
  qx = g.y * HD4;
  kx = D4 + qx;
  vx = 2u * D4 + qx;
  // Rows past T repeat the last row; their results are not stored.
  let ra = min(vec4u(r0) + vec4u(0u, 1u, 2u, 3u), vec4u(T - 1u));
  let rb = min(vec4u(r0 + 4u) + vec4u(0u, 1u, 2u, 3u), vec4u(T - 1u));
  let scale = P.scale;
  loadQ(0u, ra, rb, scale); loadQ(1u, ra, rb, scale); loadQ(2u, ra, rb, scale);
  loadQ(3u, ra, rb, scale); loadQ(4u, ra, rb, scale); loadQ(5u, ra, rb, scale);
  loadQ(6u, ra, rb, scale); loadQ(7u, ra, rb, scale); loadQ(8u, ra, rb, scale);
  loadQ(9u, ra, rb, scale); loadQ(10u, ra, rb, scale); loadQ(11u, ra, rb, scale);
  loadQ(12u, ra, rb, scale); loadQ(13u, ra, rb, scale); loadQ(14u, ra, rb, scale);
  loadQ(15u, ra, rb, scale);
  var ma = vec4f(-3.0e38); // running max of each row's scores
  var mb = vec4f(-3.0e38);
  var la = vec4f(0.0); // running sum of exp(score - m)
  var lb = vec4f(0.0);
  for (var j0 = 0u; j0 < T; j0 += 4u) {
    let keys = min(vec4u(j0) + vec4u(0u, 1u, 2u, 3u), vec4u(T - 1u));
    sa = mat4x4f();
    sb = mat4x4f();
    scoreTexel(0u, keys); scoreTexel(1u, keys); scoreTexel(2u, keys); scoreTexel(3u, keys);
    scoreTexel(4u, keys); scoreTexel(5u, keys); scoreTexel(6u, keys); scoreTexel(7u, keys);
    scoreTexel(8u, keys); scoreTexel(9u, keys); scoreTexel(10u, keys); scoreTexel(11u, keys);
    scoreTexel(12u, keys); scoreTexel(13u, keys); scoreTexel(14u, keys); scoreTexel(15u, keys);
    // Keys past T (a partial last block) take no weight.
    if (j0 + 4u > T) {
      for (var jj = 1u; jj < 4u; jj++) {
        if (j0 + jj >= T) {
          sa[jj] = vec4f(-3.0e38);
          sb[jj] = vec4f(-3.0e38);
        }
      }
    }
    let mna = max(ma, max(max(sa[0], sa[1]), max(sa[2], sa[3])));
    let mnb = max(mb, max(max(sb[0], sb[1]), max(sb[2], sb[3])));
    let ca = exp(ma - mna);
    let cb = exp(mb - mnb);
    let pa = mat4x4f(exp(sa[0] - mna), exp(sa[1] - mna), exp(sa[2] - mna), exp(sa[3] - mna));
    let pb = mat4x4f(exp(sb[0] - mnb), exp(sb[1] - mnb), exp(sb[2] - mnb), exp(sb[3] - mnb));
    la = la * ca + (pa[0] + pa[1]) + (pa[2] + pa[3]);
    lb = lb * cb + (pb[0] + pb[1]) + (pb[2] + pb[3]);
    ma = mna;
    mb = mnb;
    // Rows as columns: pta[i][jj] = weight of key j0 + jj for row r0 + i.
    let pta = transpose(pa);
    let ptb = transpose(pb);
    valueTexel(0u, keys, ca, cb, pta, ptb); valueTexel(1u, keys, ca, cb, pta, ptb);
    valueTexel(2u, keys, ca, cb, pta, ptb); valueTexel(3u, keys, ca, cb, pta, ptb);
    valueTexel(4u, keys, ca, cb, pta, ptb); valueTexel(5u, keys, ca, cb, pta, ptb);
    valueTexel(6u, keys, ca, cb, pta, ptb); valueTexel(7u, keys, ca, cb, pta, ptb);
    valueTexel(8u, keys, ca, cb, pta, ptb); valueTexel(9u, keys, ca, cb, pta, ptb);
    valueTexel(10u, keys, ca, cb, pta, ptb); valueTexel(11u, keys, ca, cb, pta, ptb);
    valueTexel(12u, keys, ca, cb, pta, ptb); valueTexel(13u, keys, ca, cb, pta, ptb);
    valueTexel(14u, keys, ca, cb, pta, ptb); valueTexel(15u, keys, ca, cb, pta, ptb);
  }
  let ia = 1.0 / la;
  let ib = 1.0 / lb;
  let base = (u32(n) * T + r0) * D4 + qx; // out [N, T, D] as vec4s
  storeTexel(0u, base, r0, T, D4, ia, ib); storeTexel(1u, base, r0, T, D4, ia, ib);
  storeTexel(2u, base, r0, T, D4, ia, ib); storeTexel(3u, base, r0, T, D4, ia, ib);
  storeTexel(4u, base, r0, T, D4, ia, ib); storeTexel(5u, base, r0, T, D4, ia, ib);
  storeTexel(6u, base, r0, T, D4, ia, ib); storeTexel(7u, base, r0, T, D4, ia, ib);
  storeTexel(8u, base, r0, T, D4, ia, ib); storeTexel(9u, base, r0, T, D4, ia, ib);
  storeTexel(10u, base, r0, T, D4, ia, ib); storeTexel(11u, base, r0, T, D4, ia, ib);
  storeTexel(12u, base, r0, T, D4, ia, ib); storeTexel(13u, base, r0, T, D4, ia, ib);
  storeTexel(14u, base, r0, T, D4, ia, ib); storeTexel(15u, base, r0, T, D4, ia, ib);
}
