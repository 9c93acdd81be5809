/**
 * The Stable Diffusion VAE (src/vae, kernels/vae_*.wgsl, src/cli/encode.ts):
 *
 * - layout and config: the expected state dict equals diffusers' (the golden small file's keys and
 *   the full sd-vae-ft-mse layout, in order); unsupported configs are rejected by field;
 * - checkpoints: missing / misshaped / wrong-dtype / non-finite / truncated / unexpected tensors are
 *   reported (all in one error, naming each key); legacy attention names and 1x1-conv-shaped
 *   attention weights load; F16 is widened; missing directory / config / weights are named;
 * - kernels against the float64 CPU reference (src/reference/vae.ts, attention.ts) at small odd
 *   shapes, on both matmul families, with tiny binding/tile limits so that every banded and tiled
 *   path runs: 3x3 convolutions (stride 1, Downsample2D's stride 2 with right/bottom padding,
 *   Upsample2D's fused nearest 2x), 1x1, the fused residual, GroupNorm (+SiLU) with groups
 *   straddling vec4s, SiLU, add, upsampling, the attention block and the posterior;
 * - golden parity with diffusers (vae_small.safetensors), default and tiny limits, both families;
 * - the full-size layout with seeded random weights written as a checkpoint directory loads and
 *   encodes + decodes a 64x64 image (shapes, finite values, Philox noise keyed by image index);
 * - `deno task encode` end to end on a tiny VAE and image folder, and its input errors (nothing
 *   is written).
 *
 * Kernel tolerance: max |gpu - ref| <= 1e-5 * max |ref| (float32 sums of <= 600 terms).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Gpu, Tensor } from "../src/gpu/gpu.ts";
import {
  encodeSafetensors,
  loadSafetensors,
  readSafetensors,
  type TensorInput,
} from "../src/io/safetensors.ts";
import * as ref from "../src/reference/mod.ts";
import { Rng } from "../src/util/prng.ts";
import { encodePng } from "../src/data/png.ts";
import { loadLatents } from "../src/data/latents.ts";
import { parseVaeConfig, type VaeConfig } from "../src/vae/config.ts";
import { canonicalKey, parameterCount, vaeLayout } from "../src/vae/layout.ts";
import { loadVaeCheckpoint, vaeStateDict } from "../src/vae/checkpoint.ts";
import { type VaeLimits, VaeMemory } from "../src/vae/memory.ts";
import type { Act, Rec } from "../src/vae/types.ts";
import { addInPlace, posterior, silu, upsample2x } from "../src/vae/elementwise.ts";
import { groupNorm } from "../src/vae/groupnorm.ts";
import { conv2d, convGeometry, type ConvOptions, uploadConv } from "../src/vae/conv.ts";
import { attentionBlock } from "../src/vae/attention.ts";
import { nchwToNhwc, nhwcToNchw } from "../src/vae/nhwc.ts";
import { parityVae } from "../src/vae/parity.ts";
import { VaeModel } from "../src/vae/model.ts";
import { randomVaeTensors, writeVaeCheckpoint } from "../src/vae/random.ts";
import { encodeMain } from "../src/cli/encode.ts";
import { gpuTest } from "./_gpu.ts";

const GOLDEN = new URL("./golden/", import.meta.url);
const TOL = 1e-5;
const FAMILIES = ["texture", "buffer"] as const;
/** Limits small enough that the 16x16 test shapes run in several bands and tiles. */
const TINY: VaeLimits = { bindBytes: 2048, tileBytes: 2048 };

function rand(rng: Rng, n: number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => (2 * rng.next() - 1) * scale);
}

function assertClose(what: string, got: ArrayLike<number>, want: ArrayLike<number>, tol = TOL) {
  assert.equal(got.length, want.length, `${what}: length`);
  let diff = 0;
  let max = 0;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    assert.ok(!Number.isNaN(d), `${what}: NaN at ${i}`);
    diff = Math.max(diff, d);
    max = Math.max(max, Math.abs(want[i]));
  }
  assert.ok(max > 0, `${what}: reference is all zero`);
  assert.ok(diff <= tol * max, `${what}: max |diff| ${diff} > ${tol} * ${max}`);
}

function smallConfig(): VaeConfig {
  const st = readSafetensors(Deno.readFileSync(new URL("vae_small.safetensors", GOLDEN)));
  return parseVaeConfig(JSON.parse(st.metadata.model_config), "vae_small");
}

/** Runs `build` in a fresh program with its own VAE memory; returns the tensors it lists, read. */
async function runOps(
  gpu: Gpu,
  limits: Partial<VaeLimits>,
  build: (rec: Rec, up: (data: Float32Array) => Tensor) => Promise<Tensor[]>,
): Promise<Float32Array[]> {
  const mem = new VaeMemory(gpu, limits);
  try {
    mem.beginProgram();
    const rec = { p: gpu.program("vae-test"), mem };
    const up = (data: Float32Array) => {
      const t = mem.tensor([data.length], "input");
      gpu.write(t, data);
      return t;
    };
    const outs = await build(rec, up);
    gpu.submit(rec.p);
    return await gpu.read(...outs);
  } finally {
    mem.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Layout, config and checkpoints (CPU)

Deno.test("vae layout and config", async (t) => {
  await t.step("small golden state dict keys, in order", () => {
    const st = readSafetensors(Deno.readFileSync(new URL("vae_small.safetensors", GOLDEN)));
    const keys = JSON.parse(st.metadata.state_dict_keys) as string[];
    const layout = vaeLayout(smallConfig());
    assert.deepEqual(layout.map((e) => e.name), keys);
    for (const e of layout) assert.deepEqual(e.shape, st.info(e.name).shape, e.name);
  });

  await t.step("full sd-vae-ft-mse layout: names, shapes, order, parameter count", () => {
    const json = JSON.parse(
      Deno.readTextFileSync(new URL("vae_sd_ft_mse_layout.json", GOLDEN)),
    );
    const cfg = parseVaeConfig(json.config_passed, "layout json");
    const layout = vaeLayout(cfg);
    assert.equal(layout.length, json.num_tensors);
    assert.deepEqual(
      layout.map((e) => [e.name, e.shape]),
      json.state_dict.map((e: { name: string; shape: number[] }) => [e.name, e.shape]),
    );
    assert.equal(parameterCount(layout), json.num_parameters);
    for (const [legacy, current] of Object.entries(json.legacy_attention_key_map)) {
      assert.equal(canonicalKey(legacy), current);
    }
    assert.equal(canonicalKey("encoder.conv_in.weight"), "encoder.conv_in.weight");
  });

  await t.step("unsupported configs name the field", () => {
    const base = { block_out_channels: [32, 64], norm_num_groups: 16 };
    const bad: [Record<string, unknown>, RegExp][] = [
      [
        { ...base, down_block_types: ["DownEncoderBlock2D", "CrossAttnDownBlock2D"] },
        /down_block_types\[1\] "CrossAttnDownBlock2D" is not supported/,
      ],
      [{ ...base, up_block_types: ["UpDecoderBlock2D"] }, /up_block_types must list 2 block types/],
      [{ ...base, act_fn: "gelu" }, /act_fn "gelu" is not supported/],
      [{ ...base, _class_name: "VQModel" }, /_class_name "VQModel" is not supported/],
      [{ ...base, latents_mean: [0, 0, 0, 0] }, /latents_mean is not supported/],
      [{ ...base, layers_per_block: 0 }, /layers_per_block must be a positive integer/],
      [
        { ...base, norm_num_groups: 3 },
        /block_out_channels\[0\] = 32 is not divisible by norm_num_groups 3/,
      ],
      [{ ...base, use_quant_conv: "yes" }, /use_quant_conv must be true or false/],
      [{ ...base, frobnicate: 1 }, /unsupported fields: frobnicate/],
    ];
    for (const [cfg, re] of bad) assert.throws(() => parseVaeConfig(cfg, "cfg.json"), re);
    const cfg = parseVaeConfig({ ...base, shift_factor: null, _diffusers_version: "0.4.2" });
    assert.equal(cfg.scalingFactor, 0.18215);
    assert.equal(cfg.shiftFactor, 0);
    assert.equal(cfg.useQuantConv, true);
  });
});

Deno.test("vae checkpoints", async (t) => {
  const cfg = smallConfig();
  const tensors = randomVaeTensors(cfg, 3);
  const entries = () => {
    const out: Record<string, TensorInput> = {};
    for (const e of vaeLayout(cfg)) {
      out[e.name] = { dtype: "F32", shape: [...e.shape], data: tensors.get(e.name)! };
    }
    return out;
  };
  const check = (st: Record<string, TensorInput>) =>
    vaeStateDict(cfg, readSafetensors(encodeSafetensors(st)), "ckpt.safetensors");

  await t.step("a complete state dict loads as float32", () => {
    const got = check(entries());
    assert.equal(got.size, tensors.size);
    assert.deepEqual(got.get("quant_conv.bias"), tensors.get("quant_conv.bias"));
  });

  await t.step("missing key", () => {
    const st = entries();
    delete st["decoder.conv_in.bias"];
    assert.throws(() => check(st), /missing keys: decoder\.conv_in\.bias/);
  });

  await t.step("wrong shape", () => {
    const st = entries();
    st["encoder.conv_in.weight"] = {
      dtype: "F32",
      shape: [32, 3, 5, 5],
      data: new Float32Array(2400),
    };
    assert.throws(
      () => check(st),
      /encoder\.conv_in\.weight is \[32,3,5,5\], expected \[32,3,3,3\]/,
    );
  });

  await t.step("wrong dtype", () => {
    const st = entries();
    st["quant_conv.bias"] = { dtype: "I64", shape: [8], data: new BigInt64Array(8) };
    assert.throws(() => check(st), /quant_conv\.bias has dtype I64, expected F32, F16 or BF16/);
  });

  await t.step("non-finite value", () => {
    const st = entries();
    const v = tensors.get("post_quant_conv.bias")!.slice();
    v[2] = NaN;
    st["post_quant_conv.bias"] = { dtype: "F32", shape: [4], data: v };
    assert.throws(() => check(st), /post_quant_conv\.bias holds a non-finite value at index 2/);
  });

  await t.step("every problem in one error", () => {
    const st = entries();
    delete st["encoder.conv_out.bias"];
    st["decoder.extra.weight"] = { dtype: "F32", shape: [2], data: new Float32Array(2) };
    st["quant_conv.weight"] = { dtype: "F32", shape: [8, 8], data: new Float32Array(64) };
    assert.throws(() => check(st), (e: Error) => {
      assert.match(e.message, /^VAE checkpoint ckpt\.safetensors does not match its config/);
      assert.match(e.message, /missing keys: encoder\.conv_out\.bias/);
      assert.match(e.message, /quant_conv\.weight is \[8,8\], expected \[8,8,1,1\]/);
      assert.match(e.message, /unexpected keys: decoder\.extra\.weight/);
      return true;
    });
  });

  await t.step("legacy attention names and 1x1-conv-shaped attention weights", () => {
    const st = entries();
    const map = { to_q: "query", to_k: "key", to_v: "value", "to_out.0": "proj_attn" };
    for (const side of ["encoder", "decoder"]) {
      for (const [cur, old] of Object.entries(map)) {
        const a = `${side}.mid_block.attentions.0`;
        const w = st[`${a}.${cur}.weight`];
        st[`${a}.${old}.weight`] = {
          dtype: "F32",
          shape: [64, 64, 1, 1],
          data: w.data as Float32Array,
        };
        st[`${a}.${old}.bias`] = st[`${a}.${cur}.bias`];
        delete st[`${a}.${cur}.weight`];
        delete st[`${a}.${cur}.bias`];
      }
    }
    const got = check(st);
    assert.deepEqual(
      got.get("decoder.mid_block.attentions.0.to_out.0.weight"),
      tensors.get("decoder.mid_block.attentions.0.to_out.0.weight"),
    );
    // Both spellings of one tensor are a duplicate.
    const dup = entries();
    dup["encoder.mid_block.attentions.0.query.bias"] =
      dup["encoder.mid_block.attentions.0.to_q.bias"];
    assert.throws(
      () => check(dup),
      /encoder\.mid_block\.attentions\.0\.(query|to_q)\.bias duplicates/,
    );
  });

  await t.step("F16 weights are widened", () => {
    const st = entries();
    const half = new Uint16Array(8).fill(0x3800); // 0.5
    st["quant_conv.bias"] = { dtype: "F16", shape: [8], data: half } as unknown as TensorInput;
    assert.deepEqual([...check(st).get("quant_conv.bias")!], new Array(8).fill(0.5));
  });

  await t.step("directories: missing dir, config, weights; truncated file", async () => {
    const dir = await Deno.makeTempDir({ prefix: "vae_ckpt_test_" });
    try {
      await assert.rejects(loadVaeCheckpoint(join(dir, "nope")), /VAE directory not found: .*nope/);
      await assert.rejects(loadVaeCheckpoint(dir), /VAE config not found: .*config\.json/);
      await writeVaeCheckpoint(dir, cfg, tensors);
      const weights = join(dir, "diffusion_pytorch_model.safetensors");
      const ok = await loadVaeCheckpoint(dir);
      assert.equal(ok.tensors.size, tensors.size);
      const bytes = await Deno.readFile(weights);
      await Deno.writeFile(weights, bytes.subarray(0, bytes.length - 100));
      await assert.rejects(
        loadVaeCheckpoint(dir),
        /diffusion_pytorch_model\.safetensors: Tensor .* reach past the .*data section \(file truncated\?\)/,
      );
      await Deno.remove(weights);
      await assert.rejects(
        loadVaeCheckpoint(dir),
        /VAE weights not found: .*diffusion_pytorch_model\.safetensors/,
      );
      await Deno.writeTextFile(join(dir, "config.json"), "{ not json");
      await Deno.writeFile(weights, bytes);
      await assert.rejects(loadVaeCheckpoint(dir), /VAE config .*config\.json is not valid JSON/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Kernels against the CPU reference

interface ConvCase {
  what: string;
  N: number;
  Cin: number;
  Cout: number;
  H: number;
  W: number;
  ks: number;
  opts: ConvOptions;
}

const CONV_CASES: ConvCase[] = [
  { what: "3x3 s1 p1, Cin 5 (scalar im2col)", N: 2, Cin: 5, Cout: 7, H: 7, W: 5, ks: 3, opts: {} },
  { what: "3x3 s1 p1, Cin 8 (vec4 im2col)", N: 2, Cin: 8, Cout: 6, H: 5, W: 9, ks: 3, opts: {} },
  {
    what: "Downsample2D 3x3 s2, pad right/bottom 1, odd size",
    N: 2,
    Cin: 8,
    Cout: 4,
    H: 7,
    W: 9,
    ks: 3,
    opts: { stride: 2, pad: 0, padEnd: 1 },
  },
  {
    what: "Downsample2D 3x3 s2, even size",
    N: 1,
    Cin: 12,
    Cout: 5,
    H: 6,
    W: 8,
    ks: 3,
    opts: { stride: 2, pad: 0, padEnd: 1 },
  },
  { what: "1x1, Cin 5", N: 2, Cin: 5, Cout: 3, H: 3, W: 7, ks: 1, opts: {} },
  { what: "1x1, Cin 8", N: 2, Cin: 8, Cout: 12, H: 5, W: 3, ks: 1, opts: {} },
  {
    what: "Upsample2D: nearest 2x fused, 3x3",
    N: 2,
    Cin: 8,
    Cout: 5,
    H: 3,
    W: 5,
    ks: 3,
    opts: { up: true },
  },
  {
    what: "3x3 accumulating into a residual",
    N: 1,
    Cin: 4,
    Cout: 8,
    H: 5,
    W: 5,
    ks: 3,
    opts: { accumulate: true },
  },
];

for (const family of FAMILIES) {
  gpuTest(`vae kernels vs reference (${family} matmuls)`, async (gpu, t) => {
    const rng = new Rng(7);
    for (const c of CONV_CASES) {
      for (const limits of [{}, TINY]) {
        await t.step(`conv ${c.what}${limits === TINY ? ", tiny limits" : ""}`, async () => {
          const x = rand(rng, c.N * c.Cin * c.H * c.W);
          const w = rand(rng, c.Cout * c.Cin * c.ks * c.ks, 0.5);
          const b = rand(rng, c.Cout, 0.5);
          const geo = convGeometry(c, { ks: c.ks, name: "w" }, c.opts);
          const outSize = c.N * c.Cout * geo.Ho * geo.Wo;
          const residual = rand(rng, outSize);
          const [got] = await runOps(gpu, limits, async (rec, up) => {
            const wt = uploadConv(rec.mem, "w", w, b, c.Cout, c.Cin, c.ks);
            const out = up(c.opts.accumulate ? residual : new Float32Array(outSize));
            const xa: Act = { t: up(nchwToNhwc(x, c.N, c.Cin, c.H, c.W)), ...c, C: c.Cin };
            await conv2d(rec, xa, wt, out, c.opts);
            return [out];
          });
          let src: ArrayLike<number> = x;
          let [H, W] = [c.H, c.W];
          if (c.opts.up) {
            src = ref.upsampleNearest2x(x, c.N, c.Cin, c.H, c.W);
            [H, W] = [2 * H, 2 * W];
          }
          const pad = c.opts.pad ?? (c.ks - 1) / 2;
          const padEnd = c.opts.padEnd ?? pad;
          const s = c.opts.stride ?? 1;
          const want = ref.conv2d(
            src,
            w,
            b,
            c.N,
            c.Cin,
            H,
            W,
            c.Cout,
            c.ks,
            s,
            pad,
            pad,
            padEnd,
            padEnd,
          );
          if (c.opts.accumulate) {
            const r = nhwcToNchw(residual, c.N, c.Cout, geo.Ho, geo.Wo);
            for (let i = 0; i < want.length; i++) want[i] += r[i];
          }
          assertClose(c.what, nhwcToNchw(got, c.N, c.Cout, geo.Ho, geo.Wo), want);
        });
      }
    }

    for (
      const [C, G, silu_] of [[12, 4, true], [12, 6, false], [8, 8, true], [16, 1, false]] as const
    ) {
      for (const limits of [{}, TINY]) {
        await t.step(
          `GroupNorm C ${C}, G ${G}${silu_ ? " + SiLU" : ""}${
            limits === TINY ? ", tiny limits" : ""
          }`,
          async () => {
            const [N, H, W] = [2, 7, 5];
            const x = rand(rng, N * C * H * W, 2).map((v, i) => v + (i % 3)); // non-zero means
            const gamma = rand(rng, C).map((v) => 1 + 0.5 * v);
            const beta = rand(rng, C, 0.5);
            const [got] = await runOps(gpu, limits, async (rec, up) => {
              const y = rec.mem.tensor([N * H * W * C], "y");
              const xa: Act = { t: up(nchwToNhwc(x, N, C, H, W)), N, H, W, C };
              await groupNorm(rec, xa, { gamma: up(gamma), beta: up(beta) }, G, y, silu_, 1e-6);
              return [y];
            });
            let want = ref.groupNorm(x, N, C, H * W, G, gamma, beta, 1e-6);
            if (silu_) want = ref.silu(want);
            assertClose("groupnorm", nhwcToNchw(got, N, C, H, W), want);
          },
        );
      }
    }

    await t.step("SiLU, add, nearest 2x upsampling (in bands of 64 bytes)", async () => {
      const [N, H, W] = [2, 3, 5];
      for (const C of [3, 8]) {
        const x = rand(rng, N * C * H * W, 3);
        const y0 = rand(rng, N * C * H * W, 3);
        const n4 = Math.floor(x.length / 4) * 4;
        const [s, a, u] = await runOps(gpu, { bindBytes: 64 }, async (rec, up) => {
          const ts = up(x);
          await silu(rec, ts, n4);
          const ta = up(y0);
          await addInPlace(rec, ta, up(x), n4);
          const tu = rec.mem.tensor([N * C * 4 * H * W], "up");
          await upsample2x(rec, { t: up(nchwToNhwc(x, N, C, H, W)), N, H, W, C }, tu);
          return [ts, ta, tu];
        });
        assertClose(`silu C ${C}`, s.subarray(0, n4), ref.silu(x.subarray(0, n4)));
        assert.deepEqual(s.subarray(n4), x.subarray(n4));
        assertClose(`add C ${C}`, a.subarray(0, n4), x.subarray(0, n4).map((v, i) => v + y0[i]));
        assert.deepEqual(
          nhwcToNchw(u, N, C, 2 * H, 2 * W),
          Float32Array.from(ref.upsampleNearest2x(x, N, C, H, W)),
        );
      }
    });

    for (const limits of [{}, { bindBytes: 2048, tileBytes: 256 }]) {
      await t.step(
        `attention block${"tileBytes" in limits ? ", query and key chunks" : ""}`,
        async () => {
          const [N, H, W, C, G] = [2, 3, 5, 8, 4];
          const T = H * W;
          const x = rand(rng, N * C * T);
          const gamma = rand(rng, C).map((v) => 1 + 0.3 * v);
          const beta = rand(rng, C, 0.3);
          const wqkv = rand(rng, 3 * C * C, 0.6);
          const bqkv = rand(rng, 3 * C, 0.3);
          const wo = rand(rng, C * C, 0.5);
          const bo = rand(rng, C, 0.3);
          const [got] = await runOps(gpu, limits, async (rec, up) => {
            const xa: Act = { t: up(nchwToNhwc(x, N, C, H, W)), N, H, W, C };
            const y = await attentionBlock(
              rec,
              xa,
              {
                name: "attn",
                norm: { gamma: up(gamma), beta: up(beta) },
                qkv: uploadConv(rec.mem, "qkv", wqkv, bqkv, 3 * C, C, 1),
                out: uploadConv(rec.mem, "out", wo, bo, C, C, 1),
              },
              G,
              1e-6,
            );
            return [y.t.slice(0, [N * T * C])];
          });
          const xn = nchwToNhwc(ref.groupNorm(x, N, C, T, G, gamma, beta, 1e-6), N, C, H, W);
          const qkv = ref.linear(xn, wqkv, bqkv, N * T, C, 3 * C);
          const o = ref.linear(ref.attention(qkv, N, T, C, 1).out, wo, bo, N * T, C, C);
          const want = nchwToNhwc(x, N, C, H, W).map((v, i) => v + o[i]);
          assertClose("attention", got, want);
        },
      );
    }

    await t.step("posterior: clamp, std, noise, scaling", async () => {
      const [N, L, h, w] = [2, 4, 3, 5];
      const moments = rand(rng, N * h * w * 2 * L, 40); // NHWC, logvar beyond the clamp range
      const noise = rand(rng, N * L * h * w);
      const [got] = await runOps(gpu, {}, async (rec, up) => {
        const out = rec.mem.tensor([4 * N * L * h * w], "post");
        await posterior(
          rec,
          { t: up(moments), N, H: h, W: w, C: 2 * L },
          up(noise),
          out,
          0.5,
          0.25,
        );
        return [out];
      });
      const m = nhwcToNchw(moments, N, 2 * L, h, w);
      const total = N * L * h * w;
      for (let i = 0; i < total; i++) {
        const n = Math.floor(i / (L * h * w));
        const r = i % (L * h * w);
        const mean = m[n * 2 * L * h * w + r];
        const logvar = Math.min(20, Math.max(-30, m[n * 2 * L * h * w + L * h * w + r]));
        const std = Math.exp(0.5 * logvar);
        const z = (mean + std * noise[i] - 0.25) * 0.5;
        assert.equal(got[i], mean);
        assert.equal(got[total + i], Math.fround(logvar));
        assert.ok(Math.abs(got[2 * total + i] - std) <= 1e-6 * std, `std ${i}`);
        assert.ok(Math.abs(got[3 * total + i] - z) <= 1e-5 * Math.max(1, Math.abs(z)), `z ${i}`);
      }
    });
  }, { matmul: family });
}

// ---------------------------------------------------------------------------------------------
// Whole model

for (const family of FAMILIES) {
  gpuTest(`vae golden parity with diffusers (${family} matmuls)`, async (gpu, t) => {
    const st = await loadSafetensors(new URL("vae_small.safetensors", GOLDEN));
    const cases = family === "texture" ? [{}, { bindBytes: 16384, tileBytes: 65536 }] : [{}];
    for (const limits of cases) {
      await t.step(Object.keys(limits).length ? "tiny limits" : "default limits", async () => {
        const rows = await parityVae(gpu, st, limits);
        assert.equal(rows.length, 27);
        for (const r of rows) assert.ok(r.error <= r.limit, `${r.name}: ${r.error} > ${r.limit}`);
      });
    }
  }, { matmul: family });
}

gpuTest("vae batches larger than one pass run in several, with the same results", async (gpu) => {
  const cfg = smallConfig();
  const tensors = randomVaeTensors(cfg, 4);
  const whole = VaeModel.fromTensors(gpu, cfg, tensors, { seed: 9 });
  const split = VaeModel.fromTensors(gpu, cfg, tensors, { seed: 9, passBytes: 60000 });
  try {
    assert.equal(split.maxBatch("encode", 16, 16), 1);
    assert.equal(split.maxBatch("decode", 8, 8), 1);
    assert.ok(whole.maxBatch("decode", 8, 8) >= 3);
    const img = rand(new Rng(2), 3 * 3 * 16 * 16);
    const images = { data: img, shape: [3, 3, 16, 16] } as const;
    const a = await whole.encodeDetailed(images, { firstIndex: 4 });
    const b = await split.encodeDetailed(images, { firstIndex: 4 });
    assert.deepEqual(b.shape, [3, 4, 8, 8]);
    assertClose("latent", b.latent, a.latent, 1e-6);
    assertClose("std", b.std, a.std, 1e-6);
    const x = await whole.decode({ data: a.latent, shape: b.shape });
    const y = await split.decode({ data: a.latent, shape: b.shape });
    assert.deepEqual(y.shape, [3, 3, 16, 16]);
    assertClose("decoded", y.data, x.data, 1e-6);
  } finally {
    whole.destroy();
    split.destroy();
  }
});

gpuTest(
  "vae full sd-vae-ft-mse layout, random weights: load, encode and decode 64x64",
  async (gpu) => {
    const json = JSON.parse(Deno.readTextFileSync(new URL("vae_sd_ft_mse_layout.json", GOLDEN)));
    const cfg = parseVaeConfig(json.config_passed, "layout json");
    const dir = await Deno.makeTempDir({ prefix: "vae_full_test_" });
    let vae: VaeModel | undefined;
    try {
      await writeVaeCheckpoint(dir, cfg, randomVaeTensors(cfg, 11));
      vae = await VaeModel.load(gpu, dir, { seed: 5 });
      assert.equal(vae.name, dir.split("/").pop());
      assert.deepEqual(vae.latentShape([3, 64, 64]), [4, 8, 8]);
      const rng = new Rng(1);
      const img = rand(rng, 2 * 3 * 64 * 64);
      const r = await vae.encodeDetailed({ data: img, shape: [2, 3, 64, 64] }, { firstIndex: 10 });
      assert.deepEqual(r.shape, [2, 4, 8, 8]);
      for (const a of [r.mean, r.logvar, r.std, r.latent]) assert.ok(a.every(Number.isFinite));
      // Latent = (mean + std * noise) * 0.18215 with noise keyed by (seed, index): image 1 alone at
      // index 11 gets the same latent.
      const one = await vae.encodeDetailed(
        { data: img.subarray(3 * 64 * 64), shape: [1, 3, 64, 64] },
        { firstIndex: 11 },
      );
      assertClose("per-image noise", one.latent, r.latent.subarray(256), 1e-6);
      const mean = await vae.encodeDetailed({ data: img, shape: [2, 3, 64, 64] }, { mode: "mean" });
      assertClose("mean mode", mean.latent, r.mean.map((v) => v * 0.18215), 1e-6);
      const x = await vae.decode({ data: r.latent, shape: [2, 4, 8, 8] });
      assert.deepEqual(x.shape, [2, 3, 64, 64]);
      assert.ok(x.data.every(Number.isFinite));
      assert.ok(x.data.some((v) => v !== 0));
    } finally {
      vae?.destroy();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

gpuTest(
  "deno task encode: tiny VAE and image folder; input errors write nothing",
  async (gpu, t) => {
    const dir = await Deno.makeTempDir({ prefix: "vae_encode_test_" });
    try {
      const vaeDir = join(dir, "vae");
      await writeVaeCheckpoint(vaeDir, smallConfig(), randomVaeTensors(smallConfig(), 2));
      const images = join(dir, "images");
      for (const [k, cls] of ["cat", "dog"].entries()) {
        await Deno.mkdir(join(images, cls), { recursive: true });
        for (let i = 0; i < 2; i++) {
          const px = Uint8Array.from(
            { length: 12 * 12 * 3 },
            (_, j) => (j * 7 + i * 50 + k * 90) % 256,
          );
          await Deno.writeFile(join(images, cls, `${i}.png`), encodePng(px, 12, 12, 3));
        }
      }
      const out = join(dir, "latents.safetensors");
      const args = [
        "--vae",
        vaeDir,
        "--images",
        images,
        "--size",
        "16",
        "--out",
        out,
        "--seed",
        "3",
      ];

      await t.step("encodes every image with its label", async () => {
        assert.equal(await encodeMain([...args, "--batch", "3"], { quiet: true, gpu }), 0);
        const ds = await loadLatents(out);
        assert.equal(ds.length, 4);
        assert.deepEqual(ds.shape, [4, 8, 8]);
        assert.deepEqual(ds.classNames, ["cat", "dog"]);
        assert.deepEqual(
          [0, 1, 2, 3].map((i) => ds.label(i)),
          [0, 0, 1, 1],
        );
        assert.equal(ds.scalingFactor, 0.18215);
        assert.equal(ds.autoencoder, "vae");
        assert.ok(ds.latents.every(Number.isFinite));
        // The noise depends on (seed, image index) only: batch 1 gives the same latents.
        const first = ds.latents.slice();
        assert.equal(await encodeMain([...args, "--batch", "1"], { quiet: true, gpu }), 0);
        assertClose("batch-independent latents", (await loadLatents(out)).latents, first, 1e-6);
      });

      await t.step("missing inputs: clear errors, nothing written", async () => {
        const fresh = join(dir, "fresh.safetensors");
        const run = (a: string[]) => encodeMain(a, { quiet: true, gpu });
        const base = ["--images", images, "--out", fresh, "--size", "16"];
        await assert.rejects(run(["--vae", join(dir, "nope"), ...base]), /VAE directory not found/);
        await assert.rejects(run(["--vae", images, ...base]), /VAE config not found/);
        await assert.rejects(
          run(["--vae", vaeDir, "--images", join(dir, "none"), "--out", fresh]),
          /Image folder not found/,
        );
        await assert.rejects(run(["--vae", vaeDir, ...base.slice(2)]), /Missing --images/);
        await assert.rejects(
          run(["--vae", vaeDir, ...base, "--size", "9"]),
          /--size 9 is not a multiple of 2/,
        );
        const weights = join(vaeDir, "diffusion_pytorch_model.safetensors");
        await Deno.rename(weights, `${weights}.bak`);
        await assert.rejects(run(["--vae", vaeDir, ...base]), /VAE weights not found/);
        await Deno.rename(`${weights}.bak`, weights);
        await assert.rejects(Deno.stat(fresh), Deno.errors.NotFound);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
