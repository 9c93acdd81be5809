/**
 * Sinusoidal timestep features (`kernels/timestep_features.wgsl`), formed as torch forms them in
 * float32: each architecture's frequency formula evaluated operation by operation with float32
 * rounding (the table below), then `t * freq` rounded to float32 on the GPU, so the arguments are
 * torch's bit for bit wherever the exponentials round alike; the kernel's own sin/cos stay accurate
 * up to thousands of radians on every adapter.
 */
import type { Gpu, Program, Tensor } from "../gpu/gpu.ts";
import { expectSize } from "./_launch.ts";
import { dispatch, kernelRecord } from "./_kernel.ts";

/** kernels/timestep_features.wgsl. */
export const TIMESTEP_FEATURES = kernelRecord("timestep_features");

/** Which upstream convention: "official" DiT (cos first) or the seed's dit.py (sin first). */
export type TimestepVariant = "official" | "seed";

const f = Math.fround;

/**
 * The float32 frequencies torch computes, `[half]`:
 * - official (`timestep_embedding`): `exp(-ln(10000) * arange(half, float32) / half)`, half =
 *   floor(D / 2): the product, then the division, then exp, each rounded to float32;
 * - seed (dit.py): `exp(arange(half) * -(ln(10000) / (half - 1)))`, half = D / 2 (D even, >= 4): the
 *   scale rounds to float32 once, then the product, then exp.
 */
export function timestepFrequencies(D: number, variant: TimestepVariant): Float32Array {
  const half = Math.floor(D / 2);
  if (variant === "official") {
    if (half < 1) throw new Error(`Timestep feature width must be at least 2, got ${D}`);
    const scale = f(-Math.log(10000));
    return Float32Array.from({ length: half }, (_, k) => Math.exp(f(f(scale * k) / half)));
  }
  if (variant !== "seed") throw new Error(`Unknown timestep variant "${variant}"`);
  if (D % 2 !== 0 || half < 2) {
    throw new Error(`Seed timestep feature width must be even and at least 4, got ${D}`);
  }
  const scale = f(-(Math.log(10000) / (half - 1)));
  return Float32Array.from({ length: half }, (_, k) => Math.exp(f(k * scale)));
}

/** Uploaded frequency tables per device, by width and variant (a few hundred bytes each). */
const tables = new WeakMap<Gpu, Map<string, Tensor>>();

function frequencyTable(gpu: Gpu, D: number, variant: TimestepVariant): Tensor {
  let byKey = tables.get(gpu);
  if (!byKey) tables.set(gpu, byKey = new Map());
  const key = `${variant}/${D}`;
  let t = byKey.get(key);
  if (!t) {
    const freq = timestepFrequencies(D, variant);
    t = gpu.upload(freq, [freq.length], `timestep_freq_${key}`);
    byKey.set(key, t);
  }
  return t;
}

/** Sinusoidal timestep features [N, D] of float timesteps t [N]. */
export async function timestepFeatures(
  p: Program,
  t: Tensor,
  out: Tensor,
  N: number,
  D: number,
  variant: TimestepVariant,
): Promise<void> {
  expectSize(out, N * D, "timestep features");
  const freq = frequencyTable(p.gpu, D, variant);
  const maxGroups = p.gpu.device.limits.maxComputeWorkgroupsPerDimension;
  if (N > maxGroups) throw new Error(`Timestep features for ${N} samples exceed ${maxGroups}`);
  await dispatch(p, TIMESTEP_FEATURES, {
    entry: "timestep_features",
    bind: { t, freq, out },
    uniforms: { N, D, half: freq.size },
    constants: { SIN_FIRST: variant === "seed" ? 1 : 0 },
    workgroups: [Math.ceil(D / 64), N],
  });
}
