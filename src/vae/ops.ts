/**
 * Launchers of the VAE kernels (kernels/vae_*.wgsl) on NHWC activations: im2col and operand
 * packing, GroupNorm (+SiLU), SiLU, residual add, nearest 2x upsampling, the attention softmax and
 * the posterior. Every launcher only records dispatches into a program; tensors larger than the
 * binding limit are processed in bands so that no binding exceeds `mem.limits.bindBytes`.
 */
import { f32, type Program, type Tensor } from "../gpu/gpu.ts";
import { grid } from "../ops/_launch.ts";
import { PackedMatrix } from "../ops/matmul.ts";
import { bindRange, type VaeMemory } from "./memory.ts";

/** A recording context: the program and the VAE's memory. */
export interface Rec {
  p: Program;
  mem: VaeMemory;
}

/** An NHWC activation: `t` holds [N, H, W, C] (offset 0, from the pool or persistent). */
export interface Act {
  t: Tensor;
  N: number;
  H: number;
  W: number;
  C: number;
}

/** Whether packed operands are textures (CPU adapters) or buffers. */
export function usesTextures(rec: Rec): boolean {
  return rec.p.gpu.info.matmul === "texture";
}

/** A packed matmul operand and how to give its scratch memory back. */
export interface Operand {
  op: PackedMatrix;
  /** returns pooled scratch to the pool (after the consuming matmul is recorded) */
  release(): void;
}

/** Geometry of an im2col: the source image, the output grid and the convolution. */
export interface PatchGeom {
  /** source [N, H, W, Cin] (pixel stride `ld` elements, channel 0 at `colOff`) */
  N: number;
  H: number;
  W: number;
  Cin: number;
  ld: number;
  colOff: number;
  /** output grid */
  Ho: number;
  Wo: number;
  /** kernel size (1 or 3), stride, top/left zero padding */
  ks: number;
  stride: number;
  pad: number;
  /** read the nearest 2x upsampling of the source */
  up: boolean;
}

/** Elements [start, end) of the source that output rows [r0, r0 + rows) of an im2col read. */
export function patchSpan(g: PatchGeom, r0: number, rows: number): [number, number] {
  const hw = g.Ho * g.Wo;
  const sh = g.up ? 1 : 0;
  const Hv = g.H << sh;
  const srcRow = (r: number, last: boolean) => {
    const n = Math.floor(r / hw);
    const oy = Math.floor((r % hw) / g.Wo);
    const vy = oy * g.stride - g.pad + (last ? g.ks - 1 : 0);
    return n * g.H + (Math.min(Hv - 1, Math.max(0, vy)) >> sh);
  };
  const first = srcRow(r0, false) * g.W;
  const last = srcRow(r0 + rows - 1, true) * g.W + g.W - 1;
  return [first * g.ld + g.colOff, last * g.ld + g.colOff + g.Cin];
}

/** Texels per packed row of a K-wide operand. */
export const texels = (K: number): number => Math.ceil(K / 4);

/**
 * Packs output rows [r0, r0 + rows) of the patch matrix of `src` (see kernels/vae_im2col.wgsl)
 * into an operand of rows x 4*ceil(K/4) (K = ks*ks*Cin, zero padded): a pooled texture of `slot`
 * on CPU adapters, a pooled buffer elsewhere.
 */
export async function im2col(
  rec: Rec,
  src: Tensor,
  g: PatchGeom,
  r0: number,
  rows: number,
  slot = "a",
): Promise<Operand> {
  const { p, mem } = rec;
  const gpu = p.gpu;
  const K = g.ks * g.ks * g.Cin;
  const K4 = texels(K);
  const [s0, s1] = patchSpan(g, r0, rows);
  const vec4 = g.Cin % 4 === 0 && g.ld % 4 === 0 && g.colOff % 4 === 0;
  const xb = bindRange(gpu, src, s0, s1 - s0, vec4);
  const params = gpu.uniform([
    g.H,
    g.W,
    g.Cin,
    g.ld,
    g.Ho,
    g.Wo,
    g.stride,
    g.pad,
    g.ks,
    g.up ? 1 : 0,
    r0,
    rows,
    K,
    K4,
    xb.base,
    g.colOff,
    0,
    0,
    0,
    0,
  ], "vae_im2col");
  const tex = usesTextures(rec);
  const kernel = await gpu.kernel(
    "vae_im2col",
    { VEC4: vec4 ? 1 : 0 },
    tex ? "im2col_tex" : "im2col_buf",
  );
  const wg: [number, number] = [Math.ceil(K4 / 64), rows];
  if (tex) {
    const t = mem.packTexture(slot, K4, rows);
    p.dispatch(kernel, [
      xb.binding,
      xb.binding,
      t.createView({ dimension: "2d-array" }),
      gpu.sink(),
      { buffer: params },
    ], wg);
    return { op: new PackedMatrix(t, rows, 4 * K4, { t: src, ld: 4 * K4 }, false), release() {} };
  }
  const out = mem.acquire(rows * 4 * K4, "patches");
  p.dispatch(kernel, [
    xb.binding,
    xb.binding,
    mem.dummyTexture().createView({ dimension: "2d-array" }),
    out,
    { buffer: params },
  ], wg);
  return {
    op: new PackedMatrix(null, rows, 4 * K4, { t: out, ld: 4 * K4 }, false),
    release: () => mem.release(out),
  };
}

/**
 * The operand rows [r0, r0 + rows) x cols of the row-major view (`ld`, `colOff`) of `src`: packed
 * into a texture on CPU adapters (cols padded to a multiple of 4), the view itself elsewhere when
 * cols and the view are 4-aligned (else packed into a padded buffer).
 */
export async function packRows(
  rec: Rec,
  src: Tensor,
  r0: number,
  rows: number,
  cols: number,
  ld: number,
  colOff: number,
  slot = "a",
): Promise<Operand> {
  if (!usesTextures(rec) && cols % 4 === 0) {
    const view = { t: src, ld, off: r0 * ld + colOff };
    return { op: new PackedMatrix(null, rows, cols, view, false), release() {} };
  }
  const g: PatchGeom = {
    N: 1,
    H: r0 + rows,
    W: 1,
    Cin: cols,
    ld,
    colOff,
    Ho: r0 + rows,
    Wo: 1,
    ks: 1,
    stride: 1,
    pad: 0,
    up: false,
  };
  return await im2col(rec, src, g, r0, rows, slot);
}

/**
 * The transposed operand of a [rows, cols] row-major view (`ld`, `colOff`) starting at row `r0`:
 * an operand of cols x rows (B = V^T for P V). A texture on CPU adapters (packed in bands of
 * source rows), the transposed view elsewhere.
 */
export async function packTransposed(
  rec: Rec,
  src: Tensor,
  r0: number,
  rows: number,
  cols: number,
  ld: number,
  colOff: number,
  slot = "v",
): Promise<PackedMatrix> {
  if (!usesTextures(rec)) {
    return new PackedMatrix(null, cols, rows, { t: src, ld, off: r0 * ld + colOff }, true);
  }
  const { p, mem } = rec;
  const gpu = p.gpu;
  const width = texels(rows);
  const tex = mem.packTexture(slot, width, cols);
  const kernel = await gpu.kernel("vae_im2col", { VEC4: 0 }, "pack_t_tex");
  // Texels per dispatch so that the 4*n source rows stay within the binding limit.
  const perBand = Math.max(1, Math.floor(mem.limits.bindBytes / (4 * ld * 4)));
  for (let kx0 = 0; kx0 < width; kx0 += perBand) {
    const n = Math.min(perBand, width - kx0);
    const first = r0 + 4 * kx0;
    const last = Math.min(r0 + rows, first + 4 * n) - 1;
    const xb = bindRange(gpu, src, first * ld + colOff, (last - first) * ld + cols);
    const params = gpu.uniform([
      rows,
      1,
      cols,
      ld,
      0,
      0,
      0,
      0,
      0,
      0,
      r0,
      0,
      0,
      n,
      xb.base,
      colOff,
      kx0,
      0,
      0,
      0,
    ], "vae_pack_t");
    p.dispatch(kernel, [
      xb.binding,
      xb.binding,
      tex.createView({ dimension: "2d-array" }),
      gpu.sink(),
      { buffer: params },
    ], [Math.ceil(n / 64), cols]);
  }
  return new PackedMatrix(tex, cols, rows, { t: src, ld }, false);
}

/** Per-channel affine parameters of a GroupNorm. */
export interface NormWeights {
  /** [C] */
  gamma: Tensor;
  /** [C] */
  beta: Tensor;
}

/**
 * y = GroupNorm(x) (G groups, eps, affine), then SiLU when `silu`. x: [N, H, W, C] (C % 4 == 0),
 * y: a tensor of the same size (not aliasing x).
 */
export async function groupNorm(
  rec: Rec,
  x: Act,
  norm: NormWeights,
  G: number,
  y: Tensor,
  silu: boolean,
  eps: number,
): Promise<void> {
  const { p, mem } = rec;
  const gpu = p.gpu;
  const { N, C } = x;
  const P = x.H * x.W;
  if (C % 4 !== 0) throw new Error(`GroupNorm needs channels divisible by 4, got ${C}`);
  if (C % G !== 0) throw new Error(`GroupNorm: ${C} channels are not divisible by ${G} groups`);
  if (y.size < N * P * C) throw new Error(`GroupNorm output [${y.shape}] is too small`);
  const rowsPerBand = Math.max(1, Math.floor(mem.limits.bindBytes / (C * 4)));
  const BP = Math.min(rowsPerBand, Math.max(1, Math.ceil(P / 256)));
  const NB = Math.ceil(P / BP);
  const part = mem.acquire(N * NB * C, "gn-partial");
  const stats = mem.acquire(N * G * 2, "gn-stats");
  const blocksPerBand = Math.max(1, Math.floor(rowsPerBand / BP));
  const kPartial = await gpu.kernel("vae_groupnorm", {}, "gn_partial");
  const kStats = await gpu.kernel("vae_groupnorm", {}, "gn_stats");
  const kApply = await gpu.kernel("vae_groupnorm", { SILU: silu ? 1 : 0 }, "gn_apply");
  const params = (o: {
    fb0?: number;
    nfb?: number;
    phase?: number;
    r0?: number;
    rows?: number;
    bx?: number;
    by?: number;
    stride: number;
  }) =>
    gpu.uniform([
      P,
      C,
      G,
      NB,
      BP,
      o.fb0 ?? 0,
      o.nfb ?? 0,
      o.phase ?? 0,
      o.r0 ?? 0,
      o.rows ?? 0,
      o.bx ?? 0,
      o.by ?? 0,
      N,
      o.stride,
      0,
      0,
      f32(eps),
      f32(0),
      f32(0),
      f32(0),
    ], "vae_groupnorm");
  const flat = N * NB;
  const rowOf = (fb: number) => Math.floor(fb / NB) * P + Math.min(P, (fb % NB) * BP);
  for (const phase of [0, 1]) {
    for (let fb0 = 0; fb0 < flat; fb0 += blocksPerBand) {
      const nfb = Math.min(blocksPerBand, flat - fb0);
      const first = rowOf(fb0);
      const last = Math.floor((fb0 + nfb - 1) / NB) * P +
        Math.min(P, ((fb0 + nfb - 1) % NB + 1) * BP);
      const xb = bindRange(gpu, x.t, first * C, (last - first) * C, true);
      const g = grid(gpu, nfb * C / 4, 64);
      const u = params({ fb0, nfb, phase, bx: xb.base / 4, stride: g.stride });
      p.dispatch(kPartial, [xb.binding, norm.gamma, norm.beta, part, stats, gpu.sink(), {
        buffer: u,
      }], g.wg);
    }
    const g = grid(gpu, N * G, 64);
    p.dispatch(kStats, [
      gpu.dummyU32(),
      norm.gamma,
      norm.beta,
      part,
      stats,
      gpu.sink(),
      { buffer: params({ phase, stride: g.stride }) },
    ], g.wg);
  }
  for (let r0 = 0; r0 < N * P; r0 += rowsPerBand) {
    const rows = Math.min(rowsPerBand, N * P - r0);
    const xb = bindRange(gpu, x.t, r0 * C, rows * C, true);
    const yb = bindRange(gpu, y, r0 * C, rows * C, true);
    const g = grid(gpu, rows * C / 4, 64);
    const u = params({ r0, rows, bx: xb.base / 4, by: yb.base / 4, stride: g.stride });
    p.dispatch(kApply, [xb.binding, norm.gamma, norm.beta, part, stats, yb.binding, {
      buffer: u,
    }], g.wg);
  }
  mem.release(part, stats);
}

/** Records one elementwise entry over [0, n) units in bands; `bind` makes each band's bindings. */
async function elementwise(
  rec: Rec,
  entry: "silu" | "add" | "upsample2x",
  n: number,
  unitBytes: number,
  vec4: boolean,
  bind: (i0: number, count: number) => {
    x?: { binding: GPUBufferBinding; base: number };
    y: { binding: GPUBufferBinding; base: number };
  },
  dims: [number, number, number] = [0, 0, 0],
): Promise<void> {
  const { p, mem } = rec;
  const gpu = p.gpu;
  const kernel = await gpu.kernel("vae_elementwise", { VEC4: vec4 ? 1 : 0 }, entry);
  const per = Math.max(1, Math.floor(mem.limits.bindBytes / unitBytes));
  for (let i0 = 0; i0 < n; i0 += per) {
    const count = Math.min(per, n - i0);
    const b = bind(i0, count);
    const g = grid(gpu, count, 64);
    const div = vec4 ? 4 : 1;
    const u = gpu.uniform([
      i0,
      count,
      g.stride,
      (b.x?.base ?? 0) / div,
      b.y.base / div,
      ...dims,
    ], `vae_${entry}`);
    const x = b.x?.binding ?? gpu.dummyU32();
    const sink = gpu.sink();
    p.dispatch(kernel, [
      x,
      x,
      vec4 ? sink : b.y.binding,
      vec4 ? b.y.binding : sink,
      { buffer: u },
    ], g.wg);
  }
}

/** y = y * sigmoid(y) in place over the first `count` elements (count % 4 == 0). */
export async function silu(rec: Rec, y: Tensor, count = y.size): Promise<void> {
  if (count % 4 !== 0) throw new Error(`SiLU needs a multiple of 4 elements, got ${count}`);
  const gpu = rec.p.gpu;
  await elementwise(rec, "silu", count / 4, 16, true, (i0, n) => ({
    y: bindRange(gpu, y, 4 * i0, 4 * n, true),
  }));
}

/** y += x over the first `count` elements (count % 4 == 0): the residual add. */
export async function addInPlace(rec: Rec, y: Tensor, x: Tensor, count = y.size): Promise<void> {
  if (count % 4 !== 0) throw new Error(`Add needs a multiple of 4 elements, got ${count}`);
  const gpu = rec.p.gpu;
  await elementwise(rec, "add", count / 4, 16, true, (i0, n) => ({
    x: bindRange(gpu, x, 4 * i0, 4 * n, true),
    y: bindRange(gpu, y, 4 * i0, 4 * n, true),
  }));
}

/** y [N, 2H, 2W, C] = nearest 2x upsampling of x [N, H, W, C]. */
export async function upsample2x(rec: Rec, x: Act, y: Tensor): Promise<void> {
  const { N, H, W, C } = x;
  if (y.size < N * 4 * H * W * C) throw new Error(`Upsample output [${y.shape}] is too small`);
  const gpu = rec.p.gpu;
  const vec4 = C % 4 === 0;
  const u = vec4 ? 4 : 1;
  const Cu = C / u; // units per pixel
  await elementwise(rec, "upsample2x", N * 4 * H * W * Cu, 4 * u, vec4, (i0, n) => {
    const pix0 = Math.floor(i0 / Cu);
    const pix1 = Math.floor((i0 + n - 1) / Cu);
    const srcRow = (pix: number) =>
      Math.floor(pix / (2 * W * 2 * H)) * H +
      Math.floor(Math.floor(pix / (2 * W)) % (2 * H) / 2);
    const s0 = srcRow(pix0) * W * C;
    const s1 = (srcRow(pix1) + 1) * W * C;
    return {
      x: bindRange(gpu, x.t, s0, s1 - s0, vec4),
      y: bindRange(gpu, y, i0 * u, n * u, vec4),
    };
  }, [H, W, Cu]);
}

/**
 * Row softmax of scores s [R, T] (whole tensor bound): into a pooled texture of slot "p" (the A
 * operand of P V) on CPU adapters, in place elsewhere. Returns the probabilities as an operand.
 */
export async function softmaxRows(
  rec: Rec,
  s: Tensor,
  R: number,
  T: number,
): Promise<PackedMatrix> {
  const { p, mem } = rec;
  const gpu = p.gpu;
  const tex = usesTextures(rec);
  const kernel = await gpu.kernel("vae_softmax", {}, tex ? "softmax_tex" : "softmax_buf");
  const g = grid(gpu, R, 64);
  const u = gpu.uniform([R, T, g.stride, 0], "vae_softmax");
  const view = s.slice(0, [R * T]);
  if (tex) {
    const t = mem.packTexture("p", texels(T), R);
    p.dispatch(kernel, [view, gpu.sink(), t.createView({ dimension: "2d-array" }), {
      buffer: u,
    }], g.wg);
    return new PackedMatrix(t, R, T, { t: s, ld: T }, false);
  }
  p.dispatch(kernel, [
    gpu.dummyU32(),
    view,
    mem.dummyTexture().createView({ dimension: "2d-array" }),
    { buffer: u },
  ], g.wg);
  return new PackedMatrix(null, R, T, { t: s, ld: T }, false);
}

/**
 * The posterior from moments [N, h, w, 2L] (NHWC): out [4, N, L, h*w] (NCHW planes mean, logvar
 * clamped to [-30, 20], std, z = ((mean + std * noise) - shift) * scale). Without noise z uses the
 * mean. noise: [N, L, h*w] or null.
 */
export async function posterior(
  rec: Rec,
  moments: Act,
  noise: Tensor | null,
  out: Tensor,
  scale: number,
  shift: number,
): Promise<void> {
  const { p } = rec;
  const gpu = p.gpu;
  const L = moments.C / 2;
  const HW = moments.H * moments.W;
  const total = moments.N * L * HW;
  if (out.size < 4 * total) throw new Error(`Posterior output [${out.shape}] is too small`);
  const kernel = await gpu.kernel("vae_posterior", { HAS_NOISE: noise ? 1 : 0 }, "posterior");
  const g = grid(gpu, total, 64);
  const u = gpu.uniform(
    [moments.N, L, HW, g.stride, f32(scale), f32(shift), f32(0), f32(0)],
    "vae_posterior",
  );
  p.dispatch(kernel, [
    moments.t.slice(0, [moments.N * HW * 2 * L]),
    noise ?? gpu.dummyU32(),
    out.slice(0, [4 * total]),
    { buffer: u },
  ], g.wg);
}
