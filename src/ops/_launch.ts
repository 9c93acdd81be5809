/** Shared launch helpers for the op launchers. */
import type { F32, Gpu, Program, Tensor } from "../gpu/gpu.ts";

/**
 * Workgroup grid covering `n` invocations of a 1-D kernel of `size` threads: [x, y] workgroups and
 * the invocation stride of one y step (kernels compute i = g.x + g.y * stride).
 */
export function grid(gpu: Gpu, n: number, size: number): { wg: [number, number]; stride: number } {
  const groups = Math.max(1, Math.ceil(n / size));
  const max = gpu.device.limits.maxComputeWorkgroupsPerDimension;
  const x = Math.min(groups, max);
  const y = Math.ceil(groups / x);
  return { wg: [x, y], stride: x * size };
}

/** Records one dispatch of `file`.`entry` over `n` invocations with the given uniform values. */
export async function launch(
  p: Program,
  file: string,
  entry: string,
  resources: (Tensor | GPUBindingResource)[],
  params: (stride: number) => (number | F32)[],
  n: number,
  size: number,
  constants: Record<string, number> = {},
): Promise<void> {
  const kernel = await p.gpu.kernel(file, constants, entry);
  const { wg, stride } = grid(p.gpu, n, size);
  const uniform = p.gpu.uniform(params(stride), `${file}.${entry}`);
  p.dispatch(kernel, [...resources, { buffer: uniform }], wg);
}

/** Throws unless the tensor has exactly `size` elements. */
export function expectSize(t: Tensor, size: number, what: string): void {
  if (t.size !== size) throw new Error(`${what}: expected ${size} elements, got [${t.shape}]`);
}
