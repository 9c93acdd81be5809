/**
 * Patch embedding input (image -> tokens) and output (tokens -> image) rearrangements.
 *
 * Tokens run row-major over the patch grid: token t = row * (W/p) + col. Within a patch, i is the
 * row and j the column (0..p-1), c the channel.
 */
import { expectDims, expectDivisible, expectLength, type Tensor } from "./check.ts";

/**
 * Feature order inside a patch token.
 *
 * - "seed": feature = (i*p + j)*C + c (pixel-major, channel fastest).
 * - "conv": feature = c*p*p + i*p + j, which matches flattening a Conv2d weight [D,C,p,p] so that
 *   tokens @ weight.reshape(D, -1)^T equals Conv2d(kernel p, stride p).
 */
export type PatchOrder = "seed" | "conv";

function featureIndex(
  order: PatchOrder,
  i: number,
  j: number,
  c: number,
  C: number,
  p: number,
): number {
  return order === "seed" ? (i * p + j) * C + c : c * p * p + i * p + j;
}

/**
 * Calls `visit(pixelIndex, tokenIndex)` for every element of an [N,C,H,W] image, where tokenIndex is
 * the element's place in [N,T,p*p*C] tokens with the given feature order.
 */
function forEachPixel(
  N: number,
  C: number,
  H: number,
  W: number,
  p: number,
  order: PatchOrder,
  visit: (pixel: number, token: number) => void,
): void {
  expectDims({ N, C, H, W, p });
  expectDivisible("Image height H must be a multiple of the patch size p", H, p);
  expectDivisible("Image width W must be a multiple of the patch size p", W, p);
  if (order !== "seed" && order !== "conv") throw new Error(`Unknown patch order "${order}"`);
  const gw = W / p;
  const T = (H / p) * gw;
  const F = p * p * C;
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      for (let h = 0; h < H; h++) {
        for (let w = 0; w < W; w++) {
          const t = Math.floor(h / p) * gw + Math.floor(w / p);
          const f = featureIndex(order, h % p, w % p, c, C, p);
          visit(((n * C + c) * H + h) * W + w, (n * T + t) * F + f);
        }
      }
    }
  }
}

/**
 * Image to patch tokens.
 *
 * Shapes: x [N,C,H,W] -> tokens [N, T=(H/p)*(W/p), p*p*C], feature order per {@linkcode PatchOrder}.
 */
export function patchify(
  x: Tensor,
  N: number,
  C: number,
  H: number,
  W: number,
  p: number,
  order: PatchOrder,
): Float64Array {
  expectLength("x", x, N * C * H * W, "[N,C,H,W]");
  const out = new Float64Array(x.length);
  forEachPixel(N, C, H, W, p, order, (pixel, token) => out[token] = x[pixel]);
  return out;
}

/**
 * Backward of {@linkcode patchify} (the inverse permutation).
 *
 * Shapes: dtokens [N,T,p*p*C] -> dx [N,C,H,W].
 */
export function patchifyBackward(
  dtokens: Tensor,
  N: number,
  C: number,
  H: number,
  W: number,
  p: number,
  order: PatchOrder,
): Float64Array {
  expectLength("dtokens", dtokens, N * C * H * W, "[N,T,p*p*C]");
  const dx = new Float64Array(dtokens.length);
  forEachPixel(N, C, H, W, p, order, (pixel, token) => dx[pixel] = dtokens[token]);
  return dx;
}

/**
 * Patch tokens to image, features ordered (i, j, c) as in both architectures' final layer:
 * out[n, c, hh*p+i, ww*p+j] = tokens[n, hh*(W/p)+ww, (i*p+j)*C+c].
 *
 * Shapes: tokens [N, T=(H/p)*(W/p), p*p*C] -> out [N,C,H,W].
 */
export function unpatchify(
  tokens: Tensor,
  N: number,
  C: number,
  H: number,
  W: number,
  p: number,
): Float64Array {
  expectLength("tokens", tokens, N * C * H * W, "[N,T,p*p*C]");
  return patchifyBackward(tokens, N, C, H, W, p, "seed");
}

/**
 * Backward of {@linkcode unpatchify}.
 *
 * Shapes: dout [N,C,H,W] -> dtokens [N,T,p*p*C] with features ordered (i, j, c).
 */
export function unpatchifyBackward(
  dout: Tensor,
  N: number,
  C: number,
  H: number,
  W: number,
  p: number,
): Float64Array {
  expectLength("dout", dout, N * C * H * W, "[N,C,H,W]");
  return patchify(dout, N, C, H, W, p, "seed");
}
