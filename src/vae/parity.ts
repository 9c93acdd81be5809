/**
 * VAE parity against a golden file made by diffusers' AutoencoderKL (vae_small.safetensors
 * format): builds the model from the file's `model_config`, loads its state dict, encodes `x` with
 * the file's `latent_sample_noise`, decodes `latent_mean`, and compares the posterior, the decoded
 * image and every `act.<module>` intermediate as max |ours - ref| / max |ref|.
 */
import { Gpu } from "../gpu/gpu.ts";
import type { SafeTensors } from "../io/safetensors.ts";
import { OUTPUT_LIMIT, type ParityRow, relError } from "../util/compare.ts";
import { vaeStateDict } from "./checkpoint.ts";
import { parseVaeConfig } from "./config.ts";
import type { VaeLimits } from "./memory.ts";
import { VaeModel } from "./model.ts";

/** Tensors of a golden file that are not weights. */
function isGoldenData(name: string): boolean {
  return name === "x" || name === "moments" || name === "decoded" || name.startsWith("latent_") ||
    name.startsWith("act.");
}

/** Whether a golden file describes an AutoencoderKL (its model_config has down_block_types). */
export function isVaeGolden(st: SafeTensors): boolean {
  return st.metadata.model_config?.includes("down_block_types") ?? false;
}

/**
 * Runs the parity check (see the module comment); every row's limit is 1e-4. `limits` overrides
 * the VAE's binding/tile limits (tests use tiny ones to exercise tiling).
 */
export async function parityVae(
  gpu: Gpu,
  st: SafeTensors,
  limits?: Partial<VaeLimits>,
): Promise<ParityRow[]> {
  if (!isVaeGolden(st)) throw new Error("Golden file has no AutoencoderKL model_config");
  const cfg = parseVaeConfig(JSON.parse(st.metadata.model_config), "Golden model_config");
  const tensors = vaeStateDict(cfg, st, "golden file", { ignore: isGoldenData });
  const model = VaeModel.fromTensors(gpu, cfg, tensors, { limits });
  try {
    const acts = st.names().filter((n) => n.startsWith("act.")).map((n) => n.slice(4));
    const isDecoder = (n: string) => n.startsWith("decoder.") || n === "post_quant_conv";
    const x = st.get("x");
    const enc = await model.encodeDetailed(
      { data: st.float32("x"), shape: x.shape as [number, number, number, number] },
      {
        mode: "sample",
        noise: st.float32("latent_sample_noise"),
        scaled: false,
        capture: [
          ...acts.filter((n) => !isDecoder(n)),
          cfg.useQuantConv ? "quant_conv" : "encoder.conv_out",
        ],
      },
    );
    const mean = st.get("latent_mean");
    const dec = await model.decodeDetailed(
      { data: st.float32("latent_mean"), shape: mean.shape as [number, number, number, number] },
      { scaled: false, capture: acts.filter(isDecoder) },
    );
    const rows: ParityRow[] = [];
    const row = (name: string, ours: Float32Array | undefined) => {
      if (!st.has(name)) return;
      rows.push({
        name,
        error: ours ? relError(ours, st.float32(name)) : Infinity,
        limit: OUTPUT_LIMIT,
      });
    };
    row("moments", enc.acts.get(cfg.useQuantConv ? "quant_conv" : "encoder.conv_out")?.data);
    row("latent_mean", enc.mean);
    row("latent_logvar", enc.logvar);
    row("latent_std", enc.std);
    row("latent_sample", enc.latent);
    row("decoded", dec.image.data);
    for (const a of acts) row(`act.${a}`, (isDecoder(a) ? dec.acts : enc.acts).get(a)?.data);
    return rows;
  } finally {
    model.destroy();
  }
}

/** The `deno task parity` branch: creates the GPU context, reports the adapter, runs the check. */
export async function vaeParityCli(st: SafeTensors): Promise<{ kind: string; rows: ParityRow[] }> {
  const gpu = await Gpu.create();
  console.log(`adapter: ${gpu.info.description} (matmul kernels: ${gpu.info.matmul})`);
  return { kind: "AutoencoderKL (VAE)", rows: await parityVae(gpu, st) };
}
