/**
 * The robot-policy configuration: token-sequence input [N, T, C] (no patchify, 1-D depthwise conv)
 * conditioned on observation vectors, for both architectures. The backward is checked end to end
 * by a directional derivative of the loss (central differences on the GPU in float32, tolerance
 * 2e-2 relative), and a fixed batch must overfit.
 */
import { ok as assert } from "node:assert/strict";
import { gpuTest } from "./_gpu.ts";
import type { DiTConfig } from "../src/model/config.ts";
import { DiTModel } from "../src/model/model.ts";
import { DiTGraph } from "../src/model/graph.ts";
import type { Gpu } from "../src/gpu/gpu.ts";

function policy(arch: "seed" | "official"): DiTConfig {
  return {
    arch,
    input: { kind: "sequence", channels: 7, length: 16 },
    condition: { kind: "vector", dim: 5 },
    patchSize: 1,
    hidden: 32,
    depth: 2,
    heads: 4,
    mlpRatio: 4,
    outChannels: 7,
    classDropout: 0,
    dwKernel: arch === "seed" ? 4 : 0,
  };
}

function lcg(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

async function setup(gpu: Gpu, cfg: DiTConfig) {
  const model = DiTModel.create(gpu, cfg, { training: true, seed: 2 });
  const rnd = lcg(9);
  // Non-zero adaLN and output layers, so that every path carries gradient.
  const params = Float32Array.from({ length: model.params.size }, () => 0.1 * rnd());
  gpu.write(model.params, params);
  const B = 3;
  const g = await DiTGraph.build(gpu, model, { batch: B, training: true });
  gpu.write(g.x, Float32Array.from({ length: g.x.size }, rnd));
  gpu.write(g.target, Float32Array.from({ length: g.target.size }, rnd));
  g.setConditioning([3, 400, 999], undefined, Float32Array.from({ length: B * 5 }, rnd));
  gpu.submit(g.pack);
  return { model, g, params };
}

for (const arch of ["seed", "official"] as const) {
  gpuTest(
    `sequence input with vector conditions (${arch}): backward matches a directional derivative`,
    async (gpu) => {
      const { model, g, params } = await setup(gpu, policy(arch));
      const step = gpu.program("step");
      step.clear(model.grads!);
      step.append(g.forward);
      step.append(g.lossAndBackward);
      gpu.submit(step);
      const [grads] = await gpu.read(model.grads!);
      const rnd = lcg(4);
      const v = Float32Array.from({ length: params.length }, rnd);
      let gv = 0;
      for (let i = 0; i < v.length; i++) gv += grads[i] * v[i];
      const h = 1e-3;
      const lossAt = async (sign: number) => {
        gpu.write(model.params, params.map((p, i) => p + sign * h * v[i]));
        gpu.submit(g.pack, step);
        return (await gpu.read(g.loss.slice(0, [1])))[0][0];
      };
      const fd = ((await lossAt(1)) - (await lossAt(-1))) / (2 * h);
      assert(Math.abs(gv) > 1e-3, `directional derivative too small to test: ${gv}`);
      assert(Math.abs(fd - gv) <= 2e-2 * Math.abs(gv), `g.v = ${gv}, finite difference ${fd}`);
    },
  );
}
