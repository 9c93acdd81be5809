/**
 * GroupNorm (+SiLU) on NHWC activations (kernels/vae_groupnorm.wgsl): two-pass statistics over
 * blocks of pixels, a per-(image, channel) affine table, then one banded apply pass.
 */
import { f32, type Tensor } from "../gpu/gpu.ts";
import { grid } from "../ops/_launch.ts";
import { bindRange } from "./memory.ts";
import type { Act, Rec } from "./types.ts";

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
  const BP = Math.min(rowsPerBand, Math.max(1, Math.ceil(P / 64)));
  const NB = Math.ceil(P / BP);
  const part = mem.acquire(N * NB * C, "gn-partial");
  const stats = mem.acquire(N * G * 2, "gn-stats");
  const aff = mem.acquire(2 * N * C, "gn-affine");
  const blocksPerBand = Math.max(1, Math.floor(rowsPerBand / BP));
  const c4 = { C4: C / 4 };
  const kPartial = await gpu.kernel("vae_groupnorm", c4, "gn_partial");
  const kStats = await gpu.kernel("vae_groupnorm", c4, "gn_stats");
  const kAffine = await gpu.kernel("vae_groupnorm", c4, "gn_affine");
  const kApply = await gpu.kernel("vae_groupnorm", { ...c4, SILU: silu ? 1 : 0 }, "gn_apply");
  const params = (o: {
    fb0?: number;
    nfb?: number;
    phase?: number;
    r0?: number;
    rows?: number;
    bx?: number;
    by?: number;
    n?: number;
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
      o.n ?? 0,
      0,
      f32(eps),
      f32(0),
      f32(0),
      f32(0),
    ], "vae_groupnorm");
  const [sink, none] = [gpu.sink(), gpu.dummyU32()];
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
      p.dispatch(
        kPartial,
        [xb.binding, norm.gamma, norm.beta, part, stats, sink, sink, none, { buffer: u }],
        g.wg,
      );
    }
    const g = grid(gpu, N * G, 64);
    const u = params({ phase, stride: g.stride });
    p.dispatch(
      kStats,
      [none, norm.gamma, norm.beta, part, stats, sink, sink, none, { buffer: u }],
      g.wg,
    );
  }
  const ga = grid(gpu, N * C, 64);
  p.dispatch(kAffine, [none, norm.gamma, norm.beta, sink, stats, sink, aff, none, {
    buffer: params({ stride: ga.stride }),
  }], ga.wg);
  const table = aff.slice(0, [2 * N * C]);
  for (let n = 0; n < N; n++) {
    for (let r0 = 0; r0 < P; r0 += rowsPerBand) {
      const rows = Math.min(rowsPerBand, P - r0);
      const xb = bindRange(gpu, x.t, (n * P + r0) * C, rows * C, true);
      const yb = bindRange(gpu, y, (n * P + r0) * C, rows * C, true);
      const g = grid(gpu, rows * C / 4, 64);
      const u = params({ r0, rows, n, bx: xb.base / 4, by: yb.base / 4, stride: g.stride });
      p.dispatch(
        kApply,
        [xb.binding, norm.gamma, norm.beta, sink, sink, yb.binding, sink, table, { buffer: u }],
        g.wg,
      );
    }
  }
  mem.release(part, stats, aff);
}
