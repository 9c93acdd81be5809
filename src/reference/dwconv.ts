/**
 * Depthwise convolutions over the token sequence (1-D) or the token grid (2-D), stride 1, zero
 * padding, output the same size as the input. Cross-correlation as PyTorch `Conv1d`/`Conv2d` with
 * `groups = C`.
 *
 * Padding is padBefore zeros before and k-1-padBefore after along each axis (k=3: padBefore 1;
 * k=4 PyTorch padding="same": padBefore 1, after 2).
 */
import { expectDims, expectLength, type Tensor } from "./check.ts";

function checkPad(k: number, padBefore: number): void {
  if (!Number.isInteger(padBefore) || padBefore < 0 || padBefore > k - 1) {
    throw new Error(
      `Padding before must be an integer in [0, k-1] = [0, ${k - 1}], got ${padBefore}`,
    );
  }
}

/**
 * 2-D depthwise convolution on tokens laid out as an h x wd grid (token t = row*wd + col):
 * y[n,r,c,ch] = b[ch] + sum_{i,j} w[ch,0,i,j] * x[n, r+i-padBefore, c+j-padBefore, ch].
 *
 * Shapes: x [N, T=h*wd, C], w [C,1,k,k], b [C] or null -> y [N,T,C].
 */
export function dwconv2d(
  x: Tensor,
  w: Tensor,
  b: Tensor | null,
  N: number,
  h: number,
  wd: number,
  C: number,
  k: number,
  padBefore: number,
): Float64Array {
  expectDims({ N, h, wd, C, k });
  checkPad(k, padBefore);
  expectLength("x", x, N * h * wd * C, "[N,h*wd,C]");
  expectLength("w", w, C * k * k, "[C,1,k,k]");
  if (b) expectLength("b", b, C, "[C]");
  const y = new Float64Array(N * h * wd * C);
  for (let n = 0; n < N; n++) {
    for (let r = 0; r < h; r++) {
      for (let c = 0; c < wd; c++) {
        for (let ch = 0; ch < C; ch++) {
          let acc = b ? b[ch] : 0;
          for (let i = 0; i < k; i++) {
            const rr = r + i - padBefore;
            if (rr < 0 || rr >= h) continue;
            for (let j = 0; j < k; j++) {
              const cc = c + j - padBefore;
              if (cc < 0 || cc >= wd) continue;
              acc += w[(ch * k + i) * k + j] * x[((n * h + rr) * wd + cc) * C + ch];
            }
          }
          y[((n * h + r) * wd + c) * C + ch] = acc;
        }
      }
    }
  }
  return y;
}

/** Gradients of a depthwise convolution. */
export interface DwConvGrads {
  /** Same shape as x. */
  dx: Float64Array;
  /** Same shape as w. */
  dw: Float64Array;
  /** [C] */
  db: Float64Array;
}

/**
 * Backward of {@linkcode dwconv2d}.
 *
 * Shapes: x [N,h*wd,C], w [C,1,k,k], dy [N,h*wd,C] -> dx [N,h*wd,C], dw [C,1,k,k], db [C].
 */
export function dwconv2dBackward(
  x: Tensor,
  w: Tensor,
  dy: Tensor,
  N: number,
  h: number,
  wd: number,
  C: number,
  k: number,
  padBefore: number,
): DwConvGrads {
  expectDims({ N, h, wd, C, k });
  checkPad(k, padBefore);
  expectLength("x", x, N * h * wd * C, "[N,h*wd,C]");
  expectLength("w", w, C * k * k, "[C,1,k,k]");
  expectLength("dy", dy, N * h * wd * C, "[N,h*wd,C]");
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(w.length);
  const db = new Float64Array(C);
  for (let n = 0; n < N; n++) {
    for (let r = 0; r < h; r++) {
      for (let c = 0; c < wd; c++) {
        for (let ch = 0; ch < C; ch++) {
          const g = dy[((n * h + r) * wd + c) * C + ch];
          db[ch] += g;
          for (let i = 0; i < k; i++) {
            const rr = r + i - padBefore;
            if (rr < 0 || rr >= h) continue;
            for (let j = 0; j < k; j++) {
              const cc = c + j - padBefore;
              if (cc < 0 || cc >= wd) continue;
              const xi = ((n * h + rr) * wd + cc) * C + ch;
              const wi = (ch * k + i) * k + j;
              dx[xi] += g * w[wi];
              dw[wi] += g * x[xi];
            }
          }
        }
      }
    }
  }
  return { dx, dw, db };
}

/**
 * 1-D depthwise convolution along the token axis:
 * y[n,t,ch] = b[ch] + sum_i w[ch,0,i] * x[n, t+i-padBefore, ch].
 *
 * Shapes: x [N,T,C], w [C,1,k], b [C] or null -> y [N,T,C].
 */
export function dwconv1d(
  x: Tensor,
  w: Tensor,
  b: Tensor | null,
  N: number,
  T: number,
  C: number,
  k: number,
  padBefore: number,
): Float64Array {
  expectDims({ N, T, C, k });
  checkPad(k, padBefore);
  expectLength("x", x, N * T * C, "[N,T,C]");
  expectLength("w", w, C * k, "[C,1,k]");
  if (b) expectLength("b", b, C, "[C]");
  const y = new Float64Array(N * T * C);
  for (let n = 0; n < N; n++) {
    for (let t = 0; t < T; t++) {
      for (let ch = 0; ch < C; ch++) {
        let acc = b ? b[ch] : 0;
        for (let i = 0; i < k; i++) {
          const tt = t + i - padBefore;
          if (tt >= 0 && tt < T) acc += w[ch * k + i] * x[(n * T + tt) * C + ch];
        }
        y[(n * T + t) * C + ch] = acc;
      }
    }
  }
  return y;
}

/**
 * Backward of {@linkcode dwconv1d}.
 *
 * Shapes: x [N,T,C], w [C,1,k], dy [N,T,C] -> dx [N,T,C], dw [C,1,k], db [C].
 */
export function dwconv1dBackward(
  x: Tensor,
  w: Tensor,
  dy: Tensor,
  N: number,
  T: number,
  C: number,
  k: number,
  padBefore: number,
): DwConvGrads {
  expectDims({ N, T, C, k });
  checkPad(k, padBefore);
  expectLength("x", x, N * T * C, "[N,T,C]");
  expectLength("w", w, C * k, "[C,1,k]");
  expectLength("dy", dy, N * T * C, "[N,T,C]");
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(w.length);
  const db = new Float64Array(C);
  for (let n = 0; n < N; n++) {
    for (let t = 0; t < T; t++) {
      for (let ch = 0; ch < C; ch++) {
        const g = dy[(n * T + t) * C + ch];
        db[ch] += g;
        for (let i = 0; i < k; i++) {
          const tt = t + i - padBefore;
          if (tt < 0 || tt >= T) continue;
          const xi = (n * T + tt) * C + ch;
          dx[xi] += g * w[ch * k + i];
          dw[ch * k + i] += g * x[xi];
        }
      }
    }
  }
  return { dx, dw, db };
}
