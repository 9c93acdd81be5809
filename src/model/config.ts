/**
 * DiT configuration and named presets. Two architectures share one engine:
 * - "official": facebookresearch/DiT (conv patch embedding, fixed 2-D sin-cos positions,
 *   256 timestep frequencies with Linear-SiLU-Linear, plain GELU MLP, learned sigma).
 * - "seed": the seed repository's DiT (reshape patchify + Linear, learnable positions, D raw-t
 *   frequencies with Linear-GELU-Linear, MLP with a depthwise conv over the token grid).
 */

/** What the network denoises: an image latent [C, H, W] or a token sequence [T, C]. */
export type InputSpec =
  | { kind: "image"; channels: number; size: number }
  | { kind: "sequence"; channels: number; length: number };

/** What it is conditioned on, per sample. */
export type ConditionSpec =
  | { kind: "class"; numClasses: number; nullClass: boolean }
  | { kind: "vector"; dim: number }
  | { kind: "none" };

/** A complete model description (serialised into checkpoints). */
export interface DiTConfig {
  /** Architecture family. */
  arch: "official" | "seed";
  /** What is denoised. */
  input: InputSpec;
  /** What samples are conditioned on. */
  condition: ConditionSpec;
  /** Patch size (images only). */
  patchSize: number;
  /** Transformer width D. */
  hidden: number;
  /** Number of DiT blocks. */
  depth: number;
  /** Attention heads per block. */
  heads: number;
  /** MLP width over the model width. */
  mlpRatio: number;
  /** Output channels: C, or 2C with learned sigma (the official default). */
  outChannels: number;
  /** Label dropout to the null class during training (classifier-free guidance training). */
  classDropout: number;
  /** Depthwise conv kernel in the MLP (seed: 4, PyTorch "same" padding); 0 = plain MLP. */
  dwKernel: number;
}

/** Derived sizes used by the graph. */
export interface DiTDims {
  /** Tokens per sample. */
  T: number;
  /** Token grid height (sequences: 1). */
  gh: number;
  /** Token grid width (sequences: T). */
  gw: number;
  /** Input features per token (p*p*C or C). */
  F: number;
  /** Output features per token (p*p*Cout or Cout). */
  Fout: number;
  /** Transformer width (= `hidden`). */
  D: number;
  /** MLP hidden width, round(D * mlpRatio). */
  hidden4: number;
  /** Timestep feature width. */
  tFreq: number;
  /** Rows of the label table (numClasses + null row). */
  labelRows: number;
}

/** Sizes derived from a config (and its validation). */
export function dims(cfg: DiTConfig): DiTDims {
  validateConfig(cfg);
  const D = cfg.hidden;
  const hidden4 = Math.round(D * cfg.mlpRatio);
  const labelRows = cfg.condition.kind === "class"
    ? cfg.condition.numClasses + (cfg.condition.nullClass ? 1 : 0)
    : 0;
  const tFreq = cfg.arch === "official" ? 256 : D;
  if (cfg.input.kind === "image") {
    const p = cfg.patchSize;
    const g = cfg.input.size / p;
    return {
      T: g * g,
      gh: g,
      gw: g,
      F: p * p * cfg.input.channels,
      Fout: p * p * cfg.outChannels,
      D,
      hidden4,
      tFreq,
      labelRows,
    };
  }
  const T = cfg.input.length;
  return {
    T,
    gh: 1,
    gw: T,
    F: cfg.input.channels,
    Fout: cfg.outChannels,
    D,
    hidden4,
    tFreq,
    labelRows,
  };
}

/** Throws a clear error for an unsupported or inconsistent config. */
export function validateConfig(cfg: DiTConfig): void {
  const fail = (m: string) => {
    throw new Error(`Invalid DiT config: ${m}`);
  };
  if (cfg.arch !== "official" && cfg.arch !== "seed") fail(`unknown arch ${cfg.arch}`);
  for (const k of ["hidden", "depth", "heads", "outChannels"] as const) {
    if (!Number.isInteger(cfg[k]) || cfg[k] <= 0) fail(`${k} must be a positive integer`);
  }
  if (cfg.hidden % cfg.heads) fail(`hidden ${cfg.hidden} is not divisible by heads ${cfg.heads}`);
  if (!(cfg.mlpRatio > 0)) fail("mlpRatio must be positive");
  if (cfg.input.kind === "image") {
    const { size, channels } = cfg.input;
    if (!Number.isInteger(cfg.patchSize) || cfg.patchSize <= 0) fail("patchSize must be positive");
    if (!Number.isInteger(size) || size % cfg.patchSize) {
      fail(`image size ${size} is not divisible by patch ${cfg.patchSize}`);
    }
    if (!Number.isInteger(channels) || channels <= 0) fail("channels must be positive");
  } else if (cfg.input.kind === "sequence") {
    if (!Number.isInteger(cfg.input.length) || cfg.input.length <= 0) {
      fail("length must be positive");
    }
  } else fail("input.kind must be image or sequence");
  if (cfg.arch === "official" && cfg.hidden % 4) {
    fail("official sin-cos positions need hidden % 4 == 0");
  }
  if (cfg.arch === "seed" && cfg.hidden < 4) fail("seed timestep features need hidden >= 4");
  if (![0, 3, 4].includes(cfg.dwKernel)) fail(`dwKernel must be 0, 3 or 4, got ${cfg.dwKernel}`);
  const c = cfg.condition;
  if (c.kind === "class" && (!Number.isInteger(c.numClasses) || c.numClasses <= 0)) {
    fail("numClasses must be a positive integer");
  }
  if (c.kind === "vector" && (!Number.isInteger(c.dim) || c.dim <= 0)) {
    fail("vector dim must be positive");
  }
  if (!(cfg.classDropout >= 0 && cfg.classDropout < 1)) fail("classDropout must be in [0, 1)");
  if (cfg.classDropout > 0 && !(c.kind === "class" && c.nullClass)) {
    fail("classDropout needs a class condition with a null class");
  }
}

function official(hidden: number, depth: number, heads: number, numClasses = 1000): DiTConfig {
  return {
    arch: "official",
    input: { kind: "image", channels: 4, size: 32 },
    condition: { kind: "class", numClasses, nullClass: true },
    patchSize: 2,
    hidden,
    depth,
    heads,
    mlpRatio: 4,
    outChannels: 8,
    classDropout: 0.1,
    dwKernel: 0,
  };
}

function seed(hidden: number, depth: number, heads: number, numClasses: number): DiTConfig {
  return {
    arch: "seed",
    input: { kind: "image", channels: 4, size: 32 },
    condition: { kind: "class", numClasses, nullClass: false },
    patchSize: 2,
    hidden,
    depth,
    heads,
    mlpRatio: 4,
    outChannels: 4,
    classDropout: 0,
    dwKernel: 4,
  };
}

/** Named presets (32x32x4 latents unless stated). */
export const PRESETS: Record<string, () => DiTConfig> = {
  /** The seed repository's full model: patch 2, 12 blocks, 12 heads, width 768 (DiT-B/2 sized). */
  "seed": () => seed(768, 12, 12, 10),
  "DiT-S/2": () => official(384, 12, 6),
  "DiT-B/2": () => official(768, 12, 12),
  "DiT-L/2": () => official(1024, 24, 16),
  "DiT-XL/2": () => official(1152, 28, 16),
  /**
   * Seed architecture sized for ~10 minutes of training on a 2-core llvmpipe machine (the default
   * training preset): width 128, 4 blocks, 4 heads, patch 4 (64 tokens of a 32x32x4 latent).
   */
  "small": () => ({ ...seed(128, 4, 4, 10), patchSize: 4 }),
  /** A training step well under a second on llvmpipe: smoke tests. */
  "tiny": () => seed(64, 2, 4, 10),
  /**
   * Diffusion Policy on Push-T's state (docs/policy.md): the seed architecture over a chunk of 16
   * actions (one token per time step, the action dimensions as channels) conditioned on the last
   * 2 states. Width 128, 4 blocks, 4 heads (1.3M parameters): on a 2-core llvmpipe machine the
   * training step, not the 10-step sample, is the cost that binds (docs/policy.md). The action
   * and state widths here are Push-T's (2 and 2 x 5); training replaces them with the dataset's.
   */
  "pusht": () => ({
    ...seed(128, 4, 4, 1),
    input: { kind: "sequence", channels: 2, length: 16 },
    condition: { kind: "vector", dim: 10 },
    patchSize: 1,
    outChannels: 2,
  }),
  /** Official architecture at test size. */
  "official-tiny": () => ({
    ...official(64, 2, 4, 10),
    input: { kind: "image", channels: 4, size: 8 },
  }),
};

/** Looks up a preset by name, or throws listing the known ones. */
export function preset(name: string): DiTConfig {
  const make = PRESETS[name];
  if (!make) throw new Error(`Unknown preset "${name}"; known: ${Object.keys(PRESETS).join(", ")}`);
  return make();
}
