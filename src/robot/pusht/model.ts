/**
 * The Push-T scene as MJCF for MuJoCo, in gym-pusht's units: 1 length unit = 1 pixel of the
 * 512 x 512 workspace, world x and y equal to pymunk's (so observations need no conversion), angles
 * about +z (x toward y, as pymunk's). Everything lies in the plane z = 0 and is extruded to 40 units
 * of height so that every contact normal is horizontal.
 */
import { BAR, STEM, T_COG } from "./geometry.ts";

/** Physics step in seconds (gym-pusht's dt). */
export const PHYSICS_DT = 0.01;
/** Workspace size: actions are clipped to [0, WORKSPACE]^2 (defined here, beside the scene, so
 * that pages can use it without loading MuJoCo through env.ts). */
export const WORKSPACE = 512;
/** Push-T's observation width: agent x, y, block x, y, angle. */
export const PUSHT_STATE_DIM = 5;
/** Push-T's action width: the target x, y. */
export const PUSHT_ACTION_DIM = 2;
/** Physics steps per 10 Hz control step. */
export const SUBSTEPS = 10;
/** Pusher radius (gym-pusht's agent circle). */
export const PUSHER_RADIUS = 15;
/** PD gains of gym-pusht's pusher velocity law. */
export const KP = 100;
/** Velocity gain of the PD law. */
export const KV = 20;
/** Wall segments' coordinates and radius (pymunk segments with rounded ends = capsules). */
export const WALL_LO = 5, WALL_HI = 506, WALL_RADIUS = 2;
/**
 * The pusher is kinematic in gym-pusht. MuJoCo has no kinematic joint body that carries its
 * velocity into contacts (mocap bodies enter contacts with zero velocity), so the pusher is a very
 * heavy body whose position and velocity the environment overwrites every step; contact impulses
 * change its velocity by about 1e-6 of the block's.
 */
export const PUSHER_MASS = 1e6;
/**
 * gym-pusht's block inertia: pymunk's moment_for_poly of the bar about the body origin (1500),
 * counted twice (its code passes the bar's vertices for both boxes).
 */
export const BLOCK_INERTIA = 3000;
/** qpos/qvel layout: pusher x, pusher y, block x, block y, block angle. */
export const Q = Object.freeze({ px: 0, py: 1, bx: 2, by: 3, ba: 4 });

const H = 20; // half height of the extrusion

function wall(name: string, a: [number, number], b: [number, number]): string {
  return `<geom name="${name}" type="capsule" size="${WALL_RADIUS}" ` +
    `fromto="${a[0]} ${a[1]} 0 ${b[0]} ${b[1]} 0" contype="1" conaffinity="0"/>`;
}

function box(name: string, r: { x0: number; x1: number; y0: number; y1: number }): string {
  const cx = (r.x0 + r.x1) / 2, cy = (r.y0 + r.y1) / 2;
  return `<geom name="${name}" type="box" pos="${cx} ${cy} 0" ` +
    `size="${(r.x1 - r.x0) / 2} ${(r.y1 - r.y0) / 2} ${H}" contype="1" conaffinity="3"/>`;
}

/**
 * The MJCF text. Contact bits: walls (type 1) touch the block only; the pusher (type 2) touches
 * the block only and passes through walls, as a kinematic pymunk body does. `friction` is the
 * pusher-block and block-wall sliding friction (gym-pusht's effective value is 0, see docs).
 */
export function pushTXml(friction = 0): string {
  if (!(friction >= 0)) throw new Error(`friction must be >= 0, got ${friction}`);
  // condim 1 is a frictionless contact; 3 adds isotropic sliding friction
  const contact = friction > 0 ? `condim="3" friction="${friction} 0 0"` : `condim="1"`;
  const lo = WALL_LO, hi = WALL_HI;
  return `<mujoco model="pusht">
  <compiler angle="radian"/>
  <option timestep="${PHYSICS_DT}" gravity="0 0 0" integrator="Euler" cone="pyramidal"/>
  <default>
    <geom ${contact} solref="0.02 1" solimp="0.9 0.95 0.001" margin="0" gap="0"/>
    <joint damping="0" armature="0" limited="false"/>
  </default>
  <worldbody>
    ${wall("wall_left", [lo, hi], [lo, lo])}
    ${wall("wall_top", [lo, lo], [hi, lo])}
    ${wall("wall_right", [hi, lo], [hi, hi])}
    ${wall("wall_bottom", [lo, hi], [hi, hi])}
    <body name="pusher">
      <joint name="pusher_x" type="slide" axis="1 0 0"/>
      <joint name="pusher_y" type="slide" axis="0 1 0"/>
      <inertial pos="0 0 0" mass="${PUSHER_MASS}" diaginertia="1 1 1"/>
      <geom name="pusher" type="sphere" size="${PUSHER_RADIUS}" contype="2" conaffinity="0"/>
    </body>
    <body name="block">
      <joint name="block_x" type="slide" axis="1 0 0"/>
      <joint name="block_y" type="slide" axis="0 1 0"/>
      <joint name="block_angle" type="hinge" axis="0 0 1"/>
      <inertial pos="${T_COG[0]} ${
    T_COG[1]
  } 0" mass="1" diaginertia="${BLOCK_INERTIA} ${BLOCK_INERTIA} ${BLOCK_INERTIA}"/>
      ${box("bar", BAR)}
      ${box("stem", STEM)}
    </body>
  </worldbody>
</mujoco>
`;
}
