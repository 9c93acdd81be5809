/**
 * The latent pipeline's last step: sampled latents decoded by a Stable Diffusion VAE, both in
 * `deno task sample --vae` and in the server's GPU denoiser (`{"vae": dir}`), with a small random
 * AutoencoderKL (the golden vae_small config: 4 latent channels, down factor 2).
 */
import { equal, ok as assert } from "node:assert/strict";
import { gpuTest } from "./_gpu.ts";
import { readSafetensors } from "../src/io/safetensors.ts";
import { parseVaeConfig } from "../src/vae/config.ts";
import { randomVaeTensors, writeVaeCheckpoint } from "../src/vae/random.ts";
import { type DiTConfig, preset } from "../src/model/config.ts";
import { DiTModel } from "../src/model/model.ts";
import { saveCheckpoint } from "../src/model/checkpoint.ts";
import { decodePng } from "../src/data/png.ts";
import { createDenoiser } from "../src/server/gpu_denoiser.ts";

const golden = new URL("./golden/vae_small.safetensors", import.meta.url);

async function fixtures(gpu: Parameters<Parameters<typeof gpuTest>[1]>[0]) {
  const root = await Deno.makeTempDir();
  const st = readSafetensors(await Deno.readFile(golden));
  const vaeCfg = parseVaeConfig(JSON.parse(st.metadata.model_config), "vae_small");
  await writeVaeCheckpoint(`${root}/vae`, vaeCfg, randomVaeTensors(vaeCfg, 5));
  // A DiT over 4x8x8 latents (the VAE decodes them to 3x16x16 images).
  const cfg: DiTConfig = {
    ...preset("tiny"),
    input: { kind: "image", channels: 4, size: 8 },
    condition: { kind: "class", numClasses: 3, nullClass: false },
  };
  const model = DiTModel.create(gpu, cfg, { seed: 4 });
  await saveCheckpoint(
    `${root}/run`,
    { config: cfg, step: 1, trainer: {} },
    await model.stateDict(),
    1,
  );
  return root;
}

gpuTest("deno task sample --vae decodes sampled latents into an image grid", async (gpu) => {
  const root = await fixtures(gpu);
  const out = `${root}/grid.png`;
  const r = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../src/cli/sample.ts", import.meta.url).pathname,
      ...[
        "--ckpt",
        `${root}/run`,
        "--vae",
        `${root}/vae`,
        "--n",
        "2",
        "--steps",
        "3",
        "--class",
        "1",
      ],
      ...["--out", out],
    ],
    env: { XDG_RUNTIME_DIR: "/tmp" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(r.code === 0, new TextDecoder().decode(r.stderr));
  const png = decodePng(await Deno.readFile(out), out);
  // One row of two 16x16 RGB images (upscaled by the grid), plus the row label.
  assert(png.width > png.height && png.height >= 16, `${png.width}x${png.height}`);
});

gpuTest("the server's GPU denoiser renders PNGs through a configured VAE", async (gpu) => {
  const root = await fixtures(gpu);
  const d = await createDenoiser({
    ckpt: `${root}/run`,
    maxBatch: 4,
    maxSteps: 10,
    config: { vae: `${root}/vae` },
  });
  equal(d.info.input.shape.join(), "4,8,8");
  const [x0] = await d.run([{
    id: "a",
    n: 2,
    steps: 3,
    sampler: "ddim",
    seeds: [1, 2],
    classes: new Int32Array([0, 2]),
  }]);
  equal(x0.length, 2 * 4 * 8 * 8);
  const pngs = await d.toPng!(x0, 2);
  equal(pngs.length, 2);
  for (const p of pngs) {
    const img = decodePng(p);
    equal(`${img.width}x${img.height}`, "16x16");
  }
  await d.dispose?.();
});
