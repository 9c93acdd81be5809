/**
 * numpy over MessagePack as openpi-client writes and reads it (`openpi_client/msgpack_numpy.py`):
 * an array is a map `{b"__ndarray__": True, b"data": <bytes>, b"dtype": "<f4", b"shape": [...]}`
 * and a numpy scalar `{b"__npgeneric__": True, b"data": <value>, b"dtype": "<f8"}`, the keys being
 * msgpack bin (Python bytes). openpi-client's decoder recognises only bytes keys, so every array
 * this module writes has bin keys; frames are read by `codec.ts`'s `decodeFrame`, which turns bin
 * keys into strings, so arrays with string keys are read the same way.
 *
 * @module
 */

import { decodeTensor, type Tensor, TensorError } from "./tensor.ts";

const keyBytes = (name: string) => new TextEncoder().encode(name);
const NDARRAY = keyBytes("__ndarray__");
const DATA = keyBytes("data");
const DTYPE = keyBytes("dtype");
const SHAPE = keyBytes("shape");

/**
 * A float32 (or float64) array as openpi-client's map with bin keys (a `Map`, since plain objects
 * cannot have binary keys); `data` is a view of `values`, not a copy.
 */
export function ndarray(
  values: Float32Array | Float64Array,
  shape: number[],
): Map<Uint8Array, unknown> {
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  return new Map<Uint8Array, unknown>([
    [NDARRAY, true],
    [DATA, bytes],
    [DTYPE, values instanceof Float64Array ? "<f8" : "<f4"],
    [SHAPE, shape],
  ]);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof Uint8Array);
}

const SCALAR_DTYPES = /^[<>=|]?[fiub]\d+$/;

/**
 * Reads a float array from a decoded frame value: an openpi / msgpack-numpy array (float32 or
 * float64), or a numpy scalar (`__npgeneric__`, read as shape `[]`). Throws {@linkcode TensorError}
 * naming `name` for anything else, or for a NaN or infinite value.
 */
export function readFloatArray(value: unknown, name: string): Tensor {
  if (isRecord(value) && "__npgeneric__" in value) {
    const dtype = typeof value.dtype === "string" ? value.dtype : "";
    const data = value.data;
    if (value.__npgeneric__ !== true || !SCALAR_DTYPES.test(dtype)) {
      throw new TensorError("bad_request", `${name} is a numpy scalar of unsupported dtype`);
    }
    const x = typeof data === "bigint" ? Number(data) : data;
    if (typeof x !== "number" && typeof x !== "boolean") {
      throw new TensorError("bad_request", `${name} is a numpy scalar without a number`);
    }
    const v = Number(x);
    if (!Number.isFinite(v)) {
      throw new TensorError("bad_request", `${name} holds a NaN or infinite value`);
    }
    return { shape: [], data: Float32Array.of(v) };
  }
  if (!isRecord(value) || !("shape" in value) || !("data" in value)) {
    throw new TensorError(
      "bad_request",
      `${name} must be a numpy array (openpi-client's __ndarray__ map)`,
    );
  }
  return decodeTensor(value, name);
}
