/** LayerNorm + adaLN modulation and the gated residual (kernels/layernorm.wgsl, gate.wgsl). */
import type { Program, Tensor } from "../gpu/gpu.ts";
import { expectSize, grid, vec4Aligned } from "./_launch.ts";
import { type Bindings, dispatch, kernelRecord } from "./_kernel.ts";
import { canCopyRows, copyRows } from "./textures.ts";

/** kernels/layernorm.wgsl. */
export const LAYERNORM = kernelRecord("layernorm");

/** kernels/gate.wgsl (each entry also as `<entry>4`, four columns per invocation). */
export const GATE = kernelRecord("gate");

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

/** layernorm.wgsl's uniforms (eps 1e-6, as both upstream architectures). */
function lnUniforms(
  s: LnShape,
  m: ModSlot,
  shiftOff: number,
  scaleOff: number,
  stride: number,
): Record<string, number> {
  const { C, T } = s;
  return { R: s.B * T, C, T, modStride: m.stride, shiftOff, scaleOff, stride, eps: 1e-6 };
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
 * count, the bindings and pipeline constants. The four-row forward reads x from a texture where
 * one copy command can put it there (recorded here).
 */
function rowLaunch(
  p: Program,
  entry: "ln_forward" | "ln_backward",
  s: LnShape,
  m: ModSlot,
  offsets: number[],
  { x, dy, mean, rstd, out }: Record<"x" | "dy" | "mean" | "rstd" | "out", Tensor>,
): { entry: string; n: number; bind: Bindings; constants: Record<string, number> } {
  const R = s.B * s.T;
  const vec4 = p.gpu.info.matmul !== "buffer" && modVec4(s, m, offsets, x, m.mod, dy, out);
  if (vec4) {
    // The forward takes four rows of a sample per invocation where samples split into fours.
    const four = entry === "ln_forward" && s.T % 4 === 0;
    const tex = four && R >= LN_TEXTURE_MIN_ROWS && canCopyRows(p.gpu, x, s.B, s.T, s.C);
    return {
      entry: four ? "ln_forward4r" : `${entry}4`,
      n: four ? R / 4 : R,
      bind: {
        mean,
        rstd,
        x4: tex ? undefined : x,
        mod4: m.mod,
        dy4: dy,
        out4: out,
        xt: tex ? copyRows(p, x, s.B, s.T, s.C, "ln-x") : undefined,
      },
      constants: tex ? { X_TEX: 1 } : {},
    };
  }
  const bind = { x, mod_: m.mod, dy, mean, rstd, out };
  return p.gpu.info.matmul === "buffer"
    ? { entry: `${entry}_wg`, n: R * 64, bind, constants: {} }
    : { entry, n: R, bind, constants: {} };
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
  // The forward reads no dy: x stands in for it.
  const rows = rowLaunch(p, "ln_forward", s, m, [shiftOff, scaleOff], {
    x,
    dy: x,
    mean,
    rstd,
    out: y,
  });
  const { wg, stride } = grid(p.gpu, rows.n, 64);
  await dispatch(p, LAYERNORM, {
    entry: rows.entry,
    bind: rows.bind,
    uniforms: lnUniforms(s, m, shiftOff, scaleOff, stride),
    constants: rows.constants,
    workgroups: wg,
  });
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
  const rows = rowLaunch(p, "ln_backward", s, m, [shiftOff, scaleOff], {
    x,
    dy,
    mean,
    rstd,
    out: dx,
  });
  const rowGrid = grid(p.gpu, rows.n, 64);
  await dispatch(p, LAYERNORM, {
    entry: rows.entry,
    bind: rows.bind,
    uniforms: lnUniforms(s, m, shiftOff, scaleOff, rowGrid.stride),
    constants: { ...rows.constants, ACCUMULATE: accumulate ? 1 : 0 },
    workgroups: rowGrid.wg,
  });
  const vec4 = modVec4(s, m, [shiftOff, scaleOff], x, dy, dmod);
  const { wg, stride } = grid(p.gpu, vec4 ? s.B * s.C / 4 : s.B * s.C, 64);
  await dispatch(p, LAYERNORM, {
    entry: vec4 ? "ln_backward_mod4" : "ln_backward_mod",
    bind: vec4
      ? { mean, rstd, x4: x, dy4: dy, out4: dmod }
      : { x, mod_: m.mod, dy, mean, rstd, out: dmod },
    uniforms: lnUniforms(s, m, shiftOff, scaleOff, stride),
    workgroups: wg,
  });
}

/** gate.wgsl's uniforms. */
function gateUniforms(s: LnShape, m: ModSlot, gateOff: number, stride: number) {
  return { R: s.B * s.T, C: s.C, T: s.T, modStride: m.stride, gateOff, stride };
}

/** gate.wgsl's bindings: x, y and out as scalars or as vec4s, and the modulation matrix. */
function gateBindings(vec4: boolean, x: Tensor, y: Tensor, mod: Tensor, out: Tensor) {
  return vec4 ? { x4: x, y4: y, mod_: mod, out4: out } : { x, y, mod_: mod, out };
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
  const { wg, stride } = grid(p.gpu, vec4 ? x.size / 4 : x.size, 256);
  await dispatch(p, GATE, {
    entry: vec4 ? `${entry}4` : entry,
    bind: gateBindings(vec4, x, y, m.mod, out),
    uniforms: gateUniforms(s, m, gateOff, stride),
    workgroups: wg,
  });
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
  await gateElementwise(p, "gate_backward_y", s, m, gateOff, dout, y, dy);
  const vec4 = modVec4(s, m, [gateOff], dout, y, dmod);
  const { wg, stride } = grid(p.gpu, vec4 ? s.B * s.C / 4 : s.B * s.C, 64);
  await dispatch(p, GATE, {
    entry: vec4 ? "gate_backward_gate4" : "gate_backward_gate",
    bind: gateBindings(vec4, dout, y, m.mod, dmod),
    uniforms: gateUniforms(s, m, gateOff, stride),
    workgroups: wg,
  });
}
