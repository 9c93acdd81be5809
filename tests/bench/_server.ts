/**
 * Shared pieces of the serving benchmarks: a server subprocess, its /metrics counters and the split of a round trip into server parts.
 */

import { startServerProcess as startPolicyServer } from "../../src/robot/policy_server.ts";
import { mean } from "../../src/util/stats.ts";

/** The mean round trip split into server parts, ms; "other" is what the parts leave over. */
export interface TripSplit {
  /** Mean time queued. */
  queue: number;
  /** Mean compute without the readback. */
  compute: number;
  /** Mean readback (0 where the server does not report it). */
  readback: number;
  /** Mean round trip less queue, compute and readback: codec, transport, hand-offs. */
  other: number;
}

/** Where a protocol's timing record keeps the parts of {@linkcode TripSplit}. */
export interface TimingKeys<T> {
  /** Time queued, ms. */
  queue: keyof T;
  /** Batch compute, the readback included, ms. */
  compute: keyof T;
  /** Readback, ms (may be absent). */
  readback: keyof T;
}

/**
 * The round trips in ascending order and the mean split of one, rounded to `digits` decimals;
 * `keys` name the timing fields of the protocol that answered.
 */
export function splitTrips<T>(
  samples: { rtt: number; timing: T }[],
  keys: TimingKeys<T>,
  digits: number,
): { rtts: number[]; splitMs: TripSplit } {
  const rtts = samples.map((s) => s.rtt).sort((a, b) => a - b);
  const part = (key: keyof T) => mean(samples.map((s) => Number(s.timing[key] ?? 0)));
  const queue = part(keys.queue), readback = part(keys.readback);
  // compute includes the readback; what is left of the round trip is "other".
  const compute = part(keys.compute) - readback;
  const round = (x: number) => Number(x.toFixed(digits));
  return {
    rtts,
    splitMs: {
      queue: round(queue),
      compute: round(compute),
      readback: round(readback),
      other: round(mean(rtts) - queue - compute - readback),
    },
  };
}

/**
 * Starts `src/server/main.ts` with `--port 0` and `flags` (its stderr on ours), and resolves once it
 * listens and its /healthz answers 200 (the model loaded and warmed up), within `timeoutMs`.
 */
export async function startServerProcess(
  flags: string[],
  timeoutMs = 60_000,
): Promise<{ url: string; process: Deno.ChildProcess }> {
  const { url, process } = await startPolicyServer(flags, { timeoutMs, stderr: "inherit" });
  return { url, process };
}

/** The server's memory gauges and sample/batch counters, from /metrics. */
export async function serverStats(
  url: string,
): Promise<{ rss: number; heap: number; samples: number; batches: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (name: string) => Number(text.match(new RegExp(`^${name} (\\S+)`, "m"))?.[1]);
  return {
    rss: value("dit_process_rss_bytes"),
    heap: value("dit_heap_used_bytes"),
    samples: value("dit_samples_total"),
    batches: value("dit_batches_total"),
  };
}
