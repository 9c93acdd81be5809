/**
 * `deno task serve`: the denoising server's command line.
 *
 * ```sh
 * deno task serve --port 8000 --ckpt runs/dit.ckpt --max-batch 32 --batch-window-ms 2
 * ```
 *
 * A checkpoint that carries a robot policy record is also served over openpi's websocket policy
 * protocol on `/` (docs/openpi.md).
 *
 * The denoiser module is `--denoiser <module>`, else `./gpu_denoiser.ts` beside this file when it
 * exists, else the CPU denoiser (with a warning). SIGINT/SIGTERM drain and stop the server; a
 * second signal exits at once.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { startServer } from "./server.ts";

const HELP = `Usage: deno task serve [options]

  --host <addr>             interface to listen on (default 127.0.0.1)
  --port <n>                port (default 8000, 0 for any free port)
  --ckpt <path>             checkpoint handed to the denoiser
  --denoiser <module>       denoiser module (default ./gpu_denoiser.ts if present, else CPU)
  --denoiser-config <json>  free-form denoiser settings, e.g. '{"shape":[4,16,16]}'
  --batch-window-ms <ms>    longest wait for batch company when idle (default 2)
  --fixed-window            always wait the full window (default: stop waiting once the
                            queue holds as many samples as the previous batch)
  --max-batch <n>           most samples per batch and per request (default 32)
  --max-steps <n>           most sampling steps per request (default 1000)
  --queue <n>               most samples waiting in the queue (default 256)
  --max-inflight <n>        most unanswered requests per connection (default 16)
  --max-frame-bytes <n>     largest accepted frame (default 8388608)
  --token <secret>          require this token as Bearer or Api-Key (or set DIT_SERVE_TOKEN)
  --seed <n>                openpi: reproducible sampling (default: random per observation)
  --sampler <name>          openpi: sampler of every observation (default: the policy's)
  --steps <n>               openpi: sampling steps of every observation (default: the policy's)
  --allow-origin <origin>   let browser pages from this origin connect (repeatable, * for any)
  -h, --help                show this help
`;

function number(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} takes a non-negative number`);
  return n;
}

async function exists(url: URL): Promise<boolean> {
  try {
    await Deno.stat(url);
    return true;
  } catch {
    return false;
  }
}

async function denoiserModule(flag: string | undefined): Promise<string> {
  if (flag) {
    if (/^[a-z]+:/i.test(flag) && !/^[a-z]:[\\/]/i.test(flag)) return flag;
    const path = flag.startsWith("/") ? flag : `${Deno.cwd()}/${flag}`;
    return new URL(`file://${path}`).href;
  }
  const gpu = new URL("./gpu_denoiser.ts", import.meta.url);
  if (await exists(gpu)) return gpu.href;
  console.warn("Warning: src/server/gpu_denoiser.ts not found, serving the CPU denoiser");
  return new URL("./cpu_denoiser.ts", import.meta.url).href;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      host: { type: "string" },
      port: { type: "string" },
      ckpt: { type: "string" },
      denoiser: { type: "string" },
      "denoiser-config": { type: "string" },
      "batch-window-ms": { type: "string" },
      "fixed-window": { type: "boolean" },
      "max-batch": { type: "string" },
      "max-steps": { type: "string" },
      queue: { type: "string" },
      "max-inflight": { type: "string" },
      "max-frame-bytes": { type: "string" },
      token: { type: "string" },
      seed: { type: "string" },
      sampler: { type: "string" },
      steps: { type: "string" },
      "allow-origin": { type: "string", multiple: true },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const module = await denoiserModule(values.denoiser);
  const server = startServer({
    host: values.host,
    port: number(values.port, "port") ?? 8000,
    ckpt: values.ckpt,
    denoiserModule: module,
    denoiserConfig: values["denoiser-config"] ? JSON.parse(values["denoiser-config"]) : undefined,
    batchWindowMs: number(values["batch-window-ms"], "batch-window-ms"),
    adaptiveWindow: !values["fixed-window"],
    maxBatch: number(values["max-batch"], "max-batch"),
    maxSteps: number(values["max-steps"], "max-steps"),
    queueSamples: number(values.queue, "queue"),
    maxInflightPerConnection: number(values["max-inflight"], "max-inflight"),
    maxFrameBytes: number(values["max-frame-bytes"], "max-frame-bytes"),
    token: values.token ?? Deno.env.get("DIT_SERVE_TOKEN") ?? undefined,
    allowedOrigins: values["allow-origin"],
    seed: number(values.seed, "seed"),
    policySampler: values.sampler,
    policySteps: number(values.steps, "steps"),
  });
  console.log(`Listening on ${server.url} (denoiser ${module})`);
  let stopping = false;
  const onSignal = () => {
    if (stopping) Deno.exit(130);
    stopping = true;
    console.log("Shutting down: finishing queued work");
    server.shutdown().then(() => Deno.exit(0));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    await server.ready;
  } catch (error) {
    console.error((error as Error).message);
    await server.shutdown();
    Deno.exit(1);
  }
}

if (import.meta.main) {
  main().catch((error) => {
    console.error((error as Error).message);
    Deno.exit(2);
  });
}
