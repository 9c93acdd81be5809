/**
 * The denoising server: HTTP routes, websocket upgrades (protocol v1 on `/v1/ws`, openpi's policy
 * protocol on `/` when the model is a robot policy), model loading in the inference worker, and
 * graceful shutdown.
 *
 * @module
 */

import denoConfig from "../../deno.json" with { type: "json" };
import { encodeFrame } from "./codec.ts";
import { Connection, type ConnectionContext } from "./connection.ts";
import { Metrics } from "./metrics.ts";
export type { Metrics } from "./metrics.ts";
import { OpenpiConnection, type OpenpiContext } from "./openpi_connection.ts";
import { policyMetadata, type PolicyServing } from "./openpi_protocol.ts";
import { MSGPACKR_PATH, msgpackrResponse, renderPage } from "./page.ts";
import { PUSHT_PAGE_PATH, servePushTPage } from "./pusht_page.ts";
import { PUSHT_ACTION_DIM, PUSHT_STATE_DIM } from "../robot/pusht/model.ts";
import type { ModelInfo } from "./denoiser.ts";
import type { PolicySpec } from "../policy/spec.ts";
import { type Limits, PROTOCOL_VERSION } from "./protocol.ts";
import { Scheduler } from "./scheduler.ts";
import { InferenceWorker } from "./worker_host.ts";

type Timer = ReturnType<typeof setTimeout>;

/** Server settings; every field has a default. */
export interface ServerOptions {
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** Port (default 8000; 0 picks a free one). */
  port?: number;
  /** URL of the denoiser module the worker loads (default: the CPU denoiser). */
  denoiserModule?: string;
  /** Checkpoint handed to the denoiser factory. */
  ckpt?: string;
  /** Free-form denoiser settings handed to the factory. */
  denoiserConfig?: Record<string, unknown>;
  /** Longest wait for batch company while the worker is idle, ms (default 2). */
  batchWindowMs?: number;
  /**
   * End that wait once the queue holds as many samples as the previous batch (default true);
   * false always waits the full window.
   */
  adaptiveWindow?: boolean;
  /** Most samples per batch and per request (default 32). */
  maxBatch?: number;
  /** Most sampling steps per request (default 1000). */
  maxSteps?: number;
  /** Most samples waiting in the queue (default 256; raised to maxBatch if lower). */
  queueSamples?: number;
  /** Largest accepted frame, bytes (default 8 MiB). */
  maxFrameBytes?: number;
  /** Most unanswered requests per connection (default 16). */
  maxInflightPerConnection?: number;
  /**
   * Token required at the websocket upgrade, as `Authorization: Bearer <token>` or openpi-client's
   * `Authorization: Api-Key <token>` (none by default).
   */
  token?: string;
  /**
   * The robot policy served over openpi (default: the one the model's checkpoint carries).
   * Without either, `/` takes no websocket.
   */
  policy?: PolicySpec;
  /** Sampler of openpi requests (default: the policy's). */
  policySampler?: string;
  /** Sampling steps of openpi requests (default: the policy's). */
  policySteps?: number;
  /** Server seed making openpi sampling reproducible (default: a random seed per observation). */
  seed?: number;
  /**
   * Browser origins (besides pages served by this server) allowed to open the websocket, e.g.
   * `["https://app.example"]`; `["*"]` allows any. Clients that send no `Origin` are not affected.
   */
  allowedOrigins?: string[];
  /** Longest wait for queued and running work at shutdown, ms (default 30 s). */
  drainTimeoutMs?: number;
  /** Unsent bytes after which a slow client is disconnected (default 64 MiB). */
  maxBufferedBytes?: number;
  /** Longest model load and warm-up, ms (default 120 s). */
  loadTimeoutMs?: number;
  /** Logger for start-up and shutdown lines (default console.log; pass () => {} for quiet). */
  log?: (line: string) => void;
}

/** A running server. */
export interface DitServer {
  /** Where it listens. */
  addr: Deno.NetAddr;
  /** `http://host:port`. */
  url: string;
  /** Resolves once the model is loaded and warmed up; rejects when loading fails. */
  ready: Promise<void>;
  /** The server's metrics. */
  metrics: Metrics;
  /** Stops accepting, finishes queued and running work, closes sockets (1001), stops the worker. */
  shutdown(): Promise<void>;
}

/** Server name in the `hello` frame. */
export const SERVER_NAME = "dit-serve";
/** Server version in the `hello` frame (the package version). */
export const SERVER_VERSION: string = denoConfig.version;

const DEFAULT_MODULE = new URL("./cpu_denoiser.ts", import.meta.url).href;

function timingSafeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a), y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

function tokenOf(req: Request, url: URL): string | null {
  const auth = req.headers.get("authorization");
  const scheme = auth?.match(/^(bearer|api-key)\s+(.*)$/i);
  if (scheme) return scheme[2].trim();
  return url.searchParams.get("token");
}

/**
 * How the openpi endpoint serves `spec` on the model `info`, or throws when the two disagree
 * (a policy network is a sequence [horizon, actionDim] conditioned on nObsSteps * stateDim values).
 */
export function policyServing(
  spec: PolicySpec,
  info: ModelInfo,
  options: { sampler?: string; steps?: number; seed?: number; maxSteps: number },
): PolicyServing {
  const fail = (m: string): never => {
    throw new Error(`The policy does not fit the model: ${m}`);
  };
  const shape = info.input.shape;
  if (info.input.kind !== "sequence" || shape[0] !== spec.horizon || shape[1] !== spec.actionDim) {
    fail(
      `the model denoises ${info.input.kind} [${shape}], the policy needs sequence ` +
        `[${spec.horizon}, ${spec.actionDim}]`,
    );
  }
  const cond = info.condition;
  const dim = spec.nObsSteps * spec.stateDim;
  if (cond.kind !== "vector" || cond.dim !== dim) {
    fail(
      `the model is conditioned on ${cond.kind === "vector" ? `${cond.dim} values` : cond.kind}` +
        `, the policy on ${dim} (nObsSteps x stateDim)`,
    );
  }
  const sampler = options.sampler ?? spec.sampler;
  if (!info.samplers.includes(sampler)) {
    fail(`sampler '${sampler}' is not one of ${info.samplers.join(", ")}`);
  }
  const steps = options.steps ?? spec.steps;
  if (!Number.isInteger(steps) || steps < 1 || steps > options.maxSteps) {
    fail(`steps must be an integer in [1, ${options.maxSteps}], got ${steps}`);
  }
  if (options.seed !== undefined && !(Number.isInteger(options.seed) && options.seed >= 0)) {
    fail(`seed must be a non-negative integer, got ${options.seed}`);
  }
  return {
    spec,
    sampler,
    steps,
    ...(options.seed !== undefined ? { seed: options.seed >>> 0 } : {}),
  };
}

/**
 * Browsers send `Origin`; other clients do not. A browser page may connect only when it was served
 * by this server (same host) or its origin is listed (`"*"` allows all), so that a web page the user
 * happens to visit cannot drive a server on their loopback.
 */
function originAllowed(req: Request, allowed: string[]): boolean {
  const origin = req.headers.get("origin");
  if (origin === null || allowed.includes("*") || allowed.includes(origin)) return true;
  try {
    return new URL(origin).host === req.headers.get("host");
  } catch {
    return false;
  }
}

function json(body: unknown, status: number): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

function wait(ms: number): { promise: Promise<void>; cancel: () => void } {
  let timer: Timer | undefined;
  const promise = new Promise<void>((resolve) => timer = setTimeout(resolve, ms));
  return { promise, cancel: () => clearTimeout(timer) };
}

/** Starts listening at once and loads the model in the background (see {@linkcode DitServer.ready}). */
export function startServer(options: ServerOptions = {}): DitServer {
  const log = options.log ?? ((line: string) => console.log(line));
  const limits: Limits = {
    maxBatch: options.maxBatch ?? 32,
    maxSteps: options.maxSteps ?? 1000,
    maxFrameBytes: options.maxFrameBytes ?? 8 * 1024 * 1024,
    maxInflightPerConnection: options.maxInflightPerConnection ?? 16,
  };
  const metrics = new Metrics();
  const connections = new Set<Connection | OpenpiConnection>();
  let context: ConnectionContext | null = null;
  let openpi: OpenpiContext | null = null;
  let worker: InferenceWorker | null = null;
  let draining = false;
  let stopped: Promise<void> | null = null;

  const loading = InferenceWorker.start(options.denoiserModule ?? DEFAULT_MODULE, {
    ckpt: options.ckpt,
    maxBatch: limits.maxBatch,
    maxSteps: limits.maxSteps,
    config: options.denoiserConfig,
  }, options.loadTimeoutMs);
  const ready = loading.then((w) => {
    worker = w;
    // Checked first: a policy that does not fit its model fails the start, nothing is served.
    const spec = options.policy ?? w.info.policy;
    const serving = spec
      ? policyServing(spec, w.info, {
        sampler: options.policySampler,
        steps: options.policySteps,
        seed: options.seed,
        maxSteps: limits.maxSteps,
      })
      : null;
    const hello = encodeFrame({
      type: "hello",
      protocol: PROTOCOL_VERSION,
      server: { name: SERVER_NAME, version: SERVER_VERSION },
      model: {
        name: w.info.name,
        arch: w.info.arch,
        input: w.info.input,
        condition: w.info.condition,
      },
      samplers: w.info.samplers,
      limits,
    });
    context = {
      info: w.info,
      limits,
      canPng: w.canPng,
      scheduler: new Scheduler(w, {
        windowMs: options.batchWindowMs ?? 2,
        maxBatch: limits.maxBatch,
        queueSamples: Math.max(options.queueSamples ?? 256, limits.maxBatch),
        adaptive: options.adaptiveWindow ?? true,
      }, metrics),
      metrics,
      hello,
      draining: () => draining,
      maxBufferedBytes: options.maxBufferedBytes ?? 64 * 1024 * 1024,
    };
    if (serving) {
      const spec = serving.spec;
      openpi = {
        serving,
        metadata: encodeFrame(
          policyMetadata(serving, { name: SERVER_NAME, version: SERVER_VERSION }, w.info.name),
        ),
        scheduler: context.scheduler,
        metrics,
        maxFrameBytes: limits.maxFrameBytes,
        maxInflight: limits.maxInflightPerConnection,
        maxBufferedBytes: context.maxBufferedBytes,
        draining: () => draining,
      };
      log(
        `Policy ${spec.stateKey} -> ${spec.actionKey} [${spec.horizon}, ${spec.actionDim}] ` +
          `served over openpi on / (${serving.sampler}, ${serving.steps} steps` +
          `${serving.seed !== undefined ? `, seed ${serving.seed}` : ""})`,
      );
    }
    log(`Model ${w.info.name} ready (warm-up ${w.warmupMs.toFixed(0)} ms)`);
  });
  ready.catch(() => {}); // Callers observe failures through `ready`.

  const handler = (req: Request): Response => {
    const url = new URL(req.url);
    if (url.pathname === "/healthz") {
      if (draining) return json({ status: "draining" }, 503);
      if (worker?.dead) return json({ status: "failed", message: worker.dead.message }, 503);
      return context ? json({ status: "ok" }, 200) : json({ status: "loading" }, 503);
    }
    if (url.pathname === "/metrics") {
      return new Response(metrics.render(), {
        headers: { "content-type": "text/plain; version=0.0.4" },
      });
    }
    const pushTPage = servePushTPage(url); // the Push-T page and its modules under /pusht
    if (pushTPage) return pushTPage;
    const upgrade = req.headers.get("upgrade")?.toLowerCase() === "websocket";
    if (url.pathname === "/" && !upgrade) {
      // A served Push-T policy is best seen driving Push-T: the root page is the live scene.
      const spec = openpi?.serving.spec;
      const pushT = spec?.stateDim === PUSHT_STATE_DIM && spec.actionDim === PUSHT_ACTION_DIM;
      if (pushT && url.searchParams.get("page") !== "v1") {
        return Response.redirect(new URL(PUSHT_PAGE_PATH, url), 302);
      }
      return new Response(renderPage(), {
        headers: { "content-type": "text/html; charset=utf-8" },
      });
    }
    if (url.pathname === MSGPACKR_PATH) return msgpackrResponse();
    if (url.pathname !== "/v1/ws" && url.pathname !== "/") {
      return new Response("Not found\n", { status: 404 });
    }
    if (!upgrade) return new Response("Upgrade to a websocket\n", { status: 426 });
    if (options.token && !timingSafeEqual(tokenOf(req, url) ?? "", options.token)) {
      return new Response("Missing or wrong token (Bearer or Api-Key)\n", { status: 401 });
    }
    if (!originAllowed(req, options.allowedOrigins ?? [])) {
      return new Response("Origin not allowed\n", { status: 403 });
    }
    if (draining) return new Response("Server is shutting down\n", { status: 503 });
    if (!context) return new Response("Model is loading\n", { status: 503 });
    if (url.pathname === "/" && !openpi) {
      return new Response("The served model is not a robot policy: no openpi endpoint\n", {
        status: 404,
      });
    }
    let upgraded;
    try {
      upgraded = Deno.upgradeWebSocket(req);
    } catch (error) {
      return new Response(`Bad websocket upgrade: ${(error as Error).message}\n`, { status: 400 });
    }
    const { socket, response } = upgraded;
    const connection = url.pathname === "/"
      ? new OpenpiConnection(socket, openpi!)
      : new Connection(socket, context);
    connections.add(connection);
    connection.closed.then(() => connections.delete(connection));
    return response;
  };

  const http = Deno.serve({
    hostname: options.host ?? "127.0.0.1",
    port: options.port ?? 8000,
    onListen: () => {},
  }, handler);
  const addr = http.addr as Deno.NetAddr;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;

  async function stop(): Promise<void> {
    draining = true;
    try {
      await loading;
    } catch {
      // Nothing was loaded, so nothing runs.
    }
    const drainTimeout = options.drainTimeoutMs ?? 30_000;
    if (context) {
      const timer = wait(drainTimeout);
      const idle = await Promise.race([
        context.scheduler.whenIdle().then(() => true),
        timer.promise.then(() => false),
      ]);
      timer.cancel();
      if (!idle) {
        log(`Shutdown: work still pending after ${drainTimeout} ms, dropping the queue`);
        context.scheduler.abortQueued("cancelled", "The server shut down before running this");
      }
    }
    for (const c of connections) c.close(1001, "Server shutting down");
    const closeTimer = wait(2_000);
    await Promise.race([Promise.all([...connections].map((c) => c.closed)), closeTimer.promise]);
    closeTimer.cancel();
    await worker?.close();
    await http.shutdown();
    log("Server stopped");
  }

  return {
    addr,
    url: `http://${host}:${addr.port}`,
    ready,
    metrics,
    shutdown: () => (stopped ??= stop()),
  };
}
