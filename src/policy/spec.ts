/**
 * What a robot policy is, beside its network: the features it reads and writes (by LeRobot name),
 * its windows (Diffusion Policy's n_obs_steps / horizon / n_action_steps), its diffusion settings,
 * and the min-max statistics that map the dataset's units to the network's [-1, 1] and back.
 * A policy checkpoint stores this record as JSON (metadata key `policy`), so a served policy
 * answers in the dataset's units without the dataset at hand.
 */

/** Per-channel range of one feature, in the dataset's units. */
export interface MinMax {
  /** Per-channel minimum. */
  min: number[];
  /** Per-channel maximum. */
  max: number[];
}

/** What a policy network predicts (see {@linkcode PolicySpec.objective}). */
export type PolicyObjective = "epsilon" | "regression";

/**
 * The two LeRobot features a policy connects, by name and width: what a dataset's episodes
 * (`RobotEpisodes` in src/data/robot.ts) and a policy ({@linkcode PolicySpec}) must agree on.
 */
export interface RobotFeatures {
  /** LeRobot feature read as the observation, e.g. `observation.state`. */
  stateKey: string;
  /** LeRobot feature read as the action, the one a policy predicts, e.g. `action`. */
  actionKey: string;
  /** Channel names of the state (from info.json `names`, when given). */
  stateNames?: string[];
  /** Channel names of the action (from info.json `names`, when given). */
  actionNames?: string[];
  /** State width D. */
  stateDim: number;
  /** Action width A. */
  actionDim: number;
}

/** Everything but the weights that a policy needs to run. */
export interface PolicySpec extends RobotFeatures {
  /** Observation frames the policy is conditioned on (Push-T: 2). */
  nObsSteps: number;
  /** Actions per predicted chunk (Push-T: 16). */
  horizon: number;
  /** Actions executed from each chunk before asking again (Push-T: 8). */
  nActionSteps: number;
  /** Control rate of the dataset, frames per second. */
  fps: number;
  /** Diffusion training timesteps (Push-T: 100). */
  numTrainTimesteps: number;
  /** Clip of the predicted clean sample (Push-T: 1). */
  clipSample: number;
  /**
   * What the network was trained to predict (default "epsilon"): the noise of a diffusion step,
   * or, for the "regression" baseline, the clean chunk from a zero input in one forward pass
   * (served with the sampler "regression", 1 step).
   */
  objective?: PolicyObjective;
  /** Sampler served by default. */
  sampler: string;
  /** Sampling steps served by default. */
  steps: number;
  /** Min-max statistics of state and action. */
  stats: { state: MinMax; action: MinMax };
}

/** Throws unless `spec` is a complete, consistent policy record. */
export function validatePolicySpec(spec: PolicySpec): void {
  const fail = (m: string): never => {
    throw new Error(`Invalid policy spec: ${m}`);
  };
  for (const k of ["stateDim", "actionDim", "nObsSteps", "horizon", "nActionSteps"] as const) {
    if (!Number.isInteger(spec[k]) || spec[k] <= 0) fail(`${k} must be a positive integer`);
  }
  if (!Number.isInteger(spec.numTrainTimesteps) || spec.numTrainTimesteps <= 0) {
    fail("numTrainTimesteps must be a positive integer");
  }
  if (spec.objective !== undefined && !["epsilon", "regression"].includes(spec.objective)) {
    fail(`objective must be epsilon or regression, got ${spec.objective}`);
  }
  if (spec.nObsSteps - 1 + spec.nActionSteps > spec.horizon) {
    fail("nObsSteps - 1 + nActionSteps must not exceed horizon");
  }
  const check = (name: string, m: MinMax, n: number) => {
    if (!m || m.min?.length !== n || m.max?.length !== n) {
      fail(`stats.${name} must have ${n} channels`);
    }
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(m.min[i]) || !Number.isFinite(m.max[i]) || m.min[i] > m.max[i]) {
        fail(`stats.${name} channel ${i} has an invalid range`);
      }
    }
  };
  check("state", spec.stats?.state, spec.stateDim);
  check("action", spec.stats?.action, spec.actionDim);
}

/**
 * Min-max normalisation to [-1, 1] in place, channel-last rows of `m.min.length` values
 * (Diffusion Policy's and LeRobot's convention). A constant channel (max = min) maps to 0.
 */
export function normalize(x: Float32Array, m: MinMax): Float32Array {
  const n = m.min.length;
  for (let i = 0; i < x.length; i++) {
    const c = i % n;
    const range = m.max[c] - m.min[c];
    x[i] = range > 0 ? ((x[i] - m.min[c]) / range) * 2 - 1 : 0;
  }
  return x;
}

/** The inverse of {@linkcode normalize}, in place. A constant channel maps back to its value. */
export function unnormalize(x: Float32Array, m: MinMax): Float32Array {
  const n = m.min.length;
  for (let i = 0; i < x.length; i++) {
    const c = i % n;
    const range = m.max[c] - m.min[c];
    x[i] = range > 0 ? ((x[i] + 1) / 2) * range + m.min[c] : m.min[c];
  }
  return x;
}
