/**
 * CPU reference ("oracle") implementations of every DiT op, forward and backward, in float64.
 *
 * Plain TypeScript with no WebGPU dependency: the GPU kernels are tested against these. Inputs are
 * row-major `ArrayLike<number>` with explicit dimensions; outputs are fresh `Float64Array`s.
 *
 * @module
 */
export * from "./check.ts";
export * from "./linear.ts";
export * from "./matmul.ts";
export * from "./patch.ts";
export * from "./posembed.ts";
export * from "./timestep.ts";
export * from "./activation.ts";
export * from "./layernorm.ts";
export * from "./adaln.ts";
export * from "./softmax.ts";
export * from "./attention.ts";
export * from "./dwconv.ts";
export * from "./loss.ts";
export * from "./embedding.ts";
export * from "./optim.ts";
export * from "./vae.ts";
