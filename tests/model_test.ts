/**
 * Whole-model tests: parity against the golden files computed by the upstream PyTorch code
 * (official DiT and the seed's dit.py: outputs, activations, every parameter gradient and
 * grad_x), a one-batch overfit run, and clear errors for bad state dicts and configs.
 */
import {
  equal as assertEquals,
  ok as assert,
  rejects as assertRejects,
  throws as assertThrows,
} from "node:assert/strict";
import { gpuTest } from "./_gpu.ts";
import { encodeSafetensors, loadSafetensors, readSafetensors } from "../src/io/safetensors.ts";
import { GRAD_LIMIT, OUTPUT_LIMIT, parityDit } from "../src/model/parity.ts";
import { DiTModel } from "../src/model/model.ts";
import { DiTGraph } from "../src/model/graph.ts";
import { type DiTConfig, preset, validateConfig } from "../src/model/config.ts";
import { GpuAdamW } from "../src/train/optimizer.ts";

const golden = (name: string) => new URL(`./golden/${name}`, import.meta.url);

// Both kernel families: llvmpipe's default ("texture") and the one real GPUs get ("buffer":
// storage-buffer matmuls, a workgroup per LayerNorm row), so the GPU path is checked end to end here.
for (
  const [file, family] of [
    ["dit_official_small.safetensors", "texture"],
    ["dit_seed_small.safetensors", "texture"],
    ["dit_official_small.safetensors", "buffer"],
    ["dit_seed_small.safetensors", "buffer"],
  ] as const
) {
  gpuTest(
    `parityDit() matches ${file} with ${family} kernels (outputs 1e-4, gradients 1e-3 of each tensor's max)`,
    async (gpu) => {
      assert(gpu.info.matmul === family, `kernel family ${gpu.info.matmul}`);
      const st = await loadSafetensors(golden(file));
      const rows = await parityDit(gpu, st);
      const keys = JSON.parse(st.metadata.state_dict_keys) as string[];
      // Every parameter gradient, grad_x and the output are compared.
      assert(rows.length >= keys.length + 2, `only ${rows.length} rows`);
      for (const name of ["output", "grad_x"]) assert(rows.some((r) => r.name === name), name);
      for (const r of rows) {
        assert(r.limit === OUTPUT_LIMIT || r.limit === GRAD_LIMIT);
        assert(r.error <= r.limit, `${r.name}: ${r.error} > ${r.limit}`);
      }
    },
    { matmul: family },
  );
}

gpuTest("DiTModel.loadStateDict() names missing, unexpected and misshaped keys", async (gpu) => {
  const st = await loadSafetensors(golden("dit_official_small.safetensors"));
  const cfg: DiTConfig = {
    ...preset("official-tiny"),
    input: { kind: "image", channels: 4, size: 8 },
  };
  const model = DiTModel.create(gpu, cfg);
  const sd = await model.stateDict();
  const without = { ...sd };
  delete without["blocks.1.mlp.fc2.bias"];
  assertThrows(
    () => model.loadStateDict(readSafetensors(encodeSafetensors(without))),
    /missing keys: blocks\.1\.mlp\.fc2\.bias/,
  );
  const extra = { ...sd, "blocks.9.attn.qkv.weight": sd["blocks.0.attn.qkv.weight"] };
  assertThrows(
    () => model.loadStateDict(readSafetensors(encodeSafetensors(extra))),
    /unexpected keys: blocks\.9/,
  );
  const bad = {
    ...sd,
    "final_layer.linear.weight": {
      dtype: "F32" as const,
      shape: [4, 4],
      data: new Float32Array(16),
    },
  };
  assertThrows(
    () => model.loadStateDict(readSafetensors(encodeSafetensors(bad))),
    /final_layer\.linear\.weight is \[4,4\], expected \[32,64\]/,
  );
  const nan = new Float32Array(sd["x_embedder.proj.bias"].data as Float32Array);
  nan[3] = NaN;
  const withNan = {
    ...sd,
    "x_embedder.proj.bias": { dtype: "F32" as const, shape: [64], data: nan },
  };
  assertThrows(
    () => model.loadStateDict(readSafetensors(encodeSafetensors(withNan))),
    /non-finite value at 3/,
  );
  // The golden file's weights load (its extra tensors are inputs and references).
  model.loadStateDict(st, { allowExtra: true });
});

Deno.test("validateConfig() rejects unsupported configs with the reason", () => {
  const base = preset("tiny");
  assertThrows(() => validateConfig({ ...base, heads: 5 }), /not divisible by heads 5/);
  assertThrows(
    () => validateConfig({ ...base, input: { kind: "image", channels: 4, size: 9 } }),
    /divisible by patch/,
  );
  assertThrows(() => validateConfig({ ...base, dwKernel: 5 }), /dwKernel/);
  assertThrows(() => validateConfig({ ...base, classDropout: 0.1 }), /null class/);
  assertThrows(() => preset("DiT-XXL/2"), /Unknown preset/);
});

gpuTest(
  "DiTGraph.setConditioning() rejects out-of-range labels and bad timestep counts",
  async (gpu) => {
    const model = DiTModel.create(gpu, {
      ...preset("tiny"),
      input: { kind: "image", channels: 4, size: 8 },
    });
    const g = await DiTGraph.build(gpu, model, { batch: 2, training: false });
    assertThrows(
      () => g.setConditioning([1, 2], [0, 10]),
      /Class label 10 at 1 is outside \[0, 10\)/,
    );
    assertThrows(() => g.setConditioning([1], [0, 1]), /Expected 2 timesteps/);
    await assertRejects(
      () => DiTGraph.build(gpu, model, { batch: 0, training: false }),
      /positive integer/,
    );
  },
);

gpuTest(
  "one-batch overfit: AdamW drives the loss down by at least 10x in 150 steps",
  async (gpu) => {
    // Seed architecture at 8x8x4, a fixed batch, fixed timesteps and a fixed target.
    const cfg: DiTConfig = { ...preset("tiny"), input: { kind: "image", channels: 4, size: 8 } };
    const model = DiTModel.create(gpu, cfg, { training: true, seed: 3 });
    const B = 4;
    const g = await DiTGraph.build(gpu, model, { batch: B, training: true });
    const opt = await GpuAdamW.create(gpu, model.params, model.grads!, {
      lr: 3e-3,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      weightDecay: 0,
      clipNorm: 1,
      emaDecay: 0,
    });
    let s = 1;
    const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
    gpu.write(g.x, Float32Array.from({ length: g.x.size }, rnd));
    gpu.write(g.target, Float32Array.from({ length: g.target.size }, rnd));
    g.setConditioning([10, 200, 500, 900], [0, 1, 2, 3]);
    const step = gpu.program("step");
    step.clear(model.grads!);
    step.append(g.forward);
    step.append(g.lossAndBackward);
    const losses: number[] = [];
    gpu.submit(g.pack);
    for (let i = 1; i <= 150; i++) {
      gpu.submit(step);
      if (i === 1 || i === 150) losses.push((await gpu.read(g.loss.slice(0, [1])))[0][0]);
      opt.prepare(i, 3e-3);
      gpu.submit(opt.program, g.pack);
    }
    assertEquals(losses.length, 2);
    assert(losses[1] < losses[0] / 10, `loss ${losses[0]} -> ${losses[1]}`);
  },
);
