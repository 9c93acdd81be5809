/** Training defaults per model preset, and the policy settings of the policy presets. */
import type { TrainOptions } from "./trainer.ts";
import type { WindowConfig } from "../data/lerobot/mod.ts";

/** What a policy preset fixes beside the network and the optimiser. */
export interface PolicyPreset extends WindowConfig {
  /** Clip range of the predicted clean chunk at every sampling step. */
  clipSample: number;
  /** Fraction of episodes held out for validation. */
  valFraction: number;
}

/**
 * Policy presets: the model preset of the same name is a sequence model trained on robot
 * episodes. Push-T: Diffusion Policy's and LeRobot's n_obs_steps 2, horizon 16,
 * n_action_steps 8, clip_sample_range 1.
 */
export const PRESET_POLICY: Record<string, PolicyPreset> = {
  pusht: { nObsSteps: 2, horizon: 16, nActionSteps: 8, clipSample: 1, valFraction: 0.05 },
};

/** Per-preset training defaults: `small` is sized for ~10 minutes on a 2-core llvmpipe machine. */
export const PRESET_TRAIN: Record<string, Partial<TrainOptions>> = {
  tiny: {
    steps: 60,
    batch: 8,
    lr: 1e-3,
    warmup: 10,
    logEvery: 10,
    sampleEvery: 0,
    ckptEvery: 30,
    valEvery: 30,
    emaDecay: 0.99,
  },
  small: {
    steps: 3300,
    batch: 16,
    lr: 3e-3,
    warmup: 100,
    cosine: true,
    emaDecay: 0.995,
    logEvery: 10,
    sampleEvery: 1650,
    ckptEvery: 200,
    valEvery: 200,
  },
  /**
   * LeRobot's diffusion settings where they carry over: AdamW betas 0.95/0.999, weight decay
   * 1e-6, gradient clip 10, warm-up then cosine, 100 training timesteps, batch 64. LeRobot runs
   * 200k steps at lr 1e-4 with 500 warm-up steps; a 2-core llvmpipe machine manages ~1 step/s at
   * best, so this preset runs 4,000 steps (about an hour unloaded) at lr 3e-4 with 200 warm-up
   * steps (5%) and EMA 0.999 (docs/policy.md).
   */
  pusht: {
    steps: 4000,
    batch: 64,
    lr: 3e-4,
    beta1: 0.95,
    beta2: 0.999,
    weightDecay: 1e-6,
    clipNorm: 10,
    warmup: 200,
    cosine: true,
    emaDecay: 0.999,
    numTrainTimesteps: 100,
    sampler: "dpm++2m",
    sampleSteps: 10,
    logEvery: 50,
    sampleEvery: 500,
    ckptEvery: 250,
    valEvery: 250,
  },
  seed: {
    steps: 100000,
    batch: 64,
    lr: 1e-4,
    emaDecay: 0.9999,
    sampleEvery: 2000,
    ckptEvery: 1000,
    valEvery: 1000,
    logEvery: 50,
  },
};

/**
 * Per-preset wall-clock budgets (seconds) used when neither `--steps` nor `--time` is given: the
 * run sizes itself to its machine (see src/train/budget.ts). Presets without one train their
 * fixed step count.
 */
export const PRESET_TIME: Record<string, number> = {
  small: 600,
};
