/**
 * The state-dict layout of a diffusers v0.29.2 `AutoencoderKL` for a {@linkcode VaeConfig}: every
 * tensor name and shape, in `named_parameters()` order, plus the legacy attention names that older
 * checkpoints use (renamed on load as diffusers does).
 */
import type { VaeConfig } from "./config.ts";

/** One state-dict tensor. */
export interface LayoutEntry {
  name: string;
  shape: number[];
}

/** Legacy mid-block attention parameter names (old diffusers) -> current names. */
export const LEGACY_ATTENTION_NAMES: Readonly<Record<string, string>> = {
  query: "to_q",
  key: "to_k",
  value: "to_v",
  proj_attn: "to_out.0",
};

/** The current name of a state-dict key (legacy attention names mapped), or the key unchanged. */
export function canonicalKey(key: string): string {
  const m =
    /^((?:en|de)coder\.mid_block\.attentions\.\d+\.)(query|key|value|proj_attn)\.(weight|bias)$/
      .exec(key);
  return m ? `${m[1]}${LEGACY_ATTENTION_NAMES[m[2]]}.${m[3]}` : key;
}

/** Builds the layout; see the module comment. */
export function vaeLayout(cfg: VaeConfig): LayoutEntry[] {
  const out: LayoutEntry[] = [];
  const add = (name: string, shape: number[]) => out.push({ name, shape });
  const conv = (name: string, cout: number, cin: number, k: number) => {
    add(`${name}.weight`, [cout, cin, k, k]);
    add(`${name}.bias`, [cout]);
  };
  const norm = (name: string, ch: number) => {
    add(`${name}.weight`, [ch]);
    add(`${name}.bias`, [ch]);
  };
  const resnet = (name: string, cin: number, cout: number) => {
    norm(`${name}.norm1`, cin);
    conv(`${name}.conv1`, cout, cin, 3);
    norm(`${name}.norm2`, cout);
    conv(`${name}.conv2`, cout, cout, 3);
    if (cin !== cout) conv(`${name}.conv_shortcut`, cout, cin, 1);
  };
  const mid = (name: string, ch: number) => {
    if (cfg.midBlockAttention) {
      const a = `${name}.attentions.0`;
      norm(`${a}.group_norm`, ch);
      for (const p of ["to_q", "to_k", "to_v", "to_out.0"]) {
        add(`${a}.${p}.weight`, [ch, ch]);
        add(`${a}.${p}.bias`, [ch]);
      }
    }
    resnet(`${name}.resnets.0`, ch, ch);
    resnet(`${name}.resnets.1`, ch, ch);
  };
  const boc = cfg.blockOutChannels;
  const last = boc[boc.length - 1];
  // Encoder.
  conv("encoder.conv_in", boc[0], cfg.inChannels, 3);
  boc.forEach((ch, i) => {
    const cin = i === 0 ? boc[0] : boc[i - 1];
    for (let j = 0; j < cfg.layersPerBlock; j++) {
      resnet(`encoder.down_blocks.${i}.resnets.${j}`, j === 0 ? cin : ch, ch);
    }
    if (i < boc.length - 1) conv(`encoder.down_blocks.${i}.downsamplers.0.conv`, ch, ch, 3);
  });
  mid("encoder.mid_block", last);
  norm("encoder.conv_norm_out", last);
  conv("encoder.conv_out", 2 * cfg.latentChannels, last, 3);
  // Decoder (up_blocks are registered before mid_block).
  conv("decoder.conv_in", last, cfg.latentChannels, 3);
  const rev = [...boc].reverse();
  rev.forEach((ch, i) => {
    const cin = i === 0 ? rev[0] : rev[i - 1];
    for (let j = 0; j < cfg.layersPerBlock + 1; j++) {
      resnet(`decoder.up_blocks.${i}.resnets.${j}`, j === 0 ? cin : ch, ch);
    }
    if (i < rev.length - 1) conv(`decoder.up_blocks.${i}.upsamplers.0.conv`, ch, ch, 3);
  });
  mid("decoder.mid_block", last);
  norm("decoder.conv_norm_out", boc[0]);
  conv("decoder.conv_out", cfg.outChannels, boc[0], 3);
  if (cfg.useQuantConv) conv("quant_conv", 2 * cfg.latentChannels, 2 * cfg.latentChannels, 1);
  if (cfg.usePostQuantConv) conv("post_quant_conv", cfg.latentChannels, cfg.latentChannels, 1);
  return out;
}

/** Number of parameters of the layout. */
export function parameterCount(layout: readonly LayoutEntry[]): number {
  return layout.reduce((s, e) => s + e.shape.reduce((a, b) => a * b, 1), 0);
}
