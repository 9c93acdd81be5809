/**
 * `deno task class-score --ckpt <run>`: how much class structure a class-conditioned image model's
 * samples carry (see src/eval/class_score.ts). Fits a linear classifier to the real training
 * images, scores it on the held-out split the trainer uses (the ceiling), samples `n` images per
 * class with the same seeds in every class, and prints per class how often a sample is classified
 * as the class it was drawn for, against chance; then the same for a classifier fitted to the
 * samples of half the seeds and scored on the other half (class structure among the samples,
 * whether or not they look like the real images); a JSON line last.
 */
import { parseArgs } from "node:util";
import { intFlag } from "./flags.ts";
import { Gpu } from "../gpu/gpu.ts";
import { loadEmojiDataset } from "../data/emoji.ts";
import { loadImageFolder } from "../data/folder.ts";
import { type Dataset, splitDataset } from "../data/dataset.ts";
import { checkpointDiffusion, modelFromCheckpoint } from "../sample/load.ts";
import { GpuDenoiser } from "../sample/denoiser.ts";
import { samplerName, SAMPLERS } from "../sample/samplers.ts";
import { latestCheckpoint, loadCheckpoint } from "../model/checkpoint.ts";
import { fitLinearClassifier, poolFeatures, score } from "../eval/class_score.ts";

const HELP = `Usage: deno task class-score --ckpt <run dir or file> [options]
  --data <path>     "emoji" or a folder of class subfolders (needed unless the run trained on
                    the embedded emoji set)
  --n <count>       samples per class (default 16)
  --steps <s>       denoising steps (default 50)
  --sampler <name>  ${SAMPLERS.join(", ")} (default ddim-eta1, as the trainer's grids)
  --seed <seed>     first seed; sample i of every class uses seed + i (default 1000)
  --pool <p>        classifier features: images average-pooled over p x p blocks (default 4)
  --raw             use the raw weights instead of the EMA`;

function loadData(spec: string, size: number): Dataset {
  if (spec === "emoji") return loadEmojiDataset({ size, channels: 4 });
  if (spec.endsWith(".safetensors")) {
    throw new Error(
      `class-score needs an image dataset whose images are the model's input, not latents (${spec})`,
    );
  }
  return loadImageFolder(spec, { size, channels: 4 });
}

const pct = (v: number) => (Number.isNaN(v) ? "-" : `${(100 * v).toFixed(0)}%`);

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      ckpt: { type: "string" },
      data: { type: "string" },
      n: { type: "string" },
      steps: { type: "string" },
      sampler: { type: "string", default: "ddim-eta1" },
      seed: { type: "string" },
      pool: { type: "string" },
      raw: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help || !values.ckpt) {
    console.log(HELP);
    return values.help ? 0 : 2;
  }
  const n = intFlag(values.n, "n", 16, 1);
  const steps = intFlag(values.steps, "steps", 50, 1);
  const seed = intFlag(values.seed, "seed", 1000);
  const pool = intFlag(values.pool, "pool", 4, 1);
  samplerName(values.sampler!); // checked before any checkpoint is read
  const path = latestCheckpoint(values.ckpt);
  const meta = await loadCheckpoint(path);
  const cfg = meta.config;
  const cond = cfg.condition;
  if (cond.kind !== "class") throw new Error(`${path}: the model is not class-conditioned`);
  if (cfg.input.kind !== "image") throw new Error(`${path}: the model does not take images`);
  // Checkpoints record the dataset's name, not its path: only the embedded set is found alone.
  const trainedOn = (meta.trainer.dataset as { name?: string } | undefined)?.name ?? "emoji";
  if (!values.data && trainedOn !== "emoji") {
    throw new Error(
      `${path} was trained on "${trainedOn}", not the embedded emoji set: pass --data <its folder>`,
    );
  }
  const spec = values.data ?? "emoji";
  const data = loadData(spec, cfg.input.size);
  const shape: [number, number, number] = [cfg.input.channels, cfg.input.size, cfg.input.size];
  if (data.numClasses !== cond.numClasses || data.shape.join() !== shape.join()) {
    throw new Error(
      `Dataset ${data.name} (${data.numClasses} classes of [${data.shape}]) does not match the ` +
        `model (${cond.numClasses} classes of [${shape}])`,
    );
  }

  // The classifier: fitted on the trainer's training split, checked on its held-out split.
  const t0 = performance.now();
  const split = splitDataset(data, { seed: 0 });
  const feats = (idx: Int32Array) =>
    Array.from(idx, (i) => poolFeatures(data.get(i).x, shape, pool));
  const labelsOf = (idx: Int32Array) => Int32Array.from(idx, (i) => data.label(i));
  const clf = fitLinearClassifier(feats(split.train), labelsOf(split.train), cond.numClasses);
  const real = score(clf, feats(split.val), labelsOf(split.val));
  console.log(
    `classifier: softmax regression on ${pool}x${pool}-pooled pixels (${clf.dim} features), ` +
      `${split.train.length} training images, ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );

  // Samples: n per class, the same seeds in every class (as in the trainer's grids).
  const gpu = await Gpu.create();
  const model = modelFromCheckpoint(gpu, meta, { ema: !values.raw });
  const denoiser = new GpuDenoiser(gpu, model, checkpointDiffusion(meta));
  const L = shape[0] * shape[1] * shape[2];
  const genFeats: Float32Array[] = [];
  const genLabels: number[] = [];
  const t1 = performance.now();
  for (let k = 0; k < cond.numClasses; k++) {
    const { x0 } = await denoiser.sample({
      sampler: values.sampler!,
      steps,
      seeds: Array.from({ length: n }, (_, i) => seed + i),
      labels: new Array(n).fill(k),
    });
    for (let i = 0; i < n; i++) {
      genFeats.push(poolFeatures(x0.subarray(i * L, (i + 1) * L), shape, pool));
      genLabels.push(k);
    }
    console.log(`sampled class ${k + 1}/${cond.numClasses} (${n} x ${steps} ${values.sampler})`);
  }
  const gen = score(clf, genFeats, genLabels);
  // Class structure among the samples themselves, whatever they look like: a classifier fitted to
  // the samples of the even seeds, scored on the odd seeds' (each seed appears in every class, so
  // only what the class changes can tell them apart).
  const half = (odd: number) => genFeats.filter((_, j) => j % n % 2 === odd);
  const halfLabels = (odd: number) => genLabels.filter((_, j) => j % n % 2 === odd);
  const among = n >= 2
    ? score(fitLinearClassifier(half(0), halfLabels(0), cond.numClasses), half(1), halfLabels(1))
    : null;
  const names = data.classNames;
  const width = Math.max(5, ...names.map((s) => s.length));
  console.log(
    `\n${"class".padEnd(width)}  held-out real  samples  among samples  samples mostly taken for`,
  );
  for (let k = 0; k < cond.numClasses; k++) {
    const row = gen.confusion[k];
    const top = row.indexOf(Math.max(...row));
    console.log(
      `${names[k].padEnd(width)}  ${pct(real.perClass[k]).padStart(13)}  ${
        pct(gen.perClass[k]).padStart(7)
      }  ${pct(among?.perClass[k] ?? NaN).padStart(13)}  ${names[top]} (${row[top]}/${n})`,
    );
  }
  const chance = 1 / cond.numClasses;
  console.log(
    `\nbalanced accuracy: samples ${pct(gen.balanced)} (by the real-image classifier), ` +
      `${
        pct(among?.balanced ?? NaN)
      } (among samples: odd seeds by a classifier of the even ones), ` +
      `held-out real images ${pct(real.balanced)}, chance ${pct(chance)} (${
        cond.numClasses * n
      } samples in ${
        ((performance.now() - t1) / 1000).toFixed(0)
      } s on ${gpu.info.description}; ${path})`,
  );
  console.log(JSON.stringify({
    ckpt: path,
    dataset: data.name,
    sampler: values.sampler,
    steps,
    samplesPerClass: n,
    chance,
    samples: { balanced: gen.balanced, perClass: gen.perClass, confusion: gen.confusion },
    amongSamples: among ? { balanced: among.balanced, perClass: among.perClass } : null,
    heldOut: { balanced: real.balanced, perClass: real.perClass },
  }));
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (e) {
    console.error(`class-score: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
