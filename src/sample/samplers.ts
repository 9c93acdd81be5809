/** Sampler names and construction (the diffusers defaults, on the model's training schedule). */
import { DdimSampler, DdpmSampler, DpmSolverSampler, type Sampler } from "../diffusion/samplers.ts";
import type { BetaSchedule } from "../diffusion/schedule.ts";

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

/** Builds a sampler by name, or throws listing the known ones. */
export function makeSampler(
  name: string,
  betaSchedule: BetaSchedule = "squaredcos_cap_v2",
): Sampler {
  switch (samplerName(name)) {
    case "ddim":
      return new DdimSampler({ betaSchedule });
    case "ddim-eta1":
      return new DdimSampler({ betaSchedule, eta: 1 });
    case "dpm++2m":
      // diffusers' defaults diverge on the cosine schedule (alpha ~ 5e-5 at t = 999 amplifies any
      // model error ~2e4x); its lambda_min_clipped option, set as diffusers advises, avoids that.
      return clipped(
        new DpmSolverSampler({
          betaSchedule,
          lambdaMinClipped: betaSchedule === "squaredcos_cap_v2" ? -5.1 : -Infinity,
        }),
      );
    case "ddpm":
      return new DdpmSampler({ betaSchedule });
  }
}

/** The same sampler with x0 clipped to [-1, 1] at every step (as DDPM/DDIM's clip_sample). */
function clipped(s: Sampler): Sampler {
  return {
    name: s.name,
    schedule: s.schedule,
    plan: (n) => {
      const p = s.plan(n);
      return { ...p, rows: p.rows.map((r) => ({ ...r, clip: 1 })) };
    },
  };
}
