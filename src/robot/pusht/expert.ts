/**
 * A scripted Push-T expert: contact-point pushing chosen by simulation. At each decision it tries
 * every reachable contact point on the T's outline (and a few push speeds) in the simulator itself
 * (state save/restore, the pusher placed just outside the contact), keeps the push that brings the
 * T's eight corners closest to the goal's, walks the pusher there around the block, and executes
 * the push. No randomness: the same seed gives the same episode.
 *
 * With `maxStep` set, the commanded target moves at most that far per control step (it leads the
 * pusher instead of jumping to far goals), which gives demonstrations a learned policy can imitate.
 */
import { type PushTEnv, type PushTState, WORKSPACE } from "./env.ts";
import { BAR, GOAL_POSE, type Pose, STEM, T_COG, T_OUTLINE, toWorld } from "./geometry.ts";
import { PUSHER_RADIUS, Q } from "./model.ts";

/** Tuning of {@linkcode PushTExpert}. */
export interface ExpertOptions {
  /** spacing of candidate contact points along the T's edges, in pixels (default 12) */
  spacing?: number;
  /** push speeds tried: target advance per control step, in pixels (default [3, 10, 20]) */
  speeds?: number[];
  /** control steps per push (default 4) */
  pushSteps?: number;
  /** clearance between pusher and block before a push, in pixels (default 6) */
  gap?: number;
  /**
   * largest move of the commanded target per control step, in pixels (default: unlimited, the
   * target jumps straight to where the pusher should go). When set, every target is at most this
   * far from the one before (the first from the pusher), walks around the block move along the
   * circle in steps of this length, push speeds above it are lowered to it (planned that way),
   * and the planner charges each push for the steps of the walk to its start.
   */
  maxStep?: number;
}

/** One expert episode: frame t holds the observation before action t. */
export interface ExpertEpisode {
  /** reset seed */
  seed: number;
  /** number of frames (control steps taken) */
  length: number;
  /** [length, 5] observations */
  state: Float32Array;
  /** [length, 2] actions (targets) */
  action: Float32Array;
  /** [length] reward after each action */
  reward: Float32Array;
  /** highest reward of the episode */
  maxReward: number;
  /** whether coverage exceeded 0.95 */
  success: boolean;
  /** simulator states of frames 0..length (with the final one), when requested */
  states?: PushTState[];
}

interface Contact {
  /** contact point in body coordinates */
  p: [number, number];
  /** outward normal in body coordinates */
  n: [number, number];
}

interface Plan {
  /** pusher start (world) */
  start: [number, number];
  /** push direction (world, unit, into the block) */
  dir: [number, number];
  /** target advance per step */
  speed: number;
  /** cost after the simulated push */
  cost: number;
}

/**
 * Commanded targets of one episode, each at most `maxStep` from the previous one (the first from
 * the pusher's position) along the straight line toward the wanted target; without `maxStep` the
 * wanted target passes through unchanged.
 */
class TargetLeash {
  /** the last commanded target (undefined before the first) */
  last: [number, number] | undefined;
  constructor(readonly maxStep: number | undefined, readonly pusher: () => [number, number]) {}

  /** The target to command on the way to `want`. */
  next(want: [number, number]): [number, number] {
    const m = this.maxStep;
    if (m === undefined) return want;
    // clipped here, not only by the environment, so the next step starts where the target really is
    const w: [number, number] = [clipToWorkspace(want[0]), clipToWorkspace(want[1])];
    const from = this.last ?? this.pusher();
    const d = Math.hypot(w[0] - from[0], w[1] - from[1]);
    const t: [number, number] = d > m
      ? [from[0] + (w[0] - from[0]) * m / d, from[1] + (w[1] - from[1]) * m / d]
      : w;
    this.last = t;
    return t;
  }
}

/** Radius of the walk-around circle about the T's centre of gravity, in pixels. */
const WALK_RADIUS = 112;
/**
 * With `maxStep`, corner error (px) a push must gain to be worth one more step of walking: a
 * leashed pusher walks slowly, and without this the planner crosses the block for tiny gains.
 */
const TRAVEL_COST = 0.03;

/** `v` clipped to the workspace [0, WORKSPACE]. */
const clipToWorkspace = (v: number) => Math.min(WORKSPACE, Math.max(0, v));

/** The angle from `a0` to `a1`, wrapped to [-pi, pi]. */
function angleBetween(a0: number, a1: number): number {
  let da = a1 - a0;
  while (da > Math.PI) da -= 2 * Math.PI;
  while (da < -Math.PI) da += 2 * Math.PI;
  return da;
}

/** Distance from world point (x, y) to the T at `pose` (0 inside). */
export function distanceToT(pose: Pose, x: number, y: number): number {
  const c = Math.cos(pose.angle), s = Math.sin(pose.angle);
  const dx = x - pose.x, dy = y - pose.y;
  const u = c * dx + s * dy, v = -s * dx + c * dy;
  const rect = (r: { x0: number; x1: number; y0: number; y1: number }) =>
    Math.hypot(Math.max(r.x0 - u, 0, u - r.x1), Math.max(r.y0 - v, 0, v - r.y1));
  return Math.min(rect(BAR), rect(STEM));
}

/** Mean distance of the T's eight corners at `pose` from the goal's: the expert's cost. */
export function cornerError(pose: Pose, goal: Pose = GOAL_POSE): number {
  const a = toWorld(pose, T_OUTLINE), b = toWorld(goal, T_OUTLINE);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.hypot(a[i][0] - b[i][0], a[i][1] - b[i][1]);
  return sum / a.length;
}

/** Contact points every `spacing` px on the T's edges where the round pusher fits (body coordinates). */
function contactPoints(spacing: number, gap: number): Contact[] {
  const edges: { a: [number, number]; b: [number, number]; n: [number, number] }[] = [
    { a: [BAR.x0, BAR.y0], b: [BAR.x1, BAR.y0], n: [0, -1] },
    { a: [BAR.x1, BAR.y0], b: [BAR.x1, BAR.y1], n: [1, 0] },
    { a: [BAR.x0, BAR.y0], b: [BAR.x0, BAR.y1], n: [-1, 0] },
    { a: [BAR.x0, BAR.y1], b: [STEM.x0, BAR.y1], n: [0, 1] },
    { a: [STEM.x1, BAR.y1], b: [BAR.x1, BAR.y1], n: [0, 1] },
    { a: [STEM.x1, STEM.y0], b: [STEM.x1, STEM.y1], n: [1, 0] },
    { a: [STEM.x0, STEM.y0], b: [STEM.x0, STEM.y1], n: [-1, 0] },
    { a: [STEM.x0, STEM.y1], b: [STEM.x1, STEM.y1], n: [0, 1] },
  ];
  const origin: Pose = { x: 0, y: 0, angle: 0 };
  const out: Contact[] = [];
  for (const e of edges) {
    const len = Math.hypot(e.b[0] - e.a[0], e.b[1] - e.a[1]);
    const k = Math.max(1, Math.round((len - 4) / spacing));
    for (let i = 0; i <= k; i++) {
      const t = (2 + (len - 4) * i / k) / len; // 2 px in from each corner
      const p: [number, number] = [e.a[0] + (e.b[0] - e.a[0]) * t, e.a[1] + (e.b[1] - e.a[1]) * t];
      const r = PUSHER_RADIUS + gap;
      // the pusher must fit there: no other part of the T closer than the contact itself
      if (distanceToT(origin, p[0] + e.n[0] * r, p[1] + e.n[1] * r) >= r - 0.5) {
        out.push({ p, n: e.n });
      }
    }
  }
  return out;
}

/** The scripted expert; drives the given environment. */
export class PushTExpert {
  readonly #env: PushTEnv;
  readonly #contacts: Contact[];
  readonly #speeds: number[];
  readonly #pushSteps: number;
  readonly #gap: number;
  readonly #maxStep: number | undefined;
  /** push speeds the planner tries: `speeds` capped at `maxStep` */
  readonly #planSpeeds: number[];
  /** rollouts simulated so far (for speed reports) */
  rollouts = 0;

  /** An expert for `env` (it resets and steps that environment). */
  constructor(env: PushTEnv, options: ExpertOptions = {}) {
    this.#env = env;
    this.#gap = options.gap ?? 6;
    this.#speeds = options.speeds ?? [3, 10, 20];
    this.#pushSteps = options.pushSteps ?? 4;
    this.#contacts = contactPoints(options.spacing ?? 12, this.#gap);
    this.#maxStep = options.maxStep;
    if (this.#maxStep !== undefined && !(Number.isFinite(this.#maxStep) && this.#maxStep > 0)) {
      throw new Error(`expert maxStep must be a positive number, got ${this.#maxStep}`);
    }
    const m = this.#maxStep ?? Infinity;
    this.#planSpeeds = [...new Set(this.#speeds.map((v) => Math.min(v, m)))];
    if (this.#speeds.length === 0 || !this.#speeds.every((s) => s > 0)) {
      throw new Error(`expert speeds must be positive, got [${this.#speeds}]`);
    }
    if (!Number.isInteger(this.#pushSteps) || this.#pushSteps <= 0) {
      throw new Error(`expert pushSteps must be a positive integer, got ${this.#pushSteps}`);
    }
  }

  /** Number of candidate contact points. */
  get contactCount(): number {
    return this.#contacts.length;
  }

  /** Plays one episode from `reset(seed)` until success or the step limit. */
  runEpisode(seed: number, options: { keepStates?: boolean } = {}): ExpertEpisode {
    const env = this.#env;
    const obs: number[] = [], act: number[] = [], rew: number[] = [];
    const states: PushTState[] = [];
    let o = env.reset(seed);
    if (options.keepStates) states.push(env.getState());
    let done = false, success = false, maxReward = 0;
    const act1 = (target: [number, number]): void => {
      // the record stores actions in the action space as Float32; applying exactly those keeps
      // the record replayable
      const clip = (v: number) => Math.fround(clipToWorkspace(v));
      const a: [number, number] = [clip(target[0]), clip(target[1])];
      obs.push(...o);
      act.push(a[0], a[1]);
      const s = env.step(a);
      rew.push(s.reward);
      maxReward = Math.max(maxReward, s.reward);
      o = s.obs;
      done = s.done;
      success ||= s.success;
      if (options.keepStates) states.push(env.getState());
    };
    const targets = this.actions();
    while (!done) act1(targets.next().value);
    const length = rew.length;
    return {
      seed,
      length,
      state: Float32Array.from(obs),
      action: Float32Array.from(act),
      reward: Float32Array.from(rew),
      maxReward,
      success,
      ...(options.keepStates ? { states } : {}),
    };
  }

  /**
   * The expert's targets for the environment's current state, one per control step, without end:
   * the caller applies each (`env.step`) before pulling the next and stops pulling when the
   * episode is done. Each decision plans in the same environment and restores its state, so the
   * episode is exactly {@linkcode PushTExpert.runEpisode}'s.
   */
  *actions(): Generator<[number, number], never, void> {
    const leash = new TargetLeash(this.#maxStep, () => this.#env.pusher());
    while (true) {
      const plan = this.#plan();
      yield* this.#navigate(plan.start, leash);
      for (let k = 1; k <= this.#pushSteps; k++) {
        const d = plan.speed * k;
        yield leash.next([plan.start[0] + plan.dir[0] * d, plan.start[1] + plan.dir[1] * d]);
      }
    }
  }

  /**
   * Tries every contact and speed in the simulator; returns the push with the lowest cost (with
   * `maxStep`, plus `TRAVEL_COST` per step of the walk to its start).
   */
  #plan(): Plan {
    const env = this.#env;
    const base = env.getState();
    const pose = env.blockPose();
    const c = Math.cos(pose.angle), s = Math.sin(pose.angle);
    const r = PUSHER_RADIUS + this.#gap;
    let best: Plan | undefined;
    const [x0, y0] = env.pusher();
    const trial: PushTState = { ...base, qpos: base.qpos.slice(), qvel: base.qvel.slice() };
    for (const ct of this.#contacts) {
      const px = pose.x + c * ct.p[0] - s * ct.p[1], py = pose.y + s * ct.p[0] + c * ct.p[1];
      const nx = c * ct.n[0] - s * ct.n[1], ny = s * ct.n[0] + c * ct.n[1];
      const start: [number, number] = [px + nx * r, py + ny * r];
      if (start[0] < 0 || start[0] > 512 || start[1] < 0 || start[1] > 512) continue;
      const travel = this.#maxStep === undefined
        ? 0
        : TRAVEL_COST * this.#walkLength(pose, x0, y0, start) / this.#maxStep;
      for (const speed of this.#planSpeeds) {
        trial.qpos.set(base.qpos);
        trial.qvel.set(base.qvel);
        trial.qpos[Q.px] = start[0];
        trial.qpos[Q.py] = start[1];
        trial.qvel[Q.px] = 0;
        trial.qvel[Q.py] = 0;
        env.setState(trial);
        for (let k = 1; k <= this.#pushSteps; k++) {
          env.simulate([start[0] - nx * speed * k, start[1] - ny * speed * k]);
        }
        this.rollouts++;
        const cost = cornerError(env.blockPose()) + travel;
        if (!best || cost < best.cost) best = { start, dir: [-nx, -ny], speed, cost };
      }
    }
    env.setState(base);
    if (!best) throw new Error("expert found no reachable contact point");
    return best;
  }

  /**
   * Walks the pusher to `goal` without touching the block: straight when the way is clear, else
   * along a circle around the block's centre of gravity, 45 degrees at a time (with `maxStep`, an
   * arc of at most `maxStep` at a time, continued from the last arc step rather than from the
   * pusher, which trails the target). The leg ends when the pusher is at the goal and slow (with
   * `maxStep`, and the commanded target there too, so the push starts as planned).
   */
  *#navigate(goal: [number, number], leash: TargetLeash): Generator<[number, number], void, void> {
    const env = this.#env;
    const m = this.#maxStep;
    // a leash needs more steps for a long way (up to a diagonal plus half the circle, ~1,100 px)
    const limit = m === undefined ? 30 : 30 + Math.ceil(1200 / m);
    const radius = WALK_RADIUS;
    // with a leash: the last walk-around target, its angle and where it was commanded (clipped)
    let walked: { a: number; at: [number, number] } | undefined;
    for (let i = 0; i < limit; i++) {
      const [x, y] = env.pusher();
      const [vx, vy] = env.pusherVelocity();
      const ref: [number, number] = leash.last ?? [x, y];
      if (
        Math.hypot(goal[0] - x, goal[1] - y) < 3 && Math.hypot(vx, vy) < 40 &&
        (m === undefined || Math.hypot(goal[0] - ref[0], goal[1] - ref[1]) < 1e-6)
      ) return;
      const pose = env.blockPose();
      // with a leash the target leads the pusher, so both must see a clear way
      if (this.#clear(pose, x, y, goal) && (m === undefined || this.#clear(pose, ...ref, goal))) {
        walked = undefined;
        yield leash.next(goal);
        continue;
      }
      const cg = toWorld(pose, [T_COG as [number, number]])[0];
      const a0 = Math.atan2(y - cg[1], x - cg[0]);
      const r0 = Math.hypot(x - cg[0], y - cg[1]);
      let target: [number, number] = [cg[0] + radius * Math.cos(a0), cg[1] + radius * Math.sin(a0)];
      // A leashed target walks on along the arc once it got onto it (the leash did not hold it
      // back); until then it heads for the circle next to the pusher, so it never cuts inside.
      const onArc = walked !== undefined &&
        Math.hypot(ref[0] - walked.at[0], ref[1] - walked.at[1]) < 1e-6;
      // Out to the circle first, but not once on the arc (a trailing pusher may dip inside) nor
      // past where a wall cuts the circle (the clipped point is reached).
      const outward = m === undefined ||
        (!onArc && Math.hypot(x - clipToWorkspace(target[0]), y - clipToWorkspace(target[1])) >= 3);
      if (r0 < radius - 12 && outward) walked = undefined;
      else {
        const from = onArc ? walked!.a : a0;
        const a1 = Math.atan2(goal[1] - cg[1], goal[0] - cg[0]);
        const da = angleBetween(from, a1);
        const arc = m === undefined ? Math.PI / 4 : m / radius;
        const a = from + Math.sign(da) * Math.min(Math.abs(da), arc);
        target = [cg[0] + radius * Math.cos(a), cg[1] + radius * Math.sin(a)];
        if (m !== undefined) {
          walked = { a, at: [clipToWorkspace(target[0]), clipToWorkspace(target[1])] };
        }
      }
      yield leash.next(target);
    }
  }

  /** Approximate length of `#navigate`'s walk from (x, y) to `goal`. */
  #walkLength(pose: Pose, x: number, y: number, goal: [number, number]): number {
    if (this.#clear(pose, x, y, goal)) return Math.hypot(goal[0] - x, goal[1] - y);
    const cg = toWorld(pose, [T_COG as [number, number]])[0];
    const da = angleBetween(
      Math.atan2(y - cg[1], x - cg[0]),
      Math.atan2(goal[1] - cg[1], goal[0] - cg[0]),
    );
    // out to the circle, along it, and in to the goal
    return Math.abs(WALK_RADIUS - Math.hypot(x - cg[0], y - cg[1])) +
      WALK_RADIUS * Math.abs(da) +
      Math.abs(WALK_RADIUS - Math.hypot(goal[0] - cg[0], goal[1] - cg[1]));
  }

  /** Whether the pusher can move straight from (x, y) to `goal` without touching the block. */
  #clear(pose: Pose, x: number, y: number, goal: [number, number]): boolean {
    const len = Math.hypot(goal[0] - x, goal[1] - y);
    const n = Math.ceil(len / 3);
    for (let i = 1; i <= n; i++) {
      const t = i / n;
      if (t * len < 5) continue; // leaving a contact is fine
      const px = x + (goal[0] - x) * t, py = y + (goal[1] - y) * t;
      if (distanceToT(pose, px, py) < PUSHER_RADIUS + 1) return false;
    }
    return true;
  }
}
