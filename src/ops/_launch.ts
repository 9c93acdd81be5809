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

/**
 * Records one dispatch of `file`.`entry` over `n` invocations with the given uniform values, bound
 * after `resources` (and before `after`, for kernels that declare bindings past the uniform).
 */
export async function launch(
  p: Program,
  file: string,
  entry: string,
  resources: (Tensor | GPUBindingResource)[],
  params: (stride: number) => (number | F32)[],
  n: number,
  size: number,
  constants: Record<string, number> = {},
  after: (Tensor | GPUBindingResource)[] = [],
): Promise<void> {
  const kernel = await p.gpu.kernel(file, constants, entry);
  const { wg, stride } = grid(p.gpu, n, size);
  const uniform = p.gpu.uniform(params(stride), `${file}.${entry}`);
  p.dispatch(kernel, [...resources, { buffer: uniform }, ...after], wg);
}

/** Whether every tensor starts on a whole vec4 (so it can be bound as `array<vec4f>`). */
export function vec4Aligned(...tensors: Tensor[]): boolean {
  return tensors.every((t) => t.offset % 4 === 0);
}

/**
 * Resources for kernels that declare each operand twice, as `array<f32>` and as `array<vec4f>`
 * (elementwise, gate, softmax): bindings [...ins, ...shared, out, ...ins4, out4]. The path in use
 * gets the tensors; the other path's bindings get placeholders (a written buffer may not be bound
 * twice in one dispatch). `shared` are bindings without a vec4 twin.
 */
export function scalarOrVec4(
  p: Program,
  vec4: boolean,
  ins: Tensor[],
  out: Tensor,
  shared: Tensor[] = [],
): Tensor[] {
  const [none, sink] = [p.gpu.dummyU32(), p.gpu.sink()];
  const unused = ins.map(() => none);
  return vec4
    ? [...unused, ...shared, sink, ...ins, out]
    : [...ins, ...shared, out, ...unused, sink];
}

/** Throws unless the tensor has exactly `size` elements. */
export function expectSize(t: Tensor, size: number, what: string): void {
  if (t.size !== size) throw new Error(`${what}: expected ${size} elements, got [${t.shape}]`);
}
