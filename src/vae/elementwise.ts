/**
 * Elementwise VAE ops on NHWC activations (kernels/vae_elementwise.wgsl, vae_posterior.wgsl): SiLU,
 * the residual add, nearest 2x upsampling (each in bands under the binding limit) and the
 * posterior (mean, logvar, std, latent) from the moments.
 */
import { f32, type Tensor } from "../gpu/gpu.ts";
import { grid } from "../ops/_launch.ts";
import { bindRange } from "./memory.ts";
import type { Act, Rec } from "./types.ts";

/** Records one elementwise entry over [0, n) units in bands; `bind` makes each band's bindings. */
async function elementwise(
  rec: Rec,
  entry: "silu" | "add" | "upsample2x",
  n: number,
  unitBytes: number,
  vec4: boolean,
  bind: (i0: number, count: number) => {
    x?: { binding: GPUBufferBinding; base: number };
    y: { binding: GPUBufferBinding; base: number };
  },
  dims: [number, number, number] = [0, 0, 0],
): Promise<void> {
  const { p, mem } = rec;
  const gpu = p.gpu;
  const kernel = await gpu.kernel("vae_elementwise", { VEC4: vec4 ? 1 : 0 }, entry);
  const per = Math.max(1, Math.floor(mem.limits.bindBytes / unitBytes));
  for (let i0 = 0; i0 < n; i0 += per) {
    const count = Math.min(per, n - i0);
    const b = bind(i0, count);
    const g = grid(gpu, count, 64);
    const div = vec4 ? 4 : 1;
    const u = gpu.uniform([
      i0,
      count,
      g.stride,
      (b.x?.base ?? 0) / div,
      b.y.base / div,
      ...dims,
    ], `vae_${entry}`);
    const x = b.x?.binding ?? gpu.dummyU32();
    const sink = gpu.sink();
    p.dispatch(kernel, [
      x,
      x,
      vec4 ? sink : b.y.binding,
      vec4 ? b.y.binding : sink,
      { buffer: u },
    ], g.wg);
  }
}

/** y = y * sigmoid(y) in place over the first `count` elements (count % 4 == 0). */
export async function silu(rec: Rec, y: Tensor, count = y.size): Promise<void> {
  if (count % 4 !== 0) throw new Error(`SiLU needs a multiple of 4 elements, got ${count}`);
  const gpu = rec.p.gpu;
  await elementwise(rec, "silu", count / 4, 16, true, (i0, n) => ({
    y: bindRange(gpu, y, 4 * i0, 4 * n, true),
  }));
}

/** y += x over the first `count` elements (count % 4 == 0): the residual add. */
export async function addInPlace(rec: Rec, y: Tensor, x: Tensor, count = y.size): Promise<void> {
  if (count % 4 !== 0) throw new Error(`Add needs a multiple of 4 elements, got ${count}`);
  const gpu = rec.p.gpu;
  await elementwise(rec, "add", count / 4, 16, true, (i0, n) => ({
    x: bindRange(gpu, x, 4 * i0, 4 * n, true),
    y: bindRange(gpu, y, 4 * i0, 4 * n, true),
  }));
}

/** y [N, 2H, 2W, C] = nearest 2x upsampling of x [N, H, W, C]. */
export async function upsample2x(rec: Rec, x: Act, y: Tensor): Promise<void> {
  const { N, H, W, C } = x;
  if (y.size < N * 4 * H * W * C) throw new Error(`Upsample output [${y.shape}] is too small`);
  const gpu = rec.p.gpu;
  const vec4 = C % 4 === 0;
  const u = vec4 ? 4 : 1;
  const Cu = C / u; // units per pixel
  await elementwise(rec, "upsample2x", N * 4 * H * W * Cu, 4 * u, vec4, (i0, n) => {
    const pix0 = Math.floor(i0 / Cu);
    const pix1 = Math.floor((i0 + n - 1) / Cu);
    const srcRow = (pix: number) =>
      Math.floor(pix / (2 * W * 2 * H)) * H +
      Math.floor(Math.floor(pix / (2 * W)) % (2 * H) / 2);
    const s0 = srcRow(pix0) * W * C;
    const s1 = (srcRow(pix1) + 1) * W * C;
    return {
      x: bindRange(gpu, x.t, s0, s1 - s0, vec4),
      y: bindRange(gpu, y, i0 * u, n * u, vec4),
    };
  }, [H, W, Cu]);
}

/**
 * The posterior from moments [N, h, w, 2L] (NHWC): out [4, N, L, h*w] (NCHW planes mean, logvar
 * clamped to [-30, 20], std, z = ((mean + std * noise) - shift) * scale). Without noise z uses the
 * mean. noise: [N, L, h*w] or null.
 */
export async function posterior(
  rec: Rec,
  moments: Act,
  noise: Tensor | null,
  out: Tensor,
  scale: number,
  shift: number,
): Promise<void> {
  const { p } = rec;
  const gpu = p.gpu;
  const L = moments.C / 2;
  const HW = moments.H * moments.W;
  const total = moments.N * L * HW;
  if (out.size < 4 * total) throw new Error(`Posterior output [${out.shape}] is too small`);
  const kernel = await gpu.kernel("vae_posterior", { HAS_NOISE: noise ? 1 : 0 }, "posterior");
  const g = grid(gpu, total, 64);
  const u = gpu.uniform(
    [moments.N, L, HW, g.stride, f32(scale), f32(shift), f32(0), f32(0)],
    "vae_posterior",
  );
  p.dispatch(kernel, [
    moments.t.slice(0, [moments.N * HW * 2 * L]),
    noise ?? gpu.dummyU32(),
    out.slice(0, [4 * total]),
    { buffer: u },
  ], g.wg);
}
