// openpi's websocket policy protocol on `/`: an in-process server with the exact CPU denoiser as
// a 16 x 2 sequence model conditioned on 2 x 5 observation values, and the policy record below.
// Answers are checked against the CPU denoiser run directly on hand-normalised observations.

import assert from "node:assert/strict";
import { Unpackr } from "msgpackr";
import { decodeFrame, encodeFrame } from "../src/server/codec.ts";
import { CpuDenoiser, type CpuModelConfig } from "../src/server/cpu_denoiser.ts";
import { connectPolicy, PolicyClientError } from "../src/server/policy_client.ts";
import { sampleSeed } from "../src/server/seeds.ts";
import type { DitServer } from "../src/server/server.ts";
import { PUSHT_CPU_TEST_CONFIG, RawSocket, startTestServer } from "../src/server/testing.ts";
import { decodeTensor } from "../src/server/tensor.ts";
import { normalize, type PolicySpec, unnormalize } from "../src/policy/spec.ts";
import { GpuDenoiser } from "../src/sample/denoiser.ts";
import { loadModel } from "../src/sample/load.ts";
import { gpuTest } from "./_gpu.ts";
import { PUSHT_TEST_SPEC, writeTestPolicy } from "../examples/make_test_policy.ts";

// Push-T's test policy without feature names (the metadata checks expect none), with its own stats
// (so normalisation is not the identity) and fewer steps.
const SPEC: PolicySpec = {
  ...PUSHT_TEST_SPEC,
  stateNames: undefined,
  actionNames: undefined,
  steps: 6,
  stats: {
    state: { min: [10, 20, 0, 0, 0], max: [500, 490, 512, 512, 6.25] },
    action: { min: [12, 5], max: [505, 480] },
  },
};
const CPU: CpuModelConfig = PUSHT_CPU_TEST_CONFIG;
const SEED = 42;

function serve(extra: Parameters<typeof startTestServer>[0] = {}): Promise<DitServer> {
  return startTestServer({ denoiserConfig: { ...CPU }, policy: SPEC, seed: SEED, ...extra });
}

/** A raw openpi socket: frames as they arrive (bytes, or text). */
class PiSocket extends RawSocket {
  constructor(server: DitServer, headers: Record<string, string> = {}) {
    super(server.url, { path: "/", headers, raw: true });
  }

  frame(timeoutMs = 10_000): Promise<Uint8Array | string> {
    return this.nextFrame(timeoutMs) as Promise<Uint8Array | string>;
  }

  async map(): Promise<Record<string, unknown>> {
    const f = await this.frame();
    if (typeof f === "string") throw new Error(`Expected a map, got text: ${f}`);
    return decodeFrame(f) as Record<string, unknown>;
  }

  async text(): Promise<string> {
    const f = await this.frame();
    if (typeof f !== "string") {
      throw new Error(`Expected text, got ${JSON.stringify(decodeFrame(f))}`);
    }
    return f;
  }
}

async function openPi(server: DitServer, headers?: Record<string, string>) {
  const ws = new PiSocket(server, headers);
  await ws.opened;
  const metadata = await ws.map();
  return { ws, metadata };
}

// Python's msgpack (use_bin_type=True) with openpi-client's pack_array, written out by hand.
const ascii = (s: string) => [...new TextEncoder().encode(s)];
const pyStr = (s: string) => {
  const b = ascii(s);
  assert.ok(b.length < 32);
  return [0xa0 | b.length, ...b];
};
const pyBin = (b: number[]) => {
  assert.ok(b.length < 256);
  return [0xc4, b.length, ...b];
};
/** `packb({key: np.array(values, dtype)}, default=pack_array)` for a 1-D or 2-D array. */
function pythonObservation(
  key: string,
  values: number[],
  dtype: "<f4" | "<f8",
  shape: number[],
): Uint8Array {
  const data = dtype === "<f4" ? new Float32Array(values) : new Float64Array(values);
  return Uint8Array.from([
    0x81,
    ...pyStr(key),
    0x84,
    ...pyBin(ascii("__ndarray__")),
    0xc3,
    ...pyBin(ascii("data")),
    ...pyBin([...new Uint8Array(data.buffer)]),
    ...pyBin(ascii("dtype")),
    ...pyStr(dtype),
    ...pyBin(ascii("shape")),
    0x90 | shape.length,
    ...shape, // positive fixints
  ]);
}

/** The same observation with string keys, as a JavaScript msgpack user would write it. */
function stringKeyObservation(key: string, values: number[], shape: number[]): Uint8Array {
  const data = new Float32Array(values);
  return encodeFrame({
    [key]: { __ndarray__: true, data: new Uint8Array(data.buffer), dtype: "<f4", shape },
  });
}

const cpu = new CpuDenoiser({ ...CPU });

/**
 * The expected actions: the window min-max normalised by hand, the CPU denoiser run directly with
 * the k-th seed of the server seed, the result mapped back to the action range.
 */
async function expected(window: number[], k: number, seed = SEED): Promise<Float32Array> {
  const { state, action } = SPEC.stats;
  const cond = Float32Array.from(window, (v, i) => {
    const c = i % 5;
    return (v - state.min[c]) / (state.max[c] - state.min[c]) * 2 - 1;
  });
  const [x0] = await cpu.run([{
    id: "ref",
    n: 1,
    steps: SPEC.steps,
    sampler: SPEC.sampler,
    seeds: [sampleSeed(seed, k)],
    cond,
  }]);
  return x0.map((v, i) =>
    (v + 1) / 2 * (action.max[i % 2] - action.min[i % 2]) + action.min[i % 2]
  );
}

function assertClose(actual: Float32Array, want: Float32Array, tol = 1e-3): void {
  assert.equal(actual.length, want.length);
  for (let i = 0; i < want.length; i++) {
    assert.ok(Math.abs(actual[i] - want[i]) <= tol, `index ${i}: ${actual[i]} vs ${want[i]}`);
  }
}

function actionsOf(frame: Record<string, unknown>): Float32Array {
  const t = decodeTensor(frame.actions, "actions");
  assert.deepEqual(t.shape, [16, 2]);
  return t.data;
}

const F0 = [100, 200, 300, 400, 1.5];
const F1 = [110, 190, 305, 398, 1.6];
const F2 = [120, 180, 310, 396, 1.7];

Deno.test("openpi: metadata, round trips and history", async (t) => {
  const server = await serve();
  try {
    await t.step(
      "metadata frame, then actions from a client packing like openpi-client",
      async () => {
        const { ws, metadata } = await openPi(server);
        assert.deepEqual(metadata.observation, {
          "observation.state": { shape: [5], dtype: "float32", history_shape: [2, 5] },
        });
        assert.deepEqual(metadata.action, { key: "action", shape: [16, 2], dtype: "float32" });
        assert.equal(metadata.n_obs_steps, 2);
        assert.equal(metadata.n_action_steps, 8);
        assert.equal(metadata.sampler, "ddim");
        assert.equal(metadata.steps, 6);
        assert.equal((metadata.server as Record<string, unknown>).name, "dit-serve");
        assert.equal(typeof (metadata.policy as Record<string, unknown>).name, "string");

        ws.sendRaw(pythonObservation("observation.state", F0, "<f4", [5]));
        const raw = await ws.frame();
        assert.ok(raw instanceof Uint8Array);
        // The array's keys are msgpack bin, as openpi-client's decoder requires; the outer keys str.
        const outer = new Unpackr({ useRecords: false, mapsAsObjects: false }).unpack(raw) as Map<
          unknown,
          unknown
        >;
        assert.deepEqual([...outer.keys()], ["actions", "server_timing"]);
        const arr = outer.get("actions") as Map<unknown, unknown>;
        const keys = [...arr.keys()];
        assert.ok(keys.every((k) => k instanceof Uint8Array), "array keys are bin");
        assert.deepEqual(
          keys.map((k) => new TextDecoder().decode(k as Uint8Array)).sort(),
          ["__ndarray__", "data", "dtype", "shape"],
        );
        const first = decodeFrame(raw) as Record<string, unknown>;
        assert.equal((first.actions as Record<string, unknown>).dtype, "<f4");
        // After a reset the first frame fills the whole window.
        assertClose(actionsOf(first), await expected([...F0, ...F0], 0));
        const timing = first.server_timing as Record<string, number>;
        assert.ok(timing.infer_ms > 0 && !("prev_total_ms" in timing));

        ws.sendRaw(pythonObservation("observation.state", F1, "<f8", [5]));
        const second = await ws.map();
        assertClose(actionsOf(second), await expected([...F0, ...F1], 1));
        assert.ok((second.server_timing as Record<string, number>).prev_total_ms > 0);
        ws.sendRaw(pythonObservation("observation.state", F2, "<f4", [5]));
        assertClose(actionsOf(await ws.map()), await expected([...F1, ...F2], 2));
        await ws.close();
      },
    );

    await t.step("string keys, the whole window, and the 'state' alias", async () => {
      const { ws } = await openPi(server);
      ws.sendRaw(stringKeyObservation("observation.state", [...F1, ...F2], [2, 5]));
      assertClose(actionsOf(await ws.map()), await expected([...F1, ...F2], 0));
      ws.sendRaw(stringKeyObservation("state", F0, [5]));
      assertClose(actionsOf(await ws.map()), await expected([...F2, ...F0], 1));
      ws.sendRaw(encodeFrame({
        "observation.state": {
          __ndarray__: true,
          data: new Uint8Array(new Float64Array([...F0, ...F1]).buffer),
          dtype: "<f8",
          shape: [2, 5],
        },
        prompt: "push the T",
        "observation.images.top": { __npgeneric__: true, data: 3, dtype: "<i8" },
      }));
      assertClose(actionsOf(await ws.map()), await expected([...F0, ...F1], 2));
      await ws.close();
    });

    await t.step("episode_start clears the history and the seed index", async () => {
      const { ws } = await openPi(server);
      ws.sendRaw(pythonObservation("observation.state", F0, "<f4", [5]));
      await ws.map();
      ws.sendRaw(pythonObservation("observation.state", F1, "<f4", [5]));
      await ws.map();
      ws.sendRaw(encodeFrame({ __ctrl__: "episode_start", __task__: "push", __episode_id__: 7 }));
      assert.deepEqual(await ws.map(), { __ctrl__: "episode_start", ok: true });
      ws.sendRaw(pythonObservation("observation.state", F2, "<f4", [5]));
      assertClose(actionsOf(await ws.map()), await expected([...F2, ...F2], 0));
      ws.sendRaw(encodeFrame({ __ctrl__: "episode_end", __success__: true }));
      assert.deepEqual(await ws.map(), { __ctrl__: "episode_end", ok: true });
      await ws.close();
    });

    await t.step("TypeScript policy client", async () => {
      const policy = await connectPolicy(server.url);
      assert.equal(policy.metadata.n_action_steps, 8);
      const a = await policy.infer({ "observation.state": Float32Array.from(F0) });
      assert.deepEqual(a.shape, [16, 2]);
      assertClose(a.actions, await expected([...F0, ...F0], 0));
      const b = await policy.infer({ "observation.state": Float64Array.from(F1) });
      assertClose(b.actions, await expected([...F0, ...F1], 1));
      await policy.reset();
      const c = await policy.infer({
        "observation.state": { data: Float32Array.from([...F2, ...F0]), shape: [2, 5] },
      });
      assertClose(c.actions, await expected([...F2, ...F0], 0));
      await assert.rejects(
        policy.infer({ "observation.state": Float32Array.of(1, 2) }),
        (e: Error) => e instanceof PolicyClientError && /shape \[2\]/.test(e.message),
      );
      await policy.episodeEnd(true);
      await policy.close();
    });

    await t.step("a plain GET / still serves the page", async () => {
      const res = await fetch(server.url + "/");
      assert.equal(res.status, 200);
      assert.match(await res.text(), /<html/i);
    });
  } finally {
    await server.shutdown();
  }
});

Deno.test("openpi: every bad frame gets one text line and the connection keeps serving", async () => {
  const server = await serve();
  try {
    const { ws } = await openPi(server);
    const good = () => pythonObservation("observation.state", F0, "<f4", [5]);
    const nan = [...F0];
    nan[2] = NaN;
    const inf = [...F0];
    inf[4] = Infinity;
    const cases: [string, Uint8Array | string, RegExp][] = [
      ["missing key", encodeFrame({ "observation.image": 1 }), /no 'observation.state'/],
      ["wrong shape", pythonObservation("observation.state", [1, 2, 3], "<f4", [3]), /shape \[3\]/],
      [
        "wrong 2-D shape",
        pythonObservation("observation.state", F0.concat(F0, F0), "<f4", [3, 5]),
        /expected \[5\] or \[2, 5\]/,
      ],
      ["byte count", stringKeyObservation("observation.state", F0, [6]), /bytes/],
      [
        "integer dtype",
        encodeFrame({
          "observation.state": {
            __ndarray__: true,
            data: new Uint8Array(40),
            dtype: "<i8",
            shape: [5],
          },
        }),
        /dtype '<i8'/,
      ],
      ["not an array", encodeFrame({ "observation.state": [1, 2, 3, 4, 5] }), /numpy array/],
      ["NaN", pythonObservation("observation.state", nan, "<f4", [5]), /NaN or infinite/],
      ["Inf", pythonObservation("observation.state", inf, "<f8", [5]), /NaN or infinite/],
      ["not msgpack", Uint8Array.of(0xc1, 0x00), /not valid MessagePack/],
      ["truncated msgpack", good().subarray(0, 30), /not valid MessagePack/],
      ["not a map", encodeFrame([1, 2, 3]), /must be a map/],
      ["text frame", "hello", /Text frames/],
      ["unknown ctrl", encodeFrame({ __ctrl__: "jump" }), /__ctrl__/],
    ];
    for (const [name, frame, pattern] of cases) {
      ws.sendRaw(frame);
      const text = await ws.text();
      assert.match(text, pattern, name);
      assert.ok(!text.includes("\n"), `${name}: one line`);
      ws.sendRaw(good());
      const answer = await ws.map();
      assert.ok(answer.actions, `${name}: the next observation is answered`);
    }
    // Bad frames did not touch the history: the window is still the first frame, repeated.
    ws.sendRaw(encodeFrame({ __ctrl__: "episode_start" }));
    await ws.map();
    ws.sendRaw(good());
    ws.sendRaw(pythonObservation("observation.state", [1, 2], "<f4", [2]));
    ws.sendRaw(pythonObservation("observation.state", F1, "<f4", [5]));
    assertClose(actionsOf(await ws.map()), await expected([...F0, ...F0], 0));
    assert.match(await ws.text(), /shape/);
    assertClose(actionsOf(await ws.map()), await expected([...F0, ...F1], 1));
    await ws.close();
    const health = await fetch(server.url + "/healthz");
    assert.equal(health.status, 200);
    await health.body?.cancel();
  } finally {
    await server.shutdown();
  }
});

Deno.test("openpi: Api-Key and Bearer tokens; missing or wrong ones get 401", async () => {
  const server = await serve({ token: "s3cret" });
  try {
    const refused: Record<string, string>[] = [
      {},
      { authorization: "Api-Key nope" },
      { authorization: "Bearer x" },
    ];
    for (const headers of refused) {
      const ws = new PiSocket(server, headers);
      await assert.rejects(ws.opened);
      await ws.closed;
    }
    const res = await fetch(server.url + "/", {
      headers: { upgrade: "websocket", connection: "upgrade", authorization: "Api-Key bad" },
    });
    assert.equal(res.status, 401);
    await res.body?.cancel();
    for (const authorization of ["Api-Key s3cret", "Bearer s3cret"]) {
      const { ws, metadata } = await openPi(server, { authorization });
      assert.equal(metadata.n_obs_steps, 2);
      await ws.close();
    }
    await assert.rejects(connectPolicy(server.url, { apiKey: "bad" }), PolicyClientError);
    const policy = await connectPolicy(server.url, { apiKey: "s3cret" });
    assert.equal((await policy.infer({ state: Float32Array.from(F0) })).shape[0], 16);
    await policy.close();
  } finally {
    await server.shutdown();
  }
});

Deno.test("openpi: robots at once share batches and get what each gets alone", async () => {
  const episodes = Array.from(
    { length: 6 },
    (_, r) =>
      Array.from({ length: 3 }, (_, k) => F0.map((v, c) => v + (c < 4 ? 7 * r + 3 * k : 0.1 * r))),
  );
  async function drive(server: DitServer, robot: number): Promise<Float32Array[]> {
    const policy = await connectPolicy(server.url);
    const out: Float32Array[] = [];
    for (const frame of episodes[robot]) {
      out.push((await policy.infer({ "observation.state": Float32Array.from(frame) })).actions);
    }
    await policy.close();
    return out;
  }
  const server = await serve({ batchWindowMs: 20 });
  try {
    const alone: Float32Array[][] = [];
    for (let r = 0; r < episodes.length; r++) alone.push(await drive(server, r));
    const batchesBefore = server.metrics.batches;
    const together = await Promise.all(episodes.map((_, r) => drive(server, r)));
    assert.deepEqual(together, alone);
    // 18 observations ran in fewer batches than observations: requests were batched.
    assert.ok(
      server.metrics.batches - batchesBefore < 18,
      `${server.metrics.batches - batchesBefore} batches`,
    );
    // Robot 0's answers are the reference's.
    assertClose(alone[0][1], await expected([...episodes[0][0], ...episodes[0][1]], 1));
  } finally {
    await server.shutdown();
  }
});

Deno.test("openpi: --seed reproduces actions; without it samples differ", async () => {
  const run = async (server: DitServer) => {
    const policy = await connectPolicy(server.url);
    const a = await policy.infer({ "observation.state": Float32Array.from(F0) });
    const b = await policy.infer({ "observation.state": Float32Array.from(F1) });
    await policy.close();
    return [a.actions, b.actions];
  };
  const s1 = await serve({ seed: 9 });
  const s2 = await serve({ seed: 9 });
  const s3 = await serve({ seed: undefined });
  try {
    const [x, y] = [await run(s1), await run(s2)];
    assert.deepEqual(x, y);
    assertClose(x[1], await expected([...F0, ...F1], 1, 9));
    const [u, v] = [await run(s3), await run(s3)];
    assert.notDeepEqual(u[0], v[0]);
  } finally {
    await Promise.all([s1.shutdown(), s2.shutdown(), s3.shutdown()]);
  }
});

Deno.test("openpi: a server without a policy refuses the upgrade on / and a mismatch fails start", async () => {
  const plain = await startTestServer();
  try {
    const ws = new PiSocket(plain);
    await assert.rejects(ws.opened);
    await ws.closed;
  } finally {
    await plain.shutdown();
  }
  await assert.rejects(
    startTestServer({
      denoiserConfig: { ...CPU },
      policy: { ...SPEC, horizon: 8, nActionSteps: 4 },
    }),
    /does not fit the model: the model denoises sequence \[16,2\]/,
  );
  await assert.rejects(
    startTestServer({
      denoiserConfig: { ...CPU },
      policy: {
        ...SPEC,
        stateDim: 4,
        stats: { ...SPEC.stats, state: { min: [0, 0, 0, 0], max: [1, 1, 1, 1] } },
      },
    }),
    /conditioned on 10 values, the policy on 8/,
  );
});

gpuTest(
  "openpi: a DiT policy checkpoint served over openpi answers as the engine run directly",
  async (gpu) => {
    const dir = await Deno.makeTempDir({ prefix: "openpi-policy-" });
    const server = await startTestServer({
      denoiserModule: new URL("../src/server/gpu_denoiser.ts", import.meta.url).href,
      denoiserConfig: {},
      ckpt: await writeTestPolicy(dir, "tiny"),
      seed: 5,
      batchWindowMs: 20,
    });
    try {
      const spec = PUSHT_TEST_SPEC;
      const model = await loadModel(gpu, dir);
      // The policy's own diffusion settings (its 100 training timesteps), as the server uses.
      const engine = new GpuDenoiser(gpu, model, {
        betaSchedule: "squaredcos_cap_v2",
        numTrainTimesteps: spec.numTrainTimesteps,
        clipSample: spec.clipSample,
      });
      const direct = async (window: number[], k: number) => {
        const cond = normalize(Float32Array.from(window), spec.stats.state);
        const { x0 } = await engine.sample({
          sampler: spec.sampler,
          steps: spec.steps,
          seeds: [sampleSeed(5, k)],
          cond,
        });
        return unnormalize(x0, spec.stats.action);
      };
      const frames = [[200, 100, 300, 320, 0.5], [210, 110, 300, 320, 0.5], [
        230,
        120,
        301,
        322,
        0.6,
      ]];
      const drive = async (shift: number) => {
        const policy = await connectPolicy(server.url);
        assert.equal(policy.metadata.steps, 10);
        assert.deepEqual((policy.metadata.action as { shape: number[] }).shape, [16, 2]);
        const out: Float32Array[] = [];
        for (const f of frames) {
          const a = await policy.infer({
            "observation.state": Float32Array.from(f, (v) => v + shift),
          });
          assert.deepEqual(a.shape, [16, 2]);
          out.push(a.actions);
        }
        await policy.close();
        return out;
      };
      const alone = await drive(0);
      // Tolerance: float32 GPU arithmetic mapped onto a 512-unit action range.
      assertClose(alone[0], await direct([...frames[0], ...frames[0]], 0), 1e-2);
      assertClose(alone[2], await direct([...frames[1], ...frames[2]], 2), 1e-2);
      assert.ok(alone.some((a, i) => i > 0 && a.some((v, j) => v !== alone[0][j])));
      const together = await Promise.all([0, 3, 7].map(drive));
      for (let k = 0; k < frames.length; k++) assertClose(together[0][k], alone[k], 1e-2);
    } finally {
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
