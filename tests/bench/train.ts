/**
 * `deno task bench:train`: training throughput (samples/s) and model-FLOPs utilisation of the
 * small presets at their default batch sizes (32x32x4 latents, full step: forward, loss, backward,
 * AdamW with clipping and EMA, weight repacking), with PyTorch on the CPU side by side in the same
 * run (bench/peer_train_torch.py) when python3 has torch. Prints a table and one JSON line.
 */
import { parseArgs } from "node:util";
import { Gpu } from "../../src/gpu/gpu.ts";
import { preset } from "../../src/model/config.ts";
import { trainFlops } from "../../src/model/flops.ts";
import { medianMs, trainStepProgram } from "./_common.ts";
import { PRESET_TRAIN } from "../../src/train/presets.ts";

const HELP = `Usage: deno task bench:train [options]

Training throughput (samples/s) and MFU of the tiny and small presets at their default batch
sizes, beside PyTorch on the same machine (tests/bench/peer_train_torch.py) when python3 has torch.

  --peak <GFLOP/s>    the adapter's peak for MFU (default 235 on a CPU adapter, none otherwise)
  --reps <n>          timed repetitions, median reported (default 3)
  --no-peer           skip PyTorch
  -h, --help          show this help`;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    peak: { type: "string" },
    reps: { type: "string", default: "3" },
    "no-peer": { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log(HELP);
  Deno.exit(0);
}
const gpu = await Gpu.create();
const peak = values.peak ? Number(values.peak) : gpu.info.isCpu ? 235 : NaN;
const reps = Number(values.reps);
const results: Record<string, unknown> = {};
const rows: string[][] = [[
  "preset",
  "batch",
  "engine ms/step",
  "samples/s",
  "GFLOP/s",
  "MFU",
  "PyTorch ms/step",
  "PyTorch samples/s",
  "speed-up",
]];
for (const name of ["tiny", "small"]) {
  const cfg = {
    ...preset(name),
    condition: { kind: "class" as const, numClasses: 9, nullClass: false },
  };
  const B = PRESET_TRAIN[name].batch!;
  const ms = await medianMs(gpu, [await trainStepProgram(gpu, cfg, B)], 5, reps);
  const flops = trainFlops(cfg, B);
  let peer: { train_step_ms: number; torch: string; threads: number } | null = null;
  if (!values["no-peer"]) {
    const arg = JSON.stringify({
      hidden: cfg.hidden,
      depth: cfg.depth,
      heads: cfg.heads,
      patch: cfg.patchSize,
      channels: 4,
      size: 32,
      dw: cfg.dwKernel,
      batch: B,
      classes: 9,
    });
    const r = await new Deno.Command("/usr/bin/python3", {
      args: [new URL("./peer_train_torch.py", import.meta.url).pathname, arg, "2"],
      stdout: "piped",
      stderr: "piped",
    }).output().catch(() => null);
    if (r?.code === 0) {
      peer = JSON.parse(new TextDecoder().decode(r.stdout).trim().split("\n").pop()!);
    }
  }
  const mfu = Number.isFinite(peak) ? flops / (ms / 1000) / (peak * 1e9) : null;
  results[name] = {
    batch: B,
    step_ms: ms,
    samples_per_s: B / (ms / 1000),
    gflops: flops / ms / 1e6,
    mfu,
    peer_step_ms: peer?.train_step_ms ?? null,
    peer_samples_per_s: peer ? B / (peer.train_step_ms / 1000) : null,
  };
  rows.push([
    name,
    String(B),
    ms.toFixed(1),
    (B / (ms / 1000)).toFixed(1),
    (flops / ms / 1e6).toFixed(1),
    mfu?.toFixed(3) ?? "-",
    peer?.train_step_ms.toFixed(1) ?? "-",
    peer ? (B / (peer.train_step_ms / 1000)).toFixed(1) : "-",
    peer ? (peer.train_step_ms / ms).toFixed(2) : "-",
  ]);
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const r of rows) {
  console.log(r.map((c, i) => (i ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("  "));
}
console.log(
  `adapter: ${gpu.info.description}; MFU against ${
    Number.isFinite(peak) ? peak + " GFLOP/s" : "unknown peak (--peak)"
  }; peer: PyTorch CPU, 2 threads`,
);
console.log(
  JSON.stringify({
    adapter: gpu.info.description,
    peak_gflops: Number.isFinite(peak) ? peak : null,
    presets: results,
  }),
);
