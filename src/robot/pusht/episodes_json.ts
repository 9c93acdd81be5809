/**
 * Robot episodes as one JSON file (typed arrays as number arrays): the hand-off format of
 * `deno task pusht:collect` until its output goes through the LeRobot writer.
 */
import type { RobotEpisodes } from "../../data/robot.ts";
import { writeFileAtomic } from "../../io/atomic.ts";

/** Writes `eps` to `path` atomically as JSON. */
export async function writeEpisodesJson(path: string, eps: RobotEpisodes): Promise<void> {
  const plain = {
    ...eps,
    episodes: eps.episodes.map((e) => ({
      ...e,
      state: Array.from(e.state),
      action: Array.from(e.action),
    })),
  };
  await writeFileAtomic(path, new TextEncoder().encode(JSON.stringify(plain)));
}

/** Reads a file written by {@linkcode writeEpisodesJson}; throws naming the file and field on bad input. */
export async function readEpisodesJson(path: string): Promise<RobotEpisodes> {
  const fail = (m: string): never => {
    throw new Error(`${path}: ${m}`);
  };
  let raw: unknown;
  try {
    raw = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    return fail(`cannot read JSON (${(e as Error).message})`);
  }
  const r = raw as Record<string, unknown>;
  const int = (v: unknown, name: string): number =>
    Number.isInteger(v) && (v as number) > 0
      ? v as number
      : fail(`${name} must be a positive integer`);
  const stateDim = int(r.stateDim, "stateDim"), actionDim = int(r.actionDim, "actionDim");
  int(r.fps, "fps");
  for (const k of ["name", "stateKey", "actionKey"]) {
    if (typeof r[k] !== "string") fail(`${k} must be a string`);
  }
  if (!Array.isArray(r.episodes)) fail("episodes must be an array");
  const episodes = (r.episodes as Record<string, unknown>[]).map((e, i) => {
    const length = int(e.length, `episodes[${i}].length`);
    const vec = (v: unknown, n: number, name: string): Float32Array =>
      Array.isArray(v) && v.length === n && v.every(Number.isFinite)
        ? Float32Array.from(v as number[])
        : fail(`episodes[${i}].${name} must be ${n} finite numbers`);
    return {
      index: Number.isInteger(e.index)
        ? e.index as number
        : fail(`episodes[${i}].index must be an integer`),
      length,
      state: vec(e.state, length * stateDim, "state"),
      action: vec(e.action, length * actionDim, "action"),
      ...(typeof e.task === "string" ? { task: e.task } : {}),
    };
  });
  const stats = r.stats as RobotEpisodes["stats"] | undefined;
  const mm = (m: unknown, n: number, name: string) => {
    const o = m as { min?: unknown; max?: unknown } | undefined;
    if (
      !Array.isArray(o?.min) || !Array.isArray(o?.max) || o.min.length !== n || o.max.length !== n
    ) {
      fail(`stats.${name} must have min and max of ${n} numbers`);
    }
  };
  mm(stats?.state, stateDim, "state");
  mm(stats?.action, actionDim, "action");
  return { ...(r as unknown as RobotEpisodes), episodes };
}
