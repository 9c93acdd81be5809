import { deepEqual, equal, throws } from "node:assert/strict";
import { DEFAULT_TRAIN, type TrainOptions } from "../src/train/trainer.ts";
import { type BudgetedRun, parseDuration, planSteps, TimeBudget } from "../src/train/budget.ts";

Deno.test("parseDuration() reads h/m/s forms and plain seconds, and names bad input", () => {
  equal(parseDuration("10m"), 600);
  equal(parseDuration("90s"), 90);
  equal(parseDuration("1h30m"), 5400);
  equal(parseDuration("1.5h"), 5400);
  equal(parseDuration("2m30s"), 150);
  equal(parseDuration("45"), 45);
  for (const bad of ["", "ten", "10x", "m", "0m", "-5m", "10m junk"]) {
    throws(() => parseDuration(bad), /--time/, bad);
  }
});

Deno.test("planSteps() fills the budget with steps, validation, checkpoints and grids", () => {
  // 600 s budget, 0.96 planned = 576 s; 40 s gone, two 30 s grids, a final 5 s validation and a
  // 0.2 s final checkpoint leave 470.8 s. Each step costs 0.5 s + 5/200 s (validation every 200)
  // + 0.2/200 s (checkpoint every 200) = 0.526 s: 895 more steps.
  const steps = planSteps({
    budgetSec: 600,
    elapsedSec: 40,
    stepsDone: 40,
    secPerStep: 0.5,
    valSec: 5,
    gridSec: 30,
    grids: 2,
    valEvery: 200,
    ckptEvery: 200,
    ckptSec: 0.2,
  });
  equal(steps, 40 + Math.floor(470.8 / 0.526));
  // A budget already spent still trains one more step.
  equal(
    planSteps({
      budgetSec: 10,
      elapsedSec: 40,
      stepsDone: 40,
      secPerStep: 0.5,
      valSec: 0,
      gridSec: 0,
      grids: 1,
      valEvery: 0,
      ckptEvery: 100,
      ckptSec: 0,
    }),
    41,
  );
});

Deno.test("TimeBudget times a window of log lines, one validation pass, then fixes the run", async () => {
  let clock = 12; // seconds since process start: start-up and compilation before the first log
  const opts: TrainOptions = {
    ...DEFAULT_TRAIN,
    out: "unused",
    steps: 3300,
    batch: 16,
    valEvery: 200,
    ckptEvery: 200,
    sampleEvery: 1650,
    sampleSteps: 50,
    warmup: 100,
    cosine: true,
  };
  const run: BudgetedRun = {
    opts,
    validationLoss: () => {
      clock += 4; // one validation pass: 96 samples x 5 timesteps
      return Promise.resolve(0.5);
    },
    // A picture: 2 s of fixed cost and 1.5 s per sampler step.
    pictureSeconds: (steps) => {
      clock += 2 + 1.5 * steps;
      return Promise.resolve(2 + 1.5 * steps);
    },
  };
  const lines: string[] = [];
  const budget = new TimeBudget(run, 600, 30, (l) => lines.push(l), () => clock);
  const log = (step: number) => budget.onLog({ step, seconds: 0 });
  await log(10); // the window starts here
  for (const step of [20, 30]) {
    clock += 5;
    await log(step);
  }
  equal(budget.plan, null);
  clock += 5;
  await log(40); // 30 steps in 15 s: 0.5 s/step
  const plan = budget.plan!;
  equal(plan.secPerStep, 0.5);
  equal(plan.valSec, 4);
  // Timed from pictures of 1 (twice) and 3 steps: 2 s + 50 x 1.5 s.
  equal(plan.gridSec, 77);
  const expected = planSteps({
    budgetSec: 600,
    elapsedSec: 31 + 3.5 + 3.5 + 6.5,
    stepsDone: 40,
    secPerStep: 0.5,
    valSec: 4,
    gridSec: plan.gridSec,
    grids: 2,
    valEvery: 200,
    ckptEvery: 200,
    ckptSec: 0.2,
  });
  // The half-way grid falls on a log line (every 10 steps).
  deepEqual([opts.steps, opts.sampleEvery], [expected, Math.round(expected / 20) * 10]);
  equal(opts.warmup, 100);
  equal(lines.length, 1);
  // Later log lines change nothing.
  clock += 100;
  await log(50);
  equal(opts.steps, expected);
});

Deno.test("TimeBudget ends a warm-up longer than half the planned run at the planning step", async () => {
  let clock = 0;
  const opts: TrainOptions = {
    ...DEFAULT_TRAIN,
    out: "unused",
    steps: 3300,
    valEvery: 0,
    logEvery: 10,
    sampleEvery: 1650,
    warmup: 100,
    cosine: true,
  };
  const run: BudgetedRun = {
    opts,
    validationLoss: () => Promise.resolve(null),
    pictureSeconds: () => Promise.resolve(0),
  };
  const budget = new TimeBudget(run, 60, 30, () => {}, () => clock);
  await budget.onLog({ step: 10, seconds: 0 });
  clock = 30; // 1 s per step: about 27 steps are left in the planned 96% of the minute
  await budget.onLog({ step: 40, seconds: 0 });
  equal(opts.steps, 40 + Math.floor((60 * 0.96 - 30 - 0.2) / (1 + 0.2 / opts.ckptEvery)));
  equal(opts.warmup, 40);
  equal(opts.sampleEvery, 30); // 67 / 2, on a log line
});
