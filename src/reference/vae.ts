/**
 * Forward-only image ops for a VAE decoder: GroupNorm, dense 2-D convolution and nearest 2x
 * upsampling, all on [N,C,H,W] (NCHW) tensors.
 */
import { expectDims, expectDivisible, expectLength, type Tensor } from "./check.ts";

/**
 * Group normalization as PyTorch `nn.GroupNorm(G, C, eps)`: each sample's channels split into G
 * contiguous groups, normalized over (C/G)*HW values with biased variance (eps inside the sqrt),
 * then y = yhat * gamma[c] + beta[c] (skipped for a null gamma / beta).
 *
 * Shapes: x [N,C,HW], gamma [C] or null, beta [C] or null -> y [N,C,HW].
 */
export function groupNorm(
  x: Tensor,
  N: number,
  C: number,
  HW: number,
  G: number,
  gamma: Tensor | null,
  beta: Tensor | null,
  eps: number,
): Float64Array {
  expectDims({ N, C, HW, G });
  expectDivisible("Channel count C must be a multiple of the group count G", C, G);
  expectLength("x", x, N * C * HW, "[N,C,HW]");
  if (gamma) expectLength("gamma", gamma, C, "[C]");
  if (beta) expectLength("beta", beta, C, "[C]");
  const y = new Float64Array(N * C * HW);
  const size = (C / G) * HW;
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < G; g++) {
      const start = (n * C + g * (C / G)) * HW;
      let sum = 0;
      for (let i = 0; i < size; i++) sum += x[start + i];
      const mu = sum / size;
      let sq = 0;
      for (let i = 0; i < size; i++) sq += (x[start + i] - mu) ** 2;
      const rstd = 1 / Math.sqrt(sq / size + eps);
      for (let i = 0; i < size; i++) {
        const c = g * (C / G) + Math.floor(i / HW);
        const yhat = (x[start + i] - mu) * rstd;
        y[start + i] = yhat * (gamma ? gamma[c] : 1) + (beta ? beta[c] : 0);
      }
    }
  }
  return y;
}

/** Output size of a convolution axis: floor((size + padBefore + padAfter - k) / stride) + 1. */
export function convOutputSize(
  size: number,
  k: number,
  stride: number,
  padBefore: number,
  padAfter: number,
): number {
  return Math.floor((size + padBefore + padAfter - k) / stride) + 1;
}

/**
 * Dense 2-D convolution (cross-correlation, as PyTorch `nn.Conv2d`) with zero padding that may
 * differ per side: y[n,o,r,c] = b[o] + sum_{ci,i,j} w[o,ci,i,j] * x[n, ci, r*stride+i-padTop,
 * c*stride+j-padLeft]. Output height/width per {@linkcode convOutputSize}.
 *
 * Shapes: x [N,Cin,H,W], w [Cout,Cin,k,k], b [Cout] or null -> y [N,Cout,Hout,Wout].
 */
export function conv2d(
  x: Tensor,
  w: Tensor,
  b: Tensor | null,
  N: number,
  Cin: number,
  H: number,
  W: number,
  Cout: number,
  k: number,
  stride: number,
  padTop: number,
  padLeft: number,
  padBottom: number,
  padRight: number,
): Float64Array {
  expectDims({ N, Cin, H, W, Cout, k, stride });
  for (const [name, pad] of Object.entries({ padTop, padLeft, padBottom, padRight })) {
    if (!Number.isInteger(pad) || pad < 0) {
      throw new Error(`Padding ${name} must be a non-negative integer, got ${pad}`);
    }
  }
  expectLength("x", x, N * Cin * H * W, "[N,Cin,H,W]");
  expectLength("w", w, Cout * Cin * k * k, "[Cout,Cin,k,k]");
  if (b) expectLength("b", b, Cout, "[Cout]");
  const Ho = convOutputSize(H, k, stride, padTop, padBottom);
  const Wo = convOutputSize(W, k, stride, padLeft, padRight);
  if (Ho <= 0 || Wo <= 0) throw new Error(`Convolution output would be empty (${Ho}x${Wo})`);
  const y = new Float64Array(N * Cout * Ho * Wo);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < Cout; o++) {
      for (let r = 0; r < Ho; r++) {
        for (let c = 0; c < Wo; c++) {
          let acc = b ? b[o] : 0;
          for (let ci = 0; ci < Cin; ci++) {
            for (let i = 0; i < k; i++) {
              const rr = r * stride + i - padTop;
              if (rr < 0 || rr >= H) continue;
              for (let j = 0; j < k; j++) {
                const cc = c * stride + j - padLeft;
                if (cc < 0 || cc >= W) continue;
                acc += w[((o * Cin + ci) * k + i) * k + j] * x[((n * Cin + ci) * H + rr) * W + cc];
              }
            }
          }
          y[((n * Cout + o) * Ho + r) * Wo + c] = acc;
        }
      }
    }
  }
  return y;
}

/**
 * Nearest-neighbour 2x upsampling, as PyTorch `F.interpolate(scale_factor=2, mode="nearest")`:
 * y[n,c,r,col] = x[n,c,floor(r/2),floor(col/2)].
 *
 * Shapes: x [N,C,H,W] -> y [N,C,2H,2W].
 */
export function upsampleNearest2x(
  x: Tensor,
  N: number,
  C: number,
  H: number,
  W: number,
): Float64Array {
  expectDims({ N, C, H, W });
  expectLength("x", x, N * C * H * W, "[N,C,H,W]");
  const y = new Float64Array(N * C * 4 * H * W);
  for (let nc = 0; nc < N * C; nc++) {
    for (let r = 0; r < 2 * H; r++) {
      for (let c = 0; c < 2 * W; c++) {
        y[(nc * 2 * H + r) * 2 * W + c] = x[(nc * H + (r >> 1)) * W + (c >> 1)];
      }
    }
  }
  return y;
}
