/**
 * Multi-head self-attention core (after the qkv projection, before the output projection).
 *
 * qkv [N,T,3D] holds q | k | v, each D wide; head h owns features [h*hd, (h+1)*hd) of each, with
 * hd = D/H. Attention is non-causal with scale 1/sqrt(hd).
 */
import { expectDims, expectDivisible, expectLength, type Tensor } from "./check.ts";

/** Result of {@linkcode attention}. */
export interface AttentionResult {
  /** Heads concatenated in head order, [N,T,D]. */
  out: Float64Array;
  /** Attention probabilities softmax(q k^T / sqrt(hd)), [N,H,T(query),T(key)]. */
  probs: Float64Array;
}

function checkAttentionArgs(qkv: Tensor, N: number, T: number, D: number, H: number): number {
  expectDims({ N, T, D, H });
  expectDivisible("Attention width D must be a multiple of the head count H", D, H);
  expectLength("qkv", qkv, N * T * 3 * D, "[N,T,3D]");
  return D / H;
}

/**
 * out = softmax(q k^T / sqrt(hd)) v per sample and head.
 *
 * Shapes: qkv [N,T,3D] -> out [N,T,D], probs [N,H,T,T].
 */
export function attention(
  qkv: Tensor,
  N: number,
  T: number,
  D: number,
  H: number,
): AttentionResult {
  const hd = checkAttentionArgs(qkv, N, T, D, H);
  const scale = 1 / Math.sqrt(hd);
  const out = new Float64Array(N * T * D);
  const probs = new Float64Array(N * H * T * T);
  const row = new Float64Array(T);
  for (let n = 0; n < N; n++) {
    for (let h = 0; h < H; h++) {
      for (let tq = 0; tq < T; tq++) {
        const q = (n * T + tq) * 3 * D + h * hd;
        let max = -Infinity;
        for (let tk = 0; tk < T; tk++) {
          const k = (n * T + tk) * 3 * D + D + h * hd;
          let s = 0;
          for (let d = 0; d < hd; d++) s += qkv[q + d] * qkv[k + d];
          row[tk] = s * scale;
          max = Math.max(max, row[tk]);
        }
        let sum = 0;
        for (let tk = 0; tk < T; tk++) {
          row[tk] = Math.exp(row[tk] - max);
          sum += row[tk];
        }
        const p = ((n * H + h) * T + tq) * T;
        const o = (n * T + tq) * D + h * hd;
        for (let tk = 0; tk < T; tk++) {
          const pr = row[tk] / sum;
          probs[p + tk] = pr;
          const v = (n * T + tk) * 3 * D + 2 * D + h * hd;
          for (let d = 0; d < hd; d++) out[o + d] += pr * qkv[v + d];
        }
      }
    }
  }
  return { out, probs };
}

/**
 * Backward of {@linkcode attention}: with P = probs and S = q k^T / sqrt(hd),
 * dv = P^T dout, dP = dout v^T, dS = P * (dP - rowsum(dP * P)), dq = dS k / sqrt(hd),
 * dk = dS^T q / sqrt(hd).
 *
 * Shapes: qkv [N,T,3D], probs [N,H,T,T], dout [N,T,D] -> dqkv [N,T,3D] (dq | dk | dv).
 */
export function attentionBackward(
  qkv: Tensor,
  probs: Tensor,
  dout: Tensor,
  N: number,
  T: number,
  D: number,
  H: number,
): Float64Array {
  const hd = checkAttentionArgs(qkv, N, T, D, H);
  expectLength("probs", probs, N * H * T * T, "[N,H,T,T]");
  expectLength("dout", dout, N * T * D, "[N,T,D]");
  const scale = 1 / Math.sqrt(hd);
  const dqkv = new Float64Array(N * T * 3 * D);
  const dp = new Float64Array(T);
  for (let n = 0; n < N; n++) {
    for (let h = 0; h < H; h++) {
      for (let tq = 0; tq < T; tq++) {
        const p = ((n * H + h) * T + tq) * T;
        const o = (n * T + tq) * D + h * hd;
        let dot = 0;
        for (let tk = 0; tk < T; tk++) {
          const v = (n * T + tk) * 3 * D + 2 * D + h * hd;
          let s = 0;
          for (let d = 0; d < hd; d++) {
            s += dout[o + d] * qkv[v + d];
            dqkv[v + d] += probs[p + tk] * dout[o + d];
          }
          dp[tk] = s;
          dot += s * probs[p + tk];
        }
        const q = (n * T + tq) * 3 * D + h * hd;
        for (let tk = 0; tk < T; tk++) {
          const ds = probs[p + tk] * (dp[tk] - dot) * scale;
          const k = (n * T + tk) * 3 * D + D + h * hd;
          for (let d = 0; d < hd; d++) {
            dqkv[q + d] += ds * qkv[k + d];
            dqkv[k + d] += ds * qkv[q + d];
          }
        }
      }
    }
  }
  return dqkv;
}
