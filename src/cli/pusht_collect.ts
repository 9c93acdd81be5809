/**
 * `deno task pusht:collect`: plays the scripted Push-T expert on consecutive seeds and saves the
 * successful episodes as a LeRobot v3.0 dataset, printing the expert's success rate and average
 * max reward over every episode played.
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { intFlag, positiveFlag } from "./flags.ts";
import { collectPushT } from "../robot/pusht/collect.ts";
import { writeLeRobot } from "../data/lerobot/mod.ts";
import { PUSHT_TASK } from "../robot/pusht/collect.ts";
import { episodeGif } from "../robot/pusht/render.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { Progress } from "../util/progress.ts";

const HELP = `Usage: deno task pusht:collect [options]
  --episodes <n>   episodes to play (default 100); only the successful ones are saved
  --seed <s>       first seed (default 0); episode i is reset with seed s + i, as gym-pusht 0.1.5
  --out <dir>      dataset folder (default data/pusht): a LeRobot v3.0 dataset (observation.state
                   [agent_x, agent_y, block_x, block_y, block_angle], action [x, y], 10 fps), with
                   meta/collect.json (seeds kept, success rate, average max reward, timing,
                   max step)
  --overwrite      replace an existing dataset folder (refused otherwise, before any episode runs)
  --gif <n>        also write GIFs of the first n episodes played into <out>/gifs (default 0)
  --max-step <px>  largest move of the expert's commanded target per control step, in pixels
                   (default: unlimited, the target jumps to where the pusher should go; e.g. 25
                   gives smooth targets that lead the pusher, as in human demonstrations)
  --help           this text`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      episodes: { type: "string" },
      seed: { type: "string" },
      out: { type: "string", default: "data/pusht" },
      gif: { type: "string" },
      "max-step": { type: "string" },
      overwrite: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const episodes = intFlag(values.episodes, "episodes", 100, 1);
  const seed = intFlag(values.seed, "seed", 0, 0);
  const gifs = intFlag(values.gif, "gif", 0, 0);
  const maxStep = positiveFlag(values["max-step"], "max-step");
  const out = values.out!;
  if (!values.overwrite && !isEmptyOrMissing(out)) {
    throw new Error(`${out} exists and is not empty (--overwrite replaces it)`);
  }
  const gifFrames: { seed: number; states: NonNullable<Parameters<typeof episodeGif>[0]> }[] = [];
  const progress = new Progress({ total: episodes, label: "pusht:collect", every: 10 });
  let ok = 0;
  const t0 = performance.now();
  const result = await collectPushT({
    episodes,
    seed,
    keepStates: gifs,
    expert: { maxStep },
    onEpisode: (done, ep) => {
      if (ep.success) ok++;
      if (ep.states) gifFrames.push({ seed: ep.seed, states: ep.states });
      progress.update(done, { extra: { success: `${ok}/${done}`, len: ep.length } });
    },
  });
  progress.done();
  const seconds = (performance.now() - t0) / 1000;
  if (!result.dataset.episodes.length) throw new Error("The expert succeeded on no episode");
  await writeLeRobot(out, result.dataset, {
    overwrite: values.overwrite,
    robotType: "pusht",
    defaultTask: PUSHT_TASK,
  });
  const report = {
    played: result.played,
    firstSeed: seed,
    kept: result.dataset.episodes.length,
    frames: result.frames,
    successRate: result.successRate,
    averageMaxReward: result.averageMaxReward,
    seconds,
    maxStep: maxStep ?? null,
    seeds: result.seeds,
  };
  await writeFileAtomic(
    join(out, "meta", "collect.json"),
    new TextEncoder().encode(JSON.stringify(report, null, 1)),
  );
  console.log(
    `expert: success ${(100 * result.successRate).toFixed(1)}% (${ok}/${episodes}), ` +
      `average max reward ${result.averageMaxReward.toFixed(4)}, ${result.frames} frames kept, ` +
      `${seconds.toFixed(1)} s (${
        (seconds / episodes).toFixed(2)
      } s/episode); wrote ${out}/ (LeRobot v3.0)`,
  );
  if (gifFrames.length) {
    await Deno.mkdir(join(out, "gifs"), { recursive: true });
    for (const g of gifFrames) {
      await writeFileAtomic(join(out, "gifs", `episode_seed${g.seed}.gif`), episodeGif(g.states));
    }
  }
  return 0;
}

function isEmptyOrMissing(dir: string): boolean {
  try {
    for (const _ of Deno.readDirSync(dir)) return false;
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return true;
    throw e;
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (e) {
    console.error(`pusht:collect: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
