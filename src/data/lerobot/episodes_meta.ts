/**
 * The episode list of a LeRobot dataset, from either layout: codebase v3.0's
 * `meta/episodes/chunk-*\/file-*.parquet` or v2.x's `meta/episodes.jsonl`. Both become one list of
 * {@linkcode EpisodeEntry}: which data file holds each episode and how many frames it has.
 */
import { formatTemplate, type LeRobotInfo } from "./info.ts";
import { intCell, readDatasetFile, readParquetColumns } from "./parquet.ts";

/** One episode as the metadata describes it. */
export interface EpisodeEntry {
  /** `episode_index`. */
  index: number;
  /** Frames. */
  length: number;
  /** First task text, when given. */
  task?: string;
  /** Data file holding the episode, relative to the dataset folder. */
  file: string;
  /** Global index of the first frame (`dataset_from_index`, v3.0), when given. */
  from?: number;
  /** Global index past the last frame (`dataset_to_index`, v3.0), when given. */
  to?: number;
}

/** Sorted relative paths of `meta/episodes/chunk-*\/file-*.parquet`. */
async function listEpisodeFiles(root: string): Promise<string[]> {
  const dir = `${root}/meta/episodes`;
  const out: string[] = [];
  try {
    for await (const chunk of Deno.readDir(dir)) {
      if (!chunk.isDirectory || !/^chunk-\d+$/.test(chunk.name)) continue;
      for await (const f of Deno.readDir(`${dir}/${chunk.name}`)) {
        if (f.isFile && /^file-\d+\.parquet$/.test(f.name)) {
          out.push(`meta/episodes/${chunk.name}/${f.name}`);
        }
      }
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(`LeRobot dataset ${root}: missing folder meta/episodes`);
    }
    throw e;
  }
  if (out.length === 0) {
    throw new Error(`LeRobot dataset ${root}: no meta/episodes/chunk-*/file-*.parquet files`);
  }
  return out.sort();
}

/** Episodes of a codebase v3.0 dataset, in `episode_index` order. */
export async function readEpisodesV3(root: string, info: LeRobotInfo): Promise<EpisodeEntry[]> {
  const entries: EpisodeEntry[] = [];
  for (const rel of await listEpisodeFiles(root)) {
    const where = `${root}/${rel}`;
    const { rows, columns: c } = await readParquetColumns(
      root,
      rel,
      ["episode_index", "length", "data/chunk_index", "data/file_index"],
      ["tasks", "dataset_from_index", "dataset_to_index"],
    );
    for (let r = 0; r < rows; r++) {
      const int = (col: string) => intCell(c[col][r], where, col, r);
      const tasks = c.tasks?.[r];
      const task = Array.isArray(tasks) && typeof tasks[0] === "string" ? tasks[0] : undefined;
      const file = formatTemplate(info.data_path, {
        chunk_index: int("data/chunk_index"),
        file_index: int("data/file_index"),
      });
      entries.push({
        index: int("episode_index"),
        length: int("length"),
        task,
        file,
        from: c.dataset_from_index ? int("dataset_from_index") : undefined,
        to: c.dataset_to_index ? int("dataset_to_index") : undefined,
      });
    }
  }
  return sortChecked(entries, `${root}/meta/episodes`);
}

/** Parses a JSON-lines file, naming file and line on a malformed line. */
export async function readJsonLines(root: string, rel: string): Promise<Record<string, unknown>[]> {
  const text = new TextDecoder().decode(await readDatasetFile(root, rel));
  const out: Record<string, unknown>[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    try {
      out.push(JSON.parse(line));
    } catch (e) {
      throw new Error(`${root}/${rel}: line ${i + 1} is not JSON (${(e as Error).message})`);
    }
  });
  return out;
}

/** Episodes of a codebase v2.x dataset (`meta/episodes.jsonl`), in `episode_index` order. */
export async function readEpisodesV2(root: string, info: LeRobotInfo): Promise<EpisodeEntry[]> {
  const rel = "meta/episodes.jsonl";
  const where = `${root}/${rel}`;
  const entries = (await readJsonLines(root, rel)).map((o, i): EpisodeEntry => {
    const index = intCell(o.episode_index, where, "episode_index", i);
    const length = intCell(o.length, where, "length", i);
    const tasks = o.tasks;
    return {
      index,
      length,
      task: Array.isArray(tasks) && typeof tasks[0] === "string" ? tasks[0] : undefined,
      file: formatTemplate(info.data_path, {
        episode_chunk: Math.floor(index / info.chunks_size),
        episode_index: index,
      }),
    };
  });
  return sortChecked(entries, where);
}

function sortChecked(entries: EpisodeEntry[], where: string): EpisodeEntry[] {
  entries.sort((a, b) => a.index - b.index);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    if (e.index < 0 || e.length < 0) {
      throw new Error(`${where}: episode ${e.index} has a negative index or length`);
    }
    if (i > 0 && entries[i - 1].index === e.index) {
      throw new Error(`${where}: episode ${e.index} is listed twice`);
    }
    if (e.from !== undefined && e.to !== undefined && e.to - e.from !== e.length) {
      throw new Error(
        `${where}: episode ${e.index} has length ${e.length} but dataset_from_index..` +
          `dataset_to_index ${e.from}..${e.to}`,
      );
    }
  }
  return entries;
}
