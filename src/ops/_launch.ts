/** Shared launch helpers for the op launchers (grids, alignment, size checks). */
import type { Gpu, Tensor } from "../gpu/gpu.ts";

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

/** Whether every tensor starts on a whole vec4 (so it can be bound as `array<vec4f>`). */
export function vec4Aligned(...tensors: Tensor[]): boolean {
  return tensors.every((t) => t.offset % 4 === 0);
}

/** Throws unless the tensor has exactly `size` elements. */
export function expectSize(t: Tensor, size: number, what: string): void {
  if (t.size !== size) throw new Error(`${what}: expected ${size} elements, got [${t.shape}]`);
}
