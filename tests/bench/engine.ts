/**
 * `deno task bench:engine`: matmul throughput at DiT shapes, DiT forward latency and DiT-S/2
 * training-step time for 32x32x4 latents on the WebGPU adapter, side by side with PyTorch on the
 * same CPU (bench/peer_torch.py, when python3 has torch) in one run. Prints a table and, as the
 * last line, one JSON object. MFU is achieved model FLOP/s over the adapter's peak: for llvmpipe
 * the 2-core AVX2 FMA peak measured on this machine class (235 GFLOP/s),
 * for other adapters pass --peak <GFLOP/s>.
 *
 * On a GPU the times leave out the ~10 ms fixed cost of a submit and its readback (two submits of
 * different lengths, differenced); on llvmpipe they are whole submits over their replays.
 *
 * Flags: --peak <GFLOP/s>  --reps 3  --inner-scale 1 (replays per timed submit, times the
 *        default; raise it on a real GPU, where one step is shorter than the readback)
 *        --no-peer  --threads 2  --python /usr/bin/python3  --peer-device cpu|cuda
 */
import { parseArgs } from "node:util";
import { Gpu, type Program } from "../../src/gpu/gpu.ts";
import { type DiTConfig, preset } from "../../src/model/config.ts";
import { forwardFlops, trainFlops } from "../../src/model/flops.ts";
import { forwardProgram, linearProgram, medianMs, steadyMs, trainStepProgram } from "./_common.ts";

const HELP = `Usage: deno task bench:engine [options]

Matmul throughput at DiT shapes, DiT forward latency and the DiT-S/2 training step on this
adapter, beside PyTorch on the same machine (tests/bench/peer_torch.py) when python3 has torch.

  --peak <GFLOP/s>        the adapter's peak for MFU (default 235 on a CPU adapter, none otherwise)
  --reps <n>              timed repetitions, median reported (default 3)
  --inner-scale <n>       replays per timed submit, times the default (default 1; raise on a GPU)
  --no-peer               skip PyTorch
  --threads <n>           PyTorch threads (default 2)
  --python <path>         interpreter for the peer (default /usr/bin/python3)
  --peer-device <dev>     cpu or cuda (default cpu)
  -h, --help              show this help`;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    peak: { type: "string" },
    reps: { type: "string", default: "3" },
    "no-peer": { type: "boolean" },
    threads: { type: "string", default: "2" },
    python: { type: "string", default: "/usr/bin/python3" },
    "peer-device": { type: "string", default: "cpu" },
    "inner-scale": { type: "string", default: "1" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log(HELP);
  Deno.exit(0);
}
const reps = Number(values.reps);
const innerScale = Number(values["inner-scale"]);
if (!(innerScale >= 1) || !Number.isInteger(innerScale)) {
  throw new Error(`--inner-scale must be a positive integer, got ${values["inner-scale"]}`);
}
if (!["cpu", "cuda"].includes(values["peer-device"]!)) {
  throw new Error(`--peer-device must be cpu or cuda, got ${values["peer-device"]}`);
}
const gpu = await Gpu.create();
const peak = values.peak ? Number(values.peak) : gpu.info.isCpu ? 235 : NaN;

// On a GPU one replay can take less than the ~10 ms fixed cost of a submit and its readback, which
// is taken out by differencing (steadyMs); on llvmpipe that cost is a small share and the times
// stay whole submits over replays.
const time = (programs: Program[], inner: number) =>
  (gpu.info.isCpu ? medianMs : steadyMs)(gpu, programs, inner * innerScale, reps);

// ---- matmul at DiT-S/2 batch-8 shapes: activations [2048, K] times packed weights [N, K]^T ----
const shapes: [number, number, number][] = [
  [2048, 384, 1536],
  [2048, 1536, 384],
  [2048, 384, 1152],
  [2048, 384, 384],
];
const matmulMs: Record<string, number> = {};
const matmulGflops: Record<string, number> = {};
for (const [M, K, N] of shapes) {
  const { program } = await linearProgram(gpu, M, K, N);
  const ms = await time([program], 5);
  const key = `${M}x${K}x${N}`;
  matmulMs[key] = ms;
  matmulGflops[key] = 2 * M * N * K / ms / 1e6;
}

// ---- DiT forward and training step ----
const ditS: DiTConfig = preset("DiT-S/2");
const seedCfg: DiTConfig = preset("seed");
async function forwardMs(cfg: DiTConfig, B: number, inner: number) {
  return await time([await forwardProgram(gpu, cfg, B)], inner);
}
const forward: Record<string, number> = {
  "dit-s2-b1": await forwardMs(ditS, 1, 3),
  "dit-s2-b8": await forwardMs(ditS, 8, 1),
  "seed-b1": await forwardMs(seedCfg, 1, 2),
};
const stepP = await trainStepProgram(gpu, ditS, 8);
const train: Record<string, number> = { "dit-s2-b8": await time([stepP], 1) };

// ---- PyTorch peer ----
interface Peer {
  threads: number;
  torch: string;
  device: string;
  device_name?: string;
  matmul_ms: Record<string, number>;
  forward_ms: Record<string, number>;
  train_step_ms: Record<string, number>;
}
let peer: Peer | null = null;
let peerNote = "";
if (!values["no-peer"]) {
  try {
    const r = await new Deno.Command(values.python!, {
      args: [
        new URL("./peer_torch.py", import.meta.url).pathname,
        values.threads!,
        values["peer-device"]!,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (r.code === 0) {
      peer = JSON.parse(new TextDecoder().decode(r.stdout).trim().split("\n").pop()!);
    } else peerNote = new TextDecoder().decode(r.stderr).trim().split("\n").pop() ?? "failed";
  } catch (e) {
    peerNote = (e as Error).message;
  }
}

const mfu = (flops: number, ms: number) =>
  Number.isFinite(peak) ? flops / (ms / 1000) / (peak * 1e9) : null;
const rows: string[][] = [[
  "measure",
  "engine ms",
  "engine GFLOP/s",
  "MFU",
  "PyTorch ms",
  "ratio (engine/torch)",
]];
for (const [M, K, N] of shapes) {
  const key = `${M}x${K}x${N}`;
  const f = 2 * M * N * K;
  const pm = peer?.matmul_ms[key];
  rows.push([
    `matmul ${key}`,
    matmulMs[key].toFixed(1),
    matmulGflops[key].toFixed(1),
    (mfu(f, matmulMs[key]) ?? NaN).toFixed(3),
    pm?.toFixed(1) ?? "-",
    pm ? (matmulMs[key] / pm).toFixed(2) : "-",
  ]);
}
const fwdFlops: Record<string, number> = {
  "dit-s2-b1": forwardFlops(ditS, 1),
  "dit-s2-b8": forwardFlops(ditS, 8),
  "seed-b1": forwardFlops(seedCfg, 1),
};
for (const [k, ms] of Object.entries(forward)) {
  const pm = peer?.forward_ms[k];
  rows.push([
    `forward ${k}`,
    ms.toFixed(1),
    (fwdFlops[k] / ms / 1e6).toFixed(1),
    (mfu(fwdFlops[k], ms) ?? NaN).toFixed(3),
    pm?.toFixed(1) ?? "-",
    pm ? (ms / pm).toFixed(2) : "-",
  ]);
}
const tf = trainFlops(ditS, 8);
const pt = peer?.train_step_ms["dit-s2-b8"];
rows.push([
  "train step dit-s2-b8",
  train["dit-s2-b8"].toFixed(1),
  (tf / train["dit-s2-b8"] / 1e6).toFixed(1),
  (mfu(tf, train["dit-s2-b8"]) ?? NaN).toFixed(3),
  pt?.toFixed(1) ?? "-",
  pt ? (train["dit-s2-b8"] / pt).toFixed(2) : "-",
]);
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const r of rows) {
  console.log(r.map((c, i) => (i ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("  "));
}
console.log(
  `adapter: ${gpu.info.description} (${gpu.info.matmul} matmul kernels); peak for MFU: ${
    Number.isFinite(peak) ? peak + " GFLOP/s" : "unknown (--peak)"
  }`,
);
console.log(
  peer
    ? `peer: PyTorch ${peer.torch} on ${
      peer.device === "cpu" ? `the CPU, ${peer.threads} threads` : peer.device_name ?? peer.device
    }`
    : `peer: not run (${
      peerNote || "--no-peer"
    }); install with apt-get install -y python3-torch libopenblas0-openmp`,
);
console.log(JSON.stringify({
  adapter: gpu.info.description,
  matmul_kernels: gpu.info.matmul,
  matmul_gflops: matmulGflops,
  forward_ms: forward,
  train_step_ms: train,
  mfu: {
    peak_gflops: Number.isFinite(peak) ? peak : null,
    matmul: Object.fromEntries(
      shapes.map(([M, K, N]) => [`${M}x${K}x${N}`, mfu(2 * M * N * K, matmulMs[`${M}x${K}x${N}`])]),
    ),
    forward: Object.fromEntries(
      Object.entries(forward).map(([k, ms]) => [k, mfu(fwdFlops[k], ms)]),
    ),
    train_step: { "dit-s2-b8": mfu(tf, train["dit-s2-b8"]) },
  },
  peer: peer
    ? {
      name: peer.device === "cpu"
        ? `pytorch-${peer.torch}-cpu-${peer.threads}threads`
        : `pytorch-${peer.torch}-${peer.device_name ?? peer.device}-fp32`,
      matmul_ms: peer.matmul_ms,
      forward_ms: peer.forward_ms,
      train_step_ms: peer.train_step_ms,
      ratio_train_step: train["dit-s2-b8"] / peer.train_step_ms["dit-s2-b8"],
    }
    : null,
}));
