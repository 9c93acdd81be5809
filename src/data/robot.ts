/**
 * Robot demonstrations in memory: whole episodes of one state feature and one action feature, as
 * read from (or written to) a LeRobot dataset by `src/data/lerobot/`. Frames are rows of a flat
 * channel-last array: `state` is [length, stateDim], `action` is [length, actionDim].
 */
import type { MinMax, RobotFeatures } from "../policy/spec.ts";

/** One demonstration. */
export interface RobotEpisode {
  /** LeRobot `episode_index`. */
  index: number;
  /** Frames in the episode. */
  length: number;
  /** [length, stateDim] in the dataset's units. */
  state: Float32Array;
  /** [length, actionDim] in the dataset's units. */
  action: Float32Array;
  /** Task text of the episode, when the dataset has one. */
  task?: string;
}

/** A set of demonstrations with the facts a policy needs from the dataset. */
export interface RobotEpisodes extends RobotFeatures {
  /** Short name for logs (the dataset folder). */
  name: string;
  /** Frames per second. */
  fps: number;
  /** Episodes in `episode_index` order. */
  episodes: RobotEpisode[];
  /** Min-max statistics (meta/stats.json when present, else computed from the frames). */
  stats: { state: MinMax; action: MinMax };
  /** Features the reader left out (image and video features: pixels are not read). */
  skipped?: string[];
}
