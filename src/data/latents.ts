/**
 * Precomputed latents as a dataset, stored as safetensors:
 *
 * - tensor `latents`: F32 [N,C,H,W] (already multiplied by the autoencoder's scaling factor);
 * - tensor `labels`: I64 (or I32) [N], each in [0, numClasses);
 * - metadata `class_names`: JSON array of strings (required), `autoencoder`: its name (optional),
 *   `scaling_factor`: decimal string (optional).
 */
import { encodeSafetensors, loadSafetensors, type SafeTensors } from "../io/safetensors.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { checkIndex, type Dataset, type Sample, type Shape3 } from "./dataset.ts";

/** A latents dataset, with the file's autoencoder metadata. */
export interface LatentsDataset extends Dataset {
  /** `autoencoder` metadata, or null when absent */
  readonly autoencoder: string | null;
  /** `scaling_factor` metadata, or null when absent */
  readonly scalingFactor: number | null;
  /** the whole [N,C,H,W] array */
  readonly latents: Float32Array;
}

/** Options of {@linkcode loadLatents} and {@linkcode latentsFromSafetensors}. */
export interface LatentsOptions {
  /** throws unless the latents' [C,H,W] equals this (e.g. the model's input shape) */
  expectShape?: Shape3;
}

/**
 * Loads a latents file (format in the module comment).
 *
 * @throws with the path and the offending tensor/key: missing file, missing tensor or metadata,
 * wrong dtype or rank, shape different from `expectShape`, label out of range
 */
export async function loadLatents(
  path: string,
  options: LatentsOptions = {},
): Promise<LatentsDataset> {
  let st: SafeTensors;
  try {
    st = await loadSafetensors(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(`Latents file not found: ${path}`);
    throw e;
  }
  return latentsFromSafetensors(st, path, options);
}

/** Builds the dataset from a parsed file; `name` (the path) appears in errors and as the name. */
export function latentsFromSafetensors(
  st: SafeTensors,
  name: string,
  options: LatentsOptions = {},
): LatentsDataset {
  for (const key of ["latents", "labels"]) {
    if (!st.has(key)) throw new Error(`Latents file ${name} has no tensor "${key}"`);
  }
  const info = st.info("latents");
  if (info.dtype !== "F32") {
    throw new Error(`Tensor "latents" in ${name} must be F32, got ${info.dtype}`);
  }
  if (info.shape.length !== 4 || info.shape.some((d) => d <= 0)) {
    throw new Error(`Tensor "latents" in ${name} must be [N,C,H,W], got [${info.shape.join(",")}]`);
  }
  const [N, C, H, W] = info.shape;
  const shape: Shape3 = [C, H, W];
  const want = options.expectShape;
  if (want && (want[0] !== C || want[1] !== H || want[2] !== W)) {
    throw new Error(
      `Tensor "latents" in ${name} has examples of shape [${shape.join(",")}], expected [${
        want.join(",")
      }]`,
    );
  }
  const lInfo = st.info("labels");
  if (lInfo.dtype !== "I64" && lInfo.dtype !== "I32") {
    throw new Error(`Tensor "labels" in ${name} must be I64 or I32, got ${lInfo.dtype}`);
  }
  if (lInfo.shape.length !== 1 || lInfo.shape[0] !== N) {
    throw new Error(`Tensor "labels" in ${name} must be [${N}], got [${lInfo.shape.join(",")}]`);
  }
  const classNames = parseClassNames(st.metadata["class_names"], name);
  const labels = Int32Array.from(st.numbers("labels"));
  labels.forEach((l, i) => {
    if (l < 0 || l >= classNames.length) {
      throw new Error(
        `Tensor "labels" in ${name}: labels[${i}] = ${l} is out of range for ${classNames.length} classes`,
      );
    }
  });
  const latents = st.float32("latents").slice(); // [N,C,H,W], own copy (aligned, detached from file)
  const per = C * H * W;
  const sf = st.metadata["scaling_factor"];
  const scalingFactor = sf === undefined ? null : Number(sf);
  if (scalingFactor !== null && !Number.isFinite(scalingFactor)) {
    throw new Error(`Metadata "scaling_factor" in ${name} is not a number: ${sf}`);
  }
  const dataset: LatentsDataset = {
    name,
    numClasses: classNames.length,
    classNames,
    shape,
    length: N,
    autoencoder: st.metadata["autoencoder"] ?? null,
    scalingFactor,
    latents,
    label(i: number): number {
      checkIndex(dataset, i);
      return labels[i];
    },
    get(i: number): Sample {
      checkIndex(dataset, i);
      return { x: latents.subarray(i * per, (i + 1) * per), label: labels[i] };
    },
  };
  return dataset;
}

function parseClassNames(raw: string | undefined, name: string): string[] {
  if (raw === undefined) throw new Error(`Latents file ${name} has no "class_names" metadata`);
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw new Error(`Metadata "class_names" in ${name} is not JSON: ${raw.slice(0, 80)}`);
  }
  if (!Array.isArray(v) || v.length === 0 || !v.every((s) => typeof s === "string")) {
    throw new Error(`Metadata "class_names" in ${name} must be a non-empty JSON array of strings`);
  }
  return v;
}

/** What {@linkcode saveLatents} writes. */
export interface LatentsFile {
  /** [N,C,H,W] */
  latents: Float32Array;
  /** [N, C, H, W] of `latents` */
  shape: readonly [number, number, number, number];
  /** [N] */
  labels: ArrayLike<number>;
  /** class names, written as the `class_names` metadata */
  classNames: readonly string[];
  /** autoencoder name, written as the `autoencoder` metadata (omitted when undefined) */
  autoencoder?: string;
  /** written as the `scaling_factor` metadata (omitted when undefined) */
  scalingFactor?: number;
}

/** Encodes latents in the format of the module comment. */
export function encodeLatents(file: LatentsFile): Uint8Array {
  const [N] = file.shape;
  if (file.labels.length !== N) {
    throw new Error(`Latents have ${N} examples but ${file.labels.length} labels`);
  }
  const metadata: Record<string, string> = { class_names: JSON.stringify(file.classNames) };
  if (file.autoencoder !== undefined) metadata.autoencoder = file.autoencoder;
  if (file.scalingFactor !== undefined) metadata.scaling_factor = String(file.scalingFactor);
  return encodeSafetensors({
    latents: { dtype: "F32", shape: [...file.shape], data: file.latents },
    labels: {
      dtype: "I64",
      shape: [N],
      data: BigInt64Array.from(Array.from(file.labels), (l) => BigInt(l)),
    },
  }, metadata);
}

/** Writes a latents file atomically (see {@linkcode encodeLatents}). */
export async function saveLatents(path: string, file: LatentsFile): Promise<void> {
  await writeFileAtomic(path, encodeLatents(file));
}
