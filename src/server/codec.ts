/**
 * MessagePack framing shared by the server and the TypeScript client.
 *
 * Decoding reads maps as `Map`s and turns them into plain objects, converting binary keys to
 * strings: Python's msgpack with `use_bin_type=True` writes the `bytes` keys of numpy conventions
 * (`{b"nd": True, ...}`, `{b"__ndarray__": True, ...}`) as binary, which msgpackr's object mode
 * rejects. Nesting is bounded so hostile frames cannot exhaust the stack.
 *
 * @module
 */

import { Packr, Unpackr } from "msgpackr";

const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: false, int64AsType: "number" });
const packr = new Packr({ useRecords: false, variableMapSize: true });
const keyDecoder = new TextDecoder("utf-8", { fatal: true });

/** Deepest nesting accepted in a frame. */
export const MAX_DEPTH = 16;

/** Thrown when bytes are not one valid MessagePack value. */
export class DecodeError extends Error {
  /** Wraps a decoding failure. */
  constructor(message: string) {
    super(message);
    this.name = "DecodeError";
  }
}

function plain(value: unknown, depth: number): unknown {
  if (depth > MAX_DEPTH) throw new DecodeError(`Frame nests deeper than ${MAX_DEPTH} levels`);
  if (value instanceof Map) {
    const entries: [string, unknown][] = [];
    for (const [key, item] of value) {
      let name: string;
      if (typeof key === "string") name = key;
      else if (key instanceof Uint8Array) {
        try {
          name = keyDecoder.decode(key);
        } catch {
          throw new DecodeError("Map key is not valid UTF-8");
        }
      } else if (typeof key === "number" || typeof key === "boolean") name = String(key);
      else throw new DecodeError("Map keys must be strings, bytes or numbers");
      entries.push([name, plain(item, depth + 1)]);
    }
    return Object.fromEntries(entries);
  }
  if (Array.isArray(value)) return value.map((item) => plain(item, depth + 1));
  return value;
}

/** Decodes one frame into plain JSON-like values (binary stays `Uint8Array`). */
export function decodeFrame(bytes: Uint8Array): unknown {
  let raw: unknown;
  try {
    raw = unpackr.unpack(bytes);
  } catch (error) {
    throw new DecodeError(`Frame is not valid MessagePack: ${(error as Error).message}`);
  }
  return plain(raw, 0);
}

/**
 * Encodes a frame. Binary payloads must be passed as `Uint8Array` views (typed arrays of other
 * element types are not encoded as their bytes).
 */
export function encodeFrame(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** The bytes of a float array as a `Uint8Array` view (no copy). */
export function bytesOf(array: Float32Array): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}
