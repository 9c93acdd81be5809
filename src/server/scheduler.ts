/**
 * Dynamic batching: a bounded FIFO of accepted requests and one batch at a time on the worker.
 *
 * When the worker is idle, the first queued request waits at most `windowMs` for company. With
 * `adaptive` on (the default), the wait ends as soon as the queue holds the crowd: the samples of
 * the last batch plus those of its kind that queued while it ran (a kind the last batch was not
 * does not wait). A lone client never waits, and a steady crowd leaves as soon as it is back.
 * Requests that queued behind a running batch wait for the clients it releases: their window
 * opens when the first of those is back (or `windowMs` after the batch ended, if none is), not
 * when they arrived. Otherwise they would leave at once, alone, the released clients would queue
 * behind them, and a crowd would split into batches that take turns (8 closed-loop clients ran as
 * batches of ~6 and ~2, each waiting for the other).
 * Requests that share sampler, step count and preview mode run as one batch of up to `maxBatch`
 * samples (a request is never split). The oldest request always leads the next batch, so none
 * starves.
 *
 * @module
 */

import type { ErrorCode, SampleRequest } from "./protocol.ts";
import type { Metrics } from "./metrics.ts";
import type { InferenceWorker } from "./worker_host.ts";
import type { WorkerJob } from "./worker_messages.ts";

type Timer = ReturnType<typeof setTimeout>;

/** How a piece of work ended. */
export type Outcome =
  | {
    ok: true;
    x0: Float32Array;
    png: Uint8Array[] | null;
    queueMs: number;
    computeMs: number;
    readbackMs: number;
    batchSamples: number;
  }
  | { ok: false; code: ErrorCode; message: string };

/** One accepted request on its way through the queue and the worker. */
export interface Work {
  /** The validated request. */
  request: SampleRequest;
  /** Per-sample seeds derived from the request seed. */
  seeds: number[];
  /** Wall time (performance.now) the request was accepted. */
  acceptedAt: number;
  /** "queued" until dispatched, then "running"; "cancelled" or "done" at the end. */
  state: "queued" | "running" | "cancelled" | "done";
  /** Receives previews (only called when the request asked for them). */
  onPreview?: (step: number, x0: Float32Array) => void;
  /** Receives the outcome, once; never called for cancelled work. */
  settle: (outcome: Outcome) => void;
}

/** Scheduler settings. */
export interface SchedulerOptions {
  /** Longest wait of the first request for company while the worker is idle. */
  windowMs: number;
  /** Most samples per batch. */
  maxBatch: number;
  /** Most samples waiting in the queue. */
  queueSamples: number;
  /**
   * End the wait once the queue holds the crowd: the last batch's samples plus those of its kind
   * that queued while it ran (default true).
   */
  adaptive?: boolean;
}

function settle(work: Work, outcome: Outcome): void {
  try {
    work.settle(outcome);
  } catch (error) {
    console.error("Delivering a result failed:", error);
  }
}

function keyOf(work: Work): string {
  const r = work.request;
  return `${r.sampler}|${r.steps}|${r.previews}`;
}

/** Queues work and runs it in batches on one inference worker. */
export class Scheduler {
  #queue: Work[] = [];
  #queuedSamples = 0;
  #running: Work[] | null = null;
  #timer: Timer | undefined;
  #idle: PromiseWithResolvers<void> | null = null;
  /** The last batch's kind and its samples plus those of its kind that queued while it ran. */
  #crowd = { key: "", samples: 0 };
  /** When the worker last became free (performance.now). */
  #freeAt = -Infinity;
  /** The first arrival since then, if any. */
  #firstArrival: number | undefined;

  /** Binds the scheduler to a worker. */
  constructor(
    readonly worker: InferenceWorker,
    readonly options: SchedulerOptions,
    readonly metrics: Metrics,
  ) {}

  /** Samples waiting in the queue. */
  get queuedSamples(): number {
    return this.#queuedSamples;
  }

  /** Requests waiting in the queue. */
  get queuedRequests(): number {
    return this.#queue.length;
  }

  /** Queues work; false (and nothing queued) when the queue is full. */
  submit(work: Work): boolean {
    if (this.#queuedSamples + work.request.n > this.options.queueSamples) return false;
    work.state = "queued";
    if (this.#running === null) this.#firstArrival ??= work.acceptedAt;
    this.#queue.push(work);
    this.#queuedSamples += work.request.n;
    this.#updateGauges();
    this.#schedule();
    return true;
  }

  /**
   * Cancels work: queued work leaves the queue, running work has its result dropped. Returns false
   * when the work had already ended.
   */
  cancel(work: Work): boolean {
    if (work.state === "queued") {
      const i = this.#queue.indexOf(work);
      if (i >= 0) this.#queue.splice(i, 1);
      this.#queuedSamples -= work.request.n;
      this.#updateGauges();
      work.state = "cancelled";
      this.#checkIdle();
      return true;
    }
    if (work.state === "running") {
      work.state = "cancelled";
      return true;
    }
    return false;
  }

  /** Resolves when nothing is queued or running. */
  whenIdle(): Promise<void> {
    if (this.#queue.length === 0 && this.#running === null) return Promise.resolve();
    this.#idle ??= Promise.withResolvers<void>();
    return this.#idle.promise;
  }

  /** Fails all queued work with `code` and stops the window timer. */
  abortQueued(code: ErrorCode, message: string): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const queued = this.#queue;
    this.#queue = [];
    this.#queuedSamples = 0;
    this.#updateGauges();
    for (const work of queued) {
      work.state = "done";
      settle(work, { ok: false, code, message });
    }
    this.#checkIdle();
  }

  #updateGauges(): void {
    this.metrics.queueDepth = this.#queue.length;
    this.metrics.queueSamples = this.#queuedSamples;
  }

  #checkIdle(): void {
    if (this.#idle && this.#queue.length === 0 && this.#running === null) {
      this.#idle.resolve();
      this.#idle = null;
    }
  }

  /** Samples queued of kind `key`. */
  #ready(key: string): number {
    let ready = 0;
    for (const w of this.#queue) if (keyOf(w) === key) ready += w.request.n;
    return ready;
  }

  /** The next batch of kind `key` (oldest first, whole requests up to `maxBatch`) and the rest. */
  #select(key: string): { batch: Work[]; rest: Work[]; samples: number } {
    const batch: Work[] = [];
    const rest: Work[] = [];
    let samples = 0;
    for (const w of this.#queue) {
      if (keyOf(w) === key && samples + w.request.n <= this.options.maxBatch) {
        batch.push(w);
        samples += w.request.n;
      } else rest.push(w);
    }
    return { batch, rest, samples };
  }

  // Called on every arrival and when the worker frees up: dispatch now, or (re)check at the end of
  // the window. An arrival while the window is open may complete the crowd and end it early.
  #schedule(): void {
    if (this.#running !== null || this.#queue.length === 0) return;
    const key = keyOf(this.#queue[0]);
    const ready = this.#ready(key);
    const crowd = key === this.#crowd.key ? this.#crowd.samples : 0;
    const enough = this.options.adaptive !== false &&
      ready >= Math.min(crowd, this.options.maxBatch);
    // The window opens when the head arrives or, for requests that queued behind the last batch,
    // when the first of the clients it released is back (at most one window after it ended).
    const start = Math.max(
      this.#queue[0].acceptedAt,
      this.#firstArrival ?? this.#freeAt + this.options.windowMs,
    );
    const delay = start + this.options.windowMs - performance.now();
    if (this.#select(key).samples === this.options.maxBatch || enough || delay <= 0) {
      this.#dispatch();
    } else {
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#dispatch();
      }, delay);
    }
  }

  #take(): Work[] {
    const { batch, rest, samples } = this.#select(keyOf(this.#queue[0]));
    this.#queue = rest;
    this.#queuedSamples -= samples;
    this.#updateGauges();
    return batch;
  }

  #dispatch(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#running !== null || this.#queue.length === 0) return;
    const batch = this.#take();
    this.#running = batch;
    const now = performance.now();
    const samples = batch.reduce((s, w) => s + w.request.n, 0);
    const jobs: WorkerJob[] = batch.map((w, i) => {
      w.state = "running";
      const r = w.request;
      return {
        id: String(i),
        n: r.n,
        steps: r.steps,
        sampler: r.sampler,
        seeds: w.seeds,
        classes: r.classes,
        cond: r.cond,
        noise: r.noise,
        png: r.wantPng,
      };
    });
    const previews = batch[0].request.previews;
    const onPreview = previews
      ? (job: number, step: number, x0: Float32Array) => {
        const w = batch[job];
        if (w?.state !== "running") return;
        try {
          w.onPreview?.(step, x0);
        } catch (error) {
          console.error("Delivering a preview failed:", error);
        }
      }
      : undefined;
    this.metrics.batches++;
    this.metrics.samples += samples;
    this.metrics.batchSize.observe(samples);
    for (const w of batch) this.metrics.queueSeconds.observe((now - w.acceptedAt) / 1000);
    this.worker.run(jobs, onPreview).then(
      (out) => {
        this.metrics.computeSeconds.observe(out.computeMs / 1000);
        this.metrics.readbackSeconds.observe(out.readbackMs / 1000);
        batch.forEach((w, i) => {
          if (w.state !== "running") return;
          w.state = "done";
          settle(w, {
            ok: true,
            x0: out.x0[i],
            png: out.png[i],
            queueMs: now - w.acceptedAt,
            computeMs: out.computeMs,
            readbackMs: out.readbackMs,
            batchSamples: samples,
          });
        });
      },
      (error: Error) => {
        for (const w of batch) {
          if (w.state !== "running") continue;
          w.state = "done";
          settle(w, { ok: false, code: "internal", message: error.message });
        }
      },
    ).finally(() => {
      this.#running = null;
      this.#freeAt = performance.now();
      this.#firstArrival = undefined;
      const key = keyOf(batch[0]);
      this.#crowd = { key, samples: samples + this.#ready(key) };
      this.#checkIdle();
      this.#schedule();
    });
  }
}
