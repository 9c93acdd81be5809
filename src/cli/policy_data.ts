/**
 * The policy side of `deno task train`: which dataset a policy preset trains on, reading it
 * (LeRobot format, through `src/data/lerobot/`), and the model shapes it implies.
 */
import type { RobotEpisodes } from "../data/robot.ts";
import { readLeRobot } from "../data/lerobot/mod.ts";
import type { DiTConfig } from "../model/config.ts";
import type { PolicyPreset } from "../train/presets.ts";
import { type PolicyData, policyDataFromEpisodes } from "../train/policy_batches.ts";

/** Where the project's own Push-T demonstrations live (a LeRobot dataset). */
export const DEFAULT_POLICY_DATA = "data/pusht";

/** The dataset folder: `--data`, else {@linkcode DEFAULT_POLICY_DATA} when it exists. */
export function policyDataDir(preset: string, data: string | undefined): string {
  if (data !== undefined) return data;
  try {
    if (Deno.statSync(DEFAULT_POLICY_DATA).isDirectory) return DEFAULT_POLICY_DATA;
  } catch {
    // absent: the error below says what to do
  }
  throw new Error(
    `--preset ${preset} trains a policy on a LeRobot dataset: pass --data <dataset folder> ` +
      `(the default ${DEFAULT_POLICY_DATA} does not exist)`,
  );
}

/** Reads the episodes of one state and one action feature of a LeRobot dataset. */
export async function readEpisodes(
  dir: string,
  keys: { stateKey: string; actionKey: string },
): Promise<RobotEpisodes> {
  let isDir = false;
  try {
    isDir = Deno.statSync(dir).isDirectory;
  } catch {
    // reported below
  }
  if (!isDir) throw new Error(`Policy dataset folder ${dir} does not exist`);
  return await readLeRobot(dir, keys);
}

/** Policy data (windows, held-out episodes, statistics) and the preset's model at its widths. */
export function policySetup(
  eps: RobotEpisodes,
  preset: PolicyPreset,
  cfg: DiTConfig,
): { data: PolicyData; cfg: DiTConfig } {
  const { nObsSteps, horizon, nActionSteps } = preset;
  const data = policyDataFromEpisodes(eps, { nObsSteps, horizon, nActionSteps }, {
    valFraction: preset.valFraction,
    seed: 0,
    clipSample: preset.clipSample,
  });
  const A = eps.actionDim;
  return {
    data,
    cfg: {
      ...cfg,
      input: { kind: "sequence", channels: A, length: horizon },
      condition: { kind: "vector", dim: nObsSteps * eps.stateDim },
      patchSize: 1,
      outChannels: cfg.arch === "official" ? 2 * A : A,
    },
  };
}
