/**
 * The dataset interface, a deterministic stratified train/validation split, and a seeded, resumable
 * batch iterator.
 *
 * Determinism: the split depends only on the dataset's labels, the validation fraction and the split
 * seed. The iterator's order depends only on the seed and the split: epoch `e` visits the training
 * indices in a Fisher-Yates permutation seeded by hash(seed, e), and the optional horizontal flip of
 * the sample at stream position `p` is a hash of (seed, e, p). So the whole iterator state is
 * `{epoch, position}` plus checks, a small JSON object, and restoring it continues identically.
 */
import { hash32, Rng, shuffleInPlace } from "../util/prng.ts";
import { flipHorizontal, type Shape3 } from "./transforms.ts";

/** A [C,H,W] shape (re-exported from transforms.ts). */
export type { Shape3 } from "./transforms.ts";

/** One training example: `x` is [C,H,W] (images in [-1,1], or latents), `label` a class index. */
export interface Sample {
  /** [C,H,W] */
  x: Float32Array;
  /** class index in [0, numClasses) */
  label: number;
}

/** A random-access, labelled set of same-shaped examples. */
export interface Dataset {
  /** short name for logs, e.g. "emoji" or a folder path */
  readonly name: string;
  /** number of classes (1 for an unconditioned set) */
  readonly numClasses: number;
  /** class names; label k names `classNames[k]` */
  readonly classNames: readonly string[];
  /** [C,H,W] of every `x` */
  readonly shape: Shape3;
  /** number of examples */
  readonly length: number;
  /** the label of example `i` without loading it */
  label(i: number): number;
  /** example `i`; the returned `x` may be shared with a cache, so treat it as read-only */
  get(i: number): Sample;
}

/** Throws unless `i` is an integer index into `dataset`. */
export function checkIndex(dataset: { name: string; length: number }, i: number): void {
  if (!Number.isInteger(i) || i < 0 || i >= dataset.length) {
    throw new Error(
      `Index ${i} is out of range for dataset ${dataset.name} (length ${dataset.length})`,
    );
  }
}

/** The default fraction of each class held out for validation. */
export const DEFAULT_VAL_FRACTION = 0.05;

/** Options of {@linkcode splitDataset}. */
export interface SplitOptions {
  /** fraction of each class held out, in [0,1) (default {@linkcode DEFAULT_VAL_FRACTION}) */
  valFraction?: number;
  /** split seed (default 0); keep it fixed across runs so the validation set never changes */
  seed?: number;
}

/** Index lists of a train/validation split, each sorted ascending. */
export interface Split {
  /** dataset indices of the training examples, ascending */
  train: Int32Array;
  /** dataset indices of the validation examples, ascending */
  val: Int32Array;
}

/**
 * Splits a dataset per class: from each class, round(n_c * valFraction) examples (chosen by a seeded
 * shuffle) go to validation, the rest to training. Deterministic given labels, fraction and seed.
 */
export function splitDataset(dataset: Dataset, options: SplitOptions = {}): Split {
  const { valFraction = DEFAULT_VAL_FRACTION, seed = 0 } = options;
  if (!(valFraction >= 0 && valFraction < 1)) {
    throw new Error(`Validation fraction must be in [0,1), got ${valFraction}`);
  }
  const byClass: number[][] = Array.from({ length: dataset.numClasses }, () => []);
  for (let i = 0; i < dataset.length; i++) {
    const l = dataset.label(i);
    if (!Number.isInteger(l) || l < 0 || l >= dataset.numClasses) {
      throw new Error(
        `Label ${l} of example ${i} is out of range for dataset ${dataset.name} (${dataset.numClasses} classes)`,
      );
    }
    byClass[l].push(i);
  }
  const train: number[] = [];
  const val: number[] = [];
  byClass.forEach((members, c) => {
    shuffleInPlace(members, new Rng(hash32(seed, c, 0x5e1)));
    const nVal = Math.round(members.length * valFraction);
    val.push(...members.slice(0, nVal));
    train.push(...members.slice(nVal));
  });
  if (train.length === 0) {
    throw new Error(`Dataset ${dataset.name} has no training examples left after the split`);
  }
  return {
    train: Int32Array.from(train).sort(),
    val: Int32Array.from(val).sort(),
  };
}

/** A batch: `x` is [B,C,H,W], `labels` [B]. */
export interface Batch {
  /** [B,C,H,W] */
  x: Float32Array;
  /** [B,C,H,W] */
  shape: readonly [number, number, number, number];
  /** [B] class indices */
  labels: Int32Array;
  /** [B] dataset indices of the examples */
  indices: Int32Array;
}

/** The serialisable state of a {@linkcode BatchIterator}: a small JSON object. */
export interface IteratorState {
  /** state format version (always 1) */
  version: 1;
  /** the iterator's shuffle/flip seed (checked on restore) */
  seed: number;
  /** examples per batch (checked on restore) */
  batchSize: number;
  /** whether random horizontal flips are on (checked on restore) */
  flip: boolean;
  /** number of indices the iterator walks (checked on restore) */
  count: number;
  /** hash of the index list (checked on restore) */
  fingerprint: number;
  /** current epoch (0-based) */
  epoch: number;
  /** position of the next example within the epoch's permutation */
  position: number;
}

/** Options of {@linkcode BatchIterator}. */
export interface IteratorOptions {
  batchSize: number;
  /** shuffle/flip seed */
  seed: number;
  /** random horizontal flips, probability 1/2 (default false) */
  flip?: boolean;
}

/**
 * An endless, shuffled batch stream over a subset of a dataset (e.g. the training split).
 *
 * Batches always hold `batchSize` examples; a batch that reaches the end of an epoch continues with
 * the next epoch's permutation. `state()` may be saved with a checkpoint and `restore()`d later.
 */
export class BatchIterator {
  readonly #dataset: Dataset;
  readonly #indices: Int32Array;
  readonly #seed: number;
  readonly #batchSize: number;
  readonly #flip: boolean;
  readonly #fingerprint: number;
  #epoch = 0;
  #position = 0;
  #perm: Int32Array | null = null;
  #permEpoch = -1;

  /** Creates an iterator at epoch 0, position 0 over `indices` (all examples when omitted). */
  constructor(dataset: Dataset, indices: ArrayLike<number> | null, options: IteratorOptions) {
    const { batchSize, seed, flip = false } = options;
    if (!Number.isInteger(batchSize) || batchSize <= 0) {
      throw new Error(`Batch size must be a positive integer, got ${batchSize}`);
    }
    if (!Number.isInteger(seed)) throw new Error(`Seed must be an integer, got ${seed}`);
    this.#dataset = dataset;
    this.#indices = indices
      ? Int32Array.from(indices)
      : Int32Array.from({ length: dataset.length }, (_, i) => i);
    if (this.#indices.length === 0) {
      throw new Error(`Cannot iterate over an empty index list of dataset ${dataset.name}`);
    }
    for (const i of this.#indices) checkIndex(dataset, i);
    this.#seed = seed;
    this.#batchSize = batchSize;
    this.#flip = flip;
    this.#fingerprint = fingerprint(this.#indices);
  }

  /** Batches per epoch, rounded up. */
  get batchesPerEpoch(): number {
    return Math.ceil(this.#indices.length / this.#batchSize);
  }

  /** The state before the next batch, as a JSON-serialisable object. */
  state(): IteratorState {
    return {
      version: 1,
      seed: this.#seed,
      batchSize: this.#batchSize,
      flip: this.#flip,
      count: this.#indices.length,
      fingerprint: this.#fingerprint,
      epoch: this.#epoch,
      position: this.#position,
    };
  }

  /** Continues from a saved state; throws when it was saved by a differently configured iterator. */
  restore(state: IteratorState): void {
    const current = this.state();
    if (state?.version !== 1) {
      throw new Error(`Unsupported iterator state version ${state?.version}`);
    }
    for (const key of ["seed", "batchSize", "flip", "count", "fingerprint"] as const) {
      if (state[key] !== current[key]) {
        throw new Error(
          `Iterator state does not match this iterator: ${key} is ${state[key]}, expected ${
            current[key]
          }`,
        );
      }
    }
    if (
      !Number.isInteger(state.epoch) || state.epoch < 0 || !Number.isInteger(state.position) ||
      state.position < 0 || state.position >= this.#indices.length
    ) {
      throw new Error(
        `Iterator state has an invalid epoch/position ${state.epoch}/${state.position}`,
      );
    }
    this.#epoch = state.epoch;
    this.#position = state.position;
  }

  /** The permutation of the indices for `epoch`. */
  #permutation(epoch: number): Int32Array {
    if (this.#permEpoch !== epoch || !this.#perm) {
      this.#perm = shuffleInPlace(this.#indices.slice(), new Rng(hash32(this.#seed, epoch)));
      this.#permEpoch = epoch;
    }
    return this.#perm;
  }

  /** The next batch; advances the state. */
  next(): Batch {
    const [C, H, W] = this.#dataset.shape;
    const B = this.#batchSize;
    const per = C * H * W;
    const x = new Float32Array(B * per); // [B,C,H,W]
    const labels = new Int32Array(B);
    const indices = new Int32Array(B);
    for (let b = 0; b < B; b++) {
      const perm = this.#permutation(this.#epoch);
      const idx = perm[this.#position];
      const sample = this.#dataset.get(idx);
      const dst = x.subarray(b * per, (b + 1) * per);
      const flip = this.#flip && (hash32(this.#seed, this.#epoch, this.#position, 0xf11) & 1) === 1;
      if (flip) flipHorizontal(sample.x, [C, H, W], dst);
      else dst.set(sample.x);
      labels[b] = sample.label;
      indices[b] = idx;
      if (++this.#position === perm.length) {
        this.#position = 0;
        this.#epoch++;
      }
    }
    return { x, shape: [B, C, H, W], labels, indices };
  }
}

/** A 32-bit hash of an index list, to detect a state restored onto a different split. */
function fingerprint(indices: Int32Array): number {
  let h = hash32(indices.length);
  for (let i = 0; i < indices.length; i++) h = hash32(h, indices[i]);
  return h;
}

/**
 * Fixed-order batches over `indices` (e.g. the validation split), no shuffle or flip; the last batch
 * may be smaller.
 */
export function* orderedBatches(
  dataset: Dataset,
  indices: ArrayLike<number>,
  batchSize: number,
): Generator<Batch> {
  if (!Number.isInteger(batchSize) || batchSize <= 0) {
    throw new Error(`Batch size must be a positive integer, got ${batchSize}`);
  }
  const [C, H, W] = dataset.shape;
  const per = C * H * W;
  for (let start = 0; start < indices.length; start += batchSize) {
    const B = Math.min(batchSize, indices.length - start);
    const x = new Float32Array(B * per); // [B,C,H,W]
    const labels = new Int32Array(B);
    const idx = new Int32Array(B);
    for (let b = 0; b < B; b++) {
      const i = indices[start + b];
      checkIndex(dataset, i);
      const s = dataset.get(i);
      x.set(s.x, b * per);
      labels[b] = s.label;
      idx[b] = i;
    }
    yield { x, shape: [B, C, H, W], labels, indices: idx };
  }
}
