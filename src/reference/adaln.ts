/**
 * adaLN conditioning: shift/scale modulation and the gated residual add.
 *
 * Per-sample conditioning vectors (shift, scale, gate) are [N,C] and broadcast over the T tokens.
 */
import { expectDims, expectLength, type Tensor } from "./check.ts";

/**
 * adaLN modulation: y[n,t,c] = xhat[n,t,c] * (1 + scale[n,c]) + shift[n,c].
 *
 * Shapes: xhat [N,T,C], shift [N,C], scale [N,C] -> y [N,T,C].
 */
export function modulate(
  xhat: Tensor,
  shift: Tensor,
  scale: Tensor,
  N: number,
  T: number,
  C: number,
): Float64Array {
  expectDims({ N, T, C });
  expectLength("xhat", xhat, N * T * C, "[N,T,C]");
  expectLength("shift", shift, N * C, "[N,C]");
  expectLength("scale", scale, N * C, "[N,C]");
  const y = new Float64Array(N * T * C);
  for (let n = 0; n < N; n++) {
    for (let t = 0; t < T; t++) {
      for (let c = 0; c < C; c++) {
        const i = (n * T + t) * C + c;
        y[i] = xhat[i] * (1 + scale[n * C + c]) + shift[n * C + c];
      }
    }
  }
  return y;
}

/** Gradients of {@linkcode modulate}. */
export interface ModulateGrads {
  /** [N,T,C] */
  dxhat: Float64Array;
  /** [N,C] */
  dshift: Float64Array;
  /** [N,C] */
  dscale: Float64Array;
}

/**
 * Backward of {@linkcode modulate}: dxhat = dy * (1 + scale), dshift = sum_t dy,
 * dscale = sum_t dy * xhat.
 *
 * Shapes: xhat [N,T,C], scale [N,C], dy [N,T,C].
 */
export function modulateBackward(
  xhat: Tensor,
  scale: Tensor,
  dy: Tensor,
  N: number,
  T: number,
  C: number,
): ModulateGrads {
  expectDims({ N, T, C });
  expectLength("xhat", xhat, N * T * C, "[N,T,C]");
  expectLength("scale", scale, N * C, "[N,C]");
  expectLength("dy", dy, N * T * C, "[N,T,C]");
  const dxhat = new Float64Array(N * T * C);
  const dshift = new Float64Array(N * C);
  const dscale = new Float64Array(N * C);
  for (let n = 0; n < N; n++) {
    for (let t = 0; t < T; t++) {
      for (let c = 0; c < C; c++) {
        const i = (n * T + t) * C + c;
        dxhat[i] = dy[i] * (1 + scale[n * C + c]);
        dshift[n * C + c] += dy[i];
        dscale[n * C + c] += dy[i] * xhat[i];
      }
    }
  }
  return { dxhat, dshift, dscale };
}

/**
 * Gated residual add: out[n,t,c] = x[n,t,c] + gate[n,c] * y[n,t,c].
 *
 * Shapes: x [N,T,C], gate [N,C], y [N,T,C] -> out [N,T,C].
 */
export function gatedResidual(
  x: Tensor,
  gate: Tensor,
  y: Tensor,
  N: number,
  T: number,
  C: number,
): Float64Array {
  expectDims({ N, T, C });
  expectLength("x", x, N * T * C, "[N,T,C]");
  expectLength("gate", gate, N * C, "[N,C]");
  expectLength("y", y, N * T * C, "[N,T,C]");
  const out = new Float64Array(N * T * C);
  for (let n = 0; n < N; n++) {
    for (let t = 0; t < T; t++) {
      for (let c = 0; c < C; c++) {
        const i = (n * T + t) * C + c;
        out[i] = x[i] + gate[n * C + c] * y[i];
      }
    }
  }
  return out;
}

/** Gradients of {@linkcode gatedResidual}. */
export interface GatedResidualGrads {
  /** [N,T,C] (a copy of dout) */
  dx: Float64Array;
  /** [N,C] */
  dgate: Float64Array;
  /** [N,T,C] */
  dy: Float64Array;
}

/**
 * Backward of {@linkcode gatedResidual}: dx = dout, dgate = sum_t dout * y, dy = gate * dout.
 *
 * Shapes: gate [N,C], y [N,T,C], dout [N,T,C].
 */
export function gatedResidualBackward(
  gate: Tensor,
  y: Tensor,
  dout: Tensor,
  N: number,
  T: number,
  C: number,
): GatedResidualGrads {
  expectDims({ N, T, C });
  expectLength("gate", gate, N * C, "[N,C]");
  expectLength("y", y, N * T * C, "[N,T,C]");
  expectLength("dout", dout, N * T * C, "[N,T,C]");
  const dx = Float64Array.from(dout);
  const dgate = new Float64Array(N * C);
  const dy = new Float64Array(N * T * C);
  for (let n = 0; n < N; n++) {
    for (let t = 0; t < T; t++) {
      for (let c = 0; c < C; c++) {
        const i = (n * T + t) * C + c;
        dgate[n * C + c] += dout[i] * y[i];
        dy[i] = gate[n * C + c] * dout[i];
      }
    }
  }
  return { dx, dgate, dy };
}
