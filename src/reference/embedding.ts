/**
 * Embedding table lookup (class labels), forward and backward.
 */
import { expectDims, expectDivisible, expectLength, type Tensor } from "./check.ts";

function checkIds(ids: Tensor, rows: number): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= rows) {
      throw new Error(`Embedding id ${id} at position ${i} is not an integer in [0, ${rows})`);
    }
  }
}

/**
 * Gathers rows of a table: y[n] = table[ids[n]].
 *
 * Shapes: table [rows,D], ids [N] (integers in [0, rows)) -> y [N,D].
 */
export function embedding(table: Tensor, ids: Tensor, D: number): Float64Array {
  expectDims({ D });
  expectDivisible("Embedding table length must be a multiple of the width D", table.length, D);
  const rows = table.length / D;
  checkIds(ids, rows);
  const y = new Float64Array(ids.length * D);
  for (let n = 0; n < ids.length; n++) {
    for (let d = 0; d < D; d++) y[n * D + d] = table[ids[n] * D + d];
  }
  return y;
}

/**
 * Backward of {@linkcode embedding}: scatter-adds dy rows into the table gradient (repeated ids
 * accumulate).
 *
 * Shapes: ids [N], dy [N,D] -> dtable [rows,D].
 */
export function embeddingBackward(
  ids: Tensor,
  dy: Tensor,
  rows: number,
  D: number,
): Float64Array {
  expectDims({ rows, D });
  expectLength("dy", dy, ids.length * D, "[N,D]");
  checkIds(ids, rows);
  const dtable = new Float64Array(rows * D);
  for (let n = 0; n < ids.length; n++) {
    for (let d = 0; d < D; d++) dtable[ids[n] * D + d] += dy[n * D + d];
  }
  return dtable;
}
