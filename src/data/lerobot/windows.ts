/**
 * Diffusion Policy training windows over robot episodes, with the arithmetic of its
 * SequenceSampler (real-stanford/diffusion_policy, `common/sampler.py`): every window of
 * `horizon` frames whose start runs from `-padBefore` to `length - horizon + padAfter`, frames
 * outside the episode repeating its first or last frame. A window gives the states of its first
 * `nObsSteps` frames and the actions of all its frames, min-max normalised to [-1, 1].
 */
import { type MinMax, normalize } from "../../policy/spec.ts";
import type { RobotEpisodes } from "../robot.ts";

/** Window sizes (Diffusion Policy's Push-T: 2, 16, 8). */
export interface WindowConfig {
  /** Observation frames per window (n_obs_steps). */
  nObsSteps: number;
  /** Frames per window, and actions per target (horizon). */
  horizon: number;
  /** Actions executed per chunk (n_action_steps): sets the padding after an episode. */
  nActionSteps: number;
}

/** One training window: normalised observations and actions. */
export interface PolicyWindow {
  /** [nObsSteps, stateDim], in [-1, 1] for values inside the stats' range. */
  obs: Float32Array;
  /** [horizon, actionDim], in [-1, 1] for values inside the stats' range. */
  action: Float32Array;
}

/** The training windows of a subset of episodes. */
export class PolicyWindows {
  /** Number of windows. */
  readonly length: number;
  /** Observation frames per window. */
  readonly nObsSteps: number;
  /** Frames per window. */
  readonly horizon: number;
  /** First-frame repeats before an episode: nObsSteps - 1 (clamped to [0, horizon - 1]). */
  readonly padBefore: number;
  /** Last-frame repeats after an episode: nActionSteps - 1 (clamped to [0, horizon - 1]). */
  readonly padAfter: number;
  /** State width D. */
  readonly stateDim: number;
  /** Action width A. */
  readonly actionDim: number;
  /** Per window: position of its episode in `eps.episodes`. */
  readonly #episode: Int32Array;
  /** Per window: frame of the episode where it starts (negative inside the front padding). */
  readonly #start: Int32Array;
  /** Per episode position: normalised [length, D] states and [length, A] actions. */
  readonly #norm = new Map<number, { state: Float32Array; action: Float32Array; n: number }>();

  /**
   * Windows of the episodes at positions `episodes` of `eps.episodes` (taken in ascending
   * order, as Diffusion Policy's episode mask does), normalised with `stats`.
   */
  constructor(
    eps: RobotEpisodes,
    episodes: number[],
    cfg: WindowConfig,
    stats: { state: MinMax; action: MinMax },
  ) {
    for (const k of ["nObsSteps", "horizon", "nActionSteps"] as const) {
      if (!Number.isInteger(cfg[k]) || cfg[k] < 1) {
        throw new Error(`PolicyWindows: ${k} must be a positive integer (got ${cfg[k]})`);
      }
    }
    if (cfg.nObsSteps > cfg.horizon || cfg.nActionSteps > cfg.horizon) {
      throw new Error(
        `PolicyWindows: nObsSteps (${cfg.nObsSteps}) and nActionSteps (${cfg.nActionSteps}) ` +
          `must not exceed horizon (${cfg.horizon})`,
      );
    }
    const D = eps.stateDim, A = eps.actionDim;
    if (stats.state.min.length !== D || stats.state.max.length !== D) {
      throw new Error(
        `PolicyWindows: state stats have ${stats.state.min.length} channels, not ${D}`,
      );
    }
    if (stats.action.min.length !== A || stats.action.max.length !== A) {
      throw new Error(
        `PolicyWindows: action stats have ${stats.action.min.length} channels, not ${A}`,
      );
    }
    const chosen = [...episodes].sort((a, b) => a - b);
    chosen.forEach((p, i) => {
      if (!Number.isInteger(p) || p < 0 || p >= eps.episodes.length) {
        throw new Error(
          `PolicyWindows: episode position ${p} is outside 0..${eps.episodes.length - 1}`,
        );
      }
      if (i > 0 && chosen[i - 1] === p) {
        throw new Error(`PolicyWindows: episode position ${p} is given twice`);
      }
    });

    this.nObsSteps = cfg.nObsSteps;
    this.horizon = cfg.horizon;
    this.padBefore = Math.min(Math.max(cfg.nObsSteps - 1, 0), cfg.horizon - 1);
    this.padAfter = Math.min(Math.max(cfg.nActionSteps - 1, 0), cfg.horizon - 1);
    this.stateDim = D;
    this.actionDim = A;

    // Window starts of one episode: -padBefore ..= length - horizon + padAfter.
    const count = (n: number) => Math.max(0, n - cfg.horizon + this.padAfter + this.padBefore + 1);
    const total = chosen.reduce((s, p) => s + count(eps.episodes[p].length), 0);
    this.#episode = new Int32Array(total);
    this.#start = new Int32Array(total);
    let w = 0;
    for (const p of chosen) {
      const e = eps.episodes[p];
      if (e.state.length !== e.length * D || e.action.length !== e.length * A) {
        throw new Error(`PolicyWindows: episode ${e.index} arrays do not match its length`);
      }
      this.#norm.set(p, {
        state: normalize(e.state.slice(), stats.state),
        action: normalize(e.action.slice(), stats.action),
        n: e.length,
      });
      for (let k = 0; k < count(e.length); k++, w++) {
        this.#episode[w] = p;
        this.#start[w] = k - this.padBefore;
      }
    }
    this.length = total;
  }

  #check(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) {
      throw new RangeError(`PolicyWindows: window ${i} is outside 0..${this.length - 1}`);
    }
  }

  /** Position in `eps.episodes` of the episode window `i` comes from. */
  episodeOf(i: number): number {
    this.#check(i);
    return this.#episode[i];
  }

  /** The `horizon` episode frames window `i` reads (padding repeats frame 0 or the last). */
  frameIndices(i: number): Int32Array {
    this.#check(i);
    const n = this.#norm.get(this.#episode[i])!.n;
    const s = this.#start[i];
    return Int32Array.from({ length: this.horizon }, (_, t) => Math.min(Math.max(s + t, 0), n - 1));
  }

  /** Window `i`: obs [nObsSteps * stateDim] and action [horizon * actionDim], normalised. */
  get(i: number): PolicyWindow {
    const obs = new Float32Array(this.nObsSteps * this.stateDim);
    const action = new Float32Array(this.horizon * this.actionDim);
    this.getInto(i, obs, 0, action, 0);
    return { obs, action };
  }

  /**
   * Writes window `i` into batch buffers: obs at `obs[obsOffset ..]` ([nObsSteps, D]) and
   * action at `action[actionOffset ..]` ([horizon, A]), without allocating.
   */
  getInto(
    i: number,
    obs: Float32Array,
    obsOffset: number,
    action: Float32Array,
    actionOffset: number,
  ): void {
    this.#check(i);
    const ep = this.#norm.get(this.#episode[i])!;
    const s = this.#start[i];
    const D = this.stateDim, A = this.actionDim;
    for (let t = 0; t < this.horizon; t++) {
      const f = Math.min(Math.max(s + t, 0), ep.n - 1);
      if (t < this.nObsSteps) obs.set(ep.state.subarray(f * D, f * D + D), obsOffset + t * D);
      action.set(ep.action.subarray(f * A, f * A + A), actionOffset + t * A);
    }
  }
}
