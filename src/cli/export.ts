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

const HELP = `Usage: deno task export --ckpt <run dir or checkpoint> --out <dir> [--raw]
  --ckpt <path>   training run folder (its newest checkpoint) or a checkpoint file
  --out <dir>     folder for the inference checkpoint (created; an existing checkpoint of the same
                  step is replaced atomically)
  --raw           export the raw weights instead of the EMA weights (default: EMA when present)`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      ckpt: { type: "string" },
      out: { type: "string" },
      raw: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (!values.ckpt || !values.out) throw new Error("--ckpt and --out are required (see --help)");
  const ck = await loadCheckpoint(values.ckpt);
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
    { config: ck.config, step: ck.step, trainer, ...(ck.policy ? { policy: ck.policy } : {}) },
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
