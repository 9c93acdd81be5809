/** Training defaults per model preset. */
import type { TrainOptions } from "./trainer.ts";

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
