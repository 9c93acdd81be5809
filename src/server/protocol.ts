/**
 * Protocol v1 frames: zod schemas for both directions, and the validation of client frames against
 * a model and the server's limits. See `PROTOCOL.md` for the prose version.
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

/** A request id: a non-empty string or an integer, echoed back as sent. */
export const idSchema = z.union([z.string().min(1).max(128), z.number().int().safe()]);

/** A request id. */
export type RequestId = z.infer<typeof idSchema>;

/** Schema of a client's `sample` frame (tensors are checked after it). */
export const sampleSchema = z.object({
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

/** Schema of a client's `cancel` frame. */
export const cancelSchema = z.object({ type: z.literal("cancel"), id: idSchema }).strict();

/** A `sample` frame as the client sends it. */
export type SampleFrame = z.infer<typeof sampleSchema>;

/** A validated sample request, tensors decoded. */
export interface SampleRequest {
  id: RequestId;
  n: number;
  steps: number;
  sampler: string;
  /** The request seed; drawn at random when the client sent none. */
  seed: number;
  classes?: Int32Array;
  cond?: Float32Array;
  noise?: Float32Array;
  wantX0: boolean;
  wantPng: boolean;
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

function describe(error: z.ZodError): string {
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
  info: ModelInfo;
  limits: Limits;
  canPng: boolean;
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
    if (!parsed.success) throw new ProtocolError("bad_request", describe(parsed.error), id);
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
  if (!parsed.success) throw new ProtocolError("bad_request", describe(parsed.error), id);
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
      if (t.data.length !== f.n * sampleSize(shape)) throw fail("bad_request", "noise size");
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

const wireTensorSchema = z.object({
  dtype: z.literal("float32"),
  shape: z.array(z.number().int().min(0)),
  data: z.instanceof(Uint8Array),
});

const timingSchema = z.object({
  queueMs: z.number(),
  computeMs: z.number(),
  totalMs: z.number(),
  readbackMs: z.number().optional(),
  batchSamples: z.number().optional(),
});

/** Schema of the server's `hello` frame. */
export const helloSchema = z.object({
  type: z.literal("hello"),
  protocol: z.number(),
  server: z.object({ name: z.string(), version: z.string() }),
  model: z.object({
    name: z.string(),
    arch: z.string(),
    input: z.object({ kind: z.enum(["image", "sequence"]), shape: z.array(z.number()) }),
    condition: z.union([
      z.object({ kind: z.literal("class"), numClasses: z.number() }),
      z.object({ kind: z.literal("vector"), dim: z.number() }),
      z.object({ kind: z.literal("none") }),
    ]),
  }),
  samplers: z.array(z.string()),
  limits: z.object({
    maxBatch: z.number(),
    maxSteps: z.number(),
    maxFrameBytes: z.number(),
    maxInflightPerConnection: z.number(),
  }),
});

/** Schema of a `result` frame. */
export const resultSchema = z.object({
  type: z.literal("result"),
  id: idSchema,
  seed: z.number(),
  steps: z.number(),
  sampler: z.string(),
  x0: wireTensorSchema.optional(),
  png: z.array(z.instanceof(Uint8Array)).optional(),
  timing: timingSchema,
});

/** Schema of a `preview` frame. */
export const previewSchema = z.object({
  type: z.literal("preview"),
  id: idSchema,
  step: z.number(),
  x0: wireTensorSchema,
});

/** Schema of an `error` frame. */
export const errorSchema = z.object({
  type: z.literal("error"),
  id: idSchema.optional(),
  code: z.enum(ERROR_CODES),
  message: z.string(),
});

/** Any frame the server sends. */
export const serverFrameSchema = z.discriminatedUnion("type", [
  helloSchema,
  resultSchema,
  previewSchema,
  errorSchema,
]);

/** The `hello` frame. */
export type HelloFrame = z.infer<typeof helloSchema>;
/** A `result` frame. */
export type ResultFrame = z.infer<typeof resultSchema>;
/** A `preview` frame. */
export type PreviewFrame = z.infer<typeof previewSchema>;
/** An `error` frame. */
export type ErrorFrame = z.infer<typeof errorSchema>;
/** Any frame the server sends. */
export type ServerFrame = z.infer<typeof serverFrameSchema>;
