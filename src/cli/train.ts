/**
 * `deno task train`: trains a class-conditioned DiT on image latents, or (policy presets such as
 * `pusht`) a robot policy on a LeRobot dataset. With no arguments it trains the `small` preset
 * on the embedded emoji set (32x32 RGBA as the latent, the identity autoencoder) and writes
 * checkpoints, sample grids and loss plots under runs/<name>/.
 */
import { parseArgs } from "node:util";
import { Gpu } from "../gpu/gpu.ts";
import { type DiTConfig, preset, PRESETS, validateConfig } from "../model/config.ts";
import { loadEmojiDataset } from "../data/emoji.ts";
import { loadImageFolder } from "../data/folder.ts";
import { loadLatents } from "../data/latents.ts";
import type { Dataset } from "../data/dataset.ts";
import { DEFAULT_TRAIN, Trainer, type TrainOptions } from "../train/trainer.ts";
import { PRESET_POLICY, PRESET_TIME, PRESET_TRAIN } from "../train/presets.ts";
import { loadCheckpoint } from "../model/checkpoint.ts";
import { formatSeconds, parseDuration, TimeBudget } from "../train/budget.ts";
import type { PolicyData } from "../train/policy_batches.ts";
import { DEFAULT_POLICY_DATA, policyDataDir, policySetup, readEpisodes } from "./policy_data.ts";

const HELP = `Usage: deno task train [options]
  --preset <name>     model preset (${Object.keys(PRESETS).join(", ")}); default small
  --config <json>     JSON file with DiTConfig fields overriding the preset
  --data <path>       "emoji" (default), a folder of images (one subfolder per class, or flat),
                      or a latents .safetensors file (from deno task encode); for a policy
                      preset (${Object.keys(PRESET_POLICY).join(", ")}) a LeRobot dataset folder
                      (default ${DEFAULT_POLICY_DATA} when it exists)
  --state-key <name>  policy observation feature (default observation.state)
  --action-key <name> policy action feature (default action)
  --objective <name>  epsilon (diffusion, default) or regression (MSE onto the chunk, one pass)
  --time <duration>   wall-clock budget, e.g. 10m, 90s, 1h30m: the run times its first steps and
                      fixes the step count so that warm-up and cosine decay end with the budget
                      (default 10m for the small preset; --steps wins)
  --steps <n>         optimizer steps (default: per preset, or fitted to --time)
  --batch <n>         batch size (default per preset)
  --lr <x>            learning rate (default per preset; AdamW betas 0.9/0.999, pusht 0.95/0.999)
  --seed <n>          seed for init, data order, timesteps and noise (default 0)
  --out <dir>         run directory (default runs/<preset>-<time>)
  --resume <dir>      continue a run exactly where it stopped (its newest checkpoint)
  --ema <decay>       EMA decay (default 0.9999; 0 disables)
  --clip <norm>       global gradient-norm clip (default 1; 0 disables)
  --warmup <steps>    linear learning-rate warm-up steps
  --cosine            cosine decay to 10% of lr after warm-up
  --accum <n>         gradient accumulation micro-batches per step
  --label-dropout <p> replace labels by the null class with probability p: overrides the
                      config's classDropout (default per preset: 0.1 official, 0 seed)
  --weight-decay <x>  AdamW decoupled weight decay (default 0; pusht 1e-6)
  --log-every <n>     steps between loss readbacks / log lines
  --sample-every <n>  steps between sample grids (EMA weights)
  --ckpt-every <n>    steps between checkpoints;  --keep <n> checkpoints kept (default 3)
  --val-every <n>     steps between validation-loss passes
  --schedule <name>   noise schedule: squaredcos_cap_v2 (default, the seed's) or linear (official DiT)
  --timesteps <n>     diffusion training timesteps (default 1000; pusht 100)
  --sampler <name>    sampler for pictures (default ddim-eta1; pusht dpm++2m), --sample-steps <n>
                      (default 50; pusht 10)
Policy presets train on action chunks conditioned on the observation history and draw
chunks.png; see docs/policy.md.
Per-preset defaults (over the ones above):
${
  Object.entries(PRESET_TRAIN).map(([name, o]) =>
    `  ${name}: ${Object.entries(o).map(([k, v]) => `${k} ${v}`).join(", ")}`
  ).join("\n")
}`;

function num(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`--${name} expects a number, got "${v}"`);
  return n;
}

async function loadData(spec: string, size: number): Promise<Dataset> {
  if (spec === "emoji") return loadEmojiDataset({ size, channels: 4 });
  if (spec.endsWith(".safetensors")) return await loadLatents(spec);
  return loadImageFolder(spec, { size, channels: 4 });
}

/**
 * The policy preset a resumed run was trained with, read from its checkpoint: the one whose
 * windows the checkpoint's policy has. Undefined for an image run (whose config the checkpoint
 * restores under any preset).
 */
export async function resumedPreset(dir: string): Promise<string | undefined> {
  const { policy } = await loadCheckpoint(dir);
  if (!policy) return undefined;
  const match = Object.entries(PRESET_POLICY).find(([, p]) =>
    p.nObsSteps === policy.nObsSteps && p.horizon === policy.horizon &&
    p.nActionSteps === policy.nActionSteps
  );
  if (!match) {
    throw new Error(
      `${dir} is a policy run with windows ${policy.nObsSteps}/${policy.horizon}/` +
        `${policy.nActionSteps}, which no policy preset has: pass --preset`,
    );
  }
  return match[0];
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      preset: { type: "string" },
      config: { type: "string" },
      data: { type: "string" },
      "state-key": { type: "string", default: "observation.state" },
      "action-key": { type: "string", default: "action" },
      objective: { type: "string" },
      timesteps: { type: "string" },
      steps: { type: "string" },
      time: { type: "string" },
      batch: { type: "string" },
      lr: { type: "string" },
      seed: { type: "string" },
      out: { type: "string" },
      resume: { type: "string" },
      ema: { type: "string" },
      clip: { type: "string" },
      warmup: { type: "string" },
      cosine: { type: "boolean" },
      accum: { type: "string" },
      "label-dropout": { type: "string" },
      "weight-decay": { type: "string" },
      "log-every": { type: "string" },
      "sample-every": { type: "string" },
      "ckpt-every": { type: "string" },
      "val-every": { type: "string" },
      keep: { type: "string" },
      sampler: { type: "string" },
      schedule: { type: "string" },
      "sample-steps": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const presetName = values.preset ??
    (values.resume ? await resumedPreset(values.resume) : undefined) ?? "small";
  let cfg: DiTConfig = preset(presetName);
  if (values.config) {
    const text = await Deno.readTextFile(values.config).catch(() => {
      throw new Error(`Cannot read --config ${values.config}`);
    });
    cfg = { ...cfg, ...JSON.parse(text) };
  }
  // Every flag is checked before the dataset is read, so a typo fails at once.
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  const opts: TrainOptions = {
    ...DEFAULT_TRAIN,
    ...(PRESET_TRAIN[presetName] ?? {}),
    out: values.resume ?? values.out ?? `runs/${presetName.replace(/\W/g, "_")}-${stamp}`,
  };
  const set = <K extends keyof TrainOptions>(k: K, v: TrainOptions[K] | undefined) => {
    if (v !== undefined) opts[k] = v;
  };
  set("steps", num(values.steps, "steps"));
  set("batch", num(values.batch, "batch"));
  set("lr", num(values.lr, "lr"));
  set("seed", num(values.seed, "seed"));
  set("emaDecay", num(values.ema, "ema"));
  set("clipNorm", num(values.clip, "clip"));
  set("warmup", num(values.warmup, "warmup"));
  if (values.cosine) opts.cosine = true;
  set("accum", num(values.accum, "accum"));
  set("weightDecay", num(values["weight-decay"], "weight-decay"));
  set("logEvery", num(values["log-every"], "log-every"));
  set("sampleEvery", num(values["sample-every"], "sample-every"));
  set("ckptEvery", num(values["ckpt-every"], "ckpt-every"));
  set("valEvery", num(values["val-every"], "val-every"));
  set("keep", num(values.keep, "keep"));
  set("sampler", values.sampler);
  if (values.schedule !== undefined) {
    if (values.schedule !== "squaredcos_cap_v2" && values.schedule !== "linear") {
      throw new Error(`--schedule must be squaredcos_cap_v2 or linear, got "${values.schedule}"`);
    }
    opts.betaSchedule = values.schedule;
  }
  set("sampleSteps", num(values["sample-steps"], "sample-steps"));
  // --steps wins over a budget; a resumed run keeps the step count it was planned with.
  const budgetSec = values.time !== undefined
    ? parseDuration(values.time)
    : values.steps === undefined
    ? PRESET_TIME[presetName]
    : undefined;
  const budgeted = budgetSec !== undefined && values.steps === undefined && !values.resume;
  if (values.resume && values.steps === undefined) opts.steps = 1;
  const dropout = num(values["label-dropout"], "label-dropout");
  if (dropout !== undefined) cfg = { ...cfg, classDropout: dropout };
  set("numTrainTimesteps", num(values.timesteps, "timesteps"));
  if (values.objective !== undefined) {
    if (values.objective !== "epsilon" && values.objective !== "regression") {
      throw new Error(`--objective must be epsilon or regression, got "${values.objective}"`);
    }
    opts.objective = values.objective;
  }
  const policy = PRESET_POLICY[presetName];
  let data: Dataset | PolicyData;
  let about: string;
  if (policy) {
    const dir = policyDataDir(presetName, values.data);
    const eps = await readEpisodes(dir, {
      stateKey: values["state-key"]!,
      actionKey: values["action-key"]!,
    });
    // The dataset decides the state and action widths.
    const setup = policySetup(eps, policy, cfg);
    data = setup.data;
    cfg = setup.cfg;
    about = `policy data ${eps.name}: ${eps.episodes.length} episodes, ${data.train.length} ` +
      `training windows, ${data.val.length} held out; state ${eps.stateDim}, action ` +
      `${eps.actionDim}, windows ${policy.nObsSteps}/${policy.horizon}/${policy.nActionSteps}`;
  } else {
    const size = cfg.input.kind === "image" ? cfg.input.size : 32;
    const images = await loadData(values.data ?? "emoji", size);
    data = images;
    // The dataset decides channels, size and classes.
    const [C, H] = images.shape;
    cfg = { ...cfg, input: { kind: "image", channels: C, size: H } };
    if (cfg.arch === "seed" || cfg.outChannels < C) {
      cfg.outChannels = cfg.arch === "official" ? 2 * C : C;
    }
    if (cfg.condition.kind === "class") {
      cfg = { ...cfg, condition: { ...cfg.condition, numClasses: images.numClasses } };
    }
    about = `data ${images.name}: ${images.length} samples [${images.shape}], ` +
      `${images.numClasses} classes`;
  }
  validateConfig(cfg);

  const gpu = await Gpu.create();
  const trainer = await Trainer.create(gpu, cfg, opts, data, values.resume);
  const c = trainer.cfg;
  console.log(
    `adapter ${gpu.info.description} (${gpu.info.matmul} matmuls) | ${c.arch} DiT D=${c.hidden} depth=${c.depth} ` +
      `heads=${c.heads} patch=${c.patchSize} (${
        (trainer.model.parameterCount / 1e6).toFixed(2)
      }M params) | ${about}`,
  );
  console.log(
    `${trainer.step ? `resuming at step ${trainer.step}` : "starting"}: ${
      budgeted ? "steps fitted to the time budget" : `${trainer.opts.steps} steps`
    }, batch ${trainer.opts.batch}, ` +
      `lr ${trainer.opts.lr} -> ${trainer.opts.out}/`,
  );
  let stop = false;
  const onSignal = () => {
    if (stop) Deno.exit(130);
    stop = true;
    console.log(
      "\nInterrupted: saving a checkpoint after this step (Ctrl-C again to quit at once)",
    );
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  const budget = budgeted
    ? new TimeBudget(trainer, budgetSec!, 30, (line) => trainer.note(line))
    : null;
  if (budget) {
    console.log(
      `time budget ${formatSeconds(budgetSec!)}: the first steps are timed, then the step count ` +
        `is fixed to end within it (--steps n trains a fixed count)`,
    );
  }
  const r = await trainer.run({ shouldStop: () => stop, onLog: budget?.onLog });
  Deno.removeSignalListener("SIGINT", onSignal);
  Deno.removeSignalListener("SIGTERM", onSignal);
  // Name only the pictures that exist: an interrupted run or --sample-every 0 may have no grid.
  const pictures = [["samples", "samples.png"], ["chunks", "chunks.png"], ["loss plot", "loss.png"]]
    .filter(([, file]) => exists(`${trainer.opts.out}/${file}`))
    .map(([what, file]) => `${what} ${trainer.opts.out}/${file}`);
  console.log(
    `${r.interrupted ? "stopped" : "done"} at step ${r.step} after ${
      formatSeconds(performance.now() / 1000)
    }: loss ${r.lastLoss.toFixed(4)}` +
      (r.lastValLoss !== null ? `, validation loss ${r.lastValLoss.toFixed(4)}` : "") +
      `; checkpoint ${r.checkpoint}` + (pictures.length ? `; ${pictures.join(", ")}` : ""),
  );
  return 0;
}

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (e) {
    console.error(`train: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
