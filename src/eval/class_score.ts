/**
 * How much class structure a class-conditioned model's samples carry, as a number: a linear
 * classifier (softmax regression on average-pooled pixels) is fitted to the real training images,
 * checked on the held-out ones (the ceiling), then asked which class each generated sample looks
 * like. Chance is 1 / classes. A classification accuracy score in the spirit of CAS (Ravuri &
 * Vinyals, 2019), turned around to classify samples with a classifier fitted on real data; small
 * and fast enough for a CPU, not a substitute for looking at the grid.
 *
 * @module
 */
import type { Shape3 } from "../data/dataset.ts";

/** Average-pools x [C,H,W] over `pool` x `pool` blocks: [C, H/pool, W/pool] (H, W divisible). */
export function poolFeatures(x: Float32Array, shape: Shape3, pool: number): Float32Array {
  const [C, H, W] = shape;
  if (x.length !== C * H * W) throw new Error(`Expected ${C * H * W} values, got ${x.length}`);
  if (!Number.isInteger(pool) || pool < 1 || H % pool || W % pool) {
    throw new Error(`Pool ${pool} must be a positive integer dividing ${H} and ${W}`);
  }
  const [h, w] = [H / pool, W / pool];
  const out = new Float32Array(C * h * w);
  const inv = 1 / (pool * pool);
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < H; y++) {
      for (let xx = 0; xx < W; xx++) {
        out[(c * h + Math.floor(y / pool)) * w + Math.floor(xx / pool)] += x[(c * H + y) * W + xx] *
          inv;
      }
    }
  }
  return out;
}

/** Smallest standard deviation a feature is scaled by (see {@linkcode fitLinearClassifier}). */
const STD_FLOOR = 0.1;

/** A fitted softmax-regression classifier over standardised features. */
export interface LinearClassifier {
  /** Number of classes. */
  numClasses: number;
  /** Feature length. */
  dim: number;
  /** Per-feature mean of the training features. */
  mean: Float64Array;
  /** Per-feature scale: the training features' standard deviation, floored (see STD_FLOOR). */
  std: Float64Array;
  /** Weights [numClasses, dim] over standardised features. */
  w: Float64Array;
  /** Biases [numClasses]. */
  b: Float64Array;
}

/** Options of {@linkcode fitLinearClassifier}. */
export interface FitOptions {
  /** Full-batch gradient steps (default 300). */
  epochs?: number;
  /** Step size (default 0.5). */
  lr?: number;
  /** L2 penalty on the weights (default 1e-3). */
  l2?: number;
}

/** A feature vector standardised by the classifier's mean and scale. */
function standardise(clf: LinearClassifier, f: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: clf.dim }, (_, d) => (f[d] - clf.mean[d]) / clf.std[d]);
}

/** Class scores of one standardised feature vector `x` into `z` [numClasses]. */
function logits(clf: LinearClassifier, x: Float64Array, z: Float64Array): void {
  const { numClasses: K, dim: D, w, b } = clf;
  for (let k = 0; k < K; k++) {
    let s = b[k];
    for (let d = 0; d < D; d++) s += w[k * D + d] * x[d];
    z[k] = s;
  }
}

function softmaxInPlace(z: Float64Array): void {
  let max = -Infinity;
  for (const v of z) max = Math.max(max, v);
  let sum = 0;
  for (let k = 0; k < z.length; k++) sum += z[k] = Math.exp(z[k] - max);
  for (let k = 0; k < z.length; k++) z[k] /= sum;
}

/**
 * Fits softmax regression with class-balanced cross-entropy (each class weighs the same, so a
 * dominant class cannot win by count) and an L2 penalty, by full-batch gradient descent.
 */
export function fitLinearClassifier(
  features: readonly ArrayLike<number>[],
  labels: ArrayLike<number>,
  numClasses: number,
  options: FitOptions = {},
): LinearClassifier {
  const { epochs = 300, lr = 0.5, l2 = 1e-3 } = options;
  const n = features.length;
  if (n === 0 || labels.length !== n) {
    throw new Error(`Need one label per feature vector (got ${n} and ${labels.length})`);
  }
  const D = features[0].length;
  const K = numClasses;
  const counts = new Float64Array(K);
  for (let i = 0; i < n; i++) {
    const l = labels[i];
    if (!Number.isInteger(l) || l < 0 || l >= K) throw new Error(`Label ${l} outside [0, ${K})`);
    if (features[i].length !== D) throw new Error(`Feature ${i} has ${features[i].length} != ${D}`);
    counts[l]++;
  }
  const present = counts.filter((c) => c > 0).length;
  const mean = new Float64Array(D);
  const std = new Float64Array(D);
  for (const f of features) for (let d = 0; d < D; d++) mean[d] += f[d] / n;
  for (const f of features) for (let d = 0; d < D; d++) std[d] += (f[d] - mean[d]) ** 2 / n;
  // A variance floor: features nearly constant in the real images (an emoji's transparent corners)
  // would otherwise get huge standardised values from a sample's faint speckle there and decide
  // its class by noise. Pixels live in [-1, 1], so 0.1 is a small deviation.
  for (let d = 0; d < D; d++) std[d] = Math.sqrt(std[d] + STD_FLOOR ** 2);
  const clf: LinearClassifier = {
    numClasses: K,
    dim: D,
    mean,
    std,
    w: new Float64Array(K * D),
    b: new Float64Array(K),
  };
  // Standardised copies, and the weight of each example (1 / (its class count * classes)).
  const xs = features.map((f) => standardise(clf, f));
  const weight = Array.from({ length: n }, (_, i) => 1 / (counts[labels[i]] * present));
  const z = new Float64Array(K);
  const gw = new Float64Array(K * D);
  const gb = new Float64Array(K);
  for (let e = 0; e < epochs; e++) {
    gw.fill(0);
    gb.fill(0);
    for (let i = 0; i < n; i++) {
      const x = xs[i];
      logits(clf, x, z);
      softmaxInPlace(z);
      z[labels[i]] -= 1;
      for (let k = 0; k < K; k++) {
        const g = z[k] * weight[i];
        if (g === 0) continue;
        gb[k] += g;
        for (let d = 0; d < D; d++) gw[k * D + d] += g * x[d];
      }
    }
    for (let j = 0; j < K * D; j++) clf.w[j] -= lr * (gw[j] + l2 * clf.w[j]);
    for (let k = 0; k < K; k++) clf.b[k] -= lr * gb[k];
  }
  return clf;
}

/** The most likely class of a feature vector. */
export function classify(clf: LinearClassifier, f: ArrayLike<number>): number {
  if (f.length !== clf.dim) throw new Error(`Feature has ${f.length} values, expected ${clf.dim}`);
  const z = new Float64Array(clf.numClasses);
  logits(clf, standardise(clf, f), z);
  let best = 0;
  for (let k = 1; k < z.length; k++) if (z[k] > z[best]) best = k;
  return best;
}

/** Accuracy per class, their mean (balanced accuracy) and the confusion matrix [true][predicted]. */
export interface Score {
  /** Fraction of each class's examples predicted as that class (NaN without examples). */
  perClass: number[];
  /** Mean of perClass over the classes with examples. */
  balanced: number;
  /** Counts [true class][predicted class]. */
  confusion: number[][];
}

/** Scores predictions of `clf` against `labels`; classes without examples score NaN. */
export function score(
  clf: LinearClassifier,
  features: readonly ArrayLike<number>[],
  labels: ArrayLike<number>,
): Score {
  const K = clf.numClasses;
  const confusion = Array.from({ length: K }, () => new Array<number>(K).fill(0));
  features.forEach((f, i) => confusion[labels[i]][classify(clf, f)]++);
  const perClass = confusion.map((row, k) => {
    const total = row.reduce((a, b) => a + b, 0);
    return total ? row[k] / total : NaN;
  });
  const seen = perClass.filter((a) => !Number.isNaN(a));
  const balanced = seen.reduce((a, b) => a + b, 0) / Math.max(1, seen.length);
  return { perClass, balanced, confusion };
}
