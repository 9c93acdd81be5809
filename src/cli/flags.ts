/** Command-line flag parsing shared by the CLIs. */

/** The integer value of flag `--name` (`def` when absent); throws unless it is an integer >= min. */
export function intFlag(v: string | undefined, name: string, def: number, min = 0): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    throw new Error(`--${name} expects an integer >= ${min}, got "${v}"`);
  }
  return n;
}

/** The value of flag `--name` (undefined when absent); throws unless it is a finite number > 0. */
export function positiveFlag(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || n <= 0) {
    throw new Error(`--${name} expects a positive number, got "${v}"`);
  }
  return n;
}
