/**
 * The AutoencoderKL forward graph (diffusers v0.29.2 Encoder / Decoder / blocks), recorded into a
 * program on NHWC activations from the pool. `capture(name, act)` is called at the output of every
 * module that diffusers' forward hooks would see (names as in the golden files' `act.*`, without
 * the prefix), before the activation's buffer can be reused.
 *
 * ResnetBlock2D: conv2(SiLU(GN2(conv1(SiLU(GN1(x)))))) + shortcut(x), the residual fused into
 * conv2's matmul; Downsample2D: zero pad right/bottom by 1, 3x3 stride 2; Upsample2D: nearest 2x
 * (fused into the im2col) then 3x3; mid block: resnet, attention, resnet.
 */
import { attentionBlock } from "./attention.ts";
import { VAE_NORM_EPS, type VaeConfig } from "./config.ts";
import { conv2d, convGeometry, type ConvOptions, convOut } from "./conv.ts";
import { silu } from "./elementwise.ts";
import { groupNorm } from "./groupnorm.ts";
import type { Act, Rec } from "./types.ts";
import type { VaeWeights } from "./weights.ts";

/** Called with each module output; must copy what it keeps (the buffer is reused later). */
export type Capture = (name: string, act: Act) => void;

/** Graph recording for one config and its weights. */
export class VaeGraph {
  constructor(readonly cfg: VaeConfig, readonly w: VaeWeights) {}

  #size(a: Act, C = a.C): number {
    return a.N * a.H * a.W * C;
  }

  /** Records ResnetBlock2D `name` on x (not released); returns a new activation. */
  async resnet(rec: Rec, x: Act, name: string): Promise<Act> {
    const { p, mem } = rec;
    const G = this.cfg.normNumGroups;
    const conv1 = this.w.conv(`${name}.conv1`);
    const Cout = conv1.Cout;
    const h = mem.acquire(this.#size(x), "resnet-h");
    await groupNorm(rec, x, this.w.norm(`${name}.norm1`), G, h, true, VAE_NORM_EPS);
    const h2 = mem.acquire(this.#size(x, Cout), "resnet-h2");
    const a2 = await conv2d(rec, { ...x, t: h }, conv1, h2);
    mem.release(h);
    const h3 = mem.acquire(this.#size(x, Cout), "resnet-h3");
    await groupNorm(rec, a2, this.w.norm(`${name}.norm2`), G, h3, true, VAE_NORM_EPS);
    mem.release(h2);
    const out = mem.acquire(this.#size(x, Cout), "resnet-out");
    const shortcut = this.w.maybeConv(`${name}.conv_shortcut`);
    if (shortcut) await conv2d(rec, x, shortcut, out);
    else p.copy(x.t, out, this.#size(x));
    const y = await conv2d(rec, { ...a2, t: h3 }, this.w.conv(`${name}.conv2`), out, {
      accumulate: true,
    });
    mem.release(h3);
    return y;
  }

  /** A resnet that consumes (releases) its input. */
  async #resnetStep(rec: Rec, x: Act, name: string, capture: Capture): Promise<Act> {
    const y = await this.resnet(rec, x, name);
    rec.mem.release(x.t);
    capture(name, y);
    return y;
  }

  /** A convolution that consumes its input. */
  async #convStep(
    rec: Rec,
    x: Act,
    name: string,
    capture: Capture,
    opts: ConvOptions = {},
  ): Promise<Act> {
    const w = this.w.conv(name);
    const { Ho, Wo } = convGeometry(x, w, opts);
    const out = rec.mem.acquire(x.N * Ho * Wo * w.Cout, name);
    const y = await conv2d(rec, x, w, out, opts);
    rec.mem.release(x.t);
    capture(name, y);
    return y;
  }

  /** Mid block (resnet, attention, resnet) consuming x. */
  async #mid(rec: Rec, x: Act, name: string, capture: Capture): Promise<Act> {
    let h = await this.#resnetStep(rec, x, `${name}.resnets.0`, capture);
    if (this.cfg.midBlockAttention) {
      const a = `${name}.attentions.0`;
      const y = await attentionBlock(
        rec,
        h,
        this.w.attention(a),
        this.cfg.normNumGroups,
        VAE_NORM_EPS,
      );
      rec.mem.release(h.t);
      capture(a, y);
      h = y;
    }
    h = await this.#resnetStep(rec, h, `${name}.resnets.1`, capture);
    capture(name, h);
    return h;
  }

  /** GroupNorm + SiLU (captured between the two) consuming x. */
  async #normOut(rec: Rec, x: Act, name: string, capture: Capture, wanted: boolean) {
    const y = rec.mem.acquire(this.#size(x), name);
    const out = { ...x, t: y };
    const G = this.cfg.normNumGroups;
    await groupNorm(rec, x, this.w.norm(name), G, y, !wanted, VAE_NORM_EPS);
    rec.mem.release(x.t);
    if (wanted) {
      capture(name, out);
      await silu(rec, y, this.#size(x));
    }
    return out;
  }

  /**
   * Records the encoder and quant_conv on images x [N, H, W, in_channels] (consumed); returns the
   * moments [N, h, w, 2 * latent_channels]. `wantNormOut` runs GN and SiLU unfused so that
   * conv_norm_out's output can be captured.
   */
  async encoder(rec: Rec, x: Act, capture: Capture, wantNormOut = false): Promise<Act> {
    const boc = this.cfg.blockOutChannels;
    let h = await this.#convStep(rec, x, "encoder.conv_in", capture);
    for (let i = 0; i < boc.length; i++) {
      const block = `encoder.down_blocks.${i}`;
      for (let j = 0; j < this.cfg.layersPerBlock; j++) {
        h = await this.#resnetStep(rec, h, `${block}.resnets.${j}`, capture);
      }
      if (i < boc.length - 1) {
        const name = `${block}.downsamplers.0`;
        h = await this.#convStep(rec, h, `${name}.conv`, () => {}, {
          stride: 2,
          pad: 0,
          padEnd: 1,
        });
        capture(name, h);
      }
      capture(block, h);
    }
    h = await this.#mid(rec, h, "encoder.mid_block", capture);
    h = await this.#normOut(rec, h, "encoder.conv_norm_out", capture, wantNormOut);
    h = await this.#convStep(rec, h, "encoder.conv_out", capture);
    if (this.cfg.useQuantConv) h = await this.#convStep(rec, h, "quant_conv", capture);
    return h;
  }

  /**
   * Records post_quant_conv and the decoder on latents z [N, h, w, latent_channels] (consumed);
   * returns the image [N, H, W, out_channels].
   */
  async decoder(rec: Rec, z: Act, capture: Capture, wantNormOut = false): Promise<Act> {
    let h = z;
    if (this.cfg.usePostQuantConv) h = await this.#convStep(rec, h, "post_quant_conv", capture);
    h = await this.#convStep(rec, h, "decoder.conv_in", capture);
    h = await this.#mid(rec, h, "decoder.mid_block", capture);
    const boc = this.cfg.blockOutChannels;
    for (let i = 0; i < boc.length; i++) {
      const block = `decoder.up_blocks.${i}`;
      for (let j = 0; j < this.cfg.layersPerBlock + 1; j++) {
        h = await this.#resnetStep(rec, h, `${block}.resnets.${j}`, capture);
      }
      if (i < boc.length - 1) {
        const name = `${block}.upsamplers.0`;
        h = await this.#convStep(rec, h, `${name}.conv`, () => {}, { up: true });
        capture(name, h);
      }
      capture(block, h);
    }
    h = await this.#normOut(rec, h, "decoder.conv_norm_out", capture, wantNormOut);
    return await this.#convStep(rec, h, "decoder.conv_out", capture);
  }
}

/**
 * Elements of the largest activation one image needs in the encoder (input H x W) or the decoder
 * (latent H x W): sizes the passes of a batch.
 */
export function peakActivation(
  cfg: VaeConfig,
  direction: "encode" | "decode",
  H: number,
  W: number,
): number {
  const boc = cfg.blockOutChannels;
  let [h, w] = [H, W];
  let elems = 0;
  if (direction === "encode") {
    elems = cfg.inChannels * h * w;
    boc.forEach((ch, i) => {
      elems = Math.max(elems, Math.max(ch, i ? boc[i - 1] : ch) * h * w);
      if (i < boc.length - 1) [h, w] = [convOut(h, 3, 2, 0, 1), convOut(w, 3, 2, 0, 1)];
    });
    return Math.max(elems, 3 * boc[boc.length - 1] * h * w); // attention q|k|v
  }
  const rev = [...boc].reverse();
  elems = 3 * rev[0] * h * w;
  rev.forEach((ch, i) => {
    elems = Math.max(elems, Math.max(ch, i ? rev[i - 1] : ch) * h * w);
    if (i < rev.length - 1) [h, w] = [2 * h, 2 * w];
    elems = Math.max(elems, ch * h * w); // the upsampler's output
  });
  return elems;
}
