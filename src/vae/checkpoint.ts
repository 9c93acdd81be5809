/**
 * Reading a diffusers AutoencoderKL checkpoint: a directory holding `config.json` and
 * `diffusion_pytorch_model.safetensors` (as on the Hugging Face hub, e.g. stabilityai/sd-vae-ft-mse).
 * The state dict is checked key by key and shape by shape against the layout the config implies;
 * every problem (missing, unexpected, misshaped, wrong dtype, non-finite) is reported in one error.
 */
import { join } from "node:path";
import { loadSafetensors, type SafeTensors } from "../io/safetensors.ts";
import { parseVaeConfig, type VaeConfig } from "./config.ts";
import { canonicalKey, vaeLayout } from "./layout.ts";

/** Weights file names tried in order inside a checkpoint directory. */
export const WEIGHT_FILES = [
  "diffusion_pytorch_model.safetensors",
  "diffusion_pytorch_model.fp16.safetensors",
];

/** A checkpoint's config and float32 tensors by current diffusers names. */
export interface VaeCheckpoint {
  cfg: VaeConfig;
  /** name -> float32 data in the layout's shape (legacy names mapped, 1x1 attention squeezed) */
  tensors: Map<string, Float32Array>;
  /** where it came from (for messages) */
  source: string;
}

function exists(path: string): Deno.FileInfo | null {
  try {
    return Deno.statSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/** The config and weights paths of a checkpoint directory, or a clear error naming what is missing. */
export function checkpointPaths(dir: string): { config: string; weights: string } {
  const info = exists(dir);
  if (!info) throw new Error(`VAE directory not found: ${dir}`);
  if (!info.isDirectory) {
    throw new Error(
      `VAE path is not a directory: ${dir} (expected a folder with config.json and ${
        WEIGHT_FILES[0]
      })`,
    );
  }
  const config = join(dir, "config.json");
  if (!exists(config)) throw new Error(`VAE config not found: ${config}`);
  const weights = WEIGHT_FILES.map((f) => join(dir, f)).find((p) => exists(p));
  if (!weights) throw new Error(`VAE weights not found: ${join(dir, WEIGHT_FILES[0])}`);
  return { config, weights };
}

/** Reads and validates a checkpoint directory (see the module comment). */
export async function loadVaeCheckpoint(dir: string): Promise<VaeCheckpoint> {
  const paths = checkpointPaths(dir);
  let raw: unknown;
  try {
    raw = JSON.parse(await Deno.readTextFile(paths.config));
  } catch (e) {
    throw new Error(`VAE config ${paths.config} is not valid JSON: ${(e as Error).message}`);
  }
  const cfg = parseVaeConfig(raw, paths.config);
  const st = await loadSafetensors(paths.weights);
  return { cfg, tensors: vaeStateDict(cfg, st, paths.weights), source: paths.weights };
}

const FLOAT_DTYPES = new Set(["F32", "F16", "BF16"]);

/**
 * Checks a safetensors state dict against the layout of `cfg` and returns its tensors as float32
 * by current names. Accepts legacy attention names (query/key/value/proj_attn) and attention
 * weights stored as 1x1 convolutions ([C, C, 1, 1]). Keys for which `options.ignore` returns true
 * are skipped (e.g. the inputs and outputs stored next to the weights in a golden file).
 *
 * @throws one error listing every missing key, unexpected key, misshaped tensor, tensor of a
 * dtype other than F32/F16/BF16 and tensor holding a non-finite value
 */
export function vaeStateDict(
  cfg: VaeConfig,
  st: SafeTensors,
  source: string,
  options: { ignore?: (name: string) => boolean } = {},
): Map<string, Float32Array> {
  const layout = vaeLayout(cfg);
  const byName = new Map<string, string>(); // current name -> file key
  const unexpected: string[] = [];
  const problems: string[] = [];
  const wanted = new Set(layout.map((e) => e.name));
  for (const key of st.names()) {
    if (options.ignore?.(key)) continue;
    const name = canonicalKey(key);
    if (!wanted.has(name)) unexpected.push(key);
    else if (byName.has(name)) problems.push(`${key} duplicates ${byName.get(name)}`);
    else byName.set(name, key);
  }
  const missing: string[] = [];
  const tensors = new Map<string, Float32Array>();
  for (const e of layout) {
    const key = byName.get(e.name);
    if (key === undefined) {
      missing.push(e.name);
      continue;
    }
    const info = st.info(key);
    const isAttn = /\.attentions\.\d+\.(to_q|to_k|to_v|to_out\.0)\.weight$/.test(e.name);
    const same = (s: readonly number[]) =>
      s.length === e.shape.length && s.every((d, i) => d === e.shape[i]);
    const convShaped = isAttn && info.shape.length === 4 && info.shape[2] === 1 &&
      info.shape[3] === 1 && same(info.shape.slice(0, 2));
    if (!same(info.shape) && !convShaped) {
      problems.push(`${key} is [${info.shape}], expected [${e.shape}]`);
      continue;
    }
    if (!FLOAT_DTYPES.has(info.dtype)) {
      problems.push(`${key} has dtype ${info.dtype}, expected F32, F16 or BF16`);
      continue;
    }
    const v = st.float32(key);
    const bad = v.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) {
      problems.push(`${key} holds a non-finite value at index ${bad}`);
      continue;
    }
    tensors.set(e.name, v);
  }
  if (missing.length || unexpected.length || problems.length) {
    const parts = [];
    if (missing.length) parts.push(`missing keys: ${missing.join(", ")}`);
    if (problems.length) parts.push(`bad tensors: ${problems.join("; ")}`);
    if (unexpected.length) parts.push(`unexpected keys: ${unexpected.join(", ")}`);
    throw new Error(
      `VAE checkpoint ${source} does not match its config (block_out_channels [${cfg.blockOutChannels}]): ${
        parts.join("; ")
      }`,
    );
  }
  return tensors;
}
