/**
 * Kernel records: each WGSL kernel's interface (file, entry points, named bindings, named uniform
 * fields) declared once beside its launcher, which fills it by name, as the programs of
 * tfjs-backend-webgpu and onnxruntime-web's WebGPU backend declare theirs. A record is checked
 * against its WGSL source the first time it runs (binding names and order, the uniform struct's
 * fields and types, entry points), so a launcher and its shader cannot drift apart silently.
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

/** A kernel's interface; `B` are its binding names, `U` its uniform fields. */
export interface KernelSpec<B extends string = string, U extends string = string> {
  /** Kernel file under `kernels/`, without `.wgsl`. */
  readonly file: string;
  /** Entry points the launcher runs. */
  readonly entries: readonly string[];
  /** Resource names by binding index, as the WGSL names them (the uniform block included). */
  readonly bindings: readonly B[];
  /**
   * Fields of the uniform struct in declaration order with their types; names starting with "_"
   * are padding, always written as 0.
   */
  readonly uniforms: Readonly<Record<U, UniformType>>;
}

/** Uniform values by field name (padding fields excluded). */
export type UniformValues<U extends string> = {
  [K in U as K extends `_${string}` ? never : K]: number;
};

/** What one dispatch binds: resources by binding name (the uniform block only when prebuilt). */
export type Bindings<B extends string> = Partial<Record<B, Tensor | GPUBindingResource>>;

/** One dispatch of a kernel, filled by name. */
export interface Launch<B extends string, U extends string> {
  /** Entry point (one of the record's). */
  entry: string;
  /** Resources by binding name; unnamed ones get placeholders. */
  bind: Bindings<B>;
  /** Uniform values by field name; leave out to pass a prebuilt block in `bind`. */
  uniforms?: UniformValues<U>;
  /** Pipeline-overridable constants. */
  constants?: Record<string, number>;
  /** Workgroup counts. */
  workgroups: [number, number?, number?];
}

/** Declares a kernel record (registered for the consistency test of every record). */
export function kernelSpec<const B extends string, const U extends string>(
  spec: KernelSpec<B, U>,
): KernelSpec<B, U> {
  registry.add(spec as KernelSpec);
  return spec;
}

const registry = new Set<KernelSpec>();

/** Every record declared by the modules loaded so far. */
export function kernelSpecs(): KernelSpec[] {
  return [...registry];
}

type Kind = "read" | "write" | "uniform" | "texture";

/** A record checked against its source: the kind of each binding, the uniform block's index. */
interface Checked {
  kinds: Kind[];
  uniform: number;
}

const checked = new WeakMap<KernelSpec, Checked>();

/**
 * Checks a record against `kernels/<file>.wgsl` and returns its binding kinds, or throws one line
 * naming the kernel and the first mismatch.
 */
export function checkKernelSpec(spec: KernelSpec): Checked {
  const hit = checked.get(spec);
  if (hit) return hit;
  const fail = (what: string) => {
    throw new Error(`Kernel record ${spec.file}: ${what}`);
  };
  const code = kernelSource(spec.file).replace(/\/\/[^\n]*/g, "");
  const re = /@group\(0\)\s*@binding\((\d+)\)\s*var(<[^>]*>)?\s*(\w+)\s*:\s*([^;]+);/g;
  const found = [...code.matchAll(re)].map((m) => ({
    index: Number(m[1]),
    space: (m[2] ?? "").replace(/\s/g, ""),
    name: m[3],
    type: m[4].replace(/\s/g, ""),
  }));
  const names = found.map((b) => b.name);
  if (names.join() !== spec.bindings.join() || found.some((b, i) => b.index !== i)) {
    fail(`bindings [${spec.bindings}] but the source declares [${names}] (in binding order)`);
  }
  const kinds = found.map((b): Kind =>
    b.space === "<uniform>"
      ? "uniform"
      : b.space === "<storage,read_write>"
      ? "write"
      : b.space.startsWith("<storage")
      ? "read"
      : "texture"
  );
  const uniform = kinds.indexOf("uniform");
  const fields = Object.entries(spec.uniforms);
  if (uniform < 0) {
    if (fields.length) fail("uniform fields declared but the source has no uniform block");
  } else {
    const struct = new RegExp(`struct\\s+${found[uniform].type}\\s*\\{([^}]*)\\}`).exec(code);
    if (!struct) fail(`no struct ${found[uniform].type} for the uniform block`);
    const declared = struct![1].split(",").map((f) => f.trim()).filter(Boolean)
      .map((f) => f.replace(/\s/g, ""));
    const expected = fields.map(([name, type]) => `${name}:${type}`);
    if (declared.join() !== expected.join()) {
      fail(`uniform fields [${expected}] but ${found[uniform].type} is [${declared}]`);
    }
  }
  const entries = new Set([...code.matchAll(/@compute[^{]*?fn\s+(\w+)/g)].map((m) => m[1]));
  for (const e of spec.entries) if (!entries.has(e)) fail(`no entry point ${e}`);
  const result = { kinds, uniform };
  checked.set(spec, result);
  return result;
}

/** The words of `spec`'s uniform block holding `values` (declaration order, padding 0). */
export function uniformWords<U extends string>(
  spec: KernelSpec<string, U>,
  values: UniformValues<U>,
): (number | F32)[] {
  const given = values as Record<string, number>;
  for (const name of Object.keys(given)) {
    if (!Object.hasOwn(spec.uniforms, name) || name.startsWith("_")) {
      throw new Error(`Kernel ${spec.file}: no uniform field ${name}`);
    }
  }
  return Object.entries<UniformType>(spec.uniforms).map(([name, type]) => {
    if (name.startsWith("_")) return 0;
    const v = given[name];
    if (v === undefined) throw new Error(`Kernel ${spec.file}: uniform ${name} is not set`);
    return type === "f32" ? f32(v) : v;
  });
}

/** A uniform buffer holding `spec`'s block with `values` (see {@linkcode uniformWords}). */
export function uniformBlock<U extends string>(
  gpu: Gpu,
  spec: KernelSpec<string, U>,
  values: UniformValues<U>,
): GPUBuffer {
  return gpu.uniform(uniformWords(spec, values), `${spec.file}.params`);
}

/** Compiles (or fetches from the pipeline cache) one entry point of a checked record. */
export async function compileKernel(
  gpu: Gpu,
  spec: KernelSpec,
  entry: string,
  constants: Record<string, number> = {},
): Promise<Kernel> {
  checkKernelSpec(spec);
  if (!spec.entries.includes(entry)) {
    throw new Error(`Kernel ${spec.file}: ${entry} is not one of its entry points`);
  }
  return await gpu.kernel(spec.file, constants, entry);
}

/**
 * Records one dispatch of an already compiled entry point of `spec` (launchers that compile once
 * and record synchronously), bindings and uniforms by name.
 */
export function recordKernel<B extends string, U extends string>(
  p: Program,
  spec: KernelSpec<B, U>,
  kernel: Kernel,
  l: Omit<Launch<B, U>, "entry" | "constants">,
): void {
  const { kinds, uniform } = checkKernelSpec(spec);
  const bind = l.bind as Record<string, Tensor | GPUBindingResource | undefined>;
  for (const name of Object.keys(bind)) {
    if (!spec.bindings.includes(name as B)) {
      throw new Error(`Kernel ${spec.file}: no binding ${name}`);
    }
  }
  const resources = spec.bindings.map((name, i): Tensor | GPUBindingResource => {
    const r = bind[name];
    if (r !== undefined) return r;
    if (i === uniform) {
      if (!l.uniforms) throw new Error(`Kernel ${spec.file}: neither uniforms nor ${name} given`);
      return { buffer: uniformBlock(p.gpu, spec, l.uniforms) };
    }
    return placeholder(p.gpu, kinds[i]);
  });
  p.dispatch(kernel, resources, l.workgroups);
}

/** Records one dispatch of a kernel, its bindings and uniforms given by name. */
export async function dispatch<B extends string, U extends string>(
  p: Program,
  spec: KernelSpec<B, U>,
  l: Launch<B, U>,
): Promise<void> {
  const kernel = await compileKernel(p.gpu, spec, l.entry, l.constants);
  recordKernel(p, spec, kernel, l);
}

function placeholder(gpu: Gpu, kind: Kind): Tensor | GPUBindingResource {
  if (kind === "read") return gpu.dummyU32();
  if (kind === "write") return gpu.sink();
  if (kind === "texture") return placeholderTexture(gpu);
  throw new Error("A uniform block has no placeholder");
}
