/**
 * Robot policies on the engine: the 100-timestep schedule against diffusers' arithmetic
 * (recomputed here in float64), Diffusion Policy's window padding, and, on the GPU, the signature
 * of a diffusion policy on a two-mode task, the normalisation round trip through a checkpoint and
 * exact resume of a policy run.
 */
import { deepEqual, equal, ok as assert } from "node:assert/strict";
import { gpuTest } from "./_gpu.ts";
import type { Gpu } from "../src/gpu/gpu.ts";
import type { RobotEpisodes } from "../src/data/robot.ts";
import { type DiTConfig, preset } from "../src/model/config.ts";
import { normalize, unnormalize } from "../src/policy/spec.ts";
import { chunksPng } from "../src/data/chunk_plot.ts";
import { decodePng } from "../src/data/png.ts";
import { PALETTE } from "../src/data/plot.ts";
import { PolicyWindows, splitEpisodes } from "../src/data/lerobot/mod.ts";
import { makeSampler } from "../src/sample/samplers.ts";
import { GpuDenoiser } from "../src/sample/denoiser.ts";
import { checkpointDiffusion, modelFromCheckpoint } from "../src/sample/load.ts";
import { loadCheckpoint } from "../src/model/checkpoint.ts";
import { policyDataFromEpisodes } from "../src/train/policy_batches.ts";
import { PRESET_POLICY, PRESET_TRAIN } from "../src/train/presets.ts";
import { DEFAULT_TRAIN, Trainer, type TrainOptions } from "../src/train/trainer.ts";

Deno.test("a 100-timestep squaredcos schedule and its DDIM/DDPM plans match diffusers' arithmetic", () => {
  const T = 100;
  // diffusers betas_for_alpha_bar(100, max_beta=0.999), "cosine" alpha_bar, in float64.
  const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * Math.PI / 2) ** 2;
  const ab: number[] = [];
  let prod = 1;
  for (let i = 0; i < T; i++) {
    prod *= 1 - Math.min(1 - alphaBar((i + 1) / T) / alphaBar(i / T), 0.999);
    ab.push(prod);
  }
  for (const steps of [1, 3, 10, 16, 100]) {
    const ratio = Math.floor(100 / steps);
    // leading spacing: arange(steps)[::-1] * (100 // steps)
    const expected = Array.from({ length: steps }, (_, i) => (steps - 1 - i) * ratio);
    const settings = { numTrainTimesteps: T };
    const ddim = makeSampler("ddim", settings).plan(steps);
    const ddpm = makeSampler("ddpm", settings).plan(steps);
    deepEqual(ddim.timesteps, expected);
    deepEqual(ddpm.timesteps, expected);
    ddim.rows.forEach((r, k) => {
      const t = expected[k];
      const abP = t - ratio >= 0 ? ab[t - ratio] : 1; // set_alpha_to_one
      const close = (a: number, b: number, what: string) =>
        assert(
          Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b)),
          `${what} at t=${t}: ${a} vs ${b}`,
        );
      close(r.x0x, 1 / Math.sqrt(ab[t]), "1/sqrt(ab)");
      close(r.x0e, -Math.sqrt(1 - ab[t]) / Math.sqrt(ab[t]), "-sqrt(1-ab)/sqrt(ab)");
      close(r.b, Math.sqrt(abP), "sqrt(ab_prev)");
      close(r.d, Math.sqrt(1 - abP), "sqrt(1-ab_prev)");
      equal(r.clip, 1);
    });
    ddpm.rows.forEach((r, k) => {
      const t = expected[k];
      const abP = k + 1 < steps ? ab[expected[k + 1]] : 1;
      const beta = 1 - ab[t] / abP;
      const close = (a: number, b: number, what: string) =>
        assert(
          Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b)),
          `${what} at t=${t}: ${a} vs ${b}`,
        );
      // diffusers DDPMScheduler.step: pred_original coefficient and current sample coefficient.
      close(r.b, Math.sqrt(abP) * beta / (1 - ab[t]), "pred_original_sample_coeff");
      close(r.a, Math.sqrt(1 - beta) * (1 - abP) / (1 - ab[t]), "current_sample_coeff");
      const variance = Math.max((1 - abP) / (1 - ab[t]) * beta, 1e-20);
      close(r.s, t > 0 ? Math.sqrt(variance) : 0, "std");
    });
  }
  // The same sampler on the default 1000 steps is a different schedule.
  deepEqual(makeSampler("ddim").plan(10).timesteps.slice(0, 2), [900, 800]);
  // Clip range from the settings; 0 turns clipping off.
  equal(makeSampler("ddim", { numTrainTimesteps: T, clipSample: 0 }).plan(10).rows[0].clip, 0);
});

/**
 * A 2-D point from (256, 156) to (256, 356) px around an obstacle at (256, 256), on a half
 * ellipse to the left (even episodes) or the right (odd), 90..110 px wide; the apex (256 -+ w,
 * 256) is frame 4 of 9.
 */
function twoModes(episodes: number, length = 9): RobotEpisodes {
  const eps = [];
  for (let e = 0; e < episodes; e++) {
    const side = e % 2 ? 1 : -1;
    const amp = 100 * (0.9 + 0.05 * ((e * 7) % 5));
    const pos = (t: number) => {
      const u = t / (length - 1);
      return [256 + side * amp * Math.sin(Math.PI * u), 256 - 100 * Math.cos(Math.PI * u)];
    };
    const state = new Float32Array(length * 2), action = new Float32Array(length * 2);
    for (let t = 0; t < length; t++) {
      state.set(pos(t), 2 * t);
      action.set(pos(Math.min(t + 1, length - 1)), 2 * t); // the next position as the target
    }
    eps.push({ index: e, length, state, action });
  }
  const range = { min: [146, 156], max: [366, 356] };
  return {
    name: "two-modes",
    fps: 10,
    stateKey: "observation.state",
    actionKey: "action",
    stateNames: ["x", "y"],
    actionNames: ["x", "y"],
    stateDim: 2,
    actionDim: 2,
    episodes: eps,
    stats: { state: range, action: range },
  };
}

Deno.test("policy windows pad episodes like Diffusion Policy and split whole episodes", () => {
  const eps = twoModes(6);
  const w = new PolicyWindows(
    eps,
    [0, 3],
    { nObsSteps: 2, horizon: 8, nActionSteps: 4 },
    eps.stats,
  );
  // 9 frames: 9 - 8 + 2 + 4 - 1 = 6 windows each, starting at frame -1.
  equal(w.length, 12);
  equal(w.episodeOf(5), 0);
  equal(w.episodeOf(6), 3);
  const raw = (i: number, f: number, k: "state" | "action") => {
    const e = eps.episodes[i];
    const c = Math.min(Math.max(f, 0), e.length - 1);
    return [...e[k].subarray(2 * c, 2 * c + 2)];
  };
  for (const [i, ep, start] of [[0, 0, -1], [5, 0, 4], [7, 3, 0]]) {
    const { obs, action } = w.get(i);
    const o = [...raw(ep, start, "state"), ...raw(ep, start + 1, "state")];
    deepEqual([...unnormalize(obs.slice(), eps.stats.state)].map(Math.round), o.map(Math.round));
    const a = Array.from({ length: 8 }, (_, k) => raw(ep, start + k, "action")).flat();
    deepEqual(
      [...unnormalize(action.slice(), eps.stats.action)].map(Math.round),
      a.map(Math.round),
    );
    assert([...obs, ...action].every((v) => v >= -1 && v <= 1));
  }
  const split = splitEpisodes(eps, { valFraction: 0.34, seed: 1 });
  equal(split.val.length, 2);
  deepEqual([...split.train, ...split.val].sort(), [0, 1, 2, 3, 4, 5]);
  deepEqual(splitEpisodes(eps, { valFraction: 0.34, seed: 1 }), split);
});

const WINDOWS = { nObsSteps: 2, horizon: 8, nActionSteps: 4 };

/** The pusht preset at test size over the two-mode task's shapes. */
const tinyPolicy: DiTConfig = {
  ...preset("pusht"),
  hidden: 64,
  depth: 2,
  heads: 4,
  input: { kind: "sequence", channels: 2, length: 8 },
  condition: { kind: "vector", dim: 4 },
};

function policyOptions(out: string, o: Partial<TrainOptions> = {}): TrainOptions {
  return {
    ...DEFAULT_TRAIN,
    ...PRESET_TRAIN.pusht,
    out,
    batch: 64,
    lr: 5e-3,
    weightDecay: 0,
    warmup: 20,
    emaDecay: 0.98,
    logEvery: 50,
    valEvery: 0,
    sampleEvery: 0,
    keep: 10,
    ...o,
  };
}

/** x of the chunk's apex (entry 4, the widest point of either path), normalised, per sample. */
function apexX(x0: Float32Array, n: number): number[] {
  const L = WINDOWS.horizon * 2;
  return Array.from({ length: n }, (_, i) => x0[i * L + 2 * 4]);
}

async function train(gpu: Gpu, objective: "epsilon" | "regression", steps: number) {
  const data = policyDataFromEpisodes(twoModes(32), WINDOWS, { valFraction: 0.125 });
  const out = await Deno.makeTempDir();
  // Sampled as LeRobot samples its diffusion policies: DDPM over all 100 timesteps.
  const o = { steps, objective, ckptEvery: steps, sampler: "ddpm", sampleSteps: 100 };
  const t = await Trainer.create(gpu, tinyPolicy, policyOptions(out, o), data);
  const r = await t.run({ quiet: true });
  return { t, r, out };
}

/**
 * Observation history of an episode's first window (its first frame twice, by the padding): both
 * sides are possible.
 */
function startCond(n: number): Float32Array {
  const eps = twoModes(2);
  const obs = normalize(Float32Array.from([256, 156, 256, 156]), eps.stats.state);
  const cond = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) cond.set(obs, 4 * i);
  return cond;
}

gpuTest(
  "a diffusion policy samples both modes of a two-mode task, regression their average",
  async (gpu, ctx) => {
    const n = 64;
    const seeds = Array.from({ length: n }, (_, i) => i);
    const cond = startCond(n);
    await ctx.step("diffusion (epsilon) policy", async () => {
      const { t } = await train(gpu, "epsilon", 300);
      // Measured: 27 left, 35 right, 1 between (DDIM 10 steps: 20, 39, 4).
      const xs = apexX(await t.sample({ seeds, cond }), n);
      // The modes' apexes lie at x = +-0.82..1.0 (normalised); their average at 0.
      const left = xs.filter((x) => x < -0.5).length;
      const right = xs.filter((x) => x > 0.5).length;
      const between = xs.filter((x) => Math.abs(x) < 0.4).length;
      const msg = `left ${left}, right ${right}, between ${between}: ${
        xs.map((x) => x.toFixed(2))
      }`;
      assert(left >= 0.2 * n && right >= 0.2 * n, `both modes expected; ${msg}`);
      assert(between <= 0.1 * n, `few averaged chunks expected; ${msg}`);
    });
    await ctx.step("regression baseline, and its checkpoint in dataset units", async () => {
      const { t, r } = await train(gpu, "regression", 150);
      const x0 = await t.sample({ seeds, cond });
      const xs = apexX(x0, n);
      // One forward pass, no noise: every sample is the same, at the modes' average.
      assert(xs.every((x) => x === xs[0]), `regression samples differ: ${xs.slice(0, 4)}`);
      assert(Math.abs(xs[0]) < 0.25, `regression apex x ${xs[0]} is not near the average 0`);
      // The checkpoint alone gives the same chunk, in pixels, through its own policy record.
      const ck = await loadCheckpoint(r.checkpoint!);
      const spec = ck.policy!;
      equal(spec.objective, "regression");
      equal(spec.numTrainTimesteps, 100);
      deepEqual(spec.stats, twoModes(2).stats);
      const settings = checkpointDiffusion(ck);
      deepEqual(settings, {
        betaSchedule: "squaredcos_cap_v2",
        numTrainTimesteps: 100,
        clipSample: 1,
      });
      const d = new GpuDenoiser(gpu, modelFromCheckpoint(gpu, ck), settings);
      const { x0: again } = await d.sample({
        sampler: spec.sampler,
        steps: spec.steps,
        seeds: [0],
        cond: cond.slice(0, 4),
      });
      deepEqual([...again], [...x0.subarray(0, again.length)]);
      const px = unnormalize(again.slice(), spec.stats.action);
      // Apex of both paths: y = 256 px; x: the average of 256 -+ 90..110 px.
      assert(Math.abs(px[9] - 256) < 20, `apex y ${px[9]} px, expected ~256`);
      assert(Math.abs(px[8] - 256) < 0.25 * 110, `apex x ${px[8]} px, expected ~256`);
    });
  },
);

gpuTest(
  "a policy run draws timesteps below numTrainTimesteps and resumes with exactly the same losses",
  async (gpu) => {
    const data = policyDataFromEpisodes(twoModes(8), WINDOWS, { valFraction: 0.25 });
    const [a, b] = [await Deno.makeTempDir(), await Deno.makeTempDir()];
    const o = (out: string, steps: number) =>
      policyOptions(out, { steps, batch: 4, logEvery: 1, ckptEvery: 3, valEvery: 3 });
    const drawn: number[] = [];
    const straight = await (await Trainer.create(gpu, tinyPolicy, o(a, 6), data)).run({
      quiet: true,
      onTimesteps: (t) => drawn.push(...t),
    });
    // 24 draws from [0, 100): all inside, and (but for odds of 2^-24) some in its upper half.
    equal(drawn.length, 24);
    assert(drawn.every((t) => Number.isInteger(t) && t >= 0 && t < 100), `${drawn}`);
    assert(drawn.some((t) => t >= 50), `${drawn}`);
    await (await Trainer.create(gpu, tinyPolicy, o(b, 3), data)).run({ quiet: true });
    const resumed = await Trainer.create(gpu, tinyPolicy, o(b, 6), data, b);
    equal(resumed.step, 3);
    const rest = await resumed.run({ quiet: true });
    const losses = (h: { step: number; loss?: number; valLoss?: number }[]) =>
      h.map((r) => [r.step, r.loss, r.valLoss]);
    deepEqual(losses(rest.history), losses(straight.history));
    assert(straight.history.some((r) => Number.isFinite(r.valLoss)), "validation never ran");
    const ck = await loadCheckpoint(b);
    equal(ck.policy?.horizon, 8);
    equal(ck.policy?.sampler, "dpm++2m"); // the pusht preset's default
    equal(ck.policy?.steps, 10);
    equal(ck.policy?.objective, "epsilon");
    assert(PRESET_POLICY.pusht.horizon === 16);
  },
);

for (
  const [args, pattern] of [
    [["--preset", "pusht"], /pass --data <dataset folder>/],
    [["--preset", "pusht", "--data", "/nonexistent/lerobot"], /nonexistent/],
    [["--preset", "pusht", "--data", "/nonexistent/lerobot", "--objective", "x"], /--objective/],
  ] as const
) {
  Deno.test(`deno task train ${args.join(" ")} fails clearly and writes nothing`, async () => {
    // A folder without data/pusht, so the default dataset is absent.
    const cwd = await Deno.makeTempDir();
    const out = `${cwd}/run`;
    const r = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--config",
        new URL("../deno.json", import.meta.url).pathname,
        new URL("../src/cli/train.ts", import.meta.url).pathname,
        ...args,
        "--out",
        out,
      ],
      cwd,
      env: { XDG_RUNTIME_DIR: "/tmp" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    equal(r.code, 1);
    const err = new TextDecoder().decode(r.stderr);
    assert(pattern.test(err), err);
    assert(!(await Deno.stat(out).then(() => true, () => false)), `${out} was written`);
  });
}

Deno.test("chunksPng draws demonstrated and sampled chunks, x-y for 2-D actions, lines otherwise", () => {
  const count = (png: Uint8Array, c: readonly number[]) => {
    const img = decodePng(png);
    let n = 0;
    for (let i = 0; i < img.data.length; i += 4) {
      if (img.data[i] === c[0] && img.data[i + 1] === c[1] && img.data[i + 2] === c[2]) n++;
    }
    return { n, width: img.width, height: img.height };
  };
  const chunk = (A: number, k: number) =>
    Float32Array.from({ length: 8 * A }, (_, i) => 100 + 10 * Math.sin(i * 0.3 + k));
  for (const A of [2, 3]) {
    const panels = [0, 1, 2].map((w) => ({
      obs: Float32Array.from([100, 100, 101, 101]),
      demo: chunk(A, w),
      samples: [chunk(A, w + 0.5), chunk(A, w + 1)],
    }));
    const png = chunksPng(panels, { stateDim: 2, actionDim: A, cols: 2 });
    const demo = count(png, PALETTE[0]);
    equal(demo.width, 2 * 300);
    equal(demo.height, 2 * 280 + (A === 2 ? 0 : 14));
    assert(demo.n > 100, `demonstrated colour: ${demo.n} pixels`);
    // 2-D: samples in orange, the observations in green; lines: channel 2 in green.
    assert(count(png, PALETTE[A === 2 ? 1 : 2]).n > 100);
  }
});
