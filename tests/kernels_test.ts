/**
 * GPU kernels (kernels/*.wgsl through their launchers in src/ops) against the float64 CPU
 * reference (src/reference), on fresh random data at several shapes, including sizes that are not
 * multiples of the kernels' tiles.
 *
 * - Forwards are compared elementwise with the reference forward.
 * - Backwards are compared elementwise with the reference backward, and end to end by the
 *   contraction identity: for a random upstream gradient dout and random directions v (one per
 *   input), sum_inputs sum(dx * v) = d/dh sum(ref_forward(x + h v) * dout) at h = 0, the
 *   derivative taken by a float64 central difference on the CPU reference.
 *
 * Tolerances (float32 kernels against float64 references), each relative to the largest magnitude
 * of the tensor compared (max |gpu - ref| <= tol * max |ref|):
 * - FWD_TOL = 1e-5 for forwards and BWD_TOL = 1e-5 for backwards compared elementwise: float32
 *   rounding of sums of O(10..300) terms stays near 1e-6 of the largest entry.
 * - CONTRACT_TOL = 1e-4 for contractions, relative to sum |dx * v| (the size of the terms summed):
 *   the float32 gradients carry ~1e-6 relative error each and the float64 central difference
 *   with h = 1e-5 errs by ~1e-10; a wrong gradient is off by O(1).
 * - Permutations, copies and untouched memory (out-of-view elements, sentinels) must match exactly.
 * - timestepFeatures: absolute TIMESTEP_ATOL, see there.
 *
 * Set KERNEL_ERRORS=1 to print the worst measured relative error of every comparison.
 */
import assert from "node:assert/strict";
import { f32, type Gpu, type Program, type Tensor } from "../src/gpu/gpu.ts";
import type { MatmulPath } from "../src/gpu/device.ts";
import { launch } from "../src/ops/_launch.ts";
import { matmul, type MatView, packMatrix, type Variant } from "../src/ops/matmul.ts";
import {
  activationBackward,
  activationForward,
  add,
  addBroadcast,
} from "../src/ops/elementwise.ts";
import { gateBackward, gateForward, lnModBackward, lnModForward } from "../src/ops/norm.ts";
import {
  dwconvBackward,
  dwconvForward,
  type DwGeom,
  embeddingBackward,
  embeddingForward,
  mseBackward,
  mseForward,
  type MseGeom,
  patchPermute,
  softmaxBackward,
  softmaxForward,
  sumRows,
  timestepFeatures,
} from "../src/ops/misc.ts";
import { attentionBackward, attentionForward, attentionState } from "../src/ops/attention.ts";
import * as ref from "../src/reference/mod.ts";
import { Rng } from "../src/util/prng.ts";
import { gpuTest } from "./_gpu.ts";

const FWD_TOL = 1e-5;
const BWD_TOL = 1e-5;
const CONTRACT_TOL = 1e-4;
/** Central-difference step of the contraction checks (float64, O(1) inputs). */
const FD_H = 1e-5;

const VERBOSE = (() => {
  try {
    return !!Deno.env.get("KERNEL_ERRORS");
  } catch {
    return false;
  }
})();

const FAMILIES: MatmulPath[] = ["texture", "buffer"];

// ---------------------------------------------------------------------------------------------
// Helpers

/** n values uniform in [-scale, scale), rounded to float32 (the reference sees the same values). */
function rand(rng: Rng, n: number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => (2 * rng.next() - 1) * scale);
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, "dot: lengths differ");
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** x + h v in float64. */
function along(x: ArrayLike<number>, v: ArrayLike<number>, h: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] + h * v[i];
  return out;
}

/** a - b in float64 (removes what an accumulating kernel started from). */
function minus(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: a.length }, (_, i) => a[i] - b[i]);
}

/** a + b in float64. */
function plus(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: a.length }, (_, i) => a[i] + b[i]);
}

function scaled(a: ArrayLike<number>, s: number): Float64Array {
  return Float64Array.from({ length: a.length }, (_, i) => a[i] * s);
}

function log(what: string, rel: number): void {
  if (VERBOSE) console.log(`  ${what}: ${rel.toExponential(2)}`);
}

/**
 * Asserts max |got - want| <= tol * max |want| (a floor of 1e-30 keeps all-zero tensors exact);
 * non-finite values always fail. Returns the measured relative error.
 */
function assertClose(
  what: string,
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tol: number,
): number {
  assert.equal(got.length, want.length, `${what}: length`);
  const scale = Math.max(maxAbs(want), 1e-30);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < got.length; i++) {
    if (!Number.isFinite(got[i])) assert.fail(`${what}[${i}] = ${got[i]} (want ${want[i]})`);
    const e = Math.abs(got[i] - want[i]);
    if (e > worst) [worst, at] = [e, i];
  }
  const rel = worst / scale;
  log(what, rel);
  assert.ok(
    rel <= tol,
    `${what}: max |gpu - ref| = ${worst} at [${at}] (gpu ${got[at]}, ref ${want[at]}), ` +
      `${rel.toExponential(2)} of max |ref| ${scale}, over ${tol}`,
  );
  return rel;
}

/** Asserts exact equality (permutations, copies, memory a kernel must not touch). */
function assertExact(what: string, got: ArrayLike<number>, want: ArrayLike<number>): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) {
    if (!Object.is(got[i], want[i]) && got[i] !== want[i]) {
      assert.fail(`${what}[${i}]: gpu ${got[i]}, want exactly ${want[i]}`);
    }
  }
  log(what, 0);
}

/**
 * The contraction identity: sum over pairs (dx, v) of sum(dx * v) equals the central difference
 * of `loss(h)` = sum(ref_forward(inputs + h v) * dout) at h = 0. The gradients are the kernels'.
 */
function assertContraction(
  what: string,
  pairs: [ArrayLike<number>, ArrayLike<number>][],
  loss: (h: number) => number,
): number {
  let lhs = 0;
  let size = 0;
  for (const [g, v] of pairs) {
    assert.equal(g.length, v.length, `${what}: gradient and direction lengths`);
    for (let i = 0; i < g.length; i++) {
      lhs += g[i] * v[i];
      size += Math.abs(g[i] * v[i]);
    }
  }
  const fd = (loss(FD_H) - loss(-FD_H)) / (2 * FD_H);
  const rel = Math.abs(lhs - fd) / Math.max(size, 1e-30);
  log(`${what} (contraction)`, rel);
  assert.ok(
    rel <= CONTRACT_TOL,
    `${what}: sum(dx * v) = ${lhs} but d/dh sum(f(x + h v) * dout) = ${fd} ` +
      `(${rel.toExponential(2)} of sum |dx * v| = ${size}, over ${CONTRACT_TOL})`,
  );
  return rel;
}

/** Records into a fresh program and submits it. */
async function exec(gpu: Gpu, record: (p: Program) => Promise<void> | void): Promise<void> {
  const p = gpu.program("test");
  await record(p);
  gpu.submit(p);
}

/** Reads one tensor back. */
async function read1(gpu: Gpu, t: Tensor): Promise<Float32Array> {
  return (await gpu.read(t))[0];
}

/** Uploads a copy of `data` as a fresh tensor. */
function up(gpu: Gpu, data: ArrayLike<number>, label = "t"): Tensor {
  const a = Float32Array.from(data);
  return gpu.upload(a, [a.length], label);
}

/** A u32 tensor (embedding ids). */
function upU32(gpu: Gpu, ids: readonly number[], label: string): Tensor {
  const t = gpu.tensor([ids.length], label);
  gpu.write(t, Uint32Array.from(ids));
  return t;
}

/** Sentinel value that kernels must leave alone where they are not supposed to write. */
const SENTINEL = 7.25;

function filled(n: number, v = SENTINEL): Float32Array {
  return new Float32Array(n).fill(v);
}

// ---------------------------------------------------------------------------------------------
// Matmul

/** Element (z, r, c) of a strided view sits at off + (z / B2) * s1 + (z % B2) * s2 + r * ld + c. */
interface Layout {
  off: number;
  ld: number;
  s1: number;
  s2: number;
}

function at(l: Layout, B2: number, z: number, r: number, c: number): number {
  return l.off + Math.floor(z / B2) * l.s1 + (z % B2) * l.s2 + r * l.ld + c;
}

/** Elements a buffer needs to hold the view, plus a tail that must stay untouched. */
function span(l: Layout, batch: [number, number], rows: number, cols: number): number {
  return at(l, batch[1], batch[0] * batch[1] - 1, rows - 1, cols - 1) + 1 + 3;
}

/** Dense copy of the [rows, cols] matrix of batch z. */
function gather(
  data: ArrayLike<number>,
  l: Layout,
  B2: number,
  z: number,
  rows: number,
  cols: number,
): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[r * cols + c] = data[at(l, B2, z, r, c)];
  }
  return out;
}

type LayoutKind = "dense" | "padded" | "batched" | "interleaved" | "shared";

/**
 * A layout of kind: dense; padded (offset 5, row stride cols + 3); batched (each batch entry its own
 * padded block with gaps); interleaved (batch entries side by side within rows, as attention's
 * heads: s2 = cols); shared (s1 = s2 = 0: one matrix for the whole batch, as a weight).
 */
function layout(kind: LayoutKind, rows: number, cols: number, batch: [number, number]): Layout {
  switch (kind) {
    case "dense":
      return { off: 0, ld: cols, s1: 0, s2: 0 };
    case "padded":
    case "shared":
      return { off: 5, ld: cols + 3, s1: 0, s2: 0 };
    case "batched": {
      const ld = cols + 2;
      const s2 = rows * ld + 3;
      return { off: 3, ld, s1: batch[1] * s2 + 1, s2 };
    }
    case "interleaved": {
      const ld = batch[1] * cols + 1;
      return { off: 2, ld, s1: rows * ld + 5, s2: cols };
    }
  }
}

interface MmCase {
  variant: Variant;
  M: number;
  N: number;
  K: number;
  batch: [number, number];
  a: LayoutKind;
  b: LayoutKind;
  c: LayoutKind;
  bias: boolean;
  alpha: number;
  accumulate: boolean;
}

/** Stored [rows, cols] of A and B per variant (nt: [M,K],[N,K]; nn: [M,K],[K,N]; tn: [K,M],[K,N]). */
function storedDims(v: Variant, M: number, N: number, K: number) {
  return {
    a: v === "tn" ? [K, M] : [M, K],
    b: v === "nt" ? [N, K] : [K, N],
    transA: v === "tn",
    transB: v === "nt",
  };
}

/** Runs one matmul case on the GPU and checks every element of C's buffer. */
async function checkMatmul(gpu: Gpu, rng: Rng, cs: MmCase, what: string): Promise<number> {
  const { variant, M, N, K, batch } = cs;
  const B2 = batch[1];
  const d = storedDims(variant, M, N, K);
  const la = layout(cs.a, d.a[0], d.a[1], batch);
  const lb = layout(cs.b, d.b[0], d.b[1], batch);
  const lc = layout(cs.c, M, N, batch);
  const aData = rand(rng, span(la, batch, d.a[0], d.a[1]));
  const bData = rand(rng, span(lb, batch, d.b[0], d.b[1]));
  const c0 = rand(rng, span(lc, batch, M, N));
  const bias = rand(rng, N);
  const a = up(gpu, aData, "a");
  const b = up(gpu, bData, "b");
  const c = up(gpu, c0, "c");
  const biasT = up(gpu, bias, "bias");
  const view = (t: Tensor, l: Layout): MatView => ({ t, ...l });
  await exec(gpu, (p) =>
    matmul(p, {
      variant,
      M,
      N,
      K,
      batch,
      a: view(a, la),
      b: view(b, lb),
      c: view(c, lc),
      bias: cs.bias ? biasT : undefined,
      alpha: cs.alpha,
      accumulate: cs.accumulate,
    }));
  const got = await read1(gpu, c);
  const want = Float64Array.from(c0);
  const written = new Uint8Array(c0.length);
  for (let z = 0; z < batch[0] * B2; z++) {
    const A = gather(aData, la, B2, z, d.a[0], d.a[1]);
    const B = gather(bData, lb, B2, z, d.b[0], d.b[1]);
    const prod = ref.matmul(A, B, M, N, K, d.transA, d.transB);
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        const i = at(lc, B2, z, m, n);
        assert.equal(written[i], 0, "test bug: overlapping output view");
        written[i] = 1;
        want[i] = cs.alpha * prod[m * N + n] + (cs.bias ? bias[n] : 0) +
          (cs.accumulate ? c0[i] : 0);
      }
    }
  }
  const untouchedGot: number[] = [];
  const untouchedWant: number[] = [];
  for (let i = 0; i < c0.length; i++) {
    if (!written[i]) {
      untouchedGot.push(got[i]);
      untouchedWant.push(c0[i]);
    }
  }
  assertExact(`${what} outside the view`, untouchedGot, untouchedWant);
  return assertClose(what, got, want, FWD_TOL);
}

/**
 * [M, N, K]: one element with K below 4, K not a multiple of 4, exactly one texture-kernel
 * workgroup tile (64 x 128; two 64 x 64 buffer-kernel tiles, K one 16-deep slice), exact multiples
 * of the tiles, and one past / one short of the tile boundaries.
 *
 * Cost note: llvmpipe compiles a separate variant of a texture-reading shader for every
 * combination of override constants and power-of-two-ness of each texture dimension (~2-10 s per
 * variant on a cold shader cache). The texture kernels see widths ceil(K/4), heights M and N and
 * batch layers; so apart from the deliberate all-power-of-two shapes ([1,1,3], [64,128,16]) every
 * texture-path shape in this file keeps those non-powers of two and batch sizes powers of two,
 * which bounds the whole file to a handful of matmul_tex variants.
 */
const MM_SHAPES: [number, number, number][] = [
  [1, 1, 3],
  [3, 5, 10],
  [17, 31, 37],
  [64, 128, 16],
  [192, 384, 12],
  [65, 129, 9],
  [63, 127, 23],
];

for (const family of FAMILIES) {
  for (const variant of ["nt", "nn", "tn"] as const) {
    gpuTest(`matmul() ${variant} matches reference (${family} kernels)`, async (gpu, t) => {
      assert.equal(gpu.info.matmul, family);
      const rng = new Rng(100 + variant.charCodeAt(1));
      for (const [M, N, K] of MM_SHAPES) {
        await t.step(`M=${M} N=${N} K=${K}`, async () => {
          const base = { variant, M, N, K, batch: [1, 1] as [number, number] };
          await checkMatmul(gpu, rng, {
            ...base,
            a: "dense",
            b: "dense",
            c: "dense",
            bias: false,
            alpha: 1,
            accumulate: false,
          }, `C (${variant} ${M}x${N}x${K})`);
          await checkMatmul(gpu, rng, {
            ...base,
            a: "padded",
            b: "padded",
            c: "padded",
            bias: true,
            alpha: 0.75,
            accumulate: true,
          }, `C (${variant} ${M}x${N}x${K}, bias, alpha, accumulate, offsets)`);
        });
      }
    }, { matmul: family });
  }

  gpuTest(`matmul() batched strided views match reference (${family} kernels)`, async (gpu, t) => {
    const rng = new Rng(200);
    const configs: { a: LayoutKind; b: LayoutKind; c: LayoutKind }[] = [
      { a: "batched", b: "batched", c: "batched" },
      { a: "batched", b: "shared", c: "interleaved" },
      { a: "interleaved", b: "interleaved", c: "batched" },
      { a: "shared", b: "batched", c: "interleaved" },
    ];
    for (const variant of ["nt", "nn", "tn"] as const) {
      for (const [M, N, K, batch] of [[13, 10, 9, [2, 2]], [65, 33, 11, [2, 4]]] as const) {
        await t.step(`${variant} M=${M} N=${N} K=${K} batch [${batch}]`, async () => {
          for (const cfg of configs) {
            await checkMatmul(gpu, rng, {
              variant,
              M,
              N,
              K,
              batch: [batch[0], batch[1]],
              ...cfg,
              bias: cfg.c === "batched",
              alpha: 1.5,
              accumulate: cfg.a === "interleaved",
            }, `C (${variant} a ${cfg.a}, b ${cfg.b}, c ${cfg.c})`);
          }
        });
      }
    }
  }, { matmul: family });

  gpuTest(`packMatrix() operands match reference (${family} kernels)`, async (gpu, t) => {
    const rng = new Rng(300);
    for (const [M, N, K] of [[5, 7, 9], [70, 33, 21]]) {
      for (const transposed of [false, true]) {
        await t.step(
          `M=${M} N=${N} K=${K} ${transposed ? "transposed" : "not transposed"}`,
          async () => {
            // The weight holds rows = N (output) x cols = K (reduction): stored [N, K], or [K, N]
            // when transposed; a padded view at an offset that is not binding-aligned.
            const [sr, sc] = transposed ? [K, N] : [N, K];
            const lw = layout("padded", sr, sc, [1, 1]);
            const wData = rand(rng, span(lw, [1, 1], sr, sc));
            const w = up(gpu, wData, "w");
            const pack = gpu.program("pack");
            const packed = await packMatrix(pack, { t: w, ...lw }, N, K, transposed, "w");
            const x = rand(rng, M * K);
            const xT = up(gpu, x, "x");
            const y = gpu.tensor([M * N], "y");
            const yT = gpu.tensor([N * M], "yT");
            const mm = gpu.program("mm");
            // y = x W^T (packed as B) and yT = W x^T (packed as A).
            await matmul(mm, {
              variant: "nt",
              M,
              N,
              K,
              a: { t: xT, ld: K },
              b: packed,
              c: { t: y, ld: N },
            });
            await matmul(mm, {
              variant: "nt",
              M: N,
              N: M,
              K,
              a: packed,
              b: { t: xT, ld: K },
              c: { t: yT, ld: M },
            });
            const expect = (wd: ArrayLike<number>) => {
              const W = gather(wd, lw, 1, 0, sr, sc);
              return ref.matmul(x, W, M, N, K, false, !transposed);
            };
            const transpose = (a: ArrayLike<number>, r: number, c: number) =>
              Float64Array.from({ length: r * c }, (_, i) => a[(i % r) * c + Math.floor(i / r)]);
            gpu.submit(pack, mm);
            let [gy, gyT] = await gpu.read(y, yT);
            let want = expect(wData);
            assertClose(`y = x W^T (${M}x${N}x${K})`, gy, want, FWD_TOL);
            assertClose(`y^T = W x^T (${M}x${N}x${K})`, gyT, transpose(want, M, N), FWD_TOL);
            // After a weight update, re-running the pack program picks up the new values.
            const w2 = rand(rng, wData.length);
            gpu.write(w, w2);
            gpu.submit(pack, mm);
            [gy, gyT] = await gpu.read(y, yT);
            want = expect(w2);
            assertClose(`y after repack`, gy, want, FWD_TOL);
            assertClose(`y^T after repack`, gyT, transpose(want, M, N), FWD_TOL);
          },
        );
      }
    }
  }, { matmul: family });

  gpuTest(
    `matmul() linear backward (nn, tn, sumRows) matches reference (${family} kernels)`,
    async (gpu, t) => {
      const rng = new Rng(400);
      for (const [M, K, N] of [[10, 11, 23], [65, 19, 130]]) {
        await t.step(`M=${M} K=${K} N=${N}`, async () => {
          const x = rand(rng, M * K);
          const w = rand(rng, N * K);
          const b = rand(rng, N);
          const dy = rand(rng, M * N);
          const dw0 = rand(rng, N * K); // dW accumulates onto this (gradient accumulation)
          const [xT, wT, bT, dyT] = [up(gpu, x), up(gpu, w), up(gpu, b), up(gpu, dy)];
          const y = gpu.tensor([M * N], "y");
          const dx = gpu.tensor([M * K], "dx");
          const dw = up(gpu, dw0, "dw");
          const db = gpu.tensor([N], "db");
          await exec(gpu, async (p) => {
            // y = x W^T + b; dx = dy W; dW += dy^T x; db = column sums of dy.
            await matmul(p, {
              variant: "nt",
              M,
              N,
              K,
              a: { t: xT, ld: K },
              b: { t: wT, ld: K },
              c: { t: y, ld: N },
              bias: bT,
            });
            await matmul(p, {
              variant: "nn",
              M,
              N: K,
              K: N,
              a: { t: dyT, ld: N },
              b: { t: wT, ld: K },
              c: { t: dx, ld: K },
            });
            await matmul(p, {
              variant: "tn",
              M: N,
              N: K,
              K: M,
              a: { t: dyT, ld: N },
              b: { t: xT, ld: K },
              c: { t: dw, ld: K },
              accumulate: true,
            });
            await sumRows(p, dyT, 1, M, N, db);
          });
          const [gy, gdx, gdw, gdb] = await gpu.read(y, dx, dw, db);
          assertClose("y", gy, ref.linear(x, w, b, M, K, N), FWD_TOL);
          const g = ref.linearBackward(x, w, dy, M, K, N);
          assertClose("dx", gdx, g.dx, BWD_TOL);
          assertClose("dW (accumulated)", gdw, plus(dw0, g.dw), BWD_TOL);
          assertClose("db", gdb, g.db, BWD_TOL);
          const [vx, vw, vb] = [rand(rng, x.length), rand(rng, w.length), rand(rng, b.length)];
          assertContraction(
            "linear",
            [[gdx, vx], [minus(gdw, dw0), vw], [gdb, vb]],
            (h) => dot(ref.linear(along(x, vx, h), along(w, vw, h), along(b, vb, h), M, K, N), dy),
          );
        });
      }
    },
    { matmul: family },
  );

  gpuTest(`attentionForward/Backward() match reference (${family} kernels)`, async (gpu, t) => {
    const rng = new Rng(500);
    const geoms = [
      { N: 2, T: 10, D: 24, H: 2 },
      { N: 1, T: 17, D: 36, H: 4 }, // head width 9: reductions not a multiple of 4
      { N: 2, T: 70, D: 20, H: 2 }, // T past the 64-row tile
    ];
    for (const g of geoms) {
      await t.step(`N=${g.N} T=${g.T} D=${g.D} H=${g.H}`, async () => {
        const { N, T, D, H } = g;
        const qkv = rand(rng, N * T * 3 * D);
        const dout = rand(rng, N * T * D);
        const st = attentionState(gpu, g, "attn", true);
        assert.equal(st.chunks.length, 1);
        const qkvT = up(gpu, qkv, "qkv");
        const doutT = up(gpu, dout, "dout");
        const out = gpu.tensor([N, T, D], "out");
        const dqkv = gpu.tensor([N, T, 3 * D], "dqkv");
        await exec(gpu, async (p) => {
          await attentionForward(p, st, qkvT, out);
          await attentionBackward(p, st, qkvT, doutT, dqkv);
        });
        const [gOut, gProbs, gD] = await gpu.read(out, st.chunks[0].probs, dqkv);
        const r = ref.attention(qkv, N, T, D, H);
        assertClose("out", gOut, r.out, FWD_TOL);
        assertClose("probs", gProbs, r.probs, FWD_TOL);
        assertClose("dqkv", gD, ref.attentionBackward(qkv, r.probs, dout, N, T, D, H), BWD_TOL);
        const v = rand(rng, qkv.length);
        assertContraction(
          "attention",
          [[gD, v]],
          (h) => dot(ref.attention(along(qkv, v, h), N, T, D, H).out, dout),
        );
      });
    }
  }, { matmul: family });
}
