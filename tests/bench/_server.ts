/** Shared pieces of the serving benchmarks: a server subprocess, its /metrics counters, quantiles. */

import { startServerProcess as startPolicyServer } from "../../src/robot/policy_server.ts";

/** The value at quantile `q` of ascending `sorted` (NaN when empty). */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
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
