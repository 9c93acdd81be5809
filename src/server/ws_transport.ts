/**
 * A minimal RFC 6455 websocket client over `Deno.connect` with `TCP_NODELAY` set.
 *
 * Deno's built-in `WebSocket` client leaves Nagle's algorithm on: a frame sent while an earlier one
 * is unacknowledged (pipelined requests), or a medium-sized frame (a few KiB to 64 KiB on loopback,
 * written as header + payload), waits for the server's delayed ACK, about 40 ms. Browsers and
 * Python's `websockets` set `TCP_NODELAY`; this class does the same for Deno clients. It implements
 * the small part of the `WebSocket` interface the client uses.
 *
 * @module
 */

/** The part of the `WebSocket` interface the client relies on. */
export interface SocketLike {
  readonly readyState: number;
  binaryType: BinaryType;
  onopen: ((event: Event) => void) | null;
  onmessage: ((event: MessageEvent) => void) | null;
  onclose: ((event: CloseEvent) => void) | null;
  onerror: ((event: Event) => void) | null;
  send(data: Uint8Array | string): void;
  close(code?: number, reason?: string): void;
}

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const MAX_MESSAGE = 256 * 1024 * 1024;
const encoder = new TextEncoder();

function base64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

async function acceptKey(key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", encoder.encode(key + GUID));
  return base64(new Uint8Array(digest));
}

/** Reads bytes from a connection through one growable buffer. */
class Reader {
  #buf = new Uint8Array(64 * 1024);
  #start = 0;
  #end = 0;
  constructor(readonly conn: Deno.Conn) {}

  /** Makes `n` bytes available; false at end of stream. */
  async #ensure(n: number): Promise<boolean> {
    if (this.#end - this.#start >= n) return true;
    if (this.#start > 0) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    if (this.#buf.length < n) {
      const grown = new Uint8Array(Math.max(n, 2 * this.#buf.length));
      grown.set(this.#buf.subarray(0, this.#end));
      this.#buf = grown;
    }
    while (this.#end < n) {
      if (this.#end === this.#buf.length) {
        const grown = new Uint8Array(2 * this.#buf.length);
        grown.set(this.#buf);
        this.#buf = grown;
      }
      const read = await this.conn.read(this.#buf.subarray(this.#end));
      if (read === null) return false;
      this.#end += read;
    }
    return true;
  }

  /** Exactly `n` bytes, or null at end of stream. */
  async take(n: number): Promise<Uint8Array | null> {
    if (!(await this.#ensure(n))) return null;
    const out = this.#buf.slice(this.#start, this.#start + n);
    this.#start += n;
    return out;
  }

  /** The text before the first blank line (the HTTP head), or null at end of stream. */
  async head(limit = 16 * 1024): Promise<string | null> {
    for (let want = 4;; want++) {
      if (want > limit) throw new Error("Handshake response too long");
      if (!(await this.#ensure(want))) return null;
      const b = this.#buf, e = this.#start + want;
      if (b[e - 4] === 13 && b[e - 3] === 10 && b[e - 2] === 13 && b[e - 1] === 10) {
        const text = new TextDecoder().decode(b.subarray(this.#start, e - 4));
        this.#start = e;
        return text;
      }
    }
  }
}

/** A websocket client connection with `TCP_NODELAY`. */
export class TcpWebSocket implements SocketLike {
  readyState: number = WebSocket.CONNECTING;
  binaryType: BinaryType = "arraybuffer";
  onopen: ((event: Event) => void) | null = null;
  onmessage: ((event: MessageEvent) => void) | null = null;
  onclose: ((event: CloseEvent) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;
  #conn: Deno.Conn | null = null;
  #writes: Promise<void> = Promise.resolve();
  #closeSent = false;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  #closeEvent = { code: 1006, reason: "" };

  /** Connects to a `ws:` or `wss:` URL, sending extra handshake headers. */
  constructor(url: string | URL, options: { headers?: Record<string, string> } = {}) {
    this.#run(new URL(url), options.headers ?? {});
  }

  async #run(url: URL, headers: Record<string, string>): Promise<void> {
    try {
      const tls = url.protocol === "wss:";
      const port = url.port ? Number(url.port) : tls ? 443 : 80;
      const hostname = url.hostname.replace(/^\[|\]$/g, "");
      const conn = tls ? await Deno.connectTls({ hostname, port }) : await Deno.connect({
        hostname,
        port,
      });
      this.#conn = conn;
      if (this.readyState !== WebSocket.CONNECTING) return; // closed while connecting
      if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
      const key = base64(crypto.getRandomValues(new Uint8Array(16)));
      const lines = [
        `GET ${url.pathname}${url.search} HTTP/1.1`,
        `Host: ${url.host}`,
        "Upgrade: websocket",
        "Connection: Upgrade",
        `Sec-WebSocket-Key: ${key}`,
        "Sec-WebSocket-Version: 13",
        ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
      ];
      await this.#write(encoder.encode(lines.join("\r\n") + "\r\n\r\n"));
      const reader = new Reader(conn);
      const head = await reader.head();
      if (head === null) throw new Error("Connection closed during the handshake");
      const [status, ...fields] = head.split("\r\n");
      if (!/^HTTP\/1\.1 101\b/.test(status)) throw new Error(`Handshake refused: ${status}`);
      const accept = fields.find((f) => /^sec-websocket-accept:/i.test(f))?.split(":")[1]?.trim();
      if (accept !== await acceptKey(key)) throw new Error("Bad Sec-WebSocket-Accept");
      if (this.readyState !== WebSocket.CONNECTING) return;
      this.readyState = WebSocket.OPEN;
      this.onopen?.(new Event("open"));
      await this.#readLoop(reader);
    } catch (error) {
      if (this.readyState !== WebSocket.OPEN) {
        this.#closeEvent = { code: 1006, reason: (error as Error)?.message ?? String(error) };
      }
      this.onerror?.(new Event("error"));
    } finally {
      this.#finish();
    }
  }

  async #readLoop(reader: Reader): Promise<void> {
    let parts: Uint8Array[] = [];
    let partsOpcode = 0;
    for (;;) {
      const h = await reader.take(2);
      if (h === null) return;
      const fin = (h[0] & 0x80) !== 0, opcode = h[0] & 0x0f;
      if (h[1] & 0x80) throw new Error("Server frames must not be masked");
      let len = h[1] & 0x7f;
      if (len === 126) {
        const b = await reader.take(2);
        if (b === null) return;
        len = (b[0] << 8) | b[1];
      } else if (len === 127) {
        const b = await reader.take(8);
        if (b === null) return;
        len = new DataView(b.buffer).getUint32(0) * 2 ** 32 + new DataView(b.buffer).getUint32(4);
      }
      if (len > MAX_MESSAGE) throw new Error("Message too large");
      const payload = await reader.take(len);
      if (payload === null) return;
      if (opcode === 0x8) {
        const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
        this.#closeEvent = {
          code: payload.length >= 2 ? view.getUint16(0) : 1005,
          reason: new TextDecoder().decode(payload.subarray(2)),
        };
        if (!this.#closeSent) {
          this.#sendClose(this.#closeEvent.code === 1005 ? 1000 : this.#closeEvent.code, "");
        }
        await this.#writes;
        return;
      }
      if (opcode === 0x9) {
        this.#frame(0xa, payload);
        continue;
      }
      if (opcode === 0xa) continue;
      if (opcode !== 0) {
        parts = [];
        partsOpcode = opcode;
      }
      parts.push(payload);
      if (!fin) continue;
      const size = parts.reduce((s, p) => s + p.length, 0);
      const data = new Uint8Array(size);
      let at = 0;
      for (const p of parts) {
        data.set(p, at);
        at += p.length;
      }
      parts = [];
      if (this.readyState !== WebSocket.OPEN) continue;
      const value = partsOpcode === 0x1 ? new TextDecoder().decode(data) : data.buffer;
      this.onmessage?.(new MessageEvent("message", { data: value }));
    }
  }

  #finish(): void {
    if (this.readyState === WebSocket.CLOSED) return;
    this.readyState = WebSocket.CLOSED;
    clearTimeout(this.#closeTimer);
    try {
      this.#conn?.close();
    } catch {
      // Already closed.
    }
    const { code, reason } = this.#closeEvent;
    this.onclose?.(new CloseEvent("close", { code, reason, wasClean: code !== 1006 }));
  }

  #write(bytes: Uint8Array): Promise<void> {
    const conn = this.#conn;
    this.#writes = this.#writes.then(async () => {
      if (!conn) return;
      let at = 0;
      while (at < bytes.length) at += await conn.write(bytes.subarray(at));
    }).catch(() => {});
    return this.#writes;
  }

  #frame(opcode: number, payload: Uint8Array): void {
    const len = payload.length;
    const extra = len < 126 ? 0 : len < 65536 ? 2 : 8;
    const out = new Uint8Array(2 + extra + 4 + len);
    out[0] = 0x80 | opcode;
    const view = new DataView(out.buffer);
    if (extra === 0) out[1] = 0x80 | len;
    else if (extra === 2) {
      out[1] = 0x80 | 126;
      view.setUint16(2, len);
    } else {
      out[1] = 0x80 | 127;
      view.setUint32(2, Math.floor(len / 2 ** 32));
      view.setUint32(6, len >>> 0);
    }
    const mask = crypto.getRandomValues(new Uint8Array(4));
    out.set(mask, 2 + extra);
    const body = 2 + extra + 4;
    for (let i = 0; i < len; i++) out[body + i] = payload[i] ^ mask[i & 3];
    this.#write(out);
  }

  #sendClose(code: number, reason: string): void {
    this.#closeSent = true;
    const text = encoder.encode(reason).subarray(0, 123);
    const payload = new Uint8Array(2 + text.length);
    new DataView(payload.buffer).setUint16(0, code);
    payload.set(text, 2);
    this.#frame(0x8, payload);
  }

  /** Sends a binary (Uint8Array) or text (string) message. */
  send(data: Uint8Array | string): void {
    if (this.readyState !== WebSocket.OPEN) throw new Error("Socket is not open");
    if (typeof data === "string") this.#frame(0x1, encoder.encode(data));
    else this.#frame(0x2, data);
  }

  /** Starts the closing handshake; the connection is dropped after 2 s without an answer. */
  close(code = 1000, reason = ""): void {
    if (this.readyState === WebSocket.CLOSED || this.readyState === WebSocket.CLOSING) return;
    if (this.readyState === WebSocket.CONNECTING || !this.#conn) {
      this.readyState = WebSocket.CLOSING;
      this.#closeEvent = { code: 1006, reason: "" };
      try {
        this.#conn?.close();
      } catch {
        // Not connected yet: #run fails and finishes.
      }
      return;
    }
    this.readyState = WebSocket.CLOSING;
    this.#closeEvent = { code, reason };
    this.#sendClose(code, reason);
    this.#closeTimer = setTimeout(() => {
      try {
        this.#conn?.close();
      } catch {
        // Already closed.
      }
    }, 2_000);
  }
}
