/** Sampler names and construction (the diffusers defaults, on the model's training schedule). */
import { DdimSampler, DdpmSampler, DpmSolverSampler, type Sampler } from "../diffusion/samplers.ts";
import type { BetaSchedule } from "../diffusion/schedule.ts";

/** Samplers the engine serves: DDIM (eta 0), DDIM with eta 1, DPM-Solver++ 2M, DDPM. */
export const SAMPLERS = ["ddim", "ddim-eta1", "dpm++2m", "ddpm"] as const;
/** One of {@linkcode SAMPLERS}. */
export type SamplerName = typeof SAMPLERS[number];

/** Builds a sampler by name, or throws listing the known ones. */
export function makeSampler(
  name: string,
  betaSchedule: BetaSchedule = "squaredcos_cap_v2",
): Sampler {
  switch (name) {
    case "ddim":
      return new DdimSampler({ betaSchedule });
    case "ddim-eta1":
      return new DdimSampler({ betaSchedule, eta: 1 });
    case "dpm++2m":
      return new DpmSolverSampler({ betaSchedule });
    case "ddpm":
      return new DdpmSampler({ betaSchedule });
    default:
      throw new Error(`Unknown sampler "${name}"; known: ${SAMPLERS.join(", ")}`);
  }
}
