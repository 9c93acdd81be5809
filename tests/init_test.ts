// Initial parameters follow each architecture's upstream init: the seed's dit.py keeps PyTorch's
// module defaults (Linear/Conv U(+-1/sqrt(fan_in)) for weight and bias, Embedding N(0, 1)), the
// official DiT's initialize_weights uses Xavier, zero biases and N(0, 0.02) embeddings; both zero
// every adaLN modulation and the final linear. Checked on the statistics of each tensor.
import assert from "node:assert/strict";
import { preset } from "../src/model/config.ts";
import { initParams } from "../src/model/init.ts";
import { type ParamEntry, ParamLayout } from "../src/model/layout.ts";
import { loadSafetensors } from "../src/io/safetensors.ts";
import { relError } from "../src/util/compare.ts";
import { officialPosEmbed, seedPosEmbed } from "../src/model/posembed.ts";
import { posEmbed2dSinCos, posEmbedSeedInit } from "../src/reference/posembed.ts";

function values(layout: ParamLayout, name: string, seed = 0): Float32Array {
  const { params, frozen } = initParams(layout, seed);
  const e = layout.get(name);
  return (e.trainable ? params : frozen).slice(e.offset, e.offset + e.size);
}

function stats(v: Float32Array) {
  let sum = 0, sq = 0, max = 0;
  for (const x of v) {
    sum += x;
    sq += x * x;
    max = Math.max(max, Math.abs(x));
  }
  const mean = sum / v.length;
  return { mean, std: Math.sqrt(sq / v.length - mean * mean), max };
}

/** Uniform U(-b, b): inside the bound, reaching most of it, std b/sqrt(3) on big tensors. */
function assertUniform(v: Float32Array, bound: number, name: string) {
  const s = stats(v);
  assert(s.max <= bound, `${name}: max ${s.max} over the bound ${bound}`);
  assert(s.max > 0.8 * bound, `${name}: max ${s.max} far under the bound ${bound}`);
  if (v.length >= 2048) {
    const want = bound / Math.sqrt(3);
    assert(Math.abs(s.std / want - 1) < 0.1, `${name}: std ${s.std}, U(+-b) has ${want}`);
  }
}

function assertNormal(v: Float32Array, std: number, name: string) {
  const s = stats(v);
  assert(Math.abs(s.std / std - 1) < 0.15, `${name}: std ${s.std}, want ${std}`);
  assert(Math.abs(s.mean) < 0.2 * std, `${name}: mean ${s.mean}`);
}

const isZeroInit = (e: ParamEntry) => /adaLN_modulation|final_layer\.linear/.test(e.name);

Deno.test("seed init: PyTorch defaults as dit.py leaves them, adaLN-Zero and final layer zero", () => {
  for (const name of ["tiny", "small"]) {
    const layout = new ParamLayout(preset(name));
    let checked = 0;
    for (const e of layout.entries) {
      const v = values(layout, e.name);
      if (isZeroInit(e)) {
        assert.deepStrictEqual(stats(v).max, 0, e.name);
      } else if (e.name === "first_layer.y_embedder.weight") {
        assertNormal(v, 1, e.name);
      } else if (e.name === "first_layer.pos_embed") {
        continue; // checked against upstream's tensor below
      } else {
        // Every Linear and the depthwise conv: weight and bias both U(+-1/sqrt(fan_in)).
        assert.deepStrictEqual(e.init, "torch-default", e.name);
        const fanIn = e.shape.length === 1 ? e.fanIn! : e.size / e.shape[0];
        assert.deepStrictEqual(e.fanIn, fanIn, e.name);
        assertUniform(v, 1 / Math.sqrt(fanIn), e.name);
      }
      checked++;
    }
    assert(checked >= 20, `${name}: only ${checked} tensors checked`);
  }
});

Deno.test("seed init: pos_embed equals dit.py's initial value", async () => {
  const golden = await loadSafetensors(
    new URL("./golden/dit_seed_small.safetensors", import.meta.url),
  );
  const name = "init.first_layer.pos_embed";
  // The golden model: image 8, patch 2, 4 channels, 2 blocks, 4 heads, width 64, 10 classes.
  const cfg = { ...preset("tiny"), input: { kind: "image" as const, channels: 4, size: 8 } };
  const layout = new ParamLayout(cfg);
  assert.deepStrictEqual(layout.get("first_layer.pos_embed").shape, golden.info(name).shape);
  assert(relError(values(layout, "first_layer.pos_embed"), golden.float32(name)) < 1e-6);
});

Deno.test("official init: Xavier weights, zero biases, N(0, 0.02) embeddings and t MLP", () => {
  const layout = new ParamLayout(preset("official-tiny"));
  for (const e of layout.entries) {
    const v = values(layout, e.name);
    if (isZeroInit(e) || (e.shape.length === 1 && e.name !== "y_embedder.embedding_table.weight")) {
      assert.deepStrictEqual(stats(v).max, 0, e.name);
    } else if (e.name.startsWith("t_embedder.mlp") || e.name.startsWith("y_embedder")) {
      assertNormal(v, 0.02, e.name);
    } else if (e.name === "pos_embed") {
      assert(!e.trainable, "official pos_embed is frozen");
    } else {
      const fanOut = e.shape[0], fanIn = e.size / fanOut;
      assertUniform(v, Math.sqrt(6 / (fanIn + fanOut)), e.name);
    }
  }
});

Deno.test("init: a seed gives the same parameters every time, another seed others", () => {
  const layout = new ParamLayout(preset("tiny"));
  const a = initParams(layout, 3).params, b = initParams(layout, 3).params;
  assert.deepStrictEqual(a, b);
  assert(relError(initParams(layout, 4).params, a) > 0.5);
});

Deno.test("position embeddings: the model's builders agree with the float64 reference", () => {
  // Official: numpy float64 values stored as float32 (half an ulp of 1 at most).
  const official = officialPosEmbed(64, 4);
  assert(relError(official, posEmbed2dSinCos(64, 4)) < 1e-7);
  // Seed: torch's float32 recipe; the arguments reach T = 256 radians, where one float32 ulp of
  // the frequency moves sin/cos by ~1e-5.
  const seed = seedPosEmbed(256, 64);
  const err = relError(seed, posEmbedSeedInit(256, 64));
  assert(err < 5e-5, `seed table off by ${err}`);
  assert.throws(() => officialPosEmbed(6, 2), /multiple of 4/);
});
