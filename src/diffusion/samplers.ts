/**
 * Reverse-diffusion samplers (DDPM, DDIM, DPM-Solver++ 2M) matching huggingface/diffusers with its
 * defaults, written as per-step linear updates so a GPU can run a whole trajectory without reading
 * anything back:
 *
 *   x0     = clip(x0x * x + x0e * eps, -clip, clip)            (no clipping when clip = 0)
 *   x_next = a * x + b * x0 + c * x0_prev + d * eps + s * noise
 *
 * where `eps` is the model output (epsilon prediction) at the step's timestep, `x0_prev` is the
 * previous step's x0 (DPM-Solver++ multistep term) and `noise` a fresh standard normal draw (DDPM,
 * DDIM with eta > 0). `plan(numSteps)` computes one coefficient row per step (float64) plus the
 * timestep to feed the model; {@linkcode stepCpu} applies a row on the CPU and the GPU kernel
 * `kernels/sampler_step.wgsl` applies the same rows (packed by {@linkcode packPlan}).
 *
 * The `d * eps` term goes beyond the a/b/c/s form: DDIM with clipping mixes the clipped x0 with
 * the *unclipped* model output, which is not a linear function of x and the clipped x0.
 */
import {
  checkSteps,
  makeSchedule,
  type NoiseSchedule,
  roundHalfEven,
  type ScheduleConfig,
  spacedTimesteps,
  type TimestepSpacing,
} from "./schedule.ts";

/** One step's coefficients (see the module comment). */
export interface StepRow {
  /** Timestep to feed the model at this step. */
  t: number;
  /** Timestep the step moves to (-1 = the clean sample). */
  prevT: number;
  /** x0 = x0x * x + x0e * eps before clipping. */
  x0x: number;
  /** Coefficient of eps in x0 = x0x * x + x0e * eps. */
  x0e: number;
  /** Clip range of x0 (0 = no clipping). */
  clip: number;
  /** Coefficient of x in x_next. */
  a: number;
  /** Coefficient of the (clipped) x0 in x_next. */
  b: number;
  /** Coefficient of the previous step's x0 in x_next (DPM-Solver++ multistep; 0 otherwise). */
  c: number;
  /** Coefficient of the model output eps in x_next. */
  d: number;
  /** Coefficient of the fresh standard normal noise in x_next (0 = deterministic step). */
  s: number;
}

/** A planned trajectory. */
export interface SamplerPlan {
  /** Sampler name. */
  sampler: string;
  /** Number of steps. */
  numSteps: number;
  /** Model timesteps, one per step (descending). */
  timesteps: number[];
  /** Per-step coefficient rows. */
  rows: StepRow[];
  /** True when some step adds noise (`s != 0`). */
  noisy: boolean;
  /** True when some step reads the previous x0 (`c != 0`). */
  multistep: boolean;
}

/** A sampler: a noise schedule plus an update rule. */
export interface Sampler {
  /** Sampler name. */
  readonly name: string;
  /** The noise schedule it samples. */
  readonly schedule: NoiseSchedule;
  /** Coefficient rows for a `numSteps`-step trajectory. */
  plan(numSteps: number): SamplerPlan;
}

/** Number of floats per packed row: x0x, x0e / x0x, clip, a, b, c, d, s. */
export const ROW_FLOATS = 8;

/**
 * Packs a plan's rows as float32 `[numSteps, 8]` = (x0x, x0e / x0x, clip, a, b, c, d, s) for the
 * GPU, which computes x0 = x0x * (x + (x0e / x0x) * eps): the same value as x0x * x + x0e * eps,
 * but rounded like diffusers' `(x - sqrt(1 - ab) * eps) / sqrt(ab)`. At high noise levels
 * (1 / sqrt(ab) = 32 at t = 980) the two float32 forms differ by several 1e-6.
 */
export function packPlan(plan: SamplerPlan): Float32Array {
  const out = new Float32Array(plan.rows.length * ROW_FLOATS);
  plan.rows.forEach((r, k) => {
    out.set([r.x0x, r.x0e / r.x0x, r.clip, r.a, r.b, r.c, r.d, r.s], k * ROW_FLOATS);
  });
  return out;
}

/** Inputs of one CPU step. All arrays are flat `[N * L]` float32 (any layout, elementwise). */
export interface StepInputs {
  /** Current sample x_t. */
  x: Float32Array;
  /** Model output (predicted noise) at `row.t`. */
  eps: Float32Array;
  /** Previous step's x0 (required when `row.c != 0`). */
  x0Prev?: Float32Array;
  /** Standard normal noise (required when `row.s != 0`). */
  noise?: Float32Array;
}

/** Result of one CPU step. */
export interface StepOutputs {
  /** x_{t_prev}, the sample fed to the next step. */
  prevSample: Float32Array;
  /** The (clipped) predicted clean sample x0. */
  predOriginalSample: Float32Array;
}

/** Applies one coefficient row on the CPU (float64 arithmetic, float32 results). */
export function stepCpu(row: StepRow, inputs: StepInputs): StepOutputs {
  const { x, eps, x0Prev, noise } = inputs;
  const n = x.length;
  if (eps.length !== n) throw new Error(`Model output has ${eps.length} values, sample ${n}`);
  if (row.c !== 0 && x0Prev?.length !== n) throw new Error("Step needs the previous x0");
  if (row.s !== 0 && noise?.length !== n) throw new Error("Step needs noise of the sample's size");
  const prevSample = new Float32Array(n);
  const predOriginalSample = new Float32Array(n);
  const { x0x, x0e, clip, a, b, c, d, s } = row;
  for (let i = 0; i < n; i++) {
    let x0 = x0x * x[i] + x0e * eps[i];
    if (clip > 0) x0 = Math.min(Math.max(x0, -clip), clip);
    let v = a * x[i] + b * x0 + d * eps[i];
    if (c !== 0) v += c * x0Prev![i];
    if (s !== 0) v += s * noise![i];
    prevSample[i] = v;
    predOriginalSample[i] = x0;
  }
  return { prevSample, predOriginalSample };
}

/** Options shared by DDPM and DDIM (diffusers names in camelCase, diffusers defaults). */
export interface DdxmOptions extends ScheduleConfig {
  /** Clip x0 to [-clipSampleRange, clipSampleRange] (default true). */
  clipSample?: boolean;
  clipSampleRange?: number;
  /** Default "leading". */
  timestepSpacing?: TimestepSpacing;
  stepsOffset?: number;
  /** Use an existing schedule instead of building one from the options. */
  schedule?: NoiseSchedule;
}

function baseRow(ab: number, clip: number): Pick<StepRow, "x0x" | "x0e" | "clip"> {
  return { x0x: 1 / Math.sqrt(ab), x0e: -Math.sqrt(1 - ab) / Math.sqrt(ab), clip };
}

/**
 * DDPM (diffusers `DDPMScheduler`): variance "fixed_small", epsilon prediction, no thresholding.
 * The previous timestep is the next entry of the inference timesteps (-1 after the last), which
 * for "leading" spacing equals `t - T // n`. Noise is added at every step with `t > 0`.
 */
export class DdpmSampler implements Sampler {
  /** Sampler name. */
  readonly name = "ddpm";
  /** The noise schedule. */
  readonly schedule: NoiseSchedule;
  /** x0 clip range (0 = off). */
  readonly clip: number;
  /** Inference timestep spacing. */
  readonly timestepSpacing: TimestepSpacing;
  /** Added to every inference timestep. */
  readonly stepsOffset: number;

  /** Builds the sampler from diffusers-style options. */
  constructor(options: DdxmOptions = {}) {
    this.schedule = options.schedule ?? makeSchedule(options);
    this.clip = (options.clipSample ?? true) ? (options.clipSampleRange ?? 1) : 0;
    this.timestepSpacing = options.timestepSpacing ?? "leading";
    this.stepsOffset = options.stepsOffset ?? 0;
  }

  /** Inference timesteps (diffusers `set_timesteps(numSteps)`). */
  timesteps(numSteps: number): number[] {
    return spacedTimesteps(
      this.schedule.numTrainTimesteps,
      numSteps,
      this.timestepSpacing,
      this.stepsOffset,
    );
  }

  /** The fixed_small variance `(1 - ab_prev) / (1 - ab_t) * (1 - ab_t / ab_prev)`, clamped at 1e-20. */
  variance(t: number, prevT: number): number {
    const ac = this.schedule.alphasCumprod;
    const abT = ac[t];
    const abP = prevT >= 0 ? ac[prevT] : 1;
    return Math.max((1 - abP) / (1 - abT) * (1 - abT / abP), 1e-20);
  }

  plan(numSteps: number): SamplerPlan {
    const ts = this.timesteps(numSteps);
    const ac = this.schedule.alphasCumprod;
    const rows = ts.map((t, k): StepRow => {
      const prevT = k + 1 < ts.length ? ts[k + 1] : -1;
      const abT = ac[t];
      const abP = prevT >= 0 ? ac[prevT] : 1;
      const betaT = 1 - abT;
      const betaP = 1 - abP;
      const curAlpha = abT / abP;
      const curBeta = 1 - curAlpha;
      return {
        t,
        prevT,
        ...baseRow(abT, this.clip),
        a: Math.sqrt(curAlpha) * betaP / betaT,
        b: Math.sqrt(abP) * curBeta / betaT,
        c: 0,
        d: 0,
        s: t > 0 ? Math.sqrt(this.variance(t, prevT)) : 0,
      };
    });
    return finish(this.name, ts, rows);
  }
}

/** DDIM options: shared options plus eta and the final alpha. */
export interface DdimOptions extends DdxmOptions {
  /** Stochasticity (0 = deterministic DDIM); default 0. */
  eta?: number;
  /** Use alpha_cumprod = 1 after the last step (default true), else alphas_cumprod[0]. */
  setAlphaToOne?: boolean;
  /** Recompute eps from the clipped x0 (diffusers `use_clipped_model_output`); default false. */
  useClippedModelOutput?: boolean;
}

/**
 * DDIM (diffusers `DDIMScheduler`): `prev_t = t - T // n` (negative uses the final alpha),
 * `std = eta * sqrt(variance)`, x_next = sqrt(ab_prev) x0 + sqrt(1 - ab_prev - std^2) eps + std noise.
 */
export class DdimSampler implements Sampler {
  /** Sampler name. */
  readonly name = "ddim";
  /** The noise schedule. */
  readonly schedule: NoiseSchedule;
  /** x0 clip range (0 = off). */
  readonly clip: number;
  /** Stochasticity (0 = deterministic DDIM). */
  readonly eta: number;
  /** alpha_cumprod used after the last step. */
  readonly finalAlphaCumprod: number;
  /** Recompute eps from the clipped x0. */
  readonly useClippedModelOutput: boolean;
  /** Inference timestep spacing. */
  readonly timestepSpacing: TimestepSpacing;
  /** Added to every inference timestep. */
  readonly stepsOffset: number;

  /** Builds the sampler from diffusers-style options. */
  constructor(options: DdimOptions = {}) {
    this.schedule = options.schedule ?? makeSchedule(options);
    this.clip = (options.clipSample ?? true) ? (options.clipSampleRange ?? 1) : 0;
    this.eta = options.eta ?? 0;
    if (!(this.eta >= 0)) throw new Error(`DDIM eta ${this.eta} must be >= 0`);
    this.finalAlphaCumprod = (options.setAlphaToOne ?? true) ? 1 : this.schedule.alphasCumprod[0];
    this.useClippedModelOutput = options.useClippedModelOutput ?? false;
    this.timestepSpacing = options.timestepSpacing ?? "leading";
    this.stepsOffset = options.stepsOffset ?? 0;
  }

  /** Inference timesteps (diffusers `set_timesteps(numSteps)`). */
  timesteps(numSteps: number): number[] {
    return spacedTimesteps(
      this.schedule.numTrainTimesteps,
      numSteps,
      this.timestepSpacing,
      this.stepsOffset,
    );
  }

  plan(numSteps: number): SamplerPlan {
    const ts = this.timesteps(numSteps);
    const T = this.schedule.numTrainTimesteps;
    const ac = this.schedule.alphasCumprod;
    const rows = ts.map((t): StepRow => {
      const prevT = t - Math.floor(T / numSteps);
      const abT = ac[t];
      const abP = prevT >= 0 ? ac[prevT] : this.finalAlphaCumprod;
      const betaT = 1 - abT;
      const betaP = 1 - abP;
      const variance = betaP / betaT * (1 - abT / abP);
      const std = this.eta * Math.sqrt(variance);
      const dir = Math.sqrt(Math.max(0, 1 - abP - std * std));
      const base = baseRow(abT, this.clip);
      if (this.useClippedModelOutput) {
        // eps' = (x - sqrt(abT) x0) / sqrt(betaT)
        const k = dir / Math.sqrt(betaT);
        return {
          t,
          prevT,
          ...base,
          a: k,
          b: Math.sqrt(abP) - k * Math.sqrt(abT),
          c: 0,
          d: 0,
          s: std,
        };
      }
      return { t, prevT, ...base, a: 0, b: Math.sqrt(abP), c: 0, d: dir, s: std };
    });
    return finish(this.name, ts, rows);
  }
}

/** DPM-Solver++ options (diffusers `DPMSolverMultistepScheduler` names and defaults). */
export interface DpmSolverOptions extends ScheduleConfig {
  /** 1 or 2 (default 2; order 3 is not supported). */
  solverOrder?: 1 | 2;
  /** Use first order for the final step when there are fewer than 15 steps (default true). */
  lowerOrderFinal?: boolean;
  /** Use first order for the final step always (default false). */
  eulerAtFinal?: boolean;
  /** Final sigma: "zero" (default) or the smallest training sigma. */
  finalSigmasType?: "zero" | "sigma_min";
  /** Default "linspace" (diffusers' default for this scheduler). */
  timestepSpacing?: TimestepSpacing;
  stepsOffset?: number;
  /** Use an existing schedule instead of building one from the options. */
  schedule?: NoiseSchedule;
  /**
   * diffusers' `lambda_min_clipped` (default -Infinity): timesteps whose lambda = log(alpha /
   * sigma) is below it are skipped ("linspace" spacing). diffusers calls it critical for the
   * cosine (squaredcos_cap_v2) schedule, whose last timesteps have alpha ~ 5e-5.
   */
  lambdaMinClipped?: number;
}

/**
 * DPM-Solver++ multistep (diffusers `DPMSolverMultistepScheduler` defaults: algorithm_type
 * "dpmsolver++", solver_order 2, solver_type "midpoint", lower_order_final, final_sigmas_type
 * "zero", no thresholding, timestep_spacing "linspace", epsilon prediction). With
 * sigma_i = sqrt((1 - ab_i) / ab_i), alpha(s) = 1 / sqrt(s^2 + 1), sigma(s) = s * alpha(s),
 * lambda = log(alpha / sigma), h = lambda_t - lambda_s0:
 *   first order:  x_t = (sigma_t/sigma_s0) x - alpha_t (e^-h - 1) x0
 *   second order: x_t = (sigma_t/sigma_s0) x - alpha_t (e^-h - 1) (x0 + (x0 - x0_prev) / (2 r0)),
 *   r0 = (lambda_s0 - lambda_s1) / h.
 */
export class DpmSolverSampler implements Sampler {
  /** Sampler name. */
  readonly name = "dpmsolver++";
  /** The noise schedule. */
  readonly schedule: NoiseSchedule;
  /** Solver order (1 or 2). */
  readonly solverOrder: 1 | 2;
  /** First order at the last step for short schedules. */
  readonly lowerOrderFinal: boolean;
  /** First order at the last step always. */
  readonly eulerAtFinal: boolean;
  /** The final sigma. */
  readonly finalSigmasType: "zero" | "sigma_min";
  /** Inference timestep spacing. */
  readonly timestepSpacing: TimestepSpacing;
  /** Added to every inference timestep. */
  readonly stepsOffset: number;
  /** diffusers' lambda_min_clipped. */
  readonly lambdaMinClipped: number;

  /** Builds the sampler from diffusers-style options. */
  constructor(options: DpmSolverOptions = {}) {
    this.schedule = options.schedule ?? makeSchedule(options);
    this.solverOrder = options.solverOrder ?? 2;
    if (this.solverOrder !== 1 && this.solverOrder !== 2) {
      throw new Error(`DPM-Solver++ order ${this.solverOrder} is not supported (1 or 2)`);
    }
    this.lowerOrderFinal = options.lowerOrderFinal ?? true;
    this.eulerAtFinal = options.eulerAtFinal ?? false;
    this.finalSigmasType = options.finalSigmasType ?? "zero";
    this.timestepSpacing = options.timestepSpacing ?? "linspace";
    this.stepsOffset = options.stepsOffset ?? 0;
    this.lambdaMinClipped = options.lambdaMinClipped ?? -Infinity;
  }

  /**
   * Inference timesteps as this scheduler's `set_timesteps` makes them (n + 1 points, last
   * dropped): "linspace" `linspace(0, T-1, n+1).round()` reversed; "leading" `arange(n+1) *
   * (T // (n+1))` reversed (+ offset); "trailing" `round(T - i*T/n) - 1`.
   */
  timesteps(numSteps: number): number[] {
    const T = this.schedule.numTrainTimesteps;
    checkSteps(T, numSteps);
    const n = numSteps;
    switch (this.timestepSpacing) {
      case "linspace": {
        // diffusers: last = T - #{t : lambda_t < lambda_min_clipped}, then linspace(0, last-1, n+1).
        let clipped = 0;
        for (const ab of this.schedule.alphasCumprod) {
          if (0.5 * Math.log(ab / (1 - ab)) < this.lambdaMinClipped) clipped++;
        }
        const last = T - clipped;
        const step = (last - 1) / n;
        return Array.from({ length: n }, (_, i) => {
          const k = n - i; // points k = n..1 of linspace(0, last-1, n+1)
          return roundHalfEven(k === n ? last - 1 : k * step);
        });
      }
      case "leading": {
        const ratio = Math.floor(T / (n + 1));
        return Array.from({ length: n }, (_, i) => (n - i) * ratio + this.stepsOffset);
      }
      default:
        return spacedTimesteps(T, n, this.timestepSpacing, this.stepsOffset);
    }
  }

  /** sigma_i = sqrt((1 - ab) / ab) for each step plus the final sigma. Shape: [n + 1]. */
  sigmas(timesteps: number[]): number[] {
    const ac = this.schedule.alphasCumprod;
    const f32 = this.schedule.config.precision === "float32";
    const sig = (ab: number) => {
      const s = Math.sqrt((1 - ab) / ab);
      return f32 ? Math.fround(s) : s;
    };
    const last = this.finalSigmasType === "zero" ? 0 : sig(ac[0]);
    return [...timesteps.map((t) => sig(ac[t])), last];
  }

  plan(numSteps: number): SamplerPlan {
    const ts = this.timesteps(numSteps);
    const sigmas = this.sigmas(ts);
    const n = ts.length;
    const alphaOf = (s: number) => 1 / Math.sqrt(s * s + 1);
    let lowerOrderNums = 0;
    const rows = ts.map((t, i): StepRow => {
      const lowerOrderFinal = i === n - 1 &&
        (this.eulerAtFinal || (this.lowerOrderFinal && n < 15) ||
          this.finalSigmasType === "zero");
      const s0 = sigmas[i];
      const st = sigmas[i + 1];
      const alphaS0 = alphaOf(s0);
      const alphaT = alphaOf(st);
      // sigma(s) = s * alpha(s); x0 = (x - sigma_s0 eps) / alpha_s0.
      const x0x = 1 / alphaS0;
      const x0e = -s0;
      // e^{-h} = (sigma_t / alpha_t) / (sigma_s0 / alpha_s0) = st / s0 (0 when st = 0).
      const expMinusH = st / s0;
      const a = (st * alphaT) / (s0 * alphaS0);
      const B = alphaT * (1 - expMinusH);
      const row = {
        t,
        prevT: i + 1 < n ? ts[i + 1] : -1,
        x0x,
        x0e,
        clip: 0,
        a,
        b: B,
        c: 0,
        d: 0,
        s: 0,
      };
      if (!(this.solverOrder === 1 || lowerOrderNums < 1 || lowerOrderFinal)) {
        const s1 = sigmas[i - 1];
        const h = Math.log(s0 / st);
        const h0 = Math.log(s1 / s0);
        const r0 = h0 / h;
        row.b = B * (1 + 0.5 / r0);
        row.c = -B * 0.5 / r0;
      }
      if (lowerOrderNums < this.solverOrder) lowerOrderNums++;
      return row;
    });
    return finish(this.name, ts, rows);
  }
}

function finish(sampler: string, timesteps: number[], rows: StepRow[]): SamplerPlan {
  return {
    sampler,
    numSteps: rows.length,
    timesteps,
    rows,
    noisy: rows.some((r) => r.s !== 0),
    multistep: rows.some((r) => r.c !== 0),
  };
}

/**
 * Forward diffusion on the CPU (diffusers `add_noise`): for sample n,
 * `out = sqrt(ab[t_n]) * x0 + sqrt(1 - ab[t_n]) * noise`. `x0`, `noise`: [N, L] flat; `t`: [N].
 */
export function addNoise(
  schedule: NoiseSchedule,
  x0: Float32Array,
  noise: Float32Array,
  t: ArrayLike<number>,
): Float32Array {
  const N = t.length;
  if (x0.length !== noise.length || x0.length % N !== 0) {
    throw new Error(
      `Add noise needs matching sizes: ${x0.length} sample values, ${noise.length} noise values, ${N} timesteps`,
    );
  }
  const L = x0.length / N;
  const out = new Float32Array(x0.length);
  for (let n = 0; n < N; n++) {
    const ab = schedule.alphasCumprod[t[n]];
    if (ab === undefined) {
      throw new Error(`Add noise timestep ${t[n]} is outside 0..${schedule.numTrainTimesteps - 1}`);
    }
    const sa = Math.sqrt(ab);
    const sb = Math.sqrt(1 - ab);
    for (let i = n * L; i < (n + 1) * L; i++) out[i] = sa * x0[i] + sb * noise[i];
  }
  return out;
}

/** `[T, 2]` float32 table of (sqrt(ab_t), sqrt(1 - ab_t)) for the `add_noise` kernel. */
export function addNoiseTable(schedule: NoiseSchedule): Float32Array {
  const ac = schedule.alphasCumprod;
  const out = new Float32Array(ac.length * 2);
  for (let t = 0; t < ac.length; t++) {
    out[2 * t] = Math.sqrt(ac[t]);
    out[2 * t + 1] = Math.sqrt(1 - ac[t]);
  }
  return out;
}

/**
 * Runs a whole trajectory on the CPU with a model callback (reference sampler). `model(x, t, k)`
 * returns eps for sample `x` at timestep `t`, step `k`; `noise(k)` returns step k's noise (only
 * called for steps with `s != 0`). Returns every step's outputs.
 */
export function sampleCpu(
  plan: SamplerPlan,
  xT: Float32Array,
  model: (x: Float32Array, t: number, k: number) => Float32Array,
  noise?: (k: number) => Float32Array,
): StepOutputs[] {
  const out: StepOutputs[] = [];
  let x = xT;
  let x0Prev: Float32Array | undefined;
  plan.rows.forEach((row, k) => {
    const eps = model(x, row.t, k);
    if (row.s !== 0 && !noise) {
      throw new Error(`Step ${k} needs noise but no noise source was given`);
    }
    const r = stepCpu(row, { x, eps, x0Prev, noise: row.s !== 0 ? noise!(k) : undefined });
    out.push(r);
    x = r.prevSample;
    x0Prev = r.predOriginalSample;
  });
  return out;
}
