/**
 * Safetensors reader and writer (https://github.com/huggingface/safetensors format).
 *
 * Layout: `u64` little-endian header length `n`, `n` bytes of JSON header, then the data section.
 * The header maps tensor names to `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to
 * the data section) plus an optional `__metadata__` map of strings. Everything is little-endian.
 *
 * The reader validates the header (length within the file, offsets within the data section and
 * equal to dtype size x element count, no overlapping tensors) and names the offending tensor in
 * every error. The writer pads the header with spaces so the data section starts 8-byte aligned and
 * stores 8-byte dtypes first, so every tensor is aligned to its element size (as the golden files).
 */
import { writeFileAtomic } from "./atomic.ts";

/** Element types of the safetensors format. */
export type Dtype =
  | "F64"
  | "F32"
  | "F16"
  | "BF16"
  | "I64"
  | "I32"
  | "I16"
  | "I8"
  | "U64"
  | "U32"
  | "U16"
  | "U8"
  | "BOOL";

/** Bytes per element of each dtype. */
export const DTYPE_SIZE: Readonly<Record<Dtype, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
};

/** Typed-array view of a tensor's data (F16 and BF16 are raw `Uint16Array` bit patterns). */
export type TensorData =
  | Float64Array
  | Float32Array
  | Uint16Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | BigUint64Array
  | Uint32Array
  | Uint8Array;

/** Header entry of one tensor. */
export interface TensorInfo {
  /** Element type. */
  dtype: Dtype;
  /** Dimensions (empty for a scalar). */
  shape: number[];
  /** `[begin, end)` byte range relative to the start of the data section. */
  dataOffsets: [number, number];
}

/** A tensor read from a file. */
export interface TensorEntry {
  /** Element type. */
  dtype: Dtype;
  /** Dimensions (empty for a scalar). */
  shape: number[];
  /** Element data; may share memory with the file bytes (do not mutate unless you own them). */
  data: TensorData;
}

/** Largest header the reader accepts (the reference implementation's limit, 100 MB). */
const MAX_HEADER = 100_000_000;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function assertLittleEndian(): void {
  if (!LITTLE_ENDIAN) throw new Error("Safetensors I/O needs a little-endian host");
}

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function isDtype(s: unknown): s is Dtype {
  return typeof s === "string" && Object.hasOwn(DTYPE_SIZE, s);
}

/** A parsed safetensors file. Create with {@linkcode readSafetensors} or {@linkcode loadSafetensors}. */
export class SafeTensors {
  /** The `__metadata__` string map (empty when absent). */
  readonly metadata: Record<string, string>;
  /** Byte offset of the data section within the file. */
  readonly dataStart: number;
  readonly #bytes: Uint8Array;
  readonly #infos: Map<string, TensorInfo>;

  /** Parses and validates `bytes` (kept by reference, not copied). */
  constructor(bytes: Uint8Array) {
    assertLittleEndian();
    if (bytes.length < 8) {
      throw new Error(`File of ${bytes.length} bytes is too short for a safetensors header`);
    }
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const n64 = dv.getBigUint64(0, true);
    if (n64 > BigInt(bytes.length - 8)) {
      throw new Error(
        `Safetensors header length ${n64} exceeds the ${
          bytes.length - 8
        } bytes after the length field (truncated or not a safetensors file)`,
      );
    }
    const n = Number(n64);
    if (n > MAX_HEADER) throw new Error(`Safetensors header length ${n} exceeds ${MAX_HEADER}`);
    let header: unknown;
    try {
      header = JSON.parse(
        new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n)),
      );
    } catch (e) {
      throw new Error(`Safetensors header is not valid UTF-8 JSON: ${(e as Error).message}`);
    }
    if (typeof header !== "object" || header === null || Array.isArray(header)) {
      throw new Error("Safetensors header is not a JSON object");
    }
    this.#bytes = bytes;
    this.dataStart = 8 + n;
    const dataLen = bytes.length - this.dataStart;
    this.metadata = {};
    this.#infos = new Map();
    for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
      if (name === "__metadata__") {
        if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
          throw new Error("Safetensors __metadata__ is not an object");
        }
        for (const [k, v] of Object.entries(raw)) {
          if (typeof v !== "string") {
            throw new Error(`Safetensors __metadata__ value ${k} is not a string`);
          }
          this.metadata[k] = v;
        }
        continue;
      }
      this.#infos.set(name, parseInfo(name, raw, dataLen));
    }
    // No two tensors may share bytes.
    const sorted = [...this.#infos].sort((a, b) => a[1].dataOffsets[0] - b[1].dataOffsets[0]);
    for (let i = 1; i < sorted.length; i++) {
      const [pn, p] = sorted[i - 1];
      const [cn, c] = sorted[i];
      if (c.dataOffsets[0] < p.dataOffsets[1]) {
        throw new Error(
          `Tensor ${cn} bytes [${c.dataOffsets}] overlap tensor ${pn} bytes [${p.dataOffsets}]`,
        );
      }
    }
  }

  /** Tensor names in header order. */
  names(): string[] {
    return [...this.#infos.keys()];
  }

  /** Whether the file holds tensor `name`. */
  has(name: string): boolean {
    return this.#infos.has(name);
  }

  /** Header entry of tensor `name`. */
  info(name: string): TensorInfo {
    const info = this.#infos.get(name);
    if (!info) throw new Error(`No tensor named ${name} in the safetensors file`);
    return info;
  }

  /** Raw little-endian bytes of tensor `name` (a view into the file). */
  bytes(name: string): Uint8Array {
    const { dataOffsets: [b, e] } = this.info(name);
    return this.#bytes.subarray(this.dataStart + b, this.dataStart + e);
  }

  /**
   * Tensor `name` with its data as a typed array: a zero-copy view when the bytes are aligned to
   * the element size, a copy otherwise. F16 and BF16 come as raw `Uint16Array` bit patterns (use
   * {@linkcode SafeTensors.float32} to convert).
   */
  get(name: string): TensorEntry {
    const info = this.info(name);
    let raw = this.bytes(name);
    const size = DTYPE_SIZE[info.dtype];
    if (raw.byteOffset % size !== 0) raw = raw.slice();
    const { buffer, byteOffset } = raw;
    const count = raw.length / size;
    const data: TensorData = (() => {
      switch (info.dtype) {
        case "F64":
          return new Float64Array(buffer, byteOffset, count);
        case "F32":
          return new Float32Array(buffer, byteOffset, count);
        case "F16":
        case "BF16":
        case "U16":
          return new Uint16Array(buffer, byteOffset, count);
        case "I64":
          return new BigInt64Array(buffer, byteOffset, count);
        case "U64":
          return new BigUint64Array(buffer, byteOffset, count);
        case "I32":
          return new Int32Array(buffer, byteOffset, count);
        case "U32":
          return new Uint32Array(buffer, byteOffset, count);
        case "I16":
          return new Int16Array(buffer, byteOffset, count);
        case "I8":
          return new Int8Array(buffer, byteOffset, count);
        case "U8":
        case "BOOL":
          return new Uint8Array(buffer, byteOffset, count);
      }
    })();
    return { dtype: info.dtype, shape: [...info.shape], data };
  }

  /**
   * Tensor `name` as float32: F32 as stored (a view when aligned), F64 rounded, F16/BF16
   * widened exactly. Integer dtypes are rejected.
   */
  float32(name: string): Float32Array {
    const { dtype, data } = this.get(name);
    switch (dtype) {
      case "F32":
        return data as Float32Array;
      case "F64":
        return Float32Array.from(data as Float64Array);
      case "F16":
        return f16ToF32(data as Uint16Array);
      case "BF16":
        return bf16ToF32(data as Uint16Array);
      default:
        throw new Error(`Tensor ${name} has dtype ${dtype}, not a float type`);
    }
  }

  /** Tensor `name` (dtype I64) as a `BigInt64Array`. */
  int64(name: string): BigInt64Array {
    const { dtype, data } = this.get(name);
    if (dtype !== "I64") throw new Error(`Tensor ${name} has dtype ${dtype}, not I64`);
    return data as BigInt64Array;
  }

  /**
   * Tensor `name` as plain numbers, for any dtype. 64-bit integers outside the safe-integer
   * range are rejected.
   */
  numbers(name: string): number[] {
    const { dtype } = this.info(name);
    if (dtype === "F16" || dtype === "BF16") return [...this.float32(name)];
    const data = this.get(name).data;
    if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
      return Array.from(data as ArrayLike<bigint>, (v, i) => {
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
          throw new Error(`Tensor ${name}[${i}] = ${v} is outside the safe integer range`);
        }
        return Number(v);
      });
    }
    return Array.from(data as ArrayLike<number>);
  }
}

function parseInfo(name: string, raw: unknown, dataLen: number): TensorInfo {
  if (typeof raw !== "object" || raw === null) {
    throw new Error(`Tensor ${name}: header entry is not an object`);
  }
  const { dtype, shape, data_offsets: offs } = raw as Record<string, unknown>;
  if (!isDtype(dtype)) {
    throw new Error(`Tensor ${name}: unsupported dtype ${JSON.stringify(dtype)}`);
  }
  if (
    !Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)
  ) {
    throw new Error(`Tensor ${name}: bad shape ${JSON.stringify(shape)}`);
  }
  if (
    !Array.isArray(offs) || offs.length !== 2 ||
    !offs.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)
  ) {
    throw new Error(`Tensor ${name}: bad data_offsets ${JSON.stringify(offs)}`);
  }
  const [begin, end] = offs as [number, number];
  if (end < begin) {
    throw new Error(`Tensor ${name}: data_offsets [${begin}, ${end}] end before begin`);
  }
  if (end > dataLen) {
    throw new Error(
      `Tensor ${name}: data_offsets [${begin}, ${end}] reach past the ${dataLen}-byte data section (file truncated?)`,
    );
  }
  const expected = numel(shape as number[]) * DTYPE_SIZE[dtype];
  if (end - begin !== expected) {
    throw new Error(
      `Tensor ${name}: ${end - begin} data bytes, but ${dtype} [${shape}] needs ${expected}`,
    );
  }
  return { dtype, shape: shape as number[], dataOffsets: [begin, end] };
}

/** Parses safetensors bytes (kept by reference). See {@linkcode SafeTensors}. */
export function readSafetensors(bytes: Uint8Array): SafeTensors {
  return new SafeTensors(bytes);
}

/** Reads and parses a safetensors file; errors name the path. */
export async function loadSafetensors(path: string | URL): Promise<SafeTensors> {
  const bytes = await Deno.readFile(path);
  try {
    return new SafeTensors(bytes);
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`, { cause: e });
  }
}

/** Converts IEEE half-precision bit patterns to float32 (exact). */
export function f16ToF32(h: Uint16Array): Float32Array {
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) {
    const v = h[i];
    const sign = v & 0x8000 ? -1 : 1;
    const exp = (v >> 10) & 0x1f;
    const frac = v & 0x3ff;
    if (exp === 0) out[i] = sign * frac * 2 ** -24;
    else if (exp === 31) out[i] = frac ? NaN : sign * Infinity;
    else out[i] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return out;
}

/** Converts bfloat16 bit patterns to float32 (exact). */
export function bf16ToF32(h: Uint16Array): Float32Array {
  const bits = new Uint32Array(h.length);
  for (let i = 0; i < h.length; i++) bits[i] = h[i] << 16;
  return new Float32Array(bits.buffer);
}

/** A tensor to write. `data.length` must equal the product of `shape`. */
export type TensorInput =
  | { dtype: "F32"; shape: number[]; data: Float32Array }
  | { dtype: "I64"; shape: number[]; data: BigInt64Array }
  | { dtype: "I32"; shape: number[]; data: Int32Array }
  | { dtype: "U8"; shape: number[]; data: Uint8Array };

/**
 * Encodes tensors (and optional string metadata) as safetensors bytes. 8-byte dtypes are stored
 * first, then 4-byte, then 1-byte ones (insertion order within each group), so every tensor is
 * aligned to its element size; the JSON header is space-padded to make the data section start at
 * a multiple of 8.
 */
export function encodeSafetensors(
  tensors: Record<string, TensorInput>,
  metadata?: Record<string, string>,
): Uint8Array {
  assertLittleEndian();
  const entries = Object.entries(tensors);
  for (const [name, t] of entries) {
    if (name === "__metadata__") throw new Error("Tensor name __metadata__ is reserved");
    if (!isDtype(t.dtype)) throw new Error(`Tensor ${name}: unsupported dtype ${t.dtype}`);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new Error(`Tensor ${name}: bad shape [${t.shape}]`);
    }
    if (t.data.length !== numel(t.shape)) {
      throw new Error(`Tensor ${name}: ${t.data.length} values for shape [${t.shape}]`);
    }
  }
  const ordered = [...entries].sort((a, b) => DTYPE_SIZE[b[1].dtype] - DTYPE_SIZE[a[1].dtype]);
  const header: Record<string, unknown> = {};
  if (metadata) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") throw new Error(`Metadata value ${k} is not a string`);
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const [name, t] of ordered) {
    const bytes = t.data.byteLength;
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil((8 + json.length) / 8) * 8 - 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const [, t] of ordered) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

/** Encodes tensors with {@linkcode encodeSafetensors} and writes them with {@linkcode writeFileAtomic}. */
export async function writeSafetensorsAtomic(
  path: string | URL,
  tensors: Record<string, TensorInput>,
  metadata?: Record<string, string>,
): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}
