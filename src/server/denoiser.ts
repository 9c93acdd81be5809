/**
 * The contract between the serving layer and a model + sampler engine.
 *
 * The server never touches a model directly: it loads a module that exports a
 * {@linkcode DenoiserFactory} inside a `Worker` (see `worker.ts`), and the worker calls
 * {@linkcode Denoiser.run} once per batch. Two implementations exist: `cpu_denoiser.ts` (an exact
 * analytic model used for tests and development) and `gpu_denoiser.ts` (the WebGPU DiT engine).
 *
 * @module
 */

import type { PolicySpec } from "../policy/spec.ts";

/** What a model takes and produces; sent to clients in the `hello` frame. */
export interface ModelInfo {
  /** Model name, e.g. "DiT-S/2". */
  name: string;
  /** Architecture family, e.g. "dit". */
  arch: string;
  /** Shape of one sample (without the batch dimension), e.g. `[4, 32, 32]`. */
  input: { kind: "image" | "sequence"; shape: number[] };
  /** How samples are conditioned. */
  condition: { kind: "class"; numClasses: number } | { kind: "vector"; dim: number } | {
    kind: "none";
  };
  /** Sampler names the model can run, e.g. `["ddim", "dpm++2m", "ddpm"]`. */
  samplers: string[];
  /** The robot policy this model is, when its checkpoint carries one (served over openpi). */
  policy?: PolicySpec;
}

/** One client request, as handed to the denoiser (one batch holds several). */
export interface DenoiseJob {
  /** Request id (unique among the jobs of one batch). */
  id: string;
  /** Number of samples in this job. */
  n: number;
  /** Number of sampling steps (the same for all jobs of a batch). */
  steps: number;
  /** Sampler name (the same for all jobs of a batch). */
  sampler: string;
  /** One 32-bit seed per sample; sample i's noise must depend on `seeds[i]` alone. */
  seeds: number[];
  /** Class label per sample, `[n]`, for class-conditional models. */
  classes?: Int32Array;
  /** Condition vectors, `[n * dim]`, for vector-conditioned models. */
  cond?: Float32Array;
  /** Initial x_T, `[n * prod(shape)]`; when absent it is drawn from the seeds. */
  noise?: Float32Array;
}

/** Timing a denoiser reports about its most recent {@linkcode Denoiser.run}. */
export interface RunTiming {
  /** Time spent waiting on the single readback (`mapAsync`), measured on its own; 0 on CPU. */
  readbackMs: number;
}

/** A loaded model with its samplers. Lives inside the inference worker. */
export interface Denoiser {
  /** Static description of the model. */
  info: ModelInfo;
  /**
   * Runs all jobs (same sampler and steps) as ONE batch: one GPU submit and one readback.
   * Returns x0 per job, `[n * prod(shape)]` each, in job order. `onPreview`, when given, is called
   * with the current x0 estimate of each job after each step (step counts from 1); the worker
   * copies preview arrays. The returned arrays are transferred to the main thread, so return fresh
   * arrays (views of one fresh buffer are fine), never views of a buffer the denoiser reuses.
   */
  run(
    jobs: DenoiseJob[],
    onPreview?: (jobIndex: number, step: number, x0: Float32Array) => void,
  ): Promise<Float32Array[]>;
  /** Optional PNG rendering of `n` samples of x0 (e.g. decoded by a VAE); one PNG file per sample. */
  toPng?(x0: Float32Array, n: number): Uint8Array[] | Promise<Uint8Array[]>;
  /** Optional timing of the most recent run (the benchmark splits latency with it). */
  lastTiming?(): RunTiming;
  /** Optional release of resources (GPU buffers) when the worker shuts down. */
  dispose?(): void | Promise<void>;
}

/** Options the server passes to a {@linkcode DenoiserFactory}. */
export interface DenoiserOptions {
  /** Checkpoint path or URL (`--ckpt`); its meaning belongs to the denoiser. */
  ckpt?: string;
  /** The largest batch (in samples) the server will ever pass to one run. */
  maxBatch: number;
  /** The largest step count the server will ever pass. */
  maxSteps: number;
  /** Free-form settings for the denoiser (`--denoiser-config '<json>'`). */
  config?: Record<string, unknown>;
}

/**
 * Creates a denoiser. A denoiser module exports it as `createDenoiser` (or as its default
 * export); the inference worker imports the module by URL and calls it once.
 */
export type DenoiserFactory = (opts: DenoiserOptions) => Promise<Denoiser>;

/** Number of values in one sample of the given shape. */
export function sampleSize(shape: readonly number[]): number {
  let size = 1;
  for (const d of shape) size *= d;
  return size;
}
