/**
 * `deno task export`: a training run's newest checkpoint as an inference checkpoint: the EMA
 * weights under their upstream state-dict names (loadable by PyTorch as they are), the config, the
 * diffusion settings and, for a policy, its policy record; no optimizer state. A fraction of the
 * training checkpoint's size, it is what a run ships (examples/pusht/policy is one).
 */
import { parseArgs } from "node:util";
import { Gpu } from "../gpu/gpu.ts";
import { loadCheckpoint, saveCheckpoint } from "../model/checkpoint.ts";
import { modelFromCheckpoint } from "../sample/load.ts";
import { samplerName, SAMPLERS } from "../sample/samplers.ts";

const HELP =
  `Usage: deno task export --ckpt <run dir or checkpoint> --out <dir> [--raw] [--sampler <name>] [--steps <n>]
  --ckpt <path>     training run folder (its newest checkpoint) or a checkpoint file
  --out <dir>       folder for the inference checkpoint (created; an existing checkpoint of the
                    same step is replaced atomically)
  --raw             export the raw weights instead of the EMA weights (default: EMA when present)
  --sampler <name>  a policy's default sampler, the one the server uses when a client names none
                    (${SAMPLERS.join(", ")}; default: the run's)
  --steps <n>       a policy's default sampling steps (default: the run's)`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      ckpt: { type: "string" },
      out: { type: "string" },
      raw: { type: "boolean", default: false },
      sampler: { type: "string" },
      steps: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (!values.ckpt || !values.out) throw new Error("--ckpt and --out are required (see --help)");
  const ck = await loadCheckpoint(values.ckpt);
  const policy = ck.policy ? { ...ck.policy } : undefined;
  if (values.sampler !== undefined || values.steps !== undefined) {
    if (!policy) {
      throw new Error(`--sampler and --steps set a policy's defaults; ${ck.path} is not a policy`);
    }
    if (policy.objective === "regression") {
      throw new Error("--sampler and --steps: a regression policy answers with one forward pass");
    }
    if (values.sampler !== undefined) policy.sampler = samplerName(values.sampler);
    if (values.steps !== undefined) {
      const steps = Number(values.steps);
      if (!Number.isInteger(steps) || steps < 1 || steps > policy.numTrainTimesteps) {
        throw new Error(
          `--steps must be an integer in [1, ${policy.numTrainTimesteps}], got "${values.steps}"`,
        );
      }
      policy.steps = steps;
    }
  }
  const gpu = await Gpu.create();
  const ema = !values.raw && ck.file.has("optim.ema");
  const model = modelFromCheckpoint(gpu, ck, { ema });
  const options = ck.trainer.options as Record<string, unknown> | undefined;
  // What sampling needs of the trainer's options: the schedule and its length.
  const trainer = {
    options: {
      betaSchedule: options?.betaSchedule,
      numTrainTimesteps: options?.numTrainTimesteps,
      objective: options?.objective,
    },
    exportedFrom: { path: ck.path, step: ck.step, weights: ema ? "ema" : "raw" },
  };
  const path = await saveCheckpoint(
    values.out,
    { config: ck.config, step: ck.step, trainer, ...(policy ? { policy } : {}) },
    await model.stateDict(),
    1,
  );
  const bytes = (await Deno.stat(path)).size;
  console.log(
    `exported ${ema ? "EMA" : "raw"} weights of ${ck.path} (step ${ck.step}) to ${path} ` +
      `(${(bytes / 2 ** 20).toFixed(1)} MiB)`,
  );
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (e) {
    console.error(`export: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
