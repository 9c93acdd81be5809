/**
 * Seeded random VAE weights (for tests and benchmarks without a real checkpoint), and writing a
 * diffusers-style checkpoint directory (config.json + diffusion_pytorch_model.safetensors).
 *
 * Convolution and Linear weights are uniform with variance 1/fan_in (activations keep their scale
 * through the depth), GroupNorm weights 1 + U(-0.1, 0.1), every bias and GroupNorm bias
 * U(-0.1, 0.1) / 2.
 */
import { join } from "node:path";
import { writeSafetensorsAtomic } from "../io/safetensors.ts";
import { Rng } from "../util/prng.ts";
import { type VaeConfig, vaeConfigJson } from "./config.ts";
import { vaeLayout } from "./layout.ts";

/** Random tensors for every entry of the config's layout, by name. */
export function randomVaeTensors(cfg: VaeConfig, seed: number): Map<string, Float32Array> {
  const rng = new Rng(seed);
  const out = new Map<string, Float32Array>();
  for (const e of vaeLayout(cfg)) {
    const size = e.shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(size);
    const isWeight = e.name.endsWith(".weight");
    if (isWeight && e.shape.length > 1) {
      const fanIn = size / e.shape[0];
      const a = Math.sqrt(3 / fanIn);
      for (let i = 0; i < size; i++) v[i] = (2 * rng.next() - 1) * a;
    } else if (isWeight) {
      for (let i = 0; i < size; i++) v[i] = 1 + (2 * rng.next() - 1) * 0.1;
    } else {
      for (let i = 0; i < size; i++) v[i] = (2 * rng.next() - 1) * 0.05;
    }
    out.set(e.name, v);
  }
  return out;
}

/** Writes `dir`/config.json and `dir`/diffusion_pytorch_model.safetensors (F32). */
export async function writeVaeCheckpoint(
  dir: string,
  cfg: VaeConfig,
  tensors: ReadonlyMap<string, Float32Array>,
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify(vaeConfigJson(cfg), null, 2));
  const st: Parameters<typeof writeSafetensorsAtomic>[1] = {};
  for (const e of vaeLayout(cfg)) {
    st[e.name] = { dtype: "F32", shape: e.shape, data: tensors.get(e.name)! };
  }
  await writeSafetensorsAtomic(join(dir, "diffusion_pytorch_model.safetensors"), st);
}
