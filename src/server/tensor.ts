/**
 * Tensors on the wire.
 *
 * The protocol's own form is `{dtype: "float32", shape: number[], data: <bytes, little-endian>}`.
 * Also accepted (after `codec.ts` turned binary keys into strings), so numpy users need no glue:
 * - msgpack-numpy (`msgpack_numpy.encode`): `{nd: true, type: "<f4", kind: b"", shape, data}`;
 * - openpi's convention: `{__ndarray__: true, dtype: "<f4", shape, data}`.
 * Float64 input ("<f8", "float64") is converted to float32; other dtypes are unsupported.
 *
 * @module
 */

import { bytesOf } from "./codec.ts";

/** A float32 tensor as the protocol writes it. */
export interface WireTensor {
  /** Always "float32" in frames the server sends. */
  dtype: "float32";
  /** Dimensions, outermost first. */
  shape: number[];
  /** Little-endian float32 values. */
  data: Uint8Array;
}

/** A decoded tensor. */
export interface Tensor {
  /** Dimensions, outermost first. */
  shape: number[];
  /** Values, row-major. */
  data: Float32Array;
}

/** Why a tensor was refused: `unsupported` for a dtype we do not take, else `bad_request`. */
export class TensorError extends Error {
  /** Wraps a refusal with its protocol error code. */
  constructor(readonly code: "bad_request" | "unsupported", message: string) {
    super(message);
    this.name = "TensorError";
  }
}

const FLOAT32 = new Set(["float32", "<f4", "f4", "=f4"]);
const FLOAT64 = new Set(["float64", "<f8", "f8", "=f8"]);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof Uint8Array);
}

function asText(value: unknown): string | null {
  if (typeof value === "string") return value;
  if (value instanceof Uint8Array) return new TextDecoder().decode(value);
  return null;
}

/** True when `value` looks like a tensor in any accepted convention. */
export function isTensorLike(value: unknown): boolean {
  return isRecord(value) &&
    ("data" in value) && ("shape" in value) &&
    ("dtype" in value || "type" in value || "nd" in value || "__ndarray__" in value);
}

/**
 * Decodes a tensor in any accepted convention, checking that the byte count matches the shape
 * and, unless `allowNonFinite`, that every value is finite. `name` prefixes error messages.
 */
export function decodeTensor(value: unknown, name: string, allowNonFinite = false): Tensor {
  if (!isRecord(value)) throw new TensorError("bad_request", `${name} must be a tensor map`);
  let dtype: string | null;
  if ("nd" in value) {
    if (value.nd !== true) throw new TensorError("bad_request", `${name} must be an array`);
    const kind = value.kind;
    if (kind !== undefined && asText(kind) !== "") {
      throw new TensorError("unsupported", `${name} has a structured or object dtype`);
    }
    dtype = asText(value.type);
  } else {
    if ("__ndarray__" in value && value.__ndarray__ !== true) {
      throw new TensorError("bad_request", `${name} must be an array`);
    }
    dtype = asText(value.dtype);
  }
  if (dtype === null) throw new TensorError("bad_request", `${name} has no dtype`);
  const shape = value.shape;
  if (
    !Array.isArray(shape) || shape.length > 8 ||
    !shape.every((d) => Number.isInteger(d) && d >= 0 && d <= 1 << 30)
  ) {
    throw new TensorError("bad_request", `${name}.shape must be a list of at most 8 sizes`);
  }
  const bytes = value.data;
  if (!(bytes instanceof Uint8Array)) {
    throw new TensorError("bad_request", `${name}.data must be binary`);
  }
  const count = shape.reduce((a: number, b: number) => a * b, 1);
  let data: Float32Array;
  if (FLOAT32.has(dtype)) {
    if (bytes.byteLength !== count * 4) {
      throw new TensorError(
        "bad_request",
        `${name} has ${bytes.byteLength} bytes, shape [${shape}] of float32 needs ${count * 4}`,
      );
    }
    data = new Float32Array(count);
    bytesOf(data).set(bytes);
  } else if (FLOAT64.has(dtype)) {
    if (bytes.byteLength !== count * 8) {
      throw new TensorError(
        "bad_request",
        `${name} has ${bytes.byteLength} bytes, shape [${shape}] of float64 needs ${count * 8}`,
      );
    }
    const wide = new Float64Array(count);
    new Uint8Array(wide.buffer).set(bytes);
    data = Float32Array.from(wide);
  } else {
    throw new TensorError("unsupported", `${name} has dtype '${dtype}', send float32 or float64`);
  }
  if (!allowNonFinite) {
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i])) {
        throw new TensorError("bad_request", `${name} holds a NaN or infinite value at ${i}`);
      }
    }
  }
  return { shape: shape as number[], data };
}

/** A float32 array in the protocol's own tensor form (the bytes are a view, not a copy). */
export function encodeTensor(data: Float32Array, shape: number[]): WireTensor {
  return { dtype: "float32", shape, data: bytesOf(data) };
}
