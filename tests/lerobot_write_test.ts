/**
 * writeLeRobot(): round trips through readLeRobot(), the v3.0 files' contents (info.json,
 * stats.json against float64 statistics computed here), and the atomic folder replacement.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { readParquetColumns } from "../src/data/lerobot/parquet.ts";
import { EPISODE_PLACEMENT_COLUMNS, EPISODES_META } from "./_lerobot.ts";
import { readLeRobot } from "../src/data/lerobot/read.ts";
import { writeLeRobot } from "../src/data/lerobot/write.ts";
import type { RobotEpisodes } from "../src/data/robot.ts";
import { Rng } from "../src/util/prng.ts";

const FIXTURES = fileURLToPath(new URL("./fixtures/lerobot/", import.meta.url));

/** Random episodes: 4 episodes of 1, 7, 3, 12 frames, two tasks and one episode without. */
function synthetic(): RobotEpisodes {
  const rng = new Rng(7);
  const D = 5, A = 2;
  const lengths = [1, 7, 3, 12];
  const tasks = ["push", undefined, "push", "lift"];
  const episodes = lengths.map((n, i) => ({
    index: 10 + i,
    length: n,
    state: Float32Array.from({ length: n * D }, () => rng.next() * 400 - 100),
    action: Float32Array.from({ length: n * A }, () => rng.next() * 512),
    ...(tasks[i] ? { task: tasks[i] } : {}),
  }));
  return {
    name: "synthetic",
    fps: 15,
    stateKey: "observation.state",
    actionKey: "action",
    stateNames: ["a", "b", "c", "d", "e"],
    actionNames: ["x", "y"],
    stateDim: D,
    actionDim: A,
    episodes,
    stats: { state: { min: [], max: [] }, action: { min: [], max: [] } },
  };
}

async function withTemp(body: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "lerobot_write_" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

Deno.test("writeLeRobot() output reads back as the same episodes", async () => {
  await withTemp(async (tmp) => {
    const src = synthetic();
    const out = `${tmp}/ds`;
    await writeLeRobot(out, src, { defaultTask: "idle" });
    const back = await readLeRobot(out);
    assert.equal(back.name, "ds");
    assert.equal(back.fps, 15);
    assert.deepEqual(back.stateNames, src.stateNames);
    assert.deepEqual(back.actionNames, src.actionNames);
    assert.equal(back.episodes.length, 4);
    back.episodes.forEach((e, i) => {
      const s = src.episodes[i];
      assert.equal(e.index, i, "episodes are numbered 0..n-1");
      assert.equal(e.length, s.length);
      assert.equal(e.task, s.task ?? "idle");
      assert.deepEqual(e.state, s.state);
      assert.deepEqual(e.action, s.action);
    });
    // stats.json min/max equal the frames' extremes.
    const all = (k: "state" | "action", dim: number, c: number) =>
      src.episodes.flatMap((e) => Array.from(e[k]).filter((_, j) => j % dim === c));
    for (let c = 0; c < 5; c++) {
      assert.equal(back.stats.state.min[c], Math.min(...all("state", 5, c)));
      assert.equal(back.stats.state.max[c], Math.max(...all("state", 5, c)));
    }
    assert.deepEqual(await names(tmp), ["ds"], "no temporary folder left beside the dataset");
  });
});

Deno.test("writeLeRobot() writes v3.0 metadata: info.json, stats.json, episodes, tasks", async () => {
  await withTemp(async (tmp) => {
    const src = synthetic();
    await writeLeRobot(tmp + "/ds", src, { robotType: "pusht" });
    const info = JSON.parse(await Deno.readTextFile(`${tmp}/ds/meta/info.json`));
    assert.equal(info.codebase_version, "v3.0");
    assert.equal(info.robot_type, "pusht");
    assert.equal(info.total_episodes, 4);
    assert.equal(info.total_frames, 23);
    assert.equal(info.total_tasks, 3);
    assert.deepEqual(info.splits, { train: "0:4" });
    assert.equal(info.data_path, "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet");
    assert.deepEqual(Object.keys(info.features), [
      "observation.state",
      "action",
      "timestamp",
      "frame_index",
      "episode_index",
      "index",
      "task_index",
    ]);
    assert.deepEqual(info.features["observation.state"], {
      dtype: "float32",
      shape: [5],
      names: ["a", "b", "c", "d", "e"],
    });

    // mean / std / count against float64 sums done here (population std, as numpy).
    const stats = JSON.parse(await Deno.readTextFile(`${tmp}/ds/meta/stats.json`));
    for (
      const [key, k, dim] of [["observation.state", "state", 5], ["action", "action", 2]] as const
    ) {
      const s = stats[key];
      assert.deepEqual(s.count, [23]);
      for (let c = 0; c < dim; c++) {
        const v = src.episodes.flatMap((e) => Array.from(e[k]).filter((_, j) => j % dim === c));
        const mean = v.reduce((a, b) => a + b, 0) / v.length;
        const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
        assert.ok(Math.abs(s.mean[c] - mean) <= 1e-12 * Math.abs(mean) + 1e-12, `${key} mean`);
        assert.ok(Math.abs(s.std[c] - std) <= 1e-12 * std + 1e-12, `${key} std`);
      }
    }
    assert.deepEqual(stats.frame_index.max, [11]);
    assert.deepEqual(stats.index.max, [22]);
    assert.deepEqual(stats.episode_index.min, [0]);

    const ep = await readParquetColumns(`${tmp}/ds`, EPISODES_META, EPISODE_PLACEMENT_COLUMNS);
    const ints = (k: string) => ep.columns[k].map(Number);
    assert.deepEqual(ints("episode_index"), [0, 1, 2, 3]);
    assert.deepEqual(ints("length"), [1, 7, 3, 12]);
    assert.deepEqual(ints("dataset_from_index"), [0, 1, 8, 11]);
    assert.deepEqual(ints("dataset_to_index"), [1, 8, 11, 23]);
    assert.deepEqual(ep.columns.tasks, [["push"], [""], ["push"], ["lift"]]);
    const tasks = await readParquetColumns(`${tmp}/ds`, "meta/tasks.parquet", [
      "task_index",
      "task",
    ]);
    assert.deepEqual(tasks.columns.task, ["push", "", "lift"]);
    assert.deepEqual(tasks.columns.task_index.map(Number), [0, 1, 2]);
    const data = await readParquetColumns(`${tmp}/ds`, "data/chunk-000/file-000.parquet", [
      "task_index",
      "timestamp",
    ]);
    assert.deepEqual(data.columns.task_index.slice(0, 9).map(Number), [0, 1, 1, 1, 1, 1, 1, 1, 0]);
    assert.equal(data.columns.timestamp[3], Math.fround(2 / 15));
  });
});

Deno.test("writeLeRobot() converts a pyarrow v2.1 dataset and a subset of a v3.0 one", async () => {
  await withTemp(async (tmp) => {
    const v21 = await readLeRobot(`${FIXTURES}v21`);
    await writeLeRobot(`${tmp}/v21_as_v30`, v21);
    const back = await readLeRobot(`${tmp}/v21_as_v30`);
    assert.deepEqual(back.episodes, v21.episodes);
    const sub = await readLeRobot(`${FIXTURES}v30`, { episodes: [0, 2] });
    await writeLeRobot(`${tmp}/sub`, sub);
    const subBack = await readLeRobot(`${tmp}/sub`);
    assert.deepEqual(subBack.episodes.map((e) => e.index), [0, 1]);
    assert.deepEqual(subBack.episodes[1].state, sub.episodes[1].state);
  });
});

Deno.test("writeLeRobot() refuses a non-empty folder unless overwrite, and replaces it whole", async () => {
  await withTemp(async (tmp) => {
    const out = `${tmp}/ds`;
    await Deno.mkdir(out);
    await Deno.writeTextFile(`${out}/keep.txt`, "mine");
    const src = synthetic();
    await assert.rejects(writeLeRobot(out, src), /ds is not empty; pass overwrite: true/);
    assert.equal(await Deno.readTextFile(`${out}/keep.txt`), "mine");
    await writeLeRobot(out, src, { overwrite: true });
    assert.deepEqual(await names(out), ["data", "meta"], "the old folder is replaced as a whole");
    assert.deepEqual(await names(tmp), ["ds"]);
    // An empty existing folder is fine without overwrite.
    await Deno.mkdir(`${tmp}/empty`);
    await writeLeRobot(`${tmp}/empty`, src);
    assert.equal((await readLeRobot(`${tmp}/empty`)).episodes.length, 4);
  });
});

Deno.test("writeLeRobot() refuses inconsistent episodes and leaves nothing behind", async () => {
  await withTemp(async (tmp) => {
    const bad = synthetic();
    bad.episodes[2].action[3] = NaN;
    await assert.rejects(
      writeLeRobot(`${tmp}/ds`, bad),
      /Cannot write dataset synthetic: episode 2 action value 3 is not finite/,
    );
    const short = synthetic();
    short.episodes[1].state = short.episodes[1].state.subarray(1);
    await assert.rejects(
      writeLeRobot(`${tmp}/ds`, short),
      /episode 1 state has 34 values, expected 35/,
    );
    assert.deepEqual(await names(tmp), []);
  });
});
