/** Checking a dataset's feature widths against what a policy checkpoint was trained on. */
import type { RobotEpisodes } from "../robot.ts";

/**
 * Throws unless the dataset's state and action widths equal the checkpoint's, e.g.
 * "dataset pusht has observation.state of width 6, the checkpoint expects 5".
 */
export function checkWidths(
  eps: RobotEpisodes,
  expected: { stateDim: number; actionDim: number },
): void {
  const bad: string[] = [];
  if (eps.stateDim !== expected.stateDim) {
    bad.push(
      `${eps.stateKey} of width ${eps.stateDim}, the checkpoint expects ${expected.stateDim}`,
    );
  }
  if (eps.actionDim !== expected.actionDim) {
    bad.push(
      `${eps.actionKey} of width ${eps.actionDim}, the checkpoint expects ${expected.actionDim}`,
    );
  }
  if (bad.length > 0) throw new Error(`dataset ${eps.name} has ${bad.join("; and ")}`);
}
