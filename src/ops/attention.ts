/**
 * Multi-head self-attention core on qkv [N, T, 3D] (q|k|v, heads contiguous hd = D/H slices):
 * out [N, T, D] = softmax(q k^T / sqrt(hd)) v, run as batched matmuls over (sample, head) with
 * the score matrices split into chunks of samples so that no binding exceeds `maxChunkBytes`.
 * The probabilities are kept (one buffer per chunk) for the backward. Inference on texture
 * adapters runs one fused kernel instead (kernels/attention_fused.wgsl) and keeps no scores.
 */
import type { Gpu, Program, Tensor } from "../gpu/gpu.ts";
import { dispatch, kernelRecord } from "./_kernel.ts";
import { matmul } from "./matmul.ts";
import { softmaxBackward, softmaxForward } from "./softmax.ts";
import { canCopyRows, canCopyRowsOf, copyRows } from "./textures.ts";

/** kernels/attention_fused.wgsl. */
export const ATTENTION_FUSED = kernelRecord("attention_fused");

/** Attention geometry. */
export interface AttnGeom {
  N: number;
  T: number;
  D: number;
  H: number;
}

/**
 * Saved state of one attention layer: probabilities per chunk of samples, or none where the
 * forward runs fused (inference on a texture adapter).
 */
export interface AttnState {
  geom: AttnGeom;
  /** True when the forward runs as the fused kernel (no probabilities, no backward). */
  fused: boolean;
  chunks: { n0: number; n: number; probs: Tensor; scratch: Tensor }[];
}

/**
 * Whether an inference forward of this geometry can run fused here: texture kernels, head width
 * a multiple of 4 up to 64 (the kernel's per-row arrays), and qkv [N, T, 3D] copyable into a
 * texture in one command.
 */
export function canFuseAttention(gpu: Gpu, g: AttnGeom): boolean {
  const hd = g.D / g.H;
  return hd % 4 === 0 && hd <= 64 && canCopyRowsOf(gpu, g.N, g.T, 3 * g.D);
}

/** Score chunks stay at or below 64 MiB, well inside the 128 MiB binding limit. */
const CHUNK_BYTES = 64 * 1024 * 1024;

/**
 * The state of one attention layer: per-chunk probability buffers (with gradient scratch when
 * `training`), none for an inference forward that runs fused (see {@linkcode canFuseAttention}).
 */
export function attentionState(
  gpu: Gpu,
  g: AttnGeom,
  label: string,
  training: boolean,
): AttnState {
  if (g.D % g.H) throw new Error(`Width ${g.D} is not divisible by ${g.H} heads`);
  if (!training && canFuseAttention(gpu, g)) return { geom: g, fused: true, chunks: [] };
  const perSample = g.H * g.T * g.T * 4;
  if (perSample > CHUNK_BYTES) {
    throw new Error(`Attention over ${g.T} tokens needs ${perSample} bytes per sample`);
  }
  const per = Math.max(1, Math.floor(CHUNK_BYTES / perSample));
  const chunks = [];
  for (let n0 = 0; n0 < g.N; n0 += per) {
    const n = Math.min(per, g.N - n0);
    const shape = [n, g.H, g.T, g.T];
    chunks.push({
      n0,
      n,
      probs: gpu.tensor(shape, `${label}.probs${n0}`),
      scratch: training
        ? gpu.tensor(shape, `${label}.dprobs${n0}`)
        : gpu.tensor([1], `${label}.none`),
    });
  }
  return { geom: g, fused: false, chunks };
}

/** out = attention(qkv); saves probabilities into `st` (unless it runs fused). */
export async function attentionForward(
  p: Program,
  st: AttnState,
  qkv: Tensor,
  out: Tensor,
): Promise<void> {
  if (st.fused) return await attentionFused(p, st.geom, qkv, out);
  const { T, D, H } = st.geom;
  const hd = D / H;
  const scale = 1 / Math.sqrt(hd);
  for (const ch of st.chunks) {
    const q = { t: qkv, off: ch.n0 * T * 3 * D, s1: T * 3 * D, s2: hd, ld: 3 * D };
    const k = { ...q, off: q.off + D };
    const v = { ...q, off: q.off + 2 * D };
    const s = { t: ch.probs, s1: H * T * T, s2: T * T, ld: T };
    const batch: [number, number] = [ch.n, H];
    await matmul(p, { variant: "nt", M: T, N: T, K: hd, batch, a: q, b: k, c: s, alpha: scale });
    await softmaxForward(p, ch.probs, ch.n * H * T, T);
    const o = { t: out, off: ch.n0 * T * D, s1: T * D, s2: hd, ld: D };
    await matmul(p, { variant: "nn", M: T, N: hd, K: T, batch, a: s, b: v, c: o });
  }
}

/** The fused inference forward: one copy of qkv into a texture, one dispatch. */
async function attentionFused(p: Program, g: AttnGeom, qkv: Tensor, out: Tensor): Promise<void> {
  const { N, T, D, H } = g;
  if (!canCopyRows(p.gpu, qkv, N, T, 3 * D)) {
    throw new Error("Fused attention: qkv does not start on a texel; use an unfused state");
  }
  const tex = copyRows(p, qkv, N, T, 3 * D, "attention-qkv");
  const hd = D / H;
  await dispatch(p, ATTENTION_FUSED, {
    entry: "main",
    bind: { qkv: tex, out4: out },
    uniforms: { T, D4: D / 4, scale: 1 / Math.sqrt(hd) },
    constants: { HD4: hd / 4 },
    workgroups: [Math.ceil(T / 64), H, N],
  });
}

/** dqkv = d attention / d qkv given dout [N, T, D]. */
export async function attentionBackward(
  p: Program,
  st: AttnState,
  qkv: Tensor,
  dout: Tensor,
  dqkv: Tensor,
): Promise<void> {
  if (st.fused) throw new Error("attentionBackward: this state was made for inference (fused)");
  const { T, D, H } = st.geom;
  const hd = D / H;
  const scale = 1 / Math.sqrt(hd);
  for (const ch of st.chunks) {
    const batch: [number, number] = [ch.n, H];
    const q = { t: qkv, off: ch.n0 * T * 3 * D, s1: T * 3 * D, s2: hd, ld: 3 * D };
    const k = { ...q, off: q.off + D };
    const v = { ...q, off: q.off + 2 * D };
    const dq = { ...q, t: dqkv };
    const dk = { ...k, t: dqkv };
    const dv = { ...v, t: dqkv };
    const P = { t: ch.probs, s1: H * T * T, s2: T * T, ld: T };
    const dP = { ...P, t: ch.scratch };
    const dO = { t: dout, off: ch.n0 * T * D, s1: T * D, s2: hd, ld: D };
    // dP = dO V^T; dV = P^T dO.
    await matmul(p, { variant: "nt", M: T, N: T, K: hd, batch, a: dO, b: v, c: dP });
    await matmul(p, { variant: "tn", M: T, N: hd, K: T, batch, a: P, b: dO, c: dv });
    // dS = scale * P * (dP - rowsum(dP * P)), in place in the scratch.
    await softmaxBackward(p, ch.probs, ch.scratch, ch.n * H * T, T, scale);
    // dQ = dS K; dK = dS^T Q.
    await matmul(p, { variant: "nn", M: T, N: hd, K: T, batch, a: dP, b: k, c: dq });
    await matmul(p, { variant: "tn", M: T, N: hd, K: T, batch, a: dP, b: q, c: dk });
  }
}
