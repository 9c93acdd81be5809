// The batching policy of the scheduler, driven by a fake worker whose batches end when the test
// says so: which requests share a batch and when a batch leaves.

import assert from "node:assert/strict";
import { Metrics } from "../src/server/metrics.ts";
import type { SampleRequest } from "../src/server/protocol.ts";
import { Scheduler, type Work } from "../src/server/scheduler.ts";
import type { BatchOutput, InferenceWorker } from "../src/server/worker_host.ts";
import type { WorkerJob } from "../src/server/worker_messages.ts";

/** Records each batch (request ids) and lets the test end it. */
class FakeWorker {
  batches: { ids: string[]; at: number; finish: () => void }[] = [];
  run(jobs: WorkerJob[]): Promise<BatchOutput> {
    const { promise, resolve } = Promise.withResolvers<BatchOutput>();
    const finish = () =>
      resolve({
        x0: jobs.map(() => new Float32Array(1)),
        png: jobs.map(() => null),
        computeMs: 1,
        readbackMs: 0,
      });
    this.batches.push({ ids: jobs.map((j) => j.id), at: performance.now(), finish });
    return promise;
  }
}

function setup(windowMs: number, maxBatch = 32) {
  const worker = new FakeWorker();
  const scheduler = new Scheduler(
    worker as unknown as InferenceWorker,
    { windowMs, maxBatch, queueSamples: 1000 },
    new Metrics(),
  );
  const settled: string[] = [];
  const submit = (name: string, steps = 10) => {
    const request: SampleRequest = {
      id: name,
      n: 1,
      steps,
      sampler: "ddim",
      seed: 0,
      wantX0: true,
      wantPng: false,
      previews: false,
    };
    const work: Work = {
      request,
      seeds: [0],
      acceptedAt: performance.now(),
      state: "queued",
      settle: () => settled.push(name),
    };
    assert.ok(scheduler.submit(work));
  };
  return { worker, scheduler, submit, settled };
}

const tick = () => new Promise((r) => setTimeout(r, 0));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Sizes of the batches run so far. */
const sizes = (w: FakeWorker) => w.batches.map((b) => b.ids.length);

Deno.test("scheduler: a returning crowd ends the window at once, not when it expires", async () => {
  const { worker, scheduler, submit } = setup(10_000);
  for (const c of ["a", "b", "c", "d"]) submit(c);
  await tick();
  assert.deepEqual(sizes(worker), [1], "a first request leaves at once (no crowd seen yet)");
  worker.batches[0].finish();
  await tick();
  // b, c, d queued behind it: the crowd is 4, so they wait (10 s window) for a to come back.
  await sleep(20);
  assert.deepEqual(sizes(worker), [1]);
  submit("a");
  await tick();
  assert.deepEqual(sizes(worker), [1, 4]);
  worker.batches[1].finish();
  await tick();
  // The crowd of 4 comes back one by one; the batch leaves with the 4th, long before 10 s.
  const t0 = performance.now();
  for (const c of ["a", "b", "c"]) {
    submit(c);
    await sleep(2);
    assert.equal(worker.batches.length, 2, "waits for the crowd");
  }
  submit("d");
  await tick();
  assert.deepEqual(sizes(worker), [1, 4, 4]);
  assert.ok(performance.now() - t0 < 1_000);
  worker.batches[2].finish();
  await scheduler.whenIdle();
});

Deno.test("scheduler: requests queued behind a batch wait for the crowd it releases", async () => {
  // 8 closed-loop clients must not split into batches that take turns: 2 stragglers queued behind
  // a batch of 6 wait (up to the window) for the 6 it releases, and all 8 run at once.
  const { worker, scheduler, submit } = setup(200);
  for (let i = 0; i < 8; i++) submit(`c${i}`);
  await tick();
  worker.batches[0].finish();
  await tick();
  submit("c0");
  await tick();
  assert.deepEqual(sizes(worker), [1, 8]);
  worker.batches[1].finish();
  await tick();
  for (let i = 0; i < 6; i++) submit(`c${i}`);
  await sleep(250); // the window (200 ms) expires: the 6 leave without the 2 missing
  assert.deepEqual(sizes(worker), [1, 8, 6]);
  submit("c6");
  submit("c7");
  await sleep(250); // they queue longer than the window behind the running batch
  worker.batches[2].finish();
  await tick();
  assert.deepEqual(sizes(worker), [1, 8, 6], "the stragglers wait for the crowd");
  for (let i = 0; i < 5; i++) submit(`c${i}`);
  await tick();
  assert.equal(worker.batches.length, 3);
  submit("c5");
  await tick();
  assert.deepEqual(sizes(worker), [1, 8, 6, 8]);
  worker.batches[3].finish();
  await scheduler.whenIdle();
});

Deno.test("scheduler: a stale crowd costs at most one window; other kinds never join", async () => {
  const { worker, scheduler, submit, settled } = setup(60);
  for (let i = 0; i < 5; i++) submit(`c${i}`);
  await tick();
  worker.batches[0].finish();
  await tick();
  submit("c0");
  await tick();
  worker.batches[1].finish(); // crowd 5
  await tick();
  // The crowd is gone: one client is left. Its request waits out the window once...
  const t0 = performance.now();
  submit("solo");
  submit("other", 50); // another step count: never in the same batch
  await sleep(20);
  assert.equal(worker.batches.length, 2);
  while (worker.batches.length === 2) await sleep(5);
  const waited = performance.now() - t0;
  assert.ok(waited >= 55 && waited < 1_000, `waited ${waited} ms`);
  assert.deepEqual(sizes(worker), [1, 5, 1]);
  assert.equal(worker.batches[2].ids.length, 1);
  worker.batches[2].finish();
  await tick();
  // ...the 50-step request, a kind the last batch was not, leaves at once after it...
  assert.deepEqual(sizes(worker), [1, 5, 1, 1]);
  worker.batches[3].finish();
  await tick();
  // ...and so does the lone client's next request.
  submit("solo");
  await tick();
  assert.equal(worker.batches.length, 5);
  worker.batches[4].finish();
  await scheduler.whenIdle();
  assert.deepEqual(settled.slice(-3), ["solo", "other", "solo"]);
});
