/**
 * `deno task bench:policy`: a Push-T-sized policy (a DiT of width 256 and depth 6 over 16 x 2
 * actions, conditioned on 2 x 5 state values; untrained, written on the fly) served by
 * `src/server/main.ts` on the GPU engine, driven over openpi's websocket protocol by 1, 8 and 32
 * simulated robots in closed loops (each robot sends its latest state and waits for the chunk),
 * with DDIM 10 and DDPM 100 steps. Reports p50/p99 latency, chunks/s and where the time went
 * (queue, compute without the readback, the single readback, everything else), then the same
 * network in eager PyTorch on the same CPU (bench/peer_policy_torch.py, batch 1 and 32, same
 * steps) and the targets:
 * - one robot, DDIM 10: p50 within PyTorch's batch-1 sample plus Deno's ~11 ms readback floor;
 * - 32 robots: throughput gain over one robot at least PyTorch's batch-32 gain over batch 1;
 * - 8 robots: p99 below the chunk's duration, n_action_steps / fps (800 ms for Push-T).
 * The last line printed is one JSON object; progress goes to stderr.
 *
 * Flags: --robots 1,8,32  --configs ddim:10,ddpm:100  --duration 4 (s per cell)
 *        --min-rounds 3  --warmup-rounds 2 (per robot and cell)  --batch-window-ms <ms> (the
 *        server's batching window; its default, 2 ms, when absent)
 *        --no-peer  --threads 2  --python /usr/bin/python3  --size pusht|tiny
 *
 * @module
 */

import { parseArgs } from "node:util";
import { connect } from "../../src/server/client.ts";
import { connectPolicy, type PolicyClient } from "../../src/server/policy_client.ts";
import {
  PUSHT_TEST_SPEC,
  TEST_POLICY_SIZES,
  writeTestPolicy,
} from "../../examples/make_test_policy.ts";
import { serverStats, splitTrips, startServerProcess } from "./_server.ts";
import { mean, quantile } from "../../src/util/stats.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    robots: { type: "string", default: "1,8,32" },
    configs: { type: "string", default: "ddim:10,ddpm:100" },
    duration: { type: "string", default: "4" },
    "no-peer": { type: "boolean" },
    threads: { type: "string", default: "2" },
    python: { type: "string", default: "/usr/bin/python3" },
    size: { type: "string", default: "pusht" },
    "min-rounds": { type: "string", default: "3" },
    "warmup-rounds": { type: "string", default: "2" },
    "batch-window-ms": { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log(
    "Usage: deno task bench:policy [--robots 1,8,32] [--configs ddim:10,ddpm:100] " +
      "[--duration 4] [--min-rounds 3] [--warmup-rounds 2] [--batch-window-ms <server default>] " +
      "[--no-peer] [--threads 2] " +
      "[--python /usr/bin/python3] [--size pusht|tiny]",
  );
  Deno.exit(0);
}

/** Rounds per robot at least, so that a cell of slow batches still spans several of them. */
const MIN_ROUNDS = Number(values["min-rounds"]);
/** Warm-up rounds per robot: the batcher learns the crowd from the batches it sees. */
const WARMUP_ROUNDS = Number(values["warmup-rounds"]);
const spec = PUSHT_TEST_SPEC;
const size = values.size as keyof typeof TEST_POLICY_SIZES;
const net = TEST_POLICY_SIZES[size];
if (!net) throw new Error(`--size must be one of ${Object.keys(TEST_POLICY_SIZES).join(", ")}`);

interface Sample {
  rtt: number;
  timing: Record<string, number>;
}

interface Cell {
  sampler: string;
  steps: number;
  robots: number;
  requests: number;
  chunksPerSec: number;
  latencyMs: { p50: number; p99: number; mean: number };
  splitMs: { queue: number; compute: number; readback: number; other: number };
  meanBatch: number;
  samplesPerBatch: number;
}

const round = (x: number, digits = 1) => Number(x.toFixed(digits));
/** Where this protocol's results keep the parts of a round trip. */
const TIMING_KEYS = { queue: "queue_ms", compute: "compute_ms", readback: "readback_ms" } as const;

/** A robot's state: a pusher and a block somewhere on Push-T's table. */
function state(robot: number, i: number): Float32Array {
  const a = (robot * 37 + i * 11) % 400;
  return Float32Array.of(50 + a, 450 - a, 100 + (robot * 53) % 300, 300, (robot + i) % 6);
}

async function closedLoop(
  robots: PolicyClient[],
  ms: number,
  minRounds: number,
): Promise<{ samples: Sample[]; errors: unknown[]; seconds: number }> {
  const samples: Sample[] = [];
  const errors: unknown[] = [];
  const start = performance.now(), stopAt = start + ms;
  await Promise.all(robots.map(async (policy, r) => {
    for (let i = 0; performance.now() < stopAt || i < minRounds; i++) {
      const t0 = performance.now();
      try {
        const a = await policy.infer({ [spec.stateKey]: state(r, i) });
        samples.push({ rtt: performance.now() - t0, timing: a.timing });
      } catch (error) {
        errors.push(error);
        break;
      }
    }
  }));
  return { samples, errors, seconds: (performance.now() - start) / 1000 };
}

function summarize(
  sampler: string,
  steps: number,
  robots: number,
  run: Awaited<ReturnType<typeof closedLoop>>,
  samplesPerBatch: number,
): Cell {
  const { rtts, splitMs } = splitTrips(run.samples, TIMING_KEYS, 1);
  return {
    sampler,
    steps,
    robots,
    requests: run.samples.length,
    chunksPerSec: round(run.samples.length / run.seconds, 2),
    latencyMs: {
      p50: round(quantile(rtts, 0.5)),
      p99: round(quantile(rtts, 0.99)),
      mean: round(mean(rtts)),
    },
    splitMs,
    meanBatch: round(mean(run.samples.map((s) => s.timing.batch ?? 1))),
    samplesPerBatch: round(samplesPerBatch),
  };
}

function table(cells: Cell[]): string {
  const head = "sampler  steps robots  chunks/s    p50 ms    p99 ms |  queue  compute " +
    "readback   other | batch   run";
  const rows = cells.map((c) =>
    [
      c.sampler.padEnd(7),
      String(c.steps).padStart(6),
      String(c.robots).padStart(6),
      c.chunksPerSec.toFixed(2).padStart(9),
      c.latencyMs.p50.toFixed(1).padStart(9),
      c.latencyMs.p99.toFixed(1).padStart(9),
      " |" + c.splitMs.queue.toFixed(1).padStart(6),
      c.splitMs.compute.toFixed(1).padStart(8),
      c.splitMs.readback.toFixed(1).padStart(8),
      c.splitMs.other.toFixed(1).padStart(7),
      " |" + c.meanBatch.toFixed(1).padStart(6),
      c.samplesPerBatch.toFixed(1).padStart(5),
    ].join(" ")
  );
  return [head, ...rows].join("\n");
}

/**
 * Runs one batch of every padded size the engine records (GpuDenoiser.bucket: 1, 2, 4, 8, 16, 24,
 * 32) through protocol v1, whose requests carry n samples: the first batch of each size builds its
 * graph and pipelines, which must not land in a measured cell. Two steps suffice (the graph is
 * shared by every step count; recording a longer program is host work of a few milliseconds),
 * then one batch of the measured step count at batch 1 records that program.
 */
async function warmBuckets(url: string, sampler: string, steps: number): Promise<void> {
  const client = await connect(url, { timeoutMs: 600_000 });
  try {
    const dim = spec.nObsSteps * spec.stateDim;
    for (const n of [1, 2, 4, 8, 16, 24, 32]) {
      await client.sample({ n, steps: 2, sampler, seed: n, cond: new Float32Array(n * dim) });
    }
    await client.sample({ n: 1, steps, sampler, seed: 0, cond: new Float32Array(dim) });
  } finally {
    await client.close();
  }
}

async function runPeer(configs: [string, number][]): Promise<Record<string, number> | string> {
  try {
    const r = await new Deno.Command(values.python!, {
      args: [
        new URL("./peer_policy_torch.py", import.meta.url).pathname,
        values.threads!,
        "cpu",
        String(spec.horizon),
        String(spec.actionDim),
        String(spec.nObsSteps * spec.stateDim),
        String(net.hidden),
        String(net.depth),
        String(net.heads),
        configs.map(([s, n]) => `${s}:${n}`).join(","),
      ],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    if (r.code !== 0) return `peer exited with ${r.code}`;
    const out = JSON.parse(new TextDecoder().decode(r.stdout).trim().split("\n").pop()!);
    return out.sample_ms as Record<string, number>;
  } catch (e) {
    return (e as Error).message;
  }
}

async function main(): Promise<number> {
  const configs = values.configs!.split(",").map((c) => {
    const [s, n] = c.split(":");
    return [s, Number(n)] as [string, number];
  });
  const robotCounts = values.robots!.split(",").map(Number);
  const dir = await Deno.makeTempDir({ prefix: "bench-policy-" });
  const ckpt = await writeTestPolicy(dir, size);
  const cells: Cell[] = [];
  let code = 0;
  const total = configs.length * robotCounts.length;
  console.log(table([]));
  try {
    for (const [sampler, steps] of configs) {
      console.error(`Serving ${ckpt} (${size}: ${JSON.stringify(net)}) with ${sampler} x ${steps}`);
      const { url, process } = await startServerProcess([
        "--ckpt",
        ckpt,
        "--sampler",
        sampler,
        "--steps",
        String(steps),
        "--seed",
        "0",
        "--max-batch",
        "32",
        ...(values["batch-window-ms"] ? ["--batch-window-ms", values["batch-window-ms"]] : []),
      ], 300_000);
      const robots: PolicyClient[] = [];
      try {
        await warmBuckets(url, sampler, steps);
        for (let i = 0; i < Math.max(...robotCounts); i++) {
          robots.push(await connectPolicy(url, { timeoutMs: 600_000 }));
        }
        for (const count of robotCounts) {
          const group = robots.slice(0, count);
          console.error(`[${cells.length + 1}/${total}] ${count} robots x ${sampler} ${steps}`);
          await Promise.all(group.map((p) => p.reset()));
          await closedLoop(group, 0, WARMUP_ROUNDS);
          const before = await serverStats(url);
          const run = await closedLoop(group, Number(values.duration) * 1000, MIN_ROUNDS);
          const after = await serverStats(url);
          if (run.errors.length > 0) {
            code = 1;
            console.error(`${run.errors.length} errors, first: ${run.errors[0]}`);
          }
          const perBatch = (after.samples - before.samples) / (after.batches - before.batches);
          const cell = summarize(sampler, steps, count, run, perBatch);
          cells.push(cell);
          // Each row as it completes, so that a long run interrupted keeps what it measured.
          console.log(table([cell]).split("\n")[1]);
        }
      } finally {
        await Promise.all(robots.map((p) => p.close()));
        process.kill("SIGTERM");
        await process.status;
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  console.log("\n" + table(cells));

  const report: Record<string, unknown> = {
    network: { ...net, horizon: spec.horizon, actionDim: spec.actionDim },
    cells,
  };
  if (!values["no-peer"]) {
    console.error("PyTorch peer (eager, same network and steps) ...");
    const peer = await runPeer(configs);
    report.torch = peer;
    if (typeof peer === "string") console.log(`PyTorch peer unavailable: ${peer}`);
    else {
      console.log("PyTorch (eager, CPU) whole sample, ms:");
      for (const [k, v] of Object.entries(peer)) console.log(`  ${k.padEnd(12)} ${v.toFixed(1)}`);
      const cell = (s: string, n: number, r: number) =>
        cells.find((c) => c.sampler === s && c.steps === n && c.robots === r);
      const targets: Record<string, unknown> = {};
      for (const [s, n] of configs) {
        const b1 = peer[`${s}${n}-b1`], b32 = peer[`${s}${n}-b32`];
        const one = cell(s, n, 1), many = cell(s, n, 32), eight = cell(s, n, 8);
        if (one && s === "ddim" && n === 10) {
          const limit = b1 + 11;
          targets.oneRobotP50 = {
            ms: one.latencyMs.p50,
            limit: round(limit),
            ok: one.latencyMs.p50 <= limit,
          };
          console.log(
            `target ${s} ${n}, 1 robot p50 ${one.latencyMs.p50} ms vs PyTorch batch 1 + 11 = ` +
              `${limit.toFixed(1)} ms: ${one.latencyMs.p50 <= limit ? "met" : "missed"}`,
          );
        }
        if (one && many && b1 && b32) {
          const gain = many.chunksPerSec / one.chunksPerSec, torchGain = 32 * b1 / b32;
          targets[`gain32_${s}${n}`] = {
            gain: round(gain, 2),
            torch: round(torchGain, 2),
            ok: gain >= torchGain,
          };
          console.log(
            `target ${s} ${n}, 32 robots throughput gain ${gain.toFixed(2)}x vs PyTorch ` +
              `batch 32 over 1 ${torchGain.toFixed(2)}x: ${gain >= torchGain ? "met" : "missed"}`,
          );
        }
        if (eight) {
          const budget = 1000 * spec.nActionSteps / spec.fps;
          targets[`p99eight_${s}${n}`] = {
            ms: eight.latencyMs.p99,
            limit: budget,
            ok: eight.latencyMs.p99 < budget,
          };
          console.log(
            `target ${s} ${n}, 8 robots p99 ${eight.latencyMs.p99} ms vs ${budget} ms: ` +
              `${eight.latencyMs.p99 < budget ? "met" : "missed"}`,
          );
        }
      }
      report.targets = targets;
    }
  }
  console.log(JSON.stringify(report));
  return code;
}

Deno.exit(await main());
