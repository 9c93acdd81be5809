// A short soak on loopback, bounded in time (about 2 s) and count: several clients with mixed
// requests, cancels and a misbehaving client; no error, no lost request, consistent metrics.

import assert from "node:assert/strict";
import { ClientError, connect, type DitClient } from "../src/server/client.ts";
import { openRaw, startTestServer } from "../src/server/testing.ts";

const CLIENTS = 8;
const MAX_REQUESTS_PER_CLIENT = 150;
const DURATION_MS = 2_000;

Deno.test("soak: 8 clients for 2 s, no error and no lost request", async () => {
  const server = await startTestServer({ batchWindowMs: 2 });
  const clients: DitClient[] = [];
  for (let i = 0; i < CLIENTS; i++) clients.push(await connect(server.url, { timeoutMs: 10_000 }));
  const { ws: noisy } = await openRaw(server.url);
  const stopAt = performance.now() + DURATION_MS;
  let sent = 0, answered = 0, cancelled = 0;
  const errors: unknown[] = [];
  try {
    const loops = clients.map(async (client, c) => {
      for (let i = 0; i < MAX_REQUESTS_PER_CLIENT && performance.now() < stopAt; i++) {
        const steps = [1, 5, 10][(c + i) % 3];
        const seed = c * 1000 + i;
        const request = client.sample({ n: 1 + (i % 2), steps, class: (c + i) % 10, seed });
        sent++;
        if (i % 17 === 5) client.cancel(`c${i + 1}`);
        try {
          const result = await request;
          assert.equal(result.seed, seed);
          assert.ok(result.x0!.every(Number.isFinite));
          answered++;
        } catch (error) {
          if (error instanceof ClientError && error.code === "cancelled") cancelled++;
          else errors.push(error);
        }
      }
    });
    const garbage = (async () => {
      for (let i = 0; i < 50 && performance.now() < stopAt; i++) {
        noisy.sendRaw(new Uint8Array([0x92, 0xc1, i]));
        const frame = await noisy.next();
        assert.equal(frame.code, "bad_request");
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await Promise.all([...loops, garbage]);
    assert.deepEqual(errors, []);
    assert.equal(answered + cancelled, sent);
    assert.ok(answered > 50, `only ${answered} answered`);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const count = (name: string) => Number(metrics.match(new RegExp(`^${name} (\\d+)`, "m"))![1]);
    assert.equal(count("dit_results_total"), answered);
    assert.equal(count("dit_requests_total"), sent);
    assert.equal(count("dit_queue_depth"), 0);
    assert.ok(count("dit_batches_total") < answered, "requests shared batches");
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await noisy.close();
    await server.shutdown();
  }
});
