/**
 * Parity of the CPU reference samplers against the golden diffusers files
 * (`ddpm_squaredcos.safetensors`, `ddim_squaredcos.safetensors`, see tests/golden/README.md).
 *
 * Each row reports `error = max |ours - ref| / max |ref|` for one golden tensor (exact integer
 * difference for timesteps) and the `limit` it must stay under. Trajectory rows come in two kinds:
 * - `<prefix>pred_original_sample_k` / `<prefix>prev_sample_k`: our own free-running chain from
 *   x_T, feeding our samples to the model stand-in `eps = 0.8 x + 0.02 k` (float32 as upstream)
 *   and, for DDPM, the stored per-step noise;
 * - `<prefix>teacher_forced ...`: each step fed the golden sample and golden model output (max over
 *   the steps), isolating one step's error from accumulation.
 *
 * The schedule is built with `precision: "float32"`, which reproduces diffusers' float32 betas and
 * alphas_cumprod exactly (`{precision: "float64"}` checks the float64 schedule instead, whose
 * alphas_cumprod is within 1.3e-5 relative of diffusers' and whose trajectories stay within 6e-6).
 */
import { type ParityRow, relError } from "../util/compare.ts";
import { loadSafetensors, type SafeTensors } from "../io/safetensors.ts";
import type { SchedulePrecision } from "./schedule.ts";
import {
  addNoise,
  DdimSampler,
  DdpmSampler,
  type Sampler,
  type SamplerPlan,
  stepCpu,
} from "./samplers.ts";

export { type ParityRow, relError };

/** Relative tolerance of float tensors (golden README: 1e-5 of each tensor's max). */
export const PARITY_LIMIT = 1e-5;

/** Largest absolute difference of integer sequences (Infinity when lengths differ). */
function intError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let e = 0;
  for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs(a[i] - b[i]));
  return e;
}

/** The golden model stand-in `0.8 * x + 0.02 * k`, in float32 as torch computes it. */
export function standInModel(x: Float32Array, k: number): Float32Array {
  const w = Math.fround(0.8);
  const c = Math.fround(0.02 * k);
  return x.map((v) => Math.fround(v * w) + c);
}

/** Rows for betas, alphas, alphas_cumprod and every timesteps_N. */
function scheduleRows(
  st: SafeTensors,
  make: (p: SchedulePrecision) => Sampler & { timesteps(n: number): number[] },
  precision: SchedulePrecision,
): ParityRow[] {
  const rows: ParityRow[] = [];
  const sampler = make(precision);
  // The float32 schedule is exact; the float64 one is within 1.3e-5 relative per entry.
  const limit = precision === "float32" ? 0 : PARITY_LIMIT;
  rows.push({ name: "betas", error: relError(sampler.schedule.betas, st.float32("betas")), limit });
  if (st.has("alphas")) {
    rows.push({
      name: "alphas",
      error: relError(sampler.schedule.alphas, st.float32("alphas")),
      limit,
    });
  }
  const ac = st.float32("alphas_cumprod");
  rows.push({ name: "alphas_cumprod", error: relError(sampler.schedule.alphasCumprod, ac), limit });
  for (const n of [1000, 250, 50, 10]) {
    const name = `timesteps_${n}`;
    if (st.has(name)) {
      rows.push({ name, error: intError(sampler.timesteps(n), st.numbers(name)), limit: 0 });
    }
  }
  return rows;
}

/** Rows for one trajectory (free-running and teacher-forced). */
function trajectoryRows(
  st: SafeTensors,
  plan: SamplerPlan,
  prefix: string,
  noiseOf: (k: number) => Float32Array | undefined,
): ParityRow[] {
  const rows: ParityRow[] = [];
  const n = plan.numSteps;
  rows.push({
    name: `${prefix}timesteps`,
    error: intError(plan.timesteps, st.numbers(`${prefix}timesteps`)),
    limit: 0,
  });
  rows.push({
    name: `${prefix}prev_timesteps`,
    error: intError(plan.rows.map((r) => r.prevT), st.numbers(`${prefix}prev_timesteps`)),
    limit: 0,
  });
  // Free-running chain.
  let x = st.float32(`${prefix}x_T`);
  let x0Prev: Float32Array | undefined;
  for (let k = 0; k < n; k++) {
    const eps = standInModel(x, k);
    const out = stepCpu(plan.rows[k], { x, eps, x0Prev, noise: noiseOf(k) });
    rows.push({
      name: `${prefix}model_output_${k}`,
      error: relError(eps, st.float32(`${prefix}model_output_${k}`)),
      limit: PARITY_LIMIT,
    });
    rows.push({
      name: `${prefix}pred_original_sample_${k}`,
      error: relError(out.predOriginalSample, st.float32(`${prefix}pred_original_sample_${k}`)),
      limit: PARITY_LIMIT,
    });
    rows.push({
      name: `${prefix}prev_sample_${k}`,
      error: relError(out.prevSample, st.float32(`${prefix}prev_sample_${k}`)),
      limit: PARITY_LIMIT,
    });
    x = out.prevSample;
    x0Prev = out.predOriginalSample;
  }
  // Teacher-forced: every step from the golden inputs.
  let tfX0 = 0;
  let tfPrev = 0;
  for (let k = 0; k < n; k++) {
    const xk = k === 0 ? st.float32(`${prefix}x_T`) : st.float32(`${prefix}prev_sample_${k - 1}`);
    const out = stepCpu(plan.rows[k], {
      x: xk,
      eps: st.float32(`${prefix}model_output_${k}`),
      x0Prev: k > 0 ? st.float32(`${prefix}pred_original_sample_${k - 1}`) : undefined,
      noise: noiseOf(k),
    });
    tfX0 = Math.max(
      tfX0,
      relError(out.predOriginalSample, st.float32(`${prefix}pred_original_sample_${k}`)),
    );
    tfPrev = Math.max(tfPrev, relError(out.prevSample, st.float32(`${prefix}prev_sample_${k}`)));
  }
  rows.push({
    name: `${prefix}teacher_forced pred_original_sample (max of ${n} steps)`,
    error: tfX0,
    limit: PARITY_LIMIT,
  });
  rows.push({
    name: `${prefix}teacher_forced prev_sample (max of ${n} steps)`,
    error: tfPrev,
    limit: PARITY_LIMIT,
  });
  return rows;
}

/** Options of the parity checks. */
export interface ParityOptions {
  /** Schedule arithmetic (default "float32", which reproduces diffusers' tensors exactly). */
  precision?: SchedulePrecision;
}

/** Loads a golden scheduler file and makes its sampler; returns the schedule rows to extend. */
async function openGolden<S extends Sampler & { timesteps(n: number): number[] }>(
  path: string | URL,
  options: ParityOptions,
  ctor: (precision: SchedulePrecision) => S,
): Promise<{ st: SafeTensors; rows: ParityRow[]; sampler: S }> {
  const st = await loadSafetensors(path);
  const precision = options.precision ?? "float32";
  return { st, rows: scheduleRows(st, ctor, precision), sampler: ctor(precision) };
}

/** Parity rows of the DDPM sampler against `ddpm_squaredcos.safetensors`. */
export async function parityDdpm(
  path: string | URL,
  options: ParityOptions = {},
): Promise<ParityRow[]> {
  const { st, rows, sampler } = await openGolden(
    path,
    options,
    (precision) => new DdpmSampler({ betaSchedule: "squaredcos_cap_v2", precision }),
  );
  const out = addNoise(
    sampler.schedule,
    st.float32("add_noise_x0"),
    st.float32("add_noise_noise"),
    st.numbers("add_noise_t"),
  );
  rows.push({
    name: "add_noise_out",
    error: relError(out, st.float32("add_noise_out")),
    limit: PARITY_LIMIT,
  });
  const plan = sampler.plan(st.numbers("traj_timesteps").length);
  rows.push({
    name: "traj_variance",
    error: relError(
      plan.rows.map((r) => sampler.variance(r.t, r.prevT)),
      st.float32("traj_variance"),
    ),
    limit: PARITY_LIMIT,
  });
  rows.push({
    name: "traj_noise_drawn",
    error: intError(plan.rows.map((r) => r.s !== 0 ? 1 : 0), st.numbers("traj_noise_drawn")),
    limit: 0,
  });
  rows.push(
    ...trajectoryRows(
      st,
      plan,
      "traj_",
      (k) => st.has(`traj_noise_${k}`) ? st.float32(`traj_noise_${k}`) : undefined,
    ),
  );
  return rows;
}

/** Parity rows of the DDIM sampler (eta 0) against `ddim_squaredcos.safetensors`. */
export async function parityDdim(
  path: string | URL,
  options: ParityOptions = {},
): Promise<ParityRow[]> {
  const { st, rows, sampler } = await openGolden(
    path,
    options,
    (precision) => new DdimSampler({ betaSchedule: "squaredcos_cap_v2", precision }),
  );
  rows.push({
    name: "final_alpha_cumprod",
    error: relError([sampler.finalAlphaCumprod], st.float32("final_alpha_cumprod")),
    limit: 0,
  });
  for (const n of [10, 50]) {
    rows.push(...trajectoryRows(st, sampler.plan(n), `traj${n}_`, () => undefined));
  }
  return rows;
}
