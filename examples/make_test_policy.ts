/**
 * Writes an untrained robot-policy checkpoint (a DiT over action sequences conditioned on the
 * observation window, with a Push-T-shaped policy record) for serving tests, the Python
 * compatibility check and `bench:policy`. Its actions are noise shaped like Push-T's, not a
 * policy anyone should run on a robot.
 *
 * ```sh
 * deno run -A examples/make_test_policy.ts --out /tmp/policy --size tiny
 * deno task serve --ckpt /tmp/policy --seed 0
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { DiTConfig } from "../src/model/config.ts";
import { initParams } from "../src/model/init.ts";
import { ParamLayout } from "../src/model/layout.ts";
import type { TensorInput } from "../src/io/safetensors.ts";
import type { PolicySpec } from "../src/policy/spec.ts";
import { saveCheckpoint } from "../src/model/checkpoint.ts";

/** Push-T (state-based): 5 state values, 2 action values, Diffusion Policy's windows. */
export const PUSHT_TEST_SPEC: PolicySpec = {
  stateKey: "observation.state",
  actionKey: "action",
  stateNames: ["agent_x", "agent_y", "block_x", "block_y", "block_angle"],
  actionNames: ["target_x", "target_y"],
  stateDim: 5,
  actionDim: 2,
  nObsSteps: 2,
  horizon: 16,
  nActionSteps: 8,
  fps: 10,
  numTrainTimesteps: 100,
  clipSample: 1,
  sampler: "ddim",
  steps: 10,
  stats: {
    state: { min: [0, 0, 0, 0, 0], max: [512, 512, 512, 512, 2 * Math.PI] },
    action: { min: [0, 0], max: [512, 512] },
  },
};

/** Network sizes: "tiny" for tests, "pusht" for the benchmark (16 tokens, width 256, depth 6). */
export const TEST_POLICY_SIZES = {
  tiny: { hidden: 32, depth: 2, heads: 4 },
  pusht: { hidden: 256, depth: 6, heads: 4 },
} as const;

/** The DiT of a test policy: a [horizon, actionDim] sequence conditioned on nObsSteps x stateDim. */
export function testPolicyConfig(
  size: keyof typeof TEST_POLICY_SIZES,
  spec: PolicySpec = PUSHT_TEST_SPEC,
): DiTConfig {
  return {
    arch: "official",
    input: { kind: "sequence", channels: spec.actionDim, length: spec.horizon },
    condition: { kind: "vector", dim: spec.nObsSteps * spec.stateDim },
    patchSize: 1,
    ...TEST_POLICY_SIZES[size],
    mlpRatio: 4,
    outChannels: spec.actionDim,
    classDropout: 0,
    dwKernel: 0,
  };
}

/**
 * Writes the checkpoint into `dir` and returns its path. The official initialisation zeroes the
 * adaLN and output layers (the network would ignore its condition), so every trainable value is
 * drawn instead, small and seeded: the actions then depend on the observations.
 */
export async function writeTestPolicy(
  dir: string,
  size: keyof typeof TEST_POLICY_SIZES = "tiny",
  seed = 0,
): Promise<string> {
  const config = testPolicyConfig(size);
  const layout = new ParamLayout(config);
  const { params, frozen } = initParams(layout, seed);
  let s = (seed * 2654435761 + 1) >>> 0;
  for (let i = 0; i < params.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    params[i] = (s / 2 ** 32 - 0.5) * 0.1;
  }
  const tensors: Record<string, TensorInput> = {};
  for (const e of layout.entries) {
    const src = e.trainable ? params : frozen;
    tensors[e.name] = {
      dtype: "F32",
      shape: e.shape,
      data: src.slice(e.offset, e.offset + e.size),
    };
  }
  return await saveCheckpoint(
    dir,
    {
      config,
      step: 0,
      trainer: { options: { betaSchedule: "squaredcos_cap_v2" } },
      policy: PUSHT_TEST_SPEC,
    },
    tensors,
    1,
  );
}

const HELP =
  `Usage: deno run -A examples/make_test_policy.ts --out <dir> [--size tiny|pusht] [--seed n]

Writes an untrained Push-T-shaped policy checkpoint (ckpt-00000000.safetensors) into <dir>.
  --out <dir>     run directory to write (required)
  --size <name>   tiny (width 32, depth 2; default) or pusht (width 256, depth 6)
  --seed <n>      weight seed (default 0)
`;

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      out: { type: "string" },
      size: { type: "string", default: "tiny" },
      seed: { type: "string", default: "0" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help || !values.out) {
    console.log(HELP);
    Deno.exit(values.help ? 0 : 2);
  }
  if (!(values.size in TEST_POLICY_SIZES)) {
    console.error(`--size must be tiny or pusht, got ${values.size}`);
    Deno.exit(2);
  }
  const path = await writeTestPolicy(
    values.out,
    values.size as keyof typeof TEST_POLICY_SIZES,
    Number(values.seed),
  );
  console.log(`Wrote ${path}`);
}
