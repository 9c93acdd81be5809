/**
 * A VAE's weights on the GPU, by diffusers module path: convolutions (and the attention Linears)
 * packed as matmul B operands, GroupNorm affines as small tensors, and each mid-block attention's
 * to_q / to_k / to_v fused into one [3C, C] projection.
 */
import type { VaeConfig } from "./config.ts";
import { type ConvWeight, uploadConv } from "./conv.ts";
import { vaeLayout } from "./layout.ts";
import type { VaeMemory } from "./memory.ts";
import type { NormWeights } from "./groupnorm.ts";
import type { AttentionWeights } from "./attention.ts";

/** See the module comment. */
export class VaeWeights {
  readonly #convs = new Map<string, ConvWeight>();
  readonly #norms = new Map<string, NormWeights>();
  readonly #attn = new Map<string, AttentionWeights>();

  /**
   * Uploads a checked state dict (`tensors` by current diffusers names, every layout entry present,
   * see {@linkcode vaeStateDict}).
   */
  constructor(mem: VaeMemory, cfg: VaeConfig, tensors: ReadonlyMap<string, Float32Array>) {
    const get = (name: string): Float32Array => {
      const v = tensors.get(name);
      if (!v) throw new Error(`VAE weights lack ${name}`);
      return v;
    };
    const gpu = mem.gpu;
    for (const e of vaeLayout(cfg)) {
      if (!e.name.endsWith(".weight")) continue;
      const mod = e.name.slice(0, -".weight".length);
      const attn = /^(.*\.attentions\.\d+)\.(group_norm|to_q|to_k|to_v|to_out\.0)$/.exec(mod);
      if (attn) {
        if (attn[2] !== "group_norm") continue;
        this.#attn.set(attn[1], this.#attention(mem, attn[1], e.shape[0], get));
      } else if (e.shape.length === 1) {
        const gamma = mem.tensor([e.shape[0]], `${mod}.weight`);
        const beta = mem.tensor([e.shape[0]], `${mod}.bias`);
        gpu.write(gamma, get(`${mod}.weight`));
        gpu.write(beta, get(`${mod}.bias`));
        this.#norms.set(mod, { gamma, beta });
      } else {
        const [cout, cin, ks] = e.shape;
        this.#convs.set(
          mod,
          uploadConv(mem, mod, get(e.name), get(`${mod}.bias`), cout, cin, ks),
        );
      }
    }
    // One convolution tile texture for the whole model: as wide as the widest conv operand.
    for (const c of this.#convs.values()) mem.reserveTileWidth(c.Kp / 4);
  }

  #attention(
    mem: VaeMemory,
    name: string,
    C: number,
    get: (name: string) => Float32Array,
  ): AttentionWeights {
    const gamma = mem.tensor([C], `${name}.group_norm.weight`);
    const beta = mem.tensor([C], `${name}.group_norm.bias`);
    mem.gpu.write(gamma, get(`${name}.group_norm.weight`));
    mem.gpu.write(beta, get(`${name}.group_norm.bias`));
    const w = new Float32Array(3 * C * C); // [3C, C]
    const b = new Float32Array(3 * C);
    ["to_q", "to_k", "to_v"].forEach((p, i) => {
      w.set(get(`${name}.${p}.weight`), i * C * C);
      b.set(get(`${name}.${p}.bias`), i * C);
    });
    return {
      name,
      norm: { gamma, beta },
      qkv: uploadConv(mem, `${name}.qkv`, w, b, 3 * C, C, 1),
      out: uploadConv(
        mem,
        `${name}.to_out.0`,
        get(`${name}.to_out.0.weight`),
        get(`${name}.to_out.0.bias`),
        C,
        C,
        1,
      ),
    };
  }

  /** The convolution at module path `name` (e.g. "encoder.conv_in"). */
  conv(name: string): ConvWeight {
    const c = this.#convs.get(name);
    if (!c) throw new Error(`VAE has no convolution ${name}`);
    return c;
  }

  /** The convolution at `name`, or undefined (optional conv_shortcut). */
  maybeConv(name: string): ConvWeight | undefined {
    return this.#convs.get(name);
  }

  /** The GroupNorm at module path `name`. */
  norm(name: string): NormWeights {
    const n = this.#norms.get(name);
    if (!n) throw new Error(`VAE has no GroupNorm ${name}`);
    return n;
  }

  /** The attention block at module path `name`. */
  attention(name: string): AttentionWeights {
    const a = this.#attn.get(name);
    if (!a) throw new Error(`VAE has no attention ${name}`);
    return a;
  }
}
