// Dynamic batching: concurrent requests that share sampler and steps run as one batch, and every
// request's result equals the same request run alone.

import assert from "node:assert/strict";
import { connect, type SampleOptions, type SampleResult } from "../src/server/client.ts";
import { startTestServer } from "../src/server/testing.ts";

const REQUESTS: SampleOptions[] = [
  { n: 1, steps: 12, class: 0, seed: 1 },
  { n: 3, steps: 12, class: [4, 5, 6], seed: 2 },
  { n: 2, steps: 12, class: 9, seed: 3 },
  { n: 1, steps: 12, class: 2, seed: 4 },
];

Deno.test("batching: batched results equal unbatched ones, per seed", async () => {
  // A wide window so that concurrent requests surely share a batch.
  const server = await startTestServer({ batchWindowMs: 100, adaptiveWindow: false });
  const clients = await Promise.all(REQUESTS.map(() => connect(server.url)));
  try {
    for (const sampler of ["ddim", "ddpm", "dpm++2m"]) {
      const alone: SampleResult[] = [];
      for (const r of REQUESTS) {
        const result = await clients[0].sample({ ...r, sampler });
        assert.equal(result.timing.batchSamples, r.n, "run alone");
        alone.push(result);
      }
      const together = await Promise.all(
        REQUESTS.map((r, i) => clients[i].sample({ ...r, sampler })),
      );
      together.forEach((result, i) => {
        assert.equal(result.timing.batchSamples, 7, `${sampler}: one batch of all 7 samples`);
        assert.deepEqual(result.x0, alone[i].x0, `${sampler}: request ${i}`);
      });
    }
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await server.shutdown();
  }
});

Deno.test("batching: different steps never share a batch, maxBatch caps a batch", async () => {
  const server = await startTestServer({ batchWindowMs: 50, maxBatch: 4, adaptiveWindow: false });
  const client = await connect(server.url);
  try {
    const results = await Promise.all([
      client.sample({ n: 3, steps: 5, class: 1, seed: 1 }),
      client.sample({ n: 2, steps: 6, class: 1, seed: 2 }),
      client.sample({ n: 2, steps: 5, class: 1, seed: 3 }),
      client.sample({ n: 1, steps: 5, class: 1, seed: 4 }),
    ]);
    // steps=5: 3 + 1 fit in a batch of 4, the request of 2 waits for the next one.
    assert.deepEqual(results.map((r) => r.timing.batchSamples), [4, 2, 2, 4]);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /dit_batches_total 3/);
    assert.match(metrics, /dit_samples_total 8/);
  } finally {
    await client.close();
    await server.shutdown();
  }
});

Deno.test("batching: the adaptive window lets a lone client through without waiting", async () => {
  const server = await startTestServer({ batchWindowMs: 1_000 });
  const client = await connect(server.url);
  try {
    for (let i = 0; i < 3; i++) {
      const result = await client.sample({ steps: 2, class: 1, seed: i });
      assert.ok(result.timing.queueMs < 500, `waited ${result.timing.queueMs} ms`);
    }
  } finally {
    await client.close();
    await server.shutdown();
  }
});
