/**
 * DiT engine: Diffusion Transformers (Peebles & Xie) on Deno's built-in WebGPU, every forward and
 * backward op a hand-written WGSL kernel, with diffusers-exact schedulers, a trainer and a
 * real-time denoising server.
 *
 * @example Sample from a trained checkpoint
 * ```ts ignore
 * import { Gpu, GpuDenoiser, loadModel } from "./mod.ts";
 *
 * const gpu = await Gpu.create();
 * const model = await loadModel(gpu, "runs/small-20261125-230000");
 * const denoiser = new GpuDenoiser(gpu, model);
 * const { x0 } = await denoiser.sample({ sampler: "ddim", steps: 20, seeds: [1, 2], labels: [3, 3] });
 * ```
 *
 * @example Talk to `deno task serve`
 * ```ts ignore
 * import { connect } from "./mod.ts";
 *
 * const client = await connect("ws://127.0.0.1:8000/v1/ws");
 * const r = await client.sample({ n: 1, steps: 10, sampler: "ddim", class: 2 });
 * console.log(r.shape, r.timing);
 * client.close();
 * ```
 * @module
 */

// GPU layer
export { F32, f32, Gpu, type Kernel, Program, Tensor } from "./src/gpu/gpu.ts";
export type { BufferTile, GpuDevice, GpuOptions, MatmulPath } from "./src/gpu/device.ts";

// Model
export {
  type ConditionSpec,
  dims,
  type DiTConfig,
  type InputSpec,
  preset,
  PRESETS,
  validateConfig,
} from "./src/model/config.ts";
export { DiTModel, type ModelOptions } from "./src/model/model.ts";
export { DiTGraph, type GraphOptions } from "./src/model/graph.ts";
export { ParamLayout, paramNames } from "./src/model/layout.ts";
export { configFromGolden, parityDit, type ParityRow } from "./src/model/parity.ts";
export { loadModel } from "./src/sample/load.ts";

// Diffusion
export { makeSchedule, type NoiseSchedule } from "./src/diffusion/schedule.ts";
export {
  DdimSampler,
  DdpmSampler,
  DpmSolverSampler,
  type Sampler,
  type SamplerPlan,
  stepCpu,
} from "./src/diffusion/samplers.ts";
export { parityDdim, parityDdpm } from "./src/diffusion/parity.ts";
export { philoxNormal } from "./src/util/philox.ts";
export { GpuDenoiser, type SampleJob } from "./src/sample/denoiser.ts";
export { makeSampler, SAMPLERS } from "./src/sample/samplers.ts";
export {
  classify,
  fitLinearClassifier,
  type FitOptions,
  type LinearClassifier,
  poolFeatures,
  type Score as ClassScore,
  score as classScore,
} from "./src/eval/class_score.ts";

// Training
export {
  DEFAULT_TRAIN,
  learningRate,
  Trainer,
  type TrainOptions,
  type TrainResult,
} from "./src/train/trainer.ts";
export { latestCheckpoint, loadCheckpoint, saveCheckpoint } from "./src/model/checkpoint.ts";
export { type AdamWConfig, GpuAdamW } from "./src/train/optimizer.ts";

// Data and files
export { BatchIterator, type Dataset, splitDataset } from "./src/data/dataset.ts";
export { loadEmojiDataset } from "./src/data/emoji.ts";
export { loadImageFolder } from "./src/data/folder.ts";
export { loadLatents, saveLatents } from "./src/data/latents.ts";
export { type Autoencoder, identityAutoencoder } from "./src/data/autoencoder.ts";
export { gridPng } from "./src/data/grid.ts";
export {
  encodeSafetensors,
  loadSafetensors,
  readSafetensors,
  SafeTensors,
  writeSafetensorsAtomic,
} from "./src/io/safetensors.ts";

// Serving
export {
  ClientError,
  connect,
  type ConnectOptions,
  type DitClient,
  type SampleOptions,
  type SampleResult,
} from "./src/server/client.ts";
export type { ErrorFrame, HelloFrame, PreviewFrame, ResultFrame } from "./src/server/frames.ts";
export { ERROR_CODES } from "./src/server/protocol.ts";
export { type DitServer, type ServerOptions, startServer } from "./src/server/server.ts";
export type { Denoiser, DenoiserFactory, ModelInfo } from "./src/server/denoiser.ts";
export { VaeModel } from "./src/vae/model.ts";

// Types referenced by the API above
export type { Batch, IteratorState, Sample, Split, SplitOptions } from "./src/data/dataset.ts";
export type {
  BetaSchedule,
  ScheduleConfig,
  SchedulePrecision,
  TimestepSpacing,
} from "./src/diffusion/schedule.ts";
export type { BufferPool } from "./src/gpu/pool.ts";
export type { CheckpointMeta, LoadedCheckpoint } from "./src/model/checkpoint.ts";
export type { Cmd } from "./src/gpu/gpu.ts";
export type { DecodeOptions, EncodeOptions, EncodeResult } from "./src/vae/model.ts";
export type { DenoiseJob, DenoiserOptions, RunTiming } from "./src/server/denoiser.ts";
export type { DiTDims } from "./src/model/config.ts";
export type {
  Dtype,
  TensorData,
  TensorEntry,
  TensorInfo,
  TensorInput,
} from "./src/io/safetensors.ts";
export type { EmojiOptions } from "./src/data/emoji.ts";
export type { ErrorCode, Limits, RequestId } from "./src/server/protocol.ts";
export type { GridOptions } from "./src/data/grid.ts";
export type { ImageOptions } from "./src/data/png_dataset.ts";
export type { InitKind, ParamEntry, ParamNames } from "./src/model/layout.ts";
export type { LatentsDataset, LatentsFile, LatentsOptions } from "./src/data/latents.ts";
export type { Metrics } from "./src/server/metrics.ts";
export type { MetricsRecord, TrainHooks } from "./src/train/trainer.ts";
export type { NoiseKey } from "./src/util/philox.ts";
export type { ParityOptions } from "./src/diffusion/parity.ts";
export type { Profiler } from "./src/gpu/profiler.ts";
export type { ReconnectOptions } from "./src/server/client.ts";
export type { SampleTiming } from "./src/sample/denoiser.ts";
export type { Shape3 } from "./src/data/transforms.ts";
export type { StepInputs, StepOutputs, StepRow } from "./src/diffusion/samplers.ts";
export type { Tensor4 } from "./src/data/autoencoder.ts";
export type { Timing } from "./src/server/frames.ts";
export type { VaeConfig } from "./src/vae/config.ts";
export type { VaeLimits, VaeMemory } from "./src/vae/memory.ts";
export type { WireTensor } from "./src/server/tensor.ts";
