// The TypeScript client validates what a server sends: frames that fail the schema reach
// `onError` as bad_request and leave pending requests pending; a valid result still resolves.
import assert from "node:assert/strict";
import { type ClientError, connect } from "../src/server/client.ts";
import { decodeFrame, encodeFrame } from "../src/server/codec.ts";

const hello = {
  type: "hello",
  protocol: 1,
  server: { name: "scripted", version: "0" },
  model: {
    name: "m",
    arch: "a",
    input: { kind: "sequence", shape: [2] },
    condition: { kind: "none" },
  },
  samplers: ["ddim"],
  limits: { maxBatch: 4, maxSteps: 10, maxFrameBytes: 1 << 20, maxInflightPerConnection: 4 },
};

Deno.test("client: malformed server frames are reported, not taken for results", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.binaryType = "arraybuffer";
    socket.onopen = () => socket.send(encodeFrame(hello));
    socket.onmessage = (e) => {
      const request = decodeFrame(new Uint8Array(e.data)) as { id: string };
      const x0 = { dtype: "float32", shape: [1, 2], data: new Uint8Array(8) };
      const timing = { queueMs: 0, computeMs: 1, totalMs: 1 };
      const result = { type: "result", id: request.id, seed: 1, steps: 2, sampler: "ddim" };
      socket.send(encodeFrame({ ...result, x0 })); // no timing
      socket.send(encodeFrame({ type: "resul", id: request.id })); // unknown type
      socket.send(encodeFrame({ ...result, x0: { ...x0, dtype: "int8" }, timing }));
      socket.send(new Uint8Array([0xc1])); // not MessagePack
      socket.send(encodeFrame({ ...result, x0, timing }));
    };
    return response;
  });
  const errors: ClientError[] = [];
  const client = await connect(`http://127.0.0.1:${server.addr.port}`, {
    onError: (e) => errors.push(e),
    timeoutMs: 5_000,
  });
  try {
    const r = await client.sample({ steps: 2 });
    assert.deepEqual([...r.x0!], [0, 0]);
    assert.equal(r.timing.computeMs, 1);
    assert.equal(errors.length, 4);
    for (const e of errors) assert.equal(e.code, "bad_request");
    assert.match(errors[0].message, /^Server sent an invalid frame: Invalid timing: Required$/);
    assert.match(errors[1].message, /invalid frame: Invalid type: Invalid discriminator/);
    assert.match(errors[2].message, /Invalid x0.dtype: .*float32/);
    assert.match(errors[3].message, /invalid frame/);
  } finally {
    await client.close();
    await server.shutdown();
  }
});
