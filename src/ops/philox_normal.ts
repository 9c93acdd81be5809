/**
 * Philox4x32-10 normal noise on the GPU (`kernels/philox_normal.wgsl`), bit-exact with the CPU
 * generator in `src/util/philox.ts`; used by sampling, training and the VAE's posterior draws.
 */
import type { Gpu, Kernel, Program, Tensor } from "../gpu/gpu.ts";
import { compileKernel, kernelRecord, recordKernel } from "./_kernel.ts";

/** kernels/philox_normal.wgsl. */
export const PHILOX_NORMAL = kernelRecord("philox_normal");

/** Most workgroups in one grid dimension (one row of noise per workgroup row). */
const MAX_WG = 65535;

/** Philox4x32-10 noise on the GPU (see `src/util/philox.ts` for the layout). */
export class GpuNoise {
  static readonly WG = 64;
  private constructor(readonly gpu: Gpu, readonly normal: Kernel, readonly bits: Kernel) {}

  /** Compiles the normal and raw-bits variants of the kernel. */
  static async create(gpu: Gpu): Promise<GpuNoise> {
    const normal = await compileKernel(gpu, PHILOX_NORMAL, "main", {
      WG: GpuNoise.WG,
      RAW_BITS: 0,
    });
    const bits = await compileKernel(gpu, PHILOX_NORMAL, "main", { WG: GpuNoise.WG, RAW_BITS: 1 });
    return new GpuNoise(gpu, normal, bits);
  }

  /**
   * Records filling `out` [N, L] with noise: row n keyed by `rows` [N, 4] u32 (seed_lo, seed_hi,
   * stream, domain; see `philoxRowTable`), stream offset `stream` added to every row's stream
   * (e.g. the step index). `raw` writes the Philox words instead of normals.
   */
  record(
    program: Program,
    b: { rows: Tensor; out: Tensor; stream?: number; raw?: boolean },
  ): void {
    const N = b.rows.size / 4;
    if (!Number.isInteger(N) || N < 1) {
      throw new Error(`Philox row table [${b.rows.shape}] is not [N, 4]`);
    }
    if (N > MAX_WG) {
      throw new Error(`Philox noise for ${N} rows exceeds ${MAX_WG} rows per dispatch`);
    }
    const count = b.out.size;
    if (count % N !== 0) throw new Error(`Noise [${b.out.shape}] is not a multiple of ${N} rows`);
    const L = count / N;
    const blocks = Math.ceil(L / 4);
    recordKernel(program, PHILOX_NORMAL, b.raw ? this.bits : this.normal, {
      bind: { rows: b.rows, out: b.out },
      uniforms: { cols: L, rows: N, stream: b.stream ?? 0 },
      workgroups: [Math.ceil(blocks / GpuNoise.WG), N, 1],
    });
  }
}

/** Creates a [N, 4] row-table tensor from `philoxRowTable(keys)` output. */
export function uploadRowTable(gpu: Gpu, table: Uint32Array, label = "philox_rows"): Tensor {
  const t = gpu.tensor([table.length / 4, 4], label);
  gpu.write(t, table);
  return t;
}

/** Reinterprets float32 readback data as the u32 words it holds. */
export function asU32(data: Float32Array): Uint32Array {
  return new Uint32Array(data.buffer, data.byteOffset, data.length);
}
