/**
 * Tests of the Push-T pictures, the scripted expert and demonstration collection. Expert episodes
 * are checked by replaying their recorded actions in a fresh environment (an independent run).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { decodePng } from "../src/data/png.ts";
import { collectPushT, PUSHT_STATE_NAMES, PUSHT_TASK } from "../src/robot/pusht/collect.ts";
import { readLeRobot, writeLeRobot } from "../src/data/lerobot/mod.ts";
import { PushTEnv } from "../src/robot/pusht/env.ts";
import {
  cornerError,
  distanceToT,
  type ExpertEpisode,
  PushTExpert,
} from "../src/robot/pusht/expert.ts";
import { GOAL_POSE, toWorld } from "../src/robot/pusht/geometry.ts";
import { episodeGif, renderPng } from "../src/robot/pusht/render.ts";

Deno.test("Push-T pictures", async (t) => {
  const env = await PushTEnv.create();
  try {
    env.resetTo([420, 100, 120, 380, 0.3]);
    env.step([430, 90]);
    const state = env.getState();
    await t.step("renderPng draws goal, block, pusher and target where they are", () => {
      const size = 256, k = size / 512;
      const img = decodePng(renderPng(state, { size }));
      assert.equal(img.width, size);
      assert.equal(img.height, size);
      const px = (x: number, y: number) => {
        const i = (Math.floor(y * k) * size + Math.floor(x * k)) * 4;
        return [img.data[i], img.data[i + 1], img.data[i + 2]];
      };
      const [gx, gy] = toWorld(GOAL_POSE, [[0, 70]])[0];
      assert.deepEqual(px(gx, gy), [144, 238, 144], "goal stem is light green");
      const b = env.blockPose();
      const [bx, by] = toWorld(b, [[0, 15]])[0];
      assert.deepEqual(px(bx, by), [119, 136, 153], "block bar is slate grey");
      const [ax, ay] = env.pusher();
      assert.deepEqual(px(ax + 5, ay + 5), [65, 105, 225], "pusher is royal blue");
      assert.deepEqual(px(256, 60), [255, 255, 255], "background is white");
      const [r, g] = px(430 + 3, 90 + 0.5);
      assert.ok(r > 150 && g < 150, `target cross is red (got ${r}, ${g})`);
    });
    await t.step("episodeGif writes a looping GIF with one frame per state", () => {
      const states = [state];
      for (let i = 0; i < 4; i++) {
        env.step([300, 300]);
        states.push(env.getState());
      }
      const gif = episodeGif(states, { size: 128 });
      assert.equal(new TextDecoder().decode(gif.subarray(0, 6)), "GIF89a");
      assert.equal(gif[6] | (gif[7] << 8), 128, "width");
      assert.equal(gif[8] | (gif[9] << 8), 128, "height");
      assert.equal(gif.at(-1), 0x3b, "trailer");
      assert.ok(new TextDecoder("latin1").decode(gif).includes("NETSCAPE2.0"), "loops");
      let frames = 0; // graphic control extensions: one per frame
      for (let i = 0; i + 2 < gif.length; i++) {
        if (gif[i] === 0x21 && gif[i + 1] === 0xf9 && gif[i + 2] === 4) frames++;
      }
      assert.ok(frames >= states.length, `${frames} frames`);
      assert.throws(() => episodeGif([]), /at least one state/);
    });
  } finally {
    env.close();
  }
});

Deno.test("Push-T expert", async (t) => {
  const env = await PushTEnv.create();
  try {
    const expert = new PushTExpert(env);
    await t.step("distanceToT and cornerError", () => {
      assert.equal(distanceToT(GOAL_POSE, GOAL_POSE.x, GOAL_POSE.y), 0);
      // 10 px above the unrotated bar's top edge
      assert.ok(Math.abs(distanceToT({ x: 100, y: 100, angle: 0 }, 110, 90) - 10) < 1e-9);
      assert.equal(cornerError(GOAL_POSE), 0);
      assert.ok(Math.abs(cornerError({ ...GOAL_POSE, x: GOAL_POSE.x + 7 }) - 7) < 1e-9);
    });
    await t.step("succeeds on a seed, deterministically, and its record replays", () => {
      const seed = 8;
      const a = expert.runEpisode(seed);
      const b = expert.runEpisode(seed);
      assert.deepEqual(a, b, "same seed, same episode");
      assert.equal(a.success, true);
      assert.equal(a.maxReward, 1);
      assert.ok(a.length < 300);
      assert.equal(a.state.length, a.length * 5);
      assert.equal(a.action.length, a.length * 2);
      // replay the recorded actions: each frame's state is the observation before its action
      let obs = env.reset(seed);
      let last;
      for (let t = 0; t < a.length; t++) {
        assert.deepEqual(
          Array.from(obs),
          Array.from(a.state.subarray(5 * t, 5 * t + 5)),
          `frame ${t}`,
        );
        last = env.step(a.action.subarray(2 * t, 2 * t + 2));
        assert.equal(Math.fround(last.reward), a.reward[t]); // the record keeps Float32
        obs = last.obs;
      }
      assert.equal(last?.success, true, "the replay ends in success");
    });
  } finally {
    env.close();
  }
});

Deno.test("collectPushT keeps successful episodes and round-trips through LeRobot v3.0", async () => {
  let calls = 0;
  const r = await collectPushT({ episodes: 2, seed: 8, onEpisode: () => calls++ });
  assert.equal(calls, 2);
  assert.equal(r.played, 2);
  const ds = r.dataset;
  assert.equal(ds.stateKey, "observation.state");
  assert.equal(ds.actionKey, "action");
  assert.deepEqual(ds.stateNames, PUSHT_STATE_NAMES);
  assert.equal(ds.fps, 10);
  assert.equal(ds.episodes.length, r.seeds.length);
  assert.equal(r.successRate, ds.episodes.length / 2);
  ds.episodes.forEach((e, i) => assert.equal(e.index, i));
  assert.equal(r.frames, ds.episodes.reduce((n, e) => n + e.length, 0));
  for (let c = 0; c < 5; c++) {
    const vals = ds.episodes.flatMap((e) => Array.from(e.state.filter((_, i) => i % 5 === c)));
    assert.equal(ds.stats.state.min[c], Math.min(...vals));
    assert.equal(ds.stats.state.max[c], Math.max(...vals));
  }
  const dir = await Deno.makeTempDir();
  try {
    // The demonstrations travel as a LeRobot v3.0 dataset, as pusht:collect writes them.
    await writeLeRobot(join(dir, "pusht"), ds, { robotType: "pusht", defaultTask: PUSHT_TASK });
    const back = await readLeRobot(join(dir, "pusht"));
    assert.deepEqual(
      back.episodes.map((e) => [e.length, e.state, e.action]),
      ds.episodes.map((e) => [e.length, e.state, e.action]),
    );
    assert.deepEqual(back.stateNames, PUSHT_STATE_NAMES);
    assert.equal(back.fps, 10);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Largest distance between consecutive targets of a row-major [T, 2] action array. */
function largestStep(action: Float32Array): number {
  let m = 0;
  for (let t = 1; t < action.length / 2; t++) {
    m = Math.max(
      m,
      Math.hypot(action[2 * t] - action[2 * t - 2], action[2 * t + 1] - action[2 * t - 1]),
    );
  }
  return m;
}

/** Distance of an episode's first target from the pusher's start (its first state's x, y). */
function firstStep(state: Float32Array, action: Float32Array): number {
  return Math.hypot(action[0] - state[0], action[1] - state[1]);
}

// Commanded targets are rounded to Float32 before they are applied and recorded.
const ROUNDING = 1e-3;

Deno.test("PushTExpert without maxStep reproduces the recorded default episodes exactly", async () => {
  const fixture = JSON.parse(
    await Deno.readTextFile(new URL("fixtures/pusht_expert_actions.json", import.meta.url)),
  ) as { episodes: { seed: number; action: number[] }[] };
  assert.ok(fixture.episodes.length >= 2);
  const env = await PushTEnv.create();
  try {
    const expert = new PushTExpert(env, { maxStep: undefined });
    for (const { seed, action } of fixture.episodes) {
      const ep = expert.runEpisode(seed);
      assert.deepEqual(Array.from(ep.action), action, `seed ${seed}`);
      // the default expert jumps: this is what maxStep is for
      assert.ok(largestStep(ep.action) > 60, `seed ${seed}: ${largestStep(ep.action)}`);
    }
  } finally {
    env.close();
  }
});

Deno.test("PushTExpert rejects a maxStep that is not a positive number", async () => {
  const env = await PushTEnv.create();
  try {
    for (const maxStep of [0, -3, NaN, Infinity]) {
      assert.throws(() => new PushTExpert(env, { maxStep }), /maxStep must be a positive number/);
    }
  } finally {
    env.close();
  }
});

Deno.test("collectPushT with expert.maxStep: targets move at most maxStep per step", async () => {
  const maxStep = 15;
  const played: ExpertEpisode[] = [];
  const r = await collectPushT({
    episodes: 2,
    seed: 100000,
    expert: { maxStep },
    onEpisode: (_, ep) => played.push(ep),
  });
  assert.equal(played.length, 2);
  assert.equal(r.successRate, 1, "the leashed expert still succeeds on these seeds");
  for (const ep of played) {
    const first = firstStep(ep.state, ep.action);
    assert.ok(first <= maxStep + ROUNDING, `seed ${ep.seed}: first target ${first} px away`);
    const step = largestStep(ep.action);
    assert.ok(step <= maxStep + ROUNDING, `seed ${ep.seed}: a step of ${step} px`);
    // the bound is reached (the leash is what holds the target back, not a slow expert)
    assert.ok(step > maxStep - ROUNDING, `seed ${ep.seed}: largest step ${step} px`);
  }
  for (const [i, e] of r.dataset.episodes.entries()) {
    assert.deepEqual(e.action, played[i].action, "the dataset keeps the played actions");
  }
  // deterministic, and the record replays: frame t's state is the observation before action t
  const env = await PushTEnv.create();
  try {
    const again = new PushTExpert(env, { maxStep }).runEpisode(played[0].seed);
    assert.deepEqual(again.action, played[0].action);
    assert.deepEqual(again.state, played[0].state);
    let obs = env.reset(played[0].seed);
    for (let t = 0; t < again.length; t++) {
      assert.deepEqual(Array.from(obs), Array.from(again.state.subarray(5 * t, 5 * t + 5)));
      obs = env.step(again.action.subarray(2 * t, 2 * t + 2)).obs;
    }
  } finally {
    env.close();
  }
});

Deno.test("pusht:collect --max-step passes the leash to the expert and records it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = join(dir, "ds");
    const cli = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "src/cli/pusht_collect.ts", "--episodes", "1", "--seed", "8"]
        .concat(["--max-step", "20", "--out", out]),
      cwd: new URL("../", import.meta.url),
      env: { XDG_RUNTIME_DIR: "/tmp" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const said = new TextDecoder().decode(cli.stdout) + new TextDecoder().decode(cli.stderr);
    assert.equal(cli.code, 0, said);
    const meta = JSON.parse(await Deno.readTextFile(join(out, "meta", "collect.json")));
    assert.equal(meta.maxStep, 20);
    const ds = await readLeRobot(out);
    assert.equal(ds.episodes.length, 1);
    const { state, action } = ds.episodes[0];
    assert.ok(firstStep(state, action) <= 20 + ROUNDING);
    assert.ok(largestStep(action) <= 20 + ROUNDING, `a step of ${largestStep(action)} px`);
    const bad = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "src/cli/pusht_collect.ts", "--max-step", "0", "--out", join(dir, "x")],
      cwd: new URL("../", import.meta.url),
      stderr: "piped",
    }).output();
    assert.equal(bad.code, 1);
    assert.match(
      new TextDecoder().decode(bad.stderr),
      /--max-step expects a positive number, got "0"/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
