/** Shared pieces of the serving benchmarks: a server subprocess, its /metrics counters, quantiles. */

/** The value at quantile `q` of ascending `sorted` (NaN when empty). */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/**
 * Starts `src/server/main.ts` with `--port 0` and `flags`, and resolves once it listens and its
 * /healthz answers 200 (the model loaded and warmed up), within `timeoutMs`.
 */
export async function startServerProcess(
  flags: string[],
  timeoutMs = 60_000,
): Promise<{ url: string; process: Deno.ChildProcess }> {
  const args = [
    "run",
    "-A",
    new URL("../../src/server/main.ts", import.meta.url).pathname,
    "--port",
    "0",
    ...flags,
  ];
  const process = new Deno.Command(Deno.execPath(), {
    args,
    stdout: "piped",
    stderr: "inherit",
    env: { XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp" },
  }).spawn();
  const lines = process.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  const deadline = Date.now() + timeoutMs;
  let url: string | null = null;
  while (!url && Date.now() < deadline) {
    const { value, done } = await lines.read();
    if (done) throw new Error("The server exited before listening");
    buffered += value;
    url = buffered.match(/Listening on (http:\/\/\S+)/)?.[1] ?? null;
  }
  if (!url) throw new Error(`The server did not start listening within ${timeoutMs / 1000} s`);
  // Keep draining stdout so the server never blocks on a full pipe.
  (async () => {
    while (!(await lines.read()).done) { /* discard */ }
  })();
  while (Date.now() < deadline) {
    const res = await fetch(`${url}/healthz`).catch(() => null);
    await res?.body?.cancel();
    if (res?.status === 200) return { url, process };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`The server did not become healthy within ${timeoutMs / 1000} s`);
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
