/**
 * TypeScript client of the denoising server (protocol v1).
 *
 * ```ts
 * const client = await connect("http://127.0.0.1:8000", { token: "secret" });
 * const result = await client.sample({ steps: 50, class: 3, seed: 1 });
 * console.log(result.shape, result.x0, result.timing);
 * await client.close();
 * ```
 *
 * @module
 */

import { bytesOf, decodeFrame, encodeFrame } from "./codec.ts";
import {
  type HelloFrame,
  type ResultFrame,
  type ServerFrame,
  serverFrameSchema,
} from "./frames.ts";
import { describeZodError, type ErrorCode, type RequestId } from "./protocol.ts";
import { decodeTensor } from "./tensor.ts";
import { type SocketLike, TcpWebSocket } from "./ws_transport.ts";

type Timer = ReturnType<typeof setTimeout>;

/** Reconnection policy: exponential backoff with jitter. */
export interface ReconnectOptions {
  /** Attempts in a row before giving up (default: unlimited). */
  retries?: number;
  /** First delay, ms (default 100). */
  baseDelayMs?: number;
  /** Largest delay, ms (default 5000). */
  maxDelayMs?: number;
}

/** Options of {@linkcode connect}. */
export interface ConnectOptions {
  /** Bearer token (sent as `Authorization: Bearer`, or `?token=` where headers are impossible). */
  token?: string;
  /** Default per-request timeout, ms (default 60 s); the request is cancelled on timeout. */
  timeoutMs?: number;
  /** Limit on opening the socket and receiving `hello`, ms (default 10 s). */
  connectTimeoutMs?: number;
  /** Reconnect after an unexpected disconnect (true for the defaults). */
  reconnect?: boolean | ReconnectOptions;
  /** Receives error frames that carry no request id. */
  onError?: (error: ClientError) => void;
}

/** One sample request. */
export interface SampleOptions {
  /** Request id (default: generated). */
  id?: string;
  /** Number of samples (default 1). */
  n?: number;
  /** Sampling steps. */
  steps: number;
  /** Sampler (default "ddim"). */
  sampler?: string;
  /** Request seed (uint32); the server draws one when absent and reports it. */
  seed?: number;
  /** Class label, one for all samples or one per sample. */
  class?: number | number[];
  /** Condition vectors, `[n * dim]` or `[dim]` for all samples. */
  cond?: Float32Array;
  /** Initial noise x_T, `[n * prod(shape)]`. */
  noise?: Float32Array;
  /** What the result carries (default ["x0"]). */
  return?: ("x0" | "png")[];
  /** Called with the x0 estimate after each step (asks the server for previews). */
  onPreview?: (step: number, x0: Float32Array) => void;
  /** Per-request timeout, ms (default: the client's). */
  timeoutMs?: number;
}

/** A finished request. */
export interface SampleResult {
  /** The request id. */
  id: RequestId;
  /** The request seed (the one drawn by the server when none was sent). */
  seed: number;
  /** Sampling steps run. */
  steps: number;
  /** Sampler used. */
  sampler: string;
  /** `[n, ...sampleShape]`. */
  shape: number[];
  /** Samples, row-major in `shape` (absent when only PNGs were asked for). */
  x0?: Float32Array;
  /** One PNG per sample, when asked for. */
  png?: Uint8Array[];
  /** Where the time went, as the server measured it. */
  timing: ResultFrame["timing"];
}

/** Why a request failed: a server error code, or a client-side "timeout", "disconnected", "closed". */
export class ClientError extends Error {
  /** Creates an error with its code. */
  constructor(
    readonly code: ErrorCode | "timeout" | "disconnected" | "closed",
    message: string,
    readonly id?: RequestId,
  ) {
    super(message);
    this.name = "ClientError";
  }
}

/** A connected client. */
export interface DitClient {
  /** The server's latest `hello` frame. */
  readonly hello: HelloFrame;
  /** True while the socket is open. */
  readonly connected: boolean;
  /** Sends a request and resolves with its result. */
  sample(options: SampleOptions): Promise<SampleResult>;
  /** Cancels a request; its promise rejects with code "cancelled". */
  cancel(id: RequestId): void;
  /** Closes the connection; pending requests reject with code "closed". */
  close(): Promise<void>;
}

interface Pending {
  resolve: (result: SampleResult) => void;
  reject: (error: ClientError) => void;
  timer: Timer;
  onPreview?: (step: number, x0: Float32Array) => void;
}

/** Turns `http://host:port` (or a ws URL) into the websocket URL `ws://host:port/v1/ws`. */
export function websocketUrl(url: string): URL {
  const u = new URL(url);
  if (u.protocol === "http:") u.protocol = "ws:";
  if (u.protocol === "https:") u.protocol = "wss:";
  if (u.pathname === "/" || u.pathname === "") u.pathname = "/v1/ws";
  return u;
}

class Client implements DitClient {
  hello!: HelloFrame;
  #socket: SocketLike | null = null;
  #pending = new Map<string, Pending>();
  #waiting = new Map<string, (error: ClientError) => void>();
  #nextId = 1;
  #closing = false;
  #attempt = 0;
  #reconnectTimer: Timer | undefined;
  #waiters: { resolve: () => void; reject: (e: ClientError) => void }[] = [];
  #socketClosed: Promise<void> = Promise.resolve();

  constructor(readonly url: URL, readonly options: ConnectOptions) {}

  get connected(): boolean {
    return this.#socket?.readyState === WebSocket.OPEN;
  }

  get #reconnect(): ReconnectOptions | null {
    const r = this.options.reconnect;
    return r === true ? {} : r ? r : null;
  }

  /** Opens the socket and waits for `hello`. */
  open(): Promise<void> {
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const url = new URL(this.url);
    const token = this.options.token;
    let socket: SocketLike;
    if (typeof Deno !== "undefined") {
      // Deno's WebSocket leaves Nagle on (40 ms stalls): use the TCP_NODELAY transport.
      const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
      socket = new TcpWebSocket(url, { headers });
    } else {
      if (token) url.searchParams.set("token", token);
      socket = new WebSocket(url);
    }
    socket.binaryType = "arraybuffer";
    this.#socket = socket;
    const closed = Promise.withResolvers<void>();
    this.#socketClosed = closed.promise;
    let greeted = false;
    const timer = setTimeout(() => {
      reject(new ClientError("timeout", `No hello from ${url.origin} in time`));
      socket.close();
    }, this.options.connectTimeoutMs ?? 10_000);
    socket.onmessage = (event: MessageEvent) => {
      if (!greeted) {
        try {
          const frame = parseServerFrame(event.data);
          if (frame.type !== "hello") throw new Error(`Expected hello, got ${frame.type}`);
          this.hello = frame;
          greeted = true;
          this.#attempt = 0;
          clearTimeout(timer);
          resolve();
          for (const w of this.#waiters.splice(0)) w.resolve();
        } catch (error) {
          clearTimeout(timer);
          reject(new ClientError("bad_request", `Bad hello: ${(error as Error).message}`));
          socket.close();
        }
        return;
      }
      this.#onFrame(event.data);
    };
    socket.onerror = (event: Event) => event.preventDefault();
    socket.onclose = (event: CloseEvent) => {
      clearTimeout(timer);
      closed.resolve();
      if (!greeted) {
        const why = event.reason ? `${event.code}: ${event.reason}` : `${event.code}`;
        reject(new ClientError("disconnected", `Connection to ${url.origin} failed (${why})`));
      }
      if (this.#socket === socket) this.#socket = null;
      this.#onDisconnect(greeted);
    };
    return promise;
  }

  #onDisconnect(wasOpen: boolean): void {
    const why = this.#closing ? "closed" : "disconnected";
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      p.reject(new ClientError(why, `Connection ${why} before the result arrived`, id));
    }
    this.#pending.clear();
    const policy = this.#reconnect;
    if (this.#closing || !policy || (!wasOpen && this.#attempt === 0 && !this.hello)) {
      for (const w of this.#waiters.splice(0)) w.reject(new ClientError(why, `Connection ${why}`));
      return;
    }
    if (policy.retries !== undefined && this.#attempt >= policy.retries) {
      for (const w of this.#waiters.splice(0)) {
        w.reject(new ClientError("disconnected", "Reconnection failed"));
      }
      return;
    }
    const base = policy.baseDelayMs ?? 100, max = policy.maxDelayMs ?? 5_000;
    const delay = Math.min(max, base * 2 ** this.#attempt) * (0.5 + Math.random() / 2);
    this.#attempt++;
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      if (!this.#closing) this.open().catch(() => {});
    }, delay);
  }

  #onFrame(data: unknown): void {
    let frame;
    try {
      frame = parseServerFrame(data);
    } catch (error) {
      this.options.onError?.(new ClientError("bad_request", (error as Error).message));
      return;
    }
    if (frame.type === "hello") {
      this.hello = frame;
      return;
    }
    const key = frame.id === undefined ? undefined : String(frame.id);
    const pending = key === undefined ? undefined : this.#pending.get(key);
    if (frame.type === "error") {
      const error = new ClientError(frame.code, frame.message, frame.id);
      if (!pending || key === undefined) return this.options.onError?.(error);
      this.#pending.delete(key);
      clearTimeout(pending.timer);
      pending.reject(error);
      return;
    }
    if (!pending || key === undefined) return;
    if (frame.type === "preview") {
      pending.onPreview?.(frame.step, decodeTensor(frame.x0, "x0", true).data);
      return;
    }
    this.#pending.delete(key);
    clearTimeout(pending.timer);
    const shape = frame.x0?.shape ?? [frame.png?.length ?? 0, ...this.hello.model.input.shape];
    pending.resolve({
      id: frame.id,
      seed: frame.seed,
      steps: frame.steps,
      sampler: frame.sampler,
      shape,
      x0: frame.x0 ? decodeTensor(frame.x0, "x0", true).data : undefined,
      png: frame.png,
      timing: frame.timing,
    });
  }

  #whenConnected(): Promise<void> {
    if (this.connected) return Promise.resolve();
    if (this.#closing) return Promise.reject(new ClientError("closed", "Client is closed"));
    if (!this.#reconnect) {
      return Promise.reject(new ClientError("disconnected", "Not connected"));
    }
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#waiters.push({ resolve, reject });
    return promise;
  }

  sample(options: SampleOptions): Promise<SampleResult> {
    const id = options.id ?? `c${this.#nextId++}`;
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs ?? 60_000;
    const deadline = performance.now() + timeoutMs;
    if (this.#pending.has(id) || this.#waiting.has(id)) {
      return Promise.reject(new ClientError("bad_request", `Request ${id} is in flight`, id));
    }
    if (this.connected) return this.#start(id, options, deadline);
    // Not connected (yet): wait for a reconnect, within the request's time.
    const gate = Promise.withResolvers<never>();
    const timer = setTimeout(
      () => gate.reject(new ClientError("timeout", `Request ${id} timed out`, id)),
      timeoutMs,
    );
    this.#waiting.set(id, gate.reject);
    return Promise.race([this.#whenConnected(), gate.promise]).finally(() => {
      clearTimeout(timer);
      this.#waiting.delete(id);
    }).then(() => this.#start(id, options, deadline));
  }

  #start(id: string, options: SampleOptions, deadline: number): Promise<SampleResult> {
    const frame: Record<string, unknown> = {
      type: "sample",
      id,
      n: options.n ?? 1,
      steps: options.steps,
      sampler: options.sampler ?? "ddim",
    };
    if (options.seed !== undefined) frame.seed = options.seed;
    if (options.class !== undefined) frame.class = options.class;
    const n = options.n ?? 1;
    if (options.cond) {
      const dim = this.hello.model.condition.kind === "vector"
        ? this.hello.model.condition.dim
        : options.cond.length;
      const shape = options.cond.length === dim ? [dim] : [n, dim];
      frame.cond = { dtype: "float32", shape, data: bytesOf(options.cond) };
    }
    if (options.noise) {
      frame.noise = {
        dtype: "float32",
        shape: [n, ...this.hello.model.input.shape],
        data: bytesOf(options.noise),
      };
    }
    if (options.return) frame.return = options.return;
    if (options.onPreview) frame.previews = true;
    const { promise, resolve, reject } = Promise.withResolvers<SampleResult>();
    const remaining = Math.max(1, deadline - performance.now());
    const pending: Pending = {
      resolve,
      reject,
      onPreview: options.onPreview,
      timer: setTimeout(() => {
        if (this.#pending.get(id) !== pending) return;
        this.#pending.delete(id);
        this.#trySend({ type: "cancel", id });
        reject(new ClientError("timeout", `Request ${id} timed out`, id));
      }, remaining),
    };
    this.#pending.set(id, pending);
    this.#trySend(frame);
    return promise;
  }

  #trySend(frame: Record<string, unknown>): void {
    try {
      if (this.connected) this.#socket!.send(encodeFrame(frame));
    } catch {
      // A closing socket: onclose rejects what is pending.
    }
  }

  cancel(id: RequestId): void {
    const key = String(id);
    const pending = this.#pending.get(key);
    if (!pending) {
      this.#waiting.get(key)?.(new ClientError("cancelled", "Request cancelled", id));
      return;
    }
    if (this.connected) {
      this.#trySend({ type: "cancel", id });
    } else {
      this.#pending.delete(key);
      clearTimeout(pending.timer);
      pending.reject(new ClientError("cancelled", "Request cancelled", id));
    }
  }

  async close(): Promise<void> {
    this.#closing = true;
    clearTimeout(this.#reconnectTimer);
    const socket = this.#socket;
    if (socket && socket.readyState <= WebSocket.OPEN) socket.close(1000, "Client closing");
    let timer: Timer | undefined;
    await Promise.race([
      this.#socketClosed,
      new Promise((resolve) => timer = setTimeout(resolve, 2_000)),
    ]);
    clearTimeout(timer);
  }
}

/** Decodes and validates one server frame; throws a one-line description of what is wrong. */
function parseServerFrame(data: unknown): ServerFrame {
  if (!(data instanceof ArrayBuffer)) throw new Error("Server sent a text frame");
  const parsed = serverFrameSchema.safeParse(decodeFrame(new Uint8Array(data)));
  if (!parsed.success) {
    throw new Error(`Server sent an invalid frame: ${describeZodError(parsed.error)}`);
  }
  return parsed.data;
}

/** Connects to a server and waits for its `hello` frame. */
export async function connect(url: string, options: ConnectOptions = {}): Promise<DitClient> {
  const client = new Client(websocketUrl(url), options);
  await client.open();
  return client;
}
