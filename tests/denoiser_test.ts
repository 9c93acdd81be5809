/**
 * GPU sampling: a sample depends only on its seed and condition (batched equals alone, for
 * deterministic and stochastic samplers), previews end at the same result, and bad jobs are
 * refused with the reason.
 */
import { ok as assert, rejects } from "node:assert/strict";
import { gpuTest } from "./_gpu.ts";
import { type DiTConfig, preset } from "../src/model/config.ts";
import { DiTModel } from "../src/model/model.ts";
import { GpuDenoiser } from "../src/sample/denoiser.ts";
import type { Gpu } from "../src/gpu/gpu.ts";

const cfg: DiTConfig = {
  ...preset("tiny"),
  input: { kind: "image", channels: 4, size: 8 },
  condition: { kind: "class", numClasses: 4, nullClass: false },
};

function model(gpu: Gpu, config: DiTConfig = cfg): DiTModel {
  const m = DiTModel.create(gpu, config, { seed: 1 });
  let s = 7;
  // Non-zero everywhere, so that the network output depends on its inputs.
  const p = Float32Array.from(
    { length: m.params.size },
    () => ((s = (s * 69069 + 1) >>> 0) / 2 ** 32 - 0.5) * 0.2,
  );
  gpu.write(m.params, p);
  return m;
}

const maxDiff = (a: Float32Array, b: Float32Array) =>
  a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

for (const sampler of ["ddim", "ddpm", "dpm++2m"]) {
  gpuTest(
    `GpuDenoiser.sample() with ${sampler}: a batched sample equals the same sample alone`,
    async (gpu) => {
      const d = new GpuDenoiser(gpu, model(gpu));
      const L = d.L;
      const batch = await d.sample({ sampler, steps: 6, seeds: [11, 12, 13], labels: [0, 3, 1] });
      for (let i = 0; i < 3; i++) {
        const alone = await d.sample({
          sampler,
          steps: 6,
          seeds: [11 + i],
          labels: [[0, 3, 1][i]],
        });
        const diff = maxDiff(alone.x0, batch.x0.subarray(i * L, (i + 1) * L));
        assert(diff <= 1e-6, `sample ${i}: ${diff}`);
      }
      // Different seeds give different samples; the same seed the same one.
      assert(maxDiff(batch.x0.subarray(0, L), batch.x0.subarray(L, 2 * L)) > 1e-3);
      const again = await d.sample({ sampler, steps: 6, seeds: [11, 12, 13], labels: [0, 3, 1] });
      assert(maxDiff(again.x0, batch.x0) === 0);
      assert(batch.x0.every(Number.isFinite));
    },
  );
}

gpuTest(
  "GpuDenoiser.sample() previews every step and ends where the one-submit run ends",
  async (gpu) => {
    const d = new GpuDenoiser(gpu, model(gpu));
    const steps: number[] = [];
    const withPreviews = await d.sample(
      { sampler: "ddim", steps: 5, seeds: [3], labels: [2] },
      (k, x0) => {
        assert(x0.length === d.L);
        steps.push(k);
      },
    );
    const plain = await d.sample({ sampler: "ddim", steps: 5, seeds: [3], labels: [2] });
    assert(steps.join() === "1,2,3,4", steps.join());
    assert(maxDiff(withPreviews.x0, plain.x0) <= 1e-6);
  },
);

gpuTest(
  "GpuDenoiser keeps a bounded number of recorded programs and re-records evicted ones exactly",
  async (gpu) => {
    const d = new GpuDenoiser(gpu, model(gpu));
    const job = (steps: number) => ({ sampler: "ddim", steps, seeds: [5], labels: [1] });
    const first = await d.sample(job(1));
    // One recording per step count: past the cap the least recently used ones go.
    for (let steps = 2; steps <= GpuDenoiser.maxPrograms + 2; steps++) {
      await d.sample(job(steps));
      assert(d.recordedPrograms <= GpuDenoiser.maxPrograms, `${d.recordedPrograms} kept`);
    }
    assert(d.recordedPrograms === GpuDenoiser.maxPrograms);
    // steps = 1 was evicted (and its buffers destroyed): it is recorded again, same result.
    const again = await d.sample(job(1));
    assert(maxDiff(again.x0, first.x0) === 0);
    assert(again.x0.every(Number.isFinite));
  },
);

Deno.test("GpuDenoiser.bucket(): powers of two up to 8, then multiples of 8", () => {
  const got = [1, 2, 3, 5, 8, 9, 16, 17, 20, 24, 25, 31, 32, 33].map(GpuDenoiser.bucket);
  const want = [1, 2, 4, 8, 8, 16, 16, 24, 24, 24, 32, 32, 32, 40];
  assert(got.every((b, i) => b === want[i]), `got ${got}`);
});

gpuTest(
  "GpuDenoiser.sample(): 17 samples (run as 24) equal the same samples alone",
  async (gpu) => {
    const d = new GpuDenoiser(gpu, model(gpu));
    const L = d.L;
    const seeds = Array.from({ length: 17 }, (_, i) => 40 + i);
    const labels = seeds.map((s) => s % 4);
    const batch = await d.sample({ sampler: "ddpm", steps: 3, seeds, labels });
    for (const i of [0, 16]) {
      const one = { sampler: "ddpm", steps: 3, seeds: [seeds[i]], labels: [labels[i]] };
      const diff = maxDiff((await d.sample(one)).x0, batch.x0.subarray(i * L, (i + 1) * L));
      assert(diff <= 1e-6, `sample ${i}: ${diff}`);
    }
  },
);

// The storage-buffer kernels (real GPUs) split a long-K product across workgroups when it has few
// rows: with width 256 the MLP's second layer has K = 1024, split for one sample (16 tokens) and
// not for 64 (1024 rows, 64 tiles). The sums' order depends on K alone (kChunk in matmul.ts), so
// sample 0 of the 64 is the same bits as sample 0 alone.
gpuTest(
  "GpuDenoiser.sample() with the GPU kernels: a sample batched with 63 others equals it alone bit for bit",
  async (gpu) => {
    const d = new GpuDenoiser(gpu, model(gpu, { ...cfg, hidden: 256, depth: 1 }));
    const seeds = Array.from({ length: 64 }, (_, i) => 100 + i);
    const labels = seeds.map((v) => v % 4);
    const batch = await d.sample({ sampler: "ddim", steps: 2, seeds, labels });
    for (const i of [0, 63]) {
      const one = await d.sample({
        sampler: "ddim",
        steps: 2,
        seeds: [seeds[i]],
        labels: [labels[i]],
      });
      const diff = maxDiff(one.x0, batch.x0.subarray(i * d.L, (i + 1) * d.L));
      assert(diff === 0, `sample ${i}: ${diff}`);
    }
    assert(batch.x0.every(Number.isFinite));
  },
  { matmul: "buffer" },
);

gpuTest("GpuDenoiser.sample() refuses bad jobs with the reason", async (gpu) => {
  const d = new GpuDenoiser(gpu, model(gpu));
  await rejects(
    () => d.sample({ sampler: "euler", steps: 5, seeds: [1], labels: [0] }),
    /Unknown sampler "euler"/,
  );
  await rejects(
    () => d.sample({ sampler: "ddim", steps: 0, seeds: [1], labels: [0] }),
    /Steps must be/,
  );
  await rejects(
    () => d.sample({ sampler: "ddim", steps: 5, seeds: [1], labels: [4] }),
    /Class label 4/,
  );
  await rejects(
    () => d.sample({ sampler: "ddim", steps: 5, seeds: [1, 2], labels: [0] }),
    /Expected 2 class labels/,
  );
  const noise = new Float32Array(d.L).fill(NaN);
  await rejects(
    () => d.sample({ sampler: "ddim", steps: 5, seeds: [1], labels: [0], noise }),
    /not finite/,
  );
});
