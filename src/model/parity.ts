/**
 * Whole-model parity against golden files made by the upstream PyTorch code (official DiT and the
 * seed's dit.py): builds the model from the file's config, loads its state dict by upstream names,
 * runs forward and backward on the engine, and compares outputs, activations and gradients.
 */
import { OUTPUT_LIMIT, type ParityRow, relError } from "../util/compare.ts";
import type { Gpu } from "../gpu/gpu.ts";
import type { SafeTensors } from "../io/safetensors.ts";
import type { DiTConfig } from "./config.ts";
import { DiTGraph } from "./graph.ts";
import { DiTModel } from "./model.ts";

export { OUTPUT_LIMIT, type ParityRow, relError };

/** Gradient limit 1e-3 (relative to each tensor's max); outputs and activations: OUTPUT_LIMIT. */
export const GRAD_LIMIT = 1e-3;

/** Which DiT a golden file describes, or null. */
export function ditKind(st: SafeTensors): "official" | "seed" | null {
  const cfg = st.metadata.model_config;
  if (!cfg) return null;
  const c = JSON.parse(cfg);
  if ("n_embd" in c) return "seed";
  if ("hidden_size" in c) return "official";
  return null;
}

function need(c: Record<string, unknown>, key: string): number {
  const v = c[key];
  if (typeof v !== "number") throw new Error(`Golden model_config lacks a numeric ${key}`);
  return v;
}

/** The engine config equivalent to a golden file's `model_config`. */
export function configFromGolden(st: SafeTensors): DiTConfig {
  const c = JSON.parse(st.metadata.model_config) as Record<string, unknown>;
  if (ditKind(st) === "seed") {
    return {
      arch: "seed",
      input: { kind: "image", channels: need(c, "in_channels"), size: need(c, "image_size") },
      condition: { kind: "class", numClasses: need(c, "num_classes"), nullClass: false },
      patchSize: need(c, "patch_size"),
      hidden: need(c, "n_embd"),
      depth: need(c, "n_layer"),
      heads: need(c, "n_head"),
      mlpRatio: 4,
      outChannels: need(c, "out_channels"),
      classDropout: 0,
      dwKernel: 4,
    };
  }
  const C = need(c, "in_channels");
  const dropout = need(c, "class_dropout_prob");
  return {
    arch: "official",
    input: { kind: "image", channels: C, size: need(c, "input_size") },
    condition: { kind: "class", numClasses: need(c, "num_classes"), nullClass: dropout > 0 },
    patchSize: need(c, "patch_size"),
    hidden: need(c, "hidden_size"),
    depth: need(c, "depth"),
    heads: need(c, "num_heads"),
    mlpRatio: need(c, "mlp_ratio"),
    outChannels: c.learn_sigma ? 2 * C : C,
    classDropout: dropout,
    dwKernel: 0,
  };
}

/** [N, A, B] -> [N, B, A]. */
function transpose3(x: Float32Array, N: number, A: number, B: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let n = 0; n < N; n++) {
    for (let a = 0; a < A; a++) {
      for (let b = 0; b < B; b++) out[(n * B + b) * A + a] = x[(n * A + a) * B + b];
    }
  }
  return out;
}

/** The seed's broadcast quirk stores [N, N, K]: sample i's row is [i, N-1, :]. */
function lastOfPairs(x: Float32Array, N: number): Float32Array {
  const K = x.length / (N * N);
  const out = new Float32Array(N * K);
  for (let i = 0; i < N; i++) out.set(x.subarray((i * N + N - 1) * K, (i * N + N) * K), i * K);
  return out;
}

/** Runs the DiT parity check of a golden file and returns one row per compared tensor. */
export async function parityDit(gpu: Gpu, st: SafeTensors): Promise<ParityRow[]> {
  const cfg = configFromGolden(st);
  const seed = cfg.arch === "seed";
  const model = DiTModel.create(gpu, cfg, { training: true });
  const keys = JSON.parse(st.metadata.state_dict_keys ?? "[]") as string[];
  const expected = model.layout.entries.map((e) => e.name);
  const missing = expected.filter((k) => !keys.includes(k));
  const extra = keys.filter((k) => !expected.includes(k));
  if (missing.length || extra.length) {
    throw new Error(
      `Golden state_dict_keys differ: missing ${missing.join(", ") || "none"}; extra ${
        extra.join(", ") || "none"
      }`,
    );
  }
  model.loadStateDict(st, { allowExtra: true });
  const xShape = st.get("x").shape;
  const N = xShape[0];
  const graph = await DiTGraph.build(gpu, model, { batch: N, training: true, inputGrad: true });
  graph.setConditioning(st.numbers("t"), st.numbers("y"));
  gpu.write(graph.x, st.float32("x"));
  gpu.write(graph.target, st.float32("target"));
  gpu.submit(graph.pack, graph.forward, graph.lossAndBackward);

  const actNames = [...graph.acts.keys()];
  const read = await gpu.read(
    graph.out,
    graph.loss,
    graph.gradX,
    model.grads!,
    ...actNames.map((n) => graph.acts.get(n)!),
  );
  const [out, loss, gradX, grads] = read;
  const acts = new Map(actNames.map((n, i) => [n, read[4 + i]]));
  const rows: ParityRow[] = [];
  const cmp = (name: string, ours: Float32Array, ref: Float32Array, limit: number) =>
    rows.push({ name, error: relError(ours, ref), limit });
  cmp("output", out, st.float32("output"), OUTPUT_LIMIT);
  cmp("loss", loss.subarray(0, 1), st.float32("loss"), OUTPUT_LIMIT);
  // The inference graph (what sampling and the server run: fused epilogues, nothing kept for a
  // backward pass) against the same golden output.
  const inference = await DiTGraph.build(gpu, model, { batch: N, training: false });
  inference.setConditioning(st.numbers("t"), st.numbers("y"));
  gpu.write(inference.x, st.float32("x"));
  gpu.submit(inference.pack, inference.forward);
  const [inferenceOut] = await gpu.read(inference.out);
  cmp("output (inference graph)", inferenceOut, st.float32("output"), OUTPUT_LIMIT);
  // Activations, in the golden names and layouts.
  const T = graph.d.T;
  const D = cfg.hidden;
  const act = (golden: string, ours: string, f: (x: Float32Array) => Float32Array = (x) => x) => {
    if (st.has(golden)) cmp(golden, f(acts.get(ours)!), st.float32(golden), OUTPUT_LIMIT);
  };
  if (seed) {
    act("act.first_layer.patchify", "x_embed");
    act("act.first_layer.t_embedder.0", "t_freq");
    act("act.first_layer.t_embedder", "t_emb");
    act("act.first_layer.y_embedder", "y_emb");
    act("act.first_layer.x", "h0");
    if (st.has("act.first_layer.c")) {
      cmp(
        "act.first_layer.c[:, -1]",
        acts.get("c")!,
        lastOfPairs(st.float32("act.first_layer.c"), N),
        OUTPUT_LIMIT,
      );
    }
  } else {
    act("act.x_embedder", "x_embed");
    act("act.t_embedder", "t_emb");
    act("act.y_embedder", "y_emb");
  }
  for (let i = 0; i < cfg.depth; i++) {
    const b = `act.blocks.${i}`;
    if (seed && st.has(`${b}.adaLN_modulation`)) {
      cmp(
        `${b}.adaLN_modulation[:, -1]`,
        acts.get(`blocks.${i}.mod`)!,
        lastOfPairs(st.float32(`${b}.adaLN_modulation`), N),
        OUTPUT_LIMIT,
      );
    }
    act(`${b}.attn`, `blocks.${i}.attn`);
    act(
      `${b}.mlp.depthwise_conv`,
      `blocks.${i}.dwconv`,
      (x) => transpose3(x, N, T, x.length / (N * T)),
    );
    act(`${b}.mlp`, `blocks.${i}.mlp`);
    act(b, `blocks.${i}`);
  }
  act("act.final_layer", "final_layer");
  cmp("grad_x", gradX, st.float32("grad_x"), GRAD_LIMIT);
  for (const e of model.layout.entries) {
    const g = `grad.${e.name}`;
    if (!e.trainable) {
      if (st.has(g)) throw new Error(`Golden has ${g} but ${e.name} is frozen here`);
      continue;
    }
    if (!st.has(g)) throw new Error(`Golden file lacks ${g}`);
    cmp(g, grads.subarray(e.offset, e.offset + e.size), st.float32(g), GRAD_LIMIT);
  }
  void D;
  return rows;
}
