/**
 * `deno task bench:serve`: drives the denoising server over loopback.
 *
 * Starts `src/server/main.ts` as a subprocess (CPU denoiser unless `--denoiser <module>`), then for
 * 1, 8 and 32 concurrent clients (n = 1, DDIM with 1, 10 and 50 steps) runs a closed loop for a few
 * seconds per cell, and at least 3 requests per client (a 32-client 50-step batch takes ~5 s
 * here), and reports p50/p90/p99 latency, samples/s and where the time went: queue, compute
 * (without the readback), the single readback (reported by the denoiser; 0 on CPU) and
 * everything else (codec, sockets, scheduling), and the batches: "batch" is the mean batch a
 * request ran in, "run" the samples per batch run (small batches show there, not in "batch").
 * `--soak 60` instead runs 32 clients with mixed step counts for 60 s and fails on any error or
 * lost request. The last line printed is one JSON object. With the CPU denoiser,
 * `--denoiser-config '{"stepMs":7,"readbackMs":10}'` simulates a GPU model's timing (the worker
 * blocks 7 ms per step, then sleeps 10 ms as Deno's readback does): the server's own overhead at
 * that cadence, without the GPU's load on the CPUs.
 *
 * Flags: --clients 1,8,32  --steps 1,10,50  --duration 3 (s per cell)  --soak <s>
 *        --denoiser <module>  --denoiser-config <json>  --batch-window-ms <ms>  --max-batch <n>
 *        --fixed-window (always wait the full batching window)
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  ClientError,
  connect,
  type DitClient,
  type SampleResult,
} from "../../src/server/client.ts";
import { serverStats, splitTrips, startServerProcess } from "./_server.ts";
import { mean, quantile } from "../../src/util/stats.ts";

const HELP = `Usage: deno task bench:serve [options]

Starts the server as a subprocess and drives it over loopback with closed-loop clients, reporting
latency quantiles, throughput and where the time went; the last line is one JSON object.

  --clients <list>          concurrent clients per cell (default 1,8,32)
  --steps <list>            DDIM steps per cell (default 1,10,50)
  --duration <s>            seconds per cell (default 3)
  --soak <s>                instead: 32 clients, mixed steps, for <s> seconds; fails on any loss
  --denoiser <module>       denoiser module (default src/server/cpu_denoiser.ts)
  --denoiser-config <json>  denoiser settings, e.g. '{"stepMs":7,"readbackMs":10}'
  --batch-window-ms <ms>    the server's batching window (default: the server's, 2)
  --fixed-window            always wait the full batching window
  --max-batch <n>           the server's largest batch (default 32)
  -h, --help                show this help`;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    clients: { type: "string", default: "1,8,32" },
    steps: { type: "string", default: "1,10,50" },
    duration: { type: "string", default: "3" },
    soak: { type: "string" },
    denoiser: { type: "string" },
    "denoiser-config": { type: "string" },
    "batch-window-ms": { type: "string" },
    "fixed-window": { type: "boolean" },
    "max-batch": { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log(HELP);
  Deno.exit(0);
}

const MAX_REQUESTS_PER_CELL = 200_000;
const WARMUP_MS = 300;
/** Requests per client at least, so that a cell of slow batches still spans several of them. */
const MIN_ROUNDS = 3;
/**
 * Warm-up requests per client: the scheduler learns the crowd from the batches it sees, so a cell
 * that follows one with fewer clients starts split (8 then 24) until every client has been back.
 */
const WARMUP_ROUNDS = 2;

interface Sample {
  rtt: number;
  timing: SampleResult["timing"];
}

interface Cell {
  clients: number;
  steps: number;
  n: number;
  requests: number;
  seconds: number;
  samplesPerSec: number;
  latencyMs: { p50: number; p90: number; p99: number; mean: number };
  splitMs: { queue: number; compute: number; readback: number; other: number };
  /** Per-request "other" (latency - queue - compute - readback): the target's quantiles. */
  otherMs: { p50: number; p99: number };
  /**
   * "other" split at the server's clock: the median part inside the server (frame received to
   * result encoded: decode, validation, scheduling, the worker hand-offs) and outside it (client
   * codec, both socket hops, the result's encoding and send).
   */
  otherSplitMs: { serverP50: number; outsideP50: number };
  /** Mean batch size seen by the requests (a request in a batch of b counts b). */
  meanBatch: number;
  /**
   * Samples per batch run (the server's sample and batch counters over the cell): unlike
   * meanBatch it shows small batches, such as a straggler or two sent off alone when a crowd
   * comes back slower than the batching window.
   */
  samplesPerBatch: number;
}

const round = (x: number, digits = 2) => Number(x.toFixed(digits));
/** Where this protocol's results keep the parts of a round trip. */
const TIMING_KEYS = { queue: "queueMs", compute: "computeMs", readback: "readbackMs" } as const;

function startServer(): Promise<{ url: string; process: Deno.ChildProcess }> {
  const flags: string[] = [];
  if (values.denoiser) flags.push("--denoiser", values.denoiser);
  else flags.push("--denoiser", new URL("../../src/server/cpu_denoiser.ts", import.meta.url).href);
  if (values["denoiser-config"]) flags.push("--denoiser-config", values["denoiser-config"]);
  if (values["batch-window-ms"]) flags.push("--batch-window-ms", values["batch-window-ms"]);
  if (values["fixed-window"]) flags.push("--fixed-window");
  flags.push("--max-batch", values["max-batch"] ?? "32");
  return startServerProcess(flags);
}

async function closedLoop(
  clients: DitClient[],
  steps: (client: number, i: number) => number,
  ms: number,
  record: boolean,
  minRounds = 0,
): Promise<{ samples: Sample[]; errors: unknown[]; sent: number; seconds: number }> {
  const samples: Sample[] = [];
  const errors: unknown[] = [];
  let sent = 0;
  const start = performance.now(), stopAt = start + ms;
  await Promise.all(clients.map(async (client, c) => {
    for (
      let i = 0;
      (performance.now() < stopAt || i < minRounds) && sent < MAX_REQUESTS_PER_CELL;
      i++
    ) {
      sent++;
      const t0 = performance.now();
      try {
        const cond = client.hello.model.condition;
        const r = await client.sample({
          n: 1,
          steps: steps(c, i),
          class: cond.kind === "class" ? (c + i) % cond.numClasses : undefined,
          cond: cond.kind === "vector" ? new Float32Array(cond.dim) : undefined,
          seed: i,
        });
        if (record) samples.push({ rtt: performance.now() - t0, timing: r.timing });
      } catch (error) {
        errors.push(error);
      }
    }
  }));
  return { samples, errors, sent, seconds: (performance.now() - start) / 1000 };
}

function summarize(
  clients: number,
  steps: number,
  run: Awaited<ReturnType<typeof closedLoop>>,
  samplesPerBatch: number,
) {
  const { rtts, splitMs } = splitTrips(run.samples, TIMING_KEYS, 2);
  // computeMs includes the readback, so what is left of each request's latency is "other".
  const others = run.samples.map((s) => s.rtt - s.timing.queueMs - s.timing.computeMs)
    .sort((a, b) => a - b);
  const inServer = run.samples.map((s) => s.timing.totalMs - s.timing.queueMs - s.timing.computeMs)
    .sort((a, b) => a - b);
  const outside = run.samples.map((s) => s.rtt - s.timing.totalMs).sort((a, b) => a - b);
  const cell: Cell = {
    clients,
    steps,
    n: 1,
    requests: run.samples.length,
    seconds: round(run.seconds),
    samplesPerSec: round(run.samples.length / run.seconds, 1),
    latencyMs: {
      p50: round(quantile(rtts, 0.5)),
      p90: round(quantile(rtts, 0.9)),
      p99: round(quantile(rtts, 0.99)),
      mean: round(mean(rtts)),
    },
    splitMs,
    otherMs: { p50: round(quantile(others, 0.5)), p99: round(quantile(others, 0.99)) },
    otherSplitMs: {
      serverP50: round(quantile(inServer, 0.5)),
      outsideP50: round(quantile(outside, 0.5)),
    },
    meanBatch: round(mean(run.samples.map((s) => s.timing.batchSamples ?? 1)), 1),
    samplesPerBatch: round(samplesPerBatch, 1),
  };
  return cell;
}

function table(cells: Cell[]): string {
  const head =
    "clients steps   req/s    p50 ms   p90 ms   p99 ms | queue  compute readback  other | other p50  p99 (server+outside) | batch  run";
  const rows = cells.map((c) =>
    [
      String(c.clients).padStart(7),
      String(c.steps).padStart(5),
      c.samplesPerSec.toFixed(1).padStart(7),
      c.latencyMs.p50.toFixed(2).padStart(9),
      c.latencyMs.p90.toFixed(2).padStart(8),
      c.latencyMs.p99.toFixed(2).padStart(8),
      " |" + c.splitMs.queue.toFixed(2).padStart(6),
      c.splitMs.compute.toFixed(2).padStart(8),
      c.splitMs.readback.toFixed(2).padStart(8),
      c.splitMs.other.toFixed(2).padStart(6),
      " |" + c.otherMs.p50.toFixed(2).padStart(10),
      c.otherMs.p99.toFixed(2).padStart(5),
      `(${c.otherSplitMs.serverP50.toFixed(2)}+${c.otherSplitMs.outsideP50.toFixed(2)})`.padStart(
        18,
      ),
      " |" + c.meanBatch.toFixed(1).padStart(6),
      c.samplesPerBatch.toFixed(1).padStart(5),
    ].join(" ")
  );
  return [head, ...rows].join("\n");
}

async function main(): Promise<number> {
  const { url, process } = await startServer();
  const clientCounts = values.clients!.split(",").map(Number);
  const maxClients = values.soak ? 32 : Math.max(...clientCounts);
  const clients: DitClient[] = [];
  let code = 0;
  const report: Record<string, unknown> = { server: url, denoiser: values.denoiser ?? "cpu" };
  try {
    for (let i = 0; i < maxClients; i++) clients.push(await connect(url, { timeoutMs: 60_000 }));
    report.model = clients[0].hello.model.name;
    if (values.soak) {
      const seconds = Number(values.soak);
      console.log(`Soak: 32 clients, mixed DDIM 1/10/50 steps, ${seconds} s`);
      const mix = (c: number, i: number) => [1, 10, 50][(c + i) % 3];
      await closedLoop(clients, mix, 2_000, false); // warm-up before the first memory reading
      const before = await serverStats(url);
      const t0 = performance.now();
      const ticker = setInterval(() => {
        const at = Math.round((performance.now() - t0) / 1000);
        console.error(`  soak ${at}/${seconds} s`);
      }, 10_000);
      const run = await closedLoop(clients, mix, seconds * 1000, true).finally(() =>
        clearInterval(ticker)
      );
      const after = await serverStats(url);
      const lost = run.sent - run.samples.length - run.errors.length;
      const soak = {
        seconds: round(run.seconds),
        sent: run.sent,
        answered: run.samples.length,
        errors: run.errors.length,
        lost,
        samplesPerSec: round(run.samples.length / run.seconds, 1),
        p99Ms: round(quantile(run.samples.map((s) => s.rtt).sort((a, b) => a - b), 0.99)),
        rssMiB: { before: round(before.rss / 2 ** 20, 1), after: round(after.rss / 2 ** 20, 1) },
        heapMiB: { before: round(before.heap / 2 ** 20, 1), after: round(after.heap / 2 ** 20, 1) },
      };
      for (const e of run.errors.slice(0, 5)) {
        console.error(e instanceof ClientError ? `${e.code}: ${e.message}` : e);
      }
      console.log(
        `sent ${soak.sent}, answered ${soak.answered}, errors ${soak.errors}, lost ${lost}, ` +
          `${soak.samplesPerSec} samples/s, p99 ${soak.p99Ms} ms, server RSS ` +
          `${soak.rssMiB.before} -> ${soak.rssMiB.after} MiB, heap ${soak.heapMiB.before} -> ` +
          `${soak.heapMiB.after} MiB`,
      );
      report.soak = soak;
      if (soak.errors > 0 || lost !== 0) code = 1;
    } else {
      const cells: Cell[] = [];
      const ms = Number(values.duration) * 1000;
      const stepCounts = values.steps!.split(",").map(Number);
      const total = stepCounts.length * clientCounts.length;
      for (const steps of stepCounts) {
        for (const count of clientCounts) {
          const group = clients.slice(0, count);
          const plural = (k: number, what: string) => `${k} ${what}${k === 1 ? "" : "s"}`;
          console.error(
            `[${cells.length + 1}/${total}] ${plural(count, "client")} x ${plural(steps, "step")}`,
          );
          await closedLoop(group, () => steps, WARMUP_MS, false, WARMUP_ROUNDS);
          const before = await serverStats(url);
          const run = await closedLoop(group, () => steps, ms, true, MIN_ROUNDS);
          const after = await serverStats(url);
          const perBatch = (after.samples - before.samples) / (after.batches - before.batches);
          if (run.errors.length > 0) {
            code = 1;
            console.error(`${run.errors.length} errors, first: ${run.errors[0]}`);
          }
          const cell = summarize(count, steps, run, perBatch);
          cells.push(cell);
          console.error(
            `  ${cell.samplesPerSec} samples/s, p50 ${cell.latencyMs.p50} ms, other p50 ` +
              `${cell.otherMs.p50} ms`,
          );
        }
      }
      console.log(table(cells));
      report.cells = cells;
    }
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    const t0 = performance.now();
    process.kill("SIGTERM");
    const status = await process.status;
    report.shutdownMs = round(performance.now() - t0, 1);
    report.serverExit = status.code;
  }
  console.log(JSON.stringify(report));
  return code;
}

Deno.exit(await main());
