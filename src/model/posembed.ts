/**
 * The fixed positional embeddings the model is initialised with, computed as upstream computes
 * them: the official 2-D table in float64 as numpy does (then stored as float32), the seed's 1-D
 * table in float32 operation by operation as torch does. `src/reference/posembed.ts` stays the
 * independent float64 oracle these are tested against.
 */
const f = Math.fround;

/**
 * facebookresearch/DiT `get_2d_sincos_pos_embed(D, gridSize)`: per token (row, col) the features
 * `[sin(col*w), cos(col*w), sin(row*w), cos(row*w)]`, `w_k = 1 / 10000^(k / (D/4))`, k < D/4 (the
 * official meshgrid puts the column first). D must be a multiple of 4.
 *
 * Shape: -> [gridSize * gridSize, D].
 */
export function officialPosEmbed(D: number, gridSize: number): Float32Array {
  if (!(D > 0 && D % 4 === 0)) {
    throw new Error(`Position embedding width ${D} must be a multiple of 4`);
  }
  const quarter = D / 4;
  // numpy: omega = arange(D/4) / (D/4); omega = 1 / 10000**omega (float64).
  const omega = Float64Array.from({ length: quarter }, (_, k) => 1 / 10000 ** (k / quarter));
  const table = new Float32Array(gridSize * gridSize * D);
  let o = 0;
  for (let row = 0; row < gridSize; row++) {
    for (let col = 0; col < gridSize; col++) {
      for (const pos of [col, row]) {
        for (let k = 0; k < quarter; k++) table[o + k] = Math.sin(pos * omega[k]);
        for (let k = 0; k < quarter; k++) table[o + quarter + k] = Math.cos(pos * omega[k]);
        o += 2 * quarter;
      }
    }
  }
  return table;
}

/**
 * The seed's (dit.py) interleaved 1-D table over token index n:
 * `div = exp(arange(0, D, 2) * (-ln(10000) / D))`, `pe[n, 0::2] = sin(n * div)`,
 * `pe[n, 1::2] = cos(n * div)`, each operation rounded to float32 as torch does.
 *
 * Shape: -> [T, D].
 */
export function seedPosEmbed(T: number, D: number): Float32Array {
  if (!(T > 0 && D > 0)) throw new Error(`Position embedding needs T, D > 0, got ${T}, ${D}`);
  const scale = f(-Math.log(10000) / D);
  const pairs = Math.ceil(D / 2);
  const div = Float32Array.from({ length: pairs }, (_, i) => f(Math.exp(f(2 * i * scale))));
  const table = new Float32Array(T * D);
  for (let n = 0; n < T; n++) {
    for (let i = 0; i < pairs; i++) {
      const arg = f(n * div[i]);
      table[n * D + 2 * i] = Math.sin(arg);
      if (2 * i + 1 < D) table[n * D + 2 * i + 1] = Math.cos(arg);
    }
  }
  return table;
}
