/**
 * Shared types of the VAE op launchers: the recording context, NHWC activations and packed
 * matmul operands.
 */
import type { Program, Tensor } from "../gpu/gpu.ts";
import type { PackedMatrix } from "../ops/matmul.ts";
import type { VaeMemory } from "./memory.ts";

/** A recording context: the program and the VAE's memory. */
export interface Rec {
  p: Program;
  mem: VaeMemory;
}

/** An NHWC activation: `t` holds [N, H, W, C] (offset 0, from the pool or persistent). */
export interface Act {
  t: Tensor;
  N: number;
  H: number;
  W: number;
  C: number;
}

/** Whether packed operands are textures (CPU adapters) or buffers. */
export function usesTextures(rec: Rec): boolean {
  return rec.p.gpu.info.matmul === "texture";
}

/** A packed matmul operand and how to give its scratch memory back. */
export interface Operand {
  op: PackedMatrix;
  /** returns pooled scratch to the pool (after the consuming matmul is recorded) */
  release(): void;
}
