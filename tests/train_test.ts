/**
 * Trainer tests on a small in-memory image set (8x8x4, 3 classes): exact resume, validation loss
 * falling, a non-finite loss stopping cleanly, crash safety of checkpoint writes and clear CLI
 * errors that write nothing.
 */
import { deepEqual, ok as assert, rejects } from "node:assert/strict";
import { gpuTest } from "./_gpu.ts";
import type { Dataset } from "../src/data/dataset.ts";
import { type DiTConfig, preset } from "../src/model/config.ts";
import { DEFAULT_TRAIN, Trainer, type TrainOptions } from "../src/train/trainer.ts";
import { listCheckpoints, loadCheckpoint } from "../src/model/checkpoint.ts";
import { removeStaleTemps } from "../src/io/atomic.ts";

/** Class k: a soft blob whose colour and position depend on k, plus a little per-sample jitter. */
function blobs(count: number): Dataset {
  const C = 4, H = 8;
  const xs: Float32Array[] = [];
  for (let i = 0; i < count; i++) {
    const k = i % 3;
    const x = new Float32Array(C * H * H);
    for (let c = 0; c < C; c++) {
      for (let r = 0; r < H; r++) {
        for (let q = 0; q < H; q++) {
          const d = Math.hypot(r - 2 - 2 * k, q - 3 - ((i * 7) % 3) * 0.3);
          x[(c * H + r) * H + q] = Math.tanh(2 - d) * (c === k ? 1 : -0.5);
        }
      }
    }
    xs.push(x);
  }
  return {
    name: "blobs",
    numClasses: 3,
    classNames: ["a", "b", "c"],
    shape: [C, H, H],
    length: count,
    label: (i) => i % 3,
    get: (i) => ({ x: xs[i], label: i % 3 }),
  };
}

const cfg: DiTConfig = {
  ...preset("tiny"),
  input: { kind: "image", channels: 4, size: 8 },
  condition: { kind: "class", numClasses: 3, nullClass: false },
};

function options(out: string, o: Partial<TrainOptions> = {}): TrainOptions {
  return {
    ...DEFAULT_TRAIN,
    out,
    steps: 6,
    batch: 4,
    lr: 2e-3,
    logEvery: 1,
    valEvery: 0,
    sampleEvery: 0,
    sampleSteps: 2,
    ckptEvery: 3,
    keep: 10,
    emaDecay: 0.9,
    ...o,
  };
}

gpuTest("Trainer resume continues with exactly the same loss sequence", async (gpu) => {
  const data = blobs(60);
  const a = await Deno.makeTempDir();
  const b = await Deno.makeTempDir();
  const straight = await (await Trainer.create(gpu, cfg, options(a), data)).run({ quiet: true });
  const first = await (await Trainer.create(gpu, cfg, options(b, { steps: 3 }), data)).run({
    quiet: true,
  });
  assert(first.checkpoint?.endsWith("ckpt-00000003.safetensors"));
  const resumed = await Trainer.create(gpu, cfg, options(b), data, b);
  assert(resumed.step === 3);
  const rest = await resumed.run({ quiet: true });
  const losses = (h: { step: number; loss?: number }[]) => h.map((r) => [r.step, r.loss]);
  deepEqual(losses(rest.history), losses(straight.history));
  assert(straight.history.every((r) => Number.isFinite(r.loss)));
});

gpuTest("a short run's validation loss falls", async (gpu) => {
  const data = blobs(120);
  const out = await Deno.makeTempDir();
  const t = await Trainer.create(
    gpu,
    cfg,
    options(out, { steps: 80, lr: 3e-3, valEvery: 40, logEvery: 10, ckptEvery: 80 }),
    data,
  );
  // A temporary checkpoint left by a writer that died (its pid is gone) is removed at the start.
  const dead = (await new Deno.Command(Deno.execPath(), { args: ["--version"], stdout: "null" })
    .spawn()).pid;
  await new Promise((r) => setTimeout(r, 50));
  const orphan = `${out}/.ckpt-00000040.safetensors.${dead}.k3.tmp`;
  await Deno.writeFile(orphan, new Uint8Array(1024));
  const before = await t.validationLoss();
  const r = await t.run({ quiet: true });
  await rejects(() => Deno.stat(orphan), Deno.errors.NotFound);
  assert(before !== null && r.lastValLoss !== null);
  assert(r.lastValLoss < 0.7 * before, `validation loss ${before} -> ${r.lastValLoss}`);
  // Artifacts a person looks at: the loss plot and the sample grid.
  for (const f of ["loss.png", "samples.png", "metrics.jsonl"]) {
    assert((await Deno.stat(`${out}/${f}`)).size > 0, f);
  }
});

gpuTest(
  "a non-finite loss stops with a clear message and keeps the last good checkpoint",
  async (gpu) => {
    const data = blobs(30);
    const out = await Deno.makeTempDir();
    const t = await Trainer.create(gpu, cfg, options(out, { steps: 3, ckptEvery: 3 }), data);
    await t.run({ quiet: true });
    const good = listCheckpoints(out);
    // The same run resumed on data that turned bad (a NaN pixel in every sample).
    const poisoned: Dataset = {
      ...data,
      get: (i) => {
        const x = Float32Array.from(data.get(i).x);
        x[5] = NaN;
        return { x, label: data.label(i) };
      },
    };
    const bad = await Trainer.create(gpu, cfg, options(out, { steps: 40 }), poisoned, out);
    await rejects(
      () => bad.run({ quiet: true }),
      /Loss became non-finite .* last good checkpoint is intact: .*ckpt-00000003/,
    );
    deepEqual(listCheckpoints(out), good);
    assert((await loadCheckpoint(out)).step === 3);
  },
);

Deno.test("a checkpoint write killed midway leaves the previous checkpoint loadable", async () => {
  const dir = await Deno.makeTempDir();
  const writer = `
    import { saveCheckpoint } from "${new URL("../src/model/checkpoint.ts", import.meta.url)}";
    const cfg = JSON.parse(Deno.args[0]);
    const big = new Float32Array(64 * 1024 * 1024);
    const t = (n) => ({ dtype: "F32", shape: [n.length], data: n });
    await saveCheckpoint(Deno.args[1], { config: cfg, step: 1, trainer: {} }, { w: t(new Float32Array(4)) }, 5);
    console.log("first");
    await saveCheckpoint(Deno.args[1], { config: cfg, step: 2, trainer: {} }, { w: t(big) }, 5);
    console.log("second");`;
  const file = `${dir}/writer.ts`;
  await Deno.writeTextFile(file, writer);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", file, JSON.stringify(cfg), `${dir}/run`],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  assert(new TextDecoder().decode(value).includes("first"));
  // Kill the writer once the 256 MiB second write has its temporary file open.
  const hasTemp = () => [...Deno.readDirSync(`${dir}/run`)].some((e) => e.name.endsWith(".tmp"));
  for (let i = 0; i < 2000 && !hasTemp(); i++) await new Promise((r) => setTimeout(r, 5));
  assert(hasTemp(), "the second write never started");
  child.kill("SIGKILL");
  await child.status;
  reader.releaseLock();
  await child.stdout.cancel().catch(() => {});
  // The killed writer's temporary file is stale: a run starting or resuming removes it, and only it.
  const temps = () =>
    [...Deno.readDirSync(`${dir}/run`)].map((e) => e.name).filter((n) => n.endsWith(".tmp"));
  const live = `${dir}/run/.ckpt-00000009.safetensors.${Deno.pid}.zz.tmp`;
  await Deno.writeFile(live, new Uint8Array(8));
  const stale = temps().filter((n) => !n.includes(`.${Deno.pid}.`));
  assert(stale.length === 1, `expected the killed writer's temporary file, found ${stale}`);
  deepEqual(await removeStaleTemps(`${dir}/run`), stale);
  deepEqual(temps(), [live.split("/").pop()]);
  await Deno.remove(live);
  const ck = await loadCheckpoint(`${dir}/run`);
  assert(ck.step === 1 || ck.step === 2);
  if (ck.step === 2) assert(ck.file.float32("w").length === 64 * 1024 * 1024);
  deepEqual(ck.file.float32(ck.step === 1 ? "w" : "w").length > 0, true);
});

for (
  const [args, pattern] of [
    [["--preset", "nope"], /Unknown preset "nope"/],
    [["--data", "/nonexistent/folder"], /nonexistent/],
    [["--steps", "ten"], /--steps expects a number/],
    // Flags are checked before any data is read.
    [["--data", "/nonexistent/folder", "--lr", "fast"], /--lr expects a number/],
  ] as const
) {
  Deno.test(`deno task train ${args.join(" ")} fails clearly and writes nothing`, async () => {
    const out = `${await Deno.makeTempDir()}/run`;
    const r = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../src/cli/train.ts", import.meta.url).pathname,
        ...args,
        "--out",
        out,
      ],
      env: { XDG_RUNTIME_DIR: "/tmp" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert(r.code === 1, `exit ${r.code}`);
    const err = new TextDecoder().decode(r.stderr);
    assert(pattern.test(err), err);
    await rejects(() => Deno.stat(out));
  });
}

gpuTest(
  "training on three classes of blobs gives class-correct samples (trainer + sampler end to end)",
  async (gpu) => {
    const C = 4, H = 8;
    // Class k: a disc at row 2 + 2k in channel k (alpha on), everything else "transparent".
    const proto = (k: number) => {
      const x = new Float32Array(C * H * H);
      for (let c = 0; c < C; c++) {
        for (let r = 0; r < H; r++) {
          for (let q = 0; q < H; q++) {
            const inside = Math.hypot(r - 2 - 2 * k, q - 3.5) < 2.2;
            x[(c * H + r) * H + q] = inside ? (c === k || c === 3 ? 0.9 : -0.8) : -0.9;
          }
        }
      }
      return x;
    };
    const protos = [0, 1, 2].map(proto);
    const data: Dataset = {
      name: "discs",
      numClasses: 3,
      classNames: ["a", "b", "c"],
      shape: [C, H, H],
      length: 90,
      label: (i) => i % 3,
      get: (i) => ({ x: protos[i % 3], label: i % 3 }),
    };
    const out = await Deno.makeTempDir();
    const t = await Trainer.create(
      gpu,
      cfg,
      options(out, {
        steps: 400,
        batch: 16,
        lr: 2e-3,
        warmup: 20,
        logEvery: 50,
        ckptEvery: 400,
        emaDecay: 0.99,
      }),
      data,
    );
    await t.run({ quiet: true });
    const copy = gpu.program("ema");
    copy.copy(t.optim.ema!, t.sampler.model.params);
    gpu.submit(copy);
    t.sampler.denoiser.weightsChanged();
    const L = C * H * H;
    for (let k = 0; k < 3; k++) {
      const { x0 } = await t.sampler.denoiser.sample({
        sampler: "ddim-eta1",
        steps: 30,
        seeds: [1, 2, 3, 4],
        labels: [k, k, k, k],
      });
      const mse = protos.map((p) => {
        let s = 0;
        for (let n = 0; n < 4; n++) for (let i = 0; i < L; i++) s += (x0[n * L + i] - p[i]) ** 2;
        return s / (4 * L);
      });
      const others = mse.filter((_, j) => j !== k);
      // Measured here: 0.02-0.05 to the own class against 0.4-0.5 to the others.
      assert(mse[k] < 0.5 * Math.min(...others), `class ${k}: ${mse.map((m) => m.toFixed(3))}`);
    }
  },
);
