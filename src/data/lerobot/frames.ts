/**
 * Turning one Parquet column of per-frame vectors (list, fixed-size list or scalar cells) into
 * flat channel-last Float32Arrays, refusing ragged rows and non-finite values.
 */

/**
 * Copies rows `[from, to)` of a vector column into `out` starting at frame `outFrame`
 * (`out` is [frames, width]). `where` names the file; errors name file, column and row.
 */
export function copyVectorRows(
  cells: unknown[],
  from: number,
  to: number,
  width: number,
  out: Float32Array,
  outFrame: number,
  where: string,
  column: string,
): void {
  for (let r = from; r < to; r++) {
    const cell = cells[r];
    const o = (outFrame + r - from) * width;
    if (typeof cell === "number" || typeof cell === "bigint") {
      if (width !== 1) {
        throw new Error(
          `${where}: column '${column}' row ${r} is a scalar, info.json shape says ${width} values`,
        );
      }
      out[o] = checkFinite(Number(cell), where, column, r, 0);
      continue;
    }
    if (!isArrayLike(cell)) {
      throw new Error(`${where}: column '${column}' row ${r} is not a vector (${String(cell)})`);
    }
    if (cell.length !== width) {
      throw new Error(
        `${where}: column '${column}' row ${r} has ${cell.length} values, info.json shape says ${width}`,
      );
    }
    for (let c = 0; c < width; c++) {
      const v = cell[c];
      if (typeof v !== "number") {
        throw new Error(
          `${where}: column '${column}' row ${r} channel ${c} is not a number (${String(v)})`,
        );
      }
      out[o + c] = checkFinite(v, where, column, r, c);
    }
  }
}

function isArrayLike(v: unknown): v is ArrayLike<unknown> {
  return Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView));
}

function checkFinite(v: number, where: string, column: string, row: number, ch: number): number {
  if (!Number.isFinite(v)) {
    throw new Error(`${where}: column '${column}' row ${row} channel ${ch} is not finite (${v})`);
  }
  // float64 values beyond float32's range would become Infinity in the Float32Array.
  if (!Number.isFinite(Math.fround(v))) {
    throw new Error(
      `${where}: column '${column}' row ${row} channel ${ch} overflows float32 (${v})`,
    );
  }
  return v;
}
