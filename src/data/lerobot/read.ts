/**
 * Reading a LeRobot dataset (codebase v3.0, or v2.1 / v2.0) into {@linkcode RobotEpisodes}: one
 * float state feature and one float action feature per frame, whole episodes, with min-max
 * statistics. Everything is checked before the result exists, so a call either returns complete
 * episodes or throws one error naming the file and column at fault.
 */
import { basename, resolve } from "node:path";
import type { MinMax } from "../../policy/spec.ts";
import type { RobotEpisode, RobotEpisodes } from "../robot.ts";
import {
  type EpisodeEntry,
  readEpisodesV2,
  readEpisodesV3,
  readJsonLines,
} from "./episodes_meta.ts";
import { copyVectorRows } from "./frames.ts";
import {
  channelNames,
  featureWidth,
  FLOAT_DTYPES,
  type LeRobotFeature,
  type LeRobotInfo,
  parseInfo,
  PIXEL_DTYPES,
} from "./info.ts";
import { intCell, readDatasetFile, readParquetColumns } from "./parquet.ts";
import { aggregateMinMax, computeMinMax, minMaxFromStats } from "./stats.ts";

/** Options of {@linkcode readLeRobot}. */
export interface ReadLeRobotOptions {
  /** Feature read as the observation (default `observation.state`). */
  stateKey?: string;
  /** Feature read as the action (default `action`). */
  actionKey?: string;
  /** `episode_index` values to read (default: all), returned in ascending order. */
  episodes?: number[];
  /** Called once with a message naming the image/video features left out, when there are any. */
  onWarning?: (message: string) => void;
}

/**
 * Reads the LeRobot dataset in `dir` (codebase v3.0, v2.1 or v2.0).
 *
 * @example
 * ```ts ignore
 * const eps = await readLeRobot("datasets/pusht", { episodes: [0, 1, 2] });
 * console.log(eps.stateDim, eps.actionDim, eps.episodes.length);
 * ```
 */
export async function readLeRobot(
  dir: string,
  opts: ReadLeRobotOptions = {},
): Promise<RobotEpisodes> {
  const root = resolve(dir);
  const stateKey = opts.stateKey ?? "observation.state";
  const actionKey = opts.actionKey ?? "action";
  const infoRel = "meta/info.json";
  const info = parseInfo(
    new TextDecoder().decode(await readDatasetFile(root, infoRel)),
    `${root}/${infoRel}`,
  );
  const stateF = vectorFeature(info, stateKey, `${root}/${infoRel}`);
  const actionF = vectorFeature(info, actionKey, `${root}/${infoRel}`);
  const stateDim = featureWidth(stateF);
  const actionDim = featureWidth(actionF);

  const skipped = Object.entries(info.features)
    .filter(([, f]) => PIXEL_DTYPES.has(f.dtype))
    .map(([name]) => name);
  if (skipped.length > 0) {
    opts.onWarning?.(
      `LeRobot dataset ${root}: skipped image/video features ` +
        `${skipped.map((k) => `${k} (${info.features[k].dtype})`).join(", ")}: ` +
        `only state-based features are read`,
    );
  }

  const v3 = info.codebase_version.startsWith("v3");
  const all = v3 ? await readEpisodesV3(root, info) : await readEpisodesV2(root, info);
  if (all.length === 0) throw new Error(`LeRobot dataset ${root}: the episodes metadata is empty`);
  const selected = selectEpisodes(all, opts.episodes, root);

  const frames = await readFrames(root, all, selected, stateKey, actionKey, stateDim, actionDim);
  const episodes: RobotEpisode[] = selected.map((e) => ({
    index: e.index,
    length: e.length,
    ...frames.get(e.index)!,
    ...(e.task !== undefined ? { task: e.task } : {}),
  }));

  const stored = await storedStats(root, info, stateKey, actionKey, stateDim, actionDim);
  const stats = {
    state: stored.state ?? computeMinMax(episodes.map((e) => e.state), stateDim),
    action: stored.action ?? computeMinMax(episodes.map((e) => e.action), actionDim),
  };
  const stateNames = channelNames(stateF);
  const actionNames = channelNames(actionF);
  return {
    name: basename(root),
    fps: info.fps,
    stateKey,
    actionKey,
    ...(stateNames?.length === stateDim ? { stateNames } : {}),
    ...(actionNames?.length === actionDim ? { actionNames } : {}),
    stateDim,
    actionDim,
    episodes,
    stats,
    ...(skipped.length > 0 ? { skipped } : {}),
  };
}

/** The info.json entry of a float vector feature, or an error naming the feature. */
function vectorFeature(info: LeRobotInfo, key: string, where: string): LeRobotFeature {
  const f = info.features[key];
  if (!f) {
    throw new Error(
      `${where}: no feature '${key}' (features: ${Object.keys(info.features).join(", ")})`,
    );
  }
  if (PIXEL_DTYPES.has(f.dtype)) {
    throw new Error(`${where}: feature '${key}' is ${f.dtype} data; only float vectors are read`);
  }
  if (!FLOAT_DTYPES.has(f.dtype)) {
    throw new Error(`${where}: feature '${key}' has dtype ${f.dtype}; float32 or float64 is read`);
  }
  return f;
}

function selectEpisodes(
  all: EpisodeEntry[],
  wanted: number[] | undefined,
  root: string,
): EpisodeEntry[] {
  if (!wanted) return all;
  const byIndex = new Map(all.map((e) => [e.index, e]));
  const out = [...new Set(wanted)].sort((a, b) => a - b).map((i) => {
    const e = byIndex.get(i);
    if (!e) {
      throw new Error(
        `LeRobot dataset ${root}: episode ${i} is not in the dataset ` +
          `(${all.length} episodes, indices ${all[0].index}..${all[all.length - 1].index})`,
      );
    }
    return e;
  });
  if (out.length === 0) throw new Error(`LeRobot dataset ${root}: no episodes selected`);
  return out;
}

/**
 * Reads the frames of the `selected` episodes, file by file, checking that each file holds
 * exactly the episodes the metadata puts in it, each as one contiguous run of rows with
 * frame_index 0..length-1 (and, when given, index dataset_from_index..dataset_to_index-1).
 */
async function readFrames(
  root: string,
  all: EpisodeEntry[],
  selected: EpisodeEntry[],
  stateKey: string,
  actionKey: string,
  stateDim: number,
  actionDim: number,
): Promise<Map<number, { state: Float32Array; action: Float32Array }>> {
  const byIndex = new Map(all.map((e) => [e.index, e]));
  const files = new Map<string, EpisodeEntry[]>();
  for (const e of selected) {
    const list = files.get(e.file) ?? [];
    list.push(e);
    files.set(e.file, list);
  }
  const wanted = new Set(selected.map((e) => e.index));
  const out = new Map<number, { state: Float32Array; action: Float32Array }>();
  for (const [rel, expected] of files) {
    const where = `${root}/${rel}`;
    const { rows, columns: c } = await readParquetColumns(
      root,
      rel,
      ["episode_index", "frame_index", stateKey, actionKey],
      ["index"],
    );
    const seen = new Set<number>();
    const runs: { entry: EpisodeEntry; start: number; end: number }[] = [];
    let start = 0;
    while (start < rows) {
      const ep = intCell(c.episode_index[start], where, "episode_index", start);
      let end = start + 1;
      while (end < rows && intCell(c.episode_index[end], where, "episode_index", end) === ep) end++;
      const entry = byIndex.get(ep);
      if (!entry) {
        throw new Error(
          `${where}: column 'episode_index' rows ${start}..${end - 1} hold episode ${ep}, ` +
            `which the episodes metadata does not list`,
        );
      }
      if (entry.file !== rel) {
        throw new Error(
          `${where}: column 'episode_index' rows ${start}..${end - 1} hold episode ${ep}, ` +
            `which the episodes metadata puts in ${entry.file}`,
        );
      }
      if (seen.has(ep)) {
        throw new Error(
          `${where}: column 'episode_index': episode ${ep} appears again at row ${start}; ` +
            `its frames are interleaved with another episode's`,
        );
      }
      seen.add(ep);
      if (wanted.has(ep)) runs.push({ entry, start, end });
      start = end;
    }
    // Runs are read once the whole file's layout is known, so an interleaving is reported as
    // such rather than as a short episode.
    for (const { entry, start, end } of runs) {
      const frames = readRun(c, start, end, entry, where, stateKey, actionKey, stateDim, actionDim);
      out.set(entry.index, frames);
    }
    for (const e of expected) {
      if (!seen.has(e.index)) {
        throw new Error(
          `${where}: no frames of episode ${e.index}, which the episodes metadata puts there`,
        );
      }
    }
  }
  return out;
}

/** Checks and copies the rows [start, end) of one episode. */
function readRun(
  c: Record<string, unknown[]>,
  start: number,
  end: number,
  entry: EpisodeEntry,
  where: string,
  stateKey: string,
  actionKey: string,
  stateDim: number,
  actionDim: number,
): { state: Float32Array; action: Float32Array } {
  const n = end - start;
  if (n !== entry.length) {
    throw new Error(
      `${where}: episode ${entry.index} has ${n} frames (rows ${start}..${end - 1}), ` +
        `the episodes metadata says ${entry.length}`,
    );
  }
  for (let r = start; r < end; r++) {
    const fi = intCell(c.frame_index[r], where, "frame_index", r);
    if (fi !== r - start) {
      throw new Error(
        `${where}: column 'frame_index' row ${r} is ${fi}, expected ${r - start}: ` +
          `episode ${entry.index}'s frames must be 0..${n - 1} in ascending order`,
      );
    }
    if (c.index && entry.from !== undefined) {
      const gi = intCell(c.index[r], where, "index", r);
      if (gi !== entry.from + r - start) {
        throw new Error(
          `${where}: column 'index' row ${r} is ${gi}, expected ${entry.from + r - start} ` +
            `(episode ${entry.index} spans dataset_from_index ${entry.from}..${entry.to})`,
        );
      }
    }
  }
  const state = new Float32Array(n * stateDim);
  const action = new Float32Array(n * actionDim);
  copyVectorRows(c[stateKey], start, end, stateDim, state, 0, where, stateKey);
  copyVectorRows(c[actionKey], start, end, actionDim, action, 0, where, actionKey);
  return { state, action };
}

/**
 * Min/max stored in the dataset: `meta/stats.json` (v3.0, v2.0), else the aggregate of
 * `meta/episodes_stats.jsonl` (v2.1). A feature with no stored entry is left undefined.
 */
async function storedStats(
  root: string,
  info: LeRobotInfo,
  stateKey: string,
  actionKey: string,
  stateDim: number,
  actionDim: number,
): Promise<{ state?: MinMax; action?: MinMax }> {
  const statsRel = "meta/stats.json";
  if (await exists(`${root}/${statsRel}`)) {
    const where = `${root}/${statsRel}`;
    let stats: Record<string, unknown>;
    try {
      stats = JSON.parse(new TextDecoder().decode(await readDatasetFile(root, statsRel)));
    } catch (e) {
      throw new Error(`${where}: not valid JSON (${(e as Error).message})`);
    }
    return {
      state: minMaxFromStats(stats, stateKey, stateDim, where),
      action: minMaxFromStats(stats, actionKey, actionDim, where),
    };
  }
  const epRel = "meta/episodes_stats.jsonl";
  if (!info.codebase_version.startsWith("v3") && await exists(`${root}/${epRel}`)) {
    const where = `${root}/${epRel}`;
    const lines = await readJsonLines(root, epRel);
    const agg = (key: string, width: number): MinMax | undefined => {
      const parts = lines.map((l, i) =>
        minMaxFromStats(
          (l.stats ?? {}) as Record<string, unknown>,
          key,
          width,
          `${where} line ${i + 1}`,
        )
      );
      return parts.length > 0 && parts.every((p) => p)
        ? aggregateMinMax(parts as MinMax[])
        : undefined;
    };
    return { state: agg(stateKey, stateDim), action: agg(actionKey, actionDim) };
  }
  return {};
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}
