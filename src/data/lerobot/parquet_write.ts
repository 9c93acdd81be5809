/**
 * Encoding Parquet tables the way pyarrow lays out LeRobot's columns: nullable scalar columns,
 * vectors as 3-level `list<element>` groups, strings as UTF8 byte arrays, snappy compression.
 */
import { parquetWriteBuffer } from "hyparquet-writer";

/** hyparquet-writer's schema element (its own pinned copy of hyparquet's type). */
type SchemaElement = NonNullable<Parameters<typeof parquetWriteBuffer>[0]["schema"]>[number];

/** One column to write: its name, Parquet kind and one value per row. */
export type ParquetColumn =
  | { name: string; kind: "float32" | "float64" | "int64"; data: ArrayLike<number> }
  | { name: string; kind: "float32[]" | "float64[]"; data: ArrayLike<number>[] }
  | { name: string; kind: "string"; data: string[] }
  | { name: string; kind: "string[]"; data: string[][] };

const PHYSICAL = {
  float32: "FLOAT",
  float64: "DOUBLE",
  int64: "INT64",
} as const;

/**
 * Encodes `columns` (all of equal row count) as one snappy-compressed Parquet file, with optional
 * key-value metadata (e.g. the `pandas` record that names an index column).
 */
export function encodeParquet(
  columns: ParquetColumn[],
  kvMetadata?: { key: string; value: string }[],
): Uint8Array {
  const rows = columns[0]?.data.length ?? 0;
  const schema: SchemaElement[] = [{ name: "schema", num_children: columns.length }];
  const columnData = columns.map((col) => {
    if (col.data.length !== rows) {
      throw new Error(`column '${col.name}' has ${col.data.length} rows, expected ${rows}`);
    }
    switch (col.kind) {
      case "float32":
      case "float64":
        schema.push({ name: col.name, type: PHYSICAL[col.kind], repetition_type: "OPTIONAL" });
        return { name: col.name, data: Array.from(col.data) };
      case "int64":
        schema.push({ name: col.name, type: "INT64", repetition_type: "OPTIONAL" });
        return { name: col.name, data: Array.from(col.data, (v) => BigInt(v)) };
      case "string":
        schema.push({
          name: col.name,
          type: "BYTE_ARRAY",
          converted_type: "UTF8",
          repetition_type: "OPTIONAL",
        });
        return { name: col.name, data: col.data };
      case "float32[]":
      case "float64[]":
      case "string[]": {
        const leaf: SchemaElement = col.kind === "string[]"
          ? { name: "element", type: "BYTE_ARRAY", converted_type: "UTF8" }
          : { name: "element", type: col.kind === "float32[]" ? "FLOAT" : "DOUBLE" };
        schema.push(
          { name: col.name, repetition_type: "OPTIONAL", converted_type: "LIST", num_children: 1 },
          { name: "list", repetition_type: "REPEATED", num_children: 1 },
          { ...leaf, repetition_type: "OPTIONAL" },
        );
        return {
          name: col.name,
          data: (col.data as ArrayLike<unknown>[]).map((v) => Array.from(v)),
        };
      }
    }
  });
  const buf = parquetWriteBuffer({
    columnData,
    schema,
    codec: "SNAPPY",
    ...(kvMetadata ? { kvMetadata } : {}),
  });
  return new Uint8Array(buf);
}
