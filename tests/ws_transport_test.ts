// The TCP_NODELAY websocket client transport against a scripted server: frames split across reads
// and several frames in one read, 16- and 64-bit lengths, fragmented messages, ping/pong, the
// close handshake, and the protocol errors a client must refuse.
import assert from "node:assert/strict";
import { TcpWebSocket } from "../src/server/ws_transport.ts";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

async function acceptKey(key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(key + GUID));
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

/** An unmasked server frame. */
function frame(opcode: number, payload: Uint8Array, fin = true, masked = false): Uint8Array {
  const len = payload.length;
  const extra = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const out = new Uint8Array(2 + extra + (masked ? 4 : 0) + len);
  out[0] = (fin ? 0x80 : 0) | opcode;
  out[1] = (masked ? 0x80 : 0) | (extra === 0 ? len : extra === 2 ? 126 : 127);
  const view = new DataView(out.buffer);
  if (extra === 2) view.setUint16(2, len);
  if (extra === 8) view.setUint32(6, len);
  out.set(payload, out.length - len); // a zero mask leaves the payload as is
  return out;
}

function bytes(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
}

/** Reads one masked client frame from `conn` (buffered bytes in `rest`). */
async function readClientFrame(
  conn: Deno.Conn,
  rest: { buf: Uint8Array },
): Promise<{ opcode: number; payload: Uint8Array }> {
  const need = async (n: number) => {
    while (rest.buf.length < n) {
      const chunk = new Uint8Array(65536);
      const got = await conn.read(chunk);
      if (got === null) throw new Error("client closed");
      const joined = new Uint8Array(rest.buf.length + got);
      joined.set(rest.buf);
      joined.set(chunk.subarray(0, got), rest.buf.length);
      rest.buf = joined;
    }
  };
  await need(2);
  assert.ok(rest.buf[1] & 0x80, "client frames are masked");
  let len = rest.buf[1] & 0x7f, at = 2;
  if (len === 126) {
    await need(4);
    len = (rest.buf[2] << 8) | rest.buf[3];
    at = 4;
  }
  await need(at + 4 + len);
  const mask = rest.buf.slice(at, at + 4);
  const payload = rest.buf.slice(at + 4, at + 4 + len).map((b, i) => b ^ mask[i & 3]);
  const opcode = rest.buf[0] & 0x0f;
  rest.buf = rest.buf.slice(at + 4 + len);
  return { opcode, payload };
}

/**
 * Serves one connection: handshake (the 101 reply followed, in the same write, by `first`), then
 * `script` with the socket.
 */
async function withServer(
  script: (conn: Deno.Conn, rest: { buf: Uint8Array }) => Promise<void>,
  run: (url: string) => Promise<void>,
  first: Uint8Array = new Uint8Array(0),
): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    const conn = await listener.accept();
    let head = "";
    const rest = { buf: new Uint8Array(0) };
    const chunk = new Uint8Array(4096);
    while (!head.includes("\r\n\r\n")) {
      const got = await conn.read(chunk);
      if (got === null) throw new Error("closed during handshake");
      head += new TextDecoder().decode(chunk.subarray(0, got));
    }
    const key = head.match(/Sec-WebSocket-Key: (\S+)/i)![1];
    const reply = new TextEncoder().encode(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" +
        `Connection: Upgrade\r\nSec-WebSocket-Accept: ${await acceptKey(key)}\r\n\r\n`,
    );
    const out = new Uint8Array(reply.length + first.length);
    out.set(reply);
    out.set(first, reply.length);
    await writeAll(conn, out);
    try {
      await script(conn, rest);
    } finally {
      try {
        conn.close();
      } catch { /* closed by the client */ }
    }
  })();
  try {
    await run(`ws://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/v1/ws`);
    await served;
  } finally {
    listener.close();
  }
}

/** Opens a client and collects what it receives until it closes. */
function openClient(url: string) {
  const socket = new TcpWebSocket(url);
  const messages: (ArrayBuffer | string)[] = [];
  const opened = Promise.withResolvers<void>();
  const closed = Promise.withResolvers<CloseEvent>();
  let errored = false;
  socket.onopen = () => opened.resolve();
  socket.onmessage = (e) => messages.push(e.data);
  socket.onerror = () => errored = true;
  socket.onclose = (e) => closed.resolve(e);
  return {
    socket,
    messages,
    opened: opened.promise,
    closed: closed.promise,
    errored: () => errored,
  };
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let at = 0; at < data.length;) at += await conn.write(data.subarray(at));
}

/** Reads until the client closes the connection. */
async function drain(conn: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(1024);
  while ((await conn.read(buf).catch(() => null)) !== null) { /* discard */ }
}

Deno.test("ws transport: frames split across reads, batched in one read, 16/64-bit lengths, fragments", async () => {
  const small = bytes(100, 1), medium = bytes(16_900, 2), large = bytes(70_000, 3);
  const part1 = bytes(5000, 4), part2 = bytes(7, 5);
  await withServer(async (conn, rest) => {
    // A medium frame one byte at a time for its header and first bytes, then the rest.
    const m = frame(0x2, medium);
    for (let i = 0; i < 8; i++) {
      await writeAll(conn, m.subarray(i, i + 1));
      await new Promise((r) => setTimeout(r, 2));
    }
    await writeAll(conn, m.subarray(8));
    // Three frames in one write: small binary, a text frame and a 64-bit length frame.
    const text = frame(0x1, new TextEncoder().encode("hello"));
    const l = frame(0x2, large);
    const joined = new Uint8Array(small.length + 2 + text.length + l.length);
    joined.set(frame(0x2, small));
    joined.set(text, small.length + 2);
    joined.set(l, small.length + 2 + text.length);
    await writeAll(conn, joined);
    // A fragmented binary message with a ping between its fragments: the pong comes back.
    await writeAll(conn, frame(0x2, part1, false));
    await writeAll(conn, frame(0x9, bytes(3, 9)));
    await writeAll(conn, frame(0x0, part2, true));
    const pong = await readClientFrame(conn, rest);
    assert.equal(pong.opcode, 0xa);
    assert.deepEqual(pong.payload, bytes(3, 9));
    // The close handshake: the client echoes the code.
    const close = new Uint8Array([0x0f, 0xa0]); // 4000
    await writeAll(conn, frame(0x8, close));
    const echoed = await readClientFrame(conn, rest);
    assert.equal(echoed.opcode, 0x8);
    assert.equal(new DataView(echoed.payload.buffer).getUint16(0), 4000);
  }, async (url) => {
    const c = openClient(url);
    await c.opened;
    const event = await c.closed;
    assert.equal(event.code, 4000);
    assert.equal(c.errored(), false);
    assert.equal(c.messages.length, 5);
    assert.deepEqual(new Uint8Array(c.messages[0] as ArrayBuffer), medium);
    assert.deepEqual(new Uint8Array(c.messages[1] as ArrayBuffer), small);
    assert.equal(c.messages[2], "hello");
    assert.deepEqual(new Uint8Array(c.messages[3] as ArrayBuffer), large);
    const joined = new Uint8Array(part1.length + part2.length);
    joined.set(part1);
    joined.set(part2, part1.length);
    assert.deepEqual(new Uint8Array(c.messages[4] as ArrayBuffer), joined);
    // Each message owns exactly its bytes (no view into a shared read buffer).
    assert.equal((c.messages[1] as ArrayBuffer).byteLength, small.length);
  });
});

Deno.test("ws transport: a masked server frame is a protocol error (closed 1006)", async () => {
  await withServer(async (conn) => {
    await writeAll(conn, frame(0x2, bytes(10, 1), true, true));
    await drain(conn); // the client drops the connection
  }, async (url) => {
    const c = openClient(url);
    await c.opened;
    const event = await c.closed;
    assert.equal(event.code, 1006);
    assert.equal(c.errored(), true);
    assert.equal(c.messages.length, 0);
  });
});

Deno.test("ws transport: the server's first frame may arrive with the handshake reply", async () => {
  await withServer(async (conn) => {
    await writeAll(conn, frame(0x8, new Uint8Array([0x03, 0xe8])));
    await drain(conn); // until the client closes
  }, async (url) => {
    const c = openClient(url);
    await c.opened;
    const event = await c.closed;
    assert.equal(event.code, 1000);
    assert.equal(c.messages.length, 1);
    assert.deepEqual(new Uint8Array(c.messages[0] as ArrayBuffer), bytes(300, 7));
  }, frame(0x2, bytes(300, 7)));
});
