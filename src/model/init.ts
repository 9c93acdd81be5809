/**
 * Parameter initialisation as upstream, with a seeded generator so that a seed gives the same
 * model every time. Official DiT (initialize_weights): Xavier-uniform Linear weights, zero biases,
 * N(0, 0.02) embeddings. Seed (dit.py): PyTorch's module defaults (Linear and Conv U(+-1/sqrt(fan_in))
 * for weight and bias, Embedding N(0, 1)). Both: adaLN-Zero, modulation and final layer zero.
 */
import { officialPosEmbed, seedPosEmbed } from "./posembed.ts";
import { mix32 } from "../util/prng.ts";
import type { ParamEntry, ParamLayout } from "./layout.ts";
import { dims } from "./config.ts";

/** A small seeded generator (splitmix32) with Gaussian draws (Box-Muller). */
export class InitRng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  uniform(): number {
    this.#s = (this.#s + 0x9e3779b9) >>> 0;
    return mix32(this.#s) / 4294967296;
  }
  /** Standard normal. */
  normal(): number {
    const u = Math.max(this.uniform(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.uniform());
  }
}

function fill(e: ParamEntry, out: Float32Array, rng: InitRng, layout: ParamLayout) {
  const d = dims(layout.cfg);
  const v = out.subarray(e.offset, e.offset + e.size);
  switch (e.init) {
    case "zero":
      v.fill(0);
      return;
    case "normal0.02":
      for (let i = 0; i < v.length; i++) v[i] = 0.02 * rng.normal();
      return;
    case "xavier":
    case "xavier-flat": {
      const fanOut = e.shape[0];
      const fanIn = e.size / fanOut;
      const a = Math.sqrt(6 / (fanIn + fanOut));
      for (let i = 0; i < v.length; i++) v[i] = (2 * rng.uniform() - 1) * a;
      return;
    }
    case "normal1":
      for (let i = 0; i < v.length; i++) v[i] = rng.normal();
      return;
    case "torch-default": {
      const bound = 1 / Math.sqrt(e.fanIn!);
      for (let i = 0; i < v.length; i++) v[i] = (2 * rng.uniform() - 1) * bound;
      return;
    }
    case "pos-sincos-2d": {
      if (layout.cfg.input.kind === "image") v.set(officialPosEmbed(d.D, d.gh));
      else v.set(seedPosEmbed(d.T, d.D));
      return;
    }
    case "pos-seed":
      v.set(seedPosEmbed(d.T, d.D));
      return;
  }
}

/** Fresh parameters: the trainable flat array and the frozen one. */
export function initParams(layout: ParamLayout, seed: number): {
  params: Float32Array;
  frozen: Float32Array;
} {
  const rng = new InitRng(seed);
  const params = new Float32Array(layout.paramsSize);
  const frozen = new Float32Array(layout.frozenSize);
  for (const e of layout.entries) fill(e, e.trainable ? params : frozen, rng, layout);
  return { params, frozen };
}
