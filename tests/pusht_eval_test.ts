// Push-T closed-loop evaluation: the receding horizon and the real-time scheme against a scripted
// openpi server whose chunks name themselves (so every executed action is traced to its chunk and
// entry, and every observation window is checked against a replay of the episode), the interval
// and quantile arithmetic against references, and `eval:pusht` end to end (a served test policy,
// the expert, the missing shipped policy).

import assert from "node:assert/strict";
import { PushTEnv } from "../src/robot/pusht/env.ts";
import { PushTExpert } from "../src/robot/pusht/expert.ts";
import {
  autoLookahead,
  type ChunkPolicy,
  type EpisodeResult,
  evaluatePushT,
  openpiChunkPolicy,
  runEpisode,
} from "../src/robot/pusht/eval.ts";
import { jsonLine, summarize, wilsonInterval } from "../src/robot/pusht/eval_report.ts";
import { mean, median, quantile } from "../src/util/stats.ts";
import { connectPolicy, type PolicyClient } from "../src/server/policy_client.ts";
import { writeTestPolicy } from "../examples/make_test_policy.ts";
import { decodeAction, type FakeEvent, startFakeOpenpi } from "./_fake_openpi.ts";

const CLI = new URL("../src/cli/eval_pusht.ts", import.meta.url).pathname;

/** The observations of an episode replayed from its actions in a fresh reset: [steps + 1][5]. */
function replay(env: PushTEnv, ep: EpisodeResult): Float32Array[] {
  const obs = [env.reset(ep.seed)];
  for (let t = 0; t < ep.steps; t++) {
    obs.push(env.step([ep.actions[2 * t], ep.actions[2 * t + 1]]).obs);
  }
  return obs;
}

/** The window a policy should get at tick s: frames s-nObs+1 .. s, clamped at 0 (padding). */
function expectedWindow(obs: Float32Array[], s: number, nObs: number): Float32Array {
  const out = new Float32Array(nObs * 5);
  for (let k = 0; k < nObs; k++) out.set(obs[Math.max(0, s - nObs + 1 + k)], 5 * k);
  return out;
}

function observations(events: FakeEvent[]) {
  return events.filter((e) => e.kind === "obs") as Extract<FakeEvent, { kind: "obs" }>[];
}

async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { XDG_RUNTIME_DIR: "/tmp" },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function lastJson(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split("\n");
  return JSON.parse(lines[lines.length - 1]);
}

Deno.test("wilsonInterval(), quantile(), median() and mean() match their references", () => {
  // Published values (e.g. statsmodels proportion_confint(method="wilson")).
  const near = (a: number[], b: number[]) =>
    a.forEach((x, i) => assert.ok(Math.abs(x - b[i]) < 1e-4, `${a} vs ${b}`));
  near(wilsonInterval(5, 10), [0.2366, 0.7634]);
  near(wilsonInterval(0, 10), [0, 0.2775]);
  near(wilsonInterval(10, 10), [0.7225, 1]);
  // The interval's ends solve (p - k/n)^2 = z^2 p (1 - p) / n: check the roots directly.
  for (const [k, n] of [[3, 50], [37, 50], [1, 7]]) {
    const z = 1.96;
    for (const p of wilsonInterval(k, n)) {
      assert.ok(Math.abs((p - k / n) ** 2 - (z * z * p * (1 - p)) / n) < 1e-12);
    }
  }
  assert.throws(() => wilsonInterval(3, 2), /0 <= k <= n/);
  // numpy.quantile([3, 1, 4, 2], q) = 2.5, 3.97, 1.0
  assert.equal(quantile([3, 1, 4, 2], 0.5), 2.5);
  assert.ok(Math.abs(quantile([3, 1, 4, 2], 0.99) - 3.97) < 1e-12);
  assert.equal(quantile([3, 1, 4, 2], 0), 1);
  assert.ok(Number.isNaN(quantile([], 0.5)));
  // numpy.median([5, 1, 3]) = 3.0, numpy.median([4, 1, 3, 2]) = 2.5, numpy.mean([1, 2, 6]) = 3.0
  assert.equal(median([5, 1, 3]), 3);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(mean([1, 2, 6]), 3);
  assert.ok(Number.isNaN(mean([])));
  assert.equal(autoLookahead(30, 100, 8), 1);
  assert.equal(autoLookahead(150, 100, 8), 2);
  assert.equal(autoLookahead(5000, 100, 8), 8);
});

Deno.test("lockstep: each chunk's entries nObsSteps-1.. run in order, windows are the latest frames", async (t) => {
  const env = await PushTEnv.create({ maxSteps: 20 });
  try {
    for (const [nObs, nA, horizon] of [[2, 8, 16], [3, 5, 10]]) {
      await t.step(`n_obs_steps ${nObs}, n_action_steps ${nA}, horizon ${horizon}`, async () => {
        const fake = startFakeOpenpi({
          nObsSteps: nObs,
          nActionSteps: nA,
          horizon,
          delayMs: () => 20,
        });
        const client = await connectPolicy(fake.url);
        try {
          const policy = openpiChunkPolicy(client);
          const { episodes, summary } = await evaluatePushT(env, policy, { episodes: 2, seed: 3 });
          const perEpisode = Math.ceil(20 / nA);
          let chunkBase = 0;
          for (const ep of episodes) {
            assert.equal(ep.steps, 20);
            assert.equal(ep.chunks.length, perEpisode);
            assert.equal(ep.lateTicks, 0);
            for (let tick = 0; tick < ep.steps; tick++) {
              const { chunk, entry } = decodeAction(ep.actions[2 * tick], ep.actions[2 * tick + 1]);
              assert.equal(chunk, chunkBase + Math.floor(tick / nA), `tick ${tick}`);
              assert.equal(entry, nObs - 1 + (tick % nA), `tick ${tick}`);
            }
            const obs = replay(env, ep);
            const seen = observations(fake.events).slice(chunkBase, chunkBase + perEpisode);
            seen.forEach((o, c) => {
              assert.deepEqual(o.shape, [nObs, 5]);
              assert.deepEqual(o.window, expectedWindow(obs, c * nA, nObs), `chunk ${c}`);
            });
            for (const c of ep.chunks) assert.ok(c.latencyMs >= 19 && c.latencyMs < 1000);
            chunkBase += perEpisode;
          }
          // each episode opens with episode_start and closes with episode_end
          const kinds = fake.events.map((e) => e.kind === "ctrl" ? e.ctrl : "obs");
          const one = ["episode_start", ...Array(perEpisode).fill("obs"), "episode_end"];
          assert.deepEqual(kinds, [...one, ...one]);
          assert.equal(summary.chunks, 2 * perEpisode);
          assert.ok(summary.p50_infer_ms >= 19 && summary.p99_infer_ms >= summary.p50_infer_ms);
          const line = JSON.parse(jsonLine(summary, { extra: 1 }));
          assert.deepEqual(Object.keys(line).slice(0, 6), [
            "episodes",
            "success_rate",
            "avg_max_reward",
            "p50_infer_ms",
            "p99_infer_ms",
            "late_ticks",
          ]);
          assert.equal(line.extra, 1);
        } finally {
          await client.close();
          await fake.close();
        }
      });
    }
  } finally {
    env.close();
  }
});

Deno.test("real time: chunks start at the tick after they arrive, aligned by elapsed ticks; late ticks hold", async () => {
  // tick 250 ms, lookahead 2: chunk c is requested at its predecessor's obsTick + 6. Delays put
  // each arrival mid-tick: 60 ms (next tick), 875 ms (3.5 ticks), 2375 ms (9.5 ticks).
  const delays = [0, 60, 875, 60, 2375, 60, 60, 60];
  const fake = startFakeOpenpi({
    nObsSteps: 2,
    nActionSteps: 8,
    horizon: 16,
    delayMs: (c) => delays[c],
  });
  const env = await PushTEnv.create({ maxSteps: 44 });
  const client = await connectPolicy(fake.url);
  try {
    const { episodes, summary } = await evaluatePushT(env, openpiChunkPolicy(client), {
      episodes: 1,
      seed: 5,
      realtime: true,
      tickMs: 250,
      lookahead: 2,
    });
    const ep = episodes[0];
    // [chunk, first entry, ticks] runs, or [-1, 0, ticks] for late ticks, worked out by hand:
    // chunk 0 (obs 0) ticks 0-6; chunk 1 (obs 6, in at 7) 7-13; late 14-15; chunk 2 (obs 12, in
    // at 16, entry 1 + 4) 16-18; chunk 3 (obs 18, in at 19) 19-25; chunk 4 (obs 24) arrives at
    // 33.5, at tick 34 its range (ticks 24-31) is over: late 26-34 and chunk 5 asked at 34;
    // chunk 5 (in at 35) 35-40; chunk 6 (obs 40, in at 41) 41-43.
    const runs = [[0, 1, 7], [1, 2, 7], [-1, 0, 2], [2, 5, 3], [3, 2, 7], [-1, 0, 9], [5, 2, 6], [
      6,
      2,
      3,
    ]];
    const expected: [number, number][] = [];
    for (const [c, e, n] of runs) {
      for (let k = 0; k < n; k++) expected.push([c, c < 0 ? -1 : e + k]);
    }
    assert.equal(ep.steps, 44);
    let held: [number, number] | null = null;
    for (let tick = 0; tick < ep.steps; tick++) {
      const a: [number, number] = [ep.actions[2 * tick], ep.actions[2 * tick + 1]];
      const [c, e] = expected[tick];
      if (c < 0) {
        assert.deepEqual(a, held, `tick ${tick} holds the last target`);
        continue;
      }
      const got = decodeAction(a[0], a[1]);
      assert.deepEqual([got.chunk, got.entry], [c, e], `tick ${tick}`);
      held = a;
    }
    assert.equal(ep.lateTicks, 11, `slow ticks: ${ep.slowTicks}`);
    assert.equal(summary.late_ticks, 11, `slow ticks: ${ep.slowTicks}`);
    assert.deepEqual(ep.chunks.map((c) => c.obsTick), [0, 6, 12, 18, 24, 34, 40]);
    assert.deepEqual(ep.chunks.map((c) => c.startTick), [0, 7, 16, 19, 34, 35, 41]);
    ep.chunks.forEach((c, i) => {
      assert.ok(c.latencyMs >= delays[i] - 1 && c.latencyMs < delays[i] + 200, `chunk ${i}`);
    });
    // each request carried the two frames ending at its observation tick
    const obs = replay(env, ep);
    observations(fake.events).forEach((o, i) => {
      assert.deepEqual(o.window, expectedWindow(obs, ep.chunks[i].obsTick, 2), `chunk ${i}`);
    });
  } finally {
    await client.close();
    await fake.close();
    env.close();
  }
});

Deno.test("real time: ticks run more than a tick behind the clock are counted as slow", async () => {
  // a policy whose second request (at tick 6) blocks the thread for 550 ms: with 100 ms ticks,
  // ticks 7-10 are processed 450, 350, 250 and 150 ms late at least (a busy machine adds more)
  let calls = 0;
  const policy: ChunkPolicy = {
    name: "blocking",
    nObsSteps: 2,
    nActionSteps: 8,
    horizon: 16,
    reset: () => Promise.resolve(),
    infer() {
      if (calls++ === 1) {
        const until = performance.now() + 550;
        while (performance.now() < until) { /* block */ }
      }
      return Promise.resolve(new Float32Array(32).fill(256));
    },
  };
  const env = await PushTEnv.create({ maxSteps: 12 });
  try {
    const ep = await runEpisode(env, policy, 0, { realtime: true, tickMs: 100, lookahead: 2 });
    assert.equal(ep.steps, 12);
    assert.ok(ep.slowTicks >= 4, `slow ticks ${ep.slowTicks}`);
    assert.equal(summarize([ep]).slow_ticks, ep.slowTicks);
  } finally {
    env.close();
  }
});

Deno.test("openpiChunkPolicy() refuses metadata it cannot run", () => {
  const client = (metadata: Record<string, unknown>) => ({ metadata }) as unknown as PolicyClient;
  const good = {
    n_obs_steps: 2,
    n_action_steps: 8,
    horizon: 16,
    observation: { "observation.state": { shape: [5] } },
    action: { shape: [16, 2] },
  };
  assert.equal(openpiChunkPolicy(client(good)).nActionSteps, 8);
  assert.throws(
    () => openpiChunkPolicy(client({ ...good, n_obs_steps: undefined })),
    /Policy metadata: n_obs_steps must be a positive integer/,
  );
  assert.throws(
    () => openpiChunkPolicy(client({ ...good, n_action_steps: 16 })),
    /exceeds horizon/,
  );
  assert.throws(
    () => openpiChunkPolicy(client({ ...good, observation: { s: { shape: [7] } } })),
    /Push-T's state has 5 values/,
  );
  assert.throws(
    () => openpiChunkPolicy(client({ ...good, action: { shape: [16, 3] } })),
    /expected \[16, 2\]/,
  );
});

Deno.test("eval:pusht serves a test policy checkpoint: two episodes with GIFs, one in real time", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pusht_eval_" });
  try {
    await writeTestPolicy(dir, "tiny");
    const gifs = `${dir}/gifs`;
    const r = await runCli([
      ...["--ckpt", dir, "--episodes", "2", "--seed", "7", "--max-steps", "40", "--gif", gifs],
    ]);
    assert.equal(r.code, 0, r.stderr);
    const j = lastJson(r.stdout);
    assert.equal(j.episodes, 2);
    assert.equal(j.late_ticks, 0);
    assert.equal(j.chunks, 10); // 40 steps / 8 per chunk, per episode
    assert.equal(j.ticks, 80);
    assert.equal(j.n_obs_steps, 2);
    assert.equal(j.n_action_steps, 8);
    assert.equal(j.horizon, 16);
    assert.equal(j.success_rate, (j.successes as number) / 2);
    const p50 = j.p50_infer_ms as number, p99 = j.p99_infer_ms as number;
    assert.ok(p50 > 0 && p50 < 10_000 && p99 >= p50, `${p50} ${p99}`);
    // the table's rows: seeds 7 and 8, 40 steps, 5 chunks; their mean max reward is the JSON's
    const rows = r.stdout.split("\n").filter((l) => /^\s+[78]\s+40\s/.test(l)).map((l) =>
      l.trim().split(/\s+/)
    );
    assert.equal(rows.length, 2);
    for (const row of rows) assert.equal(row[4], "5");
    const mean = (Number(rows[0][2]) + Number(rows[1][2])) / 2;
    assert.ok(Math.abs(mean - (j.avg_max_reward as number)) < 1e-4);
    for (const seed of [7, 8]) {
      const gif = await Deno.readFile(`${gifs}/episode_seed${seed}.gif`);
      assert.equal(new TextDecoder().decode(gif.subarray(0, 6)), "GIF89a");
    }
    // the real-time flag reaches the loop: one short episode on the wall clock
    const rt = await runCli(["--ckpt", dir, "--episodes", "1", "--max-steps", "30", "--realtime"]);
    assert.equal(rt.code, 0, rt.stderr);
    const jr = lastJson(rt.stdout);
    assert.equal(jr.realtime, true);
    assert.equal(jr.ticks, 30);
    assert.ok(Number.isInteger(jr.late_ticks) && (jr.late_ticks as number) < 30);
    assert.ok(Number.isInteger(jr.slow_ticks));
    assert.match(rt.stdout, /late ticks \d+ of 30/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("eval:pusht --expert plays the expert's own episodes and succeeds", async () => {
  const r = await runCli(["--expert", "--episodes", "2", "--seed", "1"]);
  assert.equal(r.code, 0, r.stderr);
  const j = lastJson(r.stdout);
  assert.equal(j.episodes, 2);
  assert.equal(j.success_rate, 1);
  assert.equal(j.avg_max_reward, 1);
  // the same episodes as PushTExpert.runEpisode on those seeds
  const env = await PushTEnv.create();
  try {
    const expert = new PushTExpert(env);
    const lengths = [1, 2].map((s) => expert.runEpisode(s).length);
    assert.equal(j.ticks, lengths[0] + lengths[1]);
    for (const [i, s] of [1, 2].entries()) {
      assert.match(r.stdout, new RegExp(`^\\s+${s}\\s+${lengths[i]}\\s+1\\.0000\\s+yes`, "m"));
    }
  } finally {
    env.close();
  }
});

const SHIPPED = new URL("../examples/pusht/policy", import.meta.url).pathname;
const shippedExists = (() => {
  try {
    Deno.statSync(SHIPPED);
    return true;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "eval:pusht without a policy names the missing shipped policy",
  ignore: shippedExists,
  fn: async () => {
    const none = await runCli(["--episodes", "1"]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /examples\/pusht\/policy does not exist/);
  },
});

Deno.test("eval:pusht refuses --expert beside --url", async () => {
  const both = await runCli(["--expert", "--url", "ws://127.0.0.1:1"]);
  assert.equal(both.code, 1);
  assert.match(both.stderr, /Give one of --url, --expert/);
});
