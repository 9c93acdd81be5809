/**
 * The VAE mid-block attention (diffusers `Attention` with one head, dim_head = C, as run by the
 * classic AttnProcessor): tokens [N, T = H*W, C] are the NHWC activation itself.
 *
 *   xn = GroupNorm(x); [q | k | v] = xn [Wq | Wk | Wv]^T + b   (one fused matmul, [N*T, 3C])
 *   out = x + (softmax(q k^T / sqrt(C)) v) Wo^T + bo
 *
 * The score matrix is never whole: per image, blocks of Tq query rows (Tq x T scores within the
 * tile budget) and, for the packed keys, chunks of at most 8192 key rows. The row softmax
 * (kernels/vae_softmax.wgsl) writes the probabilities straight into the packed A operand of P V.
 */
import { conv2d, type ConvWeight } from "./conv.ts";
import type { Tensor } from "../gpu/gpu.ts";
import { grid } from "../ops/_launch.ts";
import { dispatch, kernelRecord } from "../ops/_kernel.ts";
import { matmul, PackedMatrix } from "../ops/matmul.ts";
import { groupNorm, type NormWeights } from "./groupnorm.ts";
import { packRows, packTransposed, texels } from "./pack.ts";
import { type Act, type Rec, usesTextures } from "./types.ts";

/** Weights of one attention block. */
export interface AttentionWeights {
  name: string;
  norm: NormWeights;
  /** to_q | to_k | to_v fused: [3C, C] with bias [3C] */
  qkv: ConvWeight;
  /** to_out.0: [C, C] */
  out: ConvWeight;
}

/** Records the attention block on x [N, H, W, C]; returns a new pooled activation. */
export async function attentionBlock(
  rec: Rec,
  x: Act,
  w: AttentionWeights,
  groups: number,
  eps: number,
): Promise<Act> {
  const { p, mem } = rec;
  const { N, C } = x;
  const T = x.H * x.W;
  const xn = mem.acquire(N * T * C, "attn-norm");
  await groupNorm(rec, x, w.norm, groups, xn, false, eps);
  const qkv = mem.acquire(N * T * 3 * C, "attn-qkv"); // [N*T, 3C]
  await conv2d(rec, { ...x, t: xn }, w.qkv, qkv);
  mem.release(xn);
  const out = mem.acquire(N * T * C, "attn-out");
  p.copy(x.t, out, N * T * C);
  const bind = mem.limits.bindBytes;
  const scoreBytes = Math.min(mem.limits.tileBytes, bind);
  // Query rows per block: scores [Tq, T] within the tile budget, q view within a binding.
  const Tq = Math.max(
    1,
    Math.min(
      mem.tileRows(texels(C)),
      T,
      Math.floor(scoreBytes / (T * 4)),
      Math.floor(bind / (12 * C)),
    ),
  );
  // Key rows per packed chunk.
  const Tk = Math.max(1, Math.min(T, mem.tileRows(texels(C)), Math.floor(bind / (12 * C))));
  const s = mem.acquire(Tq * T, "attn-scores");
  const o = mem.acquire(Tq * C, "attn-o");
  const scale = 1 / Math.sqrt(C);
  for (let n = 0; n < N; n++) {
    const vT = await packTransposed(rec, qkv, n * T, T, C, 3 * C, 2 * C, "v"); // [C, T]
    for (let q0 = 0; q0 < T; q0 += Tq) {
      const rows = Math.min(Tq, T - q0);
      const q = await packRows(rec, qkv, n * T + q0, rows, C, 3 * C, 0, "a");
      for (let k0 = 0; k0 < T; k0 += Tk) {
        const kr = Math.min(Tk, T - k0);
        const k = await packRows(rec, qkv, n * T + k0, kr, C, 3 * C, C, "k");
        await matmul(p, {
          variant: "nt",
          M: rows,
          N: kr,
          K: C,
          a: q.op,
          b: k.op,
          c: { t: s, ld: T, off: k0 },
          alpha: scale,
        });
        k.release();
      }
      q.release();
      const probs = await softmaxRows(rec, s, rows, T);
      await matmul(p, {
        variant: "nt",
        M: rows,
        N: C,
        K: T,
        a: probs,
        b: vT,
        c: { t: o, ld: C },
      });
      const oa = await packRows(rec, o, 0, rows, C, C, 0, "a");
      await matmul(p, {
        variant: "nt",
        M: rows,
        N: C,
        K: w.out.Kp,
        a: oa.op,
        b: w.out.packed,
        c: { t: out, ld: C, off: (n * T + q0) * C },
        bias: w.out.bias,
        accumulate: true,
      });
      oa.release();
    }
  }
  mem.release(qkv, s, o);
  return { ...x, t: out };
}

/** kernels/vae_softmax.wgsl. */
export const VAE_SOFTMAX = kernelRecord("vae_softmax");

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
  const g = grid(gpu, R, 64);
  const view = s.slice(0, [R * T]);
  const t = tex ? mem.packTexture("p", texels(T), R) : null;
  await dispatch(p, VAE_SOFTMAX, {
    entry: t ? "softmax_tex" : "softmax_buf",
    bind: t ? { s: view, dst: t.createView({ dimension: "2d-array" }) } : { srw: view },
    uniforms: { R, T, stride: g.stride },
    workgroups: g.wg,
  });
  return new PackedMatrix(t, R, T, { t: s, ld: T }, false);
}
