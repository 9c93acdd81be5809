/**
 * A training run sized to a wall-clock budget. The run starts with a provisional step count, times
 * a window of early steps (after the first log line, so pipeline compilation is not counted) and
 * one validation pass, and then fixes the step count so that warm-up and cosine decay end with
 * the budget, validation passes, sample grids and checkpoints included (the grid's cost is timed
 * too, with pictures of 1 and 3 sampler steps). Planning happens during warm-up, whose learning
 * rates do not depend on the step count, so the learning-rate sequence is that of a run given the
 * planned `--steps` from the start; only a budget shorter than twice the warm-up ends the warm-up
 * at the planning step, so that the decay still runs.
 */
import type { MetricsRecord, TrainOptions } from "./trainer.ts";

/** What the planner needs of a run (the trainer has it). */
export interface BudgetedRun {
  /** The run's options; the plan sets `steps` and `sampleEvery`. */
  readonly opts: TrainOptions;
  /** One validation pass (null without a validation set). */
  validationLoss(): Promise<number | null>;
  /** Seconds one picture (sample grid or action chunks) takes with `steps` sampler steps. */
  pictureSeconds(steps: number): Promise<number>;
}

/** Parses a duration such as `10m`, `90s`, `1h30m`, `1.5h` or a plain number of seconds. */
export function parseDuration(text: string): number {
  const s = text.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return positive(Number(s), text);
  const re = /(\d+(?:\.\d+)?)\s*(h|m|s)/gy;
  let total = 0;
  let end = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    total += Number(m[1]) * { h: 3600, m: 60, s: 1 }[m[2] as "h" | "m" | "s"];
    end = re.lastIndex;
  }
  if (end !== s.length || end === 0) {
    throw new Error(`--time expects a duration such as 10m, 90s or 1h30m, got "${text}"`);
  }
  return positive(total, text);
}

function positive(seconds: number, text: string): number {
  if (!(seconds > 0) || !Number.isFinite(seconds)) {
    throw new Error(`--time must be a positive duration, got "${text}"`);
  }
  return seconds;
}

/** Formats seconds as `9m41s`. */
export function formatSeconds(seconds: number): string {
  const s = Math.round(seconds);
  const m = Math.floor(s / 60);
  return m ? `${m}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

/** What the planner measured and decided. */
export interface BudgetPlan {
  /** Planned optimizer steps. */
  steps: number;
  /** Seconds per training step over the timing window. */
  secPerStep: number;
  /** Seconds of one validation pass. */
  valSec: number;
  /** Estimated seconds of one sample grid. */
  gridSec: number;
  /** Steps between sample grids (a grid half-way and one at the end). */
  sampleEvery: number;
}

/** Inputs of {@linkcode planSteps}: measurements and the run's intervals. */
export interface PlanInput {
  /** Budget in seconds, counted from process start. */
  budgetSec: number;
  /** Seconds since process start now. */
  elapsedSec: number;
  /** Steps done now. */
  stepsDone: number;
  /** Measured seconds per step. */
  secPerStep: number;
  /** Measured seconds of one validation pass (0 when validation is off). */
  valSec: number;
  /** Estimated seconds of one sample grid. */
  gridSec: number;
  /** Sample grids still to come. */
  grids: number;
  /** Steps between validation passes (0 = off). */
  valEvery: number;
  /** Steps between checkpoints. */
  ckptEvery: number;
  /** Seconds of one checkpoint write. */
  ckptSec: number;
}

/** Share of the budget planned for; the rest absorbs the machine's jitter and the exit. */
const FILL = 0.96;

/**
 * The largest step count whose training steps, validation passes (one per `valEvery` and one at
 * the end), checkpoints and grids fit the budget. At least one step more than done.
 */
export function planSteps(p: PlanInput): number {
  const left = p.budgetSec * FILL - p.elapsedSec - p.grids * p.gridSec - p.valSec - p.ckptSec;
  const perStep = p.secPerStep + (p.valEvery > 0 ? p.valSec / p.valEvery : 0) +
    p.ckptSec / Math.max(1, p.ckptEvery);
  return p.stepsDone + Math.max(1, Math.floor(left / perStep));
}

/**
 * Sizes a run to `budgetSec` from its own speed. Pass {@linkcode TimeBudget.onLog} as the
 * trainer's `onLog` hook; the plan is fixed at the first log line at least `window` steps after
 * the first one.
 */
export class TimeBudget {
  #from: { step: number; t: number } | null = null;
  /** The plan, once fixed. */
  plan: BudgetPlan | null = null;

  /**
   * @param trainer the run to size (its `opts.steps` and `opts.sampleEvery` are set by the plan)
   * @param budgetSec wall-clock budget from process start
   * @param window steps timed before planning
   * @param say where the plan's one-line summary goes
   * @param now seconds since process start
   */
  constructor(
    readonly trainer: BudgetedRun,
    readonly budgetSec: number,
    readonly window = 30,
    readonly say: (line: string) => void = console.log,
    readonly now: () => number = () => performance.now() / 1000,
  ) {}

  /** The trainer hook: times the window, then plans once. */
  onLog = async (rec: MetricsRecord): Promise<void> => {
    if (this.plan) return;
    const now = this.now();
    if (!this.#from) {
      this.#from = { step: rec.step, t: now };
      return;
    }
    if (rec.step - this.#from.step < this.window) return;
    const secPerStep = (now - this.#from.t) / (rec.step - this.#from.step);
    const o = this.trainer.opts;
    const v0 = this.now();
    const val = o.valEvery > 0 ? await this.trainer.validationLoss() : null;
    const valSec = val === null ? 0 : this.now() - v0;
    const gridSec = await this.#gridSeconds(); // the last step always draws one
    const steps = planSteps({
      budgetSec: this.budgetSec,
      elapsedSec: this.now(),
      stepsDone: rec.step,
      secPerStep,
      valSec,
      gridSec,
      grids: o.sampleEvery > 0 ? 2 : 1,
      valEvery: o.valEvery,
      ckptEvery: o.ckptEvery,
      ckptSec: 0.2,
    });
    o.steps = steps;
    // Pictures are drawn at log lines: the half-way one sits on one.
    const sampleEvery = o.sampleEvery > 0
      ? Math.max(o.logEvery, Math.round(steps / 2 / o.logEvery) * o.logEvery)
      : 0;
    o.sampleEvery = sampleEvery;
    // A budget too short for the preset's warm-up ends it here, so that the decay still runs.
    if (steps < 2 * o.warmup) o.warmup = Math.max(rec.step, Math.floor(steps / 4));
    this.plan = { steps, secPerStep, valSec, gridSec, sampleEvery };
    this.say(
      `time budget ${formatSeconds(this.budgetSec)}: ${secPerStep.toFixed(3)} s/step over steps ` +
        `${this.#from.step}-${rec.step}, validation ${valSec.toFixed(1)} s, grid ~${
          gridSec.toFixed(0)
        } s -> ${steps} steps (warm-up ${o.warmup}${o.cosine ? ", cosine to the last step" : ""})`,
    );
  };

  /**
   * Times pictures of 1 and 3 sampler steps (after one that compiles the sampler's pipelines):
   * their difference is the cost of a step, the rest fixed cost (readback, drawing, encoding).
   */
  async #gridSeconds(): Promise<number> {
    const steps = this.trainer.opts.sampleSteps;
    await this.trainer.pictureSeconds(1);
    const one = await this.trainer.pictureSeconds(1);
    const three = await this.trainer.pictureSeconds(3);
    const perStep = Math.max(0, (three - one) / 2);
    return Math.max(0, one - perStep) + perStep * steps;
  }
}
