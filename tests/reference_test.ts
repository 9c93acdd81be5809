/**
 * Tests of the CPU reference ops: every backward against central finite differences of its forward
 * (float64), plus forward spot checks against hand-derived values.
 */
import assert from "node:assert/strict";
import * as ref from "../src/reference/mod.ts";

/** Small seeded PRNG (mulberry32), uniform in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rng = () => number;

/** n values uniform in [-scale, scale). */
function rand(rng: Rng, n: number, scale = 1): Float64Array {
  return Float64Array.from({ length: n }, () => (2 * rng() - 1) * scale);
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

const H_STEP = 1e-5;
/**
 * Allowed |numeric - analytic| relative to the largest |analytic| entry of that gradient tensor
 * (floored at 1 so all-zero gradients are compared absolutely). Central differences with h = 1e-5
 * in float64 err by ~h^2 * f''' + 1e-16 * |L| / h, i.e. ~1e-10 for these O(1) inputs.
 */
const REL_TOL = 1e-6;
/** Coordinates probed per tensor when the full gradient is too large to sweep. */
const SAMPLES = 8;

/**
 * Checks `analytic` = dL/d`input` by central differences, perturbing `input` in place (and
 * restoring it). `loss` recomputes the scalar L from the current inputs. With `full` every
 * coordinate is probed, otherwise SAMPLES random ones.
 */
function gradCheck(
  name: string,
  input: Float64Array,
  analytic: ArrayLike<number>,
  loss: () => number,
  full: boolean,
  rng: Rng,
): void {
  assert.equal(analytic.length, input.length, `${name}: gradient length`);
  let scale = 1;
  for (let i = 0; i < analytic.length; i++) scale = Math.max(scale, Math.abs(analytic[i]));
  const coords = full
    ? Array.from({ length: input.length }, (_, i) => i)
    : Array.from({ length: SAMPLES }, () => Math.floor(rng() * input.length));
  for (const i of coords) {
    const saved = input[i];
    input[i] = saved + H_STEP;
    const up = loss();
    input[i] = saved - H_STEP;
    const down = loss();
    input[i] = saved;
    const numeric = (up - down) / (2 * H_STEP);
    const err = Math.abs(numeric - analytic[i]);
    assert.ok(
      err <= REL_TOL * scale,
      `${name}[${i}]: numeric ${numeric} vs analytic ${analytic[i]} (error ${err})`,
    );
  }
}

/** Asserts elementwise closeness. */
function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-12): void {
  assert.equal(actual.length, expected.length, "length");
  for (let i = 0; i < actual.length; i++) {
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= tol,
      `[${i}]: ${actual[i]} vs expected ${expected[i]}`,
    );
  }
}

/** Both a tiny shape swept fully and a larger, odd one probed at random coordinates. */
const FULL_AND_SAMPLED = [true, false];

Deno.test("reference backward passes match central differences", async (t) => {
  const rng = mulberry32(1234);

  await t.step("linear", () => {
    for (const full of FULL_AND_SAMPLED) {
      const [M, K, N] = full ? [2, 3, 2] : [5, 7, 3];
      const x = rand(rng, M * K);
      const w = rand(rng, N * K);
      const b = rand(rng, N);
      const dy = rand(rng, M * N);
      const g = ref.linearBackward(x, w, dy, M, K, N);
      const loss = () => dot(ref.linear(x, w, b, M, K, N), dy);
      gradCheck("dx", x, g.dx, loss, full, rng);
      gradCheck("dw", w, g.dw, loss, full, rng);
      gradCheck("db", b, g.db, loss, full, rng);
    }
  });

  await t.step("matmul, all transpose combinations", () => {
    for (const full of FULL_AND_SAMPLED) {
      const [M, N, K] = full ? [2, 3, 2] : [5, 3, 7];
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          const a = rand(rng, M * K);
          const b = rand(rng, K * N);
          const dc = rand(rng, M * N);
          const g = ref.matmulBackward(a, b, dc, M, N, K, transA, transB);
          const loss = () => dot(ref.matmul(a, b, M, N, K, transA, transB), dc);
          gradCheck(`da (${transA},${transB})`, a, g.da, loss, full, rng);
          gradCheck(`db (${transA},${transB})`, b, g.db, loss, full, rng);
        }
      }
    }
  });

  await t.step("patchify and unpatchify", () => {
    const [N, C, H, W, p] = [2, 3, 4, 6, 2];
    for (const order of ["seed", "conv"] as const) {
      const x = rand(rng, N * C * H * W);
      const dt = rand(rng, x.length);
      const dx = ref.patchifyBackward(dt, N, C, H, W, p, order);
      gradCheck(
        `patchify ${order}`,
        x,
        dx,
        () => dot(ref.patchify(x, N, C, H, W, p, order), dt),
        true,
        rng,
      );
    }
    const tokens = rand(rng, N * C * H * W);
    const dout = rand(rng, tokens.length);
    const dtokens = ref.unpatchifyBackward(dout, N, C, H, W, p);
    gradCheck(
      "unpatchify",
      tokens,
      dtokens,
      () => dot(ref.unpatchify(tokens, N, C, H, W, p), dout),
      true,
      rng,
    );
  });

  await t.step("silu and geluTanh", () => {
    for (const n of [7, 30]) {
      const x = rand(rng, n, 4);
      const dy = rand(rng, n);
      gradCheck("silu", x, ref.siluBackward(x, dy), () => dot(ref.silu(x), dy), true, rng);
      gradCheck("gelu", x, ref.geluTanhBackward(x, dy), () => dot(ref.geluTanh(x), dy), true, rng);
    }
  });

  await t.step("layerNorm", () => {
    for (const full of FULL_AND_SAMPLED) {
      const [R, C] = full ? [3, 5] : [4, 13];
      const x = rand(rng, R * C, 2);
      const dy = rand(rng, R * C);
      const { mean, rstd } = ref.layerNorm(x, R, C, 1e-5);
      const dx = ref.layerNormBackward(x, mean, rstd, dy, R, C);
      gradCheck("dx", x, dx, () => dot(ref.layerNorm(x, R, C, 1e-5).y, dy), full, rng);
    }
  });

  await t.step("modulate and gatedResidual", () => {
    for (const full of FULL_AND_SAMPLED) {
      const [N, T, C] = full ? [2, 3, 5] : [3, 7, 9];
      const xhat = rand(rng, N * T * C);
      const shift = rand(rng, N * C);
      const scale = rand(rng, N * C);
      const dy = rand(rng, N * T * C);
      const gm = ref.modulateBackward(xhat, scale, dy, N, T, C);
      const lossM = () => dot(ref.modulate(xhat, shift, scale, N, T, C), dy);
      gradCheck("dxhat", xhat, gm.dxhat, lossM, full, rng);
      gradCheck("dshift", shift, gm.dshift, lossM, full, rng);
      gradCheck("dscale", scale, gm.dscale, lossM, full, rng);

      const x = rand(rng, N * T * C);
      const gate = rand(rng, N * C);
      const y = rand(rng, N * T * C);
      const gr = ref.gatedResidualBackward(gate, y, dy, N, T, C);
      const lossG = () => dot(ref.gatedResidual(x, gate, y, N, T, C), dy);
      gradCheck("dx", x, gr.dx, lossG, full, rng);
      gradCheck("dgate", gate, gr.dgate, lossG, full, rng);
      gradCheck("dy", y, gr.dy, lossG, full, rng);
    }
  });

  await t.step("softmax", () => {
    for (const full of FULL_AND_SAMPLED) {
      const [R, C] = full ? [3, 5] : [4, 17];
      const x = rand(rng, R * C, 3);
      const dy = rand(rng, R * C);
      const dx = ref.softmaxBackward(ref.softmax(x, R, C), dy, R, C);
      gradCheck("dx", x, dx, () => dot(ref.softmax(x, R, C), dy), full, rng);
    }
  });

  await t.step("attention", () => {
    // [N, T, D, H]: hd = 2, 3 and 1 (one head per feature), T not a multiple of 4.
    const shapes: [number, number, number, number, boolean][] = [
      [2, 3, 4, 2, true],
      [1, 5, 6, 2, true],
      [2, 7, 6, 6, false],
    ];
    for (const [N, T, D, H, full] of shapes) {
      const qkv = rand(rng, N * T * 3 * D, 1.5);
      const dout = rand(rng, N * T * D);
      const { probs } = ref.attention(qkv, N, T, D, H);
      const dqkv = ref.attentionBackward(qkv, probs, dout, N, T, D, H);
      const loss = () => dot(ref.attention(qkv, N, T, D, H).out, dout);
      gradCheck(`dqkv N${N} T${T} D${D} H${H}`, qkv, dqkv, loss, full, rng);
    }
  });

  await t.step("dwconv2d, k = 2, 3, 4", () => {
    // [k, padBefore]: k=4 with PyTorch "same" (1 before, 2 after) and the mirrored 2 before.
    const kernels = [[3, 1], [4, 1], [4, 2], [2, 0]];
    for (const [k, pad] of kernels) {
      for (const full of FULL_AND_SAMPLED) {
        const [N, h, wd, C] = full ? [2, 3, 5, 3] : [2, 6, 7, 5];
        const x = rand(rng, N * h * wd * C);
        const w = rand(rng, C * k * k);
        const b = rand(rng, C);
        const dy = rand(rng, x.length);
        const g = ref.dwconv2dBackward(x, w, dy, N, h, wd, C, k, pad);
        const loss = () => dot(ref.dwconv2d(x, w, b, N, h, wd, C, k, pad), dy);
        gradCheck(`dx k${k}`, x, g.dx, loss, full, rng);
        gradCheck(`dw k${k}`, w, g.dw, loss, full, rng);
        gradCheck(`db k${k}`, b, g.db, loss, full, rng);
      }
    }
  });

  await t.step("dwconv1d, k = 3, 4", () => {
    for (const [k, pad] of [[3, 1], [4, 1], [4, 2]]) {
      for (const full of FULL_AND_SAMPLED) {
        const [N, T, C] = full ? [2, 5, 3] : [3, 11, 6];
        const x = rand(rng, N * T * C);
        const w = rand(rng, C * k);
        const b = rand(rng, C);
        const dy = rand(rng, x.length);
        const g = ref.dwconv1dBackward(x, w, dy, N, T, C, k, pad);
        const loss = () => dot(ref.dwconv1d(x, w, b, N, T, C, k, pad), dy);
        gradCheck(`dx k${k}`, x, g.dx, loss, full, rng);
        gradCheck(`dw k${k}`, w, g.dw, loss, full, rng);
        gradCheck(`db k${k}`, b, g.db, loss, full, rng);
      }
    }
  });

  await t.step("mse losses", () => {
    const pred = rand(rng, 7);
    const target = rand(rng, 7);
    const d = ref.mseLossBackward(pred, target);
    gradCheck("mse", pred, d, () => ref.mseLoss(pred, target), true, rng);

    const [N, Cp, Ct, HW] = [2, 5, 3, 3];
    const p2 = rand(rng, N * Cp * HW);
    const t2 = rand(rng, N * Ct * HW);
    const d2 = ref.mseLossChannelsBackward(p2, t2, N, Cp, Ct, HW);
    gradCheck("mseChannels", p2, d2, () => ref.mseLossChannels(p2, t2, N, Cp, Ct, HW), true, rng);
    for (let n = 0; n < N; n++) {
      for (let i = Ct * HW; i < Cp * HW; i++) assert.equal(d2[n * Cp * HW + i], 0);
    }
  });

  await t.step("embedding with repeated ids", () => {
    const [rows, D] = [4, 3];
    const ids = Int32Array.from([2, 0, 2, 3, 2]);
    const table = rand(rng, rows * D);
    const dy = rand(rng, ids.length * D);
    const dtable = ref.embeddingBackward(ids, dy, rows, D);
    gradCheck("dtable", table, dtable, () => dot(ref.embedding(table, ids, D), dy), true, rng);
    for (let d = 0; d < D; d++) assert.equal(dtable[1 * D + d], 0);
  });
});

Deno.test("reference forward spot checks", async (t) => {
  const rng = mulberry32(99);

  await t.step("linear and matmul", () => {
    // x [1,2], w [3,2], b [3]
    const y = ref.linear([1, 2], [1, 0, 0, 1, 1, 1], [0.5, 0, -1], 1, 2, 3);
    assertClose(y, [1.5, 2, 2]);
    assertClose(ref.linear([1, 2], [1, 0, 0, 1, 1, 1], null, 1, 2, 3), [1, 2, 3]);
    // A [2,3] = [[1,2,3],[4,5,6]], B [3,2] = [[1,0],[0,1],[1,1]] -> [[4,5],[10,11]]
    const a = [1, 2, 3, 4, 5, 6];
    const b = [1, 0, 0, 1, 1, 1];
    const aT = [1, 4, 2, 5, 3, 6];
    const bT = [1, 0, 1, 0, 1, 1];
    const c = [4, 5, 10, 11];
    assertClose(ref.matmul(a, b, 2, 2, 3), c);
    assertClose(ref.matmul(aT, b, 2, 2, 3, true, false), c);
    assertClose(ref.matmul(a, bT, 2, 2, 3, false, true), c);
    assertClose(ref.matmul(aT, bT, 2, 2, 3, true, true), c);
    // linear(x, w) is matmul(x, w, transB).
    const x = rand(rng, 5 * 7);
    const w = rand(rng, 3 * 7);
    assertClose(ref.linear(x, w, null, 5, 7, 3), ref.matmul(x, w, 5, 3, 7, false, true));
  });

  await t.step("activations", () => {
    assertClose(ref.silu([0, 1]), [0, 0.7310585786300049]);
    assertClose(ref.geluTanh([0, 1, -1]), [0, 0.8411919906082768, -0.15880800939172324]);
  });

  await t.step("layerNorm rows have mean 0 and variance 1", () => {
    const [R, C] = [3, 11];
    const x = rand(rng, R * C, 5);
    const { y, mean, rstd } = ref.layerNorm(x, R, C, 1e-6);
    for (let r = 0; r < R; r++) {
      const row = y.subarray(r * C, (r + 1) * C);
      const mu = row.reduce((s, v) => s + v, 0) / C;
      const variance = row.reduce((s, v) => s + (v - mu) ** 2, 0) / C;
      assert.ok(Math.abs(mu) < 1e-12);
      assert.ok(Math.abs(variance - 1) < 1e-4);
      assert.ok(Math.abs((x[r * C] - mean[r]) * rstd[r] - y[r * C]) < 1e-12);
    }
  });

  await t.step("softmax rows sum to 1, also for large logits", () => {
    const [R, C] = [4, 9];
    const x = rand(rng, R * C, 500);
    const y = ref.softmax(x, R, C);
    for (let r = 0; r < R; r++) {
      const sum = y.subarray(r * C, (r + 1) * C).reduce((s, v) => s + v, 0);
      assert.ok(Math.abs(sum - 1) < 1e-12);
    }
    assertClose(ref.softmax([0, Math.log(3)], 1, 2), [0.25, 0.75]);
  });

  await t.step("attention probabilities sum to 1 and uniform attention averages v", () => {
    const [N, T, D, H] = [1, 3, 4, 2];
    // q = 0 gives uniform probabilities, so out = mean over tokens of v.
    const qkv = rand(rng, N * T * 3 * D);
    for (let t = 0; t < T; t++) qkv.fill(0, t * 3 * D, t * 3 * D + D);
    const { out, probs } = ref.attention(qkv, N, T, D, H);
    assertClose(probs, new Float64Array(H * T * T).fill(1 / T));
    for (let d = 0; d < D; d++) {
      let mean = 0;
      for (let t = 0; t < T; t++) mean += qkv[t * 3 * D + 2 * D + d] / T;
      for (let t = 0; t < T; t++) assert.ok(Math.abs(out[t * D + d] - mean) < 1e-12);
    }
  });

  await t.step("posEmbed2dSinCos matches the official layout (D=8, grid 2)", () => {
    // Each 1-D half has D/2 = 4 features with omega = [1, 1/100]: [sin(p), sin(p/100), cos(p),
    // cos(p/100)]. The first half embeds the column, the second the row; token t = row*2 + col.
    const e = (p: number) => [Math.sin(p), Math.sin(p / 100), Math.cos(p), Math.cos(p / 100)];
    const pe = ref.posEmbed2dSinCos(8, 2);
    assert.equal(pe.length, 4 * 8);
    assertClose(pe.subarray(0, 8), [...e(0), ...e(0)]);
    assertClose(pe.subarray(8, 16), [...e(1), ...e(0)]); // row 0, col 1
    assertClose(pe.subarray(16, 24), [...e(0), ...e(1)]); // row 1, col 0
    assertClose(pe.subarray(24, 32), [...e(1), ...e(1)]);
    assert.throws(() => ref.posEmbed2dSinCos(6, 2), /multiple of 4/);
  });

  await t.step("posEmbedSeedInit", () => {
    const D = 6;
    const pe = ref.posEmbedSeedInit(3, D);
    assertClose(pe.subarray(0, D), [0, 1, 0, 1, 0, 1]);
    const f = (i2: number) => Math.exp(-i2 * Math.log(10000) / D);
    assertClose(pe.subarray(2 * D, 3 * D), [
      Math.sin(2),
      Math.cos(2),
      Math.sin(2 * f(2)),
      Math.cos(2 * f(2)),
      Math.sin(2 * f(4)),
      Math.cos(2 * f(4)),
    ]);
  });

  await t.step("timestepFeatures", () => {
    assertClose(ref.timestepFeatures([0], 1, 6, "official"), [1, 1, 1, 0, 0, 0]);
    assertClose(ref.timestepFeatures([0], 1, 6, "seed"), [0, 0, 0, 1, 1, 1]);
    // official dim 4: half 2, freqs [1, exp(-ln(1e4)/2) = 1/100]; cos first.
    assertClose(ref.timestepFeatures([0, 1], 2, 4, "official").subarray(4), [
      Math.cos(1),
      Math.cos(0.01),
      Math.sin(1),
      Math.sin(0.01),
    ]);
    // odd dim appends a zero column.
    assertClose(ref.timestepFeatures([3], 1, 5, "official"), [
      Math.cos(3),
      Math.cos(0.03),
      Math.sin(3),
      Math.sin(0.03),
      0,
    ]);
    // seed dim 4: half 2, freqs [1, exp(-ln(1e4)/1) = 1e-4]; sin first.
    assertClose(ref.timestepFeatures([7], 1, 4, "seed"), [
      Math.sin(7),
      Math.sin(7e-4),
      Math.cos(7),
      Math.cos(7e-4),
    ]);
  });

  await t.step("patchify orders, unpatchify round trip, conv order equals a strided conv", () => {
    // x [1,2,2,2] = 0..7, one 2x2 patch: seed features (i,j,c), conv features (c,i,j).
    const x = Array.from({ length: 8 }, (_, i) => i);
    assertClose(ref.patchify(x, 1, 2, 2, 2, 2, "seed"), [0, 4, 1, 5, 2, 6, 3, 7]);
    assertClose(ref.patchify(x, 1, 2, 2, 2, 2, "conv"), x);

    const [N, C, H, W, p] = [2, 3, 6, 4, 2];
    const img = rand(rng, N * C * H * W);
    const tokens = ref.patchify(img, N, C, H, W, p, "seed");
    assertClose(ref.unpatchify(tokens, N, C, H, W, p), img);
    // token index runs row-major over the patch grid: token 1 is row 0, col 1.
    assert.equal(tokens[1 * p * p * C], img[1 * p]);

    const D = 5;
    const w = rand(rng, D * C * p * p); // Conv2d weight [D,C,p,p]
    const conv = ref.conv2d(img, w, null, N, C, H, W, D, p, p, 0, 0, 0, 0); // [N,D,H/p,W/p]
    const T = (H / p) * (W / p);
    const viaTokens = ref.linear(
      ref.patchify(img, N, C, H, W, p, "conv"),
      w,
      null,
      N * T,
      p * p * C,
      D,
    );
    for (let n = 0; n < N; n++) {
      for (let t = 0; t < T; t++) {
        for (let d = 0; d < D; d++) {
          assert.ok(Math.abs(viaTokens[(n * T + t) * D + d] - conv[(n * D + d) * T + t]) < 1e-12);
        }
      }
    }
  });

  await t.step("dwconv2d equals a block-diagonal conv2d; dwconv1d equals dwconv2d with h=1", () => {
    const [N, h, wd, C] = [2, 5, 3, 3];
    for (const [k, pad] of [[3, 1], [4, 1], [4, 2]]) {
      const x = rand(rng, N * h * wd * C);
      const w = rand(rng, C * k * k);
      const b = rand(rng, C);
      const y = ref.dwconv2d(x, w, b, N, h, wd, C, k, pad);
      const dense = new Float64Array(C * C * k * k);
      for (let ch = 0; ch < C; ch++) {
        dense.set(w.subarray(ch * k * k, (ch + 1) * k * k), (ch * C + ch) * k * k);
      }
      const nchw = new Float64Array(x.length);
      for (let n = 0; n < N; n++) {
        for (let t = 0; t < h * wd; t++) {
          for (let ch = 0; ch < C; ch++) {
            nchw[(n * C + ch) * h * wd + t] = x[(n * h * wd + t) * C + ch];
          }
        }
      }
      const after = k - 1 - pad;
      const conv = ref.conv2d(nchw, dense, b, N, C, h, wd, C, k, 1, pad, pad, after, after);
      for (let n = 0; n < N; n++) {
        for (let t = 0; t < h * wd; t++) {
          for (let ch = 0; ch < C; ch++) {
            const diff = y[(n * h * wd + t) * C + ch] - conv[(n * C + ch) * h * wd + t];
            assert.ok(Math.abs(diff) < 1e-12, `k${k} pad${pad}`);
          }
        }
      }
      // A 1-D kernel placed on row padBefore of a 2-D kernel acts the same on a single-row grid.
      const w1 = rand(rng, C * k);
      const w2 = new Float64Array(C * k * k);
      for (let ch = 0; ch < C; ch++) w2.set(w1.subarray(ch * k, (ch + 1) * k), (ch * k + pad) * k);
      const T = h * wd;
      assertClose(
        ref.dwconv1d(x, w1, b, N, T, C, k, pad),
        ref.dwconv2d(x, w2, b, N, 1, T, C, k, pad),
      );
    }
    // k=3, centre tap 1: identity plus bias.
    const w = new Float64Array(9 * C);
    for (let ch = 0; ch < C; ch++) w[ch * 9 + 4] = 1;
    const x = rand(rng, N * h * wd * C);
    const y = ref.dwconv2d(x, w, [1, 2, 3], N, h, wd, C, 3, 1);
    assertClose(y, x.map((v, i) => v + 1 + (i % C)));
  });

  await t.step("conv2d, upsampleNearest2x, groupNorm", () => {
    const x = [1, 2, 3, 4, 5, 6, 7, 8, 9]; // [1,1,3,3]
    const ones = new Array(9).fill(1);
    assertClose(
      ref.conv2d(x, ones, null, 1, 1, 3, 3, 1, 3, 1, 1, 1, 1, 1),
      [12, 21, 16, 27, 45, 33, 24, 39, 28],
    );
    assertClose(ref.conv2d(x, ones, [1], 1, 1, 3, 3, 1, 3, 2, 1, 1, 1, 1), [13, 17, 25, 29]);
    // asymmetric padding: top 0, left 1, bottom 1, right 0 -> rows r..r+2, cols c-1..c+1
    assertClose(ref.conv2d(x, ones, null, 1, 1, 3, 3, 1, 3, 1, 0, 1, 1, 0), [27, 45, 24, 39]);
    assert.equal(ref.convOutputSize(3, 3, 2, 0, 1), 1);

    // [1,1,2,2] -> [1,1,4,4], rows: [1,1,2,2], [1,1,2,2], [3,3,4,4], [3,3,4,4]
    const up = [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]].flat();
    assertClose(ref.upsampleNearest2x([1, 2, 3, 4], 1, 1, 2, 2), up);

    const [N, C, HW, G] = [2, 6, 5, 3];
    const xs = rand(rng, N * C * HW, 3);
    const gamma = rand(rng, C);
    const beta = rand(rng, C);
    const y = ref.groupNorm(xs, N, C, HW, G, gamma, beta, 1e-5);
    const plain = ref.groupNorm(xs, N, C, HW, G, null, null, 1e-5);
    // Each group is a contiguous row of (C/G)*HW values: layerNorm of [N*G, (C/G)*HW].
    assertClose(plain, ref.layerNorm(xs, N * G, (C / G) * HW, 1e-5).y);
    for (let i = 0; i < y.length; i++) {
      const c = Math.floor(i / HW) % C;
      assert.ok(Math.abs(y[i] - (plain[i] * gamma[c] + beta[c])) < 1e-12);
    }
  });

  await t.step("losses and embedding", () => {
    assert.equal(ref.mseLoss([1, 2, 3], [1, 0, 0]), (0 + 4 + 9) / 3);
    assertClose(ref.mseLossBackward([1, 2, 3], [1, 0, 0]), [0, 4 / 3, 2]);
    // pred [1,2,2], target [1,1,2]: only channel 0 counts.
    assert.equal(ref.mseLossChannels([1, 2, 9, 9], [0, 0], 1, 2, 1, 2), (1 + 4) / 2);
    assertClose(ref.embedding([0, 1, 10, 11, 20, 21], [2, 0, 2], 2), [20, 21, 0, 1, 20, 21]);
  });

  await t.step("adamwStep, emaUpdate, globalNorm, clipScale", () => {
    const opts = { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };
    const p = new Float64Array([1]);
    const m = new Float64Array(1);
    const v = new Float64Array(1);
    ref.adamwStep(p, [0.5], m, v, 1, opts);
    // Step 1: bias correction makes mhat = g, vhat = g^2, so the step is lr * g / (|g| + eps).
    assertClose(m, [0.05]);
    assertClose(v, [0.00025]);
    const p1 = 1 * (1 - 0.1 * 0.01) - 0.1 * 0.5 / (0.5 + 1e-8);
    assertClose(p, [p1]);
    ref.adamwStep(p, [-0.5], m, v, 2, opts);
    const m2 = 0.9 * 0.05 - 0.1 * 0.5;
    const v2 = 0.999 * 0.00025 + 0.001 * 0.25;
    assertClose(m, [m2]);
    assertClose(v, [v2]);
    const mhat = m2 / (1 - 0.9 ** 2);
    const vhat = v2 / (1 - 0.999 ** 2);
    assertClose(p, [p1 * 0.999 - 0.1 * mhat / (Math.sqrt(vhat) + 1e-8)]);
    // Float32Array state is updated in place too.
    const p32 = new Float32Array([1, -2]);
    ref.adamwStep(p32, [1, 1], new Float32Array(2), new Float32Array(2), 1, opts);
    assertClose(p32, [0.999 - 0.1, -2 * 0.999 - 0.1], 1e-6);
    assert.throws(() => ref.adamwStep(p, [0], m, v, 0, opts), /positive integer/);

    const ema = new Float64Array([1, 2]);
    ref.emaUpdate(ema, [3, 4], 0.75);
    assertClose(ema, [1.5, 2.5]);

    assert.equal(ref.globalNorm([[3], new Float32Array([0, 4])]), 5);
    assert.equal(ref.clipScale(5, 1), 1 / (5 + 1e-6));
    assert.equal(ref.clipScale(0.5, 1), 1);
  });

  await t.step("inconsistent lengths throw clear errors", () => {
    assert.throws(() => ref.linear([1, 2, 3], [1, 2], null, 1, 2, 1), /Length of x is 3/);
    assert.throws(() => ref.attention(new Float64Array(36), 1, 3, 4, 3), /multiple of the head/);
    assert.throws(() => ref.patchify(new Float64Array(9), 1, 1, 3, 3, 2, "seed"), /multiple/);
    assert.throws(() => ref.dwconv2d([0], [0, 0, 0, 0], null, 1, 1, 1, 1, 2, 2), /Padding before/);
    assert.throws(() => ref.embedding([1, 2], [1], 2), /not an integer in \[0, 1\)/);
    assert.throws(() => ref.mseLoss([1], [1, 2]), /differ/);
  });
});
