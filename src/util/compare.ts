/** Comparison of tensors against references, as the parity checks report it. */

/** `max |a - b| / max |b|` (the absolute difference when `b` is all zero); Infinity on a length mismatch or NaN. */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let diff = 0;
  let ref = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (Number.isNaN(d)) return Infinity;
    diff = Math.max(diff, d);
    ref = Math.max(ref, Math.abs(b[i]));
  }
  return ref === 0 ? diff : diff / ref;
}

/** Parity limit of outputs and activations (relative to each tensor's max), for every network. */
export const OUTPUT_LIMIT = 1e-4;

/** One compared tensor: max |ours - ref| / max |ref| against its limit. */
export interface ParityRow {
  /** Tensor name. */
  name: string;
  /** max abs difference over max abs reference. */
  error: number;
  /** The limit it must not exceed. */
  limit: number;
}
