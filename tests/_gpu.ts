/**
 * Shared set-up for tests that need a WebGPU adapter.
 *
 * Without an adapter GPU tests are skipped (registered with `ignore`), so that the rest of the
 * suite still runs on a machine without Mesa's Vulkan driver. When the environment variable CI is
 * "true" they are never skipped: they run and fail with the reason, so a CI machine that lost its
 * adapter cannot go green silently.
 *
 * Register GPU tests with {@linkcode gpuTest}, or as `Deno.test({ ignore: skipGpu, ... })` calling
 * {@linkcode gpuOrSkip} for the context.
 */
import { Gpu } from "../src/gpu/gpu.ts";
import type { GpuOptions } from "../src/gpu/device.ts";

/** Why no adapter is available, or null when one is. Probed once, when this module loads. */
export const noAdapter: string | null = await probeAdapter();

/** True when the environment variable CI is "true": a missing adapter then fails GPU tests. */
export const inCI: boolean = readEnv("CI") === "true";

/** True when GPU tests are skipped: no adapter and not in CI. */
export const skipGpu: boolean = noAdapter !== null && !inCI;

async function probeAdapter(): Promise<string | null> {
  try {
    if (!("gpu" in navigator) || !navigator.gpu) return "navigator.gpu is missing";
    const adapter = await navigator.gpu.requestAdapter();
    return adapter ? null : "navigator.gpu.requestAdapter() returned null";
  } catch (e) {
    return `navigator.gpu.requestAdapter() threw: ${e instanceof Error ? e.message : e}`;
  }
}

function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no --allow-env: treat as unset
  }
}

const contexts = new Map<string, Promise<Gpu>>();

/**
 * The GPU context for `options` (one per distinct options, shared by every test of the file).
 * Only reached by tests that were not skipped: without an adapter (that is, in CI) it throws,
 * failing the test with the reason.
 */
export function gpuOrSkip(options: GpuOptions = {}): Promise<Gpu> {
  if (noAdapter !== null) {
    return Promise.reject(
      new Error(`No WebGPU adapter: ${noAdapter} (GPU tests are skipped unless CI=true)`),
    );
  }
  const key = JSON.stringify(options);
  let ctx = contexts.get(key);
  if (!ctx) contexts.set(key, ctx = Gpu.create(options));
  return ctx;
}

/**
 * Registers a GPU test: `fn` receives the shared context for `options`. Ignored (reported as
 * skipped) when {@linkcode skipGpu}. The sanitizers stay on: Deno 2.9's WebGPU objects do not
 * trip them.
 */
export function gpuTest(
  name: string,
  fn: (gpu: Gpu, t: Deno.TestContext) => Promise<void>,
  options: GpuOptions = {},
): void {
  Deno.test({
    name,
    ignore: skipGpu,
    fn: async (t) => fn(await gpuOrSkip(options), t),
  });
}
