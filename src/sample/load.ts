/** Loading a model for inference from a checkpoint (EMA weights when present). */
import type { Gpu } from "../gpu/gpu.ts";
import type { BetaSchedule } from "../diffusion/schedule.ts";
import { DiTModel } from "../model/model.ts";
import { loadCheckpoint, type LoadedCheckpoint } from "../model/checkpoint.ts";
import type { DiffusionSettings } from "./samplers.ts";

/**
 * Loads the newest checkpoint of a run directory (or a checkpoint file) as an inference model,
 * with the EMA weights when the checkpoint has them (`optim.ema`), else the raw weights.
 */
export async function loadModel(
  gpu: Gpu,
  pathOrDir: string,
  opts: { ema?: boolean } = {},
): Promise<DiTModel> {
  return modelFromCheckpoint(gpu, await loadCheckpoint(pathOrDir), opts);
}

/** An inference model from an already loaded checkpoint (see {@linkcode loadModel}). */
export function modelFromCheckpoint(
  gpu: Gpu,
  ck: LoadedCheckpoint,
  opts: { ema?: boolean } = {},
): DiTModel {
  const model = DiTModel.create(gpu, ck.config);
  model.loadStateDict(ck.file, { allowExtra: true });
  if ((opts.ema ?? true) && ck.file.has("optim.ema")) {
    const ema = ck.file.float32("optim.ema");
    if (ema.length !== model.params.size) {
      throw new Error(
        `${ck.path}: optim.ema has ${ema.length} values, expected ${model.params.size}`,
      );
    }
    gpu.write(model.params, ema);
  }
  return model;
}

/** The beta schedule the checkpoint was trained with (squaredcos_cap_v2 when it does not say). */
export function checkpointSchedule(ck: LoadedCheckpoint): BetaSchedule {
  const options = ck.trainer.options as { betaSchedule?: BetaSchedule } | undefined;
  return options?.betaSchedule ?? "squaredcos_cap_v2";
}

/**
 * The diffusion settings the checkpoint was trained with, for its samplers: beta schedule (as
 * {@linkcode checkpointSchedule}), training timesteps (the policy record's, else the trainer
 * options', else 1000) and the x0 clip range (the policy record's, else 1).
 */
export function checkpointDiffusion(ck: LoadedCheckpoint): Required<DiffusionSettings> {
  const options = ck.trainer.options as { numTrainTimesteps?: number } | undefined;
  const numTrainTimesteps = ck.policy?.numTrainTimesteps ?? options?.numTrainTimesteps ?? 1000;
  if (!Number.isInteger(numTrainTimesteps) || numTrainTimesteps < 1) {
    throw new Error(`${ck.path}: numTrainTimesteps ${numTrainTimesteps} is not a positive integer`);
  }
  const clipSample = ck.policy?.clipSample ?? 1;
  if (!(clipSample >= 0)) throw new Error(`${ck.path}: clipSample ${clipSample} must be >= 0`);
  return { betaSchedule: checkpointSchedule(ck), numTrainTimesteps, clipSample };
}
