/**
 * `meta/info.json` of a LeRobot dataset: the codebase version, frame rate, path templates and
 * the features by name. Only the fields the reader needs are checked; unknown fields are kept.
 */

/** One feature of `info.json`: `{dtype, shape, names}`. */
export interface LeRobotFeature {
  /** `float32`, `float64`, `int64`, `bool`, `string`, `image`, `video`, ... */
  dtype: string;
  /** Per-frame shape, e.g. `[2]` for a 2-channel vector. */
  shape: number[];
  /** Channel names: a list, or a map with one list (e.g. `{"motors": [...]}`), or null. */
  names?: unknown;
}

/** The parsed `meta/info.json`. */
export interface LeRobotInfo {
  /** `v3.0`, `v2.1` or `v2.0`. */
  codebase_version: string;
  /** Frames per second. */
  fps: number;
  /** Features by name. */
  features: Record<string, LeRobotFeature>;
  /** Data file template, e.g. `data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet`. */
  data_path: string;
  /** Files per chunk folder (v2.x: episodes per chunk). */
  chunks_size: number;
  /** Episodes in the dataset. */
  total_episodes: number;
  /** Frames in the dataset. */
  total_frames: number;
  /** Every other field as read. */
  [key: string]: unknown;
}

/** Feature dtypes that hold pixels and are not read by state-based policies. */
export const PIXEL_DTYPES: ReadonlySet<string> = new Set(["image", "video"]);

/** Feature dtypes read as vectors. */
export const FLOAT_DTYPES: ReadonlySet<string> = new Set(["float32", "float64"]);

/** Parses and checks `meta/info.json` text; `where` names the file in errors. */
export function parseInfo(text: string, where: string): LeRobotInfo {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`${where}: not valid JSON (${(e as Error).message})`);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new Error(`${where}: expected a JSON object`);
  }
  const fail = (m: string): never => {
    throw new Error(`${where}: ${m}`);
  };
  const version = raw.codebase_version;
  if (typeof version !== "string") fail("no 'codebase_version'");
  if (!/^v(3\.0|2\.[01])$/.test(version as string)) {
    fail(`codebase_version '${version}' is not supported (v3.0, v2.1, v2.0 are)`);
  }
  if (typeof raw.fps !== "number" || !(raw.fps > 0)) fail("'fps' must be a positive number");
  if (typeof raw.data_path !== "string") fail("no 'data_path' template");
  const features = raw.features as Record<string, LeRobotFeature> | undefined;
  if (!features || typeof features !== "object") fail("no 'features' map");
  for (const [name, f] of Object.entries(features!)) {
    if (!f || typeof f.dtype !== "string") fail(`feature '${name}' has no dtype`);
    if (!Array.isArray(f.shape) || !f.shape.every((s) => Number.isInteger(s) && s >= 0)) {
      fail(`feature '${name}' has no valid shape`);
    }
  }
  for (const k of ["total_episodes", "total_frames"]) {
    if (raw[k] !== undefined && !Number.isInteger(raw[k])) fail(`'${k}' must be an integer`);
  }
  return {
    ...raw,
    codebase_version: version as string,
    fps: raw.fps as number,
    features: features!,
    data_path: raw.data_path as string,
    chunks_size: Number.isInteger(raw.chunks_size) ? raw.chunks_size as number : 1000,
    total_episodes: (raw.total_episodes as number | undefined) ?? 0,
    total_frames: (raw.total_frames as number | undefined) ?? 0,
  };
}

/**
 * Fills a Python `str.format` path template with integers, e.g.
 * `formatTemplate("chunk-{chunk_index:03d}", {chunk_index: 2})` is `"chunk-002"`. Only the
 * `{name}` and `{name:0Nd}` forms LeRobot uses are understood.
 */
export function formatTemplate(template: string, values: Record<string, number>): string {
  return template.replace(/\{(\w+)(?::0?(\d+)d)?\}/g, (_m, key: string, width?: string) => {
    const v = values[key];
    if (v === undefined) throw new Error(`path template '${template}' needs '${key}'`);
    const s = String(v);
    return width ? s.padStart(Number(width), "0") : s;
  });
}

/** Channel names of a feature, when `names` is a list or a map holding one list. */
export function channelNames(f: LeRobotFeature): string[] | undefined {
  const n = f.names;
  const ok = (a: unknown): a is string[] =>
    Array.isArray(a) && a.every((s) => typeof s === "string");
  if (ok(n)) return n;
  if (n && typeof n === "object") {
    const lists = Object.values(n as Record<string, unknown>).filter(ok);
    if (lists.length === 1) return lists[0];
  }
  return undefined;
}

/** Width of a vector feature: the product of its shape (`[]` and `[1]` are 1). */
export function featureWidth(f: LeRobotFeature): number {
  return f.shape.reduce((a, b) => a * b, 1);
}
