// Fused multi-head self-attention for inference on CPU adapters (llvmpipe):
// out[n, t, h*hd ..] = softmax(q k^T / sqrt(hd)) v per (sample n, head h), without writing the
// score matrix: the training path's two matmuls, softmax and their texture copies become one
// copy and one dispatch. Its own time is about that of the three kernels it replaces; what it
// saves is five commands per layer, each a wake-up of llvmpipe's threads (~5% of a one-sample
// denoising step on the small model, ~1-2% at batch 32).
// qkv [N, T, 3D] arrives as an rgba32float texture (texel (c/4, t), layer n; q|k|v along c, heads
// contiguous hd-wide slices), read by image loads (several times cheaper there than storage-buffer
// loads). Each invocation owns 8 query rows of one (sample, head), as two groups of 4 held side
// by side in mat4x4 columns (as in matmul_tex.wgsl), and walks the keys in blocks of 4 with an
// online softmax: running max m and sum l per row, the accumulators rescaled once per block; each
// key texel loaded serves 8 rows. Head width hd = 4 * HD4, at most 4 * MAX_HD4 = 32: the private
// arrays are sized for it (16 wide made llvmpipe's compile ~3x slower, ~4 s per variant).
// Dispatch: (ceil(T / 64), H, N), workgroup 8.

struct Params { T: u32, D4: u32, HD4: u32, scale: f32 }

@group(0) @binding(0) var qkv: texture_storage_2d_array<rgba32float, read>;
@group(0) @binding(1) var<storage, read_write> out4: array<vec4f>;
@group(0) @binding(2) var<uniform> P: Params;

const MAX_HD4 = 8u;

fn texel(x: u32, t: u32, n: i32) -> vec4f { return textureLoad(qkv, vec2u(x, t), n); }

// Row i of a 4-row group: acc[i] * corr[i] + sum over the block's keys jj of v_jj * pt[i][jj].
fn rescaleAdd(acc: mat4x4f, corr: vec4f, vt: mat4x4f, pt: mat4x4f) -> mat4x4f {
  return mat4x4f(fma(acc[0], vec4f(corr.x), vt * pt[0]), fma(acc[1], vec4f(corr.y), vt * pt[1]),
    fma(acc[2], vec4f(corr.z), vt * pt[2]), fma(acc[3], vec4f(corr.w), vt * pt[3]));
}

@compute @workgroup_size(8)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let T = P.T;
  let D4 = P.D4;
  let HD4 = P.HD4;
  let r0 = g.x * 8u;
  if (r0 >= T) { return; }
  let n = i32(g.z);
  let qx = g.y * HD4; // texel columns of this head: q at qx, k at D4 + qx, v at 2 D4 + qx
  let kx = D4 + qx;
  let vx = 2u * D4 + qx;
  // Rows past T repeat the last row; their results are not stored.
  let ra = min(vec4u(r0) + vec4u(0u, 1u, 2u, 3u), vec4u(T - 1u));
  let rb = min(vec4u(r0 + 4u) + vec4u(0u, 1u, 2u, 3u), vec4u(T - 1u));
  // qa[c][i], qb[c][i]: texel c of rows r0 + i and r0 + 4 + i, pre-scaled by 1/sqrt(hd).
  var qa: array<mat4x4f, MAX_HD4>;
  var qb: array<mat4x4f, MAX_HD4>;
  for (var c = 0u; c < HD4; c++) {
    qa[c] = P.scale * mat4x4f(texel(qx + c, ra.x, n), texel(qx + c, ra.y, n),
      texel(qx + c, ra.z, n), texel(qx + c, ra.w, n));
    qb[c] = P.scale * mat4x4f(texel(qx + c, rb.x, n), texel(qx + c, rb.y, n),
      texel(qx + c, rb.z, n), texel(qx + c, rb.w, n));
  }
  var acca: array<mat4x4f, MAX_HD4>; // output texel c of each row, unnormalised
  var accb: array<mat4x4f, MAX_HD4>;
  var ma = vec4f(-3.0e38); // running max of each row's scores
  var mb = vec4f(-3.0e38);
  var la = vec4f(0.0); // running sum of exp(score - m)
  var lb = vec4f(0.0);
  for (var j0 = 0u; j0 < T; j0 += 4u) {
    let keys = min(vec4u(j0) + vec4u(0u, 1u, 2u, 3u), vec4u(T - 1u));
    // sa[jj][i] = q_{r0 + i} . k_{j0 + jj}; sb for rows r0 + 4 + i.
    var sa = mat4x4f();
    var sb = mat4x4f();
    for (var c = 0u; c < HD4; c++) {
      let k0 = texel(kx + c, keys.x, n);
      let k1 = texel(kx + c, keys.y, n);
      let k2 = texel(kx + c, keys.z, n);
      let k3 = texel(kx + c, keys.w, n);
      let qac = qa[c];
      let qbc = qb[c];
      sa[0] += k0 * qac; sa[1] += k1 * qac; sa[2] += k2 * qac; sa[3] += k3 * qac;
      sb[0] += k0 * qbc; sb[1] += k1 * qbc; sb[2] += k2 * qbc; sb[3] += k3 * qbc;
    }
    // Keys past T (a partial last block) take no weight.
    for (var jj = 1u; jj < 4u; jj++) {
      if (j0 + jj >= T) {
        sa[jj] = vec4f(-3.0e38);
        sb[jj] = vec4f(-3.0e38);
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
    for (var c = 0u; c < HD4; c++) {
      // vt[jj] = v_{j0 + jj} texel c; vt * w sums the 4 keys' texels with weights w.
      let vt = mat4x4f(texel(vx + c, keys.x, n), texel(vx + c, keys.y, n),
        texel(vx + c, keys.z, n), texel(vx + c, keys.w, n));
      acca[c] = rescaleAdd(acca[c], ca, vt, pta);
      accb[c] = rescaleAdd(accb[c], cb, vt, ptb);
    }
  }
  let ia = 1.0 / la;
  let ib = 1.0 / lb;
  let base = (u32(n) * T + r0) * D4 + qx; // out [N, T, D] as vec4s
  for (var i = 0u; i < 4u; i++) {
    if (r0 + i >= T) { break; }
    for (var c = 0u; c < HD4; c++) { out4[base + i * D4 + c] = acca[c][i] * ia[i]; }
  }
  for (var i = 0u; i < 4u; i++) {
    if (r0 + 4u + i >= T) { break; }
    for (var c = 0u; c < HD4; c++) { out4[base + (4u + i) * D4 + c] = accb[c][i] * ib[i]; }
  }
}
