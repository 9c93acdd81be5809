/**
 * Messages between the server's main thread and the inference worker.
 *
 * @module
 */

import type { DenoiseJob, DenoiserOptions, ModelInfo } from "./denoiser.ts";

/** A job as sent to the worker: a {@linkcode DenoiseJob} plus whether PNGs are wanted. */
export interface WorkerJob extends DenoiseJob {
  png: boolean;
}

/** Main thread to worker. */
export type ToWorker =
  | { type: "init"; module: string; options: DenoiserOptions; warmup: boolean }
  | { type: "run"; batch: number; jobs: WorkerJob[]; previews: boolean }
  | { type: "close" };

/** Worker to main thread. */
export type FromWorker =
  | { type: "ready"; info: ModelInfo; canPng: boolean; warmupMs: number }
  | { type: "init_failed"; message: string }
  | { type: "preview"; batch: number; job: number; step: number; x0: Float32Array }
  /** The batch's device work is done and its readback has begun (a wake-up; nothing to do). */
  | { type: "soon"; batch: number }
  | {
    type: "done";
    batch: number;
    x0: Float32Array[];
    png: (Uint8Array[] | null)[];
    computeMs: number;
    readbackMs: number;
  }
  | { type: "failed"; batch: number; message: string }
  | { type: "closed" };
