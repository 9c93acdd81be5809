/**
 * Train/validation split by whole episodes, sized as Diffusion Policy's `get_val_mask`
 * (`round(n * valFraction)` held out, at least one when the fraction is positive, never all),
 * chosen by a seeded shuffle so the same seed gives the same split on every machine.
 */
import { Rng, shuffleInPlace } from "../../util/prng.ts";
import type { RobotEpisodes } from "../robot.ts";

/** Rounds half to even, as Python's and numpy's `round`. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Splits the episodes of `eps` into train and validation positions (indices into
 * `eps.episodes`, each list ascending). With one episode, everything is train.
 */
export function splitEpisodes(
  eps: RobotEpisodes,
  opts: { valFraction: number; seed: number },
): { train: number[]; val: number[] } {
  const n = eps.episodes.length;
  if (n === 0) throw new Error(`splitEpisodes: dataset ${eps.name} has no episodes`);
  const f = opts.valFraction;
  if (!(f >= 0 && f < 1)) {
    throw new Error(`splitEpisodes: valFraction must be in [0, 1) (got ${f})`);
  }
  const nVal = f === 0 ? 0 : Math.min(Math.max(1, roundHalfEven(n * f)), n - 1);
  const order = shuffleInPlace(Array.from({ length: n }, (_, i) => i), new Rng(opts.seed));
  const val = order.slice(0, nVal).sort((a, b) => a - b);
  const train = order.slice(nVal).sort((a, b) => a - b);
  return { train, val };
}
