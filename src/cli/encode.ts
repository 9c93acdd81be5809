/**
 * `deno task encode`: encodes an image folder into Stable Diffusion VAE latents for
 * `deno task train --data <latents.safetensors>`. Writes the latents (already multiplied by the
 * VAE's scaling factor), the labels (class subfolders) and the class names in the latents file
 * format (src/data/latents.ts), atomically and only after every image was encoded.
 */
import { parseArgs } from "node:util";
import { dirname } from "node:path";
import { Gpu } from "../gpu/gpu.ts";
import { loadImageFolder } from "../data/folder.ts";
import { saveLatents } from "../data/latents.ts";
import { Progress } from "../util/progress.ts";
import { checkpointPaths } from "../vae/checkpoint.ts";
import { VaeModel } from "../vae/model.ts";
import { downFactor } from "../vae/config.ts";

const HELP =
  `Usage: deno task encode --vae <dir> --images <dir> --out <latents.safetensors> [options]
  --vae <dir>       diffusers AutoencoderKL directory (config.json + diffusion_pytorch_model.safetensors),
                    e.g. a download of stabilityai/sd-vae-ft-mse
  --images <dir>    image folder: one subfolder per class, or a flat folder of PNGs
  --out <file>      latents file to write (.safetensors)
  --size <n>        image side after centre crop and resize (default 256; a multiple of 8)
  --batch <n>       images per GPU batch (default 4)
  --sample          store posterior samples mean + std * noise (default)
  --mean            store posterior means instead
  --seed <n>        noise seed for --sample (default 0); image i's noise depends on (seed, i) only`;

function positiveInt(v: string | undefined, name: string, def: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) {
    throw new Error(`--${name} expects a positive integer, got "${v}"`);
  }
  return n;
}

/** Options of {@linkcode encodeMain} (for tests). */
export interface EncodeMainOptions {
  /** print nothing */
  quiet?: boolean;
  /** GPU context to use (default: a new one) */
  gpu?: Gpu;
}

/** Runs the command with `args`; returns the exit code (errors are thrown). */
export async function encodeMain(args: string[], options: EncodeMainOptions = {}): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      vae: { type: "string" },
      images: { type: "string" },
      out: { type: "string" },
      size: { type: "string" },
      batch: { type: "string" },
      sample: { type: "boolean" },
      mean: { type: "boolean" },
      seed: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const log = options.quiet ? () => {} : console.log;
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  for (const key of ["vae", "images", "out"] as const) {
    if (!values[key]) throw new Error(`Missing --${key} (see --help)`);
  }
  if (values.sample && values.mean) throw new Error("Pass either --sample or --mean, not both");
  const size = positiveInt(values.size, "size", 256);
  const batch = positiveInt(values.batch, "batch", 4);
  const seed = values.seed === undefined ? 0 : Number(values.seed);
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new Error(`--seed expects a non-negative integer, got "${values.seed}"`);
  }
  const out = values.out!;
  if (!out.endsWith(".safetensors")) throw new Error(`--out must end in .safetensors: ${out}`);
  const outDir = dirname(out);
  try {
    if (!Deno.statSync(outDir).isDirectory) throw new Error();
  } catch {
    throw new Error(`Output directory not found: ${outDir}`);
  }
  // Check every input before the slow work: nothing is written unless all succeeds.
  checkpointPaths(values.vae!);
  const data = loadImageFolder(values.images!, { size, channels: 3, cache: false });
  const gpu = options.gpu ?? await Gpu.create();
  const vae = await VaeModel.load(gpu, values.vae!, {
    mode: values.mean ? "mean" : "sample",
    seed,
  });
  try {
    const f = downFactor(vae.cfg);
    if (size % f !== 0) throw new Error(`--size ${size} is not a multiple of ${f}`);
    const [L, h, w] = vae.latentShape([3, size, size]);
    const N = data.length;
    log(
      `VAE ${vae.name} (${gpu.info.description}): ${N} images of ${data.name} (${data.numClasses} classes) ` +
        `at ${size}x${size} -> latents [${L},${h},${w}] x ${vae.scalingFactor}, ` +
        `${values.mean ? "posterior means" : `posterior samples (seed ${seed})`}`,
    );
    const per = L * h * w;
    const latents = new Float32Array(N * per); // [N, L, h, w]
    const labels = new Int32Array(N);
    const img = 3 * size * size;
    const progress = new Progress({
      total: Math.ceil(N / batch),
      label: "encode",
      every: Math.max(1, Math.floor(Math.ceil(N / batch) / 20)),
      sink: options.quiet ? { isTerminal: false, write: () => {} } : undefined,
    });
    for (let i0 = 0, step = 1; i0 < N; i0 += batch, step++) {
      const B = Math.min(batch, N - i0);
      const images = new Float32Array(B * img); // [B, 3, size, size]
      for (let b = 0; b < B; b++) {
        const s = data.get(i0 + b);
        images.set(s.x, b * img);
        labels[i0 + b] = s.label;
      }
      const r = await vae.encodeDetailed(
        { data: images, shape: [B, 3, size, size] },
        { firstIndex: i0 },
      );
      latents.set(r.latent, i0 * per);
      progress.update(step, { samples: B });
    }
    progress.done();
    await saveLatents(out, {
      latents,
      shape: [N, L, h, w],
      labels,
      classNames: data.classNames,
      autoencoder: vae.name,
      scalingFactor: vae.scalingFactor,
    });
    let sq = 0;
    for (const v of latents) sq += v * v;
    log(
      `wrote ${out}: latents [${N},${L},${h},${w}] (rms ${
        Math.sqrt(sq / latents.length).toFixed(3)
      })`,
    );
    return 0;
  } finally {
    vae.destroy();
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await encodeMain(Deno.args));
  } catch (e) {
    console.error(`encode: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
