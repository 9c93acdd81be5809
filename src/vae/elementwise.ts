/**
 * Elementwise VAE ops on NHWC activations (kernels/vae_elementwise.wgsl, vae_posterior.wgsl): SiLU,
 * the residual add, nearest 2x upsampling (each in bands under the binding limit) and the
 * posterior (mean, logvar, std, latent) from the moments.
 */
import type { Tensor } from "../gpu/gpu.ts";
import { grid } from "../ops/_launch.ts";
import { compileKernel, dispatch, kernelRecord, recordKernel } from "../ops/_kernel.ts";
import { bindRange } from "./memory.ts";
import type { Act, Rec } from "./types.ts";

/** kernels/vae_elementwise.wgsl. */
export const VAE_ELEMENTWISE = kernelRecord("vae_elementwise");

/** kernels/vae_posterior.wgsl. */
export const VAE_POSTERIOR = kernelRecord("vae_posterior");

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
  const kernel = await compileKernel(gpu, VAE_ELEMENTWISE, entry, { VEC4: vec4 ? 1 : 0 });
  const per = Math.max(1, Math.floor(mem.limits.bindBytes / unitBytes));
  for (let i0 = 0; i0 < n; i0 += per) {
    const count = Math.min(per, n - i0);
    const b = bind(i0, count);
    const g = grid(gpu, count, 64);
    const div = vec4 ? 4 : 1;
    const [H, W, C] = dims;
    const x = b.x?.binding;
    recordKernel(p, VAE_ELEMENTWISE, kernel, {
      // x is bound both ways (read-only); the kernel reads the view VEC4 selects.
      bind: { x, x4: x, [vec4 ? "y4" : "y"]: b.y.binding },
      uniforms: {
        i0,
        n: count,
        stride: g.stride,
        baseX: (b.x?.base ?? 0) / div,
        baseY: b.y.base / div,
        H,
        W,
        C,
      },
      workgroups: g.wg,
    });
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
  const g = grid(gpu, total, 64);
  await dispatch(p, VAE_POSTERIOR, {
    entry: "posterior",
    bind: {
      moments: moments.t.slice(0, [moments.N * HW * 2 * L]),
      noise: noise ?? undefined,
      out: out.slice(0, [4 * total]),
    },
    uniforms: { N: moments.N, L, HW, stride: g.stride, scale, shift },
    constants: { HAS_NOISE: noise ? 1 : 0 },
    workgroups: g.wg,
  });
}
