/**
 * The lifecycle every server-side websocket shares, whatever protocol it speaks: the greeting
 * frame on open, the connection gauge, the `closed` promise, closing with a code, and sending
 * that drops a client which reads too slowly. Each protocol subclasses it and handles frames.
 *
 * @module
 */

import type { Metrics } from "./metrics.ts";

/** What every server-side websocket needs from its server. */
export interface SocketContext {
  /** The server's metrics. */
  metrics: Metrics;
  /** A client whose unsent data passes this many bytes is disconnected (code 1013). */
  maxBufferedBytes: number;
}

/** The server side of one websocket: the lifecycle, with frame handling left to the protocol. */
export abstract class ServerSocket {
  #closed = Promise.withResolvers<void>();
  #opened = false;
  #done = false;
  #ctx: SocketContext;

  /** Attaches handlers to an upgraded socket; `greeting` is sent once it opens. */
  constructor(readonly socket: WebSocket, ctx: SocketContext, greeting: Uint8Array) {
    this.#ctx = ctx;
    socket.binaryType = "arraybuffer";
    socket.onopen = () => {
      this.#opened = true;
      ctx.metrics.connections++;
      this.sendPayload(greeting);
    };
    socket.onmessage = (event: MessageEvent) => this.onFrame(event.data, performance.now());
    socket.onclose = () => this.#onClose();
    socket.onerror = (event: Event) => event.preventDefault();
  }

  /** Resolves when the socket has closed and its work was released. */
  get closed(): Promise<void> {
    return this.#closed.promise;
  }

  /** Closes the socket with `code` (1001 on shutdown). */
  close(code = 1001, reason = "Server shutting down"): void {
    const s = this.socket.readyState;
    if (s === WebSocket.OPEN || s === WebSocket.CONNECTING) {
      try {
        this.socket.close(code, reason);
      } catch {
        this.#onClose();
      }
    }
  }

  /** Handles one incoming frame; must not throw. `receivedAt` is performance.now() on arrival. */
  protected abstract onFrame(data: unknown, receivedAt: number): void;

  /** Cancels the work still in flight; called once, when the socket closes. */
  protected abstract release(): void;

  /** Sends one frame, or disconnects a client whose unsent data passed the limit. */
  protected sendPayload(payload: Uint8Array | string): void {
    if (this.socket.readyState !== WebSocket.OPEN) return;
    if (this.socket.bufferedAmount > this.#ctx.maxBufferedBytes) {
      this.close(1013, "Client reads too slowly");
      return;
    }
    try {
      this.socket.send(payload);
    } catch {
      // The socket closed under us; onclose releases the work.
    }
  }

  #onClose(): void {
    if (this.#done) return;
    this.#done = true;
    this.release();
    if (this.#opened) this.#ctx.metrics.connections--;
    this.socket.onmessage = null;
    this.#closed.resolve();
  }
}
