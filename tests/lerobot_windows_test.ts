/**
 * PolicyWindows against hand-computed windows and against Diffusion Policy's SequenceSampler
 * arithmetic (create_indices' buffer/sample index quadruples over a concatenated replay buffer,
 * restated here), and splitEpisodes' sizes and determinism.
 */
import assert from "node:assert/strict";
import { PolicyWindows } from "../src/data/lerobot/windows.ts";
import { splitEpisodes } from "../src/data/lerobot/split.ts";
import type { RobotEpisodes } from "../src/data/robot.ts";
import { Rng } from "../src/util/prng.ts";

/** Episodes whose frame f has state [f, -f] and action [100 + f]: the values name the frame. */
function framed(lengths: number[]): RobotEpisodes {
  return {
    name: "framed",
    fps: 10,
    stateKey: "observation.state",
    actionKey: "action",
    stateDim: 2,
    actionDim: 1,
    episodes: lengths.map((n, i) => ({
      index: i,
      length: n,
      state: Float32Array.from({ length: 2 * n }, (_, j) => (j % 2 ? -1 : 1) * Math.floor(j / 2)),
      action: Float32Array.from({ length: n }, (_, f) => 100 + f),
    })),
    stats: { state: { min: [0, -9], max: [9, 0] }, action: { min: [100], max: [109] } },
  };
}

/** Undoes the [-1, 1] mapping of `framed`'s stats so values read back as frame numbers. */
const frameOfState = (x: number) => (x + 1) / 2 * 9;
const frameOfAction = (x: number) => (x + 1) / 2 * 9;

Deno.test("PolicyWindows: a 5-frame episode, horizon 4, nObsSteps 2, nActionSteps 3", () => {
  const eps = framed([5]);
  const w = new PolicyWindows(eps, [0], { nObsSteps: 2, horizon: 4, nActionSteps: 3 }, eps.stats);
  // pad_before 1, pad_after 2: starts -1 .. 5 - 4 + 2 = 3, five windows.
  assert.equal(w.padBefore, 1);
  assert.equal(w.padAfter, 2);
  assert.equal(w.length, 5);
  const frames = [
    [0, 0, 1, 2],
    [0, 1, 2, 3],
    [1, 2, 3, 4],
    [2, 3, 4, 4],
    [3, 4, 4, 4],
  ];
  for (let i = 0; i < 5; i++) {
    assert.deepEqual(Array.from(w.frameIndices(i)), frames[i]);
    const { obs, action } = w.get(i);
    assert.equal(obs.length, 2 * 2);
    assert.equal(action.length, 4 * 1);
    // obs: states of the first two frames, [f, -f] normalised with min [0, -9], max [9, 0].
    const wantObs = frames[i].slice(0, 2).flatMap((f) => [f / 9 * 2 - 1, (-f + 9) / 9 * 2 - 1]);
    const wantAct = frames[i].map((f) => f / 9 * 2 - 1);
    for (let j = 0; j < 4; j++) assert.ok(Math.abs(obs[j] - wantObs[j]) < 1e-6, `obs ${i},${j}`);
    for (let j = 0; j < 4; j++) assert.ok(Math.abs(action[j] - wantAct[j]) < 1e-6, `act ${i},${j}`);
    assert.equal(w.episodeOf(i), 0);
  }
  assert.throws(() => w.get(5), /window 5 is outside 0\.\.4/);
});

Deno.test("PolicyWindows: short episodes, subsets and Push-T sizes by hand", () => {
  const eps = framed([2, 1, 5]);
  // horizon 4, nObs 2, nAct 3: length 2 -> starts -1..0 (2 windows), length 1 -> start -1 (1).
  const w = new PolicyWindows(
    eps,
    [1, 0],
    { nObsSteps: 2, horizon: 4, nActionSteps: 3 },
    eps.stats,
  );
  assert.equal(w.length, 3);
  assert.deepEqual([0, 1, 2].map((i) => w.episodeOf(i)), [0, 0, 1]);
  assert.deepEqual(Array.from(w.frameIndices(0)), [0, 0, 1, 1]);
  assert.deepEqual(Array.from(w.frameIndices(1)), [0, 1, 1, 1]);
  assert.deepEqual(Array.from(w.frameIndices(2)), [0, 0, 0, 0]);
  // Push-T: nObs 2, horizon 16, nAct 8: a 20-frame episode gives 20 - 16 + 7 + 1 + 1 = 13.
  const p = framed([20]);
  const pw = new PolicyWindows(p, [0], { nObsSteps: 2, horizon: 16, nActionSteps: 8 }, p.stats);
  assert.equal(pw.length, 13);
  assert.deepEqual(Array.from(pw.frameIndices(0)).slice(0, 3), [0, 0, 1]);
  // The last window starts at 20 - 16 + 7 = 11: its executed actions (entries 1..8) are the
  // episode's last eight frames, and the rest of the chunk repeats the last frame.
  assert.deepEqual(Array.from(pw.frameIndices(12)).slice(1, 9), [12, 13, 14, 15, 16, 17, 18, 19]);
  assert.deepEqual(Array.from(pw.frameIndices(12)).slice(9), [19, 19, 19, 19, 19, 19, 19]);
  assert.deepEqual(Array.from(pw.frameIndices(12)).slice(0, 2), [11, 12]);
  // Values read back as frame numbers (normalisation undone by hand).
  const { obs, action } = pw.get(12);
  assert.deepEqual(
    Array.from(action, (x) => Math.round(frameOfAction(x))),
    Array.from({ length: 16 }, (_, t) => Math.min(11 + t, 19)),
  );
  assert.deepEqual(Array.from(obs, (x, j) => j % 2 ? x : Math.round(frameOfState(x))), [
    11,
    obs[1],
    12,
    obs[3],
  ]);
});

/**
 * Diffusion Policy's create_indices + sample_sequence, restated over a replay buffer of
 * concatenated episodes: the global frame each window position reads.
 */
function sequenceSampler(
  lengths: number[],
  mask: boolean[],
  seqLen: number,
  padBefore: number,
  padAfter: number,
): number[][] {
  const pb = Math.min(Math.max(padBefore, 0), seqLen - 1);
  const pa = Math.min(Math.max(padAfter, 0), seqLen - 1);
  const out: number[][] = [];
  let end = 0;
  lengths.forEach((len, i) => {
    const startIdx = end;
    end += len;
    if (!mask[i]) return;
    for (let idx = -pb; idx <= len - seqLen + pa; idx++) {
      const bufStart = Math.max(idx, 0) + startIdx;
      const bufEnd = Math.min(idx + seqLen, len) + startIdx;
      const sampleStart = bufStart - (idx + startIdx);
      const sampleEnd = seqLen - ((idx + seqLen + startIdx) - bufEnd);
      const sample = Array.from({ length: bufEnd - bufStart }, (_, k) => bufStart + k);
      out.push(
        Array.from(
          { length: seqLen },
          (_, t) =>
            t < sampleStart
              ? sample[0]
              : t >= sampleEnd
              ? sample[sample.length - 1]
              : sample[t - sampleStart],
        ),
      );
    }
  });
  return out;
}

Deno.test("PolicyWindows matches Diffusion Policy's SequenceSampler on random configurations", () => {
  const rng = new Rng(11);
  for (let trial = 0; trial < 200; trial++) {
    const lengths = Array.from({ length: 1 + rng.int(5) }, () => 1 + rng.int(20));
    const horizon = 1 + rng.int(16);
    const nObsSteps = 1 + rng.int(horizon);
    const nActionSteps = 1 + rng.int(horizon);
    const mask = lengths.map(() => rng.next() < 0.7);
    const chosen = mask.flatMap((m, i) => (m ? [i] : []));
    const D = 3, A = 2;
    const eps: RobotEpisodes = {
      name: "random",
      fps: 10,
      stateKey: "s",
      actionKey: "a",
      stateDim: D,
      actionDim: A,
      episodes: lengths.map((n, i) => ({
        index: i,
        length: n,
        state: Float32Array.from({ length: n * D }, () => rng.next() * 20 - 5),
        action: Float32Array.from({ length: n * A }, () => rng.next() * 300),
      })),
      stats: {
        state: { min: [-5, -4, -3], max: [15, 14, 13] },
        action: { min: [0, 10], max: [300, 290] },
      },
    };
    const w = new PolicyWindows(eps, chosen, { nObsSteps, horizon, nActionSteps }, eps.stats);
    const ref = sequenceSampler(lengths, mask, horizon, nObsSteps - 1, nActionSteps - 1);
    assert.equal(w.length, ref.length, `trial ${trial}: window count`);
    // Global frame -> (episode, frame) and the dataset's values, normalised by formula here.
    const owner: [number, number][] = lengths.flatMap((n, e) =>
      Array.from({ length: n }, (_, f) => [e, f] as [number, number])
    );
    const norm = (v: number, lo: number, hi: number) => (v - lo) / (hi - lo) * 2 - 1;
    const obs = new Float32Array(2 + nObsSteps * D);
    const act = new Float32Array(3 + horizon * A);
    for (let i = 0; i < ref.length; i++) {
      const [e0] = owner[ref[i][0]];
      assert.equal(w.episodeOf(i), e0);
      assert.deepEqual(Array.from(w.frameIndices(i)), ref[i].map((g) => owner[g][1]));
      w.getInto(i, obs, 2, act, 3);
      for (let t = 0; t < horizon; t++) {
        const [e, f] = owner[ref[i][t]];
        const ep = eps.episodes[e];
        for (let c = 0; c < A; c++) {
          const want = norm(ep.action[f * A + c], eps.stats.action.min[c], eps.stats.action.max[c]);
          assert.ok(Math.abs(act[3 + t * A + c] - want) < 1e-5, `trial ${trial} action`);
        }
        if (t >= nObsSteps) continue;
        for (let c = 0; c < D; c++) {
          const want = norm(ep.state[f * D + c], eps.stats.state.min[c], eps.stats.state.max[c]);
          assert.ok(Math.abs(obs[2 + t * D + c] - want) < 1e-5, `trial ${trial} obs`);
        }
      }
    }
  }
});

Deno.test("PolicyWindows refuses bad sizes, positions and stats", () => {
  const eps = framed([5, 3]);
  const cfg = { nObsSteps: 2, horizon: 4, nActionSteps: 3 };
  assert.throws(
    () => new PolicyWindows(eps, [0, 2], cfg, eps.stats),
    /position 2 is outside 0\.\.1/,
  );
  assert.throws(() => new PolicyWindows(eps, [1, 1], cfg, eps.stats), /position 1 is given twice/);
  assert.throws(
    () => new PolicyWindows(eps, [0], { ...cfg, nObsSteps: 5 }, eps.stats),
    /must not exceed horizon/,
  );
  assert.throws(
    () => new PolicyWindows(eps, [0], { ...cfg, horizon: 0 }, eps.stats),
    /horizon must be a positive integer/,
  );
  assert.throws(
    () =>
      new PolicyWindows(eps, [0], cfg, {
        state: { min: [0], max: [1] },
        action: eps.stats.action,
      }),
    /state stats have 1 channels, not 2/,
  );
  // The dataset's own arrays are not normalised in place.
  new PolicyWindows(eps, [0, 1], cfg, eps.stats).get(0);
  assert.deepEqual(Array.from(eps.episodes[0].action), [100, 101, 102, 103, 104]);
});

Deno.test("splitEpisodes() holds out whole episodes, deterministically, keeping one for train", () => {
  const eps = framed([3, 3, 3, 3, 3, 3, 3, 3, 3, 3]);
  const a = splitEpisodes(eps, { valFraction: 0.2, seed: 42 });
  assert.deepEqual(a, splitEpisodes(eps, { valFraction: 0.2, seed: 42 }));
  assert.equal(a.val.length, 2);
  assert.equal(a.train.length, 8);
  assert.deepEqual([...a.train, ...a.val].sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(a.train, [...a.train].sort((x, y) => x - y));
  // Another seed gives another split (for these seeds), the same sizes.
  const b = splitEpisodes(eps, { valFraction: 0.2, seed: 43 });
  assert.notDeepEqual(b.val, a.val);
  // At least one held out when the fraction is positive, never all; 0 holds out none.
  assert.equal(splitEpisodes(eps, { valFraction: 0.01, seed: 1 }).val.length, 1);
  assert.equal(splitEpisodes(eps, { valFraction: 0.99, seed: 1 }).train.length, 1);
  assert.deepEqual(splitEpisodes(eps, { valFraction: 0, seed: 1 }).val, []);
  // Python's round: 0.25 * 10 = 2.5 rounds to 2, 0.35 * 10 = 3.5 to 4.
  assert.equal(splitEpisodes(eps, { valFraction: 0.25, seed: 1 }).val.length, 2);
  assert.equal(splitEpisodes(eps, { valFraction: 0.35, seed: 1 }).val.length, 4);
  const one = framed([4]);
  assert.deepEqual(splitEpisodes(one, { valFraction: 0.5, seed: 3 }), { train: [0], val: [] });
  assert.throws(() => splitEpisodes(eps, { valFraction: 1, seed: 0 }), /valFraction must be in/);
});
