/**
 * Push-T geometry in gym-pusht's units (pixels of the 512 x 512 workspace, y pointing down in
 * pictures): the T's outline in body coordinates, poses to world polygons, and the coverage of the
 * goal T by the block's T (polygon intersection by `polygon-clipping`).
 */
import polygonClipping from "polygon-clipping";
import type { Pair, Polygon } from "polygon-clipping";

/** A planar pose: body origin (x, y) and angle in radians (x toward y). */
export interface Pose {
  /** body origin x */
  x: number;
  /** body origin y */
  y: number;
  /** rotation in radians */
  angle: number;
}

/** gym-pusht's goal pose of the T. */
export const GOAL_POSE: Readonly<Pose> = Object.freeze({ x: 256, y: 256, angle: Math.PI / 4 });

/** gym-pusht's bar: x in [-60, 60], y in [0, 30] (body coordinates). */
export const BAR = Object.freeze({ x0: -60, x1: 60, y0: 0, y1: 30 });
/** gym-pusht's stem: x in [-15, 15], y in [30, 120] (body coordinates). */
export const STEM = Object.freeze({ x0: -15, x1: 15, y0: 30, y1: 120 });
/** Centre of gravity in body coordinates: the mean of the two boxes' centroids, (0, 45). */
export const T_COG: readonly [number, number] = [
  0,
  ((BAR.y0 + BAR.y1) / 2 + (STEM.y0 + STEM.y1) / 2) / 2,
];
/** Area of the T: 120 * 30 + 30 * 90. */
export const T_AREA = (BAR.x1 - BAR.x0) * (BAR.y1 - BAR.y0) +
  (STEM.x1 - STEM.x0) * (STEM.y1 - STEM.y0);

/** The T's outline in body coordinates, counter-clockwise in a y-up frame (8 corners). */
export const T_OUTLINE: readonly Pair[] = Object.freeze([
  [BAR.x0, BAR.y0],
  [BAR.x1, BAR.y0],
  [BAR.x1, BAR.y1],
  [STEM.x1, STEM.y0],
  [STEM.x1, STEM.y1],
  [STEM.x0, STEM.y1],
  [STEM.x0, STEM.y0],
  [BAR.x0, BAR.y1],
] as Pair[]);

/** Maps body-coordinate points to world coordinates under `pose`. */
export function toWorld(pose: Pose, points: readonly Pair[]): Pair[] {
  const c = Math.cos(pose.angle), s = Math.sin(pose.angle);
  return points.map(([u, v]) => [pose.x + c * u - s * v, pose.y + s * u + c * v]);
}

/** The T at `pose` as a closed polygon ring in world coordinates. */
export function tPolygon(pose: Pose): Polygon {
  const ring = toWorld(pose, T_OUTLINE);
  ring.push([ring[0][0], ring[0][1]]);
  return [ring];
}

/** Area of a polygon ring (shoelace; sign ignored). */
export function ringArea(ring: readonly Pair[]): number {
  let a = 0;
  for (let i = 0, n = ring.length; i < n; i++) {
    const [x0, y0] = ring[i], [x1, y1] = ring[(i + 1) % n];
    a += x0 * y1 - x1 * y0;
  }
  return Math.abs(a) / 2;
}

/** Area of the intersection of the T at `a` and the T at `b`. */
export function overlapArea(a: Pose, b: Pose): number {
  let area = 0;
  for (const poly of polygonClipping.intersection(tPolygon(a), tPolygon(b))) {
    // outer ring minus holes
    poly.forEach((ring, i) => area += i === 0 ? ringArea(ring) : -ringArea(ring));
  }
  return area;
}

/** gym-pusht's coverage: area of (goal T intersect block T) over the goal T's area, in [0, 1]. */
export function coverage(block: Pose, goal: Pose = GOAL_POSE): number {
  return Math.min(1, Math.max(0, overlapArea(block, goal) / T_AREA));
}

/**
 * The body origin gym-pusht ends with when its reset sets position (x, y) and then angle: pymunk
 * rotates about the centre of gravity, which stays where the position put it, so the origin moves
 * by cog - R(angle) * cog.
 */
export function resetOrigin(x: number, y: number, angle: number): [number, number] {
  const c = Math.cos(angle), s = Math.sin(angle);
  const [gx, gy] = T_COG;
  return [x + gx - (c * gx - s * gy), y + gy - (s * gx + c * gy)];
}
