/**
 * GroupNorm (+SiLU) on NHWC activations (kernels/vae_groupnorm.wgsl): two-pass statistics over
 * blocks of pixels, a per-(image, channel) affine table, then one banded apply pass.
 */
import type { Tensor } from "../gpu/gpu.ts";
import { grid } from "../ops/_launch.ts";
import { compileKernel, kernelRecord, recordKernel } from "../ops/_kernel.ts";
import { bindRange } from "./memory.ts";
import type { Act, Rec } from "./types.ts";

/** kernels/vae_groupnorm.wgsl. */
export const VAE_GROUPNORM = kernelRecord("vae_groupnorm");

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
  const kernel = (entry: string, constants = {}) =>
    compileKernel(gpu, VAE_GROUPNORM, entry, { ...c4, ...constants });
  const kPartial = await kernel("gn_partial");
  const kStats = await kernel("gn_stats");
  const kAffine = await kernel("gn_affine");
  const kApply = await kernel("gn_apply", { SILU: silu ? 1 : 0 });
  /** The uniform block: the fixed geometry plus one pass's fields (0 where unused). */
  const uniforms = (o: {
    fb0?: number;
    nfb?: number;
    phase?: number;
    r0?: number;
    rows?: number;
    bx?: number;
    by?: number;
    n?: number;
    stride: number;
  }) => ({
    P,
    C,
    G,
    NB,
    BP,
    fb0: o.fb0 ?? 0,
    nfb: o.nfb ?? 0,
    phase: o.phase ?? 0,
    r0: o.r0 ?? 0,
    rows: o.rows ?? 0,
    base4x: o.bx ?? 0,
    base4y: o.by ?? 0,
    N,
    stride: o.stride,
    n: o.n ?? 0,
    eps,
  });
  const { gamma, beta } = norm;
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
      recordKernel(p, VAE_GROUPNORM, kPartial, {
        bind: { x4: xb.binding, gamma, beta, part, stats },
        uniforms: uniforms({ fb0, nfb, phase, bx: xb.base / 4, stride: g.stride }),
        workgroups: g.wg,
      });
    }
    const g = grid(gpu, N * G, 64);
    recordKernel(p, VAE_GROUPNORM, kStats, {
      bind: { gamma, beta, part, stats },
      uniforms: uniforms({ phase, stride: g.stride }),
      workgroups: g.wg,
    });
  }
  const ga = grid(gpu, N * C, 64);
  recordKernel(p, VAE_GROUPNORM, kAffine, {
    bind: { gamma, beta, stats, aff },
    uniforms: uniforms({ stride: ga.stride }),
    workgroups: ga.wg,
  });
  const table = aff.slice(0, [2 * N * C]);
  for (let n = 0; n < N; n++) {
    for (let r0 = 0; r0 < P; r0 += rowsPerBand) {
      const rows = Math.min(rowsPerBand, P - r0);
      const xb = bindRange(gpu, x.t, (n * P + r0) * C, rows * C, true);
      const yb = bindRange(gpu, y, (n * P + r0) * C, rows * C, true);
      const g = grid(gpu, rows * C / 4, 64);
      recordKernel(p, VAE_GROUPNORM, kApply, {
        bind: { x4: xb.binding, gamma, beta, y4: yb.binding, aff4: table },
        uniforms: uniforms({ r0, rows, n, bx: xb.base / 4, by: yb.base / 4, stride: g.stride }),
        workgroups: g.wg,
      });
    }
  }
  mem.release(part, stats, aff);
}
