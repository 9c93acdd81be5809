/** Loading a model for inference from a checkpoint (EMA weights when present). */
import type { Gpu } from "../gpu/gpu.ts";
import type { BetaSchedule } from "../diffusion/schedule.ts";
import { DiTModel } from "../model/model.ts";
import { loadCheckpoint, type LoadedCheckpoint } from "../model/checkpoint.ts";

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
