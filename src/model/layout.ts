/**
 * The flat parameter layout: every parameter under its upstream state-dict name (official DiT or
 * the seed's dit.py), at an offset aligned to 64 floats (256 bytes, the storage offset alignment
 * of real GPUs) inside one flat buffer, so that AdamW, EMA and the gradient norm each run over
 * one array. Frozen tensors (the official fixed pos_embed) live in a separate buffer.
 */
import { dims, type DiTConfig } from "./config.ts";

/**
 * How a parameter is initialised: the official DiT's initialize_weights for "official", the seed's
 * dit.py (PyTorch's module defaults, then zeros for every adaLN_modulation and the final linear)
 * for "seed".
 */
export type InitKind =
  | "xavier" // Linear weight [out, in]: xavier_uniform
  | "xavier-flat" // conv patch weight: xavier_uniform on w.view(out, -1)
  | "zero"
  | "normal0.02"
  | "normal1" // nn.Embedding's default
  | "pos-sincos-2d" // official fixed 2-D sin-cos
  | "pos-seed" // seed's interleaved 1-D sin/cos init (learnable)
  // PyTorch's Linear/Conv default for weight and bias alike: kaiming_uniform(a=sqrt(5)) gives
  // U(-b, b) with b = 1/sqrt(fanIn), fanIn = the weight's inputs per output.
  | "torch-default";

/** One tensor of the layout. */
export interface ParamEntry {
  /** Upstream state-dict name. */
  name: string;
  /** Tensor shape, as in the upstream state dict. */
  shape: number[];
  /** Number of elements (product of `shape`, without padding). */
  size: number;
  /** Offset in elements inside its buffer (params or frozen). */
  offset: number;
  /** How the tensor is initialised. */
  init: InitKind;
  /** Inputs per output of the layer (only for "torch-default"). */
  fanIn?: number;
  /** True when it lives in the trainable params buffer, false for the frozen buffer. */
  trainable: boolean;
}

/** Upstream names of every parameter role, per architecture. */
export interface ParamNames {
  /** Position embedding [1, T, D] (frozen for "official", learnable for "seed"). */
  pos: string;
  /** Input (patch) embedding weight. */
  xW: string;
  /** Input (patch) embedding bias. */
  xB: string;
  /** First timestep-MLP layer weight [D, tFreq]. */
  t1W: string;
  /** First timestep-MLP layer bias [D]. */
  t1B: string;
  /** Second timestep-MLP layer weight [D, D]. */
  t2W: string;
  /** Second timestep-MLP layer bias [D]. */
  t2B: string;
  /** Class label embedding table [labelRows, D] (class conditioning only). */
  yTable?: string;
  /** Condition-vector embedding weight [D, dim] (vector conditioning only). */
  cW?: string;
  /** Condition-vector embedding bias [D] (vector conditioning only). */
  cB?: string;
  /** Per-block names, one entry per DiT block. */
  blocks: {
    adaW: string;
    adaB: string;
    qkvW: string;
    qkvB: string;
    projW: string;
    projB: string;
    fc1W: string;
    fc1B: string;
    dwW?: string;
    dwB?: string;
    fc2W: string;
    fc2B: string;
  }[];
  /** Final layer adaLN modulation weight [2D, D]. */
  fAdaW: string;
  /** Final layer adaLN modulation bias [2D]. */
  fAdaB: string;
  /** Final linear projection weight [Fout, D]. */
  fW: string;
  /** Final linear projection bias [Fout]. */
  fB: string;
}

/** The names for a config. */
export function paramNames(cfg: DiTConfig): ParamNames {
  const seed = cfg.arch === "seed";
  const blocks = [];
  for (let i = 0; i < cfg.depth; i++) {
    const b = `blocks.${i}`;
    blocks.push({
      adaW: `${b}.adaLN_modulation.1.weight`,
      adaB: `${b}.adaLN_modulation.1.bias`,
      qkvW: seed ? `${b}.attn.c_attn.weight` : `${b}.attn.qkv.weight`,
      qkvB: seed ? `${b}.attn.c_attn.bias` : `${b}.attn.qkv.bias`,
      projW: seed ? `${b}.attn.c_proj.weight` : `${b}.attn.proj.weight`,
      projB: seed ? `${b}.attn.c_proj.bias` : `${b}.attn.proj.bias`,
      fc1W: seed ? `${b}.mlp.c_fc.weight` : `${b}.mlp.fc1.weight`,
      fc1B: seed ? `${b}.mlp.c_fc.bias` : `${b}.mlp.fc1.bias`,
      dwW: cfg.dwKernel ? `${b}.mlp.depthwise_conv.weight` : undefined,
      dwB: cfg.dwKernel ? `${b}.mlp.depthwise_conv.bias` : undefined,
      fc2W: seed ? `${b}.mlp.c_proj.weight` : `${b}.mlp.fc2.weight`,
      fc2B: seed ? `${b}.mlp.c_proj.bias` : `${b}.mlp.fc2.bias`,
    });
  }
  const first = seed ? "first_layer." : "";
  const cond = cfg.condition;
  return {
    pos: `${first}pos_embed`,
    xW: seed ? "first_layer.patchify.projection.weight" : "x_embedder.proj.weight",
    xB: seed ? "first_layer.patchify.projection.bias" : "x_embedder.proj.bias",
    t1W: seed ? "first_layer.t_embedder.1.weight" : "t_embedder.mlp.0.weight",
    t1B: seed ? "first_layer.t_embedder.1.bias" : "t_embedder.mlp.0.bias",
    t2W: seed ? "first_layer.t_embedder.3.weight" : "t_embedder.mlp.2.weight",
    t2B: seed ? "first_layer.t_embedder.3.bias" : "t_embedder.mlp.2.bias",
    yTable: cond.kind === "class"
      ? (seed ? "first_layer.y_embedder.weight" : "y_embedder.embedding_table.weight")
      : undefined,
    cW: cond.kind === "vector" ? `${first}c_embedder.weight` : undefined,
    cB: cond.kind === "vector" ? `${first}c_embedder.bias` : undefined,
    blocks,
    fAdaW: "final_layer.adaLN_modulation.1.weight",
    fAdaB: "final_layer.adaLN_modulation.1.bias",
    fW: "final_layer.linear.weight",
    fB: "final_layer.linear.bias",
  };
}

/** The layout of a config: entries in upstream state-dict order. */
export class ParamLayout {
  /** All tensors, in state-dict order. */
  readonly entries: ParamEntry[] = [];
  /** Tensors by name. */
  readonly byName: Map<string, ParamEntry> = new Map();
  /** Elements of the trainable flat buffer (padded). */
  paramsSize = 0;
  /** Elements of the frozen buffer (padded, at least 64). */
  frozenSize = 0;
  /** Upstream names of every role. */
  readonly names: ParamNames;

  /** Lays out the parameters of `cfg`. */
  constructor(readonly cfg: DiTConfig) {
    const d = dims(cfg);
    const n = this.names = paramNames(cfg);
    const D = d.D;
    const seed = cfg.arch === "seed";
    const add = (
      name: string,
      shape: number[],
      init: InitKind,
      trainable = true,
      fanIn?: number,
    ) => {
      const size = shape.reduce((a, b) => a * b, 1);
      const offset = trainable ? this.paramsSize : this.frozenSize;
      const padded = Math.ceil(size / 64) * 64;
      if (trainable) this.paramsSize += padded;
      else this.frozenSize += padded;
      const e: ParamEntry = { name, shape, size, offset, init, trainable };
      if (fanIn !== undefined) e.fanIn = fanIn;
      this.entries.push(e);
      this.byName.set(name, e);
    };
    // A Linear's weight [out, in] and bias [out]: PyTorch's defaults in the seed, the official
    // DiT's xavier weight / zero bias otherwise (or `officialW` for its N(0, 0.02) MLPs).
    const linear = (
      w: string,
      b: string,
      out: number,
      inp: number,
      officialW: InitKind = "xavier",
    ) => {
      add(w, [out, inp], seed ? "torch-default" : officialW, true, inp);
      add(b, [out], seed ? "torch-default" : "zero", true, inp);
    };
    add(n.pos, [1, d.T, D], seed ? "pos-seed" : "pos-sincos-2d", seed);
    const img = cfg.input.kind === "image";
    if (img && !seed) {
      add(n.xW, [D, cfg.input.channels, cfg.patchSize, cfg.patchSize], "xavier-flat");
      add(n.xB, [D], "zero");
    } else linear(n.xW, n.xB, D, d.F, "xavier-flat");
    linear(n.t1W, n.t1B, D, d.tFreq, "normal0.02");
    linear(n.t2W, n.t2B, D, D, "normal0.02");
    if (n.yTable) add(n.yTable, [d.labelRows, D], seed ? "normal1" : "normal0.02");
    if (n.cW && cfg.condition.kind === "vector") linear(n.cW, n.cB!, D, cfg.condition.dim);
    for (const b of n.blocks) {
      linear(b.qkvW, b.qkvB, 3 * D, D);
      linear(b.projW, b.projB, D, D);
      linear(b.fc1W, b.fc1B, d.hidden4, D);
      // dit.py declares c_proj before depthwise_conv, as the state dict lists them.
      linear(b.fc2W, b.fc2B, D, d.hidden4);
      if (b.dwW) {
        // Conv2d over the token grid for images, Conv1d over the sequence for token inputs;
        // PyTorch's default init in both architectures (the official DiT has no such conv).
        const k = cfg.dwKernel;
        const fan = img ? k * k : k;
        add(b.dwW, img ? [d.hidden4, 1, k, k] : [d.hidden4, 1, k], "torch-default", true, fan);
        add(b.dwB!, [d.hidden4], "torch-default", true, fan);
      }
      add(b.adaW, [6 * D, D], "zero");
      add(b.adaB, [6 * D], "zero");
    }
    add(n.fW, [d.Fout, D], "zero");
    add(n.fB, [d.Fout], "zero");
    add(n.fAdaW, [2 * D, D], "zero");
    add(n.fAdaB, [2 * D], "zero");
    this.frozenSize = Math.max(64, this.frozenSize);
  }

  /** The entry of `name`, or a clear error. */
  get(name: string): ParamEntry {
    const e = this.byName.get(name);
    if (!e) throw new Error(`No parameter named ${name}`);
    return e;
  }

  /** Number of trainable scalars (without padding). */
  get trainableCount(): number {
    return this.entries.filter((e) => e.trainable).reduce((a, e) => a + e.size, 0);
  }
}
