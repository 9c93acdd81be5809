/**
 * AdamW (decoupled weight decay, PyTorch semantics), global gradient-norm clipping and the EMA of
 * the weights, all on the GPU over the flat parameter layout: recorded once, per-step values
 * (learning rate, bias corrections, EMA decay with warm-up) in a uniform rewritten before each
 * submit. Flat arrays are
 * processed in chunks so that no binding exceeds the device's limit.
 */
import type { Gpu, Program, Tensor } from "../gpu/gpu.ts";
import { grid } from "../ops/_launch.ts";
import {
  compileKernel,
  kernelRecord,
  recordKernel,
  uniformBlock,
  uniformWords,
} from "../ops/_kernel.ts";

/** kernels/optim.wgsl. */
export const OPTIM = kernelRecord("optim");

/** Hyper-parameters of {@linkcode GpuAdamW}. */
export interface AdamWConfig {
  /** Learning rate. */
  lr: number;
  /** First-moment decay. */
  beta1: number;
  /** Second-moment decay. */
  beta2: number;
  /** Denominator epsilon. */
  eps: number;
  /** Decoupled weight decay. */
  weightDecay: number;
  /** Global gradient-norm clip (0 = off). */
  clipNorm: number;
  /** EMA decay (0 = no EMA). */
  emaDecay: number;
}

/** Elements per dispatch chunk (64 MiB of floats). */
const CHUNK = 16 * 1024 * 1024;
/** Workgroups of the gradient-norm pass (each leaves 256 partial sums). */
const PARTIALS = 64;

/** The optimizer state and its recorded step program. */
export class GpuAdamW {
  /** First moments, flat. */
  readonly m: Tensor;
  /** Second moments, flat. */
  readonly v: Tensor;
  /** EMA weights, flat (null without EMA). */
  readonly ema: Tensor | null;
  /** normsq[0] = squared global gradient norm of the last step. */
  readonly normsq: Tensor;
  /** Norm, AdamW and EMA as one program. */
  readonly program: Program;
  #uniforms: GPUBuffer[] = [];
  #chunks: { off: number; n: number }[] = [];

  private constructor(
    readonly gpu: Gpu,
    readonly params: Tensor,
    readonly grads: Tensor,
    readonly cfg: AdamWConfig,
  ) {
    const n = params.size;
    if (n % 4 || params.offset % 4 || grads.size !== n || grads.offset % 4) {
      throw new Error(`Optimizer: parameters and gradients must be vec4-aligned (${n} values)`);
    }
    this.m = gpu.tensor([n], "adam.m");
    this.v = gpu.tensor([n], "adam.v");
    this.ema = cfg.emaDecay > 0 ? gpu.tensor([n], "ema") : null;
    this.normsq = gpu.tensor([64], "grad_normsq");
    this.program = gpu.program("optimizer");
    for (let off = 0; off < n; off += CHUNK) {
      this.#chunks.push({ off, n: Math.min(CHUNK, n - off) });
    }
  }

  /** Records the step program: norm, AdamW (with clipping), EMA. */
  static async create(
    gpu: Gpu,
    params: Tensor,
    grads: Tensor,
    cfg: AdamWConfig,
  ): Promise<GpuAdamW> {
    const o = new GpuAdamW(gpu, params, grads, cfg);
    await o.#record();
    return o;
  }

  async #record(): Promise<void> {
    const gpu = this.gpu;
    const p = this.program;
    const scratch = gpu.tensor([4 * 256 * PARTIALS], "norm_partials");
    const k = (e: string) => compileKernel(gpu, OPTIM, e);
    const [partial, final, adam, ema] = [
      await k("sumsq_partial"),
      await k("sumsq_final"),
      await k("adamw"),
      await k("ema"),
    ];
    // Placeholders for bindings an entry point does not touch (never aliased with a written one).
    const unusedP = gpu.tensor([64], "unused.p");
    const unusedM = gpu.tensor([64], "unused.m");
    const unusedV = gpu.tensor([64], "unused.v");
    p.clear(this.normsq);
    for (const c of this.#chunks) {
      const g = this.grads.slice(c.off, [c.n]);
      const P = {
        buffer: uniformBlock(gpu, OPTIM, {
          n: c.n / 4,
          stride: 0,
          count: PARTIALS,
          slot: 0,
          lr: 0,
          beta1: 0,
          beta2: 0,
          eps: 0,
          weightDecay: 0,
          bc1: 0,
          bc2: 0,
          maxNorm: 0,
          decay: 0,
        }),
      };
      const normsq = this.normsq;
      recordKernel(p, OPTIM, partial, {
        bind: { p: unusedP, g, m: scratch, v: unusedV, normsq, P },
        workgroups: [PARTIALS],
      });
      recordKernel(p, OPTIM, final, {
        bind: { p: unusedP, m: scratch, v: unusedV, normsq, P },
        workgroups: [1],
      });
    }
    for (const c of this.#chunks) {
      const { wg, stride } = grid(gpu, c.n / 4, 256);
      const u = uniformBlock(gpu, OPTIM, this.#values(c.n / 4, stride, 1, this.cfg.lr));
      this.#uniforms.push(u);
      const sl = (t: Tensor) => t.slice(c.off, [c.n]);
      const [normsq, P] = [this.normsq, { buffer: u }];
      recordKernel(p, OPTIM, adam, {
        bind: { p: sl(this.params), g: sl(this.grads), m: sl(this.m), v: sl(this.v), normsq, P },
        workgroups: wg,
      });
      if (this.ema) {
        recordKernel(p, OPTIM, ema, {
          bind: { p: sl(this.ema), g: sl(this.params), m: unusedM, v: unusedV, normsq, P },
          workgroups: wg,
        });
      }
    }
  }

  #values(n: number, stride: number, step: number, lr: number): Record<string, number> {
    const c = this.cfg;
    // EMA warm-up: early in training the average must not be dominated by the (zero-output,
    // adaLN-Zero) initial weights, so the decay ramps up as (1 + step) / (10 + step).
    const decay = Math.min(c.emaDecay, (1 + step) / (10 + step));
    return {
      n,
      stride,
      count: 0,
      slot: 0,
      lr,
      beta1: c.beta1,
      beta2: c.beta2,
      eps: c.eps,
      weightDecay: c.weightDecay,
      bc1: 1 - c.beta1 ** step,
      bc2: 1 - c.beta2 ** step,
      maxNorm: c.clipNorm,
      decay,
    };
  }

  /** Sets step-dependent values (1-based step, learning rate) before the program's next submit. */
  prepare(step: number, lr: number): void {
    this.#chunks.forEach((c, i) => {
      const { stride } = grid(this.gpu, c.n / 4, 256);
      this.gpu.setUniform(
        this.#uniforms[i],
        uniformWords(OPTIM, this.#values(c.n / 4, stride, step, lr)),
      );
    });
  }

  /** Initialises the EMA to the current parameters (recorded into `p`). */
  initEma(p: Program): void {
    if (this.ema) p.copy(this.params, this.ema);
  }
}
