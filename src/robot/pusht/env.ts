/**
 * Push-T on MuJoCo's official WebAssembly build, matching gym-pusht's state-observation task: a
 * kinematic round pusher driven by a PD velocity law toward the commanded target, a T block that
 * moves only while pushed (quasi-static), coverage-based reward, numpy-identical seeded resets.
 * docs/pusht.md lists where it differs from gym-pusht.
 */
import type { MjData, MjModel } from "mujoco-js";
import { coverage as tCoverage, GOAL_POSE, type Pose, resetOrigin } from "./geometry.ts";
export type { Pose } from "./geometry.ts";
import { KP, KV, PHYSICS_DT, pushTXml, Q, SUBSTEPS, WORKSPACE } from "./model.ts";
import { loadMujocoModule, type MujocoModule } from "./mujoco.ts";
import { NumpyRandomState } from "./numpy_random.ts";

/** Coverage above which an episode succeeds (gym-pusht's success_threshold). */
export const SUCCESS_COVERAGE = 0.95;
/** Control steps per episode in evaluations. */
export const MAX_STEPS = 300;
/** Control rate in Hz. */
export const FPS = 10;
export { WORKSPACE };

/** What `step` returns. */
export interface PushTStep {
  /** [agent_x, agent_y, block_x, block_y, block_angle mod 2 pi] */
  obs: Float32Array;
  /** min(coverage / 0.95, 1) */
  reward: number;
  /** area of the block's T inside the goal T over the goal's area */
  coverage: number;
  /** coverage > 0.95 */
  success: boolean;
  /** success, or the step limit reached */
  done: boolean;
}

/** A snapshot of everything that decides the future of an episode (for planning and pictures). */
export interface PushTState {
  /** MuJoCo qpos (5: pusher x, y; block x, y, angle) */
  qpos: Float64Array;
  /** MuJoCo qvel (5) */
  qvel: Float64Array;
  /** MuJoCo solver warm start (5), so a restored state steps bit-identically */
  warmstart: Float64Array;
  /** simulation time in seconds */
  time: number;
  /** control steps taken since reset */
  steps: number;
  /** last commanded target (clipped), null right after reset */
  target: [number, number] | null;
}

/** Options of {@linkcode PushTEnv.create}. */
export interface PushTOptions {
  /** contact sliding friction (default 0: gym-pusht's effective value) */
  friction?: number;
  /** control steps before `done` (default 300) */
  maxSteps?: number;
}

let fileCounter = 0;

/** The Push-T environment. Create with `await PushTEnv.create()`, free with `close()`. */
export class PushTEnv {
  readonly #mj: MujocoModule;
  readonly #model: MjModel;
  readonly #data: MjData;
  readonly #maxSteps: number;
  #steps = 0;
  #target: [number, number] | null = null;
  #closed = false;

  private constructor(mj: MujocoModule, model: MjModel, data: MjData, maxSteps: number) {
    this.#mj = mj;
    this.#model = model;
    this.#data = data;
    this.#maxSteps = maxSteps;
  }

  /** Loads MuJoCo (once per process) and builds the scene. */
  static async create(options: PushTOptions = {}): Promise<PushTEnv> {
    const maxSteps = options.maxSteps ?? MAX_STEPS;
    if (!Number.isInteger(maxSteps) || maxSteps <= 0) {
      throw new Error(`maxSteps must be a positive integer, got ${maxSteps}`);
    }
    const mj: MujocoModule = await loadMujocoModule();
    const path = `/pusht/pusht_${fileCounter++}.xml`;
    mj.FS.writeFile(path, pushTXml(options.friction ?? 0));
    const model = mj.MjModel.loadFromXML(path);
    mj.FS.unlink(path);
    if (!model) throw new Error("MuJoCo could not load the Push-T model");
    const data = new mj.MjData(model);
    return new PushTEnv(mj, model, data, maxSteps);
  }

  /** Control steps taken since the last reset. */
  get steps(): number {
    return this.#steps;
  }

  /** The step limit. */
  get maxSteps(): number {
    return this.#maxSteps;
  }

  /**
   * Starts an episode as gym-pusht 0.1.5 does for `seed`: `np.random.RandomState(seed)` draws the
   * pusher (randint(50, 450) twice), the block (randint(100, 400) twice) and the angle
   * (randn * 2 pi - pi); the angle is applied about the centre of gravity after the position, and
   * one physics step settles any overlap.
   */
  reset(seed: number): Float32Array {
    const rs = new NumpyRandomState(seed);
    const ax = rs.randint(50, 450), ay = rs.randint(50, 450);
    const bx = rs.randint(100, 400), by = rs.randint(100, 400);
    const angle = rs.randn() * 2 * Math.PI - Math.PI;
    const [ox, oy] = resetOrigin(bx, by, angle);
    return this.resetTo([ax, ay, ox, oy, angle]);
  }

  /**
   * Starts an episode from an explicit [agent_x, agent_y, block_x, block_y, block_angle] (the block
   * pose is its body origin, as observed), then runs one settling physics step like `reset`.
   */
  resetTo(state: ArrayLike<number>): Float32Array {
    this.#check();
    if (state.length !== 5 || !Array.from(state).every(Number.isFinite)) {
      throw new Error(`resetTo expects 5 finite numbers, got [${Array.from(state).join(", ")}]`);
    }
    this.#mj.mj_resetData(this.#model, this.#data);
    const qpos = this.#data.qpos as Float64Array;
    for (let i = 0; i < 5; i++) qpos[i] = state[i];
    this.#mj.mj_forward(this.#model, this.#data);
    this.#physicsStep(null);
    this.#steps = 0;
    this.#target = null;
    return this.observe();
  }

  /** Applies a target position (clipped to [0, 512]^2) for one 10 Hz control step. */
  step(action: ArrayLike<number>): PushTStep {
    this.#check();
    if (action.length !== 2 || !Number.isFinite(action[0]) || !Number.isFinite(action[1])) {
      throw new Error(
        `step expects an action [x, y] of finite numbers, got [${Array.from(action)}]`,
      );
    }
    if (this.#steps >= this.#maxSteps) {
      throw new Error(`episode is over after ${this.#maxSteps} steps; call reset`);
    }
    const target: [number, number] = [clip(action[0]), clip(action[1])];
    for (let i = 0; i < SUBSTEPS; i++) this.#physicsStep(target);
    this.#steps++;
    this.#target = target;
    const cov = this.coverage();
    const success = cov > SUCCESS_COVERAGE;
    return {
      obs: this.observe(),
      reward: Math.min(cov / SUCCESS_COVERAGE, 1),
      coverage: cov,
      success,
      done: success || this.#steps >= this.#maxSteps,
    };
  }

  /**
   * Advances the physics by one control step toward `target` (clipped) without the episode's
   * bookkeeping (no step count, no reward): the cheap step of a planner's rollouts.
   */
  simulate(target: ArrayLike<number>): void {
    this.#check();
    if (target.length !== 2 || !Number.isFinite(target[0]) || !Number.isFinite(target[1])) {
      throw new Error(
        `simulate expects a target [x, y] of finite numbers, got [${Array.from(target)}]`,
      );
    }
    const t: [number, number] = [clip(target[0]), clip(target[1])];
    for (let i = 0; i < SUBSTEPS; i++) this.#physicsStep(t);
  }

  /** The observation [agent_x, agent_y, block_x, block_y, block_angle mod 2 pi]. */
  observe(): Float32Array {
    const q = this.#data.qpos as Float64Array;
    const twoPi = 2 * Math.PI;
    const a = ((q[Q.ba] % twoPi) + twoPi) % twoPi;
    return Float32Array.of(q[Q.px], q[Q.py], q[Q.bx], q[Q.by], a);
  }

  /** The block's pose (body origin and angle, not wrapped). */
  blockPose(): Pose {
    const q = this.#data.qpos as Float64Array;
    return { x: q[Q.bx], y: q[Q.by], angle: q[Q.ba] };
  }

  /** The pusher's position. */
  pusher(): [number, number] {
    const q = this.#data.qpos as Float64Array;
    return [q[Q.px], q[Q.py]];
  }

  /** The pusher's velocity. */
  pusherVelocity(): [number, number] {
    const v = this.#data.qvel as Float64Array;
    return [v[Q.px], v[Q.py]];
  }

  /** Coverage of the goal by the block now. */
  coverage(): number {
    return tCoverage(this.blockPose(), GOAL_POSE);
  }

  /** A copy of the full simulation state. */
  getState(): PushTState {
    this.#check();
    const d = this.#data;
    return {
      qpos: Float64Array.from(d.qpos as Float64Array),
      qvel: Float64Array.from(d.qvel as Float64Array),
      warmstart: Float64Array.from(d.qacc_warmstart as Float64Array),
      time: d.time,
      steps: this.#steps,
      target: this.#target ? [this.#target[0], this.#target[1]] : null,
    };
  }

  /** Restores a state from `getState` exactly (the same actions then give the same trajectory). */
  setState(state: PushTState): void {
    this.#check();
    const d = this.#data;
    const qpos = d.qpos as Float64Array, qvel = d.qvel as Float64Array;
    const warm = d.qacc_warmstart as Float64Array;
    if (
      state.qpos.length !== qpos.length || state.qvel.length !== qvel.length ||
      state.warmstart.length !== warm.length
    ) {
      throw new Error(
        `setState: state arrays have lengths ${state.qpos.length}/${state.qvel.length}/` +
          `${state.warmstart.length}, the model needs ${qpos.length}/${qvel.length}/${warm.length}`,
      );
    }
    qpos.set(state.qpos);
    qvel.set(state.qvel);
    warm.set(state.warmstart);
    d.time = state.time;
    this.#steps = state.steps;
    this.#target = state.target ? [state.target[0], state.target[1]] : null;
  }

  /** Frees the MuJoCo model and data. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#data.delete();
    this.#model.delete();
  }

  /**
   * One 0.01 s physics step. The pusher is kinematic: its velocity follows gym-pusht's PD law
   * toward `target` (none: velocity kept, as in reset's settling step) and its position advances by
   * velocity * dt whatever the contacts do. The block's velocity is zeroed first: pymunk's space
   * damping 0 removes all velocity every step, so the block moves only by what this step's
   * contacts give it.
   */
  #physicsStep(target: [number, number] | null): void {
    const d = this.#data;
    const qpos = d.qpos as Float64Array, qvel = d.qvel as Float64Array;
    const px = qpos[Q.px], py = qpos[Q.py];
    let vx = qvel[Q.px], vy = qvel[Q.py];
    if (target) {
      vx += (KP * (target[0] - px) + KV * (0 - vx)) * PHYSICS_DT;
      vy += (KP * (target[1] - py) + KV * (0 - vy)) * PHYSICS_DT;
    }
    qvel[Q.px] = vx;
    qvel[Q.py] = vy;
    qvel[Q.bx] = 0;
    qvel[Q.by] = 0;
    qvel[Q.ba] = 0;
    this.#mj.mj_step(this.#model, d);
    const q2 = d.qpos as Float64Array, v2 = d.qvel as Float64Array;
    q2[Q.px] = px + vx * PHYSICS_DT;
    q2[Q.py] = py + vy * PHYSICS_DT;
    v2[Q.px] = vx;
    v2[Q.py] = vy;
  }

  #check(): void {
    if (this.#closed) throw new Error("PushTEnv is closed");
  }
}

function clip(v: number): number {
  return Math.min(WORKSPACE, Math.max(0, v));
}
