/**
 * `deno task bench:tiles`: the storage-buffer matmul (the kernels real GPUs get) with 64x64 tiles,
 * with 128x128 tiles and with the engine's per-product choice (`bufferTile` in matmul.ts), at DiT
 * matmul shapes, a square product, the DiT-S/2 forward and training step, side by side in one run.
 * Times are GPU time per replay with the fixed cost of a submit and its readback taken out
 * (`steadyMs`). Prints a table and, as the last line, one JSON object. Meant for a GPU; on a CPU
 * adapter (llvmpipe), where the buffer kernels are ~10x slower than its own texture kernels and
 * the full set would take the better part of an hour, it runs the --quick set (smaller shapes,
 * the tiny model) unless given --full.
 *
 * Flags: --reps 3  --target-ms 30 (work per timed submit)  --quick  --full
 */
import { parseArgs } from "node:util";
import { Gpu, type Program } from "../../src/gpu/gpu.ts";
import type { BufferTile } from "../../src/gpu/device.ts";
import { bufferTile } from "../../src/ops/matmul.ts";
import { preset } from "../../src/model/config.ts";
import { forwardFlops, trainFlops } from "../../src/model/flops.ts";
import { forwardProgram, linearProgram, steadyMs, trainStepProgram } from "./_common.ts";

const HELP = `Usage: deno task bench:tiles [options]

The storage-buffer matmul (the kernels real GPUs get) with 64x64 tiles, 128x128 tiles and the
engine's own choice, at DiT shapes and in the DiT-S/2 forward and training step. Meant for a GPU;
on a CPU adapter it runs the --quick set unless given --full.

  --reps <n>          timed repetitions, median reported (default 3)
  --target-ms <ms>    work per timed submit (default 30)
  --quick             small shapes and the tiny model (default on a CPU adapter)
  --full              the full set even on a CPU adapter
  -h, --help          show this help`;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    reps: { type: "string", default: "3" },
    "target-ms": { type: "string", default: "30" },
    quick: { type: "boolean" },
    full: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log(HELP);
  Deno.exit(0);
}
const reps = Number(values.reps);
const targetMs = Number(values["target-ms"]);
const configs: { name: string; tile?: BufferTile }[] = [
  { name: "64x64", tile: 64 },
  { name: "128x128", tile: 128 },
  { name: "auto" },
];
const gpus = await Promise.all(
  configs.map((c) => Gpu.create({ matmul: "buffer", bufferTile: c.tile })),
);
const onCpu = gpus[0].info.isCpu;
const quick = !!values.quick || (onCpu && !values.full);
if (onCpu && quick && !values.quick) {
  console.log(
    `${
      gpus[0].info.description
    } is a CPU adapter: running the --quick set (--full for the GPU set)`,
  );
}

/** [M, K, N]: activations [M, K] times a weight [N, K]^T. */
const shapes: [number, number, number][] = quick ? [[256, 128, 512], [256, 512, 128]] : [
  [2048, 384, 1536], // DiT-S/2 batch 8: MLP up
  [2048, 1536, 384], // MLP down
  [2048, 384, 1152], // qkv
  [2048, 384, 384], // attention out
  [8192, 384, 1536], // batch 32
  [8192, 384, 384],
  [2048, 768, 3072], // seed (DiT-B/2 sized) batch 8: MLP up
  [4096, 4096, 4096], // square
];

/** Median ms per replay (readback floor taken out), with replays per submit filling ~`targetMs`. */
async function timeMs(gpu: Gpu, p: Program): Promise<number> {
  const probe = await steadyMs(gpu, [p], 4, 1);
  const inner = Math.max(1, Math.min(200, Math.round(targetMs / Math.max(probe, 0.01))));
  return await steadyMs(gpu, [p], inner, reps);
}

interface Row {
  measure: string;
  gflop: number;
  ms: number[];
}
const rows: Row[] = [];
/** Keeps a row and prints it at once (a run cut short still shows what it measured). */
function add(r: Row) {
  rows.push(r);
  console.log(
    `${r.measure}: ${r.ms.map((ms, i) => `${configs[i].name} ${ms.toFixed(3)}`).join(", ")} ms`,
  );
}
const model = quick ? "tiny" : "DiT-S/2";
const ditS = preset(model);
const B = quick ? 2 : 8;
for (
  const [what, build, flops] of [
    ["forward", forwardProgram, forwardFlops(ditS, B)],
    ["training step", trainStepProgram, trainFlops(ditS, B)],
  ] as const
) {
  const ms: number[] = [];
  for (const gpu of gpus) {
    ms.push(await timeMs(gpu, await build(gpu, ditS, B)));
  }
  add({ measure: `${what} ${model} batch ${B}`, gflop: flops / 1e9, ms });
}

for (const [M, K, N] of shapes) {
  const ms: number[] = [];
  for (const gpu of gpus) {
    const { program, buffers } = await linearProgram(gpu, M, K, N);
    ms.push(await timeMs(gpu, program));
    for (const b of buffers) b.destroy();
  }
  const auto = bufferTile(gpus[configs.findIndex((c) => !c.tile)], M, N, K, [1, 1]);
  add({ measure: `matmul ${M}x${K}x${N} (auto: ${auto})`, gflop: 2 * M * N * K / 1e9, ms });
}
const table = [[
  "measure",
  ...configs.flatMap((c) => [`${c.name} ms`, `${c.name} GFLOP/s`]),
]];
for (const r of rows) {
  table.push([
    r.measure,
    ...r.ms.flatMap((ms) => [ms.toFixed(3), (r.gflop / ms * 1e3).toFixed(0)]),
  ]);
}
const widths = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
console.log("");
for (const r of table) {
  console.log(r.map((c, i) => (i ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("  "));
}
console.log(`adapter: ${gpus[0].info.description}; median of ${reps} submits`);
console.log(JSON.stringify({
  adapter: gpus[0].info.description,
  configs: configs.map((c) => c.name),
  rows: rows.map((r) => ({ measure: r.measure, gflop: r.gflop, ms: r.ms })),
}));
