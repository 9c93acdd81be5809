/**
 * Training windows over robot episodes, with Diffusion Policy's edge padding: an episode is padded
 * by repeating its first frame nObsSteps - 1 times and its last frame nActionSteps - 1 times, and
 * each window of `horizon` padded frames gives the states of its first nObsSteps frames (the
 * observation history) and the actions of all its frames (the chunk), both min-max normalised to
 * [-1, 1]. An episode of L frames gives max(1, L - horizon + nObsSteps + nActionSteps - 1) windows.
 *
 * The LeRobot module (`src/data/lerobot/`) provides the same `PolicyWindows` / `splitEpisodes`
 * signatures; this file serves the trainer and its tests on in-memory episodes.
 */
import type { RobotEpisodes } from "../data/robot.ts";
import { type MinMax, normalize } from "./spec.ts";
import { hash32, Rng, shuffleInPlace } from "../util/prng.ts";

/** Diffusion Policy's window sizes. */
export interface WindowOptions {
  /** Observation frames per window (Push-T: 2). */
  nObsSteps: number;
  /** Actions per window (Push-T: 16). */
  horizon: number;
  /** Actions executed per chunk (Push-T: 8); sets the end padding. */
  nActionSteps: number;
}

/** One training example. */
export interface PolicyWindow {
  /** Normalised observation history [nObsSteps * stateDim], oldest frame first. */
  obs: Float32Array;
  /** Normalised action chunk [horizon * actionDim], token-major. */
  action: Float32Array;
}

/** Random access to the windows of some episodes. */
export class PolicyWindows {
  /** Number of windows. */
  readonly length: number;
  /** Per window: position of its episode in `eps.episodes`. */
  readonly #episode: Int32Array;
  /** Per window: first padded frame, relative to the episode start (may be negative). */
  readonly #start: Int32Array;

  /** Windows of `eps.episodes[k]` for k in `episodeIndices`, normalised with `stats`. */
  constructor(
    readonly eps: RobotEpisodes,
    episodeIndices: ArrayLike<number>,
    readonly options: WindowOptions,
    readonly stats: { state: MinMax; action: MinMax },
  ) {
    const { nObsSteps, horizon, nActionSteps } = options;
    for (const [k, v] of Object.entries(options)) {
      if (!Number.isInteger(v) || v < 1) {
        throw new Error(`Window option ${k} must be >= 1, got ${v}`);
      }
    }
    if (nObsSteps - 1 + nActionSteps > horizon) {
      throw new Error("Window options: nObsSteps - 1 + nActionSteps must not exceed horizon");
    }
    const episode: number[] = [];
    const start: number[] = [];
    for (const k of Array.from(episodeIndices)) {
      const e = eps.episodes[k];
      if (!e) {
        throw new Error(`Episode position ${k} is outside ${eps.name}'s ${eps.episodes.length}`);
      }
      if (e.length < 1) continue;
      const count = Math.max(1, e.length - horizon + nObsSteps + nActionSteps - 1);
      for (let s = 0; s < count; s++) {
        episode.push(k);
        start.push(s - (nObsSteps - 1));
      }
    }
    this.length = episode.length;
    this.#episode = Int32Array.from(episode);
    this.#start = Int32Array.from(start);
  }

  /** Position in `eps.episodes` of window `i`'s episode. */
  episodeOf(i: number): number {
    this.#check(i);
    return this.#episode[i];
  }

  #check(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) {
      throw new Error(`Window ${i} is outside 0..${this.length - 1}`);
    }
  }

  /** Window `i`, normalised. */
  get(i: number): PolicyWindow {
    this.#check(i);
    const e = this.eps.episodes[this.#episode[i]];
    const s0 = this.#start[i];
    const { nObsSteps, horizon } = this.options;
    const D = this.eps.stateDim, A = this.eps.actionDim;
    const frame = (k: number) => Math.min(Math.max(s0 + k, 0), e.length - 1);
    const obs = new Float32Array(nObsSteps * D); // [nObs, D]
    for (let k = 0; k < nObsSteps; k++) {
      const f = frame(k);
      obs.set(e.state.subarray(f * D, (f + 1) * D), k * D);
    }
    const action = new Float32Array(horizon * A); // [H, A]
    for (let k = 0; k < horizon; k++) {
      const f = frame(k);
      action.set(e.action.subarray(f * A, (f + 1) * A), k * A);
    }
    return { obs: normalize(obs, this.stats.state), action: normalize(action, this.stats.action) };
  }
}

/**
 * Holds out round(n * valFraction) whole episodes (at least one when valFraction > 0 and there
 * are two or more), chosen by a seeded shuffle: windows of one episode are near copies of each
 * other, so a held-out window must come from an unseen episode. Returns positions in
 * `eps.episodes`, each list ascending.
 */
export function splitEpisodes(
  eps: RobotEpisodes,
  options: { valFraction?: number; seed?: number } = {},
): { train: number[]; val: number[] } {
  const { valFraction = 0.05, seed = 0 } = options;
  if (!(valFraction >= 0 && valFraction < 1)) {
    throw new Error(`Validation fraction must be in [0,1), got ${valFraction}`);
  }
  const n = eps.episodes.length;
  const order = shuffleInPlace(Array.from({ length: n }, (_, i) => i), new Rng(hash32(seed, 0xe9)));
  let nVal = Math.round(n * valFraction);
  if (valFraction > 0 && nVal === 0 && n >= 2) nVal = 1;
  const val = order.slice(0, nVal).sort((a, b) => a - b);
  const train = order.slice(nVal).sort((a, b) => a - b);
  if (!train.length) throw new Error(`Dataset ${eps.name} has no training episodes left`);
  return { train, val };
}
