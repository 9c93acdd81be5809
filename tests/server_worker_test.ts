// The inference worker's messages: a batch that blocks the worker's thread (as WebGPU's device
// poll does while a GPU computes) is announced by a `soon` message before its `done`, so that the
// main thread is awake when the result comes; a batch that never blocks sends none.
import assert from "node:assert/strict";
import type { FromWorker, ToWorker } from "../src/server/worker_messages.ts";

async function runBatch(stepMs: number, readbackMs: number): Promise<FromWorker["type"][]> {
  const worker = new Worker(new URL("../src/server/worker.ts", import.meta.url), {
    type: "module",
  });
  const seen: FromWorker["type"][] = [];
  const ready = Promise.withResolvers<void>();
  const done = Promise.withResolvers<void>();
  worker.onmessage = (e: MessageEvent<FromWorker>) => {
    seen.push(e.data.type);
    if (e.data.type === "ready") ready.resolve();
    if (e.data.type === "init_failed") ready.reject(new Error(e.data.message));
    if (e.data.type === "done" || e.data.type === "failed") done.resolve();
  };
  try {
    const init: ToWorker = {
      type: "init",
      module: new URL("../src/server/cpu_denoiser.ts", import.meta.url).href,
      options: { maxBatch: 4, maxSteps: 10, config: { shape: [2, 4, 4], stepMs, readbackMs } },
      warmup: false,
    };
    worker.postMessage(init);
    await ready.promise;
    const run: ToWorker = {
      type: "run",
      batch: 1,
      jobs: [{
        id: "0",
        n: 1,
        steps: 3,
        sampler: "ddim",
        seeds: [1],
        classes: Int32Array.from([0]),
        png: false,
      }],
      previews: false,
    };
    worker.postMessage(run);
    await done.promise;
    return seen;
  } finally {
    worker.terminate();
  }
}

Deno.test("worker: a batch that blocks its thread sends 'soon' before 'done'", async () => {
  // Blocks 3 x 10 ms, then sleeps 10 ms as a readback does.
  assert.deepEqual(await runBatch(10, 10), ["ready", "soon", "done"]);
  // Neither blocks nor waits: no notice.
  assert.deepEqual(await runBatch(0, 0), ["ready", "done"]);
});
