/**
 * Noise schedules (betas, alphas, cumulative alpha products) and inference timestep spacings,
 * following huggingface/diffusers and the official DiT (facebookresearch/DiT, which trains with a
 * float64 "linear" schedule from 1e-4 to 0.02 over 1000 steps).
 *
 * Two precisions:
 * - `"float64"` (default): every value is computed and kept in float64, as the official DiT does
 *   with numpy.
 * - `"float32"`: reproduces diffusers' float32 torch tensors bit for bit on the CPU: betas rounded
 *   to float32, `alphas = 1 - betas` in float32, `alphas_cumprod = torch.cumprod(alphas)` (which on
 *   the CPU accumulates in double and rounds each prefix product to float32). This is what the
 *   golden files hold; float64 products differ from it by up to ~1e-4 relative near t = 999.
 */

/** Beta schedule names (diffusers spelling). */
export type BetaSchedule = "linear" | "squaredcos_cap_v2";

/** Arithmetic used to build the schedule (see the module comment). */
export type SchedulePrecision = "float64" | "float32";

/** How inference timesteps are spread over the training range (diffusers `timestep_spacing`). */
export type TimestepSpacing = "leading" | "linspace" | "trailing";

/** Schedule configuration; defaults follow diffusers (1000 steps, linear 1e-4..0.02). */
export interface ScheduleConfig {
  /** Number of training timesteps T (default 1000). */
  numTrainTimesteps?: number;
  /** Beta schedule (default "linear"). */
  betaSchedule?: BetaSchedule;
  /** First beta of the "linear" schedule. */
  betaStart?: number;
  /** Last beta of the "linear" schedule. */
  betaEnd?: number;
  /** Cap of "squaredcos_cap_v2" betas (diffusers `betas_for_alpha_bar` max_beta). */
  maxBeta?: number;
  /** Arithmetic used to build the schedule (default "float64"). */
  precision?: SchedulePrecision;
}

/** A built noise schedule. All arrays have `numTrainTimesteps` entries, indexed by timestep. */
export interface NoiseSchedule {
  /** The resolved configuration. */
  readonly config: Readonly<Required<ScheduleConfig>>;
  /** Number of training timesteps. */
  readonly numTrainTimesteps: number;
  /** beta_t. Shape: [T]. */
  readonly betas: Float64Array;
  /** alpha_t = 1 - beta_t. Shape: [T]. */
  readonly alphas: Float64Array;
  /** Cumulative product of alpha. Shape: [T]. */
  readonly alphasCumprod: Float64Array;
}

const fround = Math.fround;

/**
 * Betas of the Glide cosine schedule, diffusers `betas_for_alpha_bar(n, max_beta)`:
 * `beta_i = min(1 - abar((i+1)/n) / abar(i/n), maxBeta)`, `abar(t) = cos((t+0.008)/1.008 * pi/2)^2`,
 * computed in float64. Shape: [n].
 */
export function betasForAlphaBar(n: number, maxBeta = 0.999): Float64Array {
  const abar = (t: number) => Math.cos((t + 0.008) / 1.008 * Math.PI / 2) ** 2;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.min(1 - abar((i + 1) / n) / abar(i / n), maxBeta);
  return out;
}

/** `numpy.linspace(start, end, n)` in float64 (`start + i * step`, last value exactly `end`). */
export function linspace(start: number, end: number, n: number): Float64Array {
  const out = new Float64Array(n);
  const step = (end - start) / (n - 1);
  for (let i = 0; i < n; i++) out[i] = i * step + start;
  if (n > 1) out[n - 1] = end;
  return out;
}

/**
 * `torch.linspace(start, end, n, dtype=float32)` as ATen's scalar CPU kernel computes it: float32
 * step, first half `start + step*i`, second half `end - step*(n-1-i)`.
 */
function linspaceF32(start: number, end: number, n: number): Float64Array {
  const s = fround(start);
  const e = fround(end);
  const step = fround(fround(e - s) / (n - 1));
  const half = Math.floor(n / 2);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = i < half ? fround(s + fround(step * i)) : fround(e - fround(step * (n - 1 - i)));
  }
  return out;
}

/** Builds a noise schedule. */
export function makeSchedule(config: ScheduleConfig = {}): NoiseSchedule {
  const c: Required<ScheduleConfig> = {
    numTrainTimesteps: config.numTrainTimesteps ?? 1000,
    betaSchedule: config.betaSchedule ?? "linear",
    betaStart: config.betaStart ?? 1e-4,
    betaEnd: config.betaEnd ?? 0.02,
    maxBeta: config.maxBeta ?? 0.999,
    precision: config.precision ?? "float64",
  };
  const T = c.numTrainTimesteps;
  if (!Number.isInteger(T) || T < 1) {
    throw new Error(`numTrainTimesteps ${T} must be a positive integer`);
  }
  const f32 = c.precision === "float32";
  let betas: Float64Array;
  if (c.betaSchedule === "linear") {
    betas = f32 ? linspaceF32(c.betaStart, c.betaEnd, T) : linspace(c.betaStart, c.betaEnd, T);
  } else if (c.betaSchedule === "squaredcos_cap_v2") {
    betas = betasForAlphaBar(T, c.maxBeta);
    if (f32) betas = betas.map(fround);
  } else {
    throw new Error(`Unknown beta schedule ${c.betaSchedule}`);
  }
  const alphas = betas.map((b) => f32 ? fround(1 - b) : 1 - b);
  const alphasCumprod = new Float64Array(T);
  let acc = 1;
  for (let i = 0; i < T; i++) {
    acc *= alphas[i];
    alphasCumprod[i] = f32 ? fround(acc) : acc;
  }
  return { config: c, numTrainTimesteps: T, betas, alphas, alphasCumprod };
}

/** `numpy.round`: round half to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Inference timesteps (descending) as diffusers DDPM/DDIM `set_timesteps(n)` makes them:
 * - "leading": `arange(n) * (T // n)` reversed, plus `stepsOffset`;
 * - "linspace": `linspace(0, T-1, n).round()` reversed;
 * - "trailing": `round(T - i*T/n) - 1` for i = 0..n-1.
 */
export function spacedTimesteps(
  numTrainTimesteps: number,
  numSteps: number,
  spacing: TimestepSpacing,
  stepsOffset = 0,
): number[] {
  const T = numTrainTimesteps;
  checkSteps(T, numSteps);
  const n = numSteps;
  switch (spacing) {
    case "leading": {
      const ratio = Math.floor(T / n);
      return Array.from({ length: n }, (_, i) => (n - 1 - i) * ratio + stepsOffset);
    }
    case "linspace":
      return [...linspace(0, T - 1, n)].map(roundHalfEven).reverse();
    case "trailing":
      return Array.from({ length: n }, (_, i) => roundHalfEven(T - i * (T / n)) - 1);
    default:
      throw new Error(`Unknown timestep spacing ${spacing}`);
  }
}

/** Throws unless `1 <= numSteps <= numTrainTimesteps` (integer). */
export function checkSteps(numTrainTimesteps: number, numSteps: number): void {
  if (!Number.isInteger(numSteps) || numSteps < 1 || numSteps > numTrainTimesteps) {
    throw new Error(
      `Number of inference steps ${numSteps} must be an integer in 1..${numTrainTimesteps}`,
    );
  }
}
