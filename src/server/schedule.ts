/**
 * Noise schedule and sampler updates used by the CPU denoiser (DDPM's linear schedule, T = 1000).
 *
 * Every update works on one sample with its own x0 estimate, so samples never mix. The sampler
 * names are the protocol's: "ddim" (eta = 0), "ddpm" (ancestral) and "dpm++2m" (DPM-Solver++ 2M
 * with a first-order final step).
 *
 * @module
 */

import type { SeededRandom } from "./seeds.ts";

/** Number of training timesteps of the schedule. */
export const TRAIN_STEPS = 1000;

/** Sampler names the CPU denoiser implements. */
export const CPU_SAMPLERS = ["ddim", "dpm++2m", "ddpm"] as const;

/** One of {@linkcode CPU_SAMPLERS}. */
export type SamplerName = typeof CPU_SAMPLERS[number];

/** The alpha-bar values of a sampling run: `alphaBar[j]` at step j, `alphaBarNext[j]` after it. */
export interface SamplingPlan {
  /** Training timestep of each step. */
  timesteps: number[];
  /** Alpha-bar at each step. */
  alphaBar: number[];
  /** Alpha-bar after each step (1 after the last). */
  alphaBarNext: number[];
}

let cumulative: Float64Array | null = null;

/** Alpha-bar of the linear beta schedule (1e-4 .. 0.02) at each training timestep. */
export function alphaBars(): Float64Array {
  if (cumulative) return cumulative;
  const out = new Float64Array(TRAIN_STEPS);
  let prod = 1;
  for (let t = 0; t < TRAIN_STEPS; t++) {
    const beta = 1e-4 + (0.02 - 1e-4) * t / (TRAIN_STEPS - 1);
    prod *= 1 - beta;
    out[t] = prod;
  }
  cumulative = out;
  return out;
}

/**
 * Evenly spaced timesteps, trailing: step j of S runs at `floor((S - j) * T / S) - 1`, so the first
 * step always starts from pure noise (t = 999) and the last step lands on clean data.
 */
export function samplingPlan(steps: number): SamplingPlan {
  const ab = alphaBars();
  const timesteps: number[] = [];
  for (let j = 0; j < steps; j++) {
    timesteps.push(Math.floor((steps - j) * TRAIN_STEPS / steps) - 1);
  }
  const alphaBar = timesteps.map((t) => ab[t]);
  const alphaBarNext = timesteps.map((_, j) => (j + 1 < steps ? alphaBar[j + 1] : 1));
  return { timesteps, alphaBar, alphaBarNext };
}

/** Per-sample state a sampler keeps between steps. */
export interface SamplerState {
  /** The x0 estimate of the previous step (DPM-Solver++ 2M). */
  prevX0: Float64Array | null;
  /** Log-SNR step size of the previous step (DPM-Solver++ 2M). */
  prevH: number;
}

/** A fresh sampler state for one sample. */
export function newSamplerState(): SamplerState {
  return { prevX0: null, prevH: 0 };
}

function halfLogSnr(a: number): number {
  return 0.5 * Math.log(a / (1 - a));
}

/**
 * Advances `x` (in place) by one step from alpha-bar `a` to `aNext`, given the model's x0 estimate
 * `x0` at `x`. With `aNext = 1` the result is `x0` itself.
 */
export function samplerStep(
  sampler: SamplerName,
  x: Float64Array,
  x0: Float64Array,
  a: number,
  aNext: number,
  state: SamplerState,
  rng: SeededRandom,
): void {
  const size = x.length;
  if (aNext >= 1) {
    x.set(x0);
    return;
  }
  const sa = Math.sqrt(a), sn = Math.sqrt(1 - a);
  const saN = Math.sqrt(aNext), snN = Math.sqrt(1 - aNext);
  if (sampler === "ddim") {
    for (let i = 0; i < size; i++) {
      const eps = (x[i] - sa * x0[i]) / sn;
      x[i] = saN * x0[i] + snN * eps;
    }
  } else if (sampler === "ddpm") {
    const alpha = a / aNext, beta = 1 - alpha;
    const c0 = saN * beta / (1 - a);
    const ct = Math.sqrt(alpha) * (1 - aNext) / (1 - a);
    const sigma = Math.sqrt(beta * (1 - aNext) / (1 - a));
    for (let i = 0; i < size; i++) x[i] = c0 * x0[i] + ct * x[i] + sigma * rng.normal();
  } else {
    const h = halfLogSnr(aNext) - halfLogSnr(a);
    const ratio = snN / sn, coef = -saN * Math.expm1(-h);
    if (state.prevX0 === null) {
      for (let i = 0; i < size; i++) x[i] = ratio * x[i] + coef * x0[i];
      state.prevX0 = new Float64Array(x0);
    } else {
      const r = state.prevH / h;
      const w = 1 / (2 * r);
      const prev = state.prevX0;
      for (let i = 0; i < size; i++) {
        const d = (1 + w) * x0[i] - w * prev[i];
        x[i] = ratio * x[i] + coef * d;
      }
      prev.set(x0);
    }
    state.prevH = h;
  }
}
