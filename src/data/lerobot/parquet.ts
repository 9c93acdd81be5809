/**
 * Reading Parquet tables for the LeRobot reader: whole named columns of one file, with every
 * codec pyarrow writes (hyparquet-compressors: snappy, zstd, gzip, brotli, lz4), and errors that
 * name the file and the column.
 */
import { type FileMetaData, parquetMetadata, parquetReadObjects } from "hyparquet";
import { compressors } from "hyparquet-compressors";

/** Columns of one Parquet file by name: one JS value per row (lists as arrays, int64 as bigint). */
export type ParquetColumns = Record<string, unknown[]>;

/** Reads a file's bytes, naming it (relative to the dataset) when it is missing. */
export async function readDatasetFile(root: string, rel: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(`${root}/${rel}`);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(`LeRobot dataset ${root}: missing file ${rel}`);
    }
    throw new Error(`LeRobot dataset ${root}: cannot read ${rel}: ${(e as Error).message}`);
  }
}

/** Top-level column names of a Parquet file. */
export function topLevelColumns(meta: FileMetaData): string[] {
  // schema[0] is the root; its children follow depth-first, so skip each child's subtree.
  const names: string[] = [];
  const schema = meta.schema;
  let i = 1;
  const skip = (at: number): number => {
    let next = at + 1;
    for (let c = 0; c < (schema[at].num_children ?? 0); c++) next = skip(next);
    return next;
  };
  while (i < schema.length) {
    names.push(schema[i].name);
    i = skip(i);
  }
  return names;
}

/**
 * Reads the named columns of the Parquet file `rel` under `root`. `optional` columns may be
 * absent (their entry is then missing from the result); any other absent column is an error
 * naming the file and the column.
 */
export async function readParquetColumns(
  root: string,
  rel: string,
  required: string[],
  optional: string[] = [],
): Promise<{ rows: number; columns: ParquetColumns }> {
  const bytes = await readDatasetFile(root, rel);
  const where = `${root}/${rel}`;
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  let meta: FileMetaData;
  try {
    meta = parquetMetadata(file as ArrayBuffer);
  } catch (e) {
    throw new Error(`${where}: not a readable Parquet file (${(e as Error).message})`);
  }
  const present = new Set(topLevelColumns(meta));
  for (const c of required) {
    if (!present.has(c)) {
      throw new Error(`${where}: no column '${c}' (columns: ${[...present].join(", ")})`);
    }
  }
  const wanted = [...required, ...optional.filter((c) => present.has(c))];
  let rowsRead: Record<string, unknown>[];
  try {
    rowsRead = await parquetReadObjects({
      file: file as ArrayBuffer,
      metadata: meta,
      columns: wanted,
      compressors,
    });
  } catch (e) {
    throw new Error(
      `${where}: cannot decode columns ${wanted.join(", ")}: ${(e as Error).message}`,
    );
  }
  const columns: ParquetColumns = {};
  for (const c of wanted) columns[c] = rowsRead.map((r) => r[c]);
  return { rows: Number(meta.num_rows), columns };
}

/** An integer cell (int32 number or int64 bigint) as a number; errors name file, column, row. */
export function intCell(v: unknown, where: string, column: string, row: number): number {
  const n = typeof v === "bigint" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n)) {
    throw new Error(`${where}: column '${column}' row ${row} is not an integer (${String(v)})`);
  }
  return n;
}
