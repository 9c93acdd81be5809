/**
 * One websocket client: decodes and validates its frames, tracks its in-flight requests and sends
 * results, previews and errors back. Nothing a client sends can throw out of this class: every bad
 * frame is answered with an error frame and the connection stays open.
 *
 * @module
 */

import { DecodeError, decodeFrame, encodeFrame } from "./codec.ts";
import type { ModelInfo } from "./denoiser.ts";
import {
  type ErrorCode,
  type Limits,
  parseClientFrame,
  ProtocolError,
  type RequestId,
  type SampleRequest,
} from "./protocol.ts";
import type { Outcome, Scheduler, Work } from "./scheduler.ts";
import { randomSeed, sampleSeeds } from "./seeds.ts";
import { ServerSocket, type SocketContext } from "./server_socket.ts";
import { encodeTensor } from "./tensor.ts";

/** What a connection needs from its server. */
export interface ConnectionContext extends SocketContext {
  /** The served model. */
  info: ModelInfo;
  /** Limits announced in `hello`. */
  limits: Limits;
  /** Whether the denoiser renders PNGs. */
  canPng: boolean;
  /** The batching queue. */
  scheduler: Scheduler;
  /** The encoded `hello` frame. */
  hello: Uint8Array;
  /** True once the server stopped taking requests. */
  draining: () => boolean;
}

/** The server side of one websocket. */
export class Connection extends ServerSocket {
  #inflight = new Map<string, Work>();

  /** Attaches handlers to an upgraded socket. */
  constructor(socket: WebSocket, readonly ctx: ConnectionContext) {
    super(socket, ctx, ctx.hello);
  }

  /** Requests of this connection not yet answered. */
  get inflight(): number {
    return this.#inflight.size;
  }

  /** Cancels every request still queued or running. */
  protected override release(): void {
    if (this.#inflight.size > 0) {
      for (const work of this.#inflight.values()) this.ctx.scheduler.cancel(work);
      this.#inflight.clear();
    }
  }

  #send(frame: Record<string, unknown>): void {
    this.sendPayload(encodeFrame(frame));
  }

  #error(code: ErrorCode, message: string, id?: RequestId): void {
    this.ctx.metrics.error(code);
    this.#send(
      id === undefined ? { type: "error", code, message } : {
        type: "error",
        id,
        code,
        message,
      },
    );
  }

  /** Answers a bad frame with an error frame; nothing a client sends throws out of here. */
  protected override onFrame(data: unknown, receivedAt: number): void {
    try {
      this.#handle(data, receivedAt);
    } catch (error) {
      if (error instanceof ProtocolError) this.#error(error.code, error.message, error.id);
      else if (error instanceof DecodeError) this.#error("bad_request", error.message);
      else {
        console.error("Unexpected error while handling a frame:", error);
        this.#error("internal", "The server failed to handle this frame");
      }
    }
  }

  #handle(data: unknown, receivedAt: number): void {
    const { limits } = this.ctx;
    if (typeof data === "string") {
      throw new ProtocolError(
        "bad_request",
        "Text frames are not supported: send MessagePack in binary frames",
      );
    }
    if (!(data instanceof ArrayBuffer)) {
      throw new ProtocolError("bad_request", "Unknown frame kind");
    }
    if (data.byteLength > limits.maxFrameBytes) {
      throw new ProtocolError(
        "too_large",
        `Frame has ${data.byteLength} bytes, the limit is ${limits.maxFrameBytes}`,
      );
    }
    const message = parseClientFrame(decodeFrame(new Uint8Array(data)), {
      info: this.ctx.info,
      limits,
      canPng: this.ctx.canPng,
      randomSeed,
    });
    if (message.type === "cancel") {
      this.#cancel(message.id);
      return;
    }
    const request = message.request;
    const key = String(request.id);
    if (this.#inflight.has(key)) {
      throw new ProtocolError("bad_request", `Request id ${key} is already in flight`, request.id);
    }
    if (this.ctx.draining()) {
      throw new ProtocolError("overloaded", "The server is shutting down", request.id);
    }
    if (this.#inflight.size >= limits.maxInflightPerConnection) {
      throw new ProtocolError(
        "overloaded",
        `Too many requests in flight (limit ${limits.maxInflightPerConnection})`,
        request.id,
      );
    }
    const work: Work = {
      request,
      seeds: sampleSeeds(request.seed, request.n),
      acceptedAt: performance.now(),
      state: "queued",
      settle: (outcome) => this.#settle(work, key, outcome, receivedAt),
    };
    if (request.previews) {
      work.onPreview = (step, x0) =>
        this.#send({ type: "preview", id: request.id, step, x0: this.#tensor(request, x0) });
    }
    if (!this.ctx.scheduler.submit(work)) {
      throw new ProtocolError("overloaded", "The queue is full, retry later", request.id);
    }
    this.ctx.metrics.requests++;
    this.#inflight.set(key, work);
  }

  #cancel(id: RequestId): void {
    const key = String(id);
    const work = this.#inflight.get(key);
    if (!work) return; // Already answered (or never sent): nothing to cancel.
    this.#inflight.delete(key);
    if (this.ctx.scheduler.cancel(work)) this.#error("cancelled", "Request cancelled", id);
  }

  #tensor(request: SampleRequest, x0: Float32Array) {
    return encodeTensor(x0, [request.n, ...this.ctx.info.input.shape]);
  }

  #settle(work: Work, key: string, outcome: Outcome, receivedAt: number): void {
    if (this.#inflight.get(key) === work) this.#inflight.delete(key);
    const { request } = work;
    if (!outcome.ok) {
      this.#error(outcome.code, outcome.message, request.id);
      return;
    }
    const totalMs = performance.now() - receivedAt;
    const frame: Record<string, unknown> = {
      type: "result",
      id: request.id,
      seed: request.seed,
      steps: request.steps,
      sampler: request.sampler,
      timing: {
        queueMs: outcome.queueMs,
        computeMs: outcome.computeMs,
        totalMs,
        readbackMs: outcome.readbackMs,
        batchSamples: outcome.batchSamples,
      },
    };
    if (request.wantX0) frame.x0 = this.#tensor(request, outcome.x0);
    if (request.wantPng && outcome.png) frame.png = outcome.png;
    this.#send(frame);
    this.ctx.metrics.results++;
    this.ctx.metrics.totalSeconds.observe(totalMs / 1000);
  }
}
