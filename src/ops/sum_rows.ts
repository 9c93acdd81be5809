/** Column sums (`kernels/reduce.wgsl`): bias gradients and the learnable position embedding's. */
import type { Program, Tensor } from "../gpu/gpu.ts";
import { expectSize, grid, vec4Aligned } from "./_launch.ts";
import { dispatch, kernelRecord, uniformBlock } from "./_kernel.ts";

/** kernels/reduce.wgsl. */
export const REDUCE = kernelRecord("reduce");

/** Rows per chunk of a long column sum (see {@linkcode sumRows}). */
const SUM_ROWS_CHUNK = 64;

/**
 * out[b, c] (+)= sum_r x[b, r, c]. Columns longer than two chunks of 64 rows are summed in chunks
 * (partial sums, then their sum): bias gradients sum over every token of the batch, and one
 * invocation per column walking all of them leaves a GPU nearly idle.
 */
export async function sumRows(
  p: Program,
  x: Tensor,
  B: number,
  R: number,
  C: number,
  out: Tensor,
  accumulate = false,
): Promise<void> {
  expectSize(x, B * R * C, "sum_rows x");
  expectSize(out, B * C, "sum_rows out");
  const vec4 = C % 4 === 0 && vec4Aligned(x);
  const x4 = vec4 ? x : undefined;
  const lanes = vec4 ? B * C / 4 : B * C;
  const constants = { ACCUMULATE: accumulate ? 1 : 0, VEC4: vec4 ? 1 : 0 };
  const chunks = Math.ceil(R / SUM_ROWS_CHUNK);
  const groups = Math.ceil(lanes / 64);
  const maxGroups = p.gpu.device.limits.maxComputeWorkgroupsPerDimension;
  if (chunks <= 2 || groups > maxGroups || chunks > maxGroups) {
    const { wg, stride } = grid(p.gpu, lanes, 64);
    await dispatch(p, REDUCE, {
      entry: "sum_rows",
      bind: { x, out, x4 },
      uniforms: { B, R, C, stride, rowsPerChunk: 0, chunks: 0 },
      constants,
      workgroups: wg,
    });
    return;
  }
  const part = p.gpu.scratch(chunks * B * C);
  const P = {
    buffer: uniformBlock(p.gpu, REDUCE, {
      B,
      R,
      C,
      stride: 0,
      rowsPerChunk: SUM_ROWS_CHUNK,
      chunks,
    }),
  };
  await dispatch(p, REDUCE, {
    entry: "sum_rows_partial",
    bind: { x, P, part, x4 },
    constants: { VEC4: vec4 ? 1 : 0 },
    workgroups: [groups, 1, chunks],
  });
  await dispatch(p, REDUCE, {
    entry: "sum_rows_final",
    bind: { out, P, part },
    constants: { ACCUMULATE: accumulate ? 1 : 0 },
    workgroups: [Math.ceil(B * C / 64)],
  });
}
