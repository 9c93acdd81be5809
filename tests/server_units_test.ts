// Unit tests of the serving layer's pure parts: seeds, codec, tensors, the page, CPU denoiser.

import assert from "node:assert/strict";
import { Packr } from "msgpackr";
import { bytesOf, DecodeError, decodeFrame, encodeFrame } from "../src/server/codec.ts";
import { CpuDenoiser, DEFAULT_CPU_CONFIG } from "../src/server/cpu_denoiser.ts";
import { Metrics } from "../src/server/metrics.ts";
import { renderPage } from "../src/server/page.ts";
import { parseClientFrame, type ValidationContext } from "../src/server/protocol.ts";
import { sampleSeed, sampleSeeds } from "../src/server/seeds.ts";
import { initialNoise, stepNoise } from "../src/sample/noise.ts";
import { SAMPLERS } from "../src/sample/samplers.ts";
import { mix32 } from "../src/util/prng.ts";
import { decodeTensor, TensorError } from "../src/server/tensor.ts";

function hex(text: string): Uint8Array {
  return Uint8Array.from(text.match(/../g)!.map((h) => parseInt(h, 16)));
}

// Produced by Python: msgpack.packb(req, default=msgpack_numpy.encode) with
// req = {type: "sample", id: "np1", n: 1, steps: 5, sampler: "ddim", seed: 1, class: 2,
// noise: (np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2) - 4) / 4}; then the same in float64,
// and openpi's {b"__ndarray__": True, b"data", b"dtype", b"shape"} convention.
const PY_MSGPACK_NUMPY = "88a474797065a673616d706c65a26964a36e7031a16e01a5737465707305a773616d" +
  "706c6572a46464696da47365656401a5636c61737302a56e6f69736585c4026e64c3c40474797065a33c6634c404" +
  "6b696e64c400c40573686170659401020202c40464617461c420000080bf000040bf000000bf000080be0000000000" +
  "00803e0000003f0000403f";
const PY_MSGPACK_NUMPY_F64 = "88a474797065a673616d706c65a26964a36e7032a16e01a5737465707305a773" +
  "616d706c6572a46464696da47365656401a5636c61737302a56e6f69736585c4026e64c3c40474797065a33c6638" +
  "c4046b696e64c400c40573686170659401020202c40464617461c440000000000000f0bf000000000000e8bf0000" +
  "00000000e0bf000000000000d0bf0000000000000000000000000000d03f000000000000e03f000000000000e83f";
const PY_OPENPI = "88a474797065a673616d706c65a26964a36e7033a16e01a5737465707305a773616d706c65" +
  "72a46464696da47365656401a5636c61737302a56e6f69736584c40b5f5f6e6461727261795f5fc3c40464617461" +
  "c420000080bf000040bf000000bf000080be000000000000803e0000003f0000403fc4056474797065a33c6634c405" +
  "73686170659401020202";
const EXPECTED = [-1, -0.75, -0.5, -0.25, 0, 0.25, 0.5, 0.75];

Deno.test("seeds: per-sample seeds are deterministic, distinct and documented", () => {
  // MurmurHash3's finaliser, written out here as the independent reference.
  const fmix = (h: number) => {
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
    return (h ^ (h >>> 16)) >>> 0;
  };
  assert.equal(mix32(0xdeadbeef), fmix(0xdeadbeef));
  assert.equal(sampleSeed(7, 0), fmix(7));
  assert.equal(sampleSeed(7, 3), fmix((7 + 3 * 0x9e3779b9) >>> 0));
  const seeds = sampleSeeds(123, 64);
  assert.equal(new Set(seeds).size, 64);
  assert.deepEqual(sampleSeeds(123, 4), seeds.slice(0, 4));
});

Deno.test("noise: a sample's draws depend on its seed, purpose and step only", () => {
  assert.deepEqual(initialNoise(5, 64), initialNoise(5, 64));
  assert.deepEqual(initialNoise(5, 64).subarray(0, 16), initialNoise(5, 16));
  const distinct = [
    initialNoise(5, 64),
    initialNoise(6, 64),
    stepNoise(5, 0, 64),
    stepNoise(5, 1, 64),
  ];
  for (let i = 0; i < distinct.length; i++) {
    for (let j = i + 1; j < distinct.length; j++) assert.notDeepEqual(distinct[i], distinct[j]);
  }
  let sum = 0, sq = 0;
  const r = initialNoise(9, 20_000);
  for (const v of r) {
    sum += v;
    sq += v * v;
  }
  assert.ok(Math.abs(sum / 20_000) < 0.03 && Math.abs(sq / 20_000 - 1) < 0.05);
});

Deno.test("codec: binary keys become strings, nesting and garbage are refused", () => {
  const key = (s: string) => new TextEncoder().encode(s);
  const packr = new Packr({ useRecords: false });
  const bytes = packr.pack(new Map<unknown, unknown>([[key("nd"), true], ["x", [1, 2]]]));
  assert.deepEqual(decodeFrame(bytes), { nd: true, x: [1, 2] });
  let deep: unknown = 1;
  for (let i = 0; i < 40; i++) deep = [deep];
  assert.throws(() => decodeFrame(encodeFrame(deep)), DecodeError);
  assert.throws(() => decodeFrame(new Uint8Array([0xdd, 0xff, 0xff, 0xff, 0xff])), DecodeError);
  assert.throws(() => decodeFrame(new TextEncoder().encode("hello")), DecodeError);
  const proto = decodeFrame(encodeFrame({ ["__proto__"]: { polluted: true } })) as object;
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.ok(Object.hasOwn(proto, "__proto__"));
});

Deno.test("tensor: native, msgpack-numpy (real Python bytes) and openpi formats", async (t) => {
  await t.step("msgpack-numpy float32", () => {
    const frame = decodeFrame(hex(PY_MSGPACK_NUMPY)) as Record<string, unknown>;
    const tensor = decodeTensor(frame.noise, "noise");
    assert.deepEqual(tensor.shape, [1, 2, 2, 2]);
    assert.deepEqual([...tensor.data], EXPECTED);
  });
  await t.step("msgpack-numpy float64 is narrowed", () => {
    const frame = decodeFrame(hex(PY_MSGPACK_NUMPY_F64)) as Record<string, unknown>;
    assert.deepEqual([...decodeTensor(frame.noise, "noise").data], EXPECTED);
  });
  await t.step("openpi", () => {
    const frame = decodeFrame(hex(PY_OPENPI)) as Record<string, unknown>;
    assert.deepEqual([...decodeTensor(frame.noise, "noise").data], EXPECTED);
  });
  await t.step("native round trip through the codec (unaligned bytes)", () => {
    const data = Float32Array.from(EXPECTED);
    const wire = decodeFrame(
      encodeFrame({ a: 1, t: { dtype: "float32", shape: [8], data: bytesOf(data) } }),
    );
    assert.deepEqual([...decodeTensor((wire as { t: unknown }).t, "t").data], EXPECTED);
  });
  await t.step("refusals", () => {
    const bad = (value: unknown, code: string) => {
      try {
        decodeTensor(value, "x");
        assert.fail("accepted");
      } catch (error) {
        assert.ok(error instanceof TensorError);
        assert.equal(error.code, code);
      }
    };
    const data = bytesOf(new Float32Array([1, NaN]));
    bad({ dtype: "float32", shape: [2], data }, "bad_request");
    bad({ dtype: "float32", shape: [3], data }, "bad_request");
    bad({ dtype: "int8", shape: [8], data }, "unsupported");
    bad({ dtype: ">f4", shape: [2], data }, "unsupported");
    bad({ dtype: "float32", shape: [-1], data }, "bad_request");
    bad({ dtype: "float32", shape: [2], data: [1, 2] }, "bad_request");
    bad(
      { nd: true, type: "<f4", kind: new TextEncoder().encode("V"), shape: [2], data },
      "unsupported",
    );
    bad(bytesOf(new Float32Array(2)), "bad_request");
    const inf = new Uint8Array(new Float64Array([1e300]).buffer);
    bad({ dtype: "<f8", shape: [1], data: inf }, "bad_request");
  });
});

Deno.test("protocol: a real Python msgpack-numpy request validates", () => {
  const cpu = new CpuDenoiser({ ...DEFAULT_CPU_CONFIG, shape: [2, 2, 2] });
  const ctx: ValidationContext = {
    info: cpu.info,
    limits: { maxBatch: 8, maxSteps: 100, maxFrameBytes: 1 << 20, maxInflightPerConnection: 4 },
    canPng: true,
    randomSeed: () => 42,
  };
  const parsed = parseClientFrame(decodeFrame(hex(PY_MSGPACK_NUMPY)), ctx);
  assert.equal(parsed.type, "sample");
  if (parsed.type !== "sample") return;
  assert.deepEqual([...parsed.request.noise!], EXPECTED);
  assert.deepEqual([...parsed.request.classes!], [2]);
  assert.equal(parsed.request.seed, 1);
});

Deno.test("page: the demo page's script parses and embeds no remote resource", () => {
  const html = renderPage();
  const script = html.match(/<script>([\s\S]*)<\/script>/)![1];
  new Function(script); // throws a SyntaxError if the script is malformed
  assert.doesNotMatch(html, /https?:\/\//);
  assert.match(script, /\/v1\/ws/);
  // The codec is msgpackr's browser build, loaded from this server before the page's script.
  assert.ok(html.indexOf('<script src="/msgpackr.js"></script>') < html.indexOf("<script>"));
  assert.match(script, /msgpackr\.Packr/);
});

Deno.test("cpu denoiser: DDIM converges to the requested class's modes", async () => {
  const cfg = { ...DEFAULT_CPU_CONFIG, shape: [4, 8, 8] };
  const cpu = new CpuDenoiser(cfg);
  const size = 4 * 8 * 8;
  const classes = [0, 1, 2, 3, 7, 9];
  const [x] = await cpu.run([{
    id: "a",
    n: classes.length,
    steps: 50,
    sampler: "ddim",
    seeds: sampleSeeds(11, classes.length),
    classes: Int32Array.from(classes),
  }]);
  classes.forEach((cls, i) => {
    const rms = (m: Float32Array) => {
      let d = 0;
      for (let k = 0; k < size; k++) d += (x[i * size + k] - m[k]) ** 2;
      return Math.sqrt(d / size);
    };
    let best = { dist: Infinity, cls: -1 };
    for (let c = 0; c < cfg.numClasses; c++) {
      for (let k = 0; k < cfg.modes; k++) {
        const dist = rms(cpu.mode(c, k));
        if (dist < best.dist) best = { dist, cls: c };
      }
    }
    // A draw from N(mode, std^2): about std away from its mode, and from its own class.
    assert.equal(best.cls, cls);
    assert.ok(best.dist < 2 * cfg.std, `sample ${i} is ${best.dist} from the nearest mode`);
  });
  for (let k = 0; k < x.length; k++) assert.ok(Number.isFinite(x[k]));
});

Deno.test("cpu denoiser: every sampler is deterministic per seed and batch-independent", async () => {
  const cpu = new CpuDenoiser({ ...DEFAULT_CPU_CONFIG, shape: [2, 4, 4] });
  for (const sampler of SAMPLERS) {
    const job = (id: string, seed: number) => ({
      id,
      n: 2,
      steps: 7,
      sampler,
      seeds: sampleSeeds(seed, 2),
      classes: Int32Array.from([1, 5]),
    });
    const [alone] = await cpu.run([job("a", 3)]);
    const [, together] = await cpu.run([job("b", 4), job("a", 3)]);
    assert.deepEqual(together, alone, sampler);
  }
});

Deno.test("cpu denoiser: PNGs and previews", async () => {
  const cpu = new CpuDenoiser({ ...DEFAULT_CPU_CONFIG, shape: [3, 4, 4] });
  const steps: number[] = [];
  const [x] = await cpu.run(
    [{ id: "a", n: 2, steps: 3, sampler: "ddim", seeds: [1, 2], classes: Int32Array.from([0, 0]) }],
    (job, step, x0) => {
      assert.equal(job, 0);
      assert.equal(x0.length, 2 * 48);
      steps.push(step);
    },
  );
  assert.deepEqual(steps, [1, 2, 3]);
  const pngs = cpu.toPng(x, 2);
  assert.equal(pngs.length, 2);
  assert.deepEqual([...pngs[0].subarray(1, 4)], [80, 78, 71]); // "PNG"
});

Deno.test("cpu denoiser: simulated device time and readback change timing, not results", async () => {
  const job = {
    id: "a",
    n: 1,
    steps: 4,
    sampler: "ddim",
    seeds: [9],
    classes: Int32Array.from([2]),
  };
  const plain = new CpuDenoiser({ ...DEFAULT_CPU_CONFIG, shape: [2, 4, 4] });
  const slow = new CpuDenoiser({
    ...DEFAULT_CPU_CONFIG,
    shape: [2, 4, 4],
    stepMs: 5,
    readbackMs: 8,
  });
  const [expected] = await plain.run([job]);
  assert.equal(plain.lastTiming().readbackMs, 0);
  const t0 = performance.now();
  const [got] = await slow.run([job]);
  // Lower bounds only: a blocking wait of 4 x 5 ms, then a sleep of 8 ms, cannot take less.
  assert.ok(performance.now() - t0 >= 4 * 5 + 8 - 1, `took ${performance.now() - t0} ms`);
  assert.ok(slow.lastTiming().readbackMs >= 8 - 1, `readback ${slow.lastTiming().readbackMs}`);
  assert.deepEqual(got, expected);
  for (const bad of [{ stepMs: -1 }, { readbackMs: Number.NaN }, { stepMs: 1e9 }]) {
    assert.throws(() => new CpuDenoiser({ ...DEFAULT_CPU_CONFIG, ...bad }), /must be a number/);
  }
});

Deno.test("metrics: Prometheus text", () => {
  const m = new Metrics();
  m.error("bad_request");
  m.totalSeconds.observe(0.003);
  const text = m.render();
  assert.match(text, /dit_errors_total\{code="bad_request"\} 1/);
  assert.match(text, /dit_total_seconds_bucket\{le="0.005"\} 1/);
  assert.match(text, /dit_total_seconds_count 1/);
});
