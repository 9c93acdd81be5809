/**
 * Helpers for the server's tests and benchmark: a quiet in-process server on a free port and a
 * raw websocket that reads frames with timeouts.
 *
 * @module
 */

import { decodeFrame, encodeFrame } from "./codec.ts";
import { type CpuModelConfig, DEFAULT_CPU_CONFIG } from "./cpu_denoiser.ts";
import { type DitServer, type ServerOptions, startServer } from "./server.ts";
import { type SocketLike, TcpWebSocket } from "./ws_transport.ts";

/**
 * A CPU denoiser with Push-T policy shapes (16 actions of 2 values, a vector condition): serves a
 * Push-T-shaped policy record in tests without a GPU.
 */
export const PUSHT_CPU_TEST_CONFIG: CpuModelConfig = {
  ...DEFAULT_CPU_CONFIG,
  shape: [16, 2],
  numClasses: 10,
  modes: 2,
  condition: "vector",
  seed: 3,
};

/** Starts a quiet server on a free loopback port (small 4x16x16 CPU model unless overridden). */
export async function startTestServer(options: ServerOptions = {}): Promise<DitServer> {
  const server = startServer({
    port: 0,
    log: () => {},
    denoiserConfig: { shape: [4, 16, 16] },
    ...options,
  });
  try {
    await server.ready;
  } catch (error) {
    await server.shutdown();
    throw error;
  }
  return server;
}

/** Options of {@linkcode RawSocket}. */
export interface RawSocketOptions {
  /** Extra handshake headers. */
  headers?: Record<string, string>;
  /** Query string appended to the URL, e.g. "?token=x". */
  query?: string;
  /** Use Deno's built-in `WebSocket` instead of the TCP_NODELAY transport. */
  builtin?: boolean;
  /** Path of the websocket (default "/v1/ws"; "/" is the openpi endpoint). */
  path?: string;
  /** Keep binary frames as bytes instead of decoding them, for byte-level checks (openpi). */
  raw?: boolean;
}

/** A websocket that queues incoming frames, decoded. */
export class RawSocket {
  readonly socket: SocketLike;
  readonly opened: Promise<void>;
  readonly closed: Promise<CloseEvent>;
  #frames: unknown[] = [];
  #waiters: ((frame: unknown) => void)[] = [];

  /**
   * Opens `ws://…/v1/ws` (or `options.path`) of a server URL, optionally with headers or a query. It uses the
   * TCP_NODELAY transport unless `builtin` asks for Deno's own `WebSocket`.
   */
  constructor(serverUrl: string, options: RawSocketOptions = {}) {
    const url = serverUrl.replace(/^http/, "ws") + (options.path ?? "/v1/ws") +
      (options.query ?? "");
    const headers = options.headers ?? {};
    this.socket = options.builtin
      ? new WebSocket(url, { headers })
      : new TcpWebSocket(url, { headers });
    this.socket.binaryType = "arraybuffer";
    const opened = Promise.withResolvers<void>();
    const closed = Promise.withResolvers<CloseEvent>();
    this.opened = opened.promise;
    this.closed = closed.promise;
    this.opened.catch(() => {});
    this.socket.onopen = () => opened.resolve();
    this.socket.onerror = (e) => e.preventDefault();
    this.socket.onclose = (e) => {
      opened.reject(new Error(`Closed before open (${e.code})`));
      closed.resolve(e);
    };
    this.socket.onmessage = (e: MessageEvent) => {
      const bytes = typeof e.data === "string" ? undefined : new Uint8Array(e.data);
      const frame = bytes === undefined ? e.data : options.raw ? bytes : decodeFrame(bytes);
      const waiter = this.#waiters.shift();
      if (waiter) waiter(frame);
      else this.#frames.push(frame);
    };
  }

  /** The next frame, or an error after `timeoutMs`. */
  next(timeoutMs = 5_000): Promise<Record<string, unknown>> {
    return this.nextFrame(timeoutMs) as Promise<Record<string, unknown>>;
  }

  /**
   * The next frame as it was queued: text as a string, binary decoded, or as a `Uint8Array` with
   * `raw`; an error after `timeoutMs`.
   */
  nextFrame(timeoutMs = 5_000): Promise<unknown> {
    const queued = this.#frames.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const waiter = (frame: unknown) => {
        clearTimeout(timer);
        resolve(frame);
      };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new Error(`No frame within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** Frames received and not yet read. */
  get backlog(): number {
    return this.#frames.length;
  }

  /** Sends a value as a MessagePack binary frame. */
  send(value: unknown): void {
    this.socket.send(encodeFrame(value));
  }

  /** Sends raw bytes or text. */
  sendRaw(data: Uint8Array | string): void {
    this.socket.send(data);
  }

  /** Closes and waits for the close event. */
  async close(): Promise<CloseEvent> {
    if (this.socket.readyState <= WebSocket.OPEN) this.socket.close(1000);
    return await this.closed;
  }
}

/** Opens a raw socket and reads the `hello` frame. */
export async function openRaw(
  serverUrl: string,
  options?: RawSocketOptions,
): Promise<{ ws: RawSocket; hello: Record<string, unknown> }> {
  const ws = new RawSocket(serverUrl, options);
  await ws.opened;
  const hello = await ws.next();
  return { ws, hello };
}
