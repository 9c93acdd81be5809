/**
 * TypeScript client of a policy served over openpi's websocket protocol (docs/openpi.md): the
 * same frames openpi-client's `WebsocketClientPolicy` sends, with typed arrays.
 *
 * ```ts
 * const policy = await connectPolicy("ws://127.0.0.1:8000", { apiKey: "secret" });
 * await policy.reset(); // a new episode: the server forgets the observation history
 * const { actions, shape } = await policy.infer({
 *   "observation.state": Float32Array.of(222, 97, 300, 320, 0.7),
 * });
 * console.log(shape, actions); // [16, 2], row-major, in the dataset's units
 * await policy.close();
 * ```
 *
 * @module
 */

import { decodeFrame, encodeFrame } from "./codec.ts";
import { ndarray, readFloatArray } from "./openpi_codec.ts";
import { type SocketLike, TcpWebSocket } from "./ws_transport.ts";

/** Options of {@linkcode connectPolicy}. */
export interface PolicyConnectOptions {
  /** Sent as `Authorization: Api-Key <key>`, as openpi-client does. */
  apiKey?: string;
  /** Limit on opening the socket and receiving the metadata, and on each answer, ms (60 s). */
  timeoutMs?: number;
}

/** An observation value: a flat typed array (shape `[length]`) or one with its shape. */
export type ObservationValue =
  | Float32Array
  | Float64Array
  | { data: Float32Array | Float64Array; shape: number[] };

/** One answer. */
export interface PolicyAction {
  /** Actions `[horizon * actionDim]`, row-major, in the dataset's units. */
  actions: Float32Array;
  /** `[horizon, actionDim]`. */
  shape: number[];
  /** The server's `server_timing` map (infer_ms, prev_total_ms, queue_ms, compute_ms, ...). */
  timing: Record<string, number>;
}

/** A connected policy. */
export interface PolicyClient {
  /** The server's metadata frame. */
  readonly metadata: Record<string, unknown>;
  /** Sends one observation and resolves with the action chunk; rejects with the server's text. */
  infer(obs: Record<string, ObservationValue>): Promise<PolicyAction>;
  /** Starts an episode (`__ctrl__: episode_start`): the server clears this connection's history. */
  reset(): Promise<void>;
  /** Ends an episode (`__ctrl__: episode_end`). */
  episodeEnd(success?: boolean): Promise<void>;
  /** Closes the connection. */
  close(): Promise<void>;
}

/** A refusal by the server (its text frame) or a transport failure. */
export class PolicyClientError extends Error {
  /** Wraps a message. */
  constructor(message: string) {
    super(message);
    this.name = "PolicyClientError";
  }
}

type Waiter = { resolve: (frame: Uint8Array) => void; reject: (error: Error) => void };

class Client implements PolicyClient {
  metadata: Record<string, unknown> = {};
  #waiters: Waiter[] = [];
  #chain: Promise<unknown> = Promise.resolve();
  #closed: Promise<void>;
  #error: Error | null = null;

  constructor(readonly socket: SocketLike, readonly timeoutMs: number) {
    const closed = Promise.withResolvers<void>();
    this.#closed = closed.promise;
    socket.binaryType = "arraybuffer";
    socket.onmessage = (event: MessageEvent) => {
      const waiter = this.#waiters.shift();
      if (!waiter) return; // the server answers only what was asked
      if (typeof event.data === "string") waiter.reject(new PolicyClientError(event.data));
      else waiter.resolve(new Uint8Array(event.data as ArrayBuffer));
    };
    socket.onerror = (event: Event) => event.preventDefault();
    socket.onclose = (event: CloseEvent) => {
      this.#error = new PolicyClientError(`Connection closed (${event.code} ${event.reason})`);
      for (const w of this.#waiters.splice(0)) w.reject(this.#error);
      closed.resolve();
    };
  }

  /** The next frame, within the timeout. */
  next(): Promise<Uint8Array> {
    if (this.#error) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new PolicyClientError(`No answer within ${this.timeoutMs} ms`));
        this.socket.close();
      }, this.timeoutMs);
      this.#waiters.push({
        resolve: (f) => (clearTimeout(timer), resolve(f)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
    });
  }

  /** Sends a frame and reads its answer, one exchange at a time (openpi has no request ids). */
  #exchange(frame: Record<string, unknown>): Promise<Record<string, unknown>> {
    const run = async () => {
      const answer = this.next();
      if (this.socket.readyState !== WebSocket.OPEN) throw this.#error ?? new Error("Not open");
      this.socket.send(encodeFrame(frame));
      return decodeFrame(await answer) as Record<string, unknown>;
    };
    const result = this.#chain.then(run, run);
    this.#chain = result.catch(() => {});
    return result;
  }

  async infer(obs: Record<string, ObservationValue>): Promise<PolicyAction> {
    const frame: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(obs)) {
      frame[key] = ArrayBuffer.isView(v) ? ndarray(v, [v.length]) : ndarray(v.data, v.shape);
    }
    const answer = await this.#exchange(frame);
    const t = readFloatArray(answer.actions, "actions");
    const timing = (answer.server_timing ?? {}) as Record<string, number>;
    return { actions: t.data, shape: t.shape, timing };
  }

  async reset(): Promise<void> {
    await this.#exchange({ __ctrl__: "episode_start" });
  }

  async episodeEnd(success?: boolean): Promise<void> {
    await this.#exchange({ __ctrl__: "episode_end", __success__: success ?? null });
  }

  async close(): Promise<void> {
    if (this.socket.readyState <= WebSocket.OPEN) this.socket.close(1000);
    await this.#closed;
  }
}

/**
 * Connects to an openpi policy server (`ws://host:port`, or `http://host:port`) and reads its
 * metadata frame.
 */
export async function connectPolicy(
  url: string,
  options: PolicyConnectOptions = {},
): Promise<PolicyClient> {
  const u = new URL(url);
  if (u.protocol === "http:") u.protocol = "ws:";
  if (u.protocol === "https:") u.protocol = "wss:";
  const headers: Record<string, string> = options.apiKey
    ? { authorization: `Api-Key ${options.apiKey}` }
    : {};
  // Deno's WebSocket leaves Nagle on (40 ms stalls): the TCP_NODELAY transport instead.
  const socket = new TcpWebSocket(u, { headers });
  const client = new Client(socket, options.timeoutMs ?? 60_000);
  const first = client.next();
  try {
    client.metadata = decodeFrame(await first) as Record<string, unknown>;
  } catch (error) {
    socket.close();
    throw error instanceof PolicyClientError
      ? error
      : new PolicyClientError(`Bad metadata frame: ${(error as Error).message}`);
  }
  return client;
}
