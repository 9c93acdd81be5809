// Every kind of bad input gets an error frame; the connection stays usable and other clients
// are not disturbed.

import assert from "node:assert/strict";
import { bytesOf } from "../src/server/codec.ts";
import { openRaw, type RawSocket, startTestServer } from "../src/server/testing.ts";

const GOOD = { type: "sample", n: 1, steps: 2, sampler: "ddim", seed: 1, class: 0 };
const SAMPLE_SIZE = 4 * 16 * 16;

function noise(shape: number[], fill = 0.1): Record<string, unknown> {
  const count = shape.reduce((a, b) => a * b, 1);
  return { dtype: "float32", shape, data: bytesOf(new Float32Array(count).fill(fill)) };
}

async function expectError(ws: RawSocket, code: string, id?: unknown): Promise<string> {
  const frame = await ws.next();
  assert.equal(frame.type, "error", `expected an error frame, got ${JSON.stringify(frame.type)}`);
  assert.equal(frame.code, code, String(frame.message));
  if (id !== undefined) assert.equal(frame.id, id);
  assert.equal(typeof frame.message, "string");
  assert.ok(!(frame.message as string).endsWith("."), "messages end without a period");
  return frame.message as string;
}

async function expectUsable(ws: RawSocket, id: string): Promise<void> {
  ws.send({ ...GOOD, id });
  const frame = await ws.next();
  assert.equal(frame.type, "result");
  assert.equal(frame.id, id);
}

Deno.test("bad input: each malformed frame gets an error and the connection stays usable", async (t) => {
  const server = await startTestServer({ maxFrameBytes: 64 * 1024, maxBatch: 8, maxSteps: 200 });
  const { ws } = await openRaw(server.url);
  const { ws: bystander } = await openRaw(server.url);
  const cases: [string, () => void, string, unknown?][] = [
    ["not msgpack", () => ws.sendRaw(new Uint8Array([0xc1, 0xff, 0x00])), "bad_request"],
    ["truncated msgpack", () => ws.sendRaw(new Uint8Array([0x85, 0xa4])), "bad_request"],
    ["text frame", () => ws.sendRaw(JSON.stringify(GOOD)), "bad_request"],
    ["not a map", () => ws.send([1, 2, 3]), "bad_request"],
    ["no type", () => ws.send({ id: "a" }), "bad_request", "a"],
    ["unknown type", () => ws.send({ type: "train", id: "b" }), "unsupported", "b"],
    ["missing id", () => ws.send({ ...GOOD }), "bad_request"],
    ["empty id", () => ws.send({ ...GOOD, id: "" }), "bad_request"],
    ["n as string", () => ws.send({ ...GOOD, id: "c", n: "1" }), "bad_request", "c"],
    ["n zero", () => ws.send({ ...GOOD, id: "d", n: 0 }), "bad_request", "d"],
    ["steps fractional", () => ws.send({ ...GOOD, id: "e", steps: 1.5 }), "bad_request", "e"],
    ["seed negative", () => ws.send({ ...GOOD, id: "f", seed: -1 }), "bad_request", "f"],
    ["seed too big", () => ws.send({ ...GOOD, id: "g", seed: 2 ** 32 }), "bad_request", "g"],
    ["unknown field", () => ws.send({ ...GOOD, id: "h", clas: 1 }), "bad_request", "h"],
    ["n over limit", () => ws.send({ ...GOOD, id: "i", n: 9 }), "too_large", "i"],
    ["steps over limit", () => ws.send({ ...GOOD, id: "j", steps: 201 }), "too_large", "j"],
    ["unknown sampler", () => ws.send({ ...GOOD, id: "k", sampler: "euler" }), "unsupported", "k"],
    ["class missing", () => ws.send({ ...GOOD, id: "l", class: undefined }), "bad_request", "l"],
    ["class out of range", () => ws.send({ ...GOOD, id: "m", class: 10 }), "bad_request", "m"],
    ["class negative", () => ws.send({ ...GOOD, id: "n", class: -1 }), "bad_request", "n"],
    [
      "class list length",
      () => ws.send({ ...GOOD, id: "o", n: 2, class: [1] }),
      "bad_request",
      "o",
    ],
    [
      "cond on a class model",
      () => ws.send({ ...GOOD, id: "p", cond: noise([10]) }),
      "unsupported",
      "p",
    ],
    [
      "noise wrong shape",
      () => ws.send({ ...GOOD, id: "q", noise: noise([1, 4, 16, 15]) }),
      "bad_request",
      "q",
    ],
    [
      "noise byte count",
      () =>
        ws.send({
          ...GOOD,
          id: "r",
          noise: { dtype: "float32", shape: [1, 4, 16, 16], data: new Uint8Array(12) },
        }),
      "bad_request",
      "r",
    ],
    [
      "noise NaN",
      () => ws.send({ ...GOOD, id: "s", noise: noise([1, 4, 16, 16], NaN) }),
      "bad_request",
      "s",
    ],
    [
      "noise Inf",
      () => ws.send({ ...GOOD, id: "t", noise: noise([1, 4, 16, 16], -Infinity) }),
      "bad_request",
      "t",
    ],
    [
      "noise dtype",
      () =>
        ws.send({
          ...GOOD,
          id: "u",
          noise: { dtype: "int32", shape: [1, 4, 16, 16], data: new Uint8Array(SAMPLE_SIZE * 4) },
        }),
      "unsupported",
      "u",
    ],
    [
      "noise not a tensor",
      () => ws.send({ ...GOOD, id: "v", noise: [1, 2, 3] }),
      "bad_request",
      "v",
    ],
    ["return unknown", () => ws.send({ ...GOOD, id: "w", return: ["latent"] }), "bad_request", "w"],
    [
      "frame over maxFrameBytes",
      () => ws.send({ ...GOOD, id: "x", pad: new Uint8Array(70 * 1024) }),
      "too_large",
    ],
    ["deep nesting", () => {
      let deep: unknown = 1;
      for (let i = 0; i < 100; i++) deep = { a: deep };
      ws.send({ ...GOOD, id: "y", deep });
    }, "bad_request"],
    ["cancel without id", () => ws.send({ type: "cancel" }), "bad_request"],
  ];
  try {
    for (const [name, send, code, id] of cases) {
      await t.step(name, async () => {
        send();
        await expectError(ws, code, id);
      });
    }
    await t.step("still usable, bystander undisturbed", async () => {
      await expectUsable(ws, "after");
      await expectUsable(bystander, "bystander");
      assert.equal(ws.backlog, 0);
    });
    await t.step("duplicate in-flight id", async () => {
      // A long request (about 50 ms), so that the second frame arrives while it runs.
      ws.send({ ...GOOD, id: "dup", steps: 200, n: 8, sampler: "ddpm" });
      ws.send({ ...GOOD, id: "dup" });
      await expectError(ws, "bad_request", "dup");
      const result = await ws.next();
      assert.equal(result.type, "result");
      assert.equal(result.id, "dup");
      await expectUsable(ws, "dup"); // an answered id may be reused
    });
    await t.step("cancel of an unknown id is ignored", async () => {
      ws.send({ type: "cancel", id: "never-sent" });
      await expectUsable(ws, "after-cancel");
    });
    await t.step("metrics count errors by code", async () => {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      assert.match(text, /dit_errors_total\{code="bad_request"\} \d+/);
      assert.match(text, /dit_errors_total\{code="too_large"\} 3/);
    });
  } finally {
    await ws.close();
    await bystander.close();
    await server.shutdown();
  }
});

Deno.test("bad input: vector model refuses bad cond tensors", async () => {
  const server = await startTestServer({ denoiserConfig: { shape: [8], condition: "vector" } });
  const { ws } = await openRaw(server.url);
  const base = { type: "sample", n: 2, steps: 2, sampler: "ddim" };
  try {
    ws.send({ ...base, id: 1 });
    await expectError(ws, "bad_request", 1);
    ws.send({ ...base, id: 2, cond: noise([3, 10]) });
    await expectError(ws, "bad_request", 2);
    ws.send({ ...base, id: 3, cond: noise([2, 10], NaN) });
    await expectError(ws, "bad_request", 3);
    ws.send({ ...base, id: 4, cond: noise([10]), class: 1 });
    await expectError(ws, "unsupported", 4);
    ws.send({ ...base, id: 5, cond: noise([2, 10]), return: ["png"] });
    await expectError(ws, "unsupported", 5); // sequence models render no PNGs
    ws.send({ ...base, id: 6, cond: noise([2, 10]) });
    assert.equal((await ws.next()).type, "result");
  } finally {
    await ws.close();
    await server.shutdown();
  }
});
