/**
 * `deno task eval:pusht`: closed-loop evaluation of a Push-T policy over openpi (a checkpoint
 * served by a server started here, or a running server), or of the scripted expert, on fixed
 * seeds. Prints a table per episode, a summary and, as its last line, one JSON object.
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { intFlag } from "./flags.ts";
import { PushTEnv } from "../robot/pusht/env.ts";
import {
  type ChunkPolicy,
  evaluatePushT,
  expertChunkPolicy,
  openpiChunkPolicy,
} from "../robot/pusht/eval.ts";
import { formatSummary, formatTable, jsonLine } from "../robot/pusht/eval_report.ts";
import { episodeGif } from "../robot/pusht/render.ts";
import { connectPolicy, type PolicyClient } from "../server/policy_client.ts";
import { type ServerProcess, startServerProcess } from "../robot/policy_server.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { Progress } from "../util/progress.ts";

/** Where the shipped Push-T policy lives, relative to the repository root. */
export const SHIPPED_POLICY = "examples/pusht/policy";

const HELP = `Usage: deno task eval:pusht [options]

Evaluates a Push-T policy in closed loop over openpi: per episode the max reward and success,
then the success rate (95% Wilson interval), the average max reward and the inference round trip
per chunk (p50/p99). The last line printed is one JSON object.

  --ckpt <dir>      policy run/checkpoint to serve (a server is started on 127.0.0.1 and stopped)
  --url <ws://...>  a running openpi policy server instead
  (neither)         the shipped policy, ${SHIPPED_POLICY}
  --expert          the scripted expert instead of a policy (no server)
  --episodes <n>    episodes (default 50)
  --seed <s>        first seed (default 0): seeds s .. s+n-1; the shipped demonstrations use
                    seeds from 100000, keep evaluation seeds below that
  --max-steps <n>   control steps per episode (default 300)
  --realtime        advance the simulation on the wall clock at 10 Hz and request the next chunk
                    while the current one executes; ticks with no action ready count as late
  --lookahead <k>   real time: request the next chunk at the start of the current one's last k
                    actions (default: from the recent round trips, 20% margin)
  --gif <dir>       write a GIF per episode into <dir> (episode_seed<S>.gif)
  --api-key <k>     Api-Key sent to --url's server
  --server-seed <n> seed of the started server's sampling (default 0; 'none' for random)
  --sampler <name>  sampler of the started server (default: the policy's)
  --steps <n>       sampling steps of the started server (default: the policy's)
  -h, --help        this text`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      ckpt: { type: "string" },
      url: { type: "string" },
      expert: { type: "boolean", default: false },
      episodes: { type: "string" },
      seed: { type: "string" },
      "max-steps": { type: "string" },
      realtime: { type: "boolean", default: false },
      lookahead: { type: "string" },
      gif: { type: "string" },
      "api-key": { type: "string" },
      "server-seed": { type: "string" },
      sampler: { type: "string" },
      steps: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const episodes = intFlag(values.episodes, "episodes", 50, 1);
  const seed = intFlag(values.seed, "seed", 0, 0);
  const maxSteps = intFlag(values["max-steps"], "max-steps", 300, 1);
  const lookahead = values.lookahead === undefined
    ? undefined
    : intFlag(values.lookahead, "lookahead", 1, 1);
  const sources = [values.ckpt && "--ckpt", values.url && "--url", values.expert && "--expert"]
    .filter(Boolean);
  if (sources.length > 1) throw new Error(`Give one of ${sources.join(", ")}`);
  if (values.expert && values.realtime) {
    throw new Error("--realtime needs a served policy (the expert plans in the simulator itself)");
  }
  const own = !values.expert && !values.url;
  if (!own && (values["server-seed"] || values.sampler || values.steps)) {
    throw new Error("--server-seed, --sampler and --steps apply to a server started here");
  }
  if (values.url && !/^(ws|wss|http|https):\/\//.test(values.url)) {
    throw new Error(`--url must be ws://host:port, got "${values.url}"`);
  }
  let ckpt = values.ckpt;
  if (own && !ckpt) {
    const shipped = new URL(`../../${SHIPPED_POLICY}`, import.meta.url).pathname;
    if (!exists(shipped)) {
      throw new Error(
        `No shipped policy: ${SHIPPED_POLICY} does not exist; pass --ckpt <policy run> or ` +
          `--url ws://host:port, or --expert`,
      );
    }
    ckpt = shipped;
  } else if (ckpt && !exists(ckpt)) throw new Error(`--ckpt ${ckpt}: no such file or directory`);

  const env = await PushTEnv.create({ maxSteps });
  let server: ServerProcess | null = null;
  let client: PolicyClient | null = null;
  try {
    let policy: ChunkPolicy;
    let source: string;
    if (values.expert) {
      policy = expertChunkPolicy(env);
      source = "expert";
    } else {
      let url = values.url;
      if (!url) {
        const flags = ["--ckpt", ckpt!];
        const serverSeed = values["server-seed"] ?? "0";
        if (serverSeed !== "none") {
          flags.push("--seed", String(intFlag(serverSeed, "server-seed", 0)));
        }
        if (values.sampler) flags.push("--sampler", values.sampler);
        if (values.steps) flags.push("--steps", String(intFlag(values.steps, "steps", 1, 1)));
        console.error(`eval:pusht: starting a policy server for ${ckpt}`);
        server = await startServerProcess(flags, { timeoutMs: 180_000 });
        stopOnSignal(server);
        url = server.url.replace(/^http/, "ws");
      }
      client = await connectPolicy(url, { apiKey: values["api-key"] });
      policy = openpiChunkPolicy(client, ckpt ?? url);
      source = ckpt ?? url;
    }
    if (values.gif) await Deno.mkdir(values.gif, { recursive: true });
    const progress = new Progress({
      total: episodes,
      label: "eval:pusht",
      every: 1,
      sink: stderrSink(),
    });
    let ok = 0, rewardSum = 0;
    const t0 = performance.now();
    const { episodes: results, summary } = await evaluatePushT(env, policy, {
      episodes,
      seed,
      realtime: values.realtime,
      lookahead,
      keepStates: values.gif !== undefined,
      onEpisode: async (done, ep) => {
        ok += ep.success ? 1 : 0;
        rewardSum += ep.maxReward;
        progress.update(done, {
          extra: { success: `${ok}/${done}`, avg_max_reward: (rewardSum / done).toFixed(3) },
        });
        if (values.gif && ep.states) {
          await writeFileAtomic(
            join(values.gif, `episode_seed${ep.seed}.gif`),
            episodeGif(ep.states),
          );
          delete ep.states;
        }
      },
    });
    progress.done();
    const seconds = (performance.now() - t0) / 1000;
    console.log(
      `Push-T evaluation of ${source}, seeds ${seed}..${seed + episodes - 1}, ` +
        `${
          values.realtime ? "real time at 10 Hz" : "lockstep"
        }, n_obs_steps ${policy.nObsSteps}, ` +
        `n_action_steps ${policy.nActionSteps}, horizon ${policy.horizon}`,
    );
    console.log(formatTable(results, values.realtime));
    console.log(formatSummary(summary, values.realtime));
    console.log(jsonLine(summary, {
      policy: source,
      seed,
      realtime: values.realtime,
      max_steps: maxSteps,
      n_obs_steps: policy.nObsSteps,
      n_action_steps: policy.nActionSteps,
      horizon: policy.horizon,
      seconds: Number(seconds.toFixed(2)),
    }));
    return 0;
  } finally {
    await client?.close().catch(() => {});
    await server?.stop();
    env.close();
  }
}

/** An interrupted evaluation stops the server it started before exiting. */
function stopOnSignal(server: ServerProcess): void {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, async () => {
      console.error(`eval:pusht: ${signal}, stopping the policy server`);
      await server.stop(2_000);
      Deno.exit(130);
    });
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

function stderrSink() {
  const enc = new TextEncoder();
  return {
    isTerminal: Deno.stderr.isTerminal(),
    write: (text: string) => {
      const bytes = enc.encode(text);
      let off = 0;
      while (off < bytes.length) off += Deno.stderr.writeSync(bytes.subarray(off));
    },
  };
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (e) {
    console.error(`eval:pusht: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
