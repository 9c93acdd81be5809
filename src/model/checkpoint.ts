/**
 * Training checkpoints as safetensors: the model under its upstream state-dict names (loadable by
 * PyTorch as is), `ema.<name>` for the EMA weights, `optim.m` / `optim.v` (flat, in the engine's
 * layout), and metadata with the config, step and the trainer state needed for an exact resume.
 * Written atomically (temporary file, fsync, rename); the last N are kept.
 */
import {
  loadSafetensors,
  type SafeTensors,
  type TensorInput,
  writeSafetensorsAtomic,
} from "../io/safetensors.ts";
import type { DiTConfig } from "./config.ts";
import { type PolicySpec, validatePolicySpec } from "../policy/spec.ts";

/** File format tag in the metadata. */
export const CHECKPOINT_FORMAT = "dit-engine-checkpoint/1";

/** Everything a checkpoint stores besides tensors. */
export interface CheckpointMeta {
  /** The model configuration (metadata `config`, JSON). */
  config: DiTConfig;
  /** Optimizer steps done when the checkpoint was written (metadata `step`). */
  step: number;
  /** Trainer state (options, data iterator, schedule) as JSON-serialisable data. */
  trainer: Record<string, unknown>;
  /** The robot policy this network is (metadata `policy`, JSON); absent for image models. */
  policy?: PolicySpec;
}

/** `ckpt-00001234.safetensors` */
export function checkpointName(step: number): string {
  return `ckpt-${String(step).padStart(8, "0")}.safetensors`;
}

/** Checkpoint files of a run directory, oldest first. */
export function listCheckpoints(dir: string): string[] {
  let names: string[] = [];
  try {
    names = [...Deno.readDirSync(dir)].filter((e) =>
      e.isFile && /^ckpt-\d{8}\.safetensors$/.test(e.name)
    )
      .map((e) => e.name).sort();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  return names.map((n) => `${dir}/${n}`);
}

/** The newest checkpoint of a run directory (or a checkpoint file path given directly). */
export function latestCheckpoint(pathOrDir: string): string {
  let stat: Deno.FileInfo;
  try {
    stat = Deno.statSync(pathOrDir);
  } catch {
    throw new Error(`Checkpoint path ${pathOrDir} does not exist`);
  }
  if (stat.isFile) return pathOrDir;
  const all = listCheckpoints(pathOrDir);
  if (!all.length) throw new Error(`No checkpoint (ckpt-*.safetensors) in ${pathOrDir}`);
  return all[all.length - 1];
}

/** Writes a checkpoint atomically and prunes all but the newest `keep`. */
export async function saveCheckpoint(
  dir: string,
  meta: CheckpointMeta,
  tensors: Record<string, TensorInput>,
  keep: number,
): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const path = `${dir}/${checkpointName(meta.step)}`;
  await writeSafetensorsAtomic(path, tensors, {
    format: CHECKPOINT_FORMAT,
    config: JSON.stringify(meta.config),
    step: String(meta.step),
    trainer: JSON.stringify(meta.trainer),
    ...(meta.policy ? { policy: JSON.stringify(meta.policy) } : {}),
  });
  const all = listCheckpoints(dir);
  for (const old of all.slice(0, Math.max(0, all.length - keep))) await Deno.remove(old);
  return path;
}

/** A loaded checkpoint. */
export interface LoadedCheckpoint extends CheckpointMeta {
  /** Path of the checkpoint file that was read. */
  path: string;
  /** The parsed file: model, `ema.*` and `optim.*` tensors and the metadata. */
  file: SafeTensors;
}

/** Reads a checkpoint (file, or the newest in a directory) and checks its format. */
export async function loadCheckpoint(pathOrDir: string): Promise<LoadedCheckpoint> {
  const path = latestCheckpoint(pathOrDir);
  const file = await loadSafetensors(path);
  const md = file.metadata;
  if (md.format !== CHECKPOINT_FORMAT) {
    throw new Error(
      `${path} is not an engine checkpoint (metadata format is ${md.format ?? "missing"})`,
    );
  }
  let config: DiTConfig;
  let trainer: Record<string, unknown>;
  let policy: PolicySpec | undefined;
  try {
    config = JSON.parse(md.config);
    trainer = JSON.parse(md.trainer ?? "{}");
    policy = md.policy === undefined ? undefined : JSON.parse(md.policy);
  } catch (e) {
    throw new Error(`${path}: corrupt checkpoint metadata: ${(e as Error).message}`);
  }
  if (policy) {
    try {
      validatePolicySpec(policy);
    } catch (e) {
      throw new Error(`${path}: ${(e as Error).message}`);
    }
  }
  const step = Number(md.step);
  if (!Number.isInteger(step) || step < 0) throw new Error(`${path}: bad step ${md.step}`);
  return { path, file, config, step, trainer, ...(policy ? { policy } : {}) };
}
