// Cancel, overload, token check, graceful shutdown and client timeouts/reconnects.

import assert from "node:assert/strict";
import { ClientError, connect } from "../src/server/client.ts";
import { openRaw, RawSocket, startTestServer } from "../src/server/testing.ts";

// About 50-100 ms of work on the test model (8 samples x 200 DDPM steps of 4x16x16).
const LONG = { type: "sample", n: 8, steps: 200, sampler: "ddpm", class: 1, seed: 1 };
const SHORT = { type: "sample", n: 1, steps: 2, sampler: "ddim", class: 1, seed: 1 };

Deno.test("cancel: queued work is dropped, a running result is replaced by cancelled", async () => {
  const server = await startTestServer({ batchWindowMs: 0 });
  const { ws } = await openRaw(server.url);
  try {
    ws.send({ ...LONG, id: "running" });
    ws.send({ ...SHORT, id: "queued", steps: 3 }); // other steps: waits for the next batch
    ws.send({ type: "cancel", id: "queued" });
    const first = await ws.next();
    assert.deepEqual([first.type, first.id, first.code], ["error", "queued", "cancelled"]);
    ws.send({ type: "cancel", id: "running" });
    const second = await ws.next();
    assert.deepEqual([second.type, second.id, second.code], ["error", "running", "cancelled"]);
    // The running batch finishes, its result is dropped; the next request answers normally.
    ws.send({ ...SHORT, id: "after" });
    const third = await ws.next();
    assert.deepEqual([third.type, third.id], ["result", "after"]);
    assert.equal(ws.backlog, 0);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /dit_samples_total 9\n/); // the queued request never ran
  } finally {
    await ws.close();
    await server.shutdown();
  }
});

Deno.test("cancel: the TypeScript client's cancel rejects with code cancelled", async () => {
  const server = await startTestServer();
  const client = await connect(server.url);
  try {
    const pending = client.sample({ id: "x", n: 8, steps: 200, sampler: "ddpm", class: 0 });
    client.cancel("x");
    await assert.rejects(
      pending,
      (e: unknown) => e instanceof ClientError && e.code === "cancelled",
    );
  } finally {
    await client.close();
    await server.shutdown();
  }
});

Deno.test("overload: a full queue and too many in flight answer overloaded at once", async () => {
  const server = await startTestServer({
    queueSamples: 4,
    maxBatch: 4,
    maxInflightPerConnection: 3,
  });
  const { ws: a } = await openRaw(server.url);
  const { ws: b } = await openRaw(server.url);
  try {
    a.send({ ...LONG, n: 4, steps: 400, id: "busy" }); // occupies the worker
    await new Promise((r) => setTimeout(r, 10));
    a.send({ ...SHORT, id: "q1", n: 3 });
    a.send({ ...SHORT, id: "q2", n: 2 }); // 3 + 2 > 4 queued samples
    const full = await a.next();
    assert.deepEqual([full.id, full.code], ["q2", "overloaded"]);
    a.send({ ...SHORT, id: "q3", n: 1 }); // fits: 3 + 1
    a.send({ ...SHORT, id: "q4", n: 1 }); // a's fourth request in flight
    const inflight = await a.next();
    assert.deepEqual([inflight.id, inflight.code], ["q4", "overloaded"]);
    // Another client is refused by the queue, not by a's in-flight limit.
    b.send({ ...SHORT, id: "b1" });
    const other = await b.next();
    assert.deepEqual([other.id, other.code], ["b1", "overloaded"]);
    const results = [await a.next(), await a.next(), await a.next()].map((f) => f.id).sort();
    assert.deepEqual(results, ["busy", "q1", "q3"]);
    b.send({ ...SHORT, id: "b2" });
    assert.equal((await b.next()).type, "result");
  } finally {
    await a.close();
    await b.close();
    await server.shutdown();
  }
});

Deno.test("token: upgrades without the right token get 401", async (t) => {
  const server = await startTestServer({ token: "s3cret" });
  try {
    await t.step("missing and wrong tokens", async () => {
      for (
        const options of [{}, { headers: { authorization: "Bearer nope" } }, { query: "?token=x" }]
      ) {
        const ws = new RawSocket(server.url, options);
        await assert.rejects(ws.opened);
        await ws.closed;
      }
      const res = await fetch(`${server.url}/v1/ws`, {
        headers: { upgrade: "websocket", connection: "upgrade" },
      });
      assert.equal(res.status, 401);
      await res.body?.cancel();
    });
    await t.step("bearer header and query parameter", async () => {
      const viaHeader = await openRaw(server.url, { headers: { authorization: "Bearer s3cret" } });
      assert.equal(viaHeader.hello.type, "hello");
      await viaHeader.ws.close();
      const viaQuery = await openRaw(server.url, { query: "?token=s3cret" });
      assert.equal(viaQuery.hello.type, "hello");
      await viaQuery.ws.close();
    });
    await t.step("TypeScript client", async () => {
      await assert.rejects(connect(server.url, { token: "bad" }), ClientError);
      const client = await connect(server.url, { token: "s3cret" });
      assert.equal((await client.sample({ steps: 2, class: 0 })).steps, 2);
      await client.close();
    });
    await t.step("browser origins: same host passes, foreign origins get 403", async () => {
      const host = server.url.replace("http://", "");
      const same = await openRaw(server.url, {
        headers: { authorization: "Bearer s3cret", origin: `http://${host}` },
      });
      await same.ws.close();
      const foreign = new RawSocket(server.url, {
        headers: { authorization: "Bearer s3cret", origin: "https://evil.example" },
      });
      await assert.rejects(foreign.opened);
      assert.match((await foreign.closed).reason, /403/);
    });
    await t.step("health and metrics stay open", async () => {
      const res = await fetch(`${server.url}/healthz`);
      assert.equal(res.status, 200);
      await res.body?.cancel();
    });
  } finally {
    await server.shutdown();
  }
});

Deno.test("shutdown: finishes queued and running work, then closes sockets with 1001", async () => {
  const server = await startTestServer();
  const { ws } = await openRaw(server.url);
  ws.send({ ...LONG, id: "running" });
  ws.send({ ...SHORT, id: "queued", steps: 3 });
  await new Promise((r) => setTimeout(r, 10));
  const stopping = server.shutdown();
  const health = await fetch(`${server.url}/healthz`);
  assert.equal(health.status, 503);
  await health.body?.cancel();
  const late = new RawSocket(server.url);
  await assert.rejects(late.opened); // new connections are refused while draining
  await late.closed;
  ws.send({ ...SHORT, id: "late" });
  const frames = [await ws.next(), await ws.next(), await ws.next()];
  const summary = frames.map((f) => `${f.id}:${f.type}:${f.code ?? ""}`).sort();
  assert.deepEqual(summary, ["late:error:overloaded", "queued:result:", "running:result:"]);
  const closed = await ws.closed;
  assert.equal(closed.code, 1001);
  await stopping;
});

Deno.test("client: per-request timeout cancels, reconnect after a server restart", async () => {
  const first = await startTestServer();
  const port = first.addr.port;
  const client = await connect(first.url, {
    reconnect: { baseDelayMs: 20, maxDelayMs: 100, retries: 50 },
  });
  try {
    await assert.rejects(
      client.sample({ n: 8, steps: 200, sampler: "ddpm", class: 0, timeoutMs: 5 }),
      (e: unknown) => e instanceof ClientError && e.code === "timeout",
    );
    await first.shutdown();
    assert.equal(client.connected, false);
    const second = await startTestServer({ port });
    try {
      const result = await client.sample({ steps: 2, class: 0, timeoutMs: 5_000 });
      assert.equal(result.steps, 2);
      assert.equal(client.connected, true);
    } finally {
      await client.close();
      await second.shutdown();
    }
  } finally {
    await client.close();
  }
});

Deno.test("main: the CLI serves, and SIGTERM drains and exits 0", async () => {
  const main = new URL("../src/server/main.ts", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", main, "--port", "0", "--denoiser", "src/server/cpu_denoiser.ts"]
      .concat(["--denoiser-config", '{"shape":[4,16,16]}', "--max-batch", "8"]),
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  const deadline = Date.now() + 30_000;
  try {
    let url: string | undefined;
    while (!url && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      out += value;
      url = out.match(/Listening on (http:\/\/\S+)/)?.[1];
    }
    assert.ok(url, `no listening line in: ${out}`);
    let healthy = false;
    while (!healthy && Date.now() < deadline) {
      const res = await fetch(`${url}/healthz`);
      await res.body?.cancel();
      healthy = res.status === 200;
      if (!healthy) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(healthy);
    const { ws, hello } = await openRaw(url);
    assert.equal((hello.limits as { maxBatch: number }).maxBatch, 8);
    ws.send({ ...LONG, id: "last" });
    await new Promise((r) => setTimeout(r, 10));
    child.kill("SIGTERM");
    const result = await ws.next();
    assert.deepEqual([result.type, result.id], ["result", "last"]);
    assert.equal((await ws.closed).code, 1001);
    assert.equal((await child.status).code, 0);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    await child.status;
    while (!(await reader.read()).done) { /* drain */ }
  }
});
