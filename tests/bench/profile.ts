/**
 * `deno task profile`: where a forward pass or a training step spends its time on this adapter.
 *
 * Prints, for the program: its command count, the CPU time to encode it, to submit it and the wait
 * until the device is done (the wait includes Deno's ~10 ms readback sleep, see
 * docs/benchmarks.md), then GPU time per kernel from timestamp queries (each dispatch in its own
 * pass), largest first. On llvmpipe the timestamps are indicative only; on real GPUs they are the
 * tool for finding the next kernel to fix.
 *
 * Flags: --model small|tiny|DiT-S/2|seed (default small)  --batch 8  --train (a full training step
 *        instead of a forward)  --reps 5  --top 12
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Gpu } from "../../src/gpu/gpu.ts";
import { preset } from "../../src/model/config.ts";
import { forwardProgram, trainStepProgram } from "./_common.ts";
import { median } from "../../src/util/stats.ts";

const HELP = `Usage: deno task profile [options]

GPU time per kernel (timestamp queries), CPU encode time and device wait of a forward pass or a
training step, largest kernels first.

  --model <name>      small, tiny, DiT-S/2 or seed (default small)
  --batch <n>         batch size (default 8)
  --train             profile a full training step instead of a forward
  --reps <n>          repetitions (default 5)
  --top <n>           kernels listed (default 12)
  -h, --help          show this help`;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    model: { type: "string", default: "small" },
    batch: { type: "string", default: "8" },
    train: { type: "boolean" },
    reps: { type: "string", default: "5" },
    top: { type: "string", default: "12" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log(HELP);
  Deno.exit(0);
}
const B = Number(values.batch);
const reps = Number(values.reps);
if (!Number.isInteger(B) || B < 1) throw new Error(`--batch must be a positive integer`);
if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps must be a positive integer`);

const gpu = await Gpu.create({ profile: true });
const cfg = preset(values.model!);
const program = values.train
  ? await trainStepProgram(gpu, cfg, B)
  : await forwardProgram(gpu, cfg, B);
const what = `${values.model} batch ${B} ${values.train ? "training step" : "forward"}`;

// CPU encode / submit / device wait, median of `reps` after one warm-up.
const rows: number[][] = [];
for (let r = 0; r <= reps; r++) {
  const t0 = performance.now();
  const enc = gpu.device.createCommandEncoder();
  program.encode(enc);
  const cb = enc.finish();
  const t1 = performance.now();
  gpu.device.queue.submit([cb]);
  const t2 = performance.now();
  await gpu.device.queue.onSubmittedWorkDone();
  gpu.throwIfError(what);
  if (r > 0) rows.push([t1 - t0, performance.now() - t1, performance.now() - t2]);
}
const medianOf = (i: number) => median(rows.map((x) => x[i]));
console.log(`adapter: ${gpu.info.description} (${gpu.info.matmul} kernels)`);
console.log(
  `${what}: ${program.cmds.length} commands (${program.dispatches} dispatches); encode ` +
    `${medianOf(0).toFixed(2)} ms, submit + wait ${medianOf(1).toFixed(1)} ms`,
);

if (!gpu.profiler) {
  console.log("no timestamp queries on this adapter: no per-kernel times");
} else {
  gpu.profiler.active = true;
  gpu.submit(program);
  gpu.profiler.active = false;
  await gpu.sync();
  const byKernel = [...(await gpu.profiler.report()).entries()].sort((a, b) => b[1].ms - a[1].ms);
  const total = byKernel.reduce((s, [, v]) => s + v.ms, 0);
  console.log(`GPU time by kernel (timestamps), total ${total.toFixed(3)} ms:`);
  for (const [name, v] of byKernel.slice(0, Number(values.top))) {
    const share = (100 * v.ms / total).toFixed(1).padStart(5);
    console.log(`  ${v.ms.toFixed(3).padStart(9)} ms ${share}%  x${v.count}  ${name}`);
  }
}
