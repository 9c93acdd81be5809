/**
 * Where the trainer's examples come from. One training loop serves image models and robot
 * policies; what differs (the examples, their conditioning, the held-out set, what a checkpoint
 * records about the data and the picture drawn from samples) sits behind {@linkcode BatchSource}.
 * {@linkcode ImageBatches} is the image implementation; `policy_batches.ts` the policy one.
 */
import {
  BatchIterator,
  type Dataset,
  type IteratorState,
  orderedBatches,
  splitDataset,
} from "../data/dataset.ts";
import { gridPng } from "../data/grid.ts";
import type { DiTConfig } from "../model/config.ts";
import type { PolicySpec } from "../policy/spec.ts";

/** One batch of clean examples. */
export interface TrainBatch {
  /** Clean samples [B, L] in the network's layout. */
  x: Float32Array;
  /** Class labels [B] (class-conditioned models). */
  labels?: Int32Array;
  /** Condition vectors [B, dim] (vector-conditioned models). */
  cond?: Float32Array;
}

/** What a picture asks the sampler for; answers x0 [n, L]. */
export type SampleFn = (
  job: { seeds: number[]; labels?: number[]; cond?: Float32Array },
) => Promise<Float32Array>;

/** The trainer's view of its data. */
export interface BatchSource {
  /** Short name for logs. */
  readonly name: string;
  /** Whether a held-out set exists. */
  readonly hasValidation: boolean;
  /** The next training batch of exactly the batch size; advances the state. */
  next(): TrainBatch;
  /** The iterator state saved with a checkpoint (JSON). */
  state(): unknown;
  /** Continues from a saved state; throws when it belongs to other data or settings. */
  restore(state: unknown): void;
  /** Held-out batches in a fixed order, each padded to `batch` examples by repetition. */
  validation(batch: number): Iterable<TrainBatch>;
  /** What a checkpoint records about the data (metadata `trainer.dataset`). */
  describe(): Record<string, unknown>;
  /** The policy record of a policy run (checkpoint metadata `policy`). */
  readonly policy?: PolicySpec;
  /** File stem of the picture ("samples" -> samples.png and samples-<step>.png). */
  readonly pictureName: string;
  /** Samples the picture draws (what it costs, for time budgets). */
  readonly pictureSamples: number;
  /** Draws the picture (PNG bytes) from samples of the current weights. */
  picture(sample: SampleFn): Promise<Uint8Array>;
}

/** Columns of the image grid: fixed seeds shared by every row. */
const GRID_COLS = 7;

/** Images or image latents with class labels (the trainer's original data). */
export class ImageBatches implements BatchSource {
  readonly pictureName = "samples";
  readonly #iter: BatchIterator;
  readonly #val: Int32Array;

  /** Checks the data against the model; splits it and starts a seeded iterator. */
  constructor(
    readonly data: Dataset,
    readonly cfg: DiTConfig,
    opts: { batch: number; seed: number },
  ) {
    checkDataMatches(cfg, data);
    const split = splitDataset(data, { seed: 0 });
    this.#val = split.val;
    this.#iter = new BatchIterator(data, split.train.length ? split.train : null, {
      batchSize: opts.batch,
      seed: opts.seed,
      flip: data.shape[0] <= 4 && cfg.input.kind === "image",
    });
  }

  get name(): string {
    return this.data.name;
  }

  get hasValidation(): boolean {
    return this.#val.length > 0;
  }

  get pictureSamples(): number {
    const c = this.cfg.condition;
    return (c.kind === "class" ? Math.min(10, c.numClasses) : 1) * GRID_COLS;
  }

  next(): TrainBatch {
    const b = this.#iter.next();
    return { x: b.x, labels: b.labels };
  }

  state(): IteratorState {
    return this.#iter.state();
  }

  restore(state: unknown): void {
    this.#iter.restore(state as IteratorState);
  }

  *validation(B: number): Iterable<TrainBatch> {
    for (const b of orderedBatches(this.data, this.#val, B)) {
      const n = b.labels.length;
      const per = b.x.length / n;
      // Pad a short last batch by repeating its samples (their loss counts once).
      const x = new Float32Array(B * per);
      const labels = new Int32Array(B);
      for (let i = 0; i < B; i++) {
        x.set(b.x.subarray((i % n) * per, (i % n + 1) * per), i * per);
        labels[i] = b.labels[i % n];
      }
      yield { x, labels };
    }
  }

  describe(): Record<string, unknown> {
    return { name: this.data.name, classNames: this.data.classNames, shape: this.data.shape };
  }

  /**
   * A grid: one row per class (up to 10), 7 fixed seeds shared by every row (so a column shows
   * what the class changes), all in one batched request.
   */
  async picture(sample: SampleFn): Promise<Uint8Array> {
    const cols = GRID_COLS;
    const c = this.cfg.condition;
    const classes = c.kind === "class" ? Math.min(10, c.numClasses) : 1;
    const n = classes * cols;
    const x0 = await sample({
      seeds: Array.from({ length: n }, (_, i) => 1000 + (i % cols)),
      labels: c.kind === "class"
        ? Array.from({ length: n }, (_, i) => Math.floor(i / cols))
        : undefined,
      cond: c.kind === "vector" ? new Float32Array(n * c.dim) : undefined,
    });
    const d = this.data.shape;
    return gridPng(x0, [n, d[0], d[1], d[2]], {
      rows: classes,
      cols,
      rowLabels: c.kind === "class"
        ? this.data.classNames.slice(0, classes).map((name) => name.slice(0, 12))
        : undefined,
    });
  }
}

function checkDataMatches(cfg: DiTConfig, data: Dataset): void {
  const [C, H, W] = data.shape;
  if (cfg.input.kind !== "image") {
    throw new Error("Image datasets train image models; a sequence model trains on policy data");
  }
  if (cfg.input.channels !== C || cfg.input.size !== H || H !== W) {
    throw new Error(
      `Dataset ${data.name} has samples [${data.shape}] but the model expects [${cfg.input.channels},${cfg.input.size},${cfg.input.size}]`,
    );
  }
  const c = cfg.condition;
  if (c.kind === "class" && c.numClasses < data.numClasses) {
    throw new Error(
      `Dataset ${data.name} has ${data.numClasses} classes but the model has ${c.numClasses}`,
    );
  }
}
