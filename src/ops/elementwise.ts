/** Activations and adds (kernels/elementwise.wgsl). */
import type { Program, Tensor } from "../gpu/gpu.ts";
import { expectSize, launch, scalarOrVec4, vec4Aligned } from "./_launch.ts";

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
  await launch(
    p,
    "elementwise",
    vec4 ? `${entry}4` : entry,
    scalarOrVec4(p, vec4, [a, bb], out),
    (stride) => [items, stride, 0, 0],
    items,
    256,
    constants,
  );
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
