/** Shared pieces of the benchmarks: linear, forward and training-step programs, and timers. */
import type { Gpu, Program } from "../../src/gpu/gpu.ts";
import type { DiTConfig } from "../../src/model/config.ts";
import { DiTModel } from "../../src/model/model.ts";
import { DiTGraph } from "../../src/model/graph.ts";
import { GpuAdamW } from "../../src/train/optimizer.ts";
import { matmul, packMatrix } from "../../src/ops/matmul.ts";
import { median } from "../../src/util/stats.ts";

/** An inference forward of `cfg` at batch B (timestep 500, class 0) as a program, weights packed. */
export async function forwardProgram(gpu: Gpu, cfg: DiTConfig, B: number): Promise<Program> {
  const model = DiTModel.create(gpu, cfg, { seed: 1 });
  const g = await DiTGraph.build(gpu, model, { batch: B, training: false });
  g.setConditioning(new Array(B).fill(500), new Array(B).fill(0));
  gpu.submit(g.pack);
  return g.forward;
}

/**
 * One full training step of `cfg` at batch B as a program (clear grads, forward, loss, backward,
 * AdamW with clipping and EMA, weight repacking), with deterministic timesteps and labels.
 */
export async function trainStepProgram(gpu: Gpu, cfg: DiTConfig, B: number): Promise<Program> {
  const model = DiTModel.create(gpu, cfg, { training: true, seed: 1 });
  const g = await DiTGraph.build(gpu, model, { batch: B, training: true });
  const classes = cfg.condition.kind === "class" ? cfg.condition.numClasses : 1;
  const c = cfg.condition;
  g.setConditioning(
    Array.from({ length: B }, (_, i) => (i * 97) % 1000),
    Array.from({ length: B }, (_, i) => i % classes),
    c.kind === "vector"
      ? Float32Array.from({ length: B * c.dim }, (_, i) => (i % 7) / 7)
      : undefined,
  );
  const opt = await GpuAdamW.create(gpu, model.params, model.grads!, {
    lr: 1e-4,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weightDecay: 0,
    clipNorm: 1,
    emaDecay: 0.9999,
  });
  gpu.submit(g.pack);
  const step = gpu.program("train-step");
  step.clear(model.grads!);
  step.append(g.forward);
  step.append(g.lossAndBackward);
  step.append(opt.program);
  step.append(g.pack);
  return step;
}

/** One program replaying `n` copies of `programs`. */
function replays(gpu: Gpu, programs: Program[], n: number): Program {
  const p = gpu.program("bench");
  for (let i = 0; i < n; i++) for (const q of programs) p.append(q);
  return p;
}

/** Wall ms of one submit of `p` and the wait for it. */
async function submitMs(gpu: Gpu, p: Program): Promise<number> {
  const t0 = performance.now();
  gpu.submit(p);
  await gpu.sync();
  return performance.now() - t0;
}

/**
 * Median ms of `reps` submits, each replaying `inner` copies of the programs (amortising Deno's
 * ~10 ms readback floor), after one warm-up submit (pipeline JIT).
 */
export async function medianMs(
  gpu: Gpu,
  programs: Program[],
  inner: number,
  reps: number,
): Promise<number> {
  const p = replays(gpu, programs, inner);
  await submitMs(gpu, p);
  const ts: number[] = [];
  for (let r = 0; r < reps; r++) ts.push(await submitMs(gpu, p) / inner);
  return median(ts);
}

/**
 * Median ms per replay with the fixed cost of a submit and its readback (at least ~10 ms in
 * Deno, see docs/benchmarks.md) taken out: each of `reps` rounds times one submit of `inner`
 * replays and one of 2 x `inner`, and the round's figure is their difference over `inner`. For GPUs, where one
 * replay can be shorter than that fixed cost.
 */
export async function steadyMs(
  gpu: Gpu,
  programs: Program[],
  inner: number,
  reps: number,
): Promise<number> {
  const [once, twice] = [replays(gpu, programs, inner), replays(gpu, programs, 2 * inner)];
  await submitMs(gpu, twice);
  const ts: number[] = [];
  for (let r = 0; r < reps; r++) {
    const [long, short] = [await submitMs(gpu, twice), await submitMs(gpu, once)];
    // Noise can make the difference meaningless when a replay is tiny: then the whole long submit.
    ts.push(long > short ? (long - short) / inner : long / (2 * inner));
  }
  return median(ts);
}

/**
 * A program computing activations [M, K] times a packed weight [N, K]^T into [M, N] (the DiT's
 * linear layers), with its tensors' buffers for the caller to destroy.
 */
export async function linearProgram(
  gpu: Gpu,
  M: number,
  K: number,
  N: number,
): Promise<{ program: Program; buffers: GPUBuffer[] }> {
  const a = gpu.tensor([M, K], "a");
  const w = gpu.tensor([N, K], "w");
  const c = gpu.tensor([M, N], "c");
  const pack = gpu.program("pack");
  const packed = await packMatrix(pack, { t: w, ld: K }, N, K, false, "w");
  gpu.submit(pack);
  const program = gpu.program("mm");
  await matmul(program, {
    variant: "nt",
    M,
    N,
    K,
    a: { t: a, ld: K },
    b: packed,
    c: { t: c, ld: N },
  });
  return { program, buffers: [a.buffer, w.buffer, c.buffer] };
}
