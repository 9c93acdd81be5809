/**
 * `deno task sample --ckpt <dir> --class <k> --n <count> --steps <s> --sampler <name> --seed <seed>
 * --out <png>`: samples from a checkpoint's EMA weights (no classifier-free guidance) and writes a
 * PNG grid; `--class all` gives one row per class. Prints what it did and how long it took.
 */
import { parseArgs } from "node:util";
import { intFlag } from "./flags.ts";
import { Gpu } from "../gpu/gpu.ts";
import { checkpointDiffusion, modelFromCheckpoint } from "../sample/load.ts";
import { GpuDenoiser } from "../sample/denoiser.ts";
import { samplerName, SAMPLERS } from "../sample/samplers.ts";
import { gridPng } from "../data/grid.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { latestCheckpoint, loadCheckpoint } from "../model/checkpoint.ts";
import { VaeModel } from "../vae/model.ts";

const HELP = `Usage: deno task sample --ckpt <run dir or file> [options]
  --class <k|all>   class label, or all (one row per class; default all)
  --n <count>       samples per class (default 8)
  --steps <s>       denoising steps (default 20)
  --sampler <name>  ${SAMPLERS.join(", ")} (default dpm++2m)
  --seed <seed>     first seed; sample i uses seed + i (default 0)
  --out <png>       output grid (default samples.png)
  --raw             use the raw weights instead of the EMA
  --vae <dir>       decode the sampled latents with this Stable Diffusion VAE (diffusers
                    AutoencoderKL: config.json + diffusion_pytorch_model.safetensors)`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      ckpt: { type: "string" },
      class: { type: "string", default: "all" },
      n: { type: "string" },
      steps: { type: "string" },
      sampler: { type: "string", default: "dpm++2m" },
      seed: { type: "string" },
      out: { type: "string", default: "samples.png" },
      raw: { type: "boolean" },
      vae: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help || !values.ckpt) {
    console.log(HELP);
    return values.help ? 0 : 2;
  }
  const n = intFlag(values.n, "n", 8, 1);
  const steps = intFlag(values.steps, "steps", 20);
  const seed = intFlag(values.seed, "seed", 0);
  samplerName(values.sampler!); // checked before any checkpoint is read
  const path = latestCheckpoint(values.ckpt);
  const meta = await loadCheckpoint(path);
  const cfg = meta.config;
  const classNames =
    ((meta.trainer.dataset as { classNames?: string[] } | undefined)?.classNames) ?? [];
  const gpu = await Gpu.create();
  const model = modelFromCheckpoint(gpu, meta, { ema: !values.raw });
  const denoiser = new GpuDenoiser(gpu, model, checkpointDiffusion(meta));
  const cond = cfg.condition;
  let classes: number[] = [0];
  if (cond.kind === "class") {
    classes = values.class === "all"
      ? Array.from({ length: cond.numClasses }, (_, k) => k)
      : [intFlag(values.class, "class", 0)];
    for (const k of classes) {
      if (k >= cond.numClasses) throw new Error(`--class ${k} is outside [0, ${cond.numClasses})`);
    }
  }
  const t0 = performance.now();
  const parts: Float32Array[] = [];
  for (const k of classes) {
    const { x0 } = await denoiser.sample({
      sampler: values.sampler!,
      steps,
      seeds: Array.from({ length: n }, (_, i) => seed + i),
      labels: cond.kind === "class" ? new Array(n).fill(k) : undefined,
      cond: cond.kind === "vector" ? new Float32Array(n * cond.dim) : undefined,
    });
    parts.push(x0);
  }
  const ms = performance.now() - t0;
  if (cfg.input.kind !== "image") throw new Error("Only image models can be written as a PNG grid");
  const all = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  parts.reduce((o, p) => (all.set(p, o), o + p.length), 0);
  const { channels, size } = cfg.input;
  let images: Float32Array = all;
  let shape: [number, number, number, number] = [classes.length * n, channels, size, size];
  if (values.vae) {
    const vae = await VaeModel.load(gpu, values.vae, { mode: "mean" });
    const decoded = await vae.decode({ data: all, shape });
    images = decoded.data;
    shape = decoded.shape as [number, number, number, number];
  }
  const png = gridPng(images, shape, {
    rows: classes.length,
    cols: n,
    rowLabels: cond.kind === "class"
      ? classes.map((k) => (classNames[k] ?? `class ${k}`).slice(0, 12))
      : undefined,
  });
  await writeFileAtomic(values.out!, png);
  console.log(
    `${classes.length * n} samples (${values.sampler}, ${steps} steps) from ${path} in ${
      ms.toFixed(0)
    } ms ` +
      `on ${gpu.info.description} -> ${values.out}`,
  );
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (e) {
    console.error(`sample: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
