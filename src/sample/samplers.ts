/** Sampler names and construction (the diffusers defaults, on the model's training schedule). */
import {
  DdimSampler,
  DdpmSampler,
  DpmSolverSampler,
  type Sampler,
  type SamplerPlan,
} from "../diffusion/samplers.ts";
import { type BetaSchedule, makeSchedule } from "../diffusion/schedule.ts";

/**
 * The diffusion settings a network was trained with, which every sampler of it must share: the
 * beta schedule, the number of training timesteps (1000 for the image models, 100 for Diffusion
 * Policy's Push-T) and the clip range of the predicted clean sample.
 */
export interface DiffusionSettings {
  /** Beta schedule (default squaredcos_cap_v2). */
  betaSchedule?: BetaSchedule;
  /** Training timesteps T (default 1000); leading spacing steps by T // steps. */
  numTrainTimesteps?: number;
  /** x0 clip range at every step, 0 = none (default 1, diffusers' clip_sample_range). */
  clipSample?: number;
}

/**
 * The sampler of a network trained by plain regression onto the clean sample (no diffusion):
 * one forward pass on a zero input at {@linkcode REGRESSION_TIMESTEP}, whose output is the sample.
 * Not one of {@linkcode SAMPLERS}: only regression-trained networks answer it meaningfully.
 */
export const REGRESSION_SAMPLER = "regression";

/** The fixed timestep a regression network is trained and run at. */
export const REGRESSION_TIMESTEP = 0;

/**
 * Samplers the engine serves: DDIM (eta 0), DDIM with eta 1, DPM-Solver++ 2M (with
 * lambda_min_clipped -5.1 on the cosine schedule), DDPM.
 */
export const SAMPLERS = ["ddim", "ddim-eta1", "dpm++2m", "ddpm"] as const;
/** One of {@linkcode SAMPLERS}. */
export type SamplerName = typeof SAMPLERS[number];

/** `name` as a {@linkcode SamplerName}, or throws listing the known ones. */
export function samplerName(name: string): SamplerName {
  if (!(SAMPLERS as readonly string[]).includes(name)) {
    throw new Error(`Unknown sampler "${name}"; known: ${SAMPLERS.join(", ")}`);
  }
  return name as SamplerName;
}

/**
 * Builds a sampler by name on the given training schedule (a beta schedule name stands for
 * `{betaSchedule}` with 1000 timesteps), or throws listing the known ones.
 * {@linkcode REGRESSION_SAMPLER} gives the one-step plan of a regression network.
 */
export function makeSampler(
  name: string,
  settings: BetaSchedule | DiffusionSettings = "squaredcos_cap_v2",
): Sampler {
  const s = typeof settings === "string" ? { betaSchedule: settings } : settings;
  const betaSchedule = s.betaSchedule ?? "squaredcos_cap_v2";
  const schedule = makeSchedule({ betaSchedule, numTrainTimesteps: s.numTrainTimesteps ?? 1000 });
  const clip = s.clipSample ?? 1;
  if (!(clip >= 0)) throw new Error(`Sample clip range must be >= 0, got ${clip}`);
  const ddxm = { schedule, clipSample: clip > 0, clipSampleRange: clip };
  if (name === REGRESSION_SAMPLER) return regression(schedule, clip);
  switch (samplerName(name)) {
    case "ddim":
      return new DdimSampler(ddxm);
    case "ddim-eta1":
      return new DdimSampler({ ...ddxm, eta: 1 });
    case "dpm++2m":
      // diffusers' defaults diverge on the cosine schedule (alpha ~ 5e-5 at t = 999 amplifies any
      // model error ~2e4x); its lambda_min_clipped option, set as diffusers advises, avoids that.
      return clipped(
        new DpmSolverSampler({
          schedule,
          lambdaMinClipped: betaSchedule === "squaredcos_cap_v2" ? -5.1 : -Infinity,
        }),
        clip,
      );
    case "ddpm":
      return new DdpmSampler(ddxm);
  }
}

/** The same sampler with x0 clipped to [-clip, clip] at every step (as DDPM/DDIM's clip_sample). */
function clipped(s: Sampler, clip: number): Sampler {
  return {
    name: s.name,
    schedule: s.schedule,
    plan: (n) => {
      const p = s.plan(n);
      return { ...p, rows: p.rows.map((r) => ({ ...r, clip })) };
    },
  };
}

/**
 * One step whose x0 is the network output itself: with a zero input, x0 = 1 * (0 + 1 * out),
 * clipped, and x_next = x0. The caller feeds zeros (see GpuDenoiser).
 */
function regression(schedule: Sampler["schedule"], clip: number): Sampler {
  return {
    name: REGRESSION_SAMPLER,
    schedule,
    plan: (n): SamplerPlan => {
      if (n !== 1) throw new Error(`The regression sampler takes exactly 1 step, got ${n}`);
      const row = { t: REGRESSION_TIMESTEP, prevT: -1, x0x: 1, x0e: 1, clip, a: 0, b: 1 };
      return {
        sampler: REGRESSION_SAMPLER,
        numSteps: 1,
        timesteps: [REGRESSION_TIMESTEP],
        rows: [{ ...row, c: 0, d: 0, s: 0 }],
        noisy: false,
        multistep: false,
      };
    },
  };
}
