/**
 * The Stable Diffusion VAE (diffusers AutoencoderKL) on the engine, behind the
 * {@linkcode Autoencoder} interface: images [N,3,H,W] in [-1,1] -> scaled latents [N,4,H/8,W/8]
 * and back. Internally activations are NHWC; each call records (once per shape, then cached) one
 * program, writes the input, submits once and reads back once.
 *
 * Posterior: mean, logvar = chunk(quant_conv(encoder(x)), 2); logvar clamped to [-30, 20];
 * std = exp(logvar / 2); sample = mean + std * noise with Philox noise keyed by (seed, image index);
 * latent = (sample or mean - shift_factor) * scaling_factor. Decode: decoder(latent / scaling_factor
 * + shift_factor).
 */
import type { Gpu, Program, Tensor } from "../gpu/gpu.ts";
import { GpuNoise } from "../ops/philox_normal.ts";
import { NoiseDomain, philoxRowTable } from "../util/philox.ts";
import type { Autoencoder, Tensor4 } from "../data/autoencoder.ts";
import type { Shape3 } from "../data/transforms.ts";
import { basename } from "node:path";
import { loadVaeCheckpoint } from "./checkpoint.ts";
import type { VaeConfig } from "./config.ts";
import { convOut } from "./conv.ts";
import { type Capture, peakActivation, VaeGraph } from "./forward.ts";
import { type VaeLimits, VaeMemory } from "./memory.ts";
import { posterior } from "./elementwise.ts";
import type { Rec } from "./types.ts";
import { nchwToNhwc, nhwcToNchw } from "./nhwc.ts";
import { VaeWeights } from "./weights.ts";

/** Philox noise domain of VAE posterior samples (after the engine's initial/step/train domains). */
export const VAE_NOISE_DOMAIN: number = NoiseDomain.vae;

/** Options of {@linkcode VaeModel}. */
export interface VaeOptions {
  /** name reported by the Autoencoder interface (default "AutoencoderKL") */
  name?: string;
  /** what `encode` returns: a posterior sample (default) or its mean */
  mode?: "sample" | "mean";
  /** Philox seed of posterior samples (default 0) */
  seed?: number;
  /** binding and tile limits (tests shrink them to exercise tiling) */
  limits?: Partial<VaeLimits>;
  /** how many shapes' programs to keep (default 4) */
  maxPlans?: number;
  /** largest activation buffer of one pass in bytes (default maxBufferSize, at most 2 GiB) */
  passBytes?: number;
}

/** Options of {@linkcode VaeModel.encodeDetailed}. */
export interface EncodeOptions {
  /** "sample" (mean + std * noise) or "mean" (default: the model's mode) */
  mode?: "sample" | "mean";
  /** explicit standard normal noise [N, L, h, w] for "sample" (default: Philox) */
  noise?: Float32Array;
  /** Philox seed (default: the model's seed) */
  seed?: number;
  /** dataset index of images[0]: image n's noise is keyed by (seed, firstIndex + n) (default 0) */
  firstIndex?: number;
  /** apply shift_factor and scaling_factor to the latent (default true) */
  scaled?: boolean;
  /** module outputs to capture, by diffusers module path (e.g. "encoder.conv_in", "quant_conv") */
  capture?: Iterable<string>;
}

/** What {@linkcode VaeModel.encodeDetailed} returns; every array is NCHW [N, L, h, w]. */
export interface EncodeResult {
  /** [N, L, h, w] of every array below */
  shape: [number, number, number, number];
  /** posterior mean (unscaled) */
  mean: Float32Array;
  /** posterior log-variance, clamped to [-30, 20] */
  logvar: Float32Array;
  /** posterior standard deviation, exp(logvar / 2) */
  std: Float32Array;
  /** the latent: sample or mean, scaled unless `scaled: false` */
  latent: Float32Array;
  /** captured module outputs, NCHW */
  acts: Map<string, Tensor4>;
}

/** Options of {@linkcode VaeModel.decodeDetailed}. */
export interface DecodeOptions {
  /** the latents are scaled (divide by scaling_factor, add shift_factor first; default true) */
  scaled?: boolean;
  /** module outputs to capture, by diffusers module path */
  capture?: Iterable<string>;
}

interface CaptureBuf {
  name: string;
  t: Tensor;
  shape: [number, number, number, number];
}

interface Plan {
  program: Program;
  input: Tensor;
  output: Tensor;
  /** [N, 4] Philox row table (encode with Philox noise) */
  rows?: Tensor;
  /** [N, L*h*w] noise written by the host (encode with explicit noise) */
  noise?: Tensor;
  outShape: [number, number, number, number];
  captures: CaptureBuf[];
}

/** See the module comment. */
export class VaeModel implements Autoencoder {
  readonly name: string;
  readonly scalingFactor: number;
  /**
   * Buffers and textures the VAE allocates (byte accounting).
   * @internal
   */
  readonly mem: VaeMemory;
  /** Encode returns the posterior sample or its mean. */
  readonly mode: "sample" | "mean";
  /** Seed of the posterior noise. */
  readonly seed: number;
  readonly #graph: VaeGraph;
  readonly #plans = new Map<string, Plan>();
  readonly #maxPlans: number;
  readonly #passBytes: number;
  #noise?: GpuNoise;
  #lock: Promise<unknown> = Promise.resolve();
  #encoded = 0;

  private constructor(
    readonly gpu: Gpu,
    readonly cfg: VaeConfig,
    tensors: ReadonlyMap<string, Float32Array>,
    options: VaeOptions,
  ) {
    this.name = options.name ?? "AutoencoderKL";
    this.scalingFactor = cfg.scalingFactor;
    this.mode = options.mode ?? "sample";
    this.seed = options.seed ?? 0;
    this.#maxPlans = options.maxPlans ?? 4;
    this.#passBytes = Math.min(
      options.passBytes ?? Infinity,
      gpu.device.limits.maxBufferSize,
      2 ** 31,
    );
    this.mem = new VaeMemory(gpu, options.limits);
    this.#graph = new VaeGraph(cfg, new VaeWeights(this.mem, cfg, tensors));
  }

  /** A model from a config and a checked state dict (see {@linkcode vaeStateDict}). */
  static fromTensors(
    gpu: Gpu,
    cfg: VaeConfig,
    tensors: ReadonlyMap<string, Float32Array>,
    options: VaeOptions = {},
  ): VaeModel {
    return new VaeModel(gpu, cfg, tensors, options);
  }

  /**
   * Loads a diffusers checkpoint directory (config.json + diffusion_pytorch_model.safetensors);
   * the name defaults to the directory's name.
   */
  static async load(gpu: Gpu, dir: string, options: VaeOptions = {}): Promise<VaeModel> {
    const ckpt = await loadVaeCheckpoint(dir);
    const name = options.name ?? (basename(dir.replace(/[\\/]+$/, "")) || "AutoencoderKL");
    return new VaeModel(gpu, ckpt.cfg, ckpt.tensors, { ...options, name });
  }

  /** The latent [C, h, w] of an image [C, H, W]. */
  latentShape(imageShape: Shape3): Shape3 {
    let [, h, w] = imageShape;
    for (let i = 1; i < this.cfg.blockOutChannels.length; i++) {
      h = convOut(h, 3, 2, 0, 1);
      w = convOut(w, 3, 2, 0, 1);
    }
    return [this.cfg.latentChannels, h, w];
  }

  /** Images [N, in_channels, H, W] in [-1,1] -> latents (Autoencoder; mode and seed of the model). */
  async encode(images: Tensor4): Promise<Tensor4> {
    const first = this.#encoded;
    this.#encoded += images.shape[0];
    const r = await this.encodeDetailed(images, { firstIndex: first });
    return { data: r.latent, shape: r.shape };
  }

  /** Scaled latents [N, L, h, w] -> images [N, out_channels, H, W] (Autoencoder). */
  async decode(latents: Tensor4): Promise<Tensor4> {
    return (await this.decodeDetailed(latents)).image;
  }

  /** Encodes with the posterior's statistics and optional captures (see {@linkcode EncodeOptions}). */
  encodeDetailed(images: Tensor4, opts: EncodeOptions = {}): Promise<EncodeResult> {
    return this.#exclusive(async () => {
      const [N, C, H, W] = images.shape;
      const per = this.maxBatch("encode", H, W);
      if (N <= per) return await this.#encode(images, opts);
      if (opts.capture && [...opts.capture].length) {
        throw new Error(`Captures need a batch of at most ${per} images at ${H}x${W}`);
      }
      const img = C * H * W;
      const parts: EncodeResult[] = [];
      for (let n0 = 0; n0 < N; n0 += per) {
        const B = Math.min(per, N - n0);
        const r = await this.#encode(
          { data: images.data.subarray(n0 * img, (n0 + B) * img), shape: [B, C, H, W] },
          {
            ...opts,
            firstIndex: (opts.firstIndex ?? 0) + n0,
            noise: opts.noise?.subarray(
              n0 * (opts.noise.length / N),
              (n0 + B) * (opts.noise.length / N),
            ),
          },
        );
        parts.push(r);
      }
      const cat = (k: "mean" | "logvar" | "std" | "latent") => concat(parts.map((r) => r[k]));
      const [, L, h, w] = parts[0].shape;
      return {
        shape: [N, L, h, w],
        mean: cat("mean"),
        logvar: cat("logvar"),
        std: cat("std"),
        latent: cat("latent"),
        acts: new Map(),
      };
    });
  }

  /** Decodes, optionally capturing module outputs (see {@linkcode DecodeOptions}). */
  decodeDetailed(
    latents: Tensor4,
    opts: DecodeOptions = {},
  ): Promise<{ image: Tensor4; acts: Map<string, Tensor4> }> {
    return this.#exclusive(async () => {
      const [N, L, h, w] = latents.shape;
      const per = this.maxBatch("decode", h, w);
      if (N <= per) return await this.#decode(latents, opts);
      if (opts.capture && [...opts.capture].length) {
        throw new Error(`Captures need a batch of at most ${per} latents at ${h}x${w}`);
      }
      const z = L * h * w;
      const parts: Tensor4[] = [];
      for (let n0 = 0; n0 < N; n0 += per) {
        const B = Math.min(per, N - n0);
        const chunk: Tensor4 = {
          data: latents.data.subarray(n0 * z, (n0 + B) * z),
          shape: [B, L, h, w],
        };
        parts.push((await this.#decode(chunk, opts)).image);
      }
      const [, C, H, W] = parts[0].shape;
      return {
        image: { data: concat(parts.map((p) => p.data)), shape: [N, C, H, W] },
        acts: new Map(),
      };
    });
  }

  /**
   * Images per GPU pass at this size: the largest activation of the batch must fit one buffer
   * (maxBufferSize, at most 2 GiB); larger batches run in several passes.
   */
  maxBatch(direction: "encode" | "decode", H: number, W: number): number {
    const elems = peakActivation(this.cfg, direction, H, W);
    return Math.max(1, Math.floor(this.#passBytes / (4 * elems)));
  }

  /** Frees the GPU memory (weights, pools, cached programs). */
  destroy(): void {
    this.#plans.clear();
    this.mem.destroy();
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn, fn);
    this.#lock = run.catch(() => {});
    return run;
  }

  async #encode(images: Tensor4, opts: EncodeOptions): Promise<EncodeResult> {
    const [N, C, H, W] = checkBatch(images, this.cfg.inChannels, "Images");
    const mode = opts.mode ?? this.mode;
    const noiseKind = mode === "mean" ? "none" : opts.noise ? "host" : "philox";
    const scaled = opts.scaled ?? true;
    const capture = new Set(opts.capture ?? []);
    const key = `enc:${N}x${H}x${W}:${noiseKind}:${scaled}`;
    const [L0, h0, w0] = this.latentShape([C, H, W]);
    const plan = await this.#plan(key, capture, async (rec, cap) => {
      const input = rec.mem.acquire(N * H * W * C, "images");
      // Host-written noise must not share a buffer with the encoder's scratch.
      const hostNoise = noiseKind === "host" ? rec.mem.acquire(N * L0 * h0 * w0, "noise") : null;
      const m = await this.#graph.encoder(
        rec,
        { t: input, N, H, W, C },
        cap,
        capture.has("encoder.conv_norm_out"),
      );
      const L = m.C / 2;
      const HW = m.H * m.W;
      const output = rec.mem.acquire(4 * N * L * HW, "posterior");
      let noise = hostNoise;
      let rows: Tensor | undefined;
      if (noiseKind === "philox") {
        noise = rec.mem.acquire(N * L * HW, "noise");
        rows = rec.mem.tensor([N, 4], "philox-rows");
        this.#noise ??= await GpuNoise.create(this.gpu);
        this.#noise.record(rec.p, { rows, out: noise.slice(0, [N, L * HW]) });
      }
      const [scale, shift] = scaled ? [this.cfg.scalingFactor, this.cfg.shiftFactor] : [1, 0];
      await posterior(rec, m, noise, output, scale, shift);
      return {
        input,
        output,
        rows,
        noise: hostNoise ?? undefined,
        outShape: [N, L, m.H, m.W] as [number, number, number, number],
      };
    });
    const [, L, h, w] = plan.outShape;
    const total = N * L * h * w;
    this.gpu.write(plan.input, nchwToNhwc(images.data, N, C, H, W));
    if (plan.noise) {
      if (opts.noise!.length !== total) {
        throw new Error(`Noise has ${opts.noise!.length} values, expected [${plan.outShape}]`);
      }
      this.gpu.write(plan.noise, opts.noise!);
    }
    if (plan.rows) {
      const first = opts.firstIndex ?? 0;
      const seed = opts.seed ?? this.seed;
      const keys = Array.from(
        { length: N },
        (_, n) => ({ seed, stream: first + n, domain: VAE_NOISE_DOMAIN }),
      );
      this.gpu.write(plan.rows, philoxRowTable(keys));
    }
    const { out, acts } = await this.#run(plan, total * 4);
    return {
      shape: plan.outShape,
      mean: out.slice(0, total),
      logvar: out.slice(total, 2 * total),
      std: out.slice(2 * total, 3 * total),
      latent: out.slice(3 * total, 4 * total),
      acts,
    };
  }

  async #decode(latents: Tensor4, opts: DecodeOptions) {
    const [N, L, h, w] = checkBatch(latents, this.cfg.latentChannels, "Latents");
    const capture = new Set(opts.capture ?? []);
    const plan = await this.#plan(`dec:${N}x${h}x${w}`, capture, async (rec, cap) => {
      const input = rec.mem.acquire(N * h * w * L, "latents");
      const y = await this.#graph.decoder(
        rec,
        { t: input, N, H: h, W: w, C: L },
        cap,
        capture.has("decoder.conv_norm_out"),
      );
      return {
        input,
        output: y.t,
        outShape: [N, y.C, y.H, y.W] as [number, number, number, number],
      };
    });
    let z = latents.data;
    if (opts.scaled ?? true) {
      const { scalingFactor: sf, shiftFactor: shift } = this.cfg;
      z = z.map((v) => v / sf + shift);
    }
    this.gpu.write(plan.input, nchwToNhwc(z, N, L, h, w));
    const [, C, H, W] = plan.outShape;
    const { out, acts } = await this.#run(plan, N * C * H * W);
    return { image: { data: nhwcToNchw(out, N, C, H, W), shape: plan.outShape }, acts };
  }

  /** A cached program for `key` (uncached when capturing), built by `build`. */
  async #plan(
    key: string,
    capture: ReadonlySet<string>,
    build: (rec: Rec, cap: Capture) => Promise<Omit<Plan, "program" | "captures">>,
  ): Promise<Plan> {
    const cached = capture.size ? undefined : this.#plans.get(key);
    if (cached) return cached;
    this.mem.beginProgram();
    const p = this.gpu.program(`vae/${key}`);
    const captures: CaptureBuf[] = [];
    const cap: Capture = (name, a) => {
      if (!capture.has(name)) return;
      const size = a.N * a.H * a.W * a.C;
      const t = this.gpu.tensor([size], `capture/${name}`);
      p.copy(a.t, t, size);
      captures.push({ name, t, shape: [a.N, a.C, a.H, a.W] });
    };
    const parts = await build({ p, mem: this.mem }, cap);
    const plan: Plan = { ...parts, program: p, captures };
    const missing = [...capture].filter((n) => !captures.some((c) => c.name === n));
    if (missing.length) throw new Error(`Cannot capture unknown modules: ${missing.join(", ")}`);
    if (!capture.size) {
      if (this.#plans.size >= this.#maxPlans) {
        this.#plans.delete(this.#plans.keys().next().value!);
      }
      this.#plans.set(key, plan);
    }
    return plan;
  }

  /** Submits a plan and reads its output (first `count` values) and captures (as NCHW). */
  async #run(plan: Plan, count: number) {
    this.gpu.submit(plan.program);
    const [out, ...caps] = await this.gpu.read(
      plan.output.slice(0, [count]),
      ...plan.captures.map((c) => c.t),
    );
    const acts = new Map<string, Tensor4>();
    plan.captures.forEach((c, i) => {
      const [N, C, H, W] = c.shape;
      acts.set(c.name, { data: nhwcToNchw(caps[i], N, C, H, W), shape: c.shape });
      c.t.buffer.destroy();
    });
    return { out, acts };
  }
}

function checkBatch(x: Tensor4, C: number, what: string): [number, number, number, number] {
  const [N, c, H, W] = x.shape;
  if (c !== C) throw new Error(`${what} have ${c} channels, the VAE expects ${C}`);
  if (![N, H, W].every((d) => Number.isInteger(d) && d > 0)) {
    throw new Error(`${what} shape [${x.shape}] is not a positive [N,C,H,W]`);
  }
  if (x.data.length !== N * C * H * W) {
    throw new Error(`${what} hold ${x.data.length} values for shape [${x.shape}]`);
  }
  return [N, C, H, W];
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  parts.reduce((o, p) => (out.set(p, o), o + p.length), 0);
  return out;
}
