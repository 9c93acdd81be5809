/**
 * One openpi websocket client (docs/openpi.md): sends the metadata frame, keeps the connection's
 * observation history, turns each observation into a one-sample request on the shared dynamic
 * batcher and answers `{"actions": [H, A] float32, "server_timing": {...}}` in the dataset's
 * units. Answers leave in the order their frames arrived. A bad frame is answered with one text
 * frame (openpi clients raise it as RuntimeError) and the connection stays open.
 *
 * @module
 */

import { DecodeError, decodeFrame, encodeFrame } from "./codec.ts";
import { ndarray } from "./openpi_codec.ts";
import {
  ObservationHistory,
  OpenpiError,
  parseOpenpiFrame,
  type PolicyServing,
} from "./openpi_protocol.ts";
import type { SampleRequest } from "./protocol.ts";
import type { Outcome, Scheduler, Work } from "./scheduler.ts";
import { randomSeed, sampleSeed } from "./seeds.ts";
import { ServerSocket, type SocketContext } from "./server_socket.ts";
import { normalize, unnormalize } from "../policy/spec.ts";

/** What an openpi connection needs from its server. */
export interface OpenpiContext extends SocketContext {
  /** The served policy. */
  serving: PolicyServing;
  /** The encoded metadata frame. */
  metadata: Uint8Array;
  /** The batching queue, shared with protocol v1. */
  scheduler: Scheduler;
  /** Largest accepted frame, bytes. */
  maxFrameBytes: number;
  /** Most unanswered frames per connection. */
  maxInflight: number;
  /** True once the server stopped taking requests. */
  draining: () => boolean;
}

/** An answer slot: filled when its frame's reply is ready; sent once every earlier one was. */
interface Reply {
  payload: Uint8Array | string | null;
  work?: Work;
  /** Arrival time of the frame (performance.now), for prev_total_ms. */
  receivedAt: number;
  /** The reply is an action map (counts for prev_total_ms). */
  actions: boolean;
}

/** The server side of one openpi websocket. */
export class OpenpiConnection extends ServerSocket {
  #history: ObservationHistory;
  #replies: Reply[] = [];
  /** Observations since the connection opened or the last episode_start (seed index). */
  #episodeStep = 0;
  #prevTotalMs: number | undefined;

  /** Attaches handlers to an upgraded socket. */
  constructor(socket: WebSocket, readonly ctx: OpenpiContext) {
    super(socket, ctx, ctx.metadata);
    const spec = ctx.serving.spec;
    this.#history = new ObservationHistory(spec.nObsSteps, spec.stateDim);
  }

  /** Cancels every observation still queued or running. */
  protected override release(): void {
    for (const r of this.#replies) if (r.work) this.ctx.scheduler.cancel(r.work);
    this.#replies = [];
  }

  /** Sends every ready reply at the head of the queue. */
  #flush(): void {
    while (this.#replies.length > 0 && this.#replies[0].payload !== null) {
      const r = this.#replies.shift()!;
      this.sendPayload(r.payload!);
      if (r.actions) {
        this.#prevTotalMs = performance.now() - r.receivedAt;
        this.ctx.metrics.totalSeconds.observe(this.#prevTotalMs / 1000);
      }
    }
  }

  #reply(payload: Uint8Array | string, receivedAt: number): void {
    this.#replies.push({ payload, receivedAt, actions: false });
    this.#flush();
  }

  /** Answers a bad frame with one text frame; nothing a client sends throws out of here. */
  protected override onFrame(data: unknown, receivedAt: number): void {
    try {
      this.#handle(data, receivedAt);
    } catch (error) {
      let message: string;
      if (error instanceof OpenpiError || error instanceof DecodeError) message = error.message;
      else {
        console.error("Unexpected error while handling an openpi frame:", error);
        message = "The server failed to handle this frame";
      }
      this.ctx.metrics.error("openpi_bad_frame");
      this.#reply(message.replaceAll("\n", " "), receivedAt);
    }
  }

  #handle(data: unknown, receivedAt: number): void {
    const { ctx } = this;
    if (typeof data === "string") {
      throw new OpenpiError("Text frames are not supported: send msgpack in binary frames");
    }
    if (!(data instanceof ArrayBuffer)) throw new OpenpiError("Unknown frame kind");
    if (data.byteLength > ctx.maxFrameBytes) {
      throw new OpenpiError(
        `Frame has ${data.byteLength} bytes, the limit is ${ctx.maxFrameBytes}`,
      );
    }
    if (this.#replies.length >= ctx.maxInflight) {
      throw new OpenpiError(`Too many unanswered frames (limit ${ctx.maxInflight})`);
    }
    const spec = ctx.serving.spec;
    const input = parseOpenpiFrame(decodeFrame(new Uint8Array(data)), spec);
    if (input.kind === "ctrl") {
      if (input.ctrl === "episode_start") {
        this.#history.clear();
        this.#episodeStep = 0;
      }
      this.#reply(encodeFrame({ __ctrl__: input.ctrl, ok: true }), receivedAt);
      return;
    }
    if (ctx.draining()) throw new OpenpiError("The server is shutting down");
    // The history changes only once the observation is known to be good.
    const before = this.#history.window();
    if (input.kind === "latest") this.#history.push(input.frame);
    else this.#history.replace(input.frames);
    const cond = normalize(this.#history.window()!, spec.stats.state);
    const { serving } = ctx;
    const seed = serving.seed === undefined
      ? randomSeed()
      : sampleSeed(serving.seed, this.#episodeStep);
    const request: SampleRequest = {
      id: this.#episodeStep,
      n: 1,
      steps: serving.steps,
      sampler: serving.sampler,
      seed,
      cond,
      wantX0: true,
      wantPng: false,
      previews: false,
    };
    const reply: Reply = { payload: null, receivedAt, actions: true };
    const work: Work = {
      request,
      seeds: [seed],
      acceptedAt: performance.now(),
      state: "queued",
      settle: (outcome) => this.#settle(reply, outcome),
    };
    reply.work = work;
    if (!ctx.scheduler.submit(work)) {
      if (before) this.#history.replace(before);
      else this.#history.clear();
      throw new OpenpiError("The server is overloaded (queue full), retry later");
    }
    this.#episodeStep++;
    ctx.metrics.requests++;
    this.#replies.push(reply);
  }

  #settle(reply: Reply, outcome: Outcome): void {
    reply.work = undefined;
    if (!outcome.ok) {
      reply.payload = `Inference failed: ${outcome.message}`.replaceAll("\n", " ");
      reply.actions = false;
      this.ctx.metrics.error(outcome.code);
    } else {
      const spec = this.ctx.serving.spec;
      const actions = unnormalize(outcome.x0.slice(), spec.stats.action);
      const timing: Record<string, number> = {
        infer_ms: performance.now() - reply.receivedAt,
        queue_ms: outcome.queueMs,
        compute_ms: outcome.computeMs,
        readback_ms: outcome.readbackMs,
        batch: outcome.batchSamples,
      };
      if (this.#prevTotalMs !== undefined) timing.prev_total_ms = this.#prevTotalMs;
      reply.payload = encodeFrame({
        actions: ndarray(actions, [spec.horizon, spec.actionDim]),
        server_timing: timing,
      });
      this.ctx.metrics.results++;
    }
    this.#flush();
  }
}
