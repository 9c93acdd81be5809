/**
 * Summary statistics of measured samples (latencies, timings), one definition for the project:
 * quantiles interpolate linearly between order statistics as numpy's default does.
 */

/** The mean of `xs` (NaN when empty). */
export function mean(xs: readonly number[]): number {
  return xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Quantile `q` in [0, 1] of `values` (any order) by linear interpolation; NaN when empty. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const h = (s.length - 1) * q;
  const lo = Math.floor(h), hi = Math.min(s.length - 1, lo + 1);
  return s[lo] + (h - lo) * (s[hi] - s[lo]);
}

/** The median of `values` (the mean of the middle two when their count is even); NaN when empty. */
export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}
