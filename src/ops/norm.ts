/** LayerNorm + adaLN modulation and the gated residual (kernels/layernorm.wgsl, gate.wgsl). */
import { f32, type Program, type Tensor } from "../gpu/gpu.ts";
import { expectSize, launch, scalarOrVec4, vec4Aligned } from "./_launch.ts";
import { canCopyRows, copyRows, placeholderTexture } from "./textures.ts";

/** Where a modulation vector sits: columns [off, off + C) of mod [B, stride]. */
export interface ModSlot {
  mod: Tensor;
  stride: number;
}

/** Shapes of a modulated LayerNorm: R = B*T rows of C. */
export interface LnShape {
  B: number;
  T: number;
  C: number;
}

function lnParams(s: LnShape, m: ModSlot, shiftOff: number, scaleOff: number) {
  return (stride: number) => [
    s.B * s.T,
    s.C,
    s.T,
    m.stride,
    shiftOff,
    scaleOff,
    stride,
    0,
    f32(1e-6),
  ];
}

/**
 * Whether a kernel can read rows of C and modulation columns as vec4s: C, the modulation stride
 * and every column offset multiples of 4, the tensors 16-byte aligned.
 */
function modVec4(s: LnShape, m: ModSlot, offsets: number[], ...tensors: Tensor[]): boolean {
  return s.C % 4 === 0 && m.stride % 4 === 0 && offsets.every((o) => o % 4 === 0) &&
    vec4Aligned(...tensors);
}

/**
 * Rows from which the four-row forward reads x from a texture: the copy is one more command (~50 us
 * of llvmpipe wake-ups), which the cheaper loads repay only over many rows (a batch-32 forward of
 * the small preset, 2,048 rows: ~0.12 ms saved per LayerNorm; one sample, 64 rows: ~5 ms slower
 * per 10 denoising steps).
 */
const LN_TEXTURE_MIN_ROWS = 1024;

/**
 * Row kernels by adapter: a workgroup per row on real GPUs (the "buffer" kernel family), one
 * invocation per row on CPU adapters, where a workgroup's lanes run one after another anyway,
 * through vec4 bindings where shapes and offsets allow. Returns the entry point, the invocation
 * count, the bindings: [x, mod, dy, mean, rstd, out] and after the uniform [x4, mod4, dy4, out4,
 * x as a texture] (each path's unused ones get placeholders), and pipeline constants. The
 * four-row forward reads x from a texture where one copy command can put it there (recorded here).
 */
function rowLaunch(
  p: Program,
  entry: string,
  s: LnShape,
  m: ModSlot,
  offsets: number[],
  [x, dy, mean, rstd, out]: Tensor[],
): {
  entry: string;
  n: number;
  before: Tensor[];
  after: (Tensor | GPUTextureView)[];
  constants: Record<string, number>;
} {
  const R = s.B * s.T;
  const [none, sink] = [p.gpu.dummyU32(), p.gpu.sink()];
  const noTex = placeholderTexture(p.gpu);
  const vec4 = p.gpu.info.matmul !== "buffer" && modVec4(s, m, offsets, x, m.mod, dy, out);
  if (vec4) {
    // The forward takes four rows of a sample per invocation where samples split into fours.
    const four = entry === "ln_forward" && s.T % 4 === 0;
    const tex = four && R >= LN_TEXTURE_MIN_ROWS && canCopyRows(p.gpu, x, s.B, s.T, s.C);
    return {
      entry: four ? "ln_forward4r" : `${entry}4`,
      n: four ? R / 4 : R,
      before: [none, none, none, mean, rstd, sink],
      after: [tex ? none : x, m.mod, dy, out, tex ? copyRows(p, x, s.B, s.T, s.C, "ln-x") : noTex],
      constants: tex ? { X_TEX: 1 } : {},
    };
  }
  const before = [x, m.mod, dy, mean, rstd, out];
  const after = [none, none, none, sink, noTex];
  return p.gpu.info.matmul === "buffer"
    ? { entry: `${entry}_wg`, n: R * 64, before, after, constants: {} }
    : { entry, n: R, before, after, constants: {} };
}

/** y = LN(x) * (1 + scale) + shift; saves mean and rstd [R]. */
export async function lnModForward(
  p: Program,
  s: LnShape,
  x: Tensor,
  m: ModSlot,
  shiftOff: number,
  scaleOff: number,
  y: Tensor,
  mean: Tensor,
  rstd: Tensor,
): Promise<void> {
  const R = s.B * s.T;
  expectSize(x, R * s.C, "ln x");
  expectSize(y, R * s.C, "ln y");
  expectSize(m.mod, s.B * m.stride, "ln mod");
  const rows = rowLaunch(p, "ln_forward", s, m, [shiftOff, scaleOff], [x, x, mean, rstd, y]);
  const params = lnParams(s, m, shiftOff, scaleOff);
  await launch(
    p,
    "layernorm",
    rows.entry,
    rows.before,
    params,
    rows.n,
    64,
    rows.constants,
    rows.after,
  );
}

/** dx (+)= d LN-mod / dx; dmod[shift], dmod[scale] = their gradients. */
export async function lnModBackward(
  p: Program,
  s: LnShape,
  x: Tensor,
  m: ModSlot,
  shiftOff: number,
  scaleOff: number,
  mean: Tensor,
  rstd: Tensor,
  dy: Tensor,
  dx: Tensor,
  dmod: Tensor,
  accumulate: boolean,
): Promise<void> {
  const params = lnParams(s, m, shiftOff, scaleOff);
  const rows = rowLaunch(p, "ln_backward", s, m, [shiftOff, scaleOff], [x, dy, mean, rstd, dx]);
  const acc = { ...rows.constants, ACCUMULATE: accumulate ? 1 : 0 };
  await launch(p, "layernorm", rows.entry, rows.before, params, rows.n, 64, acc, rows.after);
  const [none, sink] = [p.gpu.dummyU32(), p.gpu.sink()];
  const vec4 = modVec4(s, m, [shiftOff, scaleOff], x, dy, dmod);
  await launch(
    p,
    "layernorm",
    vec4 ? "ln_backward_mod4" : "ln_backward_mod",
    vec4 ? [none, none, none, mean, rstd, sink] : [x, m.mod, dy, mean, rstd, dmod],
    params,
    vec4 ? s.B * s.C / 4 : s.B * s.C,
    64,
    {},
    [...(vec4 ? [x, none, dy, dmod] : [none, none, none, sink]), placeholderTexture(p.gpu)],
  );
}

function gateParams(s: LnShape, m: ModSlot, gateOff: number) {
  return (stride: number) => [s.B * s.T, s.C, s.T, m.stride, gateOff, stride, 0, 0];
}

/**
 * Records gate.wgsl's elementwise `entry` (out = f(x, y, gate)), four columns per invocation when
 * the shapes and offsets allow vec4 bindings.
 */
async function gateElementwise(
  p: Program,
  entry: string,
  s: LnShape,
  m: ModSlot,
  gateOff: number,
  x: Tensor,
  y: Tensor,
  out: Tensor,
) {
  const vec4 = modVec4(s, m, [gateOff], x, y, out);
  await launch(
    p,
    "gate",
    vec4 ? `${entry}4` : entry,
    scalarOrVec4(p, vec4, [x, y], out, [m.mod]),
    gateParams(s, m, gateOff),
    vec4 ? x.size / 4 : x.size,
    256,
  );
}

/** out = x + gate * y. */
export async function gateForward(
  p: Program,
  s: LnShape,
  x: Tensor,
  y: Tensor,
  m: ModSlot,
  gateOff: number,
  out: Tensor,
): Promise<void> {
  expectSize(y, x.size, "gate y");
  await gateElementwise(p, "gate_forward", s, m, gateOff, x, y, out);
}

/** dy = gate * dout; dmod[gate] = sum_t dout * y. */
export async function gateBackward(
  p: Program,
  s: LnShape,
  dout: Tensor,
  y: Tensor,
  m: ModSlot,
  gateOff: number,
  dy: Tensor,
  dmod: Tensor,
): Promise<void> {
  const params = gateParams(s, m, gateOff);
  await gateElementwise(p, "gate_backward_y", s, m, gateOff, dout, y, dy);
  const vec4 = modVec4(s, m, [gateOff], dout, y, dmod);
  await launch(
    p,
    "gate",
    vec4 ? "gate_backward_gate4" : "gate_backward_gate",
    scalarOrVec4(p, vec4, [dout, y], dmod, [m.mod]),
    params,
    vec4 ? s.B * s.C / 4 : s.B * s.C,
    64,
  );
}
