/**
 * Protocol v1 frames: zod schemas for both directions, and the validation of client frames against
 * a model and the server's limits. The prose version is docs/protocol.md.
 *
 * @module
 */

import { z } from "zod";
import type { ModelInfo } from "./denoiser.ts";
import { sampleSize } from "./denoiser.ts";
import { decodeTensor, TensorError } from "./tensor.ts";

/** Protocol version spoken by this server and client. */
export const PROTOCOL_VERSION = 1;

/** Error codes of `error` frames. */
export const ERROR_CODES = [
  "bad_request",
  "unsupported",
  "too_large",
  "overloaded",
  "cancelled",
  "internal",
] as const;

/** One of {@linkcode ERROR_CODES}. */
export type ErrorCode = typeof ERROR_CODES[number];

/** Server limits announced in the `hello` frame. */
export interface Limits {
  /** Most samples in one batch, and so in one request. */
  maxBatch: number;
  /** Most sampling steps in one request. */
  maxSteps: number;
  /** Largest frame accepted, in bytes. */
  maxFrameBytes: number;
  /** Most unanswered requests per connection. */
  maxInflightPerConnection: number;
}

/** A request id: a non-empty string (at most 128 characters) or an integer, echoed back as sent. */
export type RequestId = string | number;

/** Schema of a {@linkcode RequestId}. */
export const idSchema: z.ZodType<RequestId> = z.union([
  z.string().min(1).max(128),
  z.number().int().safe(),
]);

/** A `sample` frame as the client sends it (nil counts as absent). */
export interface SampleFrame {
  /** Frame type. */
  type: "sample";
  /** Request id, unique among the connection's unanswered requests. */
  id: RequestId;
  /** Number of samples (1..maxBatch). */
  n: number;
  /** Sampling steps (1..maxSteps). */
  steps: number;
  /** One of the samplers in `hello`. */
  sampler: string;
  /** Request seed (uint32); drawn by the server when absent. */
  seed?: number | null;
  /** Class label, one for all samples or one per sample. */
  class?: number | number[] | null;
  /** Condition vectors, a tensor `[n, dim]` or `[dim]`. */
  cond?: unknown;
  /** Initial x_T, a tensor `[n, ...shape]`. */
  noise?: unknown;
  /** What the result carries (default ["x0"]). */
  return?: ("x0" | "png")[] | null;
  /** Send the x0 estimate after every step. */
  previews?: boolean | null;
}

/** Schema of a client's `sample` frame (tensors are checked after it). */
export const sampleSchema: z.ZodType<SampleFrame> = z.object({
  type: z.literal("sample"),
  id: idSchema,
  n: z.number().int().min(1),
  steps: z.number().int().min(1),
  sampler: z.string().min(1).max(64),
  seed: z.number().int().min(0).max(0xffffffff).nullish(),
  class: z.union([z.number().int(), z.array(z.number().int()).max(1 << 16)]).nullish(),
  cond: z.unknown().optional(),
  noise: z.unknown().optional(),
  return: z.array(z.enum(["x0", "png"])).min(1).max(2).nullish(),
  previews: z.boolean().nullish(),
}).strict();

/** A `cancel` frame. */
export interface CancelFrame {
  /** Frame type. */
  type: "cancel";
  /** The request to cancel. */
  id: RequestId;
}

/** Schema of a client's `cancel` frame. */
export const cancelSchema: z.ZodType<CancelFrame> = z.object({
  type: z.literal("cancel"),
  id: idSchema,
}).strict();

/** A validated sample request, tensors decoded. */
export interface SampleRequest {
  /** Request id, as sent. */
  id: RequestId;
  /** Number of samples. */
  n: number;
  /** Sampling steps. */
  steps: number;
  /** Sampler name. */
  sampler: string;
  /** The request seed; drawn at random when the client sent none. */
  seed: number;
  /** One class per sample (class models). */
  classes?: Int32Array;
  /** Condition vectors `[n * dim]` (vector models). */
  cond?: Float32Array;
  /** Initial x_T `[n * prod(shape)]`. */
  noise?: Float32Array;
  /** The result carries x0. */
  wantX0: boolean;
  /** The result carries PNGs. */
  wantPng: boolean;
  /** Previews are sent after each step. */
  previews: boolean;
}

/** A refused frame: the error frame to answer with. */
export class ProtocolError extends Error {
  /** Carries the code, and the request id when the frame had one. */
  constructor(readonly code: ErrorCode, message: string, readonly id?: RequestId) {
    super(message);
    this.name = "ProtocolError";
  }
}

/** A parsed client frame. */
export type ClientMessage =
  | { type: "sample"; request: SampleRequest; seedGiven: boolean }
  | { type: "cancel"; id: RequestId };

/** A zod error as one line: the first issue, with where it is. */
export function describeZodError(error: z.ZodError): string {
  const issue = error.issues[0];
  const where = issue.path.length > 0 ? issue.path.join(".") : "frame";
  if (issue.code === "unrecognized_keys") return `Unknown field '${issue.keys[0]}'`;
  return `Invalid ${where}: ${issue.message}`;
}

function idOf(frame: unknown): RequestId | undefined {
  if (typeof frame !== "object" || frame === null) return undefined;
  const parsed = idSchema.safeParse((frame as Record<string, unknown>).id);
  return parsed.success ? parsed.data : undefined;
}

/** What validation needs to know about the server. */
export interface ValidationContext {
  /** The served model. */
  info: ModelInfo;
  /** The server's limits. */
  limits: Limits;
  /** Whether PNGs can be rendered. */
  canPng: boolean;
  /** Draws a seed for requests without one. */
  randomSeed: () => number;
}

/**
 * Validates a decoded client frame. Throws {@linkcode ProtocolError} with the code and message of
 * the error frame to send back.
 */
export function parseClientFrame(frame: unknown, ctx: ValidationContext): ClientMessage {
  const id = idOf(frame);
  if (typeof frame !== "object" || frame === null || Array.isArray(frame)) {
    throw new ProtocolError("bad_request", "Frame must be a map");
  }
  const type = (frame as Record<string, unknown>).type;
  if (type === "cancel") {
    const parsed = cancelSchema.safeParse(frame);
    if (!parsed.success) throw new ProtocolError("bad_request", describeZodError(parsed.error), id);
    return { type: "cancel", id: parsed.data.id };
  }
  if (type !== "sample") {
    throw new ProtocolError(
      typeof type === "string" ? "unsupported" : "bad_request",
      typeof type === "string" ? `Unknown frame type '${type}'` : "Frame has no string type",
      id,
    );
  }
  const parsed = sampleSchema.safeParse(frame);
  if (!parsed.success) throw new ProtocolError("bad_request", describeZodError(parsed.error), id);
  return validateSample(parsed.data, ctx);
}

function validateSample(f: SampleFrame, ctx: ValidationContext): ClientMessage {
  const { info, limits } = ctx;
  const fail = (code: ErrorCode, message: string) => new ProtocolError(code, message, f.id);
  if (f.n > limits.maxBatch) {
    throw fail("too_large", `n is ${f.n}, the limit is ${limits.maxBatch}`);
  }
  if (f.steps > limits.maxSteps) {
    throw fail("too_large", `steps is ${f.steps}, the limit is ${limits.maxSteps}`);
  }
  if (!info.samplers.includes(f.sampler)) {
    throw fail("unsupported", `Unknown sampler '${f.sampler}', use one of ${info.samplers}`);
  }
  const ret = f.return ?? ["x0"];
  const wantPng = ret.includes("png");
  if (wantPng && !ctx.canPng) throw fail("unsupported", "This model cannot render PNGs");
  const request: SampleRequest = {
    id: f.id,
    n: f.n,
    steps: f.steps,
    sampler: f.sampler,
    seed: f.seed ?? ctx.randomSeed(),
    wantX0: ret.includes("x0"),
    wantPng,
    previews: f.previews ?? false,
  };
  const cond = info.condition;
  if (cond.kind === "class") {
    if (f.class === undefined || f.class === null) {
      throw fail("bad_request", "class is required by this class-conditional model");
    }
    const list = typeof f.class === "number" ? new Array(f.n).fill(f.class) : f.class;
    if (list.length !== f.n) {
      throw fail("bad_request", `class has ${list.length} labels for n = ${f.n}`);
    }
    for (const c of list) {
      if (c < 0 || c >= cond.numClasses) {
        throw fail("bad_request", `class ${c} is out of range [0, ${cond.numClasses})`);
      }
    }
    request.classes = Int32Array.from(list);
  } else if (f.class !== undefined && f.class !== null) {
    throw fail("unsupported", "This model takes no class label");
  }
  try {
    if (cond.kind === "vector") {
      if (f.cond === undefined || f.cond === null) {
        throw fail("bad_request", "cond is required by this vector-conditioned model");
      }
      const t = decodeTensor(f.cond, "cond");
      const ok = (t.shape.length === 2 && t.shape[0] === f.n && t.shape[1] === cond.dim) ||
        (t.shape.length === 1 && t.shape[0] === cond.dim);
      if (!ok) {
        throw fail("bad_request", `cond has shape [${t.shape}], expected [${f.n}, ${cond.dim}]`);
      }
      request.cond = t.shape.length === 2 ? t.data : repeat(t.data, f.n);
    } else if (f.cond !== undefined && f.cond !== null) {
      throw fail("unsupported", "This model takes no cond vector");
    }
    if (f.noise !== undefined && f.noise !== null) {
      const t = decodeTensor(f.noise, "noise");
      const shape = info.input.shape;
      const full = [f.n, ...shape];
      const ok = sameShape(t.shape, full) || (f.n === 1 && sameShape(t.shape, shape));
      if (!ok) {
        throw fail("bad_request", `noise has shape [${t.shape}], expected [${full}]`);
      }
      if (t.data.length !== f.n * sampleSize(shape)) {
        throw fail("bad_request", "Noise has the wrong number of values");
      }
      request.noise = t.data;
    }
  } catch (error) {
    if (error instanceof TensorError) throw fail(error.code, error.message);
    throw error;
  }
  return { type: "sample", request, seedGiven: f.seed !== undefined && f.seed !== null };
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function repeat(row: Float32Array, n: number): Float32Array {
  const out = new Float32Array(row.length * n);
  for (let i = 0; i < n; i++) out.set(row, i * row.length);
  return out;
}
