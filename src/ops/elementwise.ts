/** Activations and adds (kernels/elementwise.wgsl). */
import type { Program, Tensor } from "../gpu/gpu.ts";
import { expectSize, grid, vec4Aligned } from "./_launch.ts";
import { dispatch, kernelRecord } from "./_kernel.ts";

/** kernels/elementwise.wgsl (each entry also as `<entry>4`, four elements per invocation). */
export const ELEMENTWISE = kernelRecord("elementwise");

type Unary = "silu" | "gelu";

async function run(
  p: Program,
  entry: string,
  a: Tensor,
  b: Tensor | null,
  out: Tensor,
  accumulate: boolean,
  period = 1,
): Promise<void> {
  const n = out.size;
  expectSize(a, n, entry);
  const bb = b ?? a;
  // Four elements per invocation when every operand allows vec4 bindings (see elementwise.wgsl).
  const vec4 = n % 4 === 0 && (entry !== "add_bcast" || period % 4 === 0) &&
    vec4Aligned(a, bb, out);
  const items = vec4 ? n / 4 : n;
  const constants: Record<string, number> = { ACCUMULATE: accumulate ? 1 : 0 };
  if (entry === "add_bcast") constants.PERIOD = vec4 ? period / 4 : period;
  const { wg, stride } = grid(p.gpu, items, 256);
  await dispatch(p, ELEMENTWISE, {
    entry: vec4 ? `${entry}4` : entry,
    bind: vec4 ? { a4: a, b4: bb, out4: out } : { a, b: bb, out },
    uniforms: { n: items, stride },
    constants,
    workgroups: wg,
  });
}

/** out = act(x). */
export function activationForward(p: Program, act: Unary, x: Tensor, out: Tensor): Promise<void> {
  return run(p, `${act}_forward`, x, null, out, false);
}

/** dx (+)= dy * act'(x). */
export function activationBackward(
  p: Program,
  act: Unary,
  x: Tensor,
  dy: Tensor,
  dx: Tensor,
  accumulate = false,
): Promise<void> {
  expectSize(dy, x.size, `${act}_backward dy`);
  return run(p, `${act}_backward`, x, dy, dx, accumulate);
}

/** out (+)= a + b. */
export function add(p: Program, a: Tensor, b: Tensor, out: Tensor, accumulate = false) {
  expectSize(b, a.size, "add");
  return run(p, "add", a, b, out, accumulate);
}

/** out = a + b[i % b.size] (b broadcast over leading dimensions). */
export function addBroadcast(p: Program, a: Tensor, b: Tensor, out: Tensor): Promise<void> {
  if (a.size % b.size) throw new Error(`add_bcast: [${b.shape}] does not tile [${a.shape}]`);
  return run(p, "add_bcast", a, b, out, false, b.size);
}
