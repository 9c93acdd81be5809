/**
 * Writing {@linkcode RobotEpisodes} as a LeRobot codebase v3.0 dataset: `meta/info.json`,
 * `meta/stats.json`, `meta/tasks.parquet`, `meta/episodes/chunk-000/file-000.parquet` and all
 * frames in `data/chunk-000/file-000.parquet`, written atomically as one folder.
 */
import type { RobotEpisodes } from "../robot.ts";
import { writeDirAtomic } from "./atomic_dir.ts";
import { encodeParquet, type ParquetColumn } from "./parquet_write.ts";
import { computeFeatureStats, type FeatureStats } from "./stats.ts";

/** Options of {@linkcode writeLeRobot}. */
export interface WriteLeRobotOptions {
  /** Replace an existing non-empty folder (default false: refuse). */
  overwrite?: boolean;
  /** `robot_type` of info.json (default null). */
  robotType?: string | null;
  /** Task text of episodes that have none (default ""): LeRobot gives every frame a task. */
  defaultTask?: string;
}

/** Paths LeRobot v3.0 uses, with the single chunk and file this writer produces. */
const DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet";
const DATA_FILE = "data/chunk-000/file-000.parquet";
const EPISODES_FILE = "meta/episodes/chunk-000/file-000.parquet";

/**
 * Writes `eps` to the folder `dir` as a LeRobot codebase v3.0 dataset. Episodes are numbered
 * 0..n-1 in their order in `eps.episodes`; stats.json holds min, max, mean, std and count computed
 * from the frames written. The folder appears complete or not at all.
 *
 * @example
 * ```ts ignore
 * const eps = await readLeRobot("datasets/pusht_v21");
 * await writeLeRobot("datasets/pusht_v30", eps); // converts v2.1 to v3.0
 * ```
 */
export async function writeLeRobot(
  dir: string,
  eps: RobotEpisodes,
  opts: WriteLeRobotOptions = {},
): Promise<void> {
  validate(eps);
  const { stateKey, actionKey, stateDim: D, actionDim: A, fps } = eps;
  const total = eps.episodes.reduce((n, e) => n + e.length, 0);

  // Tasks in order of first appearance.
  const taskIndex = new Map<string, number>();
  const epTask = eps.episodes.map((e) => {
    const t = e.task ?? opts.defaultTask ?? "";
    if (!taskIndex.has(t)) taskIndex.set(t, taskIndex.size);
    return t;
  });

  // Frame table, episode after episode.
  const state: Float32Array[] = [];
  const action: Float32Array[] = [];
  const timestamp = new Float32Array(total);
  const frameIndex = new Array<number>(total);
  const episodeIndex = new Array<number>(total);
  const index = new Array<number>(total);
  const taskIdx = new Array<number>(total);
  const from: number[] = [];
  let g = 0;
  eps.episodes.forEach((e, i) => {
    from.push(g);
    for (let t = 0; t < e.length; t++, g++) {
      state.push(e.state.subarray(t * D, (t + 1) * D));
      action.push(e.action.subarray(t * A, (t + 1) * A));
      timestamp[g] = t / fps;
      frameIndex[g] = t;
      episodeIndex[g] = i;
      index[g] = g;
      taskIdx[g] = taskIndex.get(epTask[i])!;
    }
  });

  const files = new Map<string, Uint8Array>();
  files.set(
    DATA_FILE,
    encodeParquet([
      { name: stateKey, kind: "float32[]", data: state },
      { name: actionKey, kind: "float32[]", data: action },
      { name: "timestamp", kind: "float32", data: timestamp },
      { name: "frame_index", kind: "int64", data: frameIndex },
      { name: "episode_index", kind: "int64", data: episodeIndex },
      { name: "index", kind: "int64", data: index },
      { name: "task_index", kind: "int64", data: taskIdx },
    ]),
  );

  const n = eps.episodes.length;
  const zeros = new Array<number>(n).fill(0);
  const episodeColumns: ParquetColumn[] = [
    { name: "episode_index", kind: "int64", data: eps.episodes.map((_, i) => i) },
    { name: "tasks", kind: "string[]", data: epTask.map((t) => [t]) },
    { name: "length", kind: "int64", data: eps.episodes.map((e) => e.length) },
    { name: "data/chunk_index", kind: "int64", data: zeros },
    { name: "data/file_index", kind: "int64", data: zeros },
    { name: "dataset_from_index", kind: "int64", data: from },
    {
      name: "dataset_to_index",
      kind: "int64",
      data: from.map((f, i) => f + eps.episodes[i].length),
    },
    { name: "meta/episodes/chunk_index", kind: "int64", data: zeros },
    { name: "meta/episodes/file_index", kind: "int64", data: zeros },
  ];
  files.set(EPISODES_FILE, encodeParquet(episodeColumns));

  const tasks = [...taskIndex.keys()];
  files.set(
    "meta/tasks.parquet",
    encodeParquet(
      [
        { name: "task_index", kind: "int64", data: tasks.map((_, i) => i) },
        { name: "task", kind: "string", data: tasks },
      ],
      [{ key: "pandas", value: JSON.stringify(pandasTaskIndex()) }],
    ),
  );

  const scalar = (values: ArrayLike<number>): FeatureStats => computeFeatureStats([values], 1);
  const stats: Record<string, FeatureStats> = {
    [stateKey]: computeFeatureStats(eps.episodes.map((e) => e.state), D),
    [actionKey]: computeFeatureStats(eps.episodes.map((e) => e.action), A),
    timestamp: scalar(timestamp),
    frame_index: scalar(frameIndex),
    episode_index: scalar(episodeIndex),
    index: scalar(index),
    task_index: scalar(taskIdx),
  };
  const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v, null, 4) + "\n");
  files.set("meta/stats.json", json(stats));

  const vec = (dim: number, names?: string[]) => ({
    dtype: "float32",
    shape: [dim],
    names: names?.length === dim ? names : null,
  });
  const int = { dtype: "int64", shape: [1], names: null };
  files.set(
    "meta/info.json",
    json({
      codebase_version: "v3.0",
      robot_type: opts.robotType ?? null,
      total_episodes: n,
      total_frames: total,
      total_tasks: tasks.length,
      chunks_size: 1000,
      data_files_size_in_mb: 100,
      video_files_size_in_mb: 200,
      fps,
      splits: { train: `0:${n}` },
      data_path: DATA_PATH,
      video_path: null,
      features: {
        [stateKey]: vec(D, eps.stateNames),
        [actionKey]: vec(A, eps.actionNames),
        timestamp: { dtype: "float32", shape: [1], names: null },
        frame_index: int,
        episode_index: int,
        index: int,
        task_index: int,
      },
    }),
  );

  await writeDirAtomic(dir, files, opts.overwrite ?? false);
}

/**
 * The `pandas` metadata pandas writes for LeRobot's tasks frame, whose index is the task text:
 * with it, `pd.read_parquet("meta/tasks.parquet")` is indexed by task as LeRobot expects.
 */
function pandasTaskIndex() {
  const col = (name: string, pandas_type: string, numpy_type: string) => ({
    name,
    field_name: name,
    pandas_type,
    numpy_type,
    metadata: null,
  });
  return {
    index_columns: ["task"],
    column_indexes: [
      {
        name: null,
        field_name: null,
        pandas_type: "unicode",
        numpy_type: "object",
        metadata: null,
      },
    ],
    columns: [col("task_index", "int64", "int64"), col("task", "unicode", "object")],
    creator: { library: "pyarrow", version: "" },
    pandas_version: "2.2.3",
  };
}

/** Throws unless every episode's arrays match its length and the widths, with finite values. */
function validate(eps: RobotEpisodes): void {
  const fail = (m: string): never => {
    throw new Error(`Cannot write dataset ${eps.name}: ${m}`);
  };
  if (!(eps.fps > 0)) fail("fps must be positive");
  if (!eps.stateKey || !eps.actionKey || eps.stateKey === eps.actionKey) {
    fail("stateKey and actionKey must be two different names");
  }
  for (const k of [eps.stateKey, eps.actionKey]) {
    if (["timestamp", "frame_index", "episode_index", "index", "task_index"].includes(k)) {
      fail(`feature name '${k}' is one of LeRobot's own frame columns`);
    }
  }
  if (!(eps.stateDim >= 1 && eps.actionDim >= 1)) fail("stateDim and actionDim must be >= 1");
  if (eps.episodes.length === 0) fail("no episodes");
  eps.episodes.forEach((e, i) => {
    if (!Number.isInteger(e.length) || e.length < 1) fail(`episode ${i} has no frames`);
    if (e.state.length !== e.length * eps.stateDim) {
      fail(`episode ${i} state has ${e.state.length} values, expected ${e.length * eps.stateDim}`);
    }
    if (e.action.length !== e.length * eps.actionDim) {
      fail(
        `episode ${i} action has ${e.action.length} values, expected ${e.length * eps.actionDim}`,
      );
    }
    for (const [name, a] of [["state", e.state], ["action", e.action]] as const) {
      const bad = a.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) fail(`episode ${i} ${name} value ${bad} is not finite (${a[bad]})`);
    }
  });
}
