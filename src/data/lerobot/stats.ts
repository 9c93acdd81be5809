/**
 * Per-channel statistics of LeRobot features: reading min/max from `meta/stats.json` (v3.0, v2.0)
 * or `meta/episodes_stats.jsonl` (v2.1, aggregated over episodes), computing them from frames,
 * and the full record (min, max, mean, std, count) that `stats.json` holds.
 */
import type { MinMax } from "../../policy/spec.ts";

/** One feature's entry of `stats.json`. */
export interface FeatureStats {
  /** Per-channel minimum. */
  min: number[];
  /** Per-channel maximum. */
  max: number[];
  /** Per-channel mean. */
  mean: number[];
  /** Per-channel population standard deviation (numpy's default, as LeRobot computes it). */
  std: number[];
  /** `[frames]`. */
  count: number[];
}

/**
 * Min/max of feature `key` from a parsed stats object (`{feature: {min, max, ...}}`), or
 * undefined when the feature has no entry. A present but malformed entry is an error naming
 * `where` and the feature.
 */
export function minMaxFromStats(
  stats: Record<string, unknown>,
  key: string,
  width: number,
  where: string,
): MinMax | undefined {
  const s = stats[key] as Record<string, unknown> | undefined;
  if (s === undefined) return undefined;
  const vec = (name: "min" | "max"): number[] => {
    const v = (s as Record<string, unknown>)?.[name];
    const flat = Array.isArray(v) ? v.flat(Infinity) : undefined;
    if (!flat || flat.length !== width || !flat.every((x) => Number.isFinite(x))) {
      throw new Error(
        `${where}: '${key}.${name}' must be ${width} finite numbers (got ${JSON.stringify(v)})`,
      );
    }
    return flat as number[];
  };
  const m = { min: vec("min"), max: vec("max") };
  for (let c = 0; c < width; c++) {
    if (m.min[c] > m.max[c]) throw new Error(`${where}: '${key}' channel ${c} has min > max`);
  }
  return m;
}

/** Element-wise min of mins and max of maxes over several ranges of equal width. */
export function aggregateMinMax(parts: MinMax[]): MinMax {
  const min = [...parts[0].min];
  const max = [...parts[0].max];
  for (const p of parts.slice(1)) {
    for (let c = 0; c < min.length; c++) {
      min[c] = Math.min(min[c], p.min[c]);
      max[c] = Math.max(max[c], p.max[c]);
    }
  }
  return { min, max };
}

/** Per-channel min/max over several [frames, width] arrays (frames from all of them together). */
export function computeMinMax(arrays: Float32Array[], width: number): MinMax {
  const min = new Array<number>(width).fill(Infinity);
  const max = new Array<number>(width).fill(-Infinity);
  for (const a of arrays) {
    for (let i = 0; i < a.length; i++) {
      const c = i % width;
      if (a[i] < min[c]) min[c] = a[i];
      if (a[i] > max[c]) max[c] = a[i];
    }
  }
  return { min, max };
}

/** min, max, mean, population std and count of [frames, width] arrays, accumulated in float64. */
export function computeFeatureStats(arrays: ArrayLike<number>[], width: number): FeatureStats {
  const min = new Array<number>(width).fill(Infinity);
  const max = new Array<number>(width).fill(-Infinity);
  const sum = new Float64Array(width);
  let n = 0;
  for (const a of arrays) {
    for (let i = 0; i < a.length; i++) {
      const c = i % width;
      const v = a[i];
      if (v < min[c]) min[c] = v;
      if (v > max[c]) max[c] = v;
      sum[c] += v;
    }
    n += a.length / width;
  }
  const mean = Array.from(sum, (s) => s / n);
  // Second pass on deviations: the one-pass E[x^2] - E[x]^2 loses digits for large offsets.
  const sq = new Float64Array(width);
  for (const a of arrays) {
    for (let i = 0; i < a.length; i++) {
      const d = a[i] - mean[i % width];
      sq[i % width] += d * d;
    }
  }
  return { min, max, mean, std: Array.from(sq, (s) => Math.sqrt(s / n)), count: [n] };
}
