/**
 * DiT engine: Diffusion Transformers (Peebles & Xie) on Deno's built-in WebGPU, every forward and
 * backward op a hand-written WGSL kernel, with diffusers-exact samplers, a trainer, the Stable
 * Diffusion VAE and a real-time denoising server.
 *
 * The API in groups: models and their configs, sampling, training, checkpoints, datasets,
 * safetensors files, the VAE, and serving (server and client). Every example below runs under
 * `deno test --doc mod.ts` (part of `deno task test`); those that use the GPU take a tiny model and
 * run on any adapter, llvmpipe included.
 *
 * @example Sample from a trained run
 * ```ts ignore
 * import { Gpu, GpuDenoiser, loadModel } from "./mod.ts";
 *
 * const gpu = await Gpu.create();
 * const model = await loadModel(gpu, "runs/small-20261125-230000"); // a run dir or a checkpoint
 * const denoiser = new GpuDenoiser(gpu, model);
 * const { x0 } = await denoiser.sample({ sampler: "ddim", steps: 20, seeds: [1, 2], labels: [3, 3] });
 * ```
 *
 * @module
 */

// ---------------------------------------------------------------------------------------------
// GPU device
// ---------------------------------------------------------------------------------------------

/**
 * The WebGPU device every model runs on. `Gpu.create()` picks the adapter's kernel family by
 * itself (texture-fed kernels on CPU adapters such as llvmpipe, storage-buffer kernels on GPUs);
 * {@linkcode GpuOptions} overrides it. A device lives until the process ends: do not call
 * `gpu.device.destroy()` (under Deno 2.9.6 a destroyed device aborts the process at exit about one
 * run in three, "corrupted size vs. prev_size"); free large buffers with their own `destroy()`.
 *
 * @example Open the device and see which kernels it chose
 * ```ts
 * import { Gpu, type GpuOptions } from "./mod.ts";
 *
 * const options: GpuOptions = {}; // { matmul: "buffer" } forces the GPU kernels
 * const gpu = await Gpu.create(options);
 * console.log(gpu.info.description, gpu.info.matmul, gpu.info.isCpu);
 * ```
 */
export { Gpu, type Tensor } from "./src/gpu/gpu.ts";
/**
 * Device options and the adapter description {@linkcode Gpu.info} returns.
 *
 * @example Force the storage-buffer kernels with 64x64 tiles
 * ```ts
 * import type { BufferTile, GpuDevice, GpuOptions, MatmulPath } from "./mod.ts";
 *
 * const matmul: MatmulPath = "buffer";
 * const bufferTile: BufferTile = 64;
 * const options: GpuOptions = { matmul, bufferTile };
 * const describe = (d: GpuDevice) => `${d.description} (${d.matmul})`;
 * console.log(options, typeof describe);
 * ```
 */
export type { BufferTile, GpuDevice, GpuOptions, MatmulPath } from "./src/gpu/device.ts";

// ---------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------

/**
 * Model configs: {@linkcode preset} by name (`tiny`, `small`, `seed`, `official-tiny`, `DiT-S/2`,
 * `DiT-B/2`, `DiT-L/2`, `DiT-XL/2`), {@linkcode validateConfig} for a config of your own, and
 * {@linkcode dims} for the sizes derived from it.
 *
 * @example A preset resized for 8x8 latents with 3 classes
 * ```ts
 * import { type DiTConfig, dims, preset, PRESETS, validateConfig } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const cfg: DiTConfig = {
 *   ...preset("tiny"),
 *   input: { kind: "image", channels: 4, size: 8 },
 *   condition: { kind: "class", numClasses: 3, nullClass: false },
 * };
 * validateConfig(cfg); // throws naming the field when something does not fit
 * assert.equal(dims(cfg).T, 16); // 8x8 latent, patch 2: 16 tokens
 * assert.ok("DiT-S/2" in PRESETS);
 * assert.throws(() => preset("DiT-Z"), /Unknown preset/);
 * ```
 */
export {
  type ConditionSpec,
  dims,
  type DiTConfig,
  type DiTDims,
  type InputSpec,
  preset,
  PRESETS,
  validateConfig,
} from "./src/model/config.ts";
/**
 * A model whose parameters live in GPU buffers, laid out under the upstream PyTorch names.
 *
 * @example Create a freshly initialised model and read its state dict
 * ```ts
 * import { DiTModel, Gpu, type ModelOptions, preset } from "./mod.ts";
 *
 * const gpu = await Gpu.create();
 * const options: ModelOptions = { seed: 1 };
 * const model = DiTModel.create(gpu, preset("tiny"), options);
 * const state = await model.stateDict(); // name -> { dtype, shape, data }, PyTorch's keys
 * console.log(model.parameterCount, Object.keys(state).length);
 * ```
 */
export { DiTModel, type ModelOptions } from "./src/model/model.ts";
/**
 * Loads a run directory's newest checkpoint (or a checkpoint file) as an inference model, with the
 * EMA weights when the checkpoint has them.
 *
 * @example Save a model as a checkpoint and load it back
 * ```ts
 * import { DiTModel, Gpu, loadModel, preset, saveCheckpoint } from "./mod.ts";
 *
 * const gpu = await Gpu.create();
 * const cfg = preset("tiny");
 * const model = DiTModel.create(gpu, cfg, { seed: 3 });
 * const dir = await Deno.makeTempDir();
 * await saveCheckpoint(dir, { config: cfg, step: 0, trainer: {} }, await model.stateDict(), 1);
 * const loaded = await loadModel(gpu, dir);
 * console.log(loaded.cfg.hidden, loaded.parameterCount === model.parameterCount);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export { loadModel } from "./src/sample/load.ts";

// ---------------------------------------------------------------------------------------------
// Sampling
// ---------------------------------------------------------------------------------------------

/**
 * Samples from a model on the GPU: all steps of a job in one submit and one readback. Sample `i`
 * depends only on `seeds[i]` (and its label), never on the other samples of the job.
 *
 * @example Two samples of class 1 with 2 DDIM steps
 * ```ts
 * import { DiTModel, Gpu, GpuDenoiser, preset, type SampleJob, type SampleTiming } from "./mod.ts";
 *
 * const gpu = await Gpu.create();
 * const cfg = {
 *   ...preset("tiny"),
 *   input: { kind: "image", channels: 4, size: 8 } as const,
 * };
 * const denoiser = new GpuDenoiser(gpu, DiTModel.create(gpu, cfg));
 * const job: SampleJob = { sampler: "ddim", steps: 2, seeds: [7, 8], labels: [1, 1] };
 * const { x0, timing }: { x0: Float32Array; timing: SampleTiming } = await denoiser.sample(job);
 * console.log(x0.length, timing.gpuMs); // 2 * 4 * 8 * 8 floats
 * ```
 */
export { GpuDenoiser, type SampleJob, type SampleTiming } from "./src/sample/denoiser.ts";
/**
 * Samplers by the names the CLI and the server take: `ddim`, `ddim-eta1`, `dpm++2m`, `ddpm`.
 * A sampler is a noise schedule plus an update rule, planned on the CPU in float64.
 *
 * @example Plan 10 DDIM steps
 * ```ts
 * import { makeSampler, type Sampler, type SamplerPlan, SAMPLERS } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const ddim: Sampler = makeSampler("ddim");
 * const plan: SamplerPlan = ddim.plan(10);
 * assert.deepEqual(plan.timesteps.slice(0, 3), [900, 800, 700]);
 * assert.equal(plan.noisy, false); // eta 0: deterministic
 * assert.deepEqual([...SAMPLERS], ["ddim", "ddim-eta1", "dpm++2m", "ddpm"]);
 * ```
 */
export { type DiffusionSettings, makeSampler, SAMPLERS } from "./src/sample/samplers.ts";
/**
 * The samplers as classes, for settings beyond the named ones (diffusers' options by their
 * camel-case names).
 *
 * @example DDIM with eta 0.5 and DPM-Solver++ 2M on the linear schedule
 * ```ts
 * import { DdimSampler, DdpmSampler, DpmSolverSampler } from "./mod.ts";
 *
 * const ddim = new DdimSampler({ eta: 0.5 });
 * const dpm = new DpmSolverSampler({ betaSchedule: "linear" });
 * const ddpm = new DdpmSampler();
 * console.log(ddim.plan(20).noisy, dpm.plan(20).multistep, ddpm.plan(50).numSteps);
 * ```
 */
export {
  DdimSampler,
  DdpmSampler,
  DpmSolverSampler,
  type Sampler,
  type SamplerPlan,
} from "./src/diffusion/samplers.ts";
/**
 * Noise schedules, computed in float64 as diffusers computes them.
 *
 * @example The cosine schedule's last cumulative alpha
 * ```ts
 * import { type BetaSchedule, makeSchedule, type NoiseSchedule } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const betaSchedule: BetaSchedule = "squaredcos_cap_v2";
 * const s: NoiseSchedule = makeSchedule({ betaSchedule });
 * assert.equal(s.numTrainTimesteps, 1000);
 * assert.ok(s.alphasCumprod[999] < 1e-8);
 * ```
 */
export {
  type BetaSchedule,
  makeSchedule,
  type NoiseSchedule,
  type ScheduleConfig,
} from "./src/diffusion/schedule.ts";

// ---------------------------------------------------------------------------------------------
// Training
// ---------------------------------------------------------------------------------------------

/**
 * The trainer: one submit per step (noise, forward, backward, AdamW, EMA), the loss read back
 * once per log interval, atomic checkpoints, and `resume` continuing with exactly the losses of an
 * uninterrupted run. `deno task train` drives it.
 *
 * @example Two steps on a 6-image in-memory set, then load the run
 * ```ts
 * import {
 *   type Dataset,
 *   DEFAULT_TRAIN,
 *   type DiTConfig,
 *   Gpu,
 *   loadModel,
 *   type MetricsRecord,
 *   preset,
 *   Trainer,
 *   type TrainHooks,
 *   type TrainOptions,
 *   type TrainResult,
 * } from "./mod.ts";
 *
 * const cfg: DiTConfig = {
 *   ...preset("tiny"),
 *   input: { kind: "image", channels: 4, size: 8 },
 *   condition: { kind: "class", numClasses: 2, nullClass: false },
 * };
 * const data: Dataset = {
 *   name: "stripes",
 *   numClasses: 2,
 *   classNames: ["even", "odd"],
 *   shape: [4, 8, 8],
 *   length: 6,
 *   label: (i) => i % 2,
 *   get: (i) => ({ x: new Float32Array(256).map((_, j) => ((j >> 3) + i) % 2 ? 1 : -1), label: i % 2 }),
 * };
 * const out = await Deno.makeTempDir();
 * const options: TrainOptions = {
 *   ...DEFAULT_TRAIN,
 *   out,
 *   steps: 2,
 *   batch: 2,
 *   logEvery: 1,
 *   valEvery: 0,
 *   sampleEvery: 0,
 *   sampleSteps: 1,
 * };
 * const gpu = await Gpu.create();
 * const trainer = await Trainer.create(gpu, cfg, options, data);
 * const hooks: TrainHooks = { quiet: true, onLog: (r: MetricsRecord) => console.log(r.step, r.loss) };
 * const result: TrainResult = await trainer.run(hooks);
 * const model = await loadModel(gpu, out); // EMA weights of the newest checkpoint
 * console.log(result.step, result.checkpoint, model.cfg.depth);
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export {
  DEFAULT_TRAIN,
  type MetricsRecord,
  Trainer,
  type TrainHooks,
  type TrainOptions,
  type TrainResult,
} from "./src/train/trainer.ts";

// ---------------------------------------------------------------------------------------------
// Checkpoints
// ---------------------------------------------------------------------------------------------

/**
 * Checkpoints are safetensors files `ckpt-<step>.safetensors` with the model config, step and
 * trainer state in their metadata, written atomically; loading checks the format and names what
 * is wrong.
 *
 * @example Write two checkpoints, keep one, read the newest
 * ```ts
 * import {
 *   type CheckpointMeta,
 *   latestCheckpoint,
 *   loadCheckpoint,
 *   type LoadedCheckpoint,
 *   preset,
 *   saveCheckpoint,
 *   type TensorInput,
 * } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const tensors: Record<string, TensorInput> = {
 *   w: { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) },
 * };
 * for (const step of [10, 20]) {
 *   const meta: CheckpointMeta = { config: preset("tiny"), step, trainer: {} };
 *   await saveCheckpoint(dir, meta, tensors, 1);
 * }
 * assert.match(latestCheckpoint(dir), /ckpt-0*20\.safetensors$/);
 * const ck: LoadedCheckpoint = await loadCheckpoint(dir);
 * assert.equal(ck.step, 20);
 * assert.deepEqual([...ck.file.float32("w")], [1, 2]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export {
  type CheckpointMeta,
  latestCheckpoint,
  loadCheckpoint,
  type LoadedCheckpoint,
  saveCheckpoint,
} from "./src/model/checkpoint.ts";

// ---------------------------------------------------------------------------------------------
// Datasets
// ---------------------------------------------------------------------------------------------

/**
 * A dataset: `length` samples of one shape `[C, H, W]` in [-1, 1], each with a class label.
 *
 * @example An in-memory dataset
 * ```ts
 * import type { Dataset, Sample } from "./mod.ts";
 *
 * const xs = [new Float32Array(4 * 8 * 8), new Float32Array(4 * 8 * 8).fill(1)];
 * const data: Dataset = {
 *   name: "two",
 *   numClasses: 2,
 *   classNames: ["dark", "light"],
 *   shape: [4, 8, 8],
 *   length: 2,
 *   label: (i) => i,
 *   get: (i): Sample => ({ x: xs[i], label: i }),
 * };
 * console.log(data.get(1).x[0]);
 * ```
 */
export type { Dataset, Sample } from "./src/data/dataset.ts";
/**
 * The embedded training set: the Google Noto emoji of `emoji-datasource-google`, 1,906 images in
 * 9 classes, each a 32x32 RGBA image in [-1, 1] (decoded lazily).
 *
 * @example Its classes and one image
 * ```ts
 * import { type EmojiOptions, loadEmojiDataset } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const options: EmojiOptions = { size: 32 };
 * const emoji = loadEmojiDataset(options);
 * assert.equal(emoji.length, 1906);
 * assert.equal(emoji.numClasses, 9);
 * assert.deepEqual(emoji.shape, [4, 32, 32]);
 * console.log(emoji.classNames[emoji.label(0)], emoji.get(0).x.length);
 * ```
 */
export { type EmojiOptions, loadEmojiDataset } from "./src/data/emoji.ts";
/**
 * A folder of PNGs as a dataset: one subfolder per class (sorted by name), or a flat folder of
 * one class; images are centre-cropped and resized to `size`.
 *
 * @example Two class folders written with gridPng
 * ```ts
 * import { gridPng, type ImageOptions, loadImageFolder } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const root = await Deno.makeTempDir();
 * for (const [name, v] of [["dark", -1], ["light", 1]] as const) {
 *   await Deno.mkdir(`${root}/${name}`);
 *   // One 16x16 RGBA image, no gap around it.
 *   const png = gridPng(new Float32Array(4 * 16 * 16).fill(v), [1, 4, 16, 16], { gap: 0 });
 *   await Deno.writeFile(`${root}/${name}/a.png`, png);
 * }
 * const options: ImageOptions = { size: 8 };
 * const data = loadImageFolder(root, options);
 * assert.deepEqual(data.classNames, ["dark", "light"]);
 * assert.deepEqual(data.shape, [4, 8, 8]);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export { loadImageFolder } from "./src/data/folder.ts";
export type { ImageOptions } from "./src/data/png_dataset.ts";
/**
 * Latents files (what `deno task encode` writes and `deno task train --data <file>` reads):
 * safetensors with the latents `[N, C, H, W]`, labels and class names.
 *
 * @example Save and load three 4x2x2 latents
 * ```ts
 * import { type LatentsDataset, type LatentsFile, loadLatents, saveLatents } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * const file: LatentsFile = {
 *   latents: new Float32Array(3 * 16).map((_, i) => i / 48),
 *   shape: [3, 4, 2, 2],
 *   labels: [0, 1, 1],
 *   classNames: ["a", "b"],
 * };
 * await saveLatents(path, file);
 * const data: LatentsDataset = await loadLatents(path, { expectShape: [4, 2, 2] });
 * assert.equal(data.length, 3);
 * assert.equal(data.get(2).label, 1);
 * await Deno.remove(path);
 * ```
 */
export {
  type LatentsDataset,
  type LatentsFile,
  loadLatents,
  saveLatents,
} from "./src/data/latents.ts";
/**
 * Images `[N, C, H, W]` in [-1, 1] as a PNG grid (transparent pixels over a checkerboard).
 *
 * @example A 2x2 grid of 8x8 RGB images
 * ```ts
 * import { type GridOptions, gridPng } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const options: GridOptions = { cols: 2, scale: 2 };
 * const png = gridPng(new Float32Array(4 * 3 * 8 * 8), [4, 3, 8, 8], options);
 * assert.deepEqual([...png.subarray(1, 4)], [80, 78, 71]); // "PNG"
 * ```
 */
export { type GridOptions, gridPng } from "./src/data/grid.ts";

// ---------------------------------------------------------------------------------------------
// Safetensors files
// ---------------------------------------------------------------------------------------------

/**
 * Safetensors reading (F32, F16, BF16, I64, I32, U8; every offset and size checked) and writing
 * (aligned, atomically).
 *
 * @example Write a file atomically and read it back
 * ```ts
 * import {
 *   type Dtype,
 *   encodeSafetensors,
 *   loadSafetensors,
 *   readSafetensors,
 *   SafeTensors,
 *   type TensorEntry,
 *   type TensorInput,
 *   writeSafetensorsAtomic,
 * } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const tensors: Record<string, TensorInput> = {
 *   weight: { dtype: "F32", shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) },
 * };
 * const bytes = encodeSafetensors(tensors, { note: "example" });
 * const st: SafeTensors = readSafetensors(bytes);
 * const entry: TensorEntry = st.get("weight");
 * const dtype: Dtype = entry.dtype;
 * assert.equal(dtype, "F32");
 * assert.equal(st.metadata.note, "example");
 *
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await writeSafetensorsAtomic(path, tensors);
 * assert.deepEqual([...(await loadSafetensors(path)).float32("weight")], [1, 2, 3, 4]);
 * await Deno.remove(path);
 * ```
 */
export {
  type Dtype,
  encodeSafetensors,
  loadSafetensors,
  readSafetensors,
  SafeTensors,
  type TensorEntry,
  type TensorInput,
  writeSafetensorsAtomic,
} from "./src/io/safetensors.ts";

// ---------------------------------------------------------------------------------------------
// The Stable Diffusion VAE
// ---------------------------------------------------------------------------------------------

/**
 * The Stable Diffusion VAE (diffusers `AutoencoderKL`) on the engine's kernels. `VaeModel.load`
 * reads a diffusers directory (`config.json` + `diffusion_pytorch_model.safetensors`, e.g.
 * stabilityai/sd-vae-ft-mse).
 *
 * @example Encode and decode an 8x8 image with a small random-weight VAE
 * ```ts
 * import { type DecodeOptions, type EncodeOptions, Gpu, type VaeConfig, VaeModel } from "./mod.ts";
 * // Helpers that fabricate a small checkpoint directory for this example.
 * import { parseVaeConfig } from "./src/vae/config.ts";
 * import { randomVaeTensors, writeVaeCheckpoint } from "./src/vae/random.ts";
 *
 * const cfg: VaeConfig = parseVaeConfig({
 *   block_out_channels: [8, 8],
 *   down_block_types: ["DownEncoderBlock2D", "DownEncoderBlock2D"],
 *   up_block_types: ["UpDecoderBlock2D", "UpDecoderBlock2D"],
 *   layers_per_block: 1,
 *   norm_num_groups: 4,
 * });
 * const dir = await Deno.makeTempDir();
 * await writeVaeCheckpoint(dir, cfg, randomVaeTensors(cfg, 0));
 * const gpu = await Gpu.create();
 * const vae = await VaeModel.load(gpu, dir);
 * const image = { data: new Float32Array(3 * 8 * 8), shape: [1, 3, 8, 8] } as const;
 * const options: EncodeOptions & DecodeOptions = {};
 * const z = await vae.encode(image); // [1, 4, 4, 4], scaled by scaling_factor
 * const back = await vae.decode(z); // [1, 3, 8, 8] in [-1, 1]
 * console.log(z.shape, back.shape, options);
 * vae.destroy();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export { type DecodeOptions, type EncodeOptions, VaeModel } from "./src/vae/model.ts";
export type { VaeConfig } from "./src/vae/config.ts";

// ---------------------------------------------------------------------------------------------
// Serving: the websocket server and its client (protocol v1, docs/protocol.md)
// ---------------------------------------------------------------------------------------------

/**
 * Starts the denoising server (`deno task serve` calls this): HTTP routes, the websocket at
 * `/v1/ws`, batching, and the model in an inference `Worker`. Port 0 picks a free port.
 *
 * @example A server with the CPU denoiser on a free port, and one request
 * ```ts
 * import { connect, type DitServer, type ServerOptions, startServer } from "./mod.ts";
 *
 * const options: ServerOptions = { port: 0, log: () => {}, denoiserConfig: { shape: [4, 8, 8] } };
 * const server: DitServer = startServer(options);
 * await server.ready;
 * const client = await connect(server.url);
 * const r = await client.sample({ n: 2, steps: 5, sampler: "ddim", class: 1, seed: 3 });
 * console.log(r.shape, r.timing.totalMs);
 * await client.close();
 * await server.shutdown();
 * ```
 */
export {
  type DitServer,
  type Metrics,
  type ServerOptions,
  startServer,
} from "./src/server/server.ts";
/**
 * The TypeScript client: `connect(url)` waits for the server's `hello`, then `sample` sends
 * requests (pipelined; each resolves with its own result) and rejects with a
 * {@linkcode ClientError} naming the protocol's error code.
 *
 * @example Ask for an unknown sampler and get a clear error
 * ```ts
 * import {
 *   ClientError,
 *   connect,
 *   type ConnectOptions,
 *   type DitClient,
 *   type ErrorCode,
 *   type ReconnectOptions,
 *   type SampleOptions,
 *   type SampleResult,
 *   startServer,
 * } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const server = startServer({ port: 0, log: () => {}, denoiserConfig: { shape: [4, 8, 8] } });
 * await server.ready;
 * const reconnect: ReconnectOptions = { retries: 3 };
 * const options: ConnectOptions = { timeoutMs: 5000, reconnect };
 * const client: DitClient = await connect(server.url, options);
 * const ok: SampleResult = await client.sample({ steps: 2, class: 0, seed: 1 });
 * assert.deepEqual(ok.shape, [1, 4, 8, 8]);
 * const bad: SampleOptions = { steps: 2, class: 0, sampler: "euler" };
 * const error = await client.sample(bad).catch((e) => e);
 * assert.ok(error instanceof ClientError);
 * const code: ErrorCode | string = error.code;
 * assert.equal(code, "unsupported");
 * await client.close();
 * await server.shutdown();
 * ```
 */
export {
  ClientError,
  connect,
  type ConnectOptions,
  type DitClient,
  type ReconnectOptions,
  type SampleOptions,
  type SampleResult,
} from "./src/server/client.ts";
/**
 * The protocol's error codes (`bad_request`, `unsupported`, `too_large`, `overloaded`,
 * `cancelled`, `internal`).
 *
 * @example
 * ```ts
 * import { ERROR_CODES, type ErrorCode } from "./mod.ts";
 *
 * const code: ErrorCode = "overloaded";
 * console.log(ERROR_CODES.includes(code));
 * ```
 */
export { ERROR_CODES, type ErrorCode, type Limits } from "./src/server/protocol.ts";
/**
 * What a denoiser module implements: `deno task serve --denoiser <module>` loads a module that
 * exports `createDenoiser: DenoiserFactory` (or a default export) in the inference worker.
 *
 * @example A denoiser that returns zeros, called as the worker calls it
 * ```ts
 * import type { DenoiseJob, Denoiser, DenoiserFactory, ModelInfo } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const info: ModelInfo = {
 *   name: "zeros",
 *   arch: "none",
 *   input: { kind: "image", shape: [4, 2, 2] },
 *   condition: { kind: "none" },
 *   samplers: ["ddim"],
 * };
 * const createDenoiser: DenoiserFactory = (_opts) => {
 *   const denoiser: Denoiser = {
 *     info,
 *     run: (jobs: DenoiseJob[]) => Promise.resolve(jobs.map((j) => new Float32Array(j.n * 16))),
 *   };
 *   return Promise.resolve(denoiser);
 * };
 * const d = await createDenoiser({ maxBatch: 8, maxSteps: 100 });
 * const [x0] = await d.run([{ id: "a", n: 2, steps: 1, sampler: "ddim", seeds: [1, 2] }]);
 * assert.equal(x0.length, 32);
 * ```
 */
export type {
  DenoiseJob,
  Denoiser,
  DenoiserFactory,
  DenoiserOptions,
  ModelInfo,
} from "./src/server/denoiser.ts";

// ---------------------------------------------------------------------------------------------
// Types the API above refers to
// ---------------------------------------------------------------------------------------------

/**
 * Types that appear in the signatures above: image shapes, the autoencoder interface the VAE
 * implements, safetensors details, schedule options, the server's frames and timings.
 *
 * @example The types in use
 * ```ts
 * import type {
 *   Autoencoder,
 *   EncodeResult,
 *   HelloFrame,
 *   LatentsOptions,
 *   RequestId,
 *   ResultFrame,
 *   RunTiming,
 *   SchedulePrecision,
 *   Shape3,
 *   StepRow,
 *   Tensor4,
 *   TensorData,
 *   TensorInfo,
 *   TimestepSpacing,
 *   Timing,
 *   WireTensor,
 * } from "./mod.ts";
 *
 * // An autoencoder that passes images through unchanged.
 * const identity: Autoencoder = {
 *   name: "identity",
 *   scalingFactor: 1,
 *   latentShape: (s: Shape3): Shape3 => s,
 *   encode: (x: Tensor4) => Promise.resolve(x),
 *   decode: (z: Tensor4) => Promise.resolve(z),
 * };
 * const id: RequestId = "req-1";
 * const spacing: TimestepSpacing = "trailing";
 * const precision: SchedulePrecision = "float64";
 * const data: TensorData = new Float32Array(4);
 * const info: Pick<TensorInfo, "dtype" | "shape"> = { dtype: "F32", shape: [4] };
 * const latents: LatentsOptions = { expectShape: [4, 32, 32] };
 * const timing: Pick<Timing, "queueMs" | "computeMs"> = { queueMs: 0.1, computeMs: 60 };
 * const readback: RunTiming = { readbackMs: 11 };
 * const x0: WireTensor = { dtype: "float32", shape: [1], data: new Uint8Array(4) };
 * const samples = (r: ResultFrame) => r.x0?.shape[0] ?? 0;
 * const describe = (h: HelloFrame, r: EncodeResult, row: StepRow) =>
 *   `${h.model.name} ${r.shape} ${row.clip}`;
 * console.log(identity.name, id, spacing, precision, data.length, info, latents, timing, readback);
 * console.log(typeof describe, typeof samples, x0.shape);
 * ```
 */
export type { Autoencoder, Tensor4 } from "./src/data/autoencoder.ts";
export type { Shape3 } from "./src/data/transforms.ts";
export type { EncodeResult } from "./src/vae/model.ts";
export type { HelloFrame, ResultFrame, Timing } from "./src/server/frames.ts";
export type { WireTensor } from "./src/server/tensor.ts";
export type { LatentsOptions } from "./src/data/latents.ts";
export type { RequestId } from "./src/server/protocol.ts";
export type { RunTiming } from "./src/server/denoiser.ts";
export type { SchedulePrecision, TimestepSpacing } from "./src/diffusion/schedule.ts";
export type { StepRow } from "./src/diffusion/samplers.ts";
export type { TensorData, TensorInfo } from "./src/io/safetensors.ts";

// ---------------------------------------------------------------------------------------------
// Robot policies (docs/policy.md, docs/lerobot.md, docs/openpi.md, docs/pusht.md)
// ---------------------------------------------------------------------------------------------

/**
 * What a robot policy is besides its weights: the features it reads and writes, its windows
 * (observation steps, horizon, executed actions), its diffusion settings and the min-max
 * statistics that map dataset units to the network's [-1, 1]. Policy checkpoints carry it.
 *
 * @example Normalise a state to the network's range and back
 * ```ts
 * import { type MinMax, normalize, unnormalize } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const stats: MinMax = { min: [0, 0], max: [512, 512] };
 * const x = normalize(Float32Array.from([0, 256]), stats);
 * assert.deepEqual(Array.from(x), [-1, 0]);
 * assert.deepEqual(Array.from(unnormalize(x, stats)), [0, 256]);
 * ```
 */
export {
  type MinMax,
  normalize,
  type PolicyObjective,
  type PolicySpec,
  type RobotFeatures,
  unnormalize,
  validatePolicySpec,
} from "./src/policy/spec.ts";

/**
 * LeRobot datasets (codebase v3.0, v2.1, v2.0) read into whole episodes of one state and one
 * action feature, written as v3.0, and cut into Diffusion Policy's training windows.
 *
 * @example Read a dataset and make Push-T-style windows
 * ```ts
 * import { PolicyWindows, readLeRobot, type RobotEpisodes, splitEpisodes } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const eps: RobotEpisodes = await readLeRobot("tests/fixtures/lerobot/v30");
 * const split = splitEpisodes(eps, { valFraction: 0.34, seed: 0 });
 * const windows = new PolicyWindows(eps, split.train, {
 *   nObsSteps: 2,
 *   horizon: 4,
 *   nActionSteps: 2,
 * }, eps.stats);
 * const { obs, action } = windows.get(0); // normalised to [-1, 1]
 * assert.equal(obs.length, 2 * eps.stateDim);
 * assert.equal(action.length, 4 * eps.actionDim);
 * ```
 */
export {
  checkWidths,
  type PolicyWindow,
  PolicyWindows,
  readLeRobot,
  type ReadLeRobotOptions,
  type RobotEpisode,
  type RobotEpisodes,
  splitEpisodes,
  type WindowConfig,
  writeLeRobot,
  type WriteLeRobotOptions,
} from "./src/data/lerobot/mod.ts";

/**
 * Push-T on MuJoCo's WebAssembly build, modelled on gym-pusht: seeded resets, 10 Hz control of a
 * round pusher, coverage of the goal T as reward, pictures, and a scripted expert.
 *
 * @example Reset, push, and measure the coverage
 * ```ts
 * import { PushTEnv } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const env = await PushTEnv.create();
 * const obs = env.reset(0); // [agent_x, agent_y, block_x, block_y, block_angle]
 * const step = env.step([obs[2], obs[3]]); // the pusher heads for the block
 * assert.ok(step.coverage >= 0 && step.coverage <= 1);
 * env.close();
 * ```
 */
export {
  type Pose,
  PushTEnv,
  type PushTOptions,
  type PushTState,
  type PushTStep,
} from "./src/robot/pusht/env.ts";
/**
 * The scripted Push-T expert (contact pushes chosen by simulated rollouts) and the collection of
 * its successful episodes as robot demonstrations.
 *
 * @example One expert episode
 * ```ts
 * import { PushTEnv, PushTExpert } from "./mod.ts";
 *
 * const env = await PushTEnv.create();
 * const ep = new PushTExpert(env).runEpisode(8);
 * console.log(ep.success, ep.maxReward);
 * env.close();
 * ```
 */
export {
  type CollectOptions,
  collectPushT,
  type CollectResult,
} from "./src/robot/pusht/collect.ts";
export { type ExpertEpisode, type ExpertOptions, PushTExpert } from "./src/robot/pusht/expert.ts";
/**
 * Push-T pictures: a PNG of one state, an animated GIF of an episode.
 *
 * @example A picture of a reset state
 * ```ts
 * import { PushTEnv, renderPng } from "./mod.ts";
 *
 * const env = await PushTEnv.create();
 * env.reset(1);
 * const png: Uint8Array = renderPng(env.getState(), { size: 128 });
 * console.log(png.length);
 * env.close();
 * ```
 */
export {
  episodeGif,
  type GifOptions,
  type RenderOptions,
  renderPng,
} from "./src/robot/pusht/render.ts";

/**
 * The openpi-protocol client: what a TypeScript robot uses to ask a served policy
 * (`deno task serve --ckpt <policy run>`) for action chunks.
 *
 * @example Ask a served policy for a chunk
 * ```ts ignore
 * import { connectPolicy } from "./mod.ts";
 *
 * const policy = await connectPolicy("ws://127.0.0.1:8000", { apiKey: "secret" });
 * const { actions, shape } = await policy.infer({
 *   "observation.state": Float32Array.of(200, 100, 300, 320, 0.5),
 * });
 * console.log(shape, actions.subarray(0, 2)); // [16, 2] in the dataset's units
 * await policy.close();
 * ```
 */
export {
  connectPolicy,
  type ObservationValue,
  type PolicyAction,
  type PolicyClient,
  PolicyClientError,
  type PolicyConnectOptions,
} from "./src/server/policy_client.ts";
