/**
 * The WebGPU DiT behind the server: loaded inside the inference worker, it runs every batch as
 * one recorded program (all denoising steps) with one submit and one readback.
 *
 * With `--denoiser-config '{"vae": "<dir>"}'` PNGs are decoded by that Stable Diffusion VAE
 * (latents / scaling factor through the decoder); otherwise 4-channel samples render as RGBA.
 *
 * Checkpoint: `--ckpt <run dir or file>`; without it, the newest checkpoint under `runs/` (the
 * default training run's output), else a freshly initialised `small` model with a warning that
 * its samples are noise.
 */
import { Gpu } from "../gpu/gpu.ts";
import { preset } from "../model/config.ts";
import { DiTModel } from "../model/model.ts";
import { checkpointDiffusion, modelFromCheckpoint } from "../sample/load.ts";
import type { BetaSchedule } from "../diffusion/schedule.ts";
import { GpuDenoiser } from "../sample/denoiser.ts";
import { type DiffusionSettings, REGRESSION_SAMPLER, SAMPLERS } from "../sample/samplers.ts";
import { initialNoise } from "../sample/noise.ts";
import { listCheckpoints, loadCheckpoint } from "../model/checkpoint.ts";
import type { PolicySpec } from "../policy/spec.ts";
import { encodePng } from "../data/png.ts";
import { VaeModel } from "../vae/model.ts";
import { median } from "../util/stats.ts";
import type {
  DenoiseJob,
  Denoiser,
  DenoiserFactory,
  DenoiserOptions,
  ModelInfo,
  RunTiming,
} from "./denoiser.ts";

/** The newest checkpoint under `root` (newest run directory first), or null. */
export function newestCheckpoint(root = "runs"): string | null {
  let best: { path: string; mtime: number } | null = null;
  try {
    for (const e of Deno.readDirSync(root)) {
      if (!e.isDirectory) continue;
      const all = listCheckpoints(`${root}/${e.name}`);
      if (!all.length) continue;
      const path = all[all.length - 1];
      const mtime = Deno.statSync(path).mtime?.getTime() ?? 0;
      if (!best || mtime > best.mtime) best = { path, mtime };
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return best?.path ?? null;
}

/** RGBA (4 channels) or RGB (3) images in [-1, 1] as one PNG per sample. */
function toPngs(x0: Float32Array, n: number, shape: number[]): Uint8Array[] {
  const [C, H, W] = shape;
  const out: Uint8Array[] = [];
  for (let s = 0; s < n; s++) {
    const rgba = new Uint8Array(H * W * 4);
    for (let i = 0; i < H * W; i++) {
      for (let c = 0; c < 4; c++) {
        const v = c < C ? x0[(s * C + c) * H * W + i] : 1;
        rgba[i * 4 + c] = Math.round(Math.min(1, Math.max(-1, v)) * 127.5 + 127.5);
      }
      if (C === 1) rgba[i * 4 + 1] = rgba[i * 4 + 2] = rgba[i * 4];
    }
    out.push(encodePng(rgba, W, H, 4));
  }
  return out;
}

class GpuDiTDenoiser implements Denoiser {
  #timing: RunTiming = { readbackMs: 0 };
  constructor(
    readonly info: ModelInfo,
    readonly denoiser: GpuDenoiser,
    readonly readbackFloorMs: number,
    readonly vae: VaeModel | null,
  ) {}

  async run(
    jobs: DenoiseJob[],
    onPreview?: (jobIndex: number, step: number, x0: Float32Array) => void,
  ): Promise<Float32Array[]> {
    if (!jobs.length) return [];
    const { sampler, steps } = jobs[0];
    if (jobs.some((j) => j.sampler !== sampler || j.steps !== steps)) {
      throw new Error("Jobs of one batch must share sampler and steps");
    }
    const L = this.denoiser.L;
    const seeds = jobs.flatMap((j) => j.seeds);
    const cond = this.info.condition;
    const labels = cond.kind === "class"
      ? jobs.flatMap((j) => Array.from(j.classes ?? new Int32Array(j.n)))
      : undefined;
    const condVec = cond.kind === "vector"
      ? Float32Array.from(
        jobs.flatMap((j) => Array.from(j.cond ?? new Float32Array(j.n * cond.dim))),
      )
      : undefined;
    // Jobs that bring x_T keep it; the others get the draw the GPU would make from their seeds.
    let noise: Float32Array | undefined;
    if (jobs.some((j) => j.noise)) {
      noise = new Float32Array(seeds.length * L);
      let o = 0;
      for (const j of jobs) {
        for (let i = 0; i < j.n; i++, o++) {
          const row = j.noise ? j.noise.subarray(i * L, (i + 1) * L) : initialNoise(j.seeds[i], L);
          noise.set(row, o * L);
        }
      }
    }
    const offsets: number[] = [];
    jobs.reduce((o, j) => (offsets.push(o), o + j.n), 0);
    const preview = onPreview
      ? (step: number, x0: Float32Array) => {
        jobs.forEach((j, i) =>
          onPreview(i, step, x0.slice(offsets[i] * L, (offsets[i] + j.n) * L))
        );
      }
      : undefined;
    const { x0 } = await this.denoiser.sample({
      sampler,
      steps,
      seeds,
      labels,
      cond: condVec,
      noise,
    }, preview);
    this.#timing = { readbackMs: this.readbackFloorMs };
    return jobs.map((j, i) => x0.slice(offsets[i] * L, (offsets[i] + j.n) * L));
  }

  async toPng(x0: Float32Array, n: number): Promise<Uint8Array[]> {
    if (!this.vae) return toPngs(x0, n, this.info.input.shape);
    const [C, H, W] = this.info.input.shape;
    const img = await this.vae.decode({ data: x0, shape: [n, C, H, W] });
    return toPngs(img.data, n, img.shape.slice(1));
  }

  lastTiming(): RunTiming {
    return this.#timing;
  }
}

/** Median of a few 16-byte readbacks of an idle buffer: the readback floor, measured on its own. */
async function readbackFloor(gpu: Gpu): Promise<number> {
  const t = gpu.tensor([4], "probe");
  const ts: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await gpu.read(t);
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

/** Creates the GPU denoiser (see the module comment for how the checkpoint is chosen). */
export const createDenoiser: DenoiserFactory = async (opts: DenoiserOptions) => {
  const gpu = await Gpu.create();
  const ckpt = opts.ckpt ?? newestCheckpoint();
  let model: DiTModel;
  let name: string;
  let settings: BetaSchedule | DiffusionSettings = "squaredcos_cap_v2";
  let policy: PolicySpec | undefined;
  if (ckpt) {
    const ck = await loadCheckpoint(ckpt);
    model = modelFromCheckpoint(gpu, ck);
    // Beta schedule, training timesteps (a policy's 100) and clip range, as trained.
    settings = checkpointDiffusion(ck);
    policy = ck.policy;
    name = ckpt;
  } else {
    console.warn(
      "Warning: no checkpoint found under runs/; serving a freshly initialised small model, whose samples are noise",
    );
    model = DiTModel.create(gpu, preset("small"), { seed: 0 });
    name = "small (untrained)";
  }
  const cfg = model.cfg;
  const shape = cfg.input.kind === "image"
    ? [cfg.input.channels, cfg.input.size, cfg.input.size]
    : [cfg.input.length, cfg.input.channels];
  const c = cfg.condition;
  const info: ModelInfo = {
    name,
    arch:
      `dit-${cfg.arch} D=${cfg.hidden} depth=${cfg.depth} heads=${cfg.heads} patch=${cfg.patchSize}`,
    input: { kind: cfg.input.kind, shape },
    condition: c.kind === "class"
      ? { kind: "class", numClasses: c.numClasses }
      : c.kind === "vector"
      ? { kind: "vector", dim: c.dim }
      : { kind: "none" },
    // A regression-trained policy has one meaningful sampler: its single forward pass.
    samplers: policy?.objective === "regression" ? [REGRESSION_SAMPLER] : [...SAMPLERS],
    ...(policy ? { policy } : {}),
  };
  const denoiser = new GpuDenoiser(gpu, model, settings);
  const vaeDir = opts.config?.vae;
  if (vaeDir !== undefined && typeof vaeDir !== "string") {
    throw new Error("config.vae must be a directory path");
  }
  const vae = vaeDir ? await VaeModel.load(gpu, vaeDir, { mode: "mean" }) : null;
  return new GpuDiTDenoiser(info, denoiser, await readbackFloor(gpu), vae);
};

export default createDenoiser;
