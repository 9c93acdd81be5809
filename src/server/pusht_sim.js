// @ts-check
/**
 * Push-T's control step on MuJoCo's WebAssembly module, in plain JavaScript so that the browser
 * page (`/pusht`) loads this very file and a Deno test checks it step for step against
 * `PushTEnv`. Everything task-specific (the MJCF text, the PD gains, the time step) comes in a
 * {@linkcode PushTSimConfig} that the server builds from `src/robot/pusht/model.ts`, so nothing
 * of the model is written twice.
 *
 * @module
 */

/**
 * What the simulation needs to know about the task.
 * @typedef {object} PushTSimConfig
 * @property {string} xml MJCF text of the scene (`pushTXml()`).
 * @property {number} dt physics time step, s.
 * @property {number} substeps physics steps per control step.
 * @property {number} kp PD gain on the position error.
 * @property {number} kv PD gain on the velocity.
 * @property {number} workspace targets are clipped to [0, workspace].
 * @property {{px: number, py: number, bx: number, by: number, ba: number}} q qpos/qvel indices.
 */

let fileCounter = 0;

/** The Push-T scene in a MuJoCo module: reset, drag the block, step toward a target. */
export class PushTSim {
  /**
   * Loads the scene into `mj` (a loaded `mujoco-js` module).
   * @param {any} mj MuJoCo's module (`await loadMujoco()`).
   * @param {PushTSimConfig} config the task's constants and MJCF text.
   */
  constructor(mj, config) {
    this.mj = mj;
    this.config = config;
    const path = `/pusht_sim_${fileCounter++}.xml`;
    mj.FS.writeFile(path, config.xml);
    this.model = mj.MjModel.loadFromXML(path);
    mj.FS.unlink(path);
    if (!this.model) throw new Error("MuJoCo could not load the Push-T model");
    this.data = new mj.MjData(this.model);
    /** @type {[number, number] | null} the last commanded target. */
    this.target = null;
  }

  /**
   * Starts from [agent_x, agent_y, block_x, block_y, block_angle] (block pose = body origin) and
   * runs one settling physics step, as `PushTEnv.resetTo` does.
   * @param {ArrayLike<number>} state
   * @returns {Float32Array} the observation.
   */
  resetTo(state) {
    this.mj.mj_resetData(this.model, this.data);
    const qpos = this.data.qpos;
    for (let i = 0; i < 5; i++) qpos[i] = state[i];
    this.mj.mj_forward(this.model, this.data);
    this.physicsStep(null);
    this.target = null;
    return this.observe();
  }

  /**
   * One control step toward `target` (clipped to the workspace).
   * @param {ArrayLike<number>} target
   * @returns {Float32Array} the observation after it.
   */
  step(target) {
    const w = this.config.workspace;
    /** @type {[number, number]} */
    const t = [Math.min(w, Math.max(0, target[0])), Math.min(w, Math.max(0, target[1]))];
    for (let i = 0; i < this.config.substeps; i++) this.physicsStep(t);
    this.target = t;
    return this.observe();
  }

  /**
   * Puts the block at a pose (a mouse drag): position and angle set, velocities zeroed, the
   * pusher left where it is; contacts resolve at the next step.
   * @param {number} x body origin x
   * @param {number} y body origin y
   * @param {number} angle radians
   */
  placeBlock(x, y, angle) {
    const { q } = this.config;
    const qpos = this.data.qpos, qvel = this.data.qvel;
    qpos[q.bx] = x;
    qpos[q.by] = y;
    qpos[q.ba] = angle;
    qvel[q.bx] = qvel[q.by] = qvel[q.ba] = 0;
    this.mj.mj_forward(this.model, this.data);
  }

  /** @returns {Float32Array} [agent_x, agent_y, block_x, block_y, block_angle mod 2 pi]. */
  observe() {
    const { q } = this.config;
    const p = this.data.qpos, twoPi = 2 * Math.PI;
    const a = ((p[q.ba] % twoPi) + twoPi) % twoPi;
    return Float32Array.of(p[q.px], p[q.py], p[q.bx], p[q.by], a);
  }

  /**
   * One physics step with the pusher kinematic (its velocity follows the PD law toward `target`,
   * or is kept when null; its position advances by velocity * dt whatever the contacts do) and the
   * block's velocity zeroed first (gym-pusht's space damping 0): `PushTEnv`'s step.
   * @param {[number, number] | null} target
   */
  physicsStep(target) {
    const { q, kp, kv, dt } = this.config;
    const qpos = this.data.qpos, qvel = this.data.qvel;
    const px = qpos[q.px], py = qpos[q.py];
    let vx = qvel[q.px], vy = qvel[q.py];
    if (target) {
      vx += (kp * (target[0] - px) + kv * (0 - vx)) * dt;
      vy += (kp * (target[1] - py) + kv * (0 - vy)) * dt;
    }
    qvel[q.px] = vx;
    qvel[q.py] = vy;
    qvel[q.bx] = qvel[q.by] = qvel[q.ba] = 0;
    this.mj.mj_step(this.model, this.data);
    // The typed-array views may be new objects after a step; read them again.
    const q2 = this.data.qpos, v2 = this.data.qvel;
    q2[q.px] = px + vx * dt;
    q2[q.py] = py + vy * dt;
    v2[q.px] = vx;
    v2[q.py] = vy;
  }

  /** Frees the MuJoCo model and data. */
  close() {
    this.data.delete();
    this.model.delete();
  }
}
