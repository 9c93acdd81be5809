/**
 * A real, exact CPU denoiser for tests and development: the data distribution of each class is a
 * mixture of `modes` isotropic Gaussians (std `std`) around smooth class patterns, and the model
 * is the Bayes-optimal x0 predictor of that distribution, computed in closed form:
 *
 *   E[x0 | x_t] = (sqrt(a) s^2 / v) x_t + (1 - a s^2 / v) * sum_j r_j(x_t) mu_j,  v = a s^2 + 1 - a,
 *
 * with r the posterior over mixture components. Sampling therefore converges to the class modes.
 * Each step costs O(components * size) real arithmetic per sample, so time grows with the batch
 * and the step count. The samplers are the engine's own (`src/sample/samplers.ts` plans applied by
 * `stepCpu`), fed the noise prediction that matches the exact x0, and every sample draws its noise
 * from its own seed only (`src/sample/noise.ts`, the GPU denoiser's draws).
 *
 * The module exports {@linkcode createDenoiser}, so the inference worker can load it.
 *
 * @module
 */

import { encode as encodePng } from "fast-png";
import type {
  DenoiseJob,
  Denoiser,
  DenoiserFactory,
  DenoiserOptions,
  ModelInfo,
  RunTiming,
} from "./denoiser.ts";
import { sampleSize } from "./denoiser.ts";
import { stepCpu } from "../diffusion/samplers.ts";
import type { BetaSchedule } from "../diffusion/schedule.ts";
import { initialNoise, stepNoise } from "../sample/noise.ts";
import { makeSampler, SAMPLERS } from "../sample/samplers.ts";
import { Rng } from "../util/prng.ts";

/** Settings of the analytic model (`--denoiser-config` JSON, or a `--ckpt` JSON file). */
export interface CpuModelConfig {
  /** Per-sample shape; `[C, H, W]` makes an image model, anything else a sequence model. */
  shape: number[];
  /** Number of classes of the mixture. */
  numClasses: number;
  /** Mixture components per class. */
  modes: number;
  /** Standard deviation of each component. */
  std: number;
  /** Seed of the class patterns (the "weights"). */
  seed: number;
  /** Conditioning: class labels, a vector of class logits (dim = numClasses), or none. */
  condition: "class" | "vector" | "none";
  /** Noise schedule the samplers run on (default "linear", DDPM's). */
  betaSchedule?: BetaSchedule;
  /**
   * Simulated device time per denoising step of a batch, in ms (default 0): the inference thread
   * blocks for `steps * stepMs` after computing, as it blocks in WebGPU's device poll while a GPU
   * computes, and the CPUs idle meanwhile. With `readbackMs` it gives the server's own overhead
   * at a GPU model's cadence, without the GPU's load on the CPUs (`bench:serve`,
   * docs/benchmarks.md).
   */
  stepMs?: number;
  /** Simulated readback per batch, in ms (default 0): an async sleep, as Deno's `mapAsync`. */
  readbackMs?: number;
}

/** Defaults: a DiT-like 4x32x32 latent, 10 classes with 4 modes each. */
export const DEFAULT_CPU_CONFIG: CpuModelConfig = {
  shape: [4, 32, 32],
  numClasses: 10,
  modes: 4,
  std: 0.1,
  seed: 0,
  condition: "class",
  betaSchedule: "linear",
  stepMs: 0,
  readbackMs: 0,
};

/** The mixture: component means and norms, `modes` consecutive components per class. */
class Mixture {
  readonly size: number;
  readonly means: Float64Array;
  readonly norms: Float64Array;

  constructor(readonly cfg: CpuModelConfig) {
    const size = sampleSize(cfg.shape);
    this.size = size;
    const count = cfg.numClasses * cfg.modes;
    this.means = new Float64Array(count * size);
    this.norms = new Float64Array(count);
    const rng = new Rng(cfg.seed >>> 0);
    const dims = cfg.shape;
    const w = dims[dims.length - 1];
    const h = dims.length >= 2 ? dims[dims.length - 2] : 1;
    const channels = size / (w * h);
    for (let c = 0; c < cfg.numClasses; c++) {
      const fu = 0.5 + 2 * rng.next(), fv = 0.5 + 2 * rng.next();
      const phases = Array.from({ length: channels }, () => 2 * Math.PI * rng.next());
      for (let k = 0; k < cfg.modes; k++) {
        const gu = 1 + 3 * rng.next(),
          gv = 1 + 3 * rng.next(),
          gp = 2 * Math.PI * rng.next();
        const base = (c * cfg.modes + k) * size;
        let norm = 0;
        for (let i = 0; i < size; i++) {
          const u = (i % w) / w, v = (Math.floor(i / w) % h) / h, ch = Math.floor(i / (w * h));
          const value = 0.8 * Math.sin(2 * Math.PI * (fu * u + fv * v) + phases[ch]) +
            0.3 * Math.cos(2 * Math.PI * (gu * u - gv * v) + gp + ch);
          this.means[base + i] = value;
          norm += value * value;
        }
        this.norms[c * cfg.modes + k] = norm;
      }
    }
  }

  /**
   * Writes E[x0 | x] at alpha-bar `a` into `out`, over the components `first..first+count-1` with
   * log prior weights `logw` (one per component).
   */
  posteriorMean(x: Float64Array, a: number, logw: Float64Array, out: Float64Array): void {
    const size = this.size, s2 = this.cfg.std * this.cfg.std, sa = Math.sqrt(a);
    const v = a * s2 + 1 - a;
    const count = logw.length;
    let xx = 0;
    for (let i = 0; i < size; i++) xx += x[i] * x[i];
    const logits = new Float64Array(count);
    let best = -Infinity;
    for (let j = 0; j < count; j++) {
      if (logw[j] === -Infinity) {
        logits[j] = -Infinity;
        continue;
      }
      const base = j * size;
      let dot = 0;
      for (let i = 0; i < size; i++) dot += x[i] * this.means[base + i];
      const dist = xx - 2 * sa * dot + a * this.norms[j];
      logits[j] = logw[j] - dist / (2 * v);
      if (logits[j] > best) best = logits[j];
    }
    let total = 0;
    for (let j = 0; j < count; j++) {
      logits[j] = Math.exp(logits[j] - best);
      total += logits[j];
    }
    const gain = sa * s2 / v, keep = 1 - a * s2 / v;
    for (let i = 0; i < size; i++) out[i] = gain * x[i];
    for (let j = 0; j < count; j++) {
      const r = keep * logits[j] / total;
      if (r < 1e-12) continue;
      const base = j * size;
      for (let i = 0; i < size; i++) out[i] += r * this.means[base + i];
    }
  }
}

/** Per-sample log prior weights over all components, from a class, a logit vector, or nothing. */
function logPrior(cfg: CpuModelConfig, cls: number | null, logits: Float32Array | null) {
  const count = cfg.numClasses * cfg.modes;
  const out = new Float64Array(count);
  if (cls !== null) {
    out.fill(-Infinity);
    for (let k = 0; k < cfg.modes; k++) out[cls * cfg.modes + k] = 0;
  } else if (logits !== null) {
    for (let c = 0; c < cfg.numClasses; c++) {
      for (let k = 0; k < cfg.modes; k++) out[c * cfg.modes + k] = logits[c];
    }
  }
  return out;
}

/** One sample on its way through the sampler. */
interface Trajectory {
  job: number;
  index: number;
  seed: number;
  /** x_t [size]. */
  x: Float32Array;
  /** The model's exact x0 estimate at x_t [size]. */
  x0: Float64Array;
  /** The sampler's (clipped) x0 of the previous step (DPM-Solver++ multistep term) [size]. */
  x0Prev?: Float32Array;
  logw: Float64Array;
}

/** The analytic CPU denoiser. */
export class CpuDenoiser implements Denoiser {
  readonly info: ModelInfo;
  readonly #mixture: Mixture;
  #readbackMs = 0;
  /** What the simulated device time blocks on (never notified). */
  readonly #block = new Int32Array(new SharedArrayBuffer(4));

  /** Builds the mixture for a configuration. */
  constructor(readonly config: CpuModelConfig) {
    validateConfig(config);
    this.#mixture = new Mixture(config);
    const condition: ModelInfo["condition"] = config.condition === "class"
      ? { kind: "class", numClasses: config.numClasses }
      : config.condition === "vector"
      ? { kind: "vector", dim: config.numClasses }
      : { kind: "none" };
    this.info = {
      name: `cpu-gmm-${config.numClasses}x${config.modes}`,
      arch: "analytic-gmm",
      input: { kind: config.shape.length === 3 ? "image" : "sequence", shape: [...config.shape] },
      condition,
      samplers: [...SAMPLERS],
    };
  }

  /** Mean of mixture component `k` of class `cls` (what samples of that class gather around). */
  mode(cls: number, k: number): Float32Array {
    const size = this.#mixture.size, base = (cls * this.config.modes + k) * size;
    return Float32Array.from(this.#mixture.means.subarray(base, base + size));
  }

  /** Runs the jobs as one batch, steps outermost, each sample on its own. */
  run(
    jobs: DenoiseJob[],
    onPreview?: (jobIndex: number, step: number, x0: Float32Array) => void,
  ): Promise<Float32Array[]> {
    let out: Float32Array[];
    try {
      out = this.#runSync(jobs, onPreview);
    } catch (error) {
      return Promise.reject(error);
    }
    const deviceMs = (this.config.stepMs ?? 0) * (jobs[0]?.steps ?? 0);
    if (deviceMs > 0) Atomics.wait(this.#block, 0, 0, deviceMs);
    const readbackMs = this.config.readbackMs ?? 0;
    if (!(readbackMs > 0)) {
      this.#readbackMs = 0;
      return Promise.resolve(out);
    }
    const start = performance.now();
    return new Promise((resolve) =>
      setTimeout(() => {
        this.#readbackMs = performance.now() - start;
        resolve(out);
      }, readbackMs)
    );
  }

  #runSync(
    jobs: DenoiseJob[],
    onPreview?: (jobIndex: number, step: number, x0: Float32Array) => void,
  ): Float32Array[] {
    if (jobs.length === 0) return [];
    const { steps, sampler } = jobs[0];
    const { schedule, plan } = (() => {
      const s = makeSampler(sampler, this.config.betaSchedule ?? "linear");
      return { schedule: s.schedule, plan: s.plan(steps) };
    })();
    const size = this.#mixture.size;
    const samples: Trajectory[] = [];
    jobs.forEach((job, j) => {
      if (job.steps !== steps || job.sampler !== sampler) {
        throw new Error("All jobs of a batch must share sampler and steps");
      }
      for (let i = 0; i < job.n; i++) {
        const seed = job.seeds[i];
        const x = job.noise
          ? Float32Array.from(job.noise.subarray(i * size, (i + 1) * size))
          : initialNoise(seed, size);
        const cls = job.classes ? job.classes[i] : null;
        const cond = job.cond
          ? job.cond.subarray(i * this.config.numClasses, (i + 1) * this.config.numClasses)
          : null;
        samples.push({
          job: j,
          index: i,
          seed,
          x,
          x0: new Float64Array(size),
          logw: logPrior(this.config, cls, cond),
        });
      }
    });
    const previews = onPreview ? jobs.map((job) => new Float32Array(job.n * size)) : [];
    const eps = new Float32Array(size);
    const x64 = new Float64Array(size); // the mixture's sums run over float64 copies of x_t
    plan.rows.forEach((row, step) => {
      const a = schedule.alphasCumprod[row.t];
      const sa = Math.sqrt(a), sn = Math.sqrt(1 - a);
      for (const s of samples) {
        x64.set(s.x);
        this.#mixture.posteriorMean(x64, a, s.logw, s.x0);
        // The noise prediction whose implied x0 is the exact posterior mean.
        for (let i = 0; i < size; i++) eps[i] = (s.x[i] - sa * s.x0[i]) / sn;
        const noise = row.s !== 0 ? stepNoise(s.seed, step, size) : undefined;
        const r = stepCpu(row, { x: s.x, eps, x0Prev: s.x0Prev, noise });
        s.x = r.prevSample;
        s.x0Prev = r.predOriginalSample;
        if (onPreview) previews[s.job].set(r.predOriginalSample, s.index * size);
      }
      if (onPreview) previews.forEach((p, j) => onPreview(j, step + 1, p.slice()));
    });
    const out = jobs.map((job) => new Float32Array(job.n * size));
    for (const s of samples) out[s.job].set(s.x, s.index * size);
    return out;
  }

  /** Renders image samples: the first three channels as RGB (or channel 0 as grey), [-1, 1]. */
  toPng(x0: Float32Array, n: number): Uint8Array[] {
    const [channels, height, width] = this.config.shape;
    if (this.config.shape.length !== 3) throw new Error("Only image models render PNGs");
    const out: Uint8Array[] = [];
    const plane = height * width, size = channels * plane, rgb = channels >= 3 ? 3 : 1;
    for (let s = 0; s < n; s++) {
      const data = new Uint8Array(plane * rgb);
      for (let p = 0; p < plane; p++) {
        for (let c = 0; c < rgb; c++) {
          const v = x0[s * size + c * plane + p];
          data[p * rgb + c] = Math.max(0, Math.min(255, Math.round((v + 1) * 127.5)));
        }
      }
      out.push(encodePng({ width, height, data, channels: rgb, depth: 8 }));
    }
    return out;
  }

  /** The simulated readback of the last run (0 unless `readbackMs` is set). */
  lastTiming(): RunTiming {
    return { readbackMs: this.#readbackMs };
  }
}

function validateConfig(cfg: CpuModelConfig): void {
  const positiveInt = (v: unknown) => Number.isInteger(v) && (v as number) > 0;
  if (!Array.isArray(cfg.shape) || cfg.shape.length === 0 || !cfg.shape.every(positiveInt)) {
    throw new Error("CPU denoiser: shape must be a list of positive integers");
  }
  if (!positiveInt(cfg.numClasses) || !positiveInt(cfg.modes)) {
    throw new Error("CPU denoiser: numClasses and modes must be positive integers");
  }
  if (!(cfg.std > 0 && cfg.std < 1)) throw new Error("CPU denoiser: std must lie in (0, 1)");
  if (!["class", "vector", "none"].includes(cfg.condition)) {
    throw new Error("CPU denoiser: condition must be 'class', 'vector' or 'none'");
  }
  if (
    cfg.betaSchedule !== undefined && !["linear", "squaredcos_cap_v2"].includes(cfg.betaSchedule)
  ) {
    throw new Error("CPU denoiser: betaSchedule must be 'linear' or 'squaredcos_cap_v2'");
  }
  for (const key of ["stepMs", "readbackMs"] as const) {
    const v = cfg[key];
    if (v !== undefined && !(typeof v === "number" && v >= 0 && v <= 60_000)) {
      throw new Error(`CPU denoiser: ${key} must be a number of ms in [0, 60000]`);
    }
  }
}

/**
 * Loads the CPU denoiser: defaults, overridden by a `--ckpt` JSON file holding a
 * {@linkcode CpuModelConfig}, overridden by `config`.
 */
export const createDenoiser: DenoiserFactory = async (opts: DenoiserOptions) => {
  let fromFile: Partial<CpuModelConfig> = {};
  if (opts.ckpt) fromFile = JSON.parse(await Deno.readTextFile(opts.ckpt));
  const config = { ...DEFAULT_CPU_CONFIG, ...fromFile, ...(opts.config ?? {}) } as CpuModelConfig;
  return new CpuDenoiser(config);
};

export default createDenoiser;
