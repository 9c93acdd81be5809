/**
 * The policy server (`src/server/main.ts`, what `deno task serve` runs) as a subprocess on a free
 * loopback port, for tools that need a served policy for a while: the Push-T evaluation and the
 * serving benchmarks. It resolves once the server listens and its `/healthz` answers 200.
 *
 * ```ts
 * const server = await startServerProcess(["--ckpt", "runs/policy", "--seed", "0"]);
 * console.log(server.url); // http://127.0.0.1:PORT
 * await server.stop();
 * ```
 *
 * @module
 */

/** Options of {@linkcode startServerProcess}. */
export interface ServerProcessOptions {
  /** Limit on start-up (listening and healthy), ms (default 60 s). */
  timeoutMs?: number;
  /**
   * Where the server's stderr goes: "inherit" (the caller's stderr) or "capture" (default: kept,
   * its last lines quoted when start-up fails).
   */
  stderr?: "inherit" | "capture";
}

/** A running server subprocess. */
export interface ServerProcess {
  /** `http://127.0.0.1:PORT` (the openpi websocket is the same address with `ws:`). */
  url: string;
  /** The subprocess. */
  process: Deno.ChildProcess;
  /** Stops the server (SIGTERM: it drains; SIGKILL after `graceMs`, default 10 s). Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

const MAIN = new URL("../server/main.ts", import.meta.url);

/**
 * Starts the server with `--host 127.0.0.1 --port 0` and `flags` and waits until it is healthy
 * (model loaded, warmed up). Throws with the server's last stderr lines when it exits or does not
 * become healthy within the limit; the process is stopped then.
 */
export async function startServerProcess(
  flags: string[],
  options: ServerProcessOptions = {},
): Promise<ServerProcess> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const capture = (options.stderr ?? "capture") === "capture";
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN.pathname, "--host", "127.0.0.1", "--port", "0", ...flags],
    stdout: "piped",
    stderr: capture ? "piped" : "inherit",
    stdin: "null",
    env: { XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp" },
  }).spawn();
  let errTail = "";
  const drained: Promise<void>[] = [];
  if (capture) {
    drained.push((async () => {
      for await (const text of process.stderr.pipeThrough(new TextDecoderStream())) {
        errTail = (errTail + text).slice(-2000);
      }
    })());
  }
  let hasExited = false;
  const exited = process.status.then(() => (hasExited = true, null));
  let stopped: Promise<void> | null = null;
  const stop = (graceMs = 10_000): Promise<void> => {
    stopped ??= (async () => {
      try {
        process.kill("SIGTERM");
      } catch { /* already gone */ }
      const timer = setTimeout(() => {
        try {
          process.kill("SIGKILL");
        } catch { /* already gone */ }
      }, graceMs);
      await process.status;
      clearTimeout(timer);
      await Promise.all(drained);
    })();
    return stopped;
  };
  const fail = async (why: string): Promise<never> => {
    await stop(2_000);
    const tail = errTail.trim().split("\n").slice(-5).join("\n");
    throw new Error(`The policy server ${why}${tail ? `:\n${tail}` : ""}`);
  };

  const lines = process.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const deadline = Date.now() + timeoutMs;
  let buffered = "";
  let url: string | null = null;
  while (!url) {
    const left = deadline - Date.now();
    if (left <= 0) return await fail(`did not listen within ${timeoutMs / 1000} s`);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const chunk = await Promise.race([
      lines.read(),
      new Promise<null>((r) => timer = setTimeout(() => r(null), left)),
    ]);
    clearTimeout(timer);
    if (chunk === null) continue;
    if (chunk.done) return await fail("exited before listening");
    buffered = (buffered + chunk.value).slice(-4000);
    url = buffered.match(/Listening on (http:\/\/\S+)/)?.[1] ?? null;
  }
  // Keep draining stdout so the server never blocks on a full pipe.
  drained.push((async () => {
    while (!(await lines.read()).done) { /* discard */ }
  })());
  while (Date.now() < deadline) {
    const res = await Promise.race([fetch(`${url}/healthz`).catch(() => null), exited]);
    await res?.body?.cancel();
    if (res?.status === 200) return { url, process, stop };
    if (hasExited) return await fail("exited before becoming healthy");
    await new Promise((r) => setTimeout(r, 100));
  }
  return await fail(`did not become healthy within ${timeoutMs / 1000} s`);
}
