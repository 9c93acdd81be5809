// Denoiser faults: a failing load, a run that throws and a worker that crashes never take the
// server down; clients get `internal` errors and /healthz tells the truth.

import assert from "node:assert/strict";
import { connect } from "../src/server/client.ts";
import { sampleSeed } from "../src/server/seeds.ts";
import { startServer } from "../src/server/server.ts";
import { startTestServer } from "../src/server/testing.ts";

// A denoiser module (as a data: URL) wrapping the CPU one: request seed 13 makes run() reject,
// request seed 14 throws an uncaught error inside the worker (which kills it).
function faultyModule(): string {
  const cpu = new URL("../src/server/cpu_denoiser.ts", import.meta.url).href;
  const source = `
    import { createDenoiser as cpu } from "${cpu}";
    export async function createDenoiser(options) {
      const denoiser = await cpu(options);
      const run = denoiser.run.bind(denoiser);
      denoiser.run = (jobs, onPreview) => {
        const seeds = jobs.flatMap((job) => job.seeds);
        if (seeds.includes(${
    sampleSeed(13, 0)
  })) return Promise.reject(new Error("Injected failure"));
        if (seeds.includes(${sampleSeed(14, 0)})) {
          setTimeout(() => { throw new Error("Injected crash"); }, 0);
          return new Promise(() => {});
        }
        return run(jobs, onPreview);
      };
      return denoiser;
    }`;
  return `data:application/javascript;base64,${btoa(source)}`;
}

Deno.test("faults: a denoiser that fails to load rejects ready and stays unhealthy", async () => {
  const server = startServer({
    port: 0,
    log: () => {},
    denoiserModule: new URL("./no_such_denoiser.ts", import.meta.url).href,
  });
  await assert.rejects(server.ready, /Model load failed/);
  const health = await fetch(`${server.url}/healthz`);
  assert.equal(health.status, 503);
  await health.body?.cancel();
  await server.shutdown();
});

Deno.test("faults: a failing run answers internal, a crashed worker turns health red", async () => {
  const server = await startTestServer({ denoiserModule: faultyModule() });
  const client = await connect(server.url);
  try {
    await assert.rejects(
      client.sample({ steps: 2, class: 0, seed: 13 }),
      (e: unknown) => (e as { code?: string }).code === "internal",
    );
    const ok = await client.sample({ steps: 2, class: 0, seed: 1 });
    assert.equal(ok.seed, 1);
    await assert.rejects(
      client.sample({ steps: 2, class: 0, seed: 14 }),
      (e: unknown) => (e as { code?: string }).code === "internal",
    );
    const health = await fetch(`${server.url}/healthz`);
    assert.equal(health.status, 503);
    assert.equal((await health.json()).status, "failed");
    await assert.rejects(
      client.sample({ steps: 2, class: 0, seed: 1 }),
      (e: unknown) => (e as { code?: string }).code === "internal",
    );
  } finally {
    await client.close();
    await server.shutdown();
  }
});
