/**
 * Collects Push-T demonstrations from the scripted expert: episodes on seeds S, S+1, ..., the
 * successful ones kept as {@linkcode RobotEpisodes} (observation.state [agent_x, agent_y, block_x,
 * block_y, block_angle], action [x, y], 10 fps), with the expert's own success rate and average max
 * reward over every episode it played.
 */
import type { MinMax } from "../../policy/spec.ts";
import type { RobotEpisode, RobotEpisodes } from "../../data/robot.ts";
import { FPS, PushTEnv } from "./env.ts";
import { type ExpertEpisode, type ExpertOptions, PushTExpert } from "./expert.ts";

/** Task text of every Push-T episode (LeRobot's pusht dataset uses this sentence). */
export const PUSHT_TASK = "Push the T-shaped block onto the T-shaped target.";
/** State channel names. */
export const PUSHT_STATE_NAMES = ["agent_x", "agent_y", "block_x", "block_y", "block_angle"];
/** Action channel names. */
export const PUSHT_ACTION_NAMES = ["x", "y"];

/** Options of {@linkcode collectPushT}. */
export interface CollectOptions {
  /** episodes to play */
  episodes: number;
  /** first seed (default 0); episode i uses seed + i */
  seed?: number;
  /** dataset name for logs (default "pusht") */
  name?: string;
  /** expert tuning */
  expert?: ExpertOptions;
  /** episodes (the first ones) that also record simulator states, for pictures (default 0) */
  keepStates?: number;
  /** called after each episode with its number (1-based) and result */
  onEpisode?: (done: number, ep: ExpertEpisode) => void;
}

/** What {@linkcode collectPushT} returns. */
export interface CollectResult {
  /** the successful episodes, re-indexed from 0 */
  dataset: RobotEpisodes;
  /** seeds of the kept episodes, in dataset order */
  seeds: number[];
  /** episodes played */
  played: number;
  /** share of played episodes that succeeded */
  successRate: number;
  /** mean over played episodes of the highest reward reached */
  averageMaxReward: number;
  /** frames in the dataset */
  frames: number;
}

/** Plays the expert on `episodes` seeds and keeps the successful episodes. */
export async function collectPushT(options: CollectOptions): Promise<CollectResult> {
  const { episodes } = options;
  const seed0 = options.seed ?? 0;
  if (!Number.isInteger(episodes) || episodes <= 0) {
    throw new Error(`episodes must be a positive integer, got ${episodes}`);
  }
  if (!Number.isInteger(seed0) || seed0 < 0 || seed0 + episodes - 1 > 0xffffffff) {
    throw new Error(`seeds ${seed0}..${seed0 + episodes - 1} must lie in [0, 2^32)`);
  }
  const env = await PushTEnv.create();
  const kept: RobotEpisode[] = [];
  const seeds: number[] = [];
  let successes = 0, sumMax = 0;
  try {
    const expert = new PushTExpert(env, options.expert);
    for (let i = 0; i < episodes; i++) {
      const ep = expert.runEpisode(seed0 + i, { keepStates: i < (options.keepStates ?? 0) });
      sumMax += ep.maxReward;
      if (ep.success) {
        successes++;
        seeds.push(ep.seed);
        kept.push({
          index: kept.length,
          length: ep.length,
          state: ep.state,
          action: ep.action,
          task: PUSHT_TASK,
        });
      }
      options.onEpisode?.(i + 1, ep);
    }
  } finally {
    env.close();
  }
  const dataset: RobotEpisodes = {
    name: options.name ?? "pusht",
    fps: FPS,
    stateKey: "observation.state",
    actionKey: "action",
    stateNames: [...PUSHT_STATE_NAMES],
    actionNames: [...PUSHT_ACTION_NAMES],
    stateDim: 5,
    actionDim: 2,
    episodes: kept,
    stats: {
      state: minMax(kept.map((e) => e.state), 5),
      action: minMax(kept.map((e) => e.action), 2),
    },
  };
  return {
    dataset,
    seeds,
    played: episodes,
    successRate: successes / episodes,
    averageMaxReward: sumMax / episodes,
    frames: kept.reduce((n, e) => n + e.length, 0),
  };
}

/** Per-channel min and max of row-major [frames, dim] arrays (zeros when there are no frames). */
function minMax(arrays: Float32Array[], dim: number): MinMax {
  const min = new Array(dim).fill(Infinity), max = new Array(dim).fill(-Infinity);
  for (const a of arrays) {
    for (let i = 0; i < a.length; i++) {
      const c = i % dim;
      if (a[i] < min[c]) min[c] = a[i];
      if (a[i] > max[c]) max[c] = a[i];
    }
  }
  return {
    min: min.map((v) => Number.isFinite(v) ? v : 0),
    max: max.map((v) => Number.isFinite(v) ? v : 0),
  };
}
