/**
 * GPU launchers for the diffusion kernels: one sampler step from a coefficient table
 * (`kernels/sampler_step.wgsl`) and forward noising for training (`kernels/add_noise.wgsl`).
 * Philox normal noise is an op of its own (`src/ops/philox_normal.ts`).
 *
 * All of them only record dispatches into a {@linkcode Program}: a whole trajectory (noise draws,
 * model calls recorded by the model code, sampler steps) is recorded once and submitted without
 * reading anything back between steps. Per-step values (step index, noise stream) live in small
 * uniform buffers created at record time.
 */
import type { Gpu, Kernel, Program, Tensor } from "../gpu/gpu.ts";
import { vec4Aligned } from "../ops/_launch.ts";
import { compileKernel, kernelRecord, recordKernel } from "../ops/_kernel.ts";
import type { NoiseSchedule } from "./schedule.ts";
import { addNoiseTable, packPlan, type SamplerPlan } from "./samplers.ts";

const WG = 256;
const MAX_WG = 65535;

/** 1-D grid covering `count` invocations of `wg`, folded into y past 65535 workgroups. */
function grid(count: number, wg: number): [number, number, number] {
  const groups = Math.ceil(count / wg);
  return [Math.min(groups, MAX_WG), Math.ceil(groups / MAX_WG), 1];
}

/** kernels/sampler_step.wgsl. */
export const SAMPLER_STEP = kernelRecord("sampler_step");

/** kernels/add_noise.wgsl. */
export const ADD_NOISE = kernelRecord("add_noise");

/** Buffers of one sampler step. Shapes in elements; N samples of L elements each. */
export interface StepBuffers {
  /** Sample x_t, updated in place to x_prev. [N, L] */
  x: Tensor;
  /** Model output. [N, epsStride] (eps is the first L values of each sample's row) */
  eps: Tensor;
  /** Previous x0 in, this step's (clipped) x0 out. [N, L] */
  x0: Tensor;
  /** Standard normal noise for this step; required when the step's `s != 0`. [N, L] */
  noise?: Tensor;
  /** Elements per sample L (default: all of x, i.e. N = 1 layout-wise). */
  perSample?: number;
  /** Elements per sample in `eps` (default L). */
  epsStride?: number;
}

/**
 * Runs a {@linkcode SamplerPlan} on the GPU: the plan's rows live in a storage buffer
 * `[numSteps, 8]`; {@linkcode GpuSampler.record} records step k.
 */
export class GpuSampler {
  private constructor(
    readonly gpu: Gpu,
    readonly plan: SamplerPlan,
    readonly table: Tensor,
    readonly kernel: Kernel,
    readonly kernel4: Kernel,
  ) {}

  /** Uploads the plan's coefficient table and compiles the step kernels. */
  static async create(gpu: Gpu, plan: SamplerPlan): Promise<GpuSampler> {
    const packed = packPlan(plan);
    const table = gpu.upload(packed, [plan.numSteps, 8], `sampler_table/${plan.sampler}`);
    const kernel = await compileKernel(gpu, SAMPLER_STEP, "main", { WG });
    const kernel4 = await compileKernel(gpu, SAMPLER_STEP, "main4", { WG });
    return new GpuSampler(gpu, plan, table, kernel, kernel4);
  }

  /** Records step `k` (x and x0 updated in place). */
  record(program: Program, k: number, b: StepBuffers): void {
    const row = this.plan.rows[k];
    if (!row) throw new Error(`Step ${k} is outside the ${this.plan.numSteps}-step plan`);
    const count = b.x.size;
    const L = b.perSample ?? count;
    const stride = b.epsStride ?? L;
    if (count % L !== 0) throw new Error(`Sample of ${count} values is not a multiple of ${L}`);
    if (stride < L || b.eps.size < (count / L) * stride - (stride - L)) {
      throw new Error(
        `Model output [${b.eps.shape}] is too small for ${count / L} x ${L} (stride ${stride})`,
      );
    }
    if (b.x0.size !== count) throw new Error(`x0 [${b.x0.shape}] does not match x [${b.x.shape}]`);
    if (row.s !== 0 && (!b.noise || b.noise.size !== count)) {
      throw new Error(`Step ${k} adds noise: pass a noise tensor of ${count} values`);
    }
    const noise = b.noise ?? b.eps;
    const N = count / L;
    // Four elements per invocation where the layout allows (see sampler_step.wgsl).
    const vec4 = L % 4 === 0 && stride % 4 === 0 && N <= MAX_WG &&
      vec4Aligned(this.table, b.eps, noise, b.x, b.x0);
    recordKernel(program, SAMPLER_STEP, vec4 ? this.kernel4 : this.kernel, {
      bind: vec4
        ? { table4: this.table, eps4: b.eps, noise4: noise, x4: b.x, x04: b.x0 }
        : { table: this.table, eps: b.eps, noise, x: b.x, x0: b.x0 },
      uniforms: { step: k, count, per_sample: L, eps_stride: stride },
      workgroups: vec4 ? [Math.ceil(L / 4 / WG), N, 1] : grid(count, WG),
    });
  }
}

/** Forward noising for training: `out = sqrt(ab[t_n]) x0 + sqrt(1 - ab[t_n]) noise`. */
export class GpuAddNoise {
  private constructor(readonly gpu: Gpu, readonly table: Tensor, readonly kernel: Kernel) {}

  /** Uploads the schedule's `[T, 2]` table and compiles the kernel. */
  static async create(gpu: Gpu, schedule: NoiseSchedule): Promise<GpuAddNoise> {
    const table = gpu.upload(
      addNoiseTable(schedule),
      [schedule.numTrainTimesteps, 2],
      "add_noise_table",
    );
    return new GpuAddNoise(gpu, table, await compileKernel(gpu, ADD_NOISE, "main", { WG }));
  }

  /**
   * Records `out = add_noise(x0, noise, t)`. `x0`, `noise`, `out`: [N, L]; `t`: [N] holding u32
   * timesteps (write them with `gpu.write(t, Uint32Array)`).
   */
  record(program: Program, b: { x0: Tensor; noise: Tensor; t: Tensor; out: Tensor }): void {
    const count = b.x0.size;
    const N = b.t.size;
    if (count % N !== 0 || b.noise.size !== count || b.out.size !== count) {
      throw new Error(
        `Add noise shapes do not match: x0 [${b.x0.shape}], noise [${b.noise.shape}], out [${b.out.shape}], t [${b.t.shape}]`,
      );
    }
    recordKernel(program, ADD_NOISE, this.kernel, {
      bind: { table: this.table, t: b.t, x0: b.x0, noise: b.noise, out: b.out },
      uniforms: { count, per_sample: count / N },
      workgroups: grid(count, WG),
    });
  }
}

/** Creates a [N] tensor of u32 timesteps for {@linkcode GpuAddNoise.record}. */
export function uploadTimesteps(gpu: Gpu, t: ArrayLike<number>, label = "timesteps"): Tensor {
  const tensor = gpu.tensor([t.length], label);
  gpu.write(tensor, Uint32Array.from(t));
  return tensor;
}
