/**
 * Kernel records: each WGSL kernel's interface (file, entry points, named bindings, named uniform
 * fields with their types), read from the kernel's own source so that the WGSL stays the one place
 * it is written, and filled by name by its launcher, as the programs of tfjs-backend-webgpu and
 * onnxruntime-web's WebGPU backend name theirs. A launch that names a binding or uniform field the
 * kernel lacks, leaves a uniform field unset or asks for an entry point the file does not have
 * fails with one line naming the kernel.
 *
 * All entry points of a file share one bind group layout (see `bindingLayout`), so a dispatch binds
 * every resource the file declares; the ones a launch leaves out get a placeholder of their kind (a
 * read-only buffer, a writable buffer, a storage texture).
 */
import {
  type F32,
  f32,
  type Gpu,
  type Kernel,
  kernelSource,
  type Program,
  type Tensor,
} from "../gpu/gpu.ts";
import { placeholderTexture } from "./textures.ts";

/** Type of a uniform field: every field is one 32-bit word. */
export type UniformType = "u32" | "f32";

/** How a binding is declared: read-only or writable storage, uniform block, storage texture. */
export type BindingKind = "read" | "write" | "uniform" | "texture";

/** A kernel's interface as its source declares it. */
export interface KernelInterface {
  /** Compute entry points. */
  entries: string[];
  /** Bindings of group 0 by index: name and kind. */
  bindings: { name: string; kind: BindingKind }[];
  /** Index of the uniform block's binding (-1 without one). */
  uniform: number;
  /** The uniform struct's fields in declaration order ("_" names are padding, written as 0). */
  fields: { name: string; type: UniformType }[];
}

/** Resources by binding name (the uniform block only when prebuilt); unnamed ones get placeholders. */
export type Bindings = Record<string, Tensor | GPUBindingResource | undefined>;

/** One dispatch of a kernel, filled by name. */
export interface Launch {
  /** Entry point. */
  entry: string;
  /** Resources by binding name. */
  bind: Bindings;
  /** Uniform values by field name; leave out to pass a prebuilt block in `bind`. */
  uniforms?: Record<string, number>;
  /** Pipeline-overridable constants. */
  constants?: Record<string, number>;
  /** Workgroup counts. */
  workgroups: [number, number?, number?];
}

/** The record of one kernel file; its interface is read from the source on first use. */
export class KernelRecord {
  #iface?: KernelInterface;

  /** A record of `kernels/<file>.wgsl`. */
  constructor(readonly file: string) {}

  /** The interface the source declares (parsed once). */
  get iface(): KernelInterface {
    return this.#iface ??= parseInterface(this.file);
  }

  /** Throws one line naming the kernel. */
  fail(what: string): never {
    throw new Error(`Kernel ${this.file}: ${what}`);
  }
}

const registry = new Map<string, KernelRecord>();

/** The record of `kernels/<file>.wgsl` (one per file, kept for the test that covers them all). */
export function kernelRecord(file: string): KernelRecord {
  let r = registry.get(file);
  if (!r) registry.set(file, r = new KernelRecord(file));
  return r;
}

/** Every record the modules loaded so far use. */
export function kernelRecords(): KernelRecord[] {
  return [...registry.values()];
}

/** Reads a kernel's entry points, bindings and uniform struct from its source. */
export function parseInterface(file: string): KernelInterface {
  const code = kernelSource(file).replace(/\/\/[^\n]*/g, "");
  const re = /@group\(0\)\s*@binding\((\d+)\)\s*var(<[^>]*>)?\s*(\w+)\s*:\s*([^;]+);/g;
  const found = [...code.matchAll(re)].map((m) => ({
    index: Number(m[1]),
    space: (m[2] ?? "").replace(/\s/g, ""),
    name: m[3],
    type: m[4].replace(/\s/g, ""),
  }));
  found.forEach((b, i) => {
    if (b.index !== i) throw new Error(`Kernel ${file}: bindings are not numbered 0..n-1`);
  });
  const bindings = found.map((b) => ({
    name: b.name,
    kind:
      (b.space === "<uniform>"
        ? "uniform"
        : b.space === "<storage,read_write>"
        ? "write"
        : b.space.startsWith("<storage")
        ? "read"
        : "texture") as BindingKind,
  }));
  const uniform = bindings.findIndex((b) => b.kind === "uniform");
  let fields: KernelInterface["fields"] = [];
  if (uniform >= 0) {
    const type = found[uniform].type;
    const struct = new RegExp(`struct\\s+${type}\\s*\\{([^}]*)\\}`).exec(code);
    if (!struct) throw new Error(`Kernel ${file}: no struct ${type} for the uniform block`);
    fields = struct[1].split(",").map((f) => f.replace(/\s/g, "")).filter(Boolean).map((f) => {
      const [name, t] = f.split(":");
      if (t !== "u32" && t !== "f32") {
        throw new Error(`Kernel ${file}: uniform field ${name} is ${t}, not one u32 or f32 word`);
      }
      return { name, type: t as UniformType };
    });
  }
  const entries = [...code.matchAll(/@compute[^{]*?fn\s+(\w+)/g)].map((m) => m[1]);
  return { entries, bindings, uniform, fields };
}

/** The words of `rec`'s uniform block holding `values` (declaration order, padding 0). */
export function uniformWords(rec: KernelRecord, values: Record<string, number>): (number | F32)[] {
  const { fields } = rec.iface;
  for (const name of Object.keys(values)) {
    if (name.startsWith("_") || !fields.some((f) => f.name === name)) {
      rec.fail(`no uniform field ${name}`);
    }
  }
  return fields.map(({ name, type }) => {
    if (name.startsWith("_")) return 0;
    const v = values[name];
    if (v === undefined) rec.fail(`uniform ${name} is not set`);
    return type === "f32" ? f32(v) : v;
  });
}

/** A uniform buffer holding `rec`'s block with `values` (see {@linkcode uniformWords}). */
export function uniformBlock(
  gpu: Gpu,
  rec: KernelRecord,
  values: Record<string, number>,
): GPUBuffer {
  return gpu.uniform(uniformWords(rec, values), `${rec.file}.params`);
}

/** Compiles (or fetches from the pipeline cache) one entry point of a kernel. */
export async function compileKernel(
  gpu: Gpu,
  rec: KernelRecord,
  entry: string,
  constants: Record<string, number> = {},
): Promise<Kernel> {
  if (!rec.iface.entries.includes(entry)) rec.fail(`no entry point ${entry}`);
  return await gpu.kernel(rec.file, constants, entry);
}

/**
 * Records one dispatch of an already compiled entry point (launchers that compile once and record
 * synchronously), bindings and uniforms by name.
 */
export function recordKernel(
  p: Program,
  rec: KernelRecord,
  kernel: Kernel,
  l: Omit<Launch, "entry" | "constants">,
): void {
  const { bindings, uniform } = rec.iface;
  for (const name of Object.keys(l.bind)) {
    if (!bindings.some((b) => b.name === name)) rec.fail(`no binding ${name}`);
  }
  const resources = bindings.map(({ name, kind }, i): Tensor | GPUBindingResource => {
    const r = l.bind[name];
    if (r !== undefined) return r;
    if (i === uniform) {
      if (!l.uniforms) rec.fail(`neither uniforms nor a prebuilt ${name} given`);
      return { buffer: uniformBlock(p.gpu, rec, l.uniforms) };
    }
    return placeholder(p.gpu, kind);
  });
  p.dispatch(kernel, resources, l.workgroups);
}

/** Records one dispatch of a kernel, its bindings and uniforms given by name. */
export async function dispatch(p: Program, rec: KernelRecord, l: Launch): Promise<void> {
  const kernel = await compileKernel(p.gpu, rec, l.entry, l.constants);
  recordKernel(p, rec, kernel, l);
}

function placeholder(gpu: Gpu, kind: BindingKind): Tensor | GPUBindingResource {
  if (kind === "read") return gpu.dummyU32();
  if (kind === "write") return gpu.sink();
  if (kind === "texture") return placeholderTexture(gpu);
  throw new Error("A uniform block has no placeholder");
}
