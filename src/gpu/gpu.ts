/**
 * The GPU context every op records into: pipeline cache, buffer creation, uniforms, recorded
 * programs (replayed into one command encoder per step or request), readback and error surfacing.
 */
import { type GpuDevice, type GpuOptions, requestGpuDevice } from "./device.ts";
import { BufferPool } from "./pool.ts";
import { Profiler } from "./profiler.ts";

/** A float32 uniform value (plain numbers are u32). */
export class F32 {
  /** Wraps `value`. */
  constructor(readonly value: number) {}
}
/** Marks a uniform value as f32. */
export const f32 = (v: number): F32 => new F32(v);

/** A GPU tensor: a float32 view into a storage buffer. Offsets and sizes count elements. */
export class Tensor {
  /** A view of `buffer` from element `offset` with `shape`. */
  constructor(
    readonly buffer: GPUBuffer,
    readonly shape: readonly number[],
    readonly offset = 0,
  ) {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new Error(`Bad tensor shape [${shape}]`);
    }
  }
  /** Number of elements. */
  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
  /**
   * A binding covering elements [start, start + count) of this tensor's buffer, widened to the
   * device's offset alignment: returns the binding and the element offset of `start` inside it.
   */
  range(
    start: number,
    count: number,
    alignBytes: number,
  ): { binding: GPUBufferBinding; rel: number } {
    const abs = this.offset + start;
    const alignElems = alignBytes / 4;
    const base = Math.floor(abs / alignElems) * alignElems;
    const size = Math.max(4, (abs - base + count) * 4);
    return { binding: { buffer: this.buffer, offset: base * 4, size }, rel: abs - base };
  }

  /** A binding covering exactly this tensor (at least 4 bytes). */
  get binding(): GPUBufferBinding {
    return { buffer: this.buffer, offset: this.offset * 4, size: Math.max(4, this.size * 4) };
  }
  /** The same memory under another shape of equal size. */
  view(shape: readonly number[]): Tensor {
    const t = new Tensor(this.buffer, shape, this.offset);
    if (t.size !== this.size) throw new Error(`Cannot view [${this.shape}] as [${shape}]`);
    return t;
  }
  /** A sub-range `[start, start + shape.size)` (in elements) under a new shape. */
  slice(start: number, shape: readonly number[]): Tensor {
    const t = new Tensor(this.buffer, shape, this.offset + start);
    if (start < 0 || start + t.size > this.size) {
      throw new Error(`Slice ${start}+[${shape}] is outside [${this.shape}]`);
    }
    return t;
  }
}

/** A compiled compute kernel. */
export interface Kernel {
  /** Name for labels and errors. */
  name: string;
  /** The compiled pipeline. */
  pipeline: GPUComputePipeline;
}

/** One recorded command of a {@linkcode Program}. */
export type Cmd =
  | { kind: "dispatch"; kernel: Kernel; bindGroup: GPUBindGroup; wg: [number, number, number] }
  | { kind: "copy"; src: GPUBuffer; srcOff: number; dst: GPUBuffer; dstOff: number; bytes: number }
  | { kind: "clear"; buf: GPUBuffer; off: number; bytes: number }
  | {
    kind: "toTexture";
    src: GPUBuffer;
    srcOff: number;
    bytesPerRow: number;
    rowsPerImage: number;
    tex: GPUTexture;
    layer: number;
    size: [number, number, number];
  };

const kernelDir = new URL("../../kernels/", import.meta.url);
const sourceCache = new Map<string, string>();

/**
 * Reads `kernels/<file>.wgsl` (cached), with each line `//! include <name>` replaced by
 * `kernels/<name>.wgsl` (shared functions such as the activations; included files may not
 * include others).
 */
export function kernelSource(file: string): string {
  let src = sourceCache.get(file);
  if (src === undefined) {
    const read = (name: string) => Deno.readTextFileSync(new URL(`${name}.wgsl`, kernelDir));
    src = read(file).replace(/^\/\/! include (\w+)$/gm, (_, name: string) => {
      const inc = read(name);
      if (/^\/\/! include /m.test(inc)) throw new Error(`Kernel ${name}: nested include`);
      return inc;
    });
    sourceCache.set(file, src);
  }
  return src;
}

/**
 * A recorded sequence of GPU commands with prebuilt bind groups: built once (per batch size),
 * then replayed into a command encoder for every step or request.
 */
export class Program {
  /** Recorded commands, in order. */
  readonly cmds: Cmd[] = [];
  /** Creates an empty program on `gpu`. */
  constructor(readonly gpu: Gpu, readonly label: string) {}

  /** Records a dispatch of `kernel` with `resources` bound at 0..n-1 of group 0. */
  dispatch(
    kernel: Kernel,
    resources: (GPUBindingResource | Tensor)[],
    wg: [number, number?, number?],
  ): void {
    const entries = resources.map((r, i) => ({
      binding: i,
      resource: r instanceof Tensor ? r.binding : r,
    }));
    const bindGroup = this.gpu.device.createBindGroup({
      label: `${this.label}/${kernel.name}`,
      layout: kernel.pipeline.getBindGroupLayout(0),
      entries,
    });
    const [x, y = 1, z = 1] = wg;
    const max = this.gpu.device.limits.maxComputeWorkgroupsPerDimension;
    if (x > max || y > max || z > max) {
      throw new Error(
        `Kernel ${kernel.name}: dispatch [${x},${y},${z}] exceeds ${max} per dimension`,
      );
    }
    if (x === 0 || y === 0 || z === 0) return;
    this.cmds.push({ kind: "dispatch", kernel, bindGroup, wg: [x, y, z] });
  }

  /** Records a buffer copy of `count` elements between tensors. */
  copy(src: Tensor, dst: Tensor, count = src.size): void {
    if (count > dst.size) throw new Error(`Copy of ${count} elements into [${dst.shape}]`);
    this.cmds.push({
      kind: "copy",
      src: src.buffer,
      srcOff: src.offset * 4,
      dst: dst.buffer,
      dstOff: dst.offset * 4,
      bytes: count * 4,
    });
  }

  /**
   * Records a copy of `rows` rows of `width` rgba32float texels from `buf` (byte offset `offset`,
   * `bytesPerRow` apart, a multiple of 256) into layers `layer` .. `layer + layers - 1` of `tex`
   * (consecutive layers `rows` rows apart in the buffer).
   */
  copyToTexture(
    buf: GPUBuffer,
    offset: number,
    bytesPerRow: number,
    tex: GPUTexture,
    layer: number,
    width: number,
    rows: number,
    layers = 1,
  ): void {
    this.cmds.push({
      kind: "toTexture",
      src: buf,
      srcOff: offset,
      bytesPerRow,
      rowsPerImage: rows,
      tex,
      layer,
      size: [width, rows, layers],
    });
  }

  /** Records zero-filling of a tensor. */
  clear(t: Tensor): void {
    this.cmds.push({ kind: "clear", buf: t.buffer, off: t.offset * 4, bytes: t.size * 4 });
  }

  /** Appends another program's commands. */
  append(other: Program): void {
    this.cmds.push(...other.cmds);
  }

  /** Encodes every command into `enc`; consecutive dispatches share one compute pass. */
  encode(enc: GPUCommandEncoder, profiler?: Profiler): void {
    let pass: GPUComputePassEncoder | null = null;
    const end = () => {
      pass?.end();
      pass = null;
    };
    for (const c of this.cmds) {
      if (c.kind === "dispatch") {
        if (profiler) {
          end();
          pass = enc.beginComputePass({ timestampWrites: profiler.next(c.kernel.name) });
        } else if (!pass) pass = enc.beginComputePass({ label: this.label });
        pass.setPipeline(c.kernel.pipeline);
        pass.setBindGroup(0, c.bindGroup);
        pass.dispatchWorkgroups(c.wg[0], c.wg[1], c.wg[2]);
        if (profiler) end();
        continue;
      }
      end();
      if (c.kind === "copy") enc.copyBufferToBuffer(c.src, c.srcOff, c.dst, c.dstOff, c.bytes);
      else if (c.kind === "clear") enc.clearBuffer(c.buf, c.off, c.bytes);
      else {
        enc.copyBufferToTexture(
          {
            buffer: c.src,
            offset: c.srcOff,
            bytesPerRow: c.bytesPerRow,
            rowsPerImage: c.rowsPerImage,
          },
          { texture: c.tex, origin: [0, 0, c.layer] },
          c.size,
        );
      }
    }
    end();
  }

  /** Number of recorded dispatches. */
  get dispatches(): number {
    return this.cmds.filter((c) => c.kind === "dispatch").length;
  }
}

/** The engine's GPU context. Create with {@linkcode Gpu.create}. */
export class Gpu {
  /** The WebGPU device. */
  readonly device: GPUDevice;
  /** What the engine learned about the adapter. */
  readonly info: GpuDevice;
  #pipelines = new Map<string, Kernel>();
  #errors: string[] = [];
  #bytes = 0;
  /**
   * The timestamp profiler (when requested and supported).
   * @internal
   */
  profiler?: Profiler;
  /**
   * Reusable buffers (readback staging and temporaries).
   * @internal
   */
  readonly pool: BufferPool;

  private constructor(info: GpuDevice) {
    this.info = info;
    this.device = info.device;
    this.pool = new BufferPool(this.device);
    this.device.addEventListener("uncapturederror", (e) => {
      this.#errors.push((e as GPUUncapturedErrorEvent).error.message);
    });
    if (info.hasTimestamps) this.profiler = new Profiler(this.device);
  }

  /** Acquires an adapter and device (see {@linkcode requestGpuDevice}). */
  static async create(options: GpuOptions = {}): Promise<Gpu> {
    return new Gpu(await requestGpuDevice(options));
  }

  #dummy?: GPUBuffer;
  /** A small placeholder buffer for optional bindings (never aliases a real operand). */
  get dummy(): GPUBuffer {
    return this.#dummy ??= this.buffer(256, "dummy");
  }

  #sink?: Tensor;
  /**
   * A placeholder for unused writable bindings (distinct from the read-only {@linkcode dummyU32}).
   * @internal
   */
  sink(): Tensor {
    return this.#sink ??= this.tensor([64], "sink");
  }

  /**
   * A placeholder tensor for unused read-only tensor bindings.
   * @internal
   */
  dummyU32(): Tensor {
    return new Tensor(this.dummy, [64]);
  }

  #scratch?: Tensor;
  /**
   * A shared scratch tensor of at least `floats` elements for partial sums that a kernel writes
   * and the next one reduces (chunked column sums, depthwise-conv weight gradients, split-K
   * matmuls). One per device, grown when a recording needs more (programs already recorded keep
   * the smaller one). Sharing is safe because commands run in order and every such pair reads its
   * partials back before the next pair writes.
   * @internal
   */
  scratch(floats: number): Tensor {
    if (!this.#scratch || this.#scratch.size < floats) {
      this.#scratch = this.tensor([floats], "partial-sums-scratch");
    }
    return this.#scratch;
  }

  /** Total bytes of buffers created through this context. */
  get allocatedBytes(): number {
    return this.#bytes;
  }

  /**
   * Compiles (or fetches from the cache) the kernel `file` with entry point `entry` and
   * pipeline-overridable `constants`. Compilation errors name the kernel.
   * @internal
   */
  async kernel(
    file: string,
    constants: Record<string, number> = {},
    entry = "main",
  ): Promise<Kernel> {
    const key = `${file}:${entry}:${JSON.stringify(constants)}`;
    const hit = this.#pipelines.get(key);
    if (hit) return hit;
    const name = `${file}${entry === "main" ? "" : "." + entry}${
      Object.keys(constants).length ? JSON.stringify(constants) : ""
    }`;
    this.device.pushErrorScope("validation");
    const code = kernelSource(file);
    const module = this.device.createShaderModule({ label: name, code });
    const layout = this.device.createPipelineLayout({
      label: name,
      bindGroupLayouts: [
        this.device.createBindGroupLayout({ label: name, entries: bindingLayout(code, file) }),
      ],
    });
    const pipeline = this.device.createComputePipeline({
      label: name,
      layout,
      compute: { module, entryPoint: entry, constants },
    });
    const err = await this.device.popErrorScope();
    if (err) throw new Error(`Kernel ${name} failed to compile: ${err.message}`);
    const kernel = { name, pipeline };
    this.#pipelines.set(key, kernel);
    return kernel;
  }

  /**
   * Creates a zero-filled storage tensor.
   * @internal
   */
  tensor(shape: readonly number[], label: string): Tensor {
    const size = shape.reduce((a, b) => a * b, 1);
    return new Tensor(this.buffer(size * 4, label), shape);
  }

  /** Creates a storage buffer of at least `bytes` (rounded up to 256 bytes). */
  buffer(bytes: number, label: string, extraUsage = 0): GPUBuffer {
    const size = Math.max(256, Math.ceil(bytes / 256) * 256);
    if (size > this.device.limits.maxBufferSize) {
      throw new Error(`Buffer ${label} of ${size} bytes exceeds maxBufferSize`);
    }
    this.#bytes += size;
    return this.device.createBuffer({
      label,
      size,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST |
        extraUsage,
    });
  }

  /** Creates a tensor holding `data`. */
  upload(data: Float32Array, shape: readonly number[], label: string): Tensor {
    const t = this.tensor(shape, label);
    if (data.length !== t.size) {
      throw new Error(`Upload ${label}: ${data.length} values for shape [${shape}]`);
    }
    this.write(t, data);
    return t;
  }

  /** Writes host data into a tensor (queued before the next submit). */
  write(t: Tensor, data: Float32Array | Int32Array | Uint32Array): void {
    if (data.length > t.size) throw new Error(`Write of ${data.length} values into [${t.shape}]`);
    this.device.queue.writeBuffer(t.buffer, t.offset * 4, data as Float32Array<ArrayBuffer>);
  }

  /**
   * A uniform buffer holding the given scalars in order (numbers as u32, {@linkcode f32} values as
   * f32), padded to 16 bytes; {@linkcode Gpu.setUniform} updates it later.
   * @internal
   */
  uniform(values: (number | F32)[], label = "params"): GPUBuffer {
    const buf = this.device.createBuffer({
      label,
      size: Math.max(16, Math.ceil(values.length / 4) * 16),
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    this.setUniform(buf, values);
    return buf;
  }

  /**
   * Overwrites a uniform buffer made by {@linkcode Gpu.uniform}.
   * @internal
   */
  setUniform(buf: GPUBuffer, values: (number | F32)[]): void {
    const data = new ArrayBuffer(Math.max(16, Math.ceil(values.length / 4) * 16));
    const u = new Uint32Array(data);
    const f = new Float32Array(data);
    values.forEach((v, i) => {
      if (v instanceof F32) f[i] = v.value;
      else if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
        throw new Error(`Uniform ${label(buf)}[${i}] = ${v} is not a u32`);
      } else u[i] = v;
    });
    this.device.queue.writeBuffer(buf, 0, data);
  }

  /**
   * Creates a program to record commands into.
   * @internal
   */
  program(label: string): Program {
    return new Program(this, label);
  }

  /**
   * Encodes the programs into one command encoder and submits it.
   * @internal
   */
  submit(...programs: Program[]): void {
    const enc = this.device.createCommandEncoder({ label: programs.map((p) => p.label).join("+") });
    for (const p of programs) p.encode(enc, this.profiler?.active ? this.profiler : undefined);
    this.profiler?.resolve(enc);
    this.device.queue.submit([enc.finish()]);
    this.throwIfError(programs.map((p) => p.label).join(", "));
  }

  /** Throws the first uncaptured validation error, if any, naming `context`. */
  throwIfError(context: string): void {
    if (this.#errors.length) {
      const msg = this.#errors.splice(0).join("\n");
      throw new Error(`WebGPU error in ${context}: ${msg}`);
    }
  }

  /** Reads tensors back to the host with a single copy and a single `mapAsync`. */
  async read(...tensors: Tensor[]): Promise<Float32Array[]> {
    const offsets: number[] = [];
    let total = 0;
    for (const t of tensors) {
      offsets.push(total);
      total += Math.ceil(t.size * 4 / 256) * 256;
    }
    const staging = this.pool.acquire(
      total,
      GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      "readback",
    );
    const enc = this.device.createCommandEncoder({ label: "readback" });
    tensors.forEach((t, i) => {
      const bytes = Math.ceil(t.size * 4 / 4) * 4;
      if (bytes) enc.copyBufferToBuffer(t.buffer, t.offset * 4, staging, offsets[i], bytes);
    });
    this.device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    this.throwIfError("readback");
    const mapped = staging.getMappedRange();
    const out = tensors.map((t, i) =>
      new Float32Array(mapped.slice(offsets[i], offsets[i] + t.size * 4))
    );
    staging.unmap();
    this.pool.release(staging);
    return out;
  }

  /** Waits for all submitted work (costs one ~10 ms poll on Deno). */
  async sync(): Promise<void> {
    await this.device.queue.onSubmittedWorkDone();
    this.throwIfError("sync");
  }
}

/**
 * The group-0 bind group layout declared by a kernel's source, so that every entry point of a
 * file shares one layout (with "auto" layouts, bindings an entry point does not use vanish).
 */
export function bindingLayout(code: string, file: string): GPUBindGroupLayoutEntry[] {
  const re = /@group\(0\)\s*@binding\((\d+)\)\s*var(<[^>]*>)?\s*\w+\s*:\s*([^;]+);/g;
  const entries: GPUBindGroupLayoutEntry[] = [];
  for (const m of code.matchAll(re)) {
    const binding = Number(m[1]);
    const space = (m[2] ?? "").replace(/\s/g, "");
    const type = m[3].replace(/\s/g, "");
    const e: GPUBindGroupLayoutEntry = { binding, visibility: GPUShaderStage.COMPUTE };
    if (space === "<uniform>") e.buffer = { type: "uniform" };
    else if (space === "<storage,read_write>") e.buffer = { type: "storage" };
    else if (space === "<storage,read>" || space === "<storage>") {
      e.buffer = { type: "read-only-storage" };
    } else if (type.startsWith("texture_storage_")) {
      const [, dim, format, access] = /^texture_storage_(\w+?)<(\w+),(\w+)>/.exec(type) ?? [];
      e.storageTexture = {
        access: access === "read"
          ? "read-only"
          : access === "read_write"
          ? "read-write"
          : "write-only",
        format: format as GPUTextureFormat,
        viewDimension: dim.replace("_array", "-array") as GPUTextureViewDimension,
      };
    } else if (type.startsWith("texture_")) {
      const dim = /^texture_(\w+?)</.exec(type)?.[1] ?? "2d";
      e.texture = {
        sampleType: "unfilterable-float",
        viewDimension: dim.replace("_array", "-array") as GPUTextureViewDimension,
      };
    } else throw new Error(`Kernel ${file}: cannot derive a layout for binding ${binding}`);
    entries.push(e);
  }
  return entries;
}

function label(buf: GPUBuffer): string {
  return buf.label || "uniform";
}
