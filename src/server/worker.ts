/**
 * The inference worker: loads a denoiser module (a URL given in the `init` message), keeps the
 * model resident and runs one batch at a time. Every blocking GPU wait happens on this thread, so
 * the server's socket I/O on the main thread never stalls.
 *
 * The module must export a {@linkcode DenoiserFactory} as `createDenoiser` or as its default.
 *
 * @module
 */

import type { DenoiseJob, Denoiser, DenoiserFactory, ModelInfo } from "./denoiser.ts";
import type { FromWorker, ToWorker, WorkerJob } from "./worker_messages.ts";

interface WorkerScope {
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
  close(): void;
}

const scope = self as unknown as WorkerScope;
let denoiser: Denoiser | null = null;
let queue: Promise<void> = Promise.resolve();

function post(message: FromWorker, transfer: Transferable[] = []): void {
  scope.postMessage(message, transfer);
}

function buffersOf(arrays: ArrayBufferView[]): Transferable[] {
  return [...new Set(arrays.map((a) => a.buffer as ArrayBuffer))];
}

function warmupJob(info: ModelInfo): DenoiseJob {
  const job: DenoiseJob = {
    id: "warmup",
    n: 1,
    // A regression policy's one sampler is one forward pass; any other warms with two steps.
    steps: info.policy?.objective === "regression" ? 1 : 2,
    sampler: info.samplers[0],
    seeds: [0],
  };
  if (info.condition.kind === "class") job.classes = new Int32Array(1);
  if (info.condition.kind === "vector") job.cond = new Float32Array(info.condition.dim);
  return job;
}

async function init(message: Extract<ToWorker, { type: "init" }>): Promise<void> {
  try {
    const mod = await import(message.module);
    const factory: DenoiserFactory | undefined = mod.createDenoiser ?? mod.default;
    if (typeof factory !== "function") {
      throw new Error(`Module ${message.module} exports no createDenoiser function`);
    }
    denoiser = await factory(message.options);
    const start = performance.now();
    if (message.warmup) await denoiser.run([warmupJob(denoiser.info)]);
    post({
      type: "ready",
      info: denoiser.info,
      canPng: typeof denoiser.toPng === "function" && denoiser.info.input.kind === "image",
      warmupMs: performance.now() - start,
    });
  } catch (error) {
    post({ type: "init_failed", message: (error as Error)?.message ?? String(error) });
  }
}

/**
 * Wakes the main thread a little before a batch's result. A tick of this timer that comes late
 * means the thread was blocked, as in WebGPU's device poll while the GPU computes, so the readback
 * (Deno's ~10 ms `mapAsync` sleep) has begun: a `soon` message now gets the main thread out of its
 * idle spell ahead of the result. On the project's virtual machine the result's hand-off then takes
 * ~0.1 ms instead of ~0.2-0.26 ms after a long idle (docs/benchmarks.md). Returns the
 * stop function.
 */
function noticeBeforeResult(batch: number): () => void {
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    if (now - last > 5) {
      post({ type: "soon", batch });
      clearInterval(timer);
    }
    last = now;
  }, 2);
  return () => clearInterval(timer);
}

async function run(message: Extract<ToWorker, { type: "run" }>): Promise<void> {
  const { batch, jobs } = message;
  const stopNotice = noticeBeforeResult(batch);
  try {
    if (!denoiser) throw new Error("The denoiser is not loaded");
    const model = denoiser;
    const onPreview = message.previews
      ? (job: number, step: number, x0: Float32Array) => {
        const copy = x0.slice(); // the denoiser may reuse its buffer
        post({ type: "preview", batch, job, step, x0: copy }, [copy.buffer]);
      }
      : undefined;
    const start = performance.now();
    const denoiseJobs = jobs.map(({ png: _png, ...job }: WorkerJob) => job);
    const x0 = await model.run(denoiseJobs, onPreview);
    const computeMs = performance.now() - start;
    const readbackMs = model.lastTiming?.().readbackMs ?? 0;
    if (x0.length !== jobs.length) {
      throw new Error(`The denoiser returned ${x0.length} results for ${jobs.length} jobs`);
    }
    const png = await Promise.all(
      jobs.map((job, i) => (job.png && model.toPng ? model.toPng(x0[i], job.n) : null)),
    );
    post({ type: "done", batch, x0, png, computeMs, readbackMs }, buffersOf(x0));
  } catch (error) {
    post({ type: "failed", batch, message: (error as Error)?.message ?? String(error) });
  } finally {
    stopNotice();
  }
}

async function close(): Promise<void> {
  try {
    await denoiser?.dispose?.();
  } finally {
    denoiser = null;
    post({ type: "closed" });
  }
}

scope.onmessage = (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  const task = message.type === "init"
    ? () => init(message)
    : message.type === "run"
    ? () => run(message)
    : () => close();
  queue = queue.then(task);
};
