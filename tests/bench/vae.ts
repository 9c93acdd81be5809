/**
 * `deno task bench:vae [--size 256] [--reps 2]`: milliseconds to encode and to decode one image
 * with the full-size Stable Diffusion VAE layout (sd-vae-ft-mse: block_out_channels
 * [128, 256, 512, 512], random weights), and the GPU memory the VAE allocates (buffers and
 * textures: weights, activation pool, packed operand tiles). The first call of each direction
 * (pipeline compilation, program recording) is reported separately; the steady-state figure is the
 * median of the following calls. Prints a table, then one JSON line.
 */
import { parseArgs } from "node:util";
import { Gpu } from "../../src/gpu/gpu.ts";
import { parseVaeConfig } from "../../src/vae/config.ts";
import { parameterCount, vaeLayout } from "../../src/vae/layout.ts";
import { VaeModel } from "../../src/vae/model.ts";
import { randomVaeTensors } from "../../src/vae/random.ts";
import { median } from "../../src/util/stats.ts";

/** The sd-vae-ft-mse structure (as recorded in tests/golden/vae_sd_ft_mse_layout.json). */
const SD_VAE = {
  in_channels: 3,
  out_channels: 3,
  down_block_types: Array(4).fill("DownEncoderBlock2D"),
  up_block_types: Array(4).fill("UpDecoderBlock2D"),
  block_out_channels: [128, 256, 512, 512],
  layers_per_block: 2,
  act_fn: "silu",
  latent_channels: 4,
  norm_num_groups: 32,
  sample_size: 256,
  scaling_factor: 0.18215,
};

const HELP = `Usage: deno task bench:vae [options]

Time to encode and decode one image with the full-size Stable Diffusion VAE layout (random
weights) and the GPU memory it allocates.

  --size <px>         image side, a multiple of 8 (default 256)
  --reps <n>          calls after the first, median reported (default 2)
  -h, --help          show this help`;

const MiB = 2 ** 20;

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      size: { type: "string", default: "256" },
      reps: { type: "string", default: "2" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const size = Number(values.size);
  const reps = Math.max(1, Number(values.reps));
  const cfg = parseVaeConfig(SD_VAE, "sd-vae-ft-mse structure");
  const gpu = await Gpu.create();
  const t0 = performance.now();
  const vae = VaeModel.fromTensors(gpu, cfg, randomVaeTensors(cfg, 0), {
    name: "sd-vae-ft-mse (random weights)",
    mode: "sample",
  });
  const uploadMs = performance.now() - t0;
  const weightBytes = vae.mem.totalBytes;
  const image = new Float32Array(3 * size * size).map((_, i) => Math.sin(i * 0.001));
  const run = async () => {
    let t = performance.now();
    const z = await vae.encode({ data: image, shape: [1, 3, size, size] });
    const enc = performance.now() - t;
    t = performance.now();
    const x = await vae.decode(z);
    const dec = performance.now() - t;
    if (!x.data.every(Number.isFinite)) throw new Error("Decoded image holds non-finite values");
    return { enc, dec };
  };
  const first = await run();
  const steady: { enc: number; dec: number }[] = [];
  for (let i = 0; i < reps; i++) steady.push(await run());
  const enc = median(steady.map((s) => s.enc));
  const dec = median(steady.map((s) => s.dec));
  const params = parameterCount(vaeLayout(cfg));
  const rows: [string, string][] = [
    ["adapter", `${gpu.info.description} (${gpu.info.matmul} matmuls)`],
    ["model", `${(params / 1e6).toFixed(2)}M parameters, ${size}x${size} image, batch 1`],
    ["upload (random weights)", `${uploadMs.toFixed(0)} ms`],
    ["encode, first call", `${first.enc.toFixed(0)} ms`],
    ["decode, first call", `${first.dec.toFixed(0)} ms`],
    [`encode (median of ${reps})`, `${enc.toFixed(0)} ms`],
    [`decode (median of ${reps})`, `${dec.toFixed(0)} ms`],
    ["GPU memory: weights", `${(weightBytes / MiB).toFixed(1)} MiB`],
    ["GPU memory: buffers", `${(vae.mem.bufferBytes / MiB).toFixed(1)} MiB`],
    ["GPU memory: textures", `${(vae.mem.textureBytes / MiB).toFixed(1)} MiB`],
    ["GPU memory: peak total", `${(vae.mem.totalBytes / MiB).toFixed(1)} MiB`],
  ];
  const w = Math.max(...rows.map((r) => r[0].length));
  for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v}`);
  console.log(JSON.stringify({
    bench: "vae",
    adapter: gpu.info.description,
    size,
    params,
    encode_ms: Math.round(enc),
    decode_ms: Math.round(dec),
    encode_first_ms: Math.round(first.enc),
    decode_first_ms: Math.round(first.dec),
    weight_bytes: weightBytes,
    buffer_bytes: vae.mem.bufferBytes,
    texture_bytes: vae.mem.textureBytes,
    peak_bytes: vae.mem.totalBytes,
  }));
  vae.destroy();
}

if (import.meta.main) await main();
