/**
 * The training loop: epsilon-prediction diffusion with the simple MSE loss (or, for the regression
 * baseline, MSE onto the clean sample from a zero input), AdamW with optional warm-up and cosine
 * decay, gradient clipping and accumulation, EMA weights, label dropout; progress bar, JSONL
 * metrics, validation loss at fixed timestep buckets, pictures from the EMA weights and loss
 * plots, atomic checkpoints and exact resume. Image models and robot policies share this loop;
 * their data sits behind a BatchSource (`batch_source.ts`, `policy_batches.ts`).
 *
 * Per step the host writes the batch, timesteps and labels, then submits one recorded program
 * (noise draw, noising, forward, loss, backward, optimizer, weight packing). The loss is read
 * back only every `logEvery` steps.
 */
import type { Gpu, Program, Tensor } from "../gpu/gpu.ts";
import { GpuAddNoise } from "../diffusion/gpu_step.ts";
import { GpuNoise } from "../ops/philox_normal.ts";
import { NoiseDomain, philoxRowTable } from "../util/philox.ts";
import { type BetaSchedule, makeSchedule } from "../diffusion/schedule.ts";
import { dims, type DiTConfig } from "../model/config.ts";
import { DiTGraph } from "../model/graph.ts";
import { DiTModel } from "../model/model.ts";
import { GpuDenoiser } from "../sample/denoiser.ts";
import { REGRESSION_SAMPLER, REGRESSION_TIMESTEP } from "../sample/samplers.ts";
import type { Dataset } from "../data/dataset.ts";
import { lossPlotPng } from "../data/plot.ts";
import type { PolicyObjective } from "../policy/spec.ts";
import { removeStaleTemps, writeFileAtomic } from "../io/atomic.ts";
import { hash32 } from "../util/prng.ts";
import { Progress } from "../util/progress.ts";
import { GpuAdamW } from "./optimizer.ts";
import { loadCheckpoint, saveCheckpoint } from "../model/checkpoint.ts";
import { type BatchSource, ImageBatches, type SampleFn, type TrainBatch } from "./batch_source.ts";
import { isPolicyData, PolicyBatches, type PolicyData } from "./policy_batches.ts";

/** Trainer options (CLI flags map onto these). */
export interface TrainOptions {
  /** Optimizer steps to train. */
  steps: number;
  /** Samples per micro-batch. */
  batch: number;
  /** Peak learning rate. */
  lr: number;
  /** Seed of init, data order, timesteps and noise. */
  seed: number;
  /** Run directory. */
  out: string;
  /** AdamW beta1. */
  beta1: number;
  /** AdamW beta2. */
  beta2: number;
  /** AdamW decoupled weight decay. */
  weightDecay: number;
  /** EMA decay (0 = no EMA). */
  emaDecay: number;
  /** Global gradient-norm clip (0 = off). */
  clipNorm: number;
  /** Linear warm-up steps. */
  warmup: number;
  /** Cosine decay to 10% after warm-up. */
  cosine: boolean;
  /** Micro-batches per optimizer step. */
  accum: number;
  /** Steps between loss readbacks and log lines. */
  logEvery: number;
  /** Steps between sample grids (0 = only at the end). */
  sampleEvery: number;
  /** Steps between checkpoints. */
  ckptEvery: number;
  /** Checkpoints kept. */
  keep: number;
  /** Steps between validation passes (0 = off). */
  valEvery: number;
  /** Denoising steps of the grids. */
  sampleSteps: number;
  /** Sampler of the grids. */
  sampler: string;
  /** Noise schedule. */
  betaSchedule: BetaSchedule;
  /** Diffusion training timesteps T: t is drawn from [0, T) (images 1000, Push-T 100). */
  numTrainTimesteps: number;
  /** "epsilon" (diffusion) or "regression" (MSE onto the clean sample, no diffusion). */
  objective: PolicyObjective;
}

/** Defaults: AdamW lr 1e-4, betas 0.9/0.999, no weight decay, EMA 0.9999 (the seed's). */
export const DEFAULT_TRAIN: Omit<TrainOptions, "out"> = {
  steps: 1000,
  batch: 32,
  lr: 1e-4,
  seed: 0,
  beta1: 0.9,
  beta2: 0.999,
  weightDecay: 0,
  emaDecay: 0.9999,
  clipNorm: 1,
  warmup: 0,
  cosine: false,
  accum: 1,
  logEvery: 10,
  sampleEvery: 200,
  ckptEvery: 100,
  keep: 3,
  valEvery: 100,
  sampleSteps: 50,
  sampler: "ddim-eta1",
  betaSchedule: "squaredcos_cap_v2",
  numTrainTimesteps: 1000,
  objective: "epsilon",
};

/** Learning rate at 1-based `step`: linear warm-up, then constant or cosine to 10% of lr. */
export function learningRate(o: TrainOptions, step: number): number {
  if (o.warmup > 0 && step <= o.warmup) return o.lr * step / o.warmup;
  if (!o.cosine) return o.lr;
  const t = Math.min(1, (step - o.warmup) / Math.max(1, o.steps - o.warmup));
  return o.lr * (0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * t)));
}

/** One metrics record (a line of metrics.jsonl). */
export interface MetricsRecord {
  /** Optimizer steps done when the record was taken. */
  step: number;
  /** Mean training loss over the steps since the previous record. */
  loss?: number;
  /** Validation loss, on steps where validation ran. */
  valLoss?: number;
  /** Learning rate at this step. */
  lr?: number;
  /** Training examples per second since the previous record (batch x accum per step). */
  samplesPerSec?: number;
  /** Global gradient norm of the last step (before clipping). */
  gradNorm?: number;
  /** Seconds since this {@linkcode Trainer.run} call started. */
  seconds: number;
}

/** What a finished (or interrupted) run reports. */
export interface TrainResult {
  /** Steps done. */
  step: number;
  /** Mean training loss of the last log interval. */
  lastLoss: number;
  /** Last validation loss, if any. */
  lastValLoss: number | null;
  /** Newest checkpoint path. */
  checkpoint: string | null;
  /** Whether a stop request ended the run. */
  interrupted: boolean;
  /** Every logged record. */
  history: MetricsRecord[];
}

/** Hooks for tests and the CLI. */
export interface TrainHooks {
  /** Called after each logged step; the loop waits for a returned promise. */
  onLog?: (r: MetricsRecord) => void | Promise<void>;
  /** Quiet progress (tests). */
  quiet?: boolean;
  /** Returns true to stop after the current step (Ctrl-C). */
  shouldStop?: () => boolean;
  /** Called with each micro-batch's timesteps [batch] as they are written (tests). */
  onTimesteps?: (t: readonly number[]) => void;
}

/** The trainer; create with {@linkcode Trainer.create}. */
export class Trainer {
  /** Optimizer steps done. */
  step = 0;
  /** Logged records. */
  readonly history: MetricsRecord[] = [];
  #lastCkpt: string | null = null;
  #valHist?: Tensor;
  #valSlots: Program[] = [];
  #progress: Progress | null = null;

  private constructor(
    readonly gpu: Gpu,
    readonly cfg: DiTConfig,
    readonly opts: TrainOptions,
    /** @internal */
    readonly source: BatchSource,
    readonly model: DiTModel,
    /** @internal */
    readonly graph: DiTGraph,
    /** @internal */
    readonly optim: GpuAdamW,
    /** @internal */
    readonly programs: {
      first: Program;
      micro: Program;
      update: Program;
      slots: Program[];
      val: Program;
    },
    /** @internal */
    readonly io: { x0: Tensor; tU32: Tensor; rows: Tensor; lossHist: Tensor },
    readonly sampler: { model: DiTModel; denoiser: GpuDenoiser },
  ) {}

  /**
   * Builds model, graph, optimizer and programs; resumes from `resume` when given. `data` is an
   * image dataset (image models) or policy data (sequence models with a vector condition).
   */
  static async create(
    gpu: Gpu,
    cfg: DiTConfig,
    opts: TrainOptions,
    data: Dataset | PolicyData,
    resume?: string,
  ): Promise<Trainer> {
    const ckpt = resume ? await loadCheckpoint(resume) : null;
    if (ckpt) {
      cfg = ckpt.config;
      const saved = ckpt.trainer.options as
        | Partial<TrainOptions & { labelDropout: number }>
        | undefined;
      // Checkpoints that kept the dropout among the options resume with the rate they ran with.
      if (saved?.labelDropout !== undefined) cfg = { ...cfg, classDropout: saved.labelDropout };
      // A resumed run keeps its own hyper-parameters; only the step budget may grow.
      opts = { ...opts, ...saved, steps: Math.max(opts.steps, saved?.steps ?? 0), out: opts.out };
    }
    validateOptions(opts);
    const regression = opts.objective === "regression";
    const source: BatchSource = isPolicyData(data)
      ? new PolicyBatches(data, cfg, opts, {
        ...data.spec,
        numTrainTimesteps: opts.numTrainTimesteps,
        objective: opts.objective,
        sampler: regression ? REGRESSION_SAMPLER : opts.sampler,
        steps: regression ? 1 : opts.sampleSteps,
      })
      : new ImageBatches(data, cfg, opts);
    const model = DiTModel.create(gpu, cfg, { training: true, seed: opts.seed });
    const graph = await DiTGraph.build(gpu, model, {
      batch: opts.batch,
      training: true,
      lossScale: 1 / opts.accum,
    });
    const optim = await GpuAdamW.create(gpu, model.params, model.grads!, {
      lr: opts.lr,
      beta1: opts.beta1,
      beta2: opts.beta2,
      eps: 1e-8,
      weightDecay: opts.weightDecay,
      clipNorm: opts.clipNorm,
      emaDecay: opts.emaDecay,
    });
    const d = dims(cfg);
    const B = opts.batch;
    const L = d.T * d.F;
    const x0 = gpu.tensor([B, L], "x0");
    const tU32 = gpu.tensor([B], "t_u32");
    const rows = gpu.tensor([B, 4], "train_noise_rows");
    const lossHist = gpu.tensor([Math.max(64, opts.logEvery)], "loss_history");
    const schedule = makeSchedule({
      betaSchedule: opts.betaSchedule,
      numTrainTimesteps: opts.numTrainTimesteps,
    });
    const noising = gpu.program("noising");
    if (regression) {
      // The baseline: a zero input, the clean sample as the target.
      noising.copy(x0, graph.target);
      noising.clear(graph.x);
    } else {
      // Noise draw (the target) and forward noising x_t = sqrt(ab) x0 + sqrt(1-ab) eps.
      const addNoise = await GpuAddNoise.create(gpu, schedule);
      const noise = await GpuNoise.create(gpu);
      noise.record(noising, { rows, out: graph.target });
      addNoise.record(noising, { x0, noise: graph.target, t: tU32, out: graph.x });
    }
    const micro = gpu.program("train-micro");
    micro.append(noising);
    micro.append(graph.forward);
    micro.append(graph.lossAndBackward);
    const first = gpu.program("train-first");
    first.clear(model.grads!);
    first.append(micro);
    const update = gpu.program("train-update");
    update.append(optim.program);
    update.append(graph.pack);
    const slots = [];
    for (let i = 0; i < opts.logEvery; i++) {
      const s = gpu.program(`loss-slot-${i}`);
      s.copy(graph.loss.slice(0, [1]), lossHist.slice(i, [1]));
      slots.push(s);
    }
    const val = gpu.program("validation");
    val.append(noising);
    val.append(graph.forward);
    val.append(graph.lossOnly);
    const infer = DiTModel.create(gpu, cfg, { training: false });
    const denoiser = new GpuDenoiser(gpu, infer, {
      betaSchedule: opts.betaSchedule,
      numTrainTimesteps: opts.numTrainTimesteps,
      clipSample: source.policy?.clipSample ?? 1,
    });
    const t = new Trainer(gpu, cfg, opts, source, model, graph, optim, {
      first,
      micro,
      update,
      slots,
      val,
    }, {
      x0,
      tU32,
      rows,
      lossHist,
    }, { model: infer, denoiser });
    if (ckpt) t.#restore(ckpt);
    else {
      const init = gpu.program("init");
      optim.initEma(init);
      gpu.submit(init, graph.pack);
    }
    return t;
  }

  #restore(ckpt: Awaited<ReturnType<typeof loadCheckpoint>>): void {
    this.model.loadStateDict(ckpt.file, { allowExtra: true });
    const expectFlat = (name: string, dst: Tensor) => {
      if (!ckpt.file.has(name)) throw new Error(`${ckpt.path} lacks ${name}`);
      const v = ckpt.file.float32(name);
      if (v.length !== dst.size) {
        throw new Error(`${ckpt.path}: ${name} has ${v.length} values, expected ${dst.size}`);
      }
      this.gpu.write(dst, v);
    };
    expectFlat("optim.m", this.optim.m);
    expectFlat("optim.v", this.optim.v);
    if (this.optim.ema) expectFlat("optim.ema", this.optim.ema);
    this.step = ckpt.step;
    const st = ckpt.trainer.iterator;
    if (!st) throw new Error(`${ckpt.path} lacks the data iterator state`);
    this.source.restore(st);
    const hist = ckpt.trainer.history as MetricsRecord[] | undefined;
    if (hist) this.history.push(...hist);
    this.gpu.submit(this.graph.pack);
    this.#lastCkpt = ckpt.path;
  }

  /**
   * Per-sample timestep in [0, numTrainTimesteps) (the regression baseline's fixed one) and label
   * dropout, derived from (seed, step, micro, i): resumable.
   */
  #conditioning(step: number, micro: number, labels?: Int32Array): { t: number[]; y: number[] } {
    const t: number[] = [];
    const y: number[] = [];
    const c = this.cfg.condition;
    const regression = this.opts.objective === "regression";
    for (let i = 0; i < this.opts.batch; i++) {
      const h = hash32(this.opts.seed, step, micro, i);
      t.push(regression ? REGRESSION_TIMESTEP : h % this.opts.numTrainTimesteps);
      let label = labels?.[i] ?? 0;
      if (c.kind === "class" && c.nullClass && this.cfg.classDropout > 0) {
        const u = hash32(this.opts.seed ^ 0x5bd1e995, step, micro, i) / 4294967296;
        if (u < this.cfg.classDropout) label = c.numClasses;
      }
      y.push(label);
    }
    return { t, y };
  }

  #writeBatch(b: TrainBatch, step: number, micro: number, noiseSeed: number): number[] {
    const { t, y } = this.#conditioning(step, micro, b.labels);
    this.gpu.write(this.io.x0, b.x);
    this.gpu.write(this.io.tU32, Uint32Array.from(t));
    this.graph.setConditioning(t, this.cfg.condition.kind === "class" ? y : undefined, b.cond);
    const B = this.opts.batch;
    const keys = [];
    for (let i = 0; i < B; i++) {
      keys.push({
        seed: noiseSeed,
        stream: (step * this.opts.accum + micro) * B + i,
        domain: NoiseDomain.train,
      });
    }
    this.gpu.write(this.io.rows, philoxRowTable(keys));
    return t;
  }

  /** Runs one optimizer step (accum micro-batches). Returns nothing: losses are read in batches. */
  #trainStep(onTimesteps?: (t: readonly number[]) => void): void {
    const step = this.step + 1;
    for (let m = 0; m < this.opts.accum; m++) {
      const t = this.#writeBatch(this.source.next(), step, m, this.opts.seed);
      onTimesteps?.(t);
      const slot = this.programs.slots[(step - 1) % this.opts.logEvery];
      this.gpu.submit(m === 0 ? this.programs.first : this.programs.micro, slot);
    }
    this.optim.prepare(step, learningRate(this.opts, step));
    this.gpu.submit(this.programs.update);
    this.step = step;
  }

  /**
   * Mean validation loss over the held-out split at fixed timestep buckets (5%, 25%, 50%, 75% and
   * 95% of the training timesteps; the regression baseline's one timestep) and fixed noise.
   */
  async validationLoss(): Promise<number | null> {
    if (!this.source.hasValidation) return null;
    const B = this.opts.batch;
    const T = this.opts.numTrainTimesteps;
    const buckets = this.opts.objective === "regression"
      ? [REGRESSION_TIMESTEP]
      : [0.05, 0.25, 0.5, 0.75, 0.95].map((f) => Math.round(f * T));
    const batches = [...this.source.validation(B)];
    const passes = batches.length * buckets.length;
    // Each pass's loss is copied into its slot; one readback at the end.
    if (!this.#valHist || this.#valHist.size < passes) {
      this.#valHist = this.gpu.tensor([passes], "val_losses");
      this.#valSlots = [];
    }
    const hist = this.#valHist;
    let bi = 0;
    for (const b of batches) {
      for (const t of buckets) {
        const tt = new Array(B).fill(t);
        this.gpu.write(this.io.x0, b.x);
        this.gpu.write(this.io.tU32, Uint32Array.from(tt));
        this.graph.setConditioning(
          tt,
          this.cfg.condition.kind === "class" ? b.labels : undefined,
          b.cond,
        );
        const keys = [];
        for (let i = 0; i < B; i++) {
          keys.push({ seed: 0x7a11d, stream: bi * B + i, domain: NoiseDomain.train });
        }
        this.gpu.write(this.io.rows, philoxRowTable(keys));
        let slot = this.#valSlots[bi];
        if (!slot) {
          slot = this.#valSlots[bi] = this.gpu.program(`val-slot-${bi}`);
          slot.copy(this.graph.loss.slice(1, [1]), hist.slice(bi, [1]));
        }
        this.gpu.submit(this.programs.val, slot);
        bi++;
      }
    }
    const [losses] = await this.gpu.read(hist.slice(0, [bi]));
    return losses.reduce((a, b) => a + b, 0) / bi;
  }

  /**
   * Seconds one picture takes with `steps` sampler steps (the run's own sampler and batch; the
   * regression baseline's picture is one pass whatever `steps` says).
   */
  async pictureSeconds(steps: number): Promise<number> {
    const keep = this.opts.sampleSteps;
    this.opts.sampleSteps = steps;
    try {
      const t0 = performance.now();
      await this.picture();
      return (performance.now() - t0) / 1000;
    } finally {
      this.opts.sampleSteps = keep;
    }
  }

  /** Prints a line above the progress bar (or plainly when no bar is shown). */
  note(line: string): void {
    if (this.#progress) this.#progress.note(line);
    else console.log(line);
  }

  /**
   * Samples from the EMA weights with the run's sampler (the regression baseline: its one forward
   * pass). Returns x0 [n, L].
   * @internal
   */
  sample: SampleFn = async (job) => {
    const { model: infer, denoiser } = this.sampler;
    const copy = this.gpu.program("ema-to-sampler");
    copy.copy(this.optim.ema ?? this.model.params, infer.params);
    copy.copy(this.model.frozen, infer.frozen);
    this.gpu.submit(copy);
    denoiser.weightsChanged();
    const regression = this.opts.objective === "regression";
    const { x0 } = await denoiser.sample({
      sampler: regression ? REGRESSION_SAMPLER : this.opts.sampler,
      steps: regression ? 1 : this.opts.sampleSteps,
      ...job,
    });
    return x0;
  };

  /**
   * The run's picture from the EMA weights (PNG bytes): an image model's sample grid (one row per
   * class, 7 fixed seeds shared by every row), a policy's chunks (see PolicyBatches.picture).
   */
  picture(): Promise<Uint8Array> {
    return this.source.picture(this.sample);
  }

  async #saveArtifacts(withGrid: boolean): Promise<void> {
    const dir = this.opts.out;
    await Deno.mkdir(dir, { recursive: true });
    const train = this.history.filter((r) => r.loss !== undefined).map((r) =>
      [r.step, r.loss!] as const
    );
    const val = this.history.filter((r) => r.valLoss !== undefined).map((r) =>
      [r.step, r.valLoss!] as const
    );
    if (train.length > 1) {
      await writeFileAtomic(
        `${dir}/loss.png`,
        lossPlotPng(train, val, { logY: true, title: "loss", xLabel: "step" }),
      );
    }
    if (withGrid) {
      const png = await this.picture();
      const name = this.source.pictureName;
      await writeFileAtomic(`${dir}/${name}-${String(this.step).padStart(8, "0")}.png`, png);
      await writeFileAtomic(`${dir}/${name}.png`, png);
    }
  }

  /** Saves a checkpoint of the current state (atomic; keeps the last N). */
  async save(): Promise<string> {
    const sd = await this.model.stateDict();
    const reads = [this.optim.m, this.optim.v, ...(this.optim.ema ? [this.optim.ema] : [])];
    const [m, v, ema] = await this.gpu.read(...reads);
    const tensors = { ...sd };
    tensors["optim.m"] = { dtype: "F32", shape: [m.length], data: m };
    tensors["optim.v"] = { dtype: "F32", shape: [v.length], data: v };
    if (ema) tensors["optim.ema"] = { dtype: "F32", shape: [ema.length], data: ema };
    const path = await saveCheckpoint(
      this.opts.out,
      {
        config: this.cfg,
        step: this.step,
        trainer: {
          options: this.opts,
          iterator: this.source.state(),
          history: this.history,
          dataset: this.source.describe(),
        },
        ...(this.source.policy ? { policy: this.source.policy } : {}),
      },
      tensors,
      this.opts.keep,
    );
    this.#lastCkpt = path;
    return path;
  }

  /** Trains until `opts.steps` (or a stop request); returns what happened. */
  async run(hooks: TrainHooks = {}): Promise<TrainResult> {
    const o = this.opts;
    await Deno.mkdir(o.out, { recursive: true });
    // A writer killed mid-file (SIGKILL, power loss) leaves its temporary file behind.
    const stale = await removeStaleTemps(o.out);
    if (stale.length && !hooks.quiet) {
      console.log(`removed ${stale.length} stale temporary file(s)`);
    }
    const metrics = await Deno.open(`${o.out}/metrics.jsonl`, { append: true, create: true });
    const enc = new TextEncoder();
    const progress = hooks.quiet
      ? null
      : new Progress({ total: o.steps, label: "train", every: o.logEvery, startStep: this.step });
    this.#progress = progress;
    const t0 = performance.now();
    let lastLoss = NaN;
    let lastVal: number | null = null;
    let interrupted = false;
    let windowStart = performance.now();
    try {
      while (this.step < o.steps) {
        this.#trainStep(hooks.onTimesteps);
        const step = this.step;
        const logNow = step % o.logEvery === 0 || step === o.steps;
        if (!logNow && !hooks.shouldStop?.()) continue;
        const n = (step - 1) % o.logEvery + 1;
        const [hist, normsq] = await this.gpu.read(this.io.lossHist, this.optim.normsq);
        const losses = Array.from(hist.subarray(0, n));
        const bad = losses.findIndex((l) => !Number.isFinite(l));
        if (bad >= 0) {
          throw new Error(
            `Loss became non-finite (${losses[bad]}) at step ${step - n + 1 + bad}; stopping. ` +
              `The last good checkpoint is intact: ${this.#lastCkpt ?? "none written yet"}`,
          );
        }
        lastLoss = losses.reduce((a, b) => a + b, 0) / n;
        const now = performance.now();
        const rec: MetricsRecord = {
          step,
          loss: lastLoss,
          lr: learningRate(o, step),
          samplesPerSec: (n * o.batch * o.accum) / ((now - windowStart) / 1000),
          gradNorm: Math.sqrt(normsq[0]),
          seconds: (now - t0) / 1000,
        };
        windowStart = now;
        if (o.valEvery > 0 && (step % o.valEvery === 0 || step === o.steps)) {
          lastVal = await this.validationLoss();
          if (lastVal !== null) rec.valLoss = lastVal;
        }
        this.history.push(rec);
        await metrics.write(enc.encode(JSON.stringify(rec) + "\n"));
        await hooks.onLog?.(rec);
        // A time budget fixes the step count at an early log line.
        if (progress) progress.total = o.steps;
        progress?.update(step, {
          loss: lastLoss,
          samples: n * o.batch * o.accum,
          extra: lastVal !== null ? { val: lastVal.toPrecision(4) } : {},
        });
        const grid = o.sampleEvery > 0 && step % o.sampleEvery === 0;
        if (step % o.ckptEvery === 0 || step === o.steps) await this.save();
        if (grid || step === o.steps) await this.#saveArtifacts(grid || step === o.steps);
        if (hooks.shouldStop?.()) {
          interrupted = true;
          await this.save();
          await this.#saveArtifacts(false);
          break;
        }
      }
    } finally {
      metrics.close();
      progress?.done();
      this.#progress = null;
    }
    return {
      step: this.step,
      lastLoss,
      lastValLoss: lastVal,
      checkpoint: this.#lastCkpt,
      interrupted,
      history: this.history,
    };
  }
}

function validateOptions(o: TrainOptions): void {
  const int = (k: keyof TrainOptions, min: number) => {
    const v = o[k] as number;
    if (!Number.isInteger(v) || v < min) {
      throw new Error(`Option ${k} must be an integer >= ${min}, got ${v}`);
    }
  };
  int("steps", 1);
  int("batch", 1);
  int("accum", 1);
  int("logEvery", 1);
  int("keep", 1);
  int("ckptEvery", 1);
  int("sampleSteps", 1);
  int("numTrainTimesteps", 1);
  if (o.objective !== "epsilon" && o.objective !== "regression") {
    throw new Error(`Option objective must be epsilon or regression, got ${o.objective}`);
  }
  if (!(o.lr > 0) || !Number.isFinite(o.lr)) {
    throw new Error(`Learning rate must be positive, got ${o.lr}`);
  }
  if (!(o.emaDecay >= 0 && o.emaDecay < 1)) {
    throw new Error(`EMA decay must be in [0, 1), got ${o.emaDecay}`);
  }
}
