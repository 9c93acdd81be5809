/**
 * `deno task bench:policy-model`: the policy preset's costs at a few widths and depths (Push-T's
 * shapes: 16 actions of 2 dims, 2 x 5 state values): one DDIM 10-step sample at batch 1 (the
 * served request, end to end with its readback: median of `--reps`) and a training step at batch
 * 64 (full step, median over replays). Prints a table and one JSON line; progress on stderr.
 */
import { parseArgs } from "node:util";
import { Gpu } from "../../src/gpu/gpu.ts";
import { type DiTConfig, preset } from "../../src/model/config.ts";
import { DiTModel } from "../../src/model/model.ts";
import { GpuDenoiser } from "../../src/sample/denoiser.ts";
import { medianMs, trainStepProgram } from "./_common.ts";
import { median } from "../../src/util/stats.ts";

const HELP =
  `Usage: deno task bench:policy-model [--reps 15] [--sizes 128x4,192x4,256x4,256x6] [--batch 64]
  --reps <n>      DDIM 10-step samples timed per size (median reported)
  --sizes <list>  widths x depths of the pusht preset to measure
  --batch <n>     training-step batch`;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    reps: { type: "string", default: "15" },
    sizes: { type: "string", default: "128x4,192x4,256x4,256x6" },
    batch: { type: "string", default: "64" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log(HELP);
  Deno.exit(0);
}
const reps = Number(values.reps);
const B = Number(values.batch);
const gpu = await Gpu.create();
const rows: string[][] = [["width x depth", "params", "DDIM-10 batch 1 ms", `train step b${B} ms`]];
const out: Record<string, unknown> = {};
for (const size of values.sizes!.split(",")) {
  const [hidden, depth] = size.split("x").map(Number);
  const cfg: DiTConfig = { ...preset("pusht"), hidden, depth, heads: hidden / 64 };
  console.error(`${size}: sampling ...`);
  const model = DiTModel.create(gpu, cfg, { seed: 1 });
  const d = new GpuDenoiser(gpu, model, { numTrainTimesteps: 100 });
  const job = { sampler: "ddim", steps: 10, seeds: [1], cond: new Float32Array(10) };
  await d.sample(job); // records the program and compiles the pipelines
  const ts: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await d.sample({ ...job, seeds: [r] });
    ts.push(performance.now() - t0);
  }
  const sampleMs = median(ts);
  console.error(`${size}: training step ...`);
  const step = await trainStepProgram(gpu, cfg, B);
  const trainMs = await medianMs(gpu, [step], 5, 3);
  const params = model.parameterCount;
  rows.push([size, `${(params / 1e6).toFixed(2)}M`, sampleMs.toFixed(1), trainMs.toFixed(1)]);
  out[size] = { params, sampleMs, sampleMinMs: ts[0], trainMs };
}
const cpu = (() => {
  try {
    const info = Deno.readTextFileSync("/proc/cpuinfo");
    const m = info.match(/model name\s*:\s*(.*)/);
    const f = info.match(/cpu family\s*:\s*(\d+)/);
    return `${m?.[1] ?? "?"} (family ${f?.[1] ?? "?"})`;
  } catch {
    return "unknown";
  }
})();
console.log(`adapter ${gpu.info.description}; CPU ${cpu}; ${new Date().toISOString()}`);
for (const r of rows) console.log(r.map((c, i) => i ? c.padStart(20) : c.padEnd(14)).join(""));
console.log(JSON.stringify({ bench: "policy", cpu, results: out }));
