/**
 * A policy trained by plain regression is served over openpi with its one sampler: one forward
 * pass on a zero input, the same chunk the engine gives run directly.
 */
import assert from "node:assert/strict";
import { gpuTest } from "./_gpu.ts";
import { startTestServer } from "../src/server/testing.ts";
import { connectPolicy } from "../src/server/policy_client.ts";
import { loadCheckpoint, saveCheckpoint } from "../src/model/checkpoint.ts";
import { loadModel } from "../src/sample/load.ts";
import { GpuDenoiser } from "../src/sample/denoiser.ts";
import { REGRESSION_SAMPLER } from "../src/sample/samplers.ts";
import { normalize, unnormalize } from "../src/policy/spec.ts";
import { writeTestPolicy } from "../examples/make_test_policy.ts";

gpuTest("openpi: a regression policy answers with its one forward pass", async (gpu) => {
  const dir = await Deno.makeTempDir({ prefix: "openpi-regression-" });
  const src = await loadCheckpoint(await writeTestPolicy(`${dir}/diffusion`, "tiny"));
  const policy = {
    ...src.policy!,
    objective: "regression" as const,
    sampler: "regression",
    steps: 1,
  };
  const tensors = Object.fromEntries(
    src.file.names().map((
      k,
    ) => [k, { dtype: "F32" as const, shape: src.file.info(k).shape, data: src.file.float32(k) }]),
  );
  await saveCheckpoint(`${dir}/regression`, { ...src, policy }, tensors, 1);
  const server = await startTestServer({
    denoiserModule: new URL("../src/server/gpu_denoiser.ts", import.meta.url).href,
    denoiserConfig: {},
    ckpt: `${dir}/regression`,
  });
  try {
    const client = await connectPolicy(server.url);
    assert.equal(client.metadata.sampler, REGRESSION_SAMPLER);
    assert.equal(client.metadata.steps, 1);
    const window = [200, 100, 300, 320, 0.5, 210, 110, 300, 320, 0.5];
    const a = await client.infer({
      "observation.state": { data: Float32Array.from(window), shape: [2, 5] },
    });
    await client.close();
    assert.deepEqual(a.shape, [16, 2]);
    // The engine run directly: no noise, so any seed gives the same chunk.
    const engine = new GpuDenoiser(gpu, await loadModel(gpu, `${dir}/regression`), {
      numTrainTimesteps: policy.numTrainTimesteps,
    });
    const cond = normalize(Float32Array.from(window), policy.stats.state);
    const { x0 } = await engine.sample({ sampler: REGRESSION_SAMPLER, steps: 1, seeds: [9], cond });
    const want = unnormalize(x0, policy.stats.action);
    for (let i = 0; i < want.length; i++) {
      assert.ok(Math.abs(a.actions[i] - want[i]) <= 1e-2, `${i}: ${a.actions[i]} vs ${want[i]}`);
    }
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
