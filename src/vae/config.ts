/**
 * The configuration of a diffusers `AutoencoderKL` (its config.json), restricted to what this
 * engine runs: the Stable Diffusion VAE family (DownEncoderBlock2D / UpDecoderBlock2D blocks, SiLU,
 * GroupNorm, one mid-block attention). Anything else is rejected with an error naming the field.
 */

/** A validated AutoencoderKL config (diffusers field names in the comments). */
export interface VaeConfig {
  /** in_channels (image channels, 3) */
  inChannels: number;
  /** out_channels (decoded image channels, 3) */
  outChannels: number;
  /** block_out_channels, e.g. [128, 256, 512, 512]; one down block and one up block each */
  blockOutChannels: readonly number[];
  /** layers_per_block: resnets per down block (up blocks have one more) */
  layersPerBlock: number;
  /** latent_channels (4) */
  latentChannels: number;
  /** norm_num_groups (32) */
  normNumGroups: number;
  /** scaling_factor: latents are multiplied by it after encoding (0.18215) */
  scalingFactor: number;
  /** shift_factor (null in SD 1.x): latent = (z - shift) * scale */
  shiftFactor: number;
  /** use_quant_conv (default true) */
  useQuantConv: boolean;
  /** use_post_quant_conv (default true) */
  usePostQuantConv: boolean;
  /** mid_block_add_attention (default true) */
  midBlockAttention: boolean;
}

/** GroupNorm epsilon of every VAE norm (diffusers resnet_eps / attention eps). */
export const VAE_NORM_EPS = 1e-6;

/** Fields whose values the engine does not need (documented so they are not flagged). */
const IGNORED = new Set([
  "_class_name",
  "_diffusers_version",
  "_name_or_path",
  "sample_size",
  "force_upcast",
]);

const KNOWN = new Set([
  ...IGNORED,
  "in_channels",
  "out_channels",
  "down_block_types",
  "up_block_types",
  "block_out_channels",
  "layers_per_block",
  "act_fn",
  "latent_channels",
  "norm_num_groups",
  "scaling_factor",
  "shift_factor",
  "latents_mean",
  "latents_std",
  "use_quant_conv",
  "use_post_quant_conv",
  "mid_block_add_attention",
]);

/**
 * Validates a diffusers AutoencoderKL config object (parsed config.json). `source` names the file in
 * errors. Missing fields take diffusers' defaults.
 *
 * @throws for a non-AutoencoderKL class, block types other than DownEncoderBlock2D /
 * UpDecoderBlock2D, an activation other than SiLU, latents_mean / latents_std, unknown fields,
 * and non-positive or inconsistent sizes
 */
export function parseVaeConfig(raw: unknown, source = "VAE config"): VaeConfig {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new Error(`${source} is not a JSON object`);
  }
  const c = raw as Record<string, unknown>;
  const fail = (msg: string): never => {
    throw new Error(`${source}: ${msg}`);
  };
  const cls = c._class_name;
  if (cls !== undefined && cls !== "AutoencoderKL") {
    fail(`_class_name ${JSON.stringify(cls)} is not supported (only AutoencoderKL)`);
  }
  const unknown = Object.keys(c).filter((k) => !KNOWN.has(k));
  if (unknown.length) fail(`unsupported fields: ${unknown.join(", ")}`);
  const int = (key: string, def?: number): number => {
    const v = c[key] ?? def;
    if (v === undefined) fail(`missing field ${key}`);
    if (!Number.isInteger(v) || (v as number) <= 0) {
      fail(`${key} must be a positive integer, got ${JSON.stringify(v)}`);
    }
    return v as number;
  };
  const bool = (key: string, def: boolean): boolean => {
    const v = c[key] ?? def;
    if (typeof v !== "boolean") fail(`${key} must be true or false, got ${JSON.stringify(v)}`);
    return v as boolean;
  };
  const boc = c.block_out_channels ?? [64];
  if (!Array.isArray(boc) || boc.length === 0) {
    fail(`block_out_channels must be a non-empty array, got ${JSON.stringify(boc)}`);
  }
  const blockOutChannels = (boc as unknown[]).map((v, i) => {
    if (!Number.isInteger(v) || (v as number) <= 0) {
      fail(`block_out_channels[${i}] must be a positive integer, got ${JSON.stringify(v)}`);
    }
    return v as number;
  });
  const blocks = blockOutChannels.length;
  const types = (key: string, want: string) => {
    const v = c[key] ?? Array(blocks).fill(want);
    if (!Array.isArray(v) || v.length !== blocks) {
      fail(`${key} must list ${blocks} block types (one per block_out_channels entry)`);
    }
    (v as unknown[]).forEach((t, i) => {
      if (t !== want) {
        fail(`${key}[${i}] ${JSON.stringify(t)} is not supported (only ${want})`);
      }
    });
  };
  types("down_block_types", "DownEncoderBlock2D");
  types("up_block_types", "UpDecoderBlock2D");
  const act = c.act_fn ?? "silu";
  if (act !== "silu") fail(`act_fn ${JSON.stringify(act)} is not supported (only silu)`);
  for (const key of ["latents_mean", "latents_std"]) {
    if (c[key] !== undefined && c[key] !== null) fail(`${key} is not supported (must be null)`);
  }
  const num = (key: string, def: number | null): number => {
    const v = c[key] ?? def;
    if (v === null) return 0;
    if (typeof v !== "number" || !Number.isFinite(v)) {
      fail(`${key} must be a finite number, got ${JSON.stringify(v)}`);
    }
    return v as number;
  };
  const cfg: VaeConfig = {
    inChannels: int("in_channels", 3),
    outChannels: int("out_channels", 3),
    blockOutChannels,
    layersPerBlock: int("layers_per_block", 1),
    latentChannels: int("latent_channels", 4),
    normNumGroups: int("norm_num_groups", 32),
    scalingFactor: num("scaling_factor", 0.18215),
    shiftFactor: num("shift_factor", null),
    useQuantConv: bool("use_quant_conv", true),
    usePostQuantConv: bool("use_post_quant_conv", true),
    midBlockAttention: bool("mid_block_add_attention", true),
  };
  if (cfg.scalingFactor === 0) fail("scaling_factor must not be 0");
  blockOutChannels.forEach((ch, i) => {
    if (ch % cfg.normNumGroups !== 0) {
      fail(
        `block_out_channels[${i}] = ${ch} is not divisible by norm_num_groups ${cfg.normNumGroups}`,
      );
    }
    if (ch % 4 !== 0) fail(`block_out_channels[${i}] = ${ch} must be a multiple of 4`);
  });
  return cfg;
}

/** The config as diffusers config.json fields (for writing a checkpoint directory). */
export function vaeConfigJson(cfg: VaeConfig): Record<string, unknown> {
  const blocks = cfg.blockOutChannels.length;
  return {
    _class_name: "AutoencoderKL",
    in_channels: cfg.inChannels,
    out_channels: cfg.outChannels,
    down_block_types: Array(blocks).fill("DownEncoderBlock2D"),
    up_block_types: Array(blocks).fill("UpDecoderBlock2D"),
    block_out_channels: [...cfg.blockOutChannels],
    layers_per_block: cfg.layersPerBlock,
    act_fn: "silu",
    latent_channels: cfg.latentChannels,
    norm_num_groups: cfg.normNumGroups,
    scaling_factor: cfg.scalingFactor,
    shift_factor: cfg.shiftFactor === 0 ? null : cfg.shiftFactor,
    use_quant_conv: cfg.useQuantConv,
    use_post_quant_conv: cfg.usePostQuantConv,
    mid_block_add_attention: cfg.midBlockAttention,
  };
}

/** Spatial downsampling factor of the encoder (2^(blocks - 1)). */
export function downFactor(cfg: VaeConfig): number {
  return 2 ** (cfg.blockOutChannels.length - 1);
}
