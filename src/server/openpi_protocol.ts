/**
 * openpi's websocket policy protocol as this server speaks it (docs/openpi.md): the metadata
 * frame, the parsing of a client frame (an observation map or an `__ctrl__` message) and the
 * per-connection observation history that turns the latest frame into the policy's window.
 *
 * @module
 */

import { z } from "zod";
import type { PolicySpec } from "../policy/spec.ts";
import { readFloatArray } from "./openpi_codec.ts";
import { TensorError } from "./tensor.ts";

/** A policy as served over the openpi protocol. */
export interface PolicyServing {
  /** The policy record of the checkpoint. */
  spec: PolicySpec;
  /** Sampler every observation runs with. */
  sampler: string;
  /** Sampling steps every observation runs with. */
  steps: number;
  /** Server seed: when set, each connection's k-th observation of an episode draws seed k of it. */
  seed?: number;
}

/** A refused client frame; its message is sent back as one text frame. */
export class OpenpiError extends Error {
  /** Wraps a one-line message. */
  constructor(message: string) {
    super(message);
    this.name = "OpenpiError";
  }
}

/** The control messages of newer openpi clients. */
export const CTRL_MESSAGES = ["episode_start", "episode_end"] as const;

/** A parsed client frame. */
export type OpenpiInput =
  | { kind: "latest"; frame: Float32Array }
  | { kind: "history"; frames: Float32Array }
  | { kind: "ctrl"; ctrl: typeof CTRL_MESSAGES[number] };

const ctrlSchema = z.object({
  __ctrl__: z.enum(CTRL_MESSAGES, {
    errorMap: () => ({ message: `must be one of ${CTRL_MESSAGES.join(", ")}` }),
  }),
}).passthrough();

/** The observation keys accepted for the state, the spec's own first. */
export function stateKeys(spec: PolicySpec): string[] {
  const keys = [spec.stateKey, "state", spec.stateKey.replaceAll(".", "/")];
  return [...new Set(keys)];
}

/** The first frame of every openpi connection. */
export function policyMetadata(
  serving: PolicyServing,
  server: { name: string; version: string },
  policyName: string,
): Record<string, unknown> {
  const s = serving.spec;
  const state: Record<string, unknown> = {
    shape: [s.stateDim],
    dtype: "float32",
    history_shape: [s.nObsSteps, s.stateDim],
  };
  if (s.stateNames) state.names = s.stateNames;
  const action: Record<string, unknown> = {
    key: s.actionKey,
    shape: [s.horizon, s.actionDim],
    dtype: "float32",
  };
  if (s.actionNames) action.names = s.actionNames;
  return {
    server: { name: server.name, version: server.version, protocol: "openpi" },
    policy: { name: policyName, type: "diffusion" },
    observation: { [s.stateKey]: state },
    action,
    n_obs_steps: s.nObsSteps,
    horizon: s.horizon,
    n_action_steps: s.nActionSteps,
    // Actions executed from a chunk start here: the chunk begins at the oldest observation.
    first_action_index: s.nObsSteps - 1,
    fps: s.fps,
    sampler: serving.sampler,
    steps: serving.steps,
    num_train_timesteps: s.numTrainTimesteps,
    seeded: serving.seed !== undefined,
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof Uint8Array);
}

/**
 * Parses a decoded client frame: `__ctrl__` messages, else an observation map whose state (under
 * one of {@linkcode stateKeys}) is the latest frame `[D]` or the whole window `[nObsSteps, D]`.
 * Other keys (images, prompts) are ignored. Throws {@linkcode OpenpiError} with a one-line reason.
 */
export function parseOpenpiFrame(frame: unknown, spec: PolicySpec): OpenpiInput {
  if (!isRecord(frame)) throw new OpenpiError("Frame must be a map (an observation dict)");
  if ("__ctrl__" in frame) {
    const parsed = ctrlSchema.safeParse(frame);
    if (!parsed.success) {
      throw new OpenpiError(`Invalid __ctrl__: ${parsed.error.issues[0].message}`);
    }
    return { kind: "ctrl", ctrl: parsed.data.__ctrl__ };
  }
  const key = stateKeys(spec).find((k) => k in frame);
  if (key === undefined) {
    throw new OpenpiError(
      `Observation has no '${spec.stateKey}' (keys: ${
        Object.keys(frame).slice(0, 8).join(", ") || "none"
      })`,
    );
  }
  let t;
  try {
    t = readFloatArray(frame[key], key);
  } catch (error) {
    if (error instanceof TensorError) throw new OpenpiError(error.message);
    throw error;
  }
  const D = spec.stateDim, n = spec.nObsSteps;
  const s = t.shape;
  if ((s.length === 1 && s[0] === D) || (s.length === 0 && D === 1)) {
    return { kind: "latest", frame: t.data };
  }
  if (s.length === 2 && s[0] === n && s[1] === D) return { kind: "history", frames: t.data };
  throw new OpenpiError(`${key} has shape [${s}], expected [${D}] or [${n}, ${D}]`);
}

/**
 * One connection's last `nObsSteps` state frames, oldest first. After a reset the first frame
 * fills the whole window (Diffusion Policy pads an episode's start by repeating its first frame).
 */
export class ObservationHistory {
  #window: Float32Array | null = null;

  /** A history of `nObsSteps` frames of `dim` values. */
  constructor(readonly nObsSteps: number, readonly dim: number) {}

  /** Appends the latest frame `[dim]`, dropping the oldest. */
  push(frame: Float32Array): void {
    const { dim, nObsSteps } = this;
    if (this.#window === null) {
      this.#window = new Float32Array(nObsSteps * dim);
      for (let i = 0; i < nObsSteps; i++) this.#window.set(frame, i * dim);
      return;
    }
    this.#window.copyWithin(0, dim);
    this.#window.set(frame, (nObsSteps - 1) * dim);
  }

  /** Replaces the whole window `[nObsSteps * dim]`. */
  replace(frames: Float32Array): void {
    this.#window = Float32Array.from(frames);
  }

  /** Forgets every frame (the next one pads the window). */
  clear(): void {
    this.#window = null;
  }

  /** A copy of the window `[nObsSteps * dim]`, oldest frame first; null when empty. */
  window(): Float32Array | null {
    return this.#window ? this.#window.slice() : null;
  }
}
