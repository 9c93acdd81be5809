/**
 * A DiT resident on the GPU: config, flat parameter layout, parameter/gradient buffers, and the
 * state dict in upstream key names (safetensors in and out, checked key by key and shape by shape).
 */
import type { Gpu, Tensor } from "../gpu/gpu.ts";
import type { SafeTensors, TensorInput } from "../io/safetensors.ts";
import { type DiTConfig, validateConfig } from "./config.ts";
import { initParams } from "./init.ts";
import { ParamLayout } from "./layout.ts";

/** Options for {@linkcode DiTModel.create}. */
export interface ModelOptions {
  /** Allocate gradient buffers (training). */
  training?: boolean;
  /** Initialisation seed (ignored when weights are loaded afterwards). */
  seed?: number;
}

/** A model whose parameters live in GPU buffers. */
export class DiTModel {
  /**
   * The flat parameter layout.
   * @internal
   */
  readonly layout: ParamLayout;
  /**
   * All trainable parameters, flat [layout.paramsSize].
   * @internal
   */
  readonly params: Tensor;
  /**
   * Frozen tensors (the official fixed pos_embed), flat.
   * @internal
   */
  readonly frozen: Tensor;
  /**
   * Gradients in the parameter layout (training only).
   * @internal
   */
  readonly grads: Tensor | null;

  private constructor(readonly gpu: Gpu, readonly cfg: DiTConfig, training: boolean) {
    validateConfig(cfg);
    this.layout = new ParamLayout(cfg);
    this.params = gpu.tensor([this.layout.paramsSize], "params");
    this.frozen = gpu.tensor([this.layout.frozenSize], "frozen");
    this.grads = training ? gpu.tensor([this.layout.paramsSize], "grads") : null;
  }

  /** Creates a model initialised as the official DiT (seeded). */
  static create(gpu: Gpu, cfg: DiTConfig, options: ModelOptions = {}): DiTModel {
    const m = new DiTModel(gpu, cfg, options.training ?? false);
    const { params, frozen } = initParams(m.layout, options.seed ?? 0);
    gpu.write(m.params, params);
    gpu.write(m.frozen, frozen);
    return m;
  }

  /** The GPU slice of trainable parameter `name`. */
  param(name: string): Tensor {
    const e = this.layout.get(name);
    if (!e.trainable) throw new Error(`Parameter ${name} is frozen`);
    return this.params.slice(e.offset, e.shape);
  }

  /** The GPU slice of frozen tensor `name`. */
  frozenTensor(name: string): Tensor {
    const e = this.layout.get(name);
    if (e.trainable) throw new Error(`Parameter ${name} is trainable`);
    return this.frozen.slice(e.offset, e.shape);
  }

  /** The gradient slice of parameter `name`. */
  grad(name: string): Tensor {
    if (!this.grads) throw new Error("Model was created without gradients (training: false)");
    const e = this.layout.get(name);
    return this.grads.slice(e.offset, e.shape);
  }

  /**
   * Loads a state dict by upstream names into the GPU buffers. Every key must be present with its
   * exact shape; unexpected keys are an error (pass `allowExtra` to ignore them).
   */
  loadStateDict(st: SafeTensors, opts: { allowExtra?: boolean; prefix?: string } = {}): void {
    const prefix = opts.prefix ?? "";
    const names = new Set(
      st.names().filter((n) => n.startsWith(prefix)).map((n) => n.slice(prefix.length)),
    );
    const missing: string[] = [];
    const misshaped: string[] = [];
    const params = new Float32Array(this.layout.paramsSize);
    const frozen = new Float32Array(this.layout.frozenSize);
    for (const e of this.layout.entries) {
      if (!names.has(e.name)) {
        missing.push(e.name);
        continue;
      }
      names.delete(e.name);
      const t = st.get(prefix + e.name);
      if (t.shape.length !== e.shape.length || t.shape.some((d, i) => d !== e.shape[i])) {
        misshaped.push(`${e.name} is [${t.shape}], expected [${e.shape}]`);
        continue;
      }
      if (!["F32", "F16", "BF16", "F64"].includes(t.dtype)) {
        misshaped.push(`${e.name} has dtype ${t.dtype}, expected a float type`);
        continue;
      }
      const v = st.float32(prefix + e.name);
      for (let i = 0; i < v.length; i++) {
        if (!Number.isFinite(v[i])) {
          misshaped.push(`${e.name} holds a non-finite value at ${i}`);
          break;
        }
      }
      (e.trainable ? params : frozen).set(v, e.offset);
    }
    const extra = opts.allowExtra ? [] : [...names];
    if (missing.length || misshaped.length || extra.length) {
      const parts = [];
      if (missing.length) parts.push(`missing keys: ${missing.join(", ")}`);
      if (misshaped.length) parts.push(`bad tensors: ${misshaped.join("; ")}`);
      if (extra.length) parts.push(`unexpected keys: ${extra.join(", ")}`);
      throw new Error(
        `State dict does not match the ${this.cfg.arch} DiT config: ${parts.join("; ")}`,
      );
    }
    this.gpu.write(this.params, params);
    this.gpu.write(this.frozen, frozen);
  }

  /** Reads the parameters back as a state dict in upstream names and order. */
  async stateDict(source: Tensor = this.params): Promise<Record<string, TensorInput>> {
    const [params, frozen] = await this.gpu.read(source, this.frozen);
    return this.stateDictFrom(params, frozen);
  }

  /** Builds a state dict from host copies of the flat buffers. */
  stateDictFrom(params: Float32Array, frozen: Float32Array): Record<string, TensorInput> {
    const out: Record<string, TensorInput> = {};
    for (const e of this.layout.entries) {
      const src = e.trainable ? params : frozen;
      out[e.name] = { dtype: "F32", shape: e.shape, data: src.slice(e.offset, e.offset + e.size) };
    }
    return out;
  }

  /** A flat tensor of the same layout (EMA weights, optimizer moments). */
  like(label: string): Tensor {
    return this.gpu.tensor([this.layout.paramsSize], label);
  }

  /** Number of trainable parameters. */
  get parameterCount(): number {
    return this.layout.trainableCount;
  }
}
