/**
 * Shared types and argument checks for the CPU reference ops.
 *
 * Every reference op takes read-only {@linkcode Tensor} inputs with explicit dimensions, checks the
 * lengths against those dimensions, computes in float64 and returns fresh `Float64Array`s.
 */

/** A read-only numeric input in row-major layout (Float32Array, Float64Array or number[]). */
export type Tensor = ArrayLike<number>;

/** A numeric buffer that an op updates in place (parameters, optimizer state). */
export interface MutableTensor {
  readonly length: number;
  [index: number]: number;
}

/** Throws unless each named dimension is a positive integer. */
export function expectDims(dims: Record<string, number>): void {
  for (const [name, value] of Object.entries(dims)) {
    if (!Number.isInteger(value) || value <= 0) {
      throw new Error(`Dimension ${name} must be a positive integer, got ${value}`);
    }
  }
}

/** Throws unless `a` holds exactly `expected` elements; `shape` names the shape, e.g. "[M,K]". */
export function expectLength(name: string, a: Tensor, expected: number, shape: string): void {
  if (a.length !== expected) {
    throw new Error(
      `Length of ${name} is ${a.length} but its shape ${shape} needs ${expected} elements`,
    );
  }
}

/** Throws unless `value` is divisible by `divisor`; `what` describes the requirement. */
export function expectDivisible(what: string, value: number, divisor: number): void {
  if (value % divisor !== 0) throw new Error(`${what}: ${value} is not divisible by ${divisor}`);
}

/** Throws unless `x` and `y` have the same length. */
export function expectSameLength(nameX: string, x: Tensor, nameY: string, y: Tensor): void {
  if (x.length !== y.length) {
    throw new Error(`Lengths of ${nameX} (${x.length}) and ${nameY} (${y.length}) differ`);
  }
}
