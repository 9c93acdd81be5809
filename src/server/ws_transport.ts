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

/** One websocket frame as read off the wire (payload unmasked, owned by the caller). */
interface Frame {
  fin: boolean;
  opcode: number;
  payload: Uint8Array;
}

/**
 * Reads a connection through one growable buffer. Frames are parsed straight from the buffer: one
 * `await` per socket read rather than several per frame, and one copy per payload (the payload
 * handed out is its own `ArrayBuffer`, so a message needs no second copy).
 */
class Reader {
  #buf = new Uint8Array(64 * 1024);
  #start = 0;
  #end = 0;
  constructor(readonly conn: Deno.Conn) {}

  /** Reads more bytes, making room for `want` buffered bytes in all; false at end of stream. */
  async #fill(want: number): Promise<boolean> {
    if (this.#start > 0) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    if (this.#buf.length < want || this.#end === this.#buf.length) {
      const grown = new Uint8Array(Math.max(want, 2 * this.#buf.length));
      grown.set(this.#buf.subarray(0, this.#end));
      this.#buf = grown;
    }
    const read = await this.conn.read(this.#buf.subarray(this.#end));
    if (read === null) return false;
    this.#end += read;
    return true;
  }

  /**
   * The next frame, or null at end of stream. Throws on a masked frame (servers never mask) or
   * one over `maxPayload` bytes.
   */
  async frame(maxPayload: number): Promise<Frame | null> {
    for (;;) {
      const b = this.#buf, at = this.#start, have = this.#end - at;
      let need = 2;
      if (have >= 2) {
        if (b[at + 1] & 0x80) throw new Error("Server frames must not be masked");
        const short = b[at + 1] & 0x7f;
        const extra = short === 126 ? 2 : short === 127 ? 8 : 0;
        need = 2 + extra;
        if (have >= need) {
          let len = short;
          if (extra === 2) len = (b[at + 2] << 8) | b[at + 3];
          else if (extra === 8) {
            const v = new DataView(b.buffer, at + 2, 8);
            len = v.getUint32(0) * 2 ** 32 + v.getUint32(4);
          }
          if (len > maxPayload) throw new Error("Message too large");
          need += len;
          if (have >= need) {
            this.#start = at + need;
            return {
              fin: (b[at] & 0x80) !== 0,
              opcode: b[at] & 0x0f,
              payload: b.slice(at + 2 + extra, at + need),
            };
          }
        }
      }
      if (!(await this.#fill(need))) return null;
    }
  }

  /** The text before the first blank line (the HTTP head), or null at end of stream. */
  async head(limit = 16 * 1024): Promise<string | null> {
    for (let scanned = 0;;) {
      const b = this.#buf;
      for (let e = this.#start + Math.max(4, scanned); e <= this.#end; e++) {
        if (b[e - 4] === 13 && b[e - 3] === 10 && b[e - 2] === 13 && b[e - 1] === 10) {
          const text = new TextDecoder().decode(b.subarray(this.#start, e - 4));
          this.#start = e;
          return text;
        }
      }
      scanned = this.#end - this.#start;
      if (scanned > limit) throw new Error("Handshake response too long");
      if (!(await this.#fill(scanned + 1))) return null;
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
      const frame = await reader.frame(MAX_MESSAGE);
      if (frame === null) return;
      const { fin, opcode, payload } = frame;
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
      let data = parts[0];
      if (parts.length > 1) {
        const size = parts.reduce((s, p) => s + p.length, 0);
        if (size > MAX_MESSAGE) throw new Error("Message too large");
        data = new Uint8Array(size);
        let at = 0;
        for (const p of parts) {
          data.set(p, at);
          at += p.length;
        }
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
