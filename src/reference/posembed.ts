/**
 * Fixed sine-cosine positional embeddings for the patch tokens.
 */
import { expectDims, expectDivisible } from "./check.ts";

/**
 * 1-D sine-cosine embedding of one position into `out[offset .. offset+dim)`, as the official
 * `get_1d_sincos_pos_embed_from_grid(dim, pos)`: omega_k = 1/10000^(k/(dim/2)), k < dim/2, and
 * out = [sin(pos*omega), cos(pos*omega)].
 */
function sinCos1d(out: Float64Array, offset: number, dim: number, pos: number): void {
  const half = dim / 2;
  for (let k = 0; k < half; k++) {
    const omega = 1 / Math.pow(10000, k / half);
    const arg = pos * omega;
    out[offset + k] = Math.sin(arg);
    out[offset + half + k] = Math.cos(arg);
  }
}

/**
 * 2-D sine-cosine embedding exactly as facebookresearch/DiT `get_2d_sincos_pos_embed(D, gridSize)`
 * (no class token).
 *
 * The official code builds `grid = np.meshgrid(grid_w, grid_h)`, so grid[0] is the column (w)
 * coordinate. Its first half ("emb_h", from grid[0]) therefore embeds the column and its second
 * half ("emb_w", from grid[1]) the row: for token t = row*gridSize + col,
 * pe[t] = [sin(col*omega), cos(col*omega), sin(row*omega), cos(row*omega)] with
 * omega_k = 1/10000^(k/(D/4)), k < D/4. D must be a multiple of 4.
 *
 * Shape: -> pe [T = gridSize*gridSize, D].
 */
export function posEmbed2dSinCos(D: number, gridSize: number): Float64Array {
  expectDims({ D, gridSize });
  expectDivisible("The 2-D sine-cosine embedding width D must be a multiple of 4", D, 4);
  const T = gridSize * gridSize;
  const pe = new Float64Array(T * D);
  for (let row = 0; row < gridSize; row++) {
    for (let col = 0; col < gridSize; col++) {
      const t = row * gridSize + col;
      sinCos1d(pe, t * D, D / 2, col);
      sinCos1d(pe, t * D + D / 2, D / 2, row);
    }
  }
  return pe;
}

/**
 * 1-D interleaved sine-cosine embedding of the seed architecture:
 * pe[n,2i] = sin(n * exp(-2i*ln(10000)/D)), pe[n,2i+1] = cos(n * exp(-2i*ln(10000)/D)).
 * For odd D the last column is a sine.
 *
 * Shape: -> pe [T,D].
 */
export function posEmbedSeedInit(T: number, D: number): Float64Array {
  expectDims({ T, D });
  const pe = new Float64Array(T * D);
  for (let n = 0; n < T; n++) {
    for (let d = 0; d < D; d++) {
      const i2 = d - (d % 2);
      const arg = n * Math.exp(-i2 * Math.log(10000) / D);
      pe[n * D + d] = d % 2 === 0 ? Math.sin(arg) : Math.cos(arg);
    }
  }
  return pe;
}
