/**
 * The class-structure score (src/eval/class_score.ts, `deno task class-score`): pooling, the
 * class-balanced softmax regression against data with a known answer, and the command end to end
 * on a random tiny model over a folder of generated PNGs, with its input errors.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { gpuTest } from "./_gpu.ts";
import { classify, fitLinearClassifier, poolFeatures, score } from "../src/eval/class_score.ts";
import { Rng } from "../src/util/prng.ts";
import { encodePng } from "../src/data/png.ts";
import { type DiTConfig, preset } from "../src/model/config.ts";
import { DiTModel } from "../src/model/model.ts";
import { saveCheckpoint } from "../src/model/checkpoint.ts";

Deno.test("poolFeatures() averages blocks per channel and rejects a pool that does not divide", () => {
  // [2, 2, 4]: channel 0 counts 0..7, channel 1 is all 1.
  const x = Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 1, 1, 1, 1, 1, 1, 1, 1]);
  assert.deepEqual(Array.from(poolFeatures(x, [2, 2, 4], 2)), [2.5, 4.5, 1, 1]);
  assert.deepEqual(Array.from(poolFeatures(x, [2, 2, 4], 1)), Array.from(x));
  assert.throws(() => poolFeatures(x, [2, 2, 4], 3), /must be a positive integer dividing/);
  assert.throws(() => poolFeatures(x.subarray(1), [2, 2, 4], 2), /Expected 16 values/);
});

/** A standard normal draw (Box-Muller). */
function normal(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
}

/** n points per class around class centres at distance `sep` in 10-D, unit noise. */
function blobs(rng: Rng, counts: number[], sep: number) {
  const feats: Float64Array[] = [];
  const labels: number[] = [];
  counts.forEach((n, k) => {
    for (let i = 0; i < n; i++) {
      feats.push(Float64Array.from({ length: 10 }, (_, d) => (d === k ? sep : 0) + normal(rng)));
      labels.push(k);
    }
  });
  return { feats, labels };
}

Deno.test("fitLinearClassifier() separates separable classes, weighs classes equally, and stays at chance on noise", () => {
  const rng = new Rng(3);
  // Overlapping a little (centres 3 apart, unit noise), one class 10x rarer than the others: the
  // class-balanced loss still finds it (unweighted, the same data gave it 86%).
  const train = blobs(rng, [200, 200, 20], 3);
  const test = blobs(rng, [100, 100, 100], 3);
  const clf = fitLinearClassifier(train.feats, train.labels, 3);
  const s = score(clf, test.feats, test.labels);
  assert(s.balanced > 0.93, `balanced accuracy ${s.balanced}`);
  assert(s.perClass[2] > 0.9, `rare class accuracy ${s.perClass[2]}`);
  assert.equal(s.confusion.flat().reduce((a, b) => a + b, 0), 300);
  assert.equal(classify(clf, Float64Array.from({ length: 10 }, (_, d) => (d === 1 ? 3 : 0))), 1);
  // Labels unrelated to the features: held-out accuracy near chance (1/3).
  const noise = blobs(rng, [150, 150, 150], 0);
  const shuffled = noise.labels.map(() => rng.int(3));
  const fresh = blobs(rng, [150, 150, 150], 0);
  const chance = score(fitLinearClassifier(noise.feats, shuffled, 3), fresh.feats, fresh.labels);
  assert(chance.balanced > 0.2 && chance.balanced < 0.47, `balanced ${chance.balanced}`);
  assert.throws(() => fitLinearClassifier(train.feats, [0], 3), /one label per feature/);
  assert.throws(() => fitLinearClassifier([[1], [2]], [0, 3], 3), /outside \[0, 3\)/);
});

Deno.test("fitLinearClassifier() is not steered by features that barely vary in training", () => {
  // Dims 0-2 carry the class; dim 3 is nearly constant in the training set yet perfectly
  // class-ordered (0.001 * class), like an emoji's transparent corner. Test points carry ordinary
  // speckle there (+-0.05, unrelated to the class): scaled by its 0.001 spread, that would be 50
  // standard deviations and decide the class; scaled by the variance floor, it is noise.
  const rng = new Rng(11);
  const make = (n: number, corner: (k: number) => number) => {
    const feats: Float64Array[] = [];
    const labels: number[] = [];
    for (let k = 0; k < 3; k++) {
      for (let i = 0; i < n; i++) {
        const f = Float64Array.from({ length: 4 }, (_, d) => (d === k ? 2 : 0) + 0.5 * normal(rng));
        f[3] = corner(k);
        feats.push(f);
        labels.push(k);
      }
    }
    return { feats, labels };
  };
  const train = make(100, (k) => 0.001 * k);
  const test = make(100, () => 0.1 * (rng.next() - 0.5));
  const s = score(fitLinearClassifier(train.feats, train.labels, 3), test.feats, test.labels);
  assert(s.balanced > 0.9, `balanced accuracy ${s.balanced}`);
});

/** A folder of 8x8 RGBA PNGs, `perClass` per class, each class its own colour. */
async function colourFolder(root: string, classes: number, perClass: number): Promise<void> {
  for (let k = 0; k < classes; k++) {
    const dir = join(root, `c${k}`);
    await Deno.mkdir(dir, { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const px = new Uint8Array(8 * 8 * 4);
      for (let p = 0; p < 64; p++) px.set([(k * 97) % 256, (i * 13) % 256, 40 * k, 255], p * 4);
      await Deno.writeFile(join(dir, `${i}.png`), encodePng(px, 8, 8, 4));
    }
  }
}

async function classScore(args: string[]) {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../src/cli/class_score.ts", import.meta.url).pathname, ...args],
    env: { XDG_RUNTIME_DIR: "/tmp" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

gpuTest(
  "deno task class-score scores a checkpoint end to end and rejects bad input",
  async (gpu) => {
    const root = await Deno.makeTempDir();
    await colourFolder(join(root, "data3"), 3, 20);
    await colourFolder(join(root, "data2"), 2, 20);
    const cfg: DiTConfig = {
      ...preset("tiny"),
      input: { kind: "image", channels: 4, size: 8 },
      condition: { kind: "class", numClasses: 3, nullClass: false },
    };
    const model = DiTModel.create(gpu, cfg, { seed: 4 });
    const run = join(root, "run");
    await saveCheckpoint(run, { config: cfg, step: 1, trainer: {} }, await model.stateDict(), 1);

    const common = ["--ckpt", run, "--n", "4", "--steps", "2", "--pool", "2"];
    const ok = await classScore([...common, "--data", join(root, "data3")]);
    assert.equal(ok.code, 0, ok.err);
    const report = JSON.parse(ok.out.trim().split("\n").at(-1)!);
    assert.equal(report.samplesPerClass, 4);
    assert.equal(report.chance, 1 / 3);
    // The real images are one colour per class: the classifier's held-out score is perfect.
    assert.equal(report.heldOut.balanced, 1);
    assert.equal(report.samples.confusion.flat().reduce((a: number, b: number) => a + b, 0), 12);
    for (const v of [report.samples.balanced, report.amongSamples.balanced]) {
      assert(v >= 0 && v <= 1, `score ${v}`);
    }
    assert.match(ok.out, /balanced accuracy: samples \d+%/);

    const usage = await classScore([]);
    assert.equal(usage.code, 2);
    assert.match(usage.out, /Usage: deno task class-score/);
    const wrongClasses = await classScore([...common, "--data", join(root, "data2")]);
    assert.equal(wrongClasses.code, 1);
    assert.match(wrongClasses.err, /2 classes of \[4,8,8\]\) does not match the model \(3 classes/);
    const latents = await classScore([...common, "--data", join(root, "x.safetensors")]);
    assert.equal(latents.code, 1);
    assert.match(latents.err, /needs an image dataset/);
    // The checkpoint above records no dataset (so "emoji"); one trained on a folder needs --data.
    const folderRun = join(root, "folder-run");
    await saveCheckpoint(
      folderRun,
      {
        config: cfg,
        step: 1,
        trainer: { dataset: { name: "data3", classNames: ["a", "b", "c"] } },
      },
      await model.stateDict(),
      1,
    );
    const noData = await classScore(["--ckpt", folderRun, "--n", "2", "--steps", "1"]);
    assert.equal(noData.code, 1);
    assert.match(noData.err, /trained on "data3", not the embedded emoji set: pass --data/);
    const missing = await classScore(["--ckpt", join(root, "nothing")]);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /class-score: /);
    const badN = await classScore([...common, "--n", "0"]);
    assert.equal(badN.code, 1);
    assert.match(badN.err, /--n expects an integer >= 1/);
    await Deno.remove(root, { recursive: true });
  },
);
