/**
 * Frames the server sends (protocol v1), as types and zod schemas; the client validates every
 * frame it receives with {@linkcode serverFrameSchema}.
 *
 * @module
 */

import { z } from "zod";
import { ERROR_CODES, type ErrorCode, idSchema, type Limits, type RequestId } from "./protocol.ts";
import type { ModelInfo } from "./denoiser.ts";
import type { WireTensor } from "./tensor.ts";

export type { WireTensor };

/** Where a request's time went, in milliseconds. */
export interface Timing {
  /** From acceptance to dispatch. */
  queueMs: number;
  /** The batch's run in the worker, readback included. */
  computeMs: number;
  /** From frame arrival to the result being sent. */
  totalMs: number;
  /** The denoiser's single readback (0 on CPU). */
  readbackMs?: number;
  /** Samples in the batch the request ran in. */
  batchSamples?: number;
}

/** The server's first frame. */
export interface HelloFrame {
  /** Frame type. */
  type: "hello";
  /** Protocol version (1). */
  protocol: number;
  /** Server name and version. */
  server: { name: string; version: string };
  /** The served model. */
  model: Pick<ModelInfo, "name" | "arch" | "input" | "condition">;
  /** Sampler names accepted in requests. */
  samplers: string[];
  /** Limits on requests and frames. */
  limits: Limits;
}

/** A finished request. */
export interface ResultFrame {
  /** Frame type. */
  type: "result";
  /** The request id. */
  id: RequestId;
  /** The request seed (drawn by the server when the request had none). */
  seed: number;
  /** Sampling steps run. */
  steps: number;
  /** Sampler used. */
  sampler: string;
  /** `[n, ...shape]`, unless only PNGs were asked for. */
  x0?: WireTensor;
  /** One PNG per sample, when asked for. */
  png?: Uint8Array[];
  /** Where the time went. */
  timing: Timing;
}

/** The x0 estimate of a request after a step. */
export interface PreviewFrame {
  /** Frame type. */
  type: "preview";
  /** The request id. */
  id: RequestId;
  /** Steps done, from 1. */
  step: number;
  /** The x0 estimate `[n, ...shape]`. */
  x0: WireTensor;
}

/** A refused or failed request, or a malformed frame (then without id). */
export interface ErrorFrame {
  /** Frame type. */
  type: "error";
  /** The request id, when the frame had one. */
  id?: RequestId;
  /** What went wrong. */
  code: ErrorCode;
  /** Details for humans. */
  message: string;
}

/** Any frame the server sends. */
export type ServerFrame = HelloFrame | ResultFrame | PreviewFrame | ErrorFrame;

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

const helloObject = z.object({
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
/** Schema of the `hello` frame. */
export const helloSchema: z.ZodType<HelloFrame> = helloObject;

const resultObject = z.object({
  type: z.literal("result"),
  id: idSchema,
  seed: z.number(),
  steps: z.number(),
  sampler: z.string(),
  x0: wireTensorSchema.optional(),
  png: z.array(z.instanceof(Uint8Array)).optional(),
  timing: timingSchema,
});
/** Schema of a `result` frame. */
export const resultSchema: z.ZodType<ResultFrame> = resultObject;

const previewObject = z.object({
  type: z.literal("preview"),
  id: idSchema,
  step: z.number(),
  x0: wireTensorSchema,
});
/** Schema of a `preview` frame. */
export const previewSchema: z.ZodType<PreviewFrame> = previewObject;

const errorObject = z.object({
  type: z.literal("error"),
  id: idSchema.optional(),
  code: z.enum(ERROR_CODES),
  message: z.string(),
});
/** Schema of an `error` frame. */
export const errorSchema: z.ZodType<ErrorFrame> = errorObject;

/**
 * Schema of any server frame, dispatched on `type` (a plain union would try the members in turn
 * and build error reports for each one that does not match).
 */
export const serverFrameSchema: z.ZodType<ServerFrame> = z.discriminatedUnion("type", [
  helloObject,
  resultObject,
  previewObject,
  errorObject,
]);
