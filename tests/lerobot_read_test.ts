/**
 * readLeRobot() against datasets written by pyarrow (tests/fixtures/lerobot/make_fixtures.py, the
 * values it wrote in expected.json), and every named error case on corrupted copies.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { checkWidths } from "../src/data/lerobot/check.ts";
import { readParquetColumns } from "../src/data/lerobot/parquet.ts";
import { EPISODE_PLACEMENT_COLUMNS, EPISODES_META } from "./_lerobot.ts";
import { encodeParquet, type ParquetColumn } from "../src/data/lerobot/parquet_write.ts";
import { readLeRobot } from "../src/data/lerobot/read.ts";
import type { RobotEpisodes } from "../src/data/robot.ts";

const FIXTURES = fileURLToPath(new URL("./fixtures/lerobot/", import.meta.url));

interface Expected {
  episodes: {
    index: number;
    length: number;
    task: string;
    state: number[][];
    action: number[][];
  }[];
  stats: { state: { min: number[]; max: number[] }; action: { min: number[]; max: number[] } };
  stateNames: string[];
  actionNames: string[];
}

function expected(name: string): Expected {
  return JSON.parse(Deno.readTextFileSync(`${FIXTURES}${name}/expected.json`));
}

/** Compares episodes with the script's values: float32 cells exactly (after rounding to f32). */
function assertMatches(eps: RobotEpisodes, exp: Expected, indices?: number[]) {
  const want = exp.episodes.filter((e) => !indices || indices.includes(e.index));
  assert.equal(eps.episodes.length, want.length);
  eps.episodes.forEach((e, i) => {
    const w = want[i];
    assert.equal(e.index, w.index);
    assert.equal(e.length, w.length);
    assert.equal(e.task, w.task);
    assert.deepEqual(Array.from(e.state), w.state.flat().map(Math.fround));
    assert.deepEqual(Array.from(e.action), w.action.flat().map(Math.fround));
  });
}

/** Copies a fixture into a fresh temp dir (removed by the caller's finally). */
async function copyFixture(name: string): Promise<string> {
  const dst = await Deno.makeTempDir({ prefix: `lerobot_${name}_` });
  const copy = async (from: string, to: string) => {
    for await (const e of Deno.readDir(from)) {
      if (e.isDirectory) {
        await Deno.mkdir(`${to}/${e.name}`);
        await copy(`${from}/${e.name}`, `${to}/${e.name}`);
      } else await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
    }
  };
  await copy(`${FIXTURES}${name}`, dst);
  return dst;
}

const FRAME_KINDS: Record<string, ParquetColumn["kind"]> = {
  "observation.state": "float32[]",
  action: "float32[]",
  timestamp: "float32",
  frame_index: "int64",
  episode_index: "int64",
  index: "int64",
  task_index: "int64",
};

/** Reads a v3.0 data file's frame rows, lets `edit` change them, and writes them back. */
async function editFrames(
  dir: string,
  rel: string,
  edit: (rows: Record<string, unknown>[]) => Record<string, unknown>[],
) {
  const names = Object.keys(FRAME_KINDS);
  const { rows, columns } = await readParquetColumns(dir, rel, names);
  const list = Array.from({ length: rows }, (_, r) => {
    const o: Record<string, unknown> = {};
    for (const n of names) o[n] = columns[n][r];
    return o;
  });
  const edited = edit(list);
  const cols = names.map((n) =>
    ({ name: n, kind: FRAME_KINDS[n], data: edited.map((r) => r[n]) }) as ParquetColumn
  );
  await Deno.writeFile(`${dir}/${rel}`, encodeParquet(cols));
}

/** Runs `body` on a corrupted copy of fixture `name` and expects readLeRobot to throw `re`. */
async function expectError(
  name: string,
  corrupt: (dir: string) => Promise<void>,
  re: RegExp,
  opts: Parameters<typeof readLeRobot>[1] = {},
) {
  const dir = await copyFixture(name);
  try {
    await corrupt(dir);
    await assert.rejects(readLeRobot(dir, opts), re);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const DATA = "data/chunk-000/file-000.parquet";

Deno.test("readLeRobot() reads a pyarrow v3.0 dataset with the values the script wrote", async () => {
  const exp = expected("v30");
  const warnings: string[] = [];
  const eps = await readLeRobot(`${FIXTURES}v30`, { onWarning: (m) => warnings.push(m) });
  assert.equal(eps.name, "v30");
  assert.equal(eps.fps, 10);
  assert.equal(eps.stateKey, "observation.state");
  assert.equal(eps.actionKey, "action");
  assert.equal(eps.stateDim, 3);
  assert.equal(eps.actionDim, 2);
  assert.deepEqual(eps.stateNames, exp.stateNames);
  assert.deepEqual(eps.actionNames, exp.actionNames);
  assertMatches(eps, exp);
  assert.deepEqual(eps.stats, exp.stats);
  assert.equal(eps.skipped, undefined);
  assert.deepEqual(warnings, []);
});

Deno.test("readLeRobot() reads a pyarrow v2.1 dataset (fixed_size_list, float64, zstd)", async () => {
  const exp = expected("v21");
  const eps = await readLeRobot(`${FIXTURES}v21`);
  assert.equal(eps.stateDim, 3);
  assert.equal(eps.actionDim, 2);
  assert.deepEqual(eps.stateNames, exp.stateNames);
  assertMatches(eps, exp);
  // episodes_stats.jsonl aggregated: float64 action bounds kept at float64.
  assert.deepEqual(eps.stats, exp.stats);
});

Deno.test("readLeRobot() skips image and video features and names them", async () => {
  const warnings: string[] = [];
  const eps = await readLeRobot(`${FIXTURES}v30_image`, { onWarning: (m) => warnings.push(m) });
  assert.deepEqual(eps.skipped, ["observation.image", "observation.images.top"]);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /observation\.image \(image\), observation\.images\.top \(video\)/);
  assertMatches(eps, expected("v30_image"));
  await assert.rejects(
    readLeRobot(`${FIXTURES}v30_image`, { stateKey: "observation.image" }),
    /feature 'observation\.image' is image data/,
  );
});

Deno.test("readLeRobot() reads a subset of episodes, in ascending order", async () => {
  const exp = expected("v30");
  const eps = await readLeRobot(`${FIXTURES}v30`, { episodes: [2, 0] });
  assertMatches(eps, exp, [0, 2]);
  // stats.json covers the whole dataset, whatever subset is read.
  assert.deepEqual(eps.stats, exp.stats);
  await assert.rejects(
    readLeRobot(`${FIXTURES}v30`, { episodes: [3] }),
    /episode 3 is not in the dataset \(3 episodes, indices 0\.\.2\)/,
  );
});

Deno.test("readLeRobot() computes min/max from the frames without stored stats", async () => {
  for (const name of ["v30", "v21"]) {
    const dir = await copyFixture(name);
    try {
      await Deno.remove(`${dir}/meta/${name === "v30" ? "stats.json" : "episodes_stats.jsonl"}`);
      const exp = expected(name);
      const eps = await readLeRobot(dir, { episodes: [1] });
      const e = exp.episodes[1];
      const col = (rows: number[][], c: number) => rows.map((r) => Math.fround(r[c]));
      assert.deepEqual(eps.stats.state.min, [0, 1, 2].map((c) => Math.min(...col(e.state, c))));
      assert.deepEqual(eps.stats.state.max, [0, 1, 2].map((c) => Math.max(...col(e.state, c))));
      assert.deepEqual(eps.stats.action.min, [0, 1].map((c) => Math.min(...col(e.action, c))));
      assert.deepEqual(eps.stats.action.max, [0, 1].map((c) => Math.max(...col(e.action, c))));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test("readLeRobot() takes min/max from stats.json when present", async () => {
  const dir = await copyFixture("v30");
  try {
    const path = `${dir}/meta/stats.json`;
    const stats = JSON.parse(await Deno.readTextFile(path));
    stats.action.min = [-1, -2];
    stats.action.max = [600, 700];
    await Deno.writeTextFile(path, JSON.stringify(stats));
    const eps = await readLeRobot(dir);
    assert.deepEqual(eps.stats.action, { min: [-1, -2], max: [600, 700] });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("checkWidths() names the dataset, feature and both widths", async () => {
  const eps = await readLeRobot(`${FIXTURES}v30`);
  checkWidths(eps, { stateDim: 3, actionDim: 2 });
  assert.throws(
    () => checkWidths(eps, { stateDim: 5, actionDim: 2 }),
    /^Error: dataset v30 has observation\.state of width 3, the checkpoint expects 5$/,
  );
  assert.throws(
    () => checkWidths(eps, { stateDim: 3, actionDim: 7 }),
    /dataset v30 has action of width 2, the checkpoint expects 7/,
  );
});

Deno.test("readLeRobot() errors: missing feature in info.json or in the data file", async () => {
  await expectError(
    "v30",
    async (d) => {
      const p = `${d}/meta/info.json`;
      const info = JSON.parse(await Deno.readTextFile(p));
      delete info.features.action;
      await Deno.writeTextFile(p, JSON.stringify(info));
    },
    /meta\/info\.json: no feature 'action' \(features: observation\.state, timestamp/,
  );
  await expectError(
    "v30",
    async (d) => {
      const p = `${d}/meta/info.json`;
      const info = JSON.parse(await Deno.readTextFile(p));
      info.features["observation.velocity"] = { dtype: "float32", shape: [3], names: null };
      await Deno.writeTextFile(p, JSON.stringify(info));
    },
    /data\/chunk-000\/file-000\.parquet: no column 'observation\.velocity'/,
    { stateKey: "observation.velocity" },
  );
});

Deno.test("readLeRobot() errors: a ragged vector row names file, column and row", async () => {
  await expectError(
    "v30",
    (d) =>
      editFrames(d, DATA, (rows) => {
        rows[7]["observation.state"] = [1, 2];
        return rows;
      }),
    /file-000\.parquet: column 'observation\.state' row 7 has 2 values, info\.json shape says 3/,
  );
  await expectError(
    "v30",
    async (d) => {
      const p = `${d}/meta/info.json`;
      const info = JSON.parse(await Deno.readTextFile(p));
      info.features.action.shape = [3];
      await Deno.writeTextFile(p, JSON.stringify(info));
    },
    /column 'action' row 0 has 2 values, info\.json shape says 3/,
  );
});

Deno.test("readLeRobot() errors: non-finite values", async () => {
  for (const bad of [NaN, Infinity]) {
    await expectError(
      "v30",
      (d) =>
        editFrames(d, DATA, (rows) => {
          (rows[4].action as number[])[1] = bad;
          return rows;
        }),
      new RegExp(`file-000\\.parquet: column 'action' row 4 channel 1 is not finite \\(${bad}\\)`),
    );
  }
});

Deno.test("readLeRobot() errors: frames out of order", async () => {
  await expectError(
    "v30",
    (d) =>
      editFrames(d, DATA, (rows) => {
        [rows[1].frame_index, rows[2].frame_index] = [rows[2].frame_index, rows[1].frame_index];
        return rows;
      }),
    /column 'frame_index' row 1 is 2, expected 1: episode 0's frames must be 0\.\.4 in ascending/,
  );
  // The same in a v2.1 per-episode file.
  await expectError(
    "v21",
    async (d) => {
      const rel = "data/chunk-000/episode_000001.parquet";
      const { columns: c } = await readParquetColumns(d, rel, Object.keys(FRAME_KINDS));
      c.frame_index = [0, 1, 3, 2].map(BigInt);
      await Deno.writeFile(
        `${d}/${rel}`,
        encodeParquet(
          Object.keys(FRAME_KINDS).map((n) =>
            ({ name: n, kind: FRAME_KINDS[n], data: c[n] }) as ParquetColumn
          ),
        ),
      );
    },
    /episode_000001\.parquet: column 'frame_index' row 2 is 3, expected 2/,
  );
});

Deno.test("readLeRobot() errors: episodes interleaved or split against the metadata", async () => {
  // Episode 1's frames placed in the middle of episode 0's.
  await expectError(
    "v30",
    (d) =>
      editFrames(
        d,
        DATA,
        (r) => [...r.slice(0, 2), ...r.slice(5, 9), ...r.slice(2, 5), ...r.slice(9)],
      ),
    /column 'episode_index': episode 0 appears again at row 6; its frames are interleaved/,
  );
  // One frame of episode 1 dropped: its length no longer matches the episodes metadata.
  await expectError(
    "v30",
    (d) => editFrames(d, DATA, (r) => [...r.slice(0, 8), ...r.slice(9)]),
    /file-000\.parquet: episode 1 has 3 frames \(rows 5\.\.7\), the episodes metadata says 4/,
  );
  // Episode 2 moved to a second data file that the metadata does not name.
  await expectError(
    "v30",
    async (d) => {
      await editFrames(d, DATA, (r) => r.slice(0, 9));
      await Deno.copyFile(`${FIXTURES}v30/${DATA}`, `${d}/data/chunk-000/file-001.parquet`);
      await editFrames(d, "data/chunk-000/file-001.parquet", (r) => r.slice(9));
    },
    /file-000\.parquet: no frames of episode 2, which the episodes metadata puts there/,
  );
  // Frames of an episode that the metadata puts in another file.
  await expectError(
    "v30",
    async (d) => {
      const rel = EPISODES_META;
      const names = EPISODE_PLACEMENT_COLUMNS;
      const { columns: c } = await readParquetColumns(d, rel, names);
      c["data/file_index"] = [0n, 0n, 1n];
      const kind = (n: string) => (n === "tasks" ? "string[]" : "int64");
      await Deno.writeFile(
        `${d}/${rel}`,
        encodeParquet(
          names.map((n) => ({ name: n, kind: kind(n), data: c[n] }) as ParquetColumn),
        ),
      );
      await Deno.copyFile(`${d}/${DATA}`, `${d}/data/chunk-000/file-001.parquet`);
    },
    /file-000\.parquet: column 'episode_index' rows 9\.\.14 hold episode 2, which the episodes metadata puts in data\/chunk-000\/file-001\.parquet/,
  );
  // A global index that disagrees with dataset_from_index.
  await expectError(
    "v30",
    (d) =>
      editFrames(d, DATA, (r) => {
        r[6].index = 99n;
        return r;
      }),
    /column 'index' row 6 is 99, expected 6 \(episode 1 spans dataset_from_index 5\.\.9\)/,
  );
  // An episode the metadata does not list at all.
  await expectError(
    "v30",
    (d) =>
      editFrames(d, DATA, (r) => {
        for (const row of r.slice(9)) row.episode_index = 7n;
        return r;
      }),
    /rows 9\.\.14 hold episode 7, which the episodes metadata does not list/,
  );
});

Deno.test("readLeRobot() errors: missing files name the file", async () => {
  await expectError(
    "v30",
    (d) => Deno.remove(`${d}/${DATA}`),
    /missing file data\/chunk-000\/file-000\.parquet/,
  );
  await expectError(
    "v30",
    (d) => Deno.remove(`${d}/meta/info.json`),
    /missing file meta\/info\.json/,
  );
  await expectError(
    "v30",
    (d) => Deno.remove(`${d}/meta/episodes`, { recursive: true }),
    /missing folder meta\/episodes/,
  );
  await expectError(
    "v21",
    (d) => Deno.remove(`${d}/data/chunk-000/episode_000001.parquet`),
    /missing file data\/chunk-000\/episode_000001\.parquet/,
  );
  await expectError(
    "v21",
    (d) => Deno.remove(`${d}/meta/episodes.jsonl`),
    /missing file meta\/episodes\.jsonl/,
  );
  await expectError(
    "v30",
    (d) => Deno.writeTextFile(`${d}/${DATA}`, "not parquet"),
    /file-000\.parquet: not a readable Parquet file/,
  );
});

Deno.test("readLeRobot() errors: malformed info.json and stats", async () => {
  await expectError(
    "v30",
    async (d) => {
      const p = `${d}/meta/info.json`;
      const info = JSON.parse(await Deno.readTextFile(p));
      info.codebase_version = "v1.6";
      await Deno.writeTextFile(p, JSON.stringify(info));
    },
    /info\.json: codebase_version 'v1\.6' is not supported/,
  );
  await expectError(
    "v30",
    async (d) => {
      const p = `${d}/meta/stats.json`;
      const s = JSON.parse(await Deno.readTextFile(p));
      s["observation.state"].min = [0, 1];
      await Deno.writeTextFile(p, JSON.stringify(s));
    },
    /stats\.json: 'observation\.state\.min' must be 3 finite numbers/,
  );
});
