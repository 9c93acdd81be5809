/**
 * GPU memory of the VAE: persistent buffers and textures (weights, inputs, outputs), a pool of
 * activation buffers reused within and across recorded programs, pooled packing textures for the
 * matmul operands, and byte accounting (buffers plus textures, which `gpu.allocatedBytes` misses).
 *
 * Pool discipline: a program is recorded between {@linkcode VaeMemory.beginProgram} and its end;
 * every pooled buffer is free when recording starts, and a buffer released during recording may be
 * handed out again to a later op of the same program (commands run in recording order). Programs
 * never run concurrently (each is written, submitted and read back in turn), so they share buffers.
 */
import { type Gpu, Tensor } from "../gpu/gpu.ts";

/** Binding and tiling limits of the VAE ops. */
export interface VaeLimits {
  /** largest storage binding a VAE kernel creates, in bytes (default 64 MiB, at most the device's) */
  bindBytes: number;
  /** bytes of one packed operand tile (im2col texture or buffer; default 32 MiB) */
  tileBytes: number;
}

/** Default limits: 64 MiB bindings, 32 MiB operand tiles. */
export const DEFAULT_LIMITS: VaeLimits = { bindBytes: 64 << 20, tileBytes: 32 << 20 };

/** The packing slot of convolution tiles (and other A operands). */
export const TILE_SLOT = "a";

/** Largest texture/matrix row count the matmul accepts for a packed operand. */
export const MAX_TILE_ROWS = 8192;

interface PoolEntry {
  buffer: GPUBuffer;
  free: boolean;
}

/** See the module comment. */
export class VaeMemory {
  /** The resolved limits: the requested ones (or defaults), capped near the device's binding limit. */
  readonly limits: VaeLimits;
  #pool: PoolEntry[] = [];
  #textures = new Map<string, GPUTexture>();
  #owned: (GPUBuffer | GPUTexture)[] = [];
  #bufferBytes = 0;
  #textureBytes = 0;
  #tileWidth = 0;

  /** Creates an empty memory on `gpu`; missing `limits` fields take {@linkcode DEFAULT_LIMITS}. */
  constructor(readonly gpu: Gpu, limits: Partial<VaeLimits> = {}) {
    // Bindings are widened to the offset alignment: keep a margin under the device limit.
    const device = gpu.device.limits.maxStorageBufferBindingSize - 1024;
    const bindBytes = Math.min(limits.bindBytes ?? DEFAULT_LIMITS.bindBytes, device);
    const tileBytes = Math.min(limits.tileBytes ?? DEFAULT_LIMITS.tileBytes, device);
    if (!(bindBytes >= 16) || !(tileBytes >= 16)) {
      throw new Error(`VAE limits must be at least 16 bytes, got ${bindBytes} / ${tileBytes}`);
    }
    this.limits = { bindBytes, tileBytes };
  }

  /** Bytes of buffers created here (persistent and pooled). */
  get bufferBytes(): number {
    return this.#bufferBytes;
  }

  /** Bytes of textures created here (packed weights and operand tiles). */
  get textureBytes(): number {
    return this.#textureBytes;
  }

  /** All GPU memory created here (nothing is freed before {@linkcode VaeMemory.destroy}). */
  get totalBytes(): number {
    return this.#bufferBytes + this.#textureBytes;
  }

  /** A persistent zero-filled tensor. */
  tensor(shape: readonly number[], label: string): Tensor {
    const t = this.gpu.tensor(shape, label);
    this.#bufferBytes += t.buffer.size;
    this.#owned.push(t.buffer);
    return t;
  }

  /** A persistent rgba32float texture of `width` x `rows` texels (packed matrix operand). */
  texture(width: number, rows: number, label: string): GPUTexture {
    const max = this.gpu.device.limits.maxTextureDimension2D;
    if (width > max || rows > max) {
      throw new Error(`Texture ${label} of ${width}x${rows} texels exceeds ${max} per side`);
    }
    const tex = this.gpu.device.createTexture({
      label,
      size: [Math.max(1, width), Math.max(1, rows), 1],
      format: "rgba32float",
      usage: GPUTextureUsage.STORAGE_BINDING | GPUTextureUsage.TEXTURE_BINDING |
        GPUTextureUsage.COPY_DST,
    });
    this.#textureBytes += Math.max(1, width) * Math.max(1, rows) * 16;
    this.#owned.push(tex);
    return tex;
  }

  /** Marks every pooled buffer free: call before recording a program. */
  beginProgram(): void {
    for (const e of this.#pool) e.free = true;
  }

  /** A pooled tensor of `elements` floats (contents undefined): the smallest free buffer that fits. */
  acquire(elements: number, label: string): Tensor {
    const bytes = Math.max(256, Math.ceil(elements * 4 / 256) * 256);
    let best: PoolEntry | undefined;
    for (const e of this.#pool) {
      if (e.free && e.buffer.size >= bytes && (!best || e.buffer.size < best.buffer.size)) best = e;
    }
    if (!best) {
      best = { buffer: this.gpu.buffer(bytes, `vae-pool/${label}`), free: true };
      this.#bufferBytes += best.buffer.size;
      this.#owned.push(best.buffer);
      this.#pool.push(best);
    }
    best.free = false;
    return new Tensor(best.buffer, [elements]);
  }

  /** Returns a pooled tensor's buffer to the pool. */
  release(...tensors: Tensor[]): void {
    for (const t of tensors) {
      const e = this.#pool.find((p) => p.buffer === t.buffer);
      if (!e) throw new Error(`Buffer ${t.buffer.label} is not from the VAE pool`);
      if (e.free) throw new Error(`Buffer ${t.buffer.label} was released twice`);
      e.free = true;
    }
  }

  /**
   * Declares the widest packed operand (texels per row) the model's convolutions need: every tile
   * then gets the same row count, so one texture of about `tileBytes` serves all of them.
   */
  reserveTileWidth(width: number): void {
    this.#tileWidth = Math.max(this.#tileWidth, width);
  }

  /** Rows of a packed operand tile of `width` texels within the tile budget (1 .. 8192). */
  tileRows(width: number): number {
    const w = Math.max(1, width, this.#tileWidth);
    return Math.max(1, Math.min(MAX_TILE_ROWS, Math.floor(this.limits.tileBytes / (w * 16))));
  }

  /**
   * The pooled packing texture of `slot` with at least `width` texels and `rows` rows, shared by
   * every program (textures are written and read in command order); the {@linkcode TILE_SLOT}
   * texture is at least as wide as the reserved tile width. It only grows: a larger request
   * replaces it (programs recorded earlier keep the old one).
   */
  packTexture(slot: string, width: number, rows: number): GPUTexture {
    let tex = this.#textures.get(slot);
    if (!tex || tex.width < width || tex.height < rows) {
      const w = Math.max(width, slot === TILE_SLOT ? this.#tileWidth : 0, tex?.width ?? 0);
      const h = Math.max(rows, tex?.height ?? 0);
      tex = this.texture(w, h, `vae-pack/${slot}`);
      this.#textures.set(slot, tex);
    }
    return tex;
  }

  /** Destroys everything created here. */
  destroy(): void {
    for (const o of this.#owned.splice(0)) o.destroy();
    this.#pool = [];
    this.#textures.clear();
  }
}

/**
 * A binding of elements [start, start + count) of `t`, widened to the device's offset alignment:
 * returns the binding and `base`, the index of its first element counted from `t`'s start (kernels index the tensor, then subtract `base`). With `vec4` the size is rounded up to whole vec4s (within the buffer).
 */
export function bindRange(
  gpu: Gpu,
  t: Tensor,
  start: number,
  count: number,
  vec4 = false,
): { binding: GPUBufferBinding; base: number } {
  const { binding, rel } = t.range(
    start,
    Math.max(1, count),
    gpu.device.limits.minStorageBufferOffsetAlignment,
  );
  const base = start - rel;
  if (base < 0) throw new Error(`Tensor ${t.buffer.label} at offset ${t.offset} is not aligned`);
  if (vec4) {
    const off = binding.offset ?? 0;
    binding.size = Math.min(Math.ceil((binding.size as number) / 16) * 16, t.buffer.size - off);
  }
  return { binding, base };
}
