/**
 * Conditioned sampling without classifier-free guidance, wholly on the GPU: initial noise from
 * the per-sample Philox stream (or given), then every step (timestep copy, network forward,
 * sampler update, step noise) recorded into one program and submitted at once, with a single
 * readback of the result. A sample depends only on its own seed and condition, never on the
 * batch it runs in (batches are padded to their bucket size, see GpuDenoiser.bucket, with throwaway
 * samples).
 */
import type { Gpu, Program, Tensor } from "../gpu/gpu.ts";
import { GpuSampler } from "../diffusion/gpu_step.ts";
import { GpuNoise } from "../ops/philox_normal.ts";
import { philoxRowTable } from "../util/philox.ts";
import type { BetaSchedule } from "../diffusion/schedule.ts";
import { DiTGraph } from "../model/graph.ts";
import type { DiTModel } from "../model/model.ts";
import { initialNoiseKey, stepNoiseKey } from "./noise.ts";
import { type DiffusionSettings, makeSampler, REGRESSION_SAMPLER } from "./samplers.ts";

/** What to sample. */
export interface SampleJob {
  /** Sampler name (see SAMPLERS). */
  sampler: string;
  /** Number of denoising steps. */
  steps: number;
  /** One seed per sample (u53 integers); its length is the number of samples. */
  seeds: number[];
  /** Class labels [n] (class-conditioned models). */
  labels?: ArrayLike<number>;
  /** Condition vectors [n * dim] (vector-conditioned models). */
  cond?: Float32Array;
  /** Initial noise x_T [n * L] instead of the seeded draw. */
  noise?: Float32Array;
}

/** Timing of one {@linkcode GpuDenoiser.sample} call. */
export interface SampleTiming {
  /** Host time to record or fetch the program and write inputs. */
  encodeMs: number;
  /** Submit to result on the host, including the single readback. */
  gpuMs: number;
}

interface Recorded {
  graph: DiTGraph;
  program: Program;
  /** The same work split per step (index 0 also draws the initial noise), for previews. */
  steps: Program[];
  /** The sampler's x0 estimate after each step [B, L]. */
  x0: Tensor;
  rows: Tensor; // [B, 4] Philox row keys of the initial noise
  stepRows: Tensor; // [B, 4] the same seeds in the per-step noise domain
  tTable: Tensor; // [steps, B] float timesteps
  /** Buffers owned by this recording alone (destroyed when it is evicted). */
  owned: GPUBuffer[];
}

/**
 * Recorded programs kept at most (least recently used evicted): clients choose step counts and
 * samplers freely, and each recording holds GPU buffers, so an unbounded cache would let them
 * grow the server's memory without limit.
 */
const MAX_PROGRAMS = 32;

/**
 * Samples from a model; keeps recorded programs per (batch, sampler, steps), the most recently
 * used {@linkcode GpuDenoiser.maxPrograms} of them. Runs one job at a time: await each
 * {@linkcode GpuDenoiser.sample} before starting the next.
 */
export class GpuDenoiser {
  #graphs = new Map<number, DiTGraph>();
  #programs = new Map<string, Recorded>();
  #noise?: GpuNoise;
  /** Largest accepted step count: the number of training timesteps. */
  readonly maxSteps: number;
  /** Elements per sample. */
  readonly L: number;
  /** The training schedule's beta schedule. */
  readonly betaSchedule: BetaSchedule;
  /** The diffusion settings every sampler of this model uses (see checkpointDiffusion). */
  readonly settings: Required<DiffusionSettings>;

  /**
   * Samples from `model` on its training schedule: a beta schedule name (1000 timesteps, clip 1)
   * or the full settings, e.g. a policy's 100 timesteps.
   */
  constructor(
    readonly gpu: Gpu,
    readonly model: DiTModel,
    schedule: BetaSchedule | DiffusionSettings = "squaredcos_cap_v2",
  ) {
    const s = typeof schedule === "string" ? { betaSchedule: schedule } : schedule;
    this.settings = {
      betaSchedule: s.betaSchedule ?? "squaredcos_cap_v2",
      numTrainTimesteps: s.numTrainTimesteps ?? 1000,
      clipSample: s.clipSample ?? 1,
    };
    this.betaSchedule = this.settings.betaSchedule;
    this.maxSteps = this.settings.numTrainTimesteps;
    const d = model.cfg.input;
    this.L = d.kind === "image" ? d.channels * d.size * d.size : d.channels * d.length;
  }

  /** How many recorded programs are kept now (at most {@linkcode GpuDenoiser.maxPrograms}). */
  get recordedPrograms(): number {
    return this.#programs.size;
  }

  /** Most recorded programs kept; older ones are evicted and their buffers destroyed. */
  static readonly maxPrograms: number = MAX_PROGRAMS;

  /**
   * The padded batch size for n samples: powers of two up to 8, then multiples of 8. Each size
   * gets its own graph and programs, so sizes are few; past 8 they are multiples of 8 rather than
   * powers of two because a crowd of clients often leaves batches of 20-30 (a batch of 20 runs as
   * 24, ~20% less work than 32).
   */
  static bucket(n: number): number {
    const m = Math.max(1, n);
    return m <= 8 ? 2 ** Math.ceil(Math.log2(m)) : Math.ceil(m / 8) * 8;
  }

  async #graph(B: number): Promise<DiTGraph> {
    let g = this.#graphs.get(B);
    if (!g) {
      g = await DiTGraph.build(this.gpu, this.model, { batch: B, training: false });
      this.#graphs.set(B, g);
      this.gpu.submit(g.pack);
    }
    return g;
  }

  /** Re-packs weights after the parameters changed (texture path). */
  weightsChanged(): void {
    for (const g of this.#graphs.values()) this.gpu.submit(g.pack);
  }

  async #record(B: number, sampler: string, steps: number, givenNoise: boolean): Promise<Recorded> {
    const key = `${B}/${sampler}/${steps}/${givenNoise}`;
    const hit = this.#programs.get(key);
    if (hit) {
      this.#programs.delete(key); // most recently used last
      this.#programs.set(key, hit);
      return hit;
    }
    const gpu = this.gpu;
    const graph = await this.#graph(B);
    const plan = makeSampler(sampler, this.settings).plan(steps);
    const gs = await GpuSampler.create(gpu, plan);
    this.#noise ??= await GpuNoise.create(gpu);
    const p = gpu.program(`sample/${key}`);
    const rows = gpu.tensor([B, 4], "philox_rows");
    const stepRows = gpu.tensor([B, 4], "philox_step_rows");
    const tTable = gpu.tensor([plan.numSteps, B], "t_table");
    const t = new Float32Array(plan.numSteps * B);
    plan.rows.forEach((r, k) => t.fill(r.t, k * B, (k + 1) * B));
    gpu.write(tTable, t);
    const L = this.L;
    const x0 = gpu.tensor([B, L], "x0_pred");
    const stepNoise = plan.noisy ? gpu.tensor([B, L], "step_noise") : undefined;
    const stepPrograms: Program[] = [];
    // A regression network maps a zero input to the sample in one forward pass.
    if (sampler === REGRESSION_SAMPLER) p.clear(graph.x);
    else if (!givenNoise) this.#noise.record(p, { rows, out: graph.x, stream: 0 });
    for (let k = 0; k < plan.numSteps; k++) {
      const before = p.cmds.length;
      p.copy(tTable.slice(k * B, [B]), graph.t);
      p.append(graph.forward);
      if (plan.rows[k].s !== 0 && stepNoise) {
        // Step noise: the same per-sample key, domain "step", stream k.
        this.#noise.record(p, { rows: stepRows, out: stepNoise, stream: k });
      }
      gs.record(p, k, {
        x: graph.x,
        eps: graph.out,
        x0,
        noise: stepNoise,
        perSample: L,
        epsStride: graph.out.size / B,
      });
      const sp = gpu.program(`sample/${key}/step${k}`);
      sp.cmds.push(...p.cmds.slice(k === 0 ? 0 : before));
      stepPrograms.push(sp);
    }
    const owned = [x0, rows, stepRows, tTable, gs.table, ...(stepNoise ? [stepNoise] : [])]
      .map((t) => t.buffer);
    const rec = { graph, program: p, steps: stepPrograms, x0, rows, stepRows, tTable, owned };
    this.#programs.set(key, rec);
    for (const [old, r] of this.#programs) {
      if (this.#programs.size <= MAX_PROGRAMS) break;
      // Jobs run one at a time (each awaits its readback), so no evicted program is in flight.
      this.#programs.delete(old);
      for (const b of r.owned) b.destroy();
    }
    return rec;
  }

  /**
   * Runs a job; returns x0 [n * L] and timings. One submit and one readback, unless `onPreview`
   * is given: then each step is submitted and its x0 estimate read back (one ~10 ms readback per
   * step on Deno) and passed to `onPreview(step, x0 [n * L])`, step counting from 1.
   */
  async sample(
    job: SampleJob,
    onPreview?: (step: number, x0: Float32Array) => void,
  ): Promise<{ x0: Float32Array; timing: SampleTiming }> {
    const t0 = performance.now();
    const n = job.seeds.length;
    if (n < 1) throw new Error("A sample job needs at least one seed");
    if (!Number.isInteger(job.steps) || job.steps < 1 || job.steps > this.maxSteps) {
      throw new Error(`Steps must be an integer in [1, ${this.maxSteps}], got ${job.steps}`);
    }
    if (job.sampler === REGRESSION_SAMPLER && job.noise) {
      throw new Error("The regression sampler takes no initial noise (its input is zero)");
    }
    const B = GpuDenoiser.bucket(n);
    const rec = await this.#record(B, job.sampler, job.steps, !!job.noise);
    const gpu = this.gpu;
    const cond = this.model.cfg.condition;
    // Pad to B with copies of sample 0's inputs (their results are dropped).
    const pad = <T>(a: ArrayLike<T>, per: number): T[] => {
      const out: T[] = [];
      for (let i = 0; i < B; i++) {
        for (let j = 0; j < per; j++) out.push(a[(i < n ? i : 0) * per + j]);
      }
      return out;
    };
    const seeds = pad(job.seeds, 1);
    gpu.write(rec.rows, philoxRowTable(seeds.map((s) => initialNoiseKey(s))));
    gpu.write(rec.stepRows, philoxRowTable(seeds.map((s) => stepNoiseKey(s))));
    const t = new Float32Array(B); // the program copies each step's timesteps over these
    if (cond.kind === "class") {
      if (!job.labels || job.labels.length !== n) throw new Error(`Expected ${n} class labels`);
      rec.graph.setConditioning(t, pad(job.labels, 1));
    } else if (cond.kind === "vector") {
      if (!job.cond || job.cond.length !== n * cond.dim) {
        throw new Error(`Expected cond [${n}, ${cond.dim}]`);
      }
      rec.graph.setConditioning(t, undefined, Float32Array.from(pad(job.cond, cond.dim)));
    }
    if (job.noise) {
      if (job.noise.length !== n * this.L) throw new Error(`Expected noise [${n}, ${this.L}]`);
      for (let i = 0; i < job.noise.length; i++) {
        if (!Number.isFinite(job.noise[i])) throw new Error(`Noise value at ${i} is not finite`);
      }
      gpu.write(rec.graph.x, Float32Array.from(pad(job.noise, this.L)));
    }
    const t1 = performance.now();
    if (onPreview) {
      for (let k = 0; k < rec.steps.length - 1; k++) {
        gpu.submit(rec.steps[k]);
        const [est] = await gpu.read(rec.x0.slice(0, [n * this.L]));
        onPreview(k + 1, est);
      }
      gpu.submit(rec.steps[rec.steps.length - 1]);
    } else gpu.submit(rec.program);
    const [x] = await gpu.read(rec.graph.x);
    const t2 = performance.now();
    return { x0: x.slice(0, n * this.L), timing: { encodeMs: t1 - t0, gpuMs: t2 - t1 } };
  }
}
