/**
 * The main thread's handle on the inference worker: starts it, runs batches one at a time and
 * stops it.
 *
 * @module
 */

import type { DenoiserOptions, ModelInfo } from "./denoiser.ts";
import type { FromWorker, ToWorker, WorkerJob } from "./worker_messages.ts";

type Timer = ReturnType<typeof setTimeout>;

/** What a finished batch brings back. */
export interface BatchOutput {
  x0: Float32Array[];
  png: (Uint8Array[] | null)[];
  computeMs: number;
  readbackMs: number;
}

/** Receives the x0 estimate of job `job` after step `step`. */
export type PreviewHandler = (job: number, step: number, x0: Float32Array) => void;

interface Pending {
  batch: number;
  resolve: (out: BatchOutput) => void;
  reject: (error: Error) => void;
  onPreview?: PreviewHandler;
}

/** A started inference worker with its model loaded and warmed up. */
export class InferenceWorker {
  #worker: Worker;
  #pending: Pending | null = null;
  #nextBatch = 1;
  #dead: Error | null = null;
  #closed: PromiseWithResolvers<void> | null = null;

  private constructor(
    worker: Worker,
    /** The model the worker serves. */
    readonly info: ModelInfo,
    /** Whether the denoiser renders PNGs. */
    readonly canPng: boolean,
    /** Time of the warm-up run. */
    readonly warmupMs: number,
  ) {
    this.#worker = worker;
    worker.onmessage = (event: MessageEvent<FromWorker>) => this.#onMessage(event.data);
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      this.#fail(new Error(`Inference worker crashed: ${event.message}`));
    };
  }

  /**
   * Starts a worker that loads the denoiser module at `moduleUrl` and warms it up. Rejects when
   * loading fails or takes longer than `timeoutMs`.
   */
  static async start(
    moduleUrl: string,
    options: DenoiserOptions,
    timeoutMs = 120_000,
  ): Promise<InferenceWorker> {
    const worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
    const ready = Promise.withResolvers<Extract<FromWorker, { type: "ready" }>>();
    worker.onmessage = (event: MessageEvent<FromWorker>) => {
      const m = event.data;
      if (m.type === "ready") ready.resolve(m);
      else if (m.type === "init_failed") ready.reject(new Error(`Model load failed: ${m.message}`));
    };
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      ready.reject(new Error(`Inference worker crashed while loading: ${event.message}`));
    };
    const timer = setTimeout(
      () => ready.reject(new Error(`Model load took longer than ${timeoutMs} ms`)),
      timeoutMs,
    );
    const message: ToWorker = { type: "init", module: moduleUrl, options, warmup: true };
    worker.postMessage(message);
    try {
      const m = await ready.promise;
      return new InferenceWorker(worker, m.info, m.canPng, m.warmupMs);
    } catch (error) {
      worker.terminate();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** True while a batch runs. */
  get busy(): boolean {
    return this.#pending !== null;
  }

  /** The error that killed the worker, if any. */
  get dead(): Error | null {
    return this.#dead;
  }

  /** Runs one batch; only one may run at a time. */
  run(jobs: WorkerJob[], onPreview?: PreviewHandler): Promise<BatchOutput> {
    if (this.#dead) return Promise.reject(this.#dead);
    if (this.#pending) return Promise.reject(new Error("A batch is already running"));
    const batch = this.#nextBatch++;
    const { promise, resolve, reject } = Promise.withResolvers<BatchOutput>();
    this.#pending = { batch, resolve, reject, onPreview };
    const message: ToWorker = { type: "run", batch, jobs, previews: onPreview !== undefined };
    this.#worker.postMessage(message);
    return promise;
  }

  #onMessage(m: FromWorker): void {
    const pending = this.#pending;
    if (m.type === "closed") {
      this.#closed?.resolve();
      return;
    }
    if (!pending || !("batch" in m) || m.batch !== pending.batch) return;
    if (m.type === "soon") {
      // Nothing to do: receiving it ended this thread's idle spell just before the result.
    } else if (m.type === "preview") {
      pending.onPreview?.(m.job, m.step, m.x0);
    } else if (m.type === "done") {
      this.#pending = null;
      pending.resolve({ x0: m.x0, png: m.png, computeMs: m.computeMs, readbackMs: m.readbackMs });
    } else if (m.type === "failed") {
      this.#pending = null;
      pending.reject(new Error(m.message));
    }
  }

  #fail(error: Error): void {
    this.#dead = error;
    const pending = this.#pending;
    this.#pending = null;
    pending?.reject(error);
    this.#closed?.resolve();
  }

  /** Lets the denoiser release its resources (bounded by `timeoutMs`), then ends the worker. */
  async close(timeoutMs = 5_000): Promise<void> {
    if (!this.#dead) {
      this.#closed = Promise.withResolvers<void>();
      this.#worker.postMessage({ type: "close" } satisfies ToWorker);
      let timer: Timer | undefined;
      const timeout = new Promise<void>((resolve) => timer = setTimeout(resolve, timeoutMs));
      await Promise.race([this.#closed.promise, timeout]);
      clearTimeout(timer);
    }
    this.#worker.terminate();
    this.#fail(new Error("Inference worker closed"));
  }
}
