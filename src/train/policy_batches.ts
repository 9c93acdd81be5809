/**
 * Robot-policy examples for the trainer: x = a normalised action chunk [H * A] (token-major: one
 * token per time step, the action dimensions as its channels) and cond = the normalised
 * observation history [nObsSteps * D]; validation on windows of held-out episodes; the picture
 * is `chunks.png` (demonstrated against sampled chunks on fixed validation windows).
 */
import { BatchIterator, type Dataset, type IteratorState } from "../data/dataset.ts";
import { chunksPng } from "../data/chunk_plot.ts";
import type { RobotEpisodes } from "../data/robot.ts";
import type { DiTConfig } from "../model/config.ts";
import { type PolicySpec, unnormalize, validatePolicySpec } from "../policy/spec.ts";
import { PolicyWindows, splitEpisodes, type WindowConfig } from "../data/lerobot/mod.ts";
import type { BatchSource, SampleFn, TrainBatch } from "./batch_source.ts";

/** Random access to normalised windows (implemented by the LeRobot module's PolicyWindows). */
export interface PolicyWindowSet {
  /** Number of windows. */
  readonly length: number;
  /** The episode a window comes from. */
  episodeOf(i: number): number;
  /** Window `i`: obs [nObsSteps * D] and action [horizon * A], normalised to [-1, 1]. */
  get(i: number): { obs: Float32Array; action: Float32Array };
}

/** What the trainer needs to train a policy. */
export interface PolicyData {
  /** Short name for logs. */
  readonly name: string;
  /**
   * The policy record: features, windows, statistics and clip range. The trainer sets
   * numTrainTimesteps, objective, sampler and steps from its own options.
   */
  readonly spec: PolicySpec;
  /** Training windows. */
  readonly train: PolicyWindowSet;
  /** Windows of held-out episodes (empty: no validation). */
  readonly val: PolicyWindowSet;
}

/** True when `data` is policy data rather than an image dataset. */
export function isPolicyData(data: unknown): data is PolicyData {
  return typeof data === "object" && data !== null && "spec" in data && "train" in data;
}

/**
 * Policy data from in-memory episodes: episodes split by {@linkcode splitEpisodes}, windows by
 * {@linkcode PolicyWindows} with the dataset's min-max statistics. The spec's diffusion fields
 * are placeholders the trainer overwrites.
 */
export function policyDataFromEpisodes(
  eps: RobotEpisodes,
  windows: WindowConfig,
  o: { valFraction?: number; seed?: number; clipSample?: number } = {},
): PolicyData {
  const split = splitEpisodes(eps, { valFraction: o.valFraction ?? 0.05, seed: o.seed ?? 0 });
  const spec: PolicySpec = {
    stateKey: eps.stateKey,
    actionKey: eps.actionKey,
    ...(eps.stateNames ? { stateNames: eps.stateNames } : {}),
    ...(eps.actionNames ? { actionNames: eps.actionNames } : {}),
    stateDim: eps.stateDim,
    actionDim: eps.actionDim,
    ...windows,
    fps: eps.fps,
    numTrainTimesteps: 100,
    clipSample: o.clipSample ?? 1,
    sampler: "ddim",
    steps: 10,
    stats: eps.stats,
  };
  validatePolicySpec(spec);
  return {
    name: eps.name,
    spec,
    train: new PolicyWindows(eps, split.train, windows, eps.stats),
    val: new PolicyWindows(eps, split.val, windows, eps.stats),
  };
}

/** Held-out windows a validation pass reads at most (evenly spaced), to bound its cost. */
export const MAX_VAL_WINDOWS = 256;

/** Windows the picture draws, and samples per window. */
const PICTURE_WINDOWS = 4;
const PICTURE_SAMPLES = 4;

/** The policy {@linkcode BatchSource}. */
export class PolicyBatches implements BatchSource {
  readonly pictureName = "chunks";
  readonly policy: PolicySpec;
  readonly #iter: BatchIterator;
  /** obs of the windows the iterator read during the current next() call, by window index. */
  readonly #obs = new Map<number, Float32Array>();

  /** Checks the data against the model and starts a seeded iterator over the training windows. */
  constructor(
    readonly data: PolicyData,
    readonly cfg: DiTConfig,
    opts: { batch: number; seed: number },
    spec: PolicySpec,
  ) {
    validatePolicySpec(spec);
    this.policy = spec;
    const { horizon: H, actionDim: A, nObsSteps, stateDim: D } = spec;
    const c = cfg.condition;
    if (
      cfg.input.kind !== "sequence" || cfg.input.length !== H || cfg.input.channels !== A ||
      c.kind !== "vector" || c.dim !== nObsSteps * D
    ) {
      throw new Error(
        `Policy ${data.name} needs a sequence model {channels: ${A}, length: ${H}} with a vector ` +
          `condition of ${nObsSteps * D} (nObsSteps x state width); the model has ` +
          `${JSON.stringify(cfg.input)} and ${JSON.stringify(c)}`,
      );
    }
    if (data.train.length < 1) throw new Error(`Policy data ${data.name} has no training windows`);
    // The shuffled, resumable iterator of the image path, over a view whose example i is the
    // action chunk of window i; the observations are kept aside as the view reads them.
    const view: Dataset = {
      name: data.name,
      numClasses: 1,
      classNames: ["all"],
      shape: [H * A, 1, 1],
      length: data.train.length,
      label: () => 0,
      get: (i) => {
        const w = data.train.get(i);
        this.#obs.set(i, w.obs);
        return { x: w.action, label: 0 };
      },
    };
    this.#iter = new BatchIterator(view, null, { batchSize: opts.batch, seed: opts.seed });
  }

  get name(): string {
    return this.data.name;
  }

  get hasValidation(): boolean {
    return this.data.val.length > 0;
  }

  get pictureSamples(): number {
    return PICTURE_WINDOWS * PICTURE_SAMPLES;
  }

  next(): TrainBatch {
    this.#obs.clear();
    const b = this.#iter.next();
    const dim = this.policy.nObsSteps * this.policy.stateDim;
    const cond = new Float32Array(b.indices.length * dim); // [B, nObs * D]
    b.indices.forEach((i, k) => cond.set(this.#obs.get(i)!, k * dim));
    return { x: b.x, cond };
  }

  state(): IteratorState {
    return this.#iter.state();
  }

  restore(state: unknown): void {
    this.#iter.restore(state as IteratorState);
  }

  /** Indices of up to `max` evenly spaced windows of `set`. */
  #spread(set: PolicyWindowSet, max: number): number[] {
    const n = Math.min(max, set.length);
    return Array.from({ length: n }, (_, k) => Math.floor(k * set.length / n));
  }

  *validation(B: number): Iterable<TrainBatch> {
    const idx = this.#spread(this.data.val, MAX_VAL_WINDOWS);
    const { horizon, actionDim, nObsSteps, stateDim } = this.policy;
    const L = horizon * actionDim, dim = nObsSteps * stateDim;
    for (let s = 0; s < idx.length; s += B) {
      const n = Math.min(B, idx.length - s);
      const x = new Float32Array(B * L);
      const cond = new Float32Array(B * dim);
      for (let i = 0; i < B; i++) {
        // A short last batch repeats its windows.
        const w = this.data.val.get(idx[s + (i % n)]);
        x.set(w.action, i * L);
        cond.set(w.obs, i * dim);
      }
      yield { x, cond };
    }
  }

  describe(): Record<string, unknown> {
    return {
      name: this.data.name,
      kind: "policy",
      trainWindows: this.data.train.length,
      valWindows: this.data.val.length,
    };
  }

  /** Demonstrated and sampled chunks (4 samples each) on 4 fixed windows, in dataset units. */
  async picture(sample: SampleFn): Promise<Uint8Array> {
    const set = this.data.val.length ? this.data.val : this.data.train;
    const spec = this.policy;
    const windows = this.#spread(set, PICTURE_WINDOWS).map((i) => set.get(i));
    const dim = spec.nObsSteps * spec.stateDim, L = spec.horizon * spec.actionDim;
    const n = windows.length * PICTURE_SAMPLES;
    const cond = new Float32Array(n * dim);
    for (let k = 0; k < n; k++) cond.set(windows[Math.floor(k / PICTURE_SAMPLES)].obs, k * dim);
    const x0 = await sample({
      seeds: Array.from({ length: n }, (_, k) => 1000 + (k % PICTURE_SAMPLES)),
      cond,
    });
    const { state, action } = spec.stats;
    const panels = windows.map((w, j) => ({
      obs: unnormalize(w.obs.slice(), state),
      demo: unnormalize(w.action.slice(), action),
      samples: Array.from(
        { length: PICTURE_SAMPLES },
        (_, s) =>
          unnormalize(
            x0.slice((j * PICTURE_SAMPLES + s) * L, (j * PICTURE_SAMPLES + s + 1) * L),
            action,
          ),
      ),
    }));
    return chunksPng(panels, {
      stateDim: spec.stateDim,
      actionDim: spec.actionDim,
      actionNames: spec.actionNames,
    });
  }
}
