/**
 * Closed-loop evaluation of a Push-T policy that answers observation windows with action chunks
 * (Diffusion Policy's receding horizon): a policy served over openpi ({@linkcode openpiChunkPolicy})
 * or the scripted expert ({@linkcode expertChunkPolicy}), on fixed seeds, either in lockstep (the
 * simulation waits for each chunk) or in real time (the simulation advances on the wall clock and
 * the next chunk is requested while the current one executes). docs/pusht_eval.md describes the
 * schemes and numbers.
 *
 * ```ts
 * const env = await PushTEnv.create();
 * const client = await connectPolicy("ws://127.0.0.1:8000");
 * const { summary } = await evaluatePushT(env, openpiChunkPolicy(client), { episodes: 50, seed: 0 });
 * console.log(summary.success_rate, summary.avg_max_reward);
 * ```
 *
 * @module
 */

import type { PolicyClient } from "../../server/policy_client.ts";
import { FPS, type PushTEnv, type PushTState } from "./env.ts";
import { type ExpertOptions, PushTExpert } from "./expert.ts";
import { type EvalSummary, summarize } from "./eval_report.ts";

import { PUSHT_ACTION_DIM, PUSHT_STATE_DIM } from "./model.ts";
export { PUSHT_ACTION_DIM, PUSHT_STATE_DIM };

/** A policy as the evaluation sees it: an observation window in, an action chunk out. */
export interface ChunkPolicy {
  /** What is evaluated (for reports). */
  readonly name: string;
  /** Observation frames per window (the chunk starts at the oldest one's time). */
  readonly nObsSteps: number;
  /** Actions executed from each chunk (entries nObsSteps-1 .. nObsSteps-1+nActionSteps-1). */
  readonly nActionSteps: number;
  /** Actions per chunk. */
  readonly horizon: number;
  /** Starts an episode (after the environment's reset). */
  reset(): Promise<void>;
  /** Window `[nObsSteps * 5]`, oldest frame first, to chunk `[horizon * 2]`. */
  infer(window: Float32Array): Promise<Float32Array>;
  /** Ends an episode. */
  episodeEnd?(success: boolean): Promise<void>;
}

/**
 * A policy served over openpi, read from its metadata frame (`n_obs_steps`, `n_action_steps`,
 * `horizon`, the observation key and the action shape). Each request sends the whole window of
 * the latest `n_obs_steps` consecutive frames (shape `[n_obs_steps, 5]`): with a chunk every few
 * steps the server's own history would hold frames a chunk apart, not consecutive ones.
 */
export function openpiChunkPolicy(client: PolicyClient, name = "openpi"): ChunkPolicy {
  const m = client.metadata;
  const fail = (what: string): never => {
    throw new Error(`Policy metadata: ${what}`);
  };
  const int = (key: string): number => {
    const v = m[key];
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) {
      fail(`${key} must be a positive integer, got ${JSON.stringify(v)}`);
    }
    return v as number;
  };
  const nObsSteps = int("n_obs_steps"), nActionSteps = int("n_action_steps");
  const horizon = int("horizon");
  if (m.first_action_index !== undefined && m.first_action_index !== nObsSteps - 1) {
    fail(`first_action_index ${m.first_action_index} is not n_obs_steps - 1 = ${nObsSteps - 1}`);
  }
  if (nObsSteps - 1 + nActionSteps > horizon) {
    fail(`n_obs_steps - 1 + n_action_steps exceeds horizon ${horizon}`);
  }
  const observation = (m.observation ?? {}) as Record<string, { shape?: unknown }>;
  const key = Object.keys(observation)[0] ?? fail("no observation feature");
  const stateShape = observation[key]?.shape;
  if (Array.isArray(stateShape) && stateShape[stateShape.length - 1] !== PUSHT_STATE_DIM) {
    fail(`observation '${key}' has shape [${stateShape}], Push-T's state has 5 values`);
  }
  const actionShape = (m.action as { shape?: unknown } | undefined)?.shape;
  if (
    Array.isArray(actionShape) &&
    (actionShape[0] !== horizon || actionShape[1] !== PUSHT_ACTION_DIM)
  ) {
    fail(`action has shape [${actionShape}], expected [${horizon}, ${PUSHT_ACTION_DIM}]`);
  }
  return {
    name,
    nObsSteps,
    nActionSteps,
    horizon,
    reset: () => client.reset(),
    episodeEnd: (success) => client.episodeEnd(success),
    async infer(window) {
      const answer = await client.infer({
        [key]: { data: window, shape: [nObsSteps, PUSHT_STATE_DIM] },
      });
      const s = answer.shape;
      if (s.length !== 2 || s[0] !== horizon || s[1] !== PUSHT_ACTION_DIM) {
        throw new Error(`Policy answered actions of shape [${s}], expected [${horizon}, 2]`);
      }
      return answer.actions;
    },
  };
}

/**
 * The scripted expert as a chunk policy: one action per chunk, planned in `env` (the evaluated
 * environment itself, whose state it restores), so its episodes are exactly
 * `PushTExpert.runEpisode`'s on the same seeds. Its "latency" is its planning time.
 */
export function expertChunkPolicy(env: PushTEnv, options: ExpertOptions = {}): ChunkPolicy {
  const expert = new PushTExpert(env, options);
  let targets: Generator<[number, number], never, void> | null = null;
  return {
    name: "expert",
    nObsSteps: 1,
    nActionSteps: 1,
    horizon: 1,
    reset() {
      targets = null;
      return Promise.resolve();
    },
    infer() {
      targets ??= expert.actions();
      const [x, y] = targets.next().value;
      return Promise.resolve(Float32Array.of(x, y));
    },
  };
}

/** One chunk of an episode. */
export interface ChunkRecord {
  /** Control tick of the newest observation of its window (steps taken before it). */
  obsTick: number;
  /** First tick at which it was the current chunk (-1 if the episode ended first). */
  startTick: number;
  /** Chunk entries executed, in order. */
  entries: number[];
  /** Round trip of its request, ms. */
  latencyMs: number;
}

/** One evaluated episode. */
export interface EpisodeResult {
  /** Reset seed. */
  seed: number;
  /** Control steps taken. */
  steps: number;
  /** Highest reward over the steps (0 before any step). */
  maxReward: number;
  /** Whether coverage exceeded 0.95 at some step (the episode then ends). */
  success: boolean;
  /** Ticks with no action ready (real time only; the pusher held its target). */
  lateTicks: number;
  /**
   * Real time: ticks processed more than a tick after their time (the simulation fell behind the
   * clock, on a busy machine; answers then count as arrived earlier than they would on time).
   */
  slowTicks: number;
  /** The chunks requested, in order. */
  chunks: ChunkRecord[];
  /** Actions applied, `[steps, 2]`. */
  actions: Float32Array;
  /** Simulator states after reset and after each step, when asked for. */
  states?: PushTState[];
}

/** Options of {@linkcode runEpisode}. */
export interface EpisodeOptions {
  /** Advance the simulation on the wall clock, requesting chunks ahead (default false). */
  realtime?: boolean;
  /** Real time: control period, ms (default 1000 / 10 Hz). */
  tickMs?: number;
  /**
   * Real time: request the next chunk at the start of the current one's last `lookahead`
   * actions (1 .. nActionSteps). Default: from the recent round trips ({@linkcode autoLookahead}).
   */
  lookahead?: number;
  /** Keep the simulator states (for GIFs). */
  keepStates?: boolean;
  /** Real time: recent round trips shared across episodes, for the automatic lookahead. */
  recent?: number[];
}

/**
 * The lookahead that covers a round trip of `latencyMs` with a 20% margin: a chunk requested at
 * tick r is first used at tick r + max(1, ceil(latency / tick)), so it must not come later than
 * the current chunk's last action.
 */
export function autoLookahead(latencyMs: number, tickMs: number, nActionSteps: number): number {
  const need = Math.max(1, Math.ceil((1.2 * latencyMs) / tickMs));
  return Math.min(nActionSteps, need);
}

/** The last `n` observation frames, padded with the first after a reset (Diffusion Policy). */
class ObsWindow {
  readonly data: Float32Array;
  constructor(readonly n: number, first: Float32Array) {
    this.data = new Float32Array(n * PUSHT_STATE_DIM);
    for (let i = 0; i < n; i++) this.data.set(first, i * PUSHT_STATE_DIM);
  }
  push(frame: Float32Array): void {
    this.data.copyWithin(0, PUSHT_STATE_DIM);
    this.data.set(frame, (this.n - 1) * PUSHT_STATE_DIM);
  }
}

/** The episode's running record: every action goes through `apply`. */
class Recorder {
  steps = 0;
  maxReward = 0;
  success = false;
  done = false;
  lateTicks = 0;
  slowTicks = 0;
  last: [number, number];
  readonly actions: number[] = [];
  readonly states?: PushTState[];
  readonly window: ObsWindow;

  constructor(readonly env: PushTEnv, seed: number, nObsSteps: number, keepStates: boolean) {
    const obs = env.reset(seed);
    this.window = new ObsWindow(nObsSteps, obs);
    this.last = [obs[0], obs[1]]; // holding the pusher where it is
    if (keepStates) this.states = [env.getState()];
  }

  apply(a: [number, number]): void {
    const s = this.env.step(a);
    this.actions.push(a[0], a[1]);
    this.last = a;
    this.steps++;
    this.maxReward = Math.max(this.maxReward, s.reward);
    this.success ||= s.success;
    this.done = s.done;
    this.window.push(s.obs);
    this.states?.push(this.env.getState());
  }

  result(seed: number, chunks: ChunkRecord[]): EpisodeResult {
    return {
      seed,
      steps: this.steps,
      maxReward: this.maxReward,
      success: this.success,
      lateTicks: this.lateTicks,
      slowTicks: this.slowTicks,
      chunks,
      actions: Float32Array.from(this.actions),
      ...(this.states ? { states: this.states } : {}),
    };
  }
}

function entry(chunk: Float32Array, i: number): [number, number] {
  return [chunk[i * PUSHT_ACTION_DIM], chunk[i * PUSHT_ACTION_DIM + 1]];
}

/** Plays one episode from `env.reset(seed)` until success or the step limit. */
export async function runEpisode(
  env: PushTEnv,
  policy: ChunkPolicy,
  seed: number,
  options: EpisodeOptions = {},
): Promise<EpisodeResult> {
  const rec = new Recorder(env, seed, policy.nObsSteps, options.keepStates ?? false);
  await policy.reset();
  const chunks = options.realtime
    ? await playRealtime(rec, policy, options)
    : await playLockstep(rec, policy);
  await policy.episodeEnd?.(rec.success);
  return rec.result(seed, chunks);
}

/** Lockstep: ask, execute entries nObsSteps-1 .. nObsSteps-1+nActionSteps-1, ask again. */
async function playLockstep(rec: Recorder, policy: ChunkPolicy): Promise<ChunkRecord[]> {
  const chunks: ChunkRecord[] = [];
  const first = policy.nObsSteps - 1;
  while (!rec.done) {
    const t0 = performance.now();
    const chunk = await policy.infer(rec.window.data.slice());
    const c: ChunkRecord = {
      obsTick: rec.steps,
      startTick: rec.steps,
      entries: [],
      latencyMs: performance.now() - t0,
    };
    chunks.push(c);
    for (let j = 0; j < policy.nActionSteps && !rec.done; j++) {
      c.entries.push(first + j);
      rec.apply(entry(chunk, first + j));
    }
  }
  return chunks;
}

interface Pending {
  record: ChunkRecord;
  chunk: Float32Array | null;
  error: Error | null;
  settled: Promise<void>;
}

/**
 * Real time: tick k happens at wall time start + k * tickMs. A chunk answers the observation of
 * tick `obsTick`; its entry nObsSteps-1+j is the action for tick obsTick + j, executable for
 * j < nActionSteps. An answer becomes current at the first tick after it arrives, from the entry
 * of that tick (the ticks that passed since its observation are skipped). The next chunk is asked
 * for, with that tick's observation, at the start of the current chunk's last `lookahead` actions
 * (at once if that tick has passed); one request is in flight at a time. A tick whose action the
 * current chunk cannot give is late: the pusher holds its last target. The first chunk of an
 * episode is awaited before the clock starts (the scene is at rest until the robot moves).
 */
async function playRealtime(
  rec: Recorder,
  policy: ChunkPolicy,
  options: EpisodeOptions,
): Promise<ChunkRecord[]> {
  const tickMs = options.tickMs ?? 1000 / FPS;
  const nA = policy.nActionSteps, first = policy.nObsSteps - 1;
  if (options.lookahead !== undefined) {
    if (!Number.isInteger(options.lookahead) || options.lookahead < 1 || options.lookahead > nA) {
      throw new Error(`lookahead must be an integer in 1..${nA}, got ${options.lookahead}`);
    }
  }
  const recent = options.recent ?? [];
  const noteLatency = (ms: number) => {
    recent.push(ms);
    if (recent.length > 5) recent.shift();
  };
  const chunks: ChunkRecord[] = [];
  const request = (tick: number): Pending => {
    const record: ChunkRecord = { obsTick: tick, startTick: -1, entries: [], latencyMs: NaN };
    chunks.push(record);
    const t0 = performance.now();
    const p: Pending = { record, chunk: null, error: null, settled: Promise.resolve() };
    p.settled = policy.infer(rec.window.data.slice()).then((chunk) => {
      record.latencyMs = performance.now() - t0;
      noteLatency(record.latencyMs);
      p.chunk = chunk;
    }, (error) => {
      p.error = error instanceof Error ? error : new Error(String(error));
    });
    return p;
  };

  const opening = request(0);
  await opening.settled;
  if (opening.error) throw opening.error;
  let current = opening;
  current.record.startTick = 0;
  let pending: Pending | null = null;
  const start = performance.now();
  for (let tick = 0; !rec.done; tick++) {
    const wait = start + tick * tickMs - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    else if (wait < -tickMs) rec.slowTicks++;
    if (pending?.error) throw pending.error;
    if (pending?.chunk) {
      current = pending;
      current.record.startTick = tick;
      pending = null;
    }
    const j = tick - current.record.obsTick;
    let action: [number, number];
    if (j < nA) {
      current.record.entries.push(first + j);
      action = entry(current.chunk!, first + j);
    } else {
      rec.lateTicks++;
      action = rec.last;
    }
    const k = options.lookahead ?? autoLookahead(Math.max(...recent), tickMs, nA);
    if (!pending && tick >= current.record.obsTick + nA - k) pending = request(tick);
    rec.apply(action);
  }
  if (pending) {
    // openpi has no cancellation: the answer is read before the next episode starts
    await pending.settled;
    if (pending.error) throw pending.error;
  }
  return chunks;
}

/** Options of {@linkcode evaluatePushT}. */
export interface EvalOptions extends Omit<EpisodeOptions, "recent"> {
  /** Episodes (seeds seed .. seed + episodes - 1). */
  episodes: number;
  /** First seed (default 0). */
  seed?: number;
  /** Called after each episode with the number done. */
  onEpisode?: (done: number, episode: EpisodeResult) => void | Promise<void>;
}

/** Evaluates `policy` on consecutive seeds; returns every episode and the summary. */
export async function evaluatePushT(
  env: PushTEnv,
  policy: ChunkPolicy,
  options: EvalOptions,
): Promise<{ episodes: EpisodeResult[]; summary: EvalSummary }> {
  const { episodes: n, seed = 0 } = options;
  if (!Number.isInteger(n) || n <= 0) throw new Error(`episodes must be >= 1, got ${n}`);
  if (!Number.isInteger(seed) || seed < 0 || seed + n - 1 > 0xffffffff) {
    throw new Error(`seeds ${seed}..${seed + n - 1} are outside 0..2^32-1`);
  }
  const recent: number[] = [];
  const episodes: EpisodeResult[] = [];
  for (let i = 0; i < n; i++) {
    const ep = await runEpisode(env, policy, seed + i, { ...options, recent });
    episodes.push(ep);
    await options.onEpisode?.(i + 1, ep);
  }
  return { episodes, summary: summarize(episodes) };
}
