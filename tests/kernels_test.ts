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
 * Everything that goes through a matmul runs on both kernel families, each in its own context:
 * Gpu.create({ matmul: "texture" }) (llvmpipe's default) and Gpu.create({ matmul: "buffer" }) (the
 * storage-buffer kernels real GPUs get).
 *
 * Tolerances (float32 kernels against float64 references), each relative to the largest magnitude
 * of the tensor compared (max |gpu - ref| <= tol * max |ref|):
 * - FWD_TOL = 1e-5 for forwards and BWD_TOL = 1e-5 for backwards compared elementwise: float32
 *   rounding of sums of O(10..300) terms stays near 1e-6 of the largest entry (measured on
 *   llvmpipe: at most 2e-6, typically 1e-7).
 * - CONTRACT_TOL = 1e-4 for contractions, relative to sum |dx * v| (the size of the terms summed):
 *   the float32 gradients carry ~1e-6 relative error each and the float64 central difference
 *   with h = 1e-5 errs by ~1e-10; a wrong gradient is off by O(1).
 * - Permutations, copies and untouched memory (out-of-view elements, sentinels) must match exactly.
 * - timestepFeatures: absolute TIMESTEP_ATOL, see there.
 *
 * Set KERNEL_ERRORS=1 to print the worst measured relative error of every comparison.
 */
import assert from "node:assert/strict";
import type { Gpu, Program, Tensor } from "../src/gpu/gpu.ts";
import type { BufferTile, GpuOptions, MatmulPath } from "../src/gpu/device.ts";
import { grid } from "../src/ops/_launch.ts";
import { dispatch } from "../src/ops/_kernel.ts";
import { OPTIM } from "../src/train/optimizer.ts";
import {
  BIG_TILE_MIN_WORKGROUPS,
  bufferTile,
  canFuseGate,
  matmul,
  type MatView,
  packMatrix,
  splitK,
  type Variant,
} from "../src/ops/matmul.ts";
import {
  activationBackward,
  activationForward,
  add,
  addBroadcast,
} from "../src/ops/elementwise.ts";
import { gateBackward, gateForward, lnModBackward, lnModForward } from "../src/ops/norm.ts";
import { dwconvBackward, dwconvForward, type DwGeom } from "../src/ops/dwconv.ts";
import { embeddingBackward, embeddingForward } from "../src/ops/embedding.ts";
import { mseBackward, mseForward, type MseGeom } from "../src/ops/mse.ts";
import { patchPermute } from "../src/ops/patchify.ts";
import { softmaxBackward, softmaxForward } from "../src/ops/softmax.ts";
import { sumRows } from "../src/ops/sum_rows.ts";
import { timestepFeatures } from "../src/ops/timestep_features.ts";
import { attentionBackward, attentionForward, attentionState } from "../src/ops/attention.ts";
import * as ref from "../src/reference/mod.ts";
import { Rng } from "../src/util/prng.ts";
import { gpuTest } from "./_gpu.ts";
import { canCopyRows } from "../src/ops/textures.ts";

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

/**
 * The matmul tests' kernels: each family with its default choice (the small test shapes give the
 * buffer family 64x64 tiles), and the buffer family forced to the 128x128 tiles that products with
 * many tiles get on a GPU.
 */
const MATMUL_CONFIGS: [MatmulPath, BufferTile?][] = [["texture"], ["buffer"], ["buffer", 128]];

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

type LayoutKind =
  | "dense"
  | "padded"
  | "aligned"
  | "rows256"
  | "stacked"
  | "heads"
  | "headsgap"
  | "batched"
  | "interleaved"
  | "shared";

/**
 * A layout of kind: dense; padded (offset 5, row stride cols + 3); aligned (offsets and strides
 * multiples of 4, batched when the batch is); rows256 (as aligned with rows 256 bytes apart: the
 * texture path copies such operands instead of packing them with a kernel); stacked (rows256
 * with batch entries back to back: one copy for all layers); heads (interleaved with rows 256
 * bytes apart: copied as whole rows, one layer per B1 entry) and headsgap (the same with gaps
 * between B1 entries: one copy per entry); batched (each batch entry its own padded block with
 * gaps); interleaved (batch entries side by side within rows, as attention's
 * heads: s2 = cols); shared (s1 = s2 = 0: one matrix for the whole batch, as a weight).
 */
function layout(kind: LayoutKind, rows: number, cols: number, batch: [number, number]): Layout {
  switch (kind) {
    case "dense":
      return { off: 0, ld: cols, s1: 0, s2: 0 };
    case "padded":
    case "shared":
      return { off: 5, ld: cols + 3, s1: 0, s2: 0 };
    case "aligned": {
      // Offsets and strides all multiples of 4 (the launchers' vec4 fast paths).
      const ld = cols + 4;
      const s2 = batch[0] * batch[1] > 1 ? rows * ld + 4 : 0;
      return { off: 4, ld, s1: batch[1] * s2 + 8 * Math.sign(s2), s2 };
    }
    case "rows256": {
      const ld = Math.ceil((cols + 4) / 64) * 64;
      const s2 = batch[0] * batch[1] > 1 ? rows * ld + 4 : 0;
      return { off: 8, ld, s1: batch[1] * s2 + 12 * Math.sign(s2), s2 };
    }
    case "stacked": {
      const ld = Math.ceil(cols / 64) * 64;
      const s2 = batch[0] * batch[1] > 1 ? rows * ld : 0;
      return { off: 8, ld, s1: batch[1] * s2, s2 };
    }
    case "heads":
    case "headsgap": {
      const ld = Math.ceil((batch[1] * cols + 1) / 64) * 64;
      return { off: 4, ld, s1: rows * ld + (kind === "headsgap" ? 8 : 0), s2: cols };
    }
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
  /** GELU epilogue: C = gelu(alpha * product + bias) (+ C). */
  gelu?: boolean;
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
      gelu: cs.gelu,
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
        const v = cs.alpha * prod[m * N + n] + (cs.bias ? bias[n] : 0);
        want[i] = (cs.gelu ? ref.geluTanh([v])[0] : v) + (cs.accumulate ? c0[i] : 0);
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
 * [M, N, K]: one element with K below 4, K not a multiple of 4, exact multiples of the tiles
 * ([192, 384] is 3 x 3 texture-kernel workgroups of 64 x 128 and 3 x 6 buffer-kernel ones of
 * 64 x 64, 12 x 24 per-thread 16 x 16 texture tiles), one past and one short of tile boundaries,
 * and K below, across and past the buffer kernel's 16-deep K slices.
 *
 * Cost note: llvmpipe compiles a separate variant of a texture-reading shader for every
 * combination of override constants, power-of-two-ness of each texture dimension, and single- vs
 * multi-layer textures (~3 s per variant on a cold shader cache). The texture kernel sees widths
 * ceil(K/4), heights M and N, and batch layers; so apart from the deliberately all-power-of-two
 * [1, 1, 3], texture-path shapes in this file keep widths and heights non-powers of two, which
 * bounds the number of matmul_tex variants. [130, 33, 21] (N <= 64, M >= 2N) takes the texture
 * path's transposed product unless a bias is added. Accumulation is covered by the
 * batched cases and the linear backward.
 */
const MM_SHAPES: [number, number, number][] = [
  [1, 1, 3],
  [3, 5, 10],
  [17, 31, 37],
  [192, 384, 12],
  [65, 129, 9],
  [63, 127, 23],
  [130, 33, 21],
];

/**
 * An unbatched product twice: dense operands without extras, then padded views (offsets, row
 * strides) with bias and alpha, accumulating into C when `accumulate`.
 */
async function checkDenseAndPadded(
  gpu: Gpu,
  rng: Rng,
  variant: Variant,
  M: number,
  N: number,
  K: number,
  accumulate: boolean,
  what: string,
): Promise<void> {
  const base = { variant, M, N, K, batch: [1, 1] as [number, number] };
  const dense = { a: "dense", b: "dense", c: "dense" } as const;
  await checkMatmul(
    gpu,
    rng,
    { ...base, ...dense, bias: false, alpha: 1, accumulate: false },
    what,
  );
  const padded = { a: "padded", b: "padded", c: "padded" } as const;
  await checkMatmul(
    gpu,
    rng,
    { ...base, ...padded, bias: true, alpha: 0.75, accumulate },
    `${what}, bias, alpha${accumulate ? ", accumulate" : ""}, offsets`,
  );
}

for (const [family, tile] of MATMUL_CONFIGS) {
  const opts: GpuOptions = tile ? { matmul: family, bufferTile: tile } : { matmul: family };
  const kernels = tile ? `${family} kernels, ${tile}x${tile} tiles` : `${family} kernels`;
  for (const variant of ["nt", "nn", "tn"] as const) {
    gpuTest(`matmul() ${variant} matches reference (${kernels})`, async (gpu, t) => {
      assert.equal(gpu.info.matmul, family);
      const rng = new Rng(100 + ["nt", "nn", "tn"].indexOf(variant));
      for (const [M, N, K] of MM_SHAPES) {
        await t.step(`M=${M} N=${N} K=${K}`, async () => {
          await checkDenseAndPadded(
            gpu,
            rng,
            variant,
            M,
            N,
            K,
            false,
            `C (${variant} ${M}x${N}x${K})`,
          );
        });
      }
    }, opts);
  }

  // The MLP's first layer with GELU fused into the store: dense, padded with bias, alpha and
  // accumulation; on the texture path also a narrow product (computed transposed), on the buffer
  // path also one split along K (the GELU applies after the partial sums).
  gpuTest(`matmul() with a GELU epilogue matches reference (${kernels})`, async (gpu, t) => {
    const rng = new Rng(160);
    const shapes: [number, number, number][] = family === "buffer"
      ? [[65, 129, 9], [130, 33, 21], [70, 100, 1500]]
      : [[65, 129, 9], [130, 33, 21]];
    for (const [M, N, K] of shapes) {
      await t.step(`nt M=${M} N=${N} K=${K}`, async () => {
        const base = { variant: "nt" as const, M, N, K, batch: [1, 1] as [number, number] };
        const dense = { a: "dense", b: "dense", c: "dense" } as const;
        const padded = { a: "padded", b: "padded", c: "padded" } as const;
        const what = `gelu(C) (nt ${M}x${N}x${K})`;
        const plain = { bias: false, alpha: 1, accumulate: false, gelu: true };
        await checkMatmul(gpu, rng, { ...base, ...dense, ...plain }, what);
        const extras = { bias: true, alpha: 1.5, accumulate: true, gelu: true };
        await checkMatmul(gpu, rng, { ...base, ...padded, ...extras }, `${what}, extras`);
      });
    }
  }, opts);

  // adaLN-Zero's gated residual in the store (inference, texture kernels only): C = res + gate *
  // (alpha x W^T + b) with the gate of each row's sample; 3 samples of 8 tokens (gates loaded per
  // row) and of 16 or 32 (a multiple of the 16-row tile: gates loaded once per tile), both gate
  // slots, with and without bias and GELU, a tile-straddling N; the buffer family and misaligned
  // views are refused with a clear error.
  gpuTest(
    `matmul() with a gated residual matches reference (${kernels})`,
    async (gpu, t) => {
      const rng = new Rng(170);
      for (const [N, K, T] of [[20, 13, 8], [132, 70, 8], [20, 13, 16], [132, 70, 32]]) {
        const B = 3;
        const M = T * B;
        const stride = 6 * N;
        for (const [gateOff, bias, gelu] of [[2 * N, true, false], [5 * N, false, true]] as const) {
          await t.step(
            `M=${M} T=${T} N=${N} K=${K} gate@${gateOff}${bias ? " bias" : ""}`,
            async () => {
              const [a, w, b] = [rand(rng, M * K), rand(rng, N * K), rand(rng, N)];
              const [res, mod] = [rand(rng, M * N), rand(rng, B * stride)];
              const out = gpu.tensor([M * N], "out");
              const gated = {
                residual: up(gpu, res, "res"),
                mod: up(gpu, mod, "mod"),
                stride,
                gateOff,
                T,
              };
              const args = {
                variant: "nt" as const,
                M,
                N,
                K,
                a: { t: up(gpu, a, "a"), ld: K },
                b: { t: up(gpu, w, "w"), ld: K },
                c: { t: out, ld: N },
                bias: bias ? up(gpu, b, "bias") : undefined,
                alpha: 0.5,
                gelu,
                gated,
              };
              if (!canFuseGate(gpu, M, N, stride, gateOff)) {
                await assert.rejects(exec(gpu, (p) => matmul(p, args)), /gated residual needs/);
                return;
              }
              await exec(gpu, (p) => matmul(p, args));
              const prod = ref.matmul(a, w, M, N, K, false, true);
              const want = new Float64Array(M * N);
              for (let m = 0; m < M; m++) {
                for (let n = 0; n < N; n++) {
                  let v = 0.5 * prod[m * N + n] + (bias ? b[n] : 0);
                  if (gelu) v = ref.geluTanh([v])[0];
                  want[m * N + n] = res[m * N + n] +
                    mod[Math.floor(m / T) * stride + gateOff + n] * v;
                }
              }
              assertClose("res + gate * y", await read1(gpu, out), want, FWD_TOL);
              // Past one texture's rows (M is split into chunks there) the graph does not fuse.
              assert.equal(canFuseGate(gpu, 8193, N, stride, gateOff), false);
              // Accumulating into C is refused (the gate applies to the product, not to C).
              await assert.rejects(
                exec(gpu, (p) => matmul(p, { ...args, accumulate: true })),
                /gated residual needs/,
              );
            },
          );
        }
      }
    },
    opts,
  );

  if (family === "buffer" && !tile) {
    // A row's result does not depend on the other rows (batch invariance, see kChunk): the
    // first rows of a product alone (split along K when K is long, 64x64 tiles otherwise) equal
    // bit for bit the same rows of a product with many rows (unsplit; 128x128 tiles when K is
    // short), with alpha, bias, GELU and accumulation.
    gpuTest("matmul() rows do not depend on M (buffer kernels)", async (gpu, t) => {
      const rng = new Rng(151);
      const N = 256;
      // Enough rows for 64 tiles of 64x64 (no split), or for the 128x128 kernel.
      const rowsFor128 = 128 * Math.ceil(BIG_TILE_MIN_WORKGROUPS / Math.ceil(N / 128));
      for (const [K, Mbig] of [[1500, 1024], [300, rowsFor128]]) {
        await t.step(`K=${K}: 24 rows alone and within ${Mbig}`, async () => {
          const Msmall = 24;
          assert.equal(splitK(Msmall, N, K, [1, 1]) > 1, K >= 1024, "test bug: split");
          assert.equal(splitK(Mbig, N, K, [1, 1]), 1, "test bug: split");
          assert.equal(bufferTile(gpu, Mbig, N, K, [1, 1]), K < 1024 ? 128 : 64, "test bug: tile");
          const a = up(gpu, rand(rng, Mbig * K), "a");
          const w = up(gpu, rand(rng, N * K), "w");
          const bias = up(gpu, rand(rng, N), "bias");
          const c0 = rand(rng, Mbig * N);
          const rows = async (M: number) => {
            const c = up(gpu, c0.subarray(0, M * N), "c");
            await exec(gpu, (p) =>
              matmul(p, {
                variant: "nt",
                M,
                N,
                K,
                a: { t: a, ld: K },
                b: { t: w, ld: K },
                c: { t: c, ld: N },
                bias,
                alpha: 0.75,
                gelu: true,
                accumulate: true,
              }));
            return (await read1(gpu, c)).subarray(0, Msmall * N);
          };
          assertExact(
            "rows alone vs within a taller product",
            await rows(Msmall),
            await rows(Mbig),
          );
        });
      }
    }, { matmul: "buffer" });

    // Unbatched products with a long K and few tiles run split along K (partials, then a sum):
    // 6 chunks of 256 with a short last one, and 17 chunks of 256 with a 4-deep last one.
    gpuTest("matmul() split along K matches reference (buffer kernels)", async (gpu, t) => {
      const rng = new Rng(150);
      for (const variant of ["nt", "nn", "tn"] as const) {
        for (const [M, N, K] of [[70, 100, 1500], [33, 20, 4100]]) {
          assert(splitK(M, N, K, [1, 1]) > 1, "test bug: this shape is not split");
          await t.step(`${variant} M=${M} N=${N} K=${K}`, async () => {
            const what = `C (${variant} ${M}x${N}x${K} split)`;
            await checkDenseAndPadded(gpu, rng, variant, M, N, K, true, what);
          });
        }
      }
    }, { matmul: "buffer" });
  }

  gpuTest(`matmul() batched strided views match reference (${kernels})`, async (gpu, t) => {
    const rng = new Rng(200);
    // Per-batch blocks, a weight shared by the batch, and attention's heads side by side.
    const configs = [
      { a: "batched", b: "batched", c: "batched", bias: false, accumulate: false },
      { a: "batched", b: "shared", c: "interleaved", bias: false, accumulate: false },
      { a: "interleaved", b: "interleaved", c: "batched", bias: true, accumulate: true },
      { a: "aligned", b: "aligned", c: "aligned", bias: false, accumulate: false },
      // Without a bias, [70, 20] runs transposed on the texture path: accumulating vec4 columns.
      { a: "aligned", b: "aligned", c: "aligned", bias: false, accumulate: true },
      { a: "rows256", b: "rows256", c: "aligned", bias: true, accumulate: true },
      { a: "stacked", b: "stacked", c: "stacked", bias: false, accumulate: false },
      { a: "heads", b: "heads", c: "heads", bias: false, accumulate: false },
      { a: "headsgap", b: "heads", c: "interleaved", bias: true, accumulate: true },
    ] as const;
    for (const variant of ["nt", "nn", "tn"] as const) {
      for (
        const [M, N, K, batch] of [
          [13, 10, 9, [2, 2]],
          [65, 33, 11, [2, 4]],
          [12, 20, 12, [2, 2]],
          [70, 20, 12, [2, 3]],
        ] as const
      ) {
        await t.step(`${variant} M=${M} N=${N} K=${K} batch [${batch}]`, async () => {
          for (const cfg of configs) {
            await checkMatmul(gpu, rng, {
              variant,
              M,
              N,
              K,
              batch: [batch[0], batch[1]],
              ...cfg,
              alpha: 1.5,
            }, `C (${variant} a ${cfg.a}, b ${cfg.b}, c ${cfg.c})`);
          }
        });
      }
    }
  }, opts);

  gpuTest(`packMatrix() operands match reference (${kernels})`, async (gpu, t) => {
    const rng = new Rng(300);
    const cases = [
      [5, 7, 9, "padded"],
      [70, 33, 21, "padded"],
      [10, 12, 20, "aligned"],
      [10, 12, 20, "rows256"],
    ] as const;
    for (const [M, N, K, kind] of cases) {
      for (const transposed of [false, true]) {
        await t.step(
          `M=${M} N=${N} K=${K} ${kind} ${transposed ? "transposed" : "not transposed"}`,
          async () => {
            // The weight holds rows = N (output) x cols = K (reduction): stored [N, K], or [K, N]
            // when transposed; a view at an offset that is not binding-aligned.
            const [sr, sc] = transposed ? [K, N] : [N, K];
            const lw = layout(kind, sr, sc, [1, 1]);
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
  }, opts);

  gpuTest(
    `matmul() linear backward (nn, tn, sumRows) matches reference (${kernels})`,
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
    opts,
  );

  gpuTest(`attentionForward/Backward() match reference (${kernels})`, async (gpu, t) => {
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
  }, opts);

  gpuTest(
    `attentionForward() for inference matches reference (${kernels})`,
    async (gpu, t) => {
      const rng = new Rng(501);
      const geoms = [
        { N: 2, T: 64, D: 128, H: 4 }, // the small preset's layer
        { N: 3, T: 17, D: 64, H: 4 }, // head width 16; a partial block of queries and of keys
        { N: 2, T: 5, D: 192, H: 16 }, // head width 12: three of the kernel's eight texel slots
        { N: 1, T: 70, D: 64, H: 2 }, // head width 32; T past 64
        { N: 2, T: 9, D: 64, H: 1 }, // head width 64, the fused kernel's widest
        { N: 2, T: 9, D: 192, H: 2 }, // head width 96: not fused anywhere
        { N: 2, T: 12, D: 24, H: 2 }, // 3D not a multiple of 64: not fused anywhere
      ];
      for (const g of geoms) {
        await t.step(`N=${g.N} T=${g.T} D=${g.D} H=${g.H}`, async () => {
          const { N, T, D, H } = g;
          const hd = D / H;
          const fusable = family === "texture" && hd <= 64 && (3 * D) % 64 === 0;
          const st = attentionState(gpu, g, "attn", false);
          assert.equal(st.fused, fusable);
          assert.equal(st.chunks.length, fusable ? 0 : 1);
          // Scores spread over several units, so that the softmax is far from uniform.
          const qkv = rand(rng, N * T * 3 * D).map((x) => 3 * x);
          const out = gpu.tensor([N, T, D], "out");
          await exec(gpu, (p) => attentionForward(p, st, up(gpu, qkv, "qkv"), out));
          const [gOut] = await gpu.read(out);
          assertClose("out", gOut, ref.attention(qkv, N, T, D, H).out, FWD_TOL);
          if (st.fused) {
            await assert.rejects(
              () => exec(gpu, (p) => attentionBackward(p, st, up(gpu, qkv), out, out)),
              /made for inference/,
            );
          }
        });
      }
    },
    opts,
  );
}

// ---------------------------------------------------------------------------------------------
// Elementwise

/** Lengths around the 256-thread workgroup; 1000 and 4100 take the four-per-invocation path. */
const EW_SIZES = [1, 255, 257, 1000, 4100];

gpuTest("activationForward/Backward() silu and gelu match reference", async (gpu, t) => {
  const rng = new Rng(600);
  const acts = [
    { act: "silu", fwd: ref.silu, bwd: ref.siluBackward },
    { act: "gelu", fwd: ref.geluTanh, bwd: ref.geluTanhBackward },
  ] as const;
  for (const { act, fwd, bwd } of acts) {
    for (const n of EW_SIZES) {
      await t.step(`${act} n=${n}`, async () => {
        const x = rand(rng, n, 4);
        // Saturated arguments: exp/tanh must not overflow into NaN.
        [-30, 30, -12, 12, -90, 90].slice(0, Math.max(0, n - 250)).forEach((v, i) => x[i] = v);
        const dy = rand(rng, n);
        const d0 = rand(rng, n);
        const [xT, dyT] = [up(gpu, x), up(gpu, dy)];
        const y = gpu.tensor([n], "y");
        const dx = gpu.tensor([n], "dx");
        const dxAcc = up(gpu, d0, "dxAcc");
        await exec(gpu, async (p) => {
          await activationForward(p, act, xT, y);
          await activationBackward(p, act, xT, dyT, dx);
          await activationBackward(p, act, xT, dyT, dxAcc, true);
        });
        const [gy, gdx, gacc] = await gpu.read(y, dx, dxAcc);
        assertClose(`${act} y`, gy, fwd(x), FWD_TOL);
        const want = bwd(x, dy);
        assertClose(`${act} dx`, gdx, want, BWD_TOL);
        assertClose(`${act} dx (accumulated)`, gacc, plus(d0, want), BWD_TOL);
        const v = rand(rng, n);
        assertContraction(act, [[gdx, v]], (h) => dot(fwd(along(x, v, h)), dy));
      });
    }
  }
});

gpuTest("add() and addBroadcast() match reference", async (gpu, t) => {
  const rng = new Rng(700);
  for (const n of EW_SIZES) {
    await t.step(`add n=${n}`, async () => {
      const [a, b, o0] = [rand(rng, n), rand(rng, n), rand(rng, n)];
      const out = gpu.tensor([n], "out");
      const acc = up(gpu, o0, "acc");
      const [aT, bT] = [up(gpu, a), up(gpu, b)];
      await exec(gpu, async (p) => {
        await add(p, aT, bT, out);
        await add(p, aT, bT, acc, true);
      });
      const [go, gacc] = await gpu.read(out, acc);
      assertClose("a + b", go, plus(a, b), FWD_TOL);
      assertClose("acc + a + b", gacc, plus(o0, plus(a, b)), FWD_TOL);
    });
  }
  for (const [rows, period] of [[1, 1], [3, 7], [5, 256], [2, 300]]) {
    await t.step(`addBroadcast ${rows} x ${period}`, async () => {
      const [a, b] = [rand(rng, rows * period), rand(rng, period)];
      const out = gpu.tensor([rows * period], "out");
      await exec(gpu, (p) => addBroadcast(p, up(gpu, a), up(gpu, b), out));
      const want = Float64Array.from(a, (v, i) => v + b[i % period]);
      assertClose("a + b[i % period]", await read1(gpu, out), want, FWD_TOL);
    });
  }
});

gpuTest(
  "sumRows() matches column sums and contracts as the broadcast's backward",
  async (gpu, t) => {
    const rng = new Rng(800);
    // R > 128 takes the chunked path (chunks of 64 rows, the last one partial); C a multiple
    // of 4 takes the vec4 entries (short and chunked).
    const shapes = [
      [1, 1, 1],
      [1, 17, 33],
      [3, 5, 70],
      [1, 128, 5],
      [2, 300, 3],
      [1, 129, 70],
      [3, 9, 12],
      [2, 200, 16],
    ];
    for (const [B, R, C] of shapes) {
      await t.step(`B=${B} R=${R} C=${C}`, async () => {
        const x = rand(rng, B * R * C);
        const o0 = rand(rng, B * C);
        const out = gpu.tensor([B * C], "out");
        const acc = up(gpu, o0, "acc");
        const xT = up(gpu, x);
        await exec(gpu, async (p) => {
          await sumRows(p, xT, B, R, C, out);
          await sumRows(p, xT, B, R, C, acc, true);
        });
        const [go, gacc] = await gpu.read(out, acc);
        // Oracle: float64 column sums (the reference's bias gradient generalised to B blocks).
        const want = new Float64Array(B * C);
        for (let b = 0; b < B; b++) {
          for (let r = 0; r < R; r++) {
            for (let c = 0; c < C; c++) want[b * C + c] += x[(b * R + r) * C + c];
          }
        }
        assertClose("sums", go, want, BWD_TOL);
        assertClose("sums (accumulated)", gacc, plus(o0, want), BWD_TOL);
        // sumRows is the backward of broadcasting u [B, C] over R rows: with dout = x,
        // sum(sumRows(x) * v) = d/dh sum(broadcast(u + h v) * x).
        const u = rand(rng, B * C);
        const v = rand(rng, B * C);
        const bcast = (w: ArrayLike<number>) =>
          Float64Array.from(
            { length: B * R * C },
            (_, i) => w[Math.floor(i / (R * C)) * C + i % C],
          );
        assertContraction("sumRows", [[go, v]], (h) => dot(bcast(along(u, v, h)), x));
      });
    }
  },
);

// ---------------------------------------------------------------------------------------------
// LayerNorm + adaLN, gate

/** [B, T, C] around the 64-thread workgroups (R = B*T rows, B*C modulation columns). */
// C = 150: rows longer than a 64-lane workgroup, not a multiple of it.
// C = 20 and 64 take the vec4 entries on CPU adapters (C and the offsets multiples of 4).
const LN_SHAPES: [number, number, number][] = [
  [1, 1, 5],
  [2, 5, 7],
  [3, 17, 33],
  [2, 40, 20],
  [2, 3, 150],
  [3, 6, 64],
  [5, 64, 32], // four rows per invocation on texture adapters, over more than one workgroup
  [4, 256, 64], // the same with x read from a texture (C a multiple of 64, at least 1,024 rows)
];

/** Forward of LN + modulation in float64 with shift/scale taken from mod [B, 6C]. */
function lnModRef(
  x: ArrayLike<number>,
  mod: ArrayLike<number>,
  B: number,
  T: number,
  C: number,
  shiftOff: number,
  scaleOff: number,
) {
  const ln = ref.layerNorm(x, B * T, C, 1e-6);
  const shift = new Float64Array(B * C);
  const scale = new Float64Array(B * C);
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < C; c++) {
      shift[b * C + c] = mod[b * 6 * C + shiftOff + c];
      scale[b * C + c] = mod[b * 6 * C + scaleOff + c];
    }
  }
  return { ...ln, shift, scale, out: ref.modulate(ln.y, shift, scale, B, T, C) };
}

/** Copies [B, C] column blocks into a [B, 6C] matrix at `off` (onto `base`). */
function intoMod(
  base: ArrayLike<number>,
  blocks: [ArrayLike<number>, number][],
  B: number,
  C: number,
): Float64Array {
  const out = Float64Array.from(base);
  for (const [blk, off] of blocks) {
    for (let b = 0; b < B; b++) {
      for (let c = 0; c < C; c++) out[b * 6 * C + off + c] = blk[b * C + c];
    }
  }
  return out;
}

/** Takes the [B, C] column block at `off` out of a [B, 6C] matrix. */
function fromMod(mod: ArrayLike<number>, off: number, B: number, C: number): Float64Array {
  const out = new Float64Array(B * C);
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < C; c++) out[b * C + c] = mod[b * 6 * C + off + c];
  }
  return out;
}

// One invocation per row on CPU adapters ("texture" family; vec4 where aligned), a workgroup per
// row on GPUs ("buffer").
for (const family of FAMILIES) {
  gpuTest(`lnModForward/Backward() match reference (${family} kernels)`, async (gpu, t) => {
    assert.equal(gpu.info.matmul, family);
    const rng = new Rng(900);
    for (const [B, T, C] of LN_SHAPES) {
      // adaLN's six chunks: shift/scale of the MLP branch (3C, 4C), then of attention (0, C).
      for (const [shiftOff, scaleOff] of [[3 * C, 4 * C], [0, C]]) {
        await t.step(`B=${B} T=${T} C=${C} shift@${shiftOff} scale@${scaleOff}`, async () => {
          const R = B * T;
          const x = rand(rng, R * C, 2);
          for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) x[r * C + c] += r % 3; // row means
          const mod = rand(rng, B * 6 * C, 0.5);
          const dy = rand(rng, R * C);
          const dx0 = rand(rng, R * C);
          const s = { B, T, C };
          const [xT, dyT] = [up(gpu, x), up(gpu, dy)];
          const m = { mod: up(gpu, mod, "mod"), stride: 6 * C };
          const y = gpu.tensor([R * C], "y");
          const mean = gpu.tensor([R], "mean");
          const rstd = gpu.tensor([R], "rstd");
          const dx = up(gpu, dx0, "dx");
          const dmod = up(gpu, filled(B * 6 * C), "dmod");
          await exec(gpu, async (p) => {
            await lnModForward(p, s, xT, m, shiftOff, scaleOff, y, mean, rstd);
            await lnModBackward(p, s, xT, m, shiftOff, scaleOff, mean, rstd, dyT, dx, dmod, true);
          });
          const [gy, gmean, grstd, gdx, gdmod] = await gpu.read(y, mean, rstd, dx, dmod);
          const r = lnModRef(x, mod, B, T, C, shiftOff, scaleOff);
          assertClose("y", gy, r.out, FWD_TOL);
          assertClose("mean", gmean, r.mean, FWD_TOL);
          assertClose("rstd", grstd, r.rstd, FWD_TOL);
          const gm = ref.modulateBackward(r.y, r.scale, dy, B, T, C);
          const wantDx = ref.layerNormBackward(x, r.mean, r.rstd, gm.dxhat, R, C);
          assertClose("dx (accumulated, minus the start)", minus(gdx, dx0), wantDx, BWD_TOL);
          const wantDmod = intoMod(
            filled(B * 6 * C),
            [[gm.dshift, shiftOff], [
              gm.dscale,
              scaleOff,
            ]],
            B,
            C,
          );
          assertClose("dmod", gdmod, wantDmod, BWD_TOL);
          // Columns outside the two slots keep the sentinel exactly.
          const others = (a: ArrayLike<number>) =>
            Array.from(a).filter((_, i) => {
              const col = i % (6 * C);
              return !(col >= shiftOff && col < shiftOff + C) &&
                !(col >= scaleOff && col < scaleOff + C);
            });
          assertExact("dmod outside the slots", others(gdmod), others(wantDmod));
          const [vx, vs, vc] = [rand(rng, x.length), rand(rng, B * C), rand(rng, B * C)];
          const vmod = intoMod(
            new Float64Array(mod.length),
            [[vs, shiftOff], [vc, scaleOff]],
            B,
            C,
          );
          assertContraction(
            "lnMod",
            [[minus(gdx, dx0), vx], [fromMod(gdmod, shiftOff, B, C), vs], [
              fromMod(gdmod, scaleOff, B, C),
              vc,
            ]],
            (h) =>
              dot(
                lnModRef(along(x, vx, h), along(mod, vmod, h), B, T, C, shiftOff, scaleOff).out,
                dy,
              ),
          );
        });
      }
    }
  }, { matmul: family });
}

gpuTest("gateForward/Backward() match reference", async (gpu, t) => {
  const rng = new Rng(1000);
  for (const [B, T, C] of LN_SHAPES) {
    await t.step(`B=${B} T=${T} C=${C}`, async () => {
      const R = B * T;
      const gateOff = 5 * C;
      const [x, y, dout] = [rand(rng, R * C), rand(rng, R * C), rand(rng, R * C)];
      const mod = rand(rng, B * 6 * C);
      const gate = fromMod(mod, gateOff, B, C);
      const s = { B, T, C };
      const m = { mod: up(gpu, mod, "mod"), stride: 6 * C };
      const [xT, yT, doutT] = [up(gpu, x), up(gpu, y), up(gpu, dout)];
      const out = gpu.tensor([R * C], "out");
      const dy = gpu.tensor([R * C], "dy");
      const dmod = up(gpu, filled(B * 6 * C), "dmod");
      await exec(gpu, async (p) => {
        await gateForward(p, s, xT, yT, m, gateOff, out);
        await gateBackward(p, s, doutT, yT, m, gateOff, dy, dmod);
      });
      const [gout, gdy, gdmod] = await gpu.read(out, dy, dmod);
      assertClose("out", gout, ref.gatedResidual(x, gate, y, B, T, C), FWD_TOL);
      const g = ref.gatedResidualBackward(gate, y, dout, B, T, C);
      assertClose("dy", gdy, g.dy, BWD_TOL);
      assertClose("dmod", gdmod, intoMod(filled(B * 6 * C), [[g.dgate, gateOff]], B, C), BWD_TOL);
      // dx = dout is the identity (no kernel); the gate and branch gradients are the kernels'.
      const [vx, vg, vy] = [rand(rng, x.length), rand(rng, B * C), rand(rng, y.length)];
      assertContraction(
        "gate",
        [[dout, vx], [fromMod(gdmod, gateOff, B, C), vg], [gdy, vy]],
        (h) =>
          dot(
            ref.gatedResidual(along(x, vx, h), along(gate, vg, h), along(y, vy, h), B, T, C),
            dout,
          ),
      );
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Softmax

gpuTest("softmaxForward/Backward() match reference", async (gpu, t) => {
  const rng = new Rng(1100);
  for (const [R, C] of [[1, 1], [3, 10], [65, 17], [7, 257], [2, 4], [70, 64]]) {
    await t.step(`R=${R} C=${C}`, async () => {
      const alpha = 0.35; // attention's 1/sqrt(head width)
      const x = rand(rng, R * C, 8);
      if (R > 1) { for (let c = 0; c < C; c++) x[C + c] = 250 + c % 5; // exp would overflow unshifted
       }
      const ax = scaled(x, alpha);
      const dout = rand(rng, R * C);
      const s = up(gpu, ax, "scores");
      const d = up(gpu, dout, "d");
      await exec(gpu, async (p) => {
        await softmaxForward(p, s, R, C);
        await softmaxBackward(p, s, d, R, C, alpha);
      });
      const [gp, gd] = await gpu.read(s, d);
      const probs = ref.softmax(ax, R, C);
      assertClose("probs", gp, probs, FWD_TOL);
      // The kernel's gradient is with respect to the unscaled x of softmax(alpha * x).
      const want = scaled(ref.softmaxBackward(probs, dout, R, C), alpha);
      assertClose("dx", gd, want, BWD_TOL);
      const v = rand(rng, R * C);
      assertContraction(
        "softmax",
        [[gd, v]],
        (h) => dot(ref.softmax(scaled(along(x, v, h), alpha), R, C), dout),
      );
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Patchify

gpuTest(
  "patchPermute() matches patchify/unpatchify in both directions and orders",
  async (gpu, t) => {
    const rng = new Rng(1200);
    const dims = [
      { N: 2, C: 3, H: 4, W: 6, p: 2 },
      { N: 1, C: 4, H: 8, W: 8, p: 4 },
      { N: 2, C: 1, H: 3, W: 5, p: 1 },
      { N: 3, C: 5, H: 6, W: 9, p: 3 },
    ];
    for (const dm of dims) {
      for (const order of ["seed", "conv"] as const) {
        await t.step(`N=${dm.N} C=${dm.C} H=${dm.H} W=${dm.W} p=${dm.p} ${order}`, async () => {
          const { N, C, H, W, p: ps } = dm;
          const n = N * C * H * W;
          const img = rand(rng, n);
          const tok = rand(rng, n);
          const toTokens = gpu.tensor([n], "tokens");
          const toImage = gpu.tensor([n], "image");
          await exec(gpu, async (p) => {
            await patchPermute(p, "tokens", up(gpu, img), toTokens, dm, order);
            await patchPermute(p, "image", up(gpu, tok), toImage, dm, order);
          });
          const [gt, gi] = await gpu.read(toTokens, toImage);
          assertExact("tokens", gt, ref.patchify(img, N, C, H, W, ps, order));
          assertExact("image", gi, ref.patchifyBackward(tok, N, C, H, W, ps, order));
          if (order === "seed") assertExact("unpatchify", gi, ref.unpatchify(tok, N, C, H, W, ps));
          // Each direction is the other's backward: gi = to_image(tok) contracts against patchify
          // (tok as dout), gt = to_tokens(img) against unpatchify (img as dout; seed order only).
          const v = rand(rng, n);
          assertContraction(
            `patchify ${order}`,
            [[gi, v]],
            (h) => dot(ref.patchify(along(img, v, h), N, C, H, W, ps, order), tok),
          );
          if (order === "seed") {
            assertContraction(
              "unpatchify",
              [[gt, v]],
              (h) => dot(ref.unpatchify(along(tok, v, h), N, C, H, W, ps), img),
            );
          }
        });
      }
    }
  },
);

// ---------------------------------------------------------------------------------------------
// Embeddings

/**
 * Absolute tolerance of the timestep features (values in [-1, 1]) against the float64 formula. The
 * kernel rounds the frequency and the argument t * freq to float32 as torch does: a few ulps
 * (~2.4e-7 relative) of an argument up to 999 is ~2.4e-4, and sin/cos pass that on as an absolute
 * error. tests/timestep_features_test.ts checks the kernel against those rounded arguments exactly.
 */
const TIMESTEP_ATOL = 5e-4;

gpuTest("timestepFeatures() matches reference (official and seed variants)", async (gpu, t) => {
  const ts = [0, 1, 17.5, 250, 500.25, 998, 999];
  for (const variant of ["official", "seed"] as const) {
    for (const D of variant === "official" ? [2, 8, 33, 256] : [4, 8, 256]) {
      await t.step(`${variant} D=${D}`, async () => {
        const out = up(gpu, filled(ts.length * D), "features");
        await exec(gpu, (p) => timestepFeatures(p, up(gpu, ts), out, ts.length, D, variant));
        const got = await read1(gpu, out);
        const want = ref.timestepFeatures(ts, ts.length, D, variant);
        let worst = 0;
        for (let i = 0; i < got.length; i++) {
          const e = Math.abs(got[i] - want[i]);
          if (!(e <= worst)) worst = e; // NaN sticks
        }
        log(`timestep ${variant} D=${D} (absolute)`, worst);
        assert.ok(worst <= TIMESTEP_ATOL, `max |gpu - ref| = ${worst} over ${TIMESTEP_ATOL}`);
        if (D % 2) {
          const last = Array.from({ length: ts.length }, (_, n) => got[n * D + D - 1]);
          assertExact("odd D: zero last column", last, last.map(() => 0));
        }
      });
    }
  }
});

gpuTest("embeddingForward/Backward() match reference", async (gpu, t) => {
  const rng = new Rng(1300);
  for (const [rows, D, N] of [[1, 1, 1], [10, 7, 13], [5, 65, 40], [1001, 3, 6]]) {
    await t.step(`rows=${rows} D=${D} N=${N}`, async () => {
      // Repeated ids (accumulating gradients), the first and the last row.
      const ids = Array.from(
        { length: N },
        (_, n) => n === 0 ? rows - 1 : rng.int(Math.min(rows, 4)),
      );
      const table = rand(rng, rows * D);
      const dy = rand(rng, N * D);
      const d0 = rand(rng, rows * D);
      const idsT = upU32(gpu, ids, "ids");
      const [tableT, dyT] = [up(gpu, table), up(gpu, dy)];
      const out = gpu.tensor([N * D], "out");
      const dtable = gpu.tensor([rows * D], "dtable");
      const dacc = up(gpu, d0, "dacc");
      await exec(gpu, async (p) => {
        await embeddingForward(p, tableT, idsT, out, N, rows, D);
        await embeddingBackward(p, dyT, idsT, dtable, N, rows, D);
        await embeddingBackward(p, dyT, idsT, dacc, N, rows, D, true);
      });
      const [gout, gdt, gacc] = await gpu.read(out, dtable, dacc);
      assertExact("rows", gout, ref.embedding(table, ids, D));
      const want = ref.embeddingBackward(ids, dy, rows, D);
      assertClose("dtable", gdt, want, BWD_TOL);
      assertClose("dtable (accumulated)", gacc, plus(d0, want), BWD_TOL);
      const v = rand(rng, rows * D);
      assertContraction(
        "embedding",
        [[gdt, v]],
        (h) => dot(ref.embedding(along(table, v, h), ids, D), dy),
      );
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Depthwise convolution

for (const family of FAMILIES) {
  gpuTest(
    `dwconvForward/Backward() match reference (2-D k=3, k=4, 1-D, chunked weight gradients; ${family} kernels)`,
    async (gpu, t) => {
      const rng = new Rng(1400);
      const cases = [
        // The kernels read 4 channels at a time: C is a multiple of 4.
        { name: "2-D k=3 pad 1", N: 2, H: 5, W: 6, C: 8, k: 3, pad: 1, oneD: false },
        { name: "2-D k=4 pad 1+2", N: 2, H: 4, W: 7, C: 4, k: 4, pad: 1, oneD: false },
        { name: "2-D k=3 on 1x1", N: 3, H: 1, W: 1, C: 12, k: 3, pad: 1, oneD: false },
        // A grid narrower and shorter than the kernel: every output sees padding on both sides.
        { name: "2-D k=4 on 2x3", N: 2, H: 2, W: 3, C: 8, k: 4, pad: 1, oneD: false },
        { name: "1-D k=3 pad 1", N: 2, H: 1, W: 9, C: 4, k: 3, pad: 1, oneD: true },
        { name: "1-D k=4 pad 1+2", N: 3, H: 1, W: 11, C: 68, k: 4, pad: 1, oneD: true },
        // Weight gradients in chunks of 16 sample rows (N*H = 35: two full chunks and a part; a
        // chunk boundary inside a sample; 1-D: 20 sequences).
        { name: "2-D k=3, 3 row chunks", N: 5, H: 7, W: 3, C: 8, k: 3, pad: 1, oneD: false },
        { name: "1-D k=3, 2 row chunks", N: 20, H: 1, W: 5, C: 4, k: 3, pad: 1, oneD: true },
        // C a multiple of 64: texture adapters read the input through a texture copy.
        { name: "2-D k=3 pad 1", N: 3, H: 5, W: 6, C: 64, k: 3, pad: 1, oneD: false },
        { name: "2-D k=4 pad 1+2", N: 2, H: 4, W: 7, C: 128, k: 4, pad: 1, oneD: false },
        { name: "1-D k=3, 2 row chunks", N: 20, H: 1, W: 5, C: 64, k: 3, pad: 1, oneD: true },
        // More samples than texture layers: buffers again.
        {
          name: "1-D k=3, past the layer limit",
          N: gpu.device.limits.maxTextureArrayLayers + 1,
          H: 1,
          W: 3,
          C: 64,
          k: 3,
          pad: 1,
          oneD: true,
        },
      ];
      for (const cs of cases) {
        await t.step(`${cs.name} N=${cs.N} H=${cs.H} W=${cs.W} C=${cs.C}`, async () => {
          const { N, H, W, C, k, pad, oneD } = cs;
          const g: DwGeom = oneD
            ? { N, H: 1, W, C, KH: 1, KW: k, padT: 0, padL: pad }
            : { N, H, W, C, KH: k, KW: k, padT: pad, padL: pad };
          const n = N * H * W * C;
          const nw = C * g.KH * g.KW;
          const [x, w, b, dy] = [rand(rng, n), rand(rng, nw), rand(rng, C), rand(rng, n)];
          const [dx0, dw0, db0] = [rand(rng, n), rand(rng, nw), rand(rng, C)];
          const [xT, wT, bT, dyT] = [up(gpu, x), up(gpu, w), up(gpu, b), up(gpu, dy)];
          assert.equal(
            canCopyRows(gpu, xT, N, g.H * g.W, C),
            family === "texture" && C % 64 === 0 && N <= gpu.device.limits.maxTextureArrayLayers,
            "test bug: the input path is not the one this case is for",
          );
          const y = gpu.tensor([n], "y");
          const [dx, dw, db] = [
            gpu.tensor([n], "dx"),
            gpu.tensor([nw], "dw"),
            gpu.tensor([C], "db"),
          ];
          const [dxA, dwA, dbA] = [up(gpu, dx0, "dxA"), up(gpu, dw0, "dwA"), up(gpu, db0, "dbA")];
          await exec(gpu, async (p) => {
            await dwconvForward(p, g, xT, wT, bT, y);
            await dwconvBackward(p, g, xT, wT, dyT, dx, dw, db);
            await dwconvBackward(p, g, xT, wT, dyT, dxA, dwA, dbA, true);
          });
          const [gy, gdx, gdw, gdb, gdxA, gdwA, gdbA] = await gpu.read(
            y,
            dx,
            dw,
            db,
            dxA,
            dwA,
            dbA,
          );
          const fwd = (xx: ArrayLike<number>, ww: ArrayLike<number>, bb: ArrayLike<number>) =>
            oneD
              ? ref.dwconv1d(xx, ww, bb, N, W, C, k, pad)
              : ref.dwconv2d(xx, ww, bb, N, H, W, C, k, pad);
          const r = oneD
            ? ref.dwconv1dBackward(x, w, dy, N, W, C, k, pad)
            : ref.dwconv2dBackward(x, w, dy, N, H, W, C, k, pad);
          assertClose("y", gy, fwd(x, w, b), FWD_TOL);
          assertClose("dx", gdx, r.dx, BWD_TOL);
          assertClose("dw", gdw, r.dw, BWD_TOL);
          assertClose("db", gdb, r.db, BWD_TOL);
          // accumulate applies to the weight gradients only; dx is always overwritten.
          assertClose("dx (overwritten when accumulating weights)", gdxA, r.dx, BWD_TOL);
          assertClose("dw (accumulated)", gdwA, plus(dw0, r.dw), BWD_TOL);
          assertClose("db (accumulated)", gdbA, plus(db0, r.db), BWD_TOL);
          const [vx, vw, vb] = [rand(rng, n), rand(rng, nw), rand(rng, C)];
          assertContraction(
            "dwconv",
            [[gdx, vx], [gdw, vw], [gdb, vb]],
            (h) => dot(fwd(along(x, vx, h), along(w, vw, h), along(b, vb, h)), dy),
          );
        });
      }
    },
    { matmul: family },
  );
}

// ---------------------------------------------------------------------------------------------
// MSE loss

gpuTest("mseForward/Backward() match reference (including Cp = 2 Ct)", async (gpu, t) => {
  const rng = new Rng(1500);
  const geoms: MseGeom[] = [
    { N: 1, Cp: 1, Ct: 1, HW: 1 },
    { N: 2, Cp: 3, Ct: 3, HW: 17 },
    { N: 3, Cp: 8, Ct: 4, HW: 65 },
    { N: 2, Cp: 4, Ct: 2, HW: 300 },
  ];
  for (const g of geoms) {
    await t.step(`N=${g.N} Cp=${g.Cp} Ct=${g.Ct} HW=${g.HW}`, async () => {
      const { N, Cp, Ct, HW } = g;
      const pred = rand(rng, N * Cp * HW, 2);
      const target = rand(rng, N * Ct * HW);
      const slot = 2;
      const scale = 0.5;
      const [predT, targetT] = [up(gpu, pred), up(gpu, target)];
      const loss = up(gpu, filled(4), "loss");
      const dpred = up(gpu, filled(pred.length), "dpred");
      await exec(gpu, async (p) => {
        await mseForward(p, g, predT, targetT, loss, slot);
        await mseBackward(p, g, predT, targetT, dpred, scale);
      });
      const [gl, gd] = await gpu.read(loss, dpred);
      const want = ref.mseLossChannels(pred, target, N, Cp, Ct, HW);
      assertClose("loss", [gl[slot]], [want], FWD_TOL);
      assertExact("other loss slots", [gl[0], gl[1], gl[3]], [SENTINEL, SENTINEL, SENTINEL]);
      const wantD = scaled(ref.mseLossChannelsBackward(pred, target, N, Cp, Ct, HW), scale);
      assertClose("dpred", gd, wantD, BWD_TOL);
      const sigma = Array.from(gd).filter((_, i) => Math.floor(i / HW) % Cp >= Ct);
      assertExact("dpred of the sigma channels", sigma, sigma.map(() => 0));
      const v = rand(rng, pred.length);
      assertContraction(
        "mse",
        [[gd, v]],
        (h) => scale * ref.mseLossChannels(along(pred, v, h), target, N, Cp, Ct, HW),
      );
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Optimizer kernels (kernels/optim.wgsl; no TS launcher yet, so dispatched here)

interface OptimParams {
  count?: number;
  slot?: number;
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  step?: number;
  maxNorm?: number;
  decay?: number;
}

/**
 * Records one optim.wgsl entry point over `n` elements, a multiple of 4 (the kernels work on vec4s;
 * `count` workgroups for sumsq_partial, one for sumsq_final), through the kernel's record.
 */
async function optim(
  p: Program,
  entry: "sumsq_partial" | "sumsq_final" | "adamw" | "ema",
  n: number,
  res: { p: Tensor; g: Tensor; m: Tensor; v: Tensor; normsq: Tensor },
  o: OptimParams = {},
): Promise<void> {
  const { count = 1, slot = 0, lr = 0, beta1 = 0.9, beta2 = 0.999, eps = 1e-8 } = o;
  const step = o.step ?? 1;
  assert.equal(n % 4, 0, "test bug: optim sizes are multiples of 4");
  const invocations = entry === "sumsq_partial" ? count * 256 : entry === "sumsq_final" ? 1 : n / 4;
  const { wg, stride } = grid(p.gpu, invocations, 256);
  await dispatch(p, OPTIM, {
    entry,
    bind: res,
    uniforms: {
      n: n / 4,
      stride,
      count,
      slot,
      lr,
      beta1,
      beta2,
      eps,
      weightDecay: o.weightDecay ?? 0,
      bc1: 1 - beta1 ** step,
      bc2: 1 - beta2 ** step,
      maxNorm: o.maxNorm ?? 0,
      decay: o.decay ?? 0,
    },
    workgroups: wg,
  });
}

gpuTest("optim.wgsl sumsq_partial + sumsq_final match globalNorm^2", async (gpu, t) => {
  const rng = new Rng(1600);
  for (const [sizes, counts] of [[[4], [1]], [[1000, 76], [4, 1]], [[5000], [300]]]) {
    await t.step(`sizes [${sizes}] in [${counts}] workgroups`, async () => {
      const grads = sizes.map((n) => rand(rng, n));
      const normsq = up(gpu, [0.5, 0.25, 0.125], "normsq");
      const partials = gpu.tensor([4 * 256 * Math.max(...counts)], "partials");
      const dummy = () => gpu.tensor([4], "unused");
      await exec(gpu, async (p) => {
        for (let i = 0; i < grads.length; i++) {
          const res = { p: dummy(), g: up(gpu, grads[i]), m: partials, v: dummy(), normsq };
          await optim(p, "sumsq_partial", sizes[i], res, { count: counts[i] });
          await optim(p, "sumsq_final", sizes[i], res, { count: counts[i], slot: 1 });
        }
      });
      const got = await read1(gpu, normsq);
      const want = 0.25 + ref.globalNorm(grads) ** 2; // sumsq_final adds into its slot
      assertClose("normsq[1]", [got[1]], [want], FWD_TOL);
      assertExact("other slots", [got[0], got[2]], [0.5, 0.125]);
    });
  }
});

gpuTest("optim.wgsl adamw matches adamwStep over 3 steps", async (gpu, t) => {
  // The kernel gets its hyperparameters as float32 uniforms, so the reference runs with the same
  // float32-rounded values (1 - 0.999 and 1 - fround(0.999) differ by 1.3e-5 relative).
  const opts = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05 };
  for (const k of Object.keys(opts) as (keyof typeof opts)[]) opts[k] = Math.fround(opts[k]);
  for (const clip of [false, true]) {
    await t.step(clip ? "clipped by the GPU gradient norm" : "no clipping", async () => {
      const rng = new Rng(clip ? 1701 : 1700);
      const sizes = [1000, 76];
      const params = sizes.map((n) => Float64Array.from(rand(rng, n)));
      const ms = sizes.map((n) => new Float64Array(n));
      const vs = sizes.map((n) => new Float64Array(n));
      const pT = params.map((x) => up(gpu, x, "p"));
      const mT = sizes.map((n) => gpu.tensor([n], "m"));
      const vT = sizes.map((n) => gpu.tensor([n], "v"));
      const gT = sizes.map((n) => gpu.tensor([n], "g"));
      const normsq = gpu.tensor([1], "normsq");
      const partials = gpu.tensor([4 * 256 * 8], "partials");
      const p0 = params.map((x) => Float64Array.from(x));
      for (let step = 1; step <= 3; step++) {
        const grads = sizes.map((n) => rand(rng, n, step));
        grads.forEach((g, i) => gpu.write(gT[i], g));
        const norm = ref.globalNorm(grads);
        const maxNorm = clip ? 0.5 * norm : 0; // clipping active: scale about 0.5
        const scale = clip ? ref.clipScale(norm, maxNorm) : 1;
        for (let i = 0; i < sizes.length; i++) {
          ref.adamwStep(params[i], scaled(grads[i], scale), ms[i], vs[i], step, opts);
        }
        await exec(gpu, async (p) => {
          p.clear(normsq);
          for (let i = 0; i < sizes.length; i++) {
            const res = { p: pT[i], g: gT[i], m: partials, v: vT[i], normsq };
            await optim(p, "sumsq_partial", sizes[i], res, { count: 8 });
            await optim(p, "sumsq_final", sizes[i], res, { count: 8 });
          }
          for (let i = 0; i < sizes.length; i++) {
            const res = { p: pT[i], g: gT[i], m: mT[i], v: vT[i], normsq };
            await optim(p, "adamw", sizes[i], res, { ...opts, step, maxNorm });
          }
        });
        const [gn] = await gpu.read(normsq);
        assertClose(`step ${step} normsq`, gn, [norm * norm], FWD_TOL);
      }
      for (let i = 0; i < sizes.length; i++) {
        const [gp, gm, gv] = await gpu.read(pT[i], mT[i], vT[i]);
        assertClose(`param ${i}`, gp, params[i], FWD_TOL);
        // The update itself (3 steps of ~lr) relative to its own size; float32 rounding of the
        // parameter (~6e-8 of |p| ~ 1) bounds this near 1e-5 of an update of ~3e-2.
        assertClose(`update ${i}`, minus(gp, p0[i]), minus(params[i], p0[i]), 1e-4);
        assertClose(`m ${i}`, gm, ms[i], FWD_TOL);
        assertClose(`v ${i}`, gv, vs[i], FWD_TOL);
      }
    });
  }
});

gpuTest("optim.wgsl ema matches emaUpdate over 3 steps", async (gpu) => {
  const rng = new Rng(1800);
  const n = 1000;
  const decay = 0.9;
  const ema = Float64Array.from(rand(rng, n));
  const emaT = up(gpu, ema, "ema");
  const paramT = gpu.tensor([n], "param");
  const dummy = () => gpu.tensor([4], "unused");
  for (let step = 0; step < 3; step++) {
    const param = rand(rng, n);
    gpu.write(paramT, param);
    ref.emaUpdate(ema, param, decay);
    await exec(
      gpu,
      (p) =>
        optim(p, "ema", n, { p: emaT, g: paramT, m: dummy(), v: dummy(), normsq: dummy() }, {
          decay,
        }),
    );
  }
  assertClose("ema", await read1(gpu, emaT), ema, FWD_TOL);
});

// ---------------------------------------------------------------------------------------------
// Pipeline-overridable constants

gpuTest("override constants reach the shader", async (gpu, t) => {
  await t.step("bool: elementwise ACCUMULATE", async () => {
    const a = up(gpu, [1, 2, 3]);
    const b = up(gpu, [10, 20, 30]);
    const plain = up(gpu, [100, 100, 100]);
    const acc = up(gpu, [100, 100, 100]);
    await exec(gpu, async (p) => {
      await add(p, a, b, plain, false);
      await add(p, a, b, acc, true);
    });
    const [gp, ga] = await gpu.read(plain, acc);
    assertExact("ACCUMULATE 0", gp, [11, 22, 33]);
    assertExact("ACCUMULATE 1", ga, [111, 122, 133]);
    const k0 = await gpu.kernel("elementwise", { ACCUMULATE: 0 }, "add");
    const k1 = await gpu.kernel("elementwise", { ACCUMULATE: 1 }, "add");
    assert.notEqual(k0.pipeline, k1.pipeline, "one pipeline per constant value");
  });
  await t.step("u32: patchify ORDER", async () => {
    // One 2x2 patch of 2 channels: ORDER 0 puts channels fastest, ORDER 1 pixels fastest.
    const img = up(gpu, [0, 1, 2, 3, 4, 5, 6, 7]);
    const dims = { N: 1, C: 2, H: 2, W: 2, p: 2 };
    const seed = gpu.tensor([8], "seed");
    const conv = gpu.tensor([8], "conv");
    await exec(gpu, async (p) => {
      await patchPermute(p, "tokens", img, seed, dims, "seed");
      await patchPermute(p, "tokens", img, conv, dims, "conv");
    });
    const [gs, gc] = await gpu.read(seed, conv);
    assertExact("ORDER 0", gs, [0, 4, 1, 5, 2, 6, 3, 7]);
    assertExact("ORDER 1", gc, [0, 1, 2, 3, 4, 5, 6, 7]);
  });
});
