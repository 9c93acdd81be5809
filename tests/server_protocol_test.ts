// Protocol round trips against an in-process server (CPU denoiser in a worker) on a free port.

import assert from "node:assert/strict";
import { bytesOf } from "../src/server/codec.ts";
import { connect } from "../src/server/client.ts";
import { sampleSeeds } from "../src/server/seeds.ts";
import { SAMPLERS } from "../src/sample/samplers.ts";
import { openRaw, startTestServer } from "../src/server/testing.ts";
import { CpuDenoiser, DEFAULT_CPU_CONFIG } from "../src/server/cpu_denoiser.ts";
import { MSGPACKR_PATH, renderPage } from "../src/server/page.ts";

Deno.test("protocol: TypeScript client round trip", async (t) => {
  const server = await startTestServer();
  const client = await connect(server.url, { timeoutMs: 10_000 });
  try {
    await t.step("hello", () => {
      assert.equal(client.hello.protocol, 1);
      assert.equal(client.hello.server.name, "dit-serve");
      assert.deepEqual(client.hello.model.input, { kind: "image", shape: [4, 16, 16] });
      assert.deepEqual(client.hello.model.condition, { kind: "class", numClasses: 10 });
      assert.deepEqual(client.hello.samplers, [...SAMPLERS]);
      assert.equal(client.hello.limits.maxBatch, 32);
    });
    await t.step("result matches the denoiser run directly", async () => {
      const result = await client.sample({ n: 3, steps: 8, class: [1, 2, 3], seed: 77 });
      assert.deepEqual(result.shape, [3, 4, 16, 16]);
      assert.equal(result.seed, 77);
      assert.equal(result.steps, 8);
      assert.equal(result.sampler, "ddim");
      const t = result.timing;
      assert.ok(t.totalMs >= t.queueMs + t.computeMs - 1e-6 && t.computeMs > 0);
      const cpu = new CpuDenoiser({ ...DEFAULT_CPU_CONFIG, shape: [4, 16, 16] });
      const [direct] = await cpu.run([{
        id: "x",
        n: 3,
        steps: 8,
        sampler: "ddim",
        seeds: sampleSeeds(77, 3),
        classes: Int32Array.from([1, 2, 3]),
      }]);
      assert.deepEqual(result.x0, direct);
    });
    await t.step("a missing seed is drawn and reported, and reproduces", async () => {
      const a = await client.sample({ steps: 3, class: 4, sampler: "ddpm" });
      assert.ok(Number.isInteger(a.seed) && a.seed >= 0 && a.seed <= 0xffffffff);
      const b = await client.sample({ steps: 3, class: 4, sampler: "ddpm", seed: a.seed });
      assert.deepEqual(b.x0, a.x0);
    });
    await t.step("png and previews", async () => {
      const steps: number[] = [];
      const result = await client.sample({
        n: 2,
        steps: 4,
        class: 0,
        sampler: "dpm++2m",
        return: ["png"],
        onPreview: (step, x0) => {
          assert.equal(x0.length, 2 * 4 * 16 * 16);
          steps.push(step);
        },
      });
      assert.deepEqual(steps, [1, 2, 3, 4]);
      assert.equal(result.x0, undefined);
      assert.equal(result.png?.length, 2);
      assert.deepEqual([...result.png![0].subarray(1, 4)], [80, 78, 71]);
    });
    await t.step("given noise is used as x_T", async () => {
      const noise = new Float32Array(4 * 16 * 16).fill(0.5);
      const a = await client.sample({ steps: 5, class: 1, seed: 1, noise });
      const b = await client.sample({ steps: 5, class: 1, seed: 2, noise });
      assert.deepEqual(a.x0, b.x0); // DDIM is deterministic given x_T
    });
    await t.step("routes: healthz, metrics, page, 404, 426", async () => {
      const health = await fetch(`${server.url}/healthz`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { status: "ok" });
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      assert.match(metrics, /dit_results_total [1-9]/);
      assert.match(metrics, /dit_batch_size_bucket/);
      assert.match(metrics, /dit_queue_seconds_count/);
      const page = await fetch(`${server.url}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<script src="\/msgpackr\.js"><\/script>/);
      const lib = await fetch(`${server.url}/msgpackr.js`);
      assert.equal(lib.status, 200);
      assert.match(lib.headers.get("content-type") ?? "", /^text\/javascript/);
      assert.match(await lib.text(), /msgpackr/);
      const missing = await fetch(`${server.url}/nope`);
      assert.equal(missing.status, 404);
      await missing.body?.cancel();
      const plain = await fetch(`${server.url}/v1/ws`);
      assert.equal(plain.status, 426);
      await plain.body?.cancel();
    });
  } finally {
    await client.close();
    await server.shutdown();
  }
});

Deno.test("protocol: numpy conventions and numeric ids over a raw socket", async () => {
  const server = await startTestServer({ denoiserConfig: { shape: [2, 2, 2] } });
  const { ws, hello } = await openRaw(server.url);
  try {
    assert.equal(hello.type, "hello");
    const values = new Float32Array([-1, -0.75, -0.5, -0.25, 0, 0.25, 0.5, 0.75]);
    const key = (s: string) => new TextEncoder().encode(s);
    const base = { type: "sample", n: 1, steps: 5, sampler: "ddim", seed: 1, class: 2 };
    ws.send({
      ...base,
      id: 1,
      noise: { dtype: "float32", shape: [1, 2, 2, 2], data: bytesOf(values) },
    });
    ws.send({
      ...base,
      id: "mn",
      noise: new Map<unknown, unknown>([
        [key("nd"), true],
        [key("type"), "<f4"],
        [key("kind"), new Uint8Array()],
        [key("shape"), [1, 2, 2, 2]],
        [key("data"), bytesOf(values)],
      ]),
    });
    ws.send({
      ...base,
      id: "op",
      noise: new Map<unknown, unknown>([
        [key("__ndarray__"), true],
        [key("data"), new Uint8Array(new Float64Array(values).buffer)],
        [key("dtype"), "<f8"],
        [key("shape"), [2, 2, 2]],
      ]),
    });
    const results = [await ws.next(), await ws.next(), await ws.next()];
    const byId = new Map(results.map((r) => [r.id, r]));
    assert.deepEqual([...byId.keys()].sort(), [1, "mn", "op"].sort());
    const x0 = (r: Record<string, unknown>) => (r.x0 as { data: Uint8Array }).data;
    for (const r of results) {
      assert.equal(r.type, "result");
      assert.deepEqual((r.x0 as { shape: number[] }).shape, [1, 2, 2, 2]);
      assert.deepEqual(x0(r), x0(results[0]));
    }
  } finally {
    await ws.close();
    await server.shutdown();
  }
});

Deno.test("protocol: vector-conditioned model takes cond tensors", async () => {
  const server = await startTestServer({ denoiserConfig: { shape: [4, 4], condition: "vector" } });
  const client = await connect(server.url);
  try {
    assert.deepEqual(client.hello.model.condition, { kind: "vector", dim: 10 });
    assert.equal(client.hello.model.input.kind, "sequence");
    const logits = new Float32Array(10).fill(-30);
    logits[6] = 0;
    const one = await client.sample({ steps: 20, cond: logits, seed: 5 });
    const both = await client.sample({ n: 2, steps: 20, cond: logits, seed: 5 });
    assert.deepEqual(both.x0!.subarray(0, 16), one.x0);
  } finally {
    await client.close();
    await server.shutdown();
  }
});

Deno.test("protocol: Deno's built-in WebSocket works too, and large results arrive whole", async () => {
  const server = await startTestServer({ denoiserConfig: { shape: [4, 32, 32] } });
  const { ws, hello } = await openRaw(server.url, { builtin: true });
  const client = await connect(server.url);
  try {
    assert.equal(hello.type, "hello");
    ws.send({ type: "sample", id: "b", n: 1, steps: 2, sampler: "ddim", class: 1, seed: 3 });
    const frame = await ws.next();
    assert.equal(frame.type, "result");
    // 32 samples of 4x32x32 floats: a 512 KiB frame through the TCP_NODELAY transport.
    const big = await client.sample({ n: 32, steps: 2, class: 1, seed: 3 });
    assert.equal(big.x0!.length, 32 * 4096);
    // Sample 0 of a request depends on the request seed only, not on n.
    const data = (frame.x0 as { data: Uint8Array }).data;
    const first = new Float32Array(new Uint8Array(data).buffer);
    assert.deepEqual(big.x0!.slice(0, 4096), first);
  } finally {
    await client.close();
    await ws.close();
    await server.shutdown();
  }
});

Deno.test("page: the demo script samples through a real socket (stubbed DOM)", async () => {
  const server = await startTestServer();
  type Stub = Record<string, unknown> & { children: Stub[]; textContent: string };
  const element = (): Stub => {
    const e: Stub = {
      value: "",
      checked: false,
      textContent: "",
      style: {},
      children: [],
      appendChild: (c: Stub) => e.children.push(c),
      insertBefore: (c: Stub) => e.children.unshift(c),
      removeChild: (c: Stub) => e.children.splice(e.children.indexOf(c), 1),
      getContext: () => ({
        createImageData: (w: number, h: number) => ({ data: new Uint8ClampedArray(w * h * 4) }),
        putImageData: () => {},
        drawImage: () => {},
      }),
    };
    Object.defineProperty(e, "firstChild", { get: () => e.children[0] });
    Object.defineProperty(e, "lastChild", { get: () => e.children[e.children.length - 1] });
    return e;
  };
  const ids: Record<string, Stub> = {};
  const byId = (id: string) => ids[id] ??= element();
  Object.assign(byId("n"), { value: "2" });
  Object.assign(byId("steps"), { value: "3" });
  Object.assign(byId("class"), { value: "4" });
  Object.assign(byId("seed"), { value: "9" });
  Object.assign(byId("sampler"), { value: "ddim" });
  const sockets: WebSocket[] = [];
  class PageSocket extends WebSocket {
    constructor(url: string) {
      super(url);
      sockets.push(this);
    }
  }
  const document = { getElementById: byId, createElement: element };
  const location = { protocol: "http:", host: server.url.replace("http://", ""), search: "" };
  const script = renderPage().match(/<script>([\s\S]*)<\/script>/)![1];
  // The page's <script src="/msgpackr.js">: the UMD build, as the server serves it, installs
  // `msgpackr` on the global object it is given.
  const lib = await (await fetch(`${server.url}${MSGPACKR_PATH}`)).text();
  const browserGlobal: { msgpackr?: unknown } = {};
  new Function("globalThis", "exports", "module", "define", lib)(browserGlobal);
  assert.ok(browserGlobal.msgpackr, "msgpackr.js defines no msgpackr global");
  new Function("document", "location", "WebSocket", "msgpackr", script)(
    document,
    location,
    PageSocket,
    browserGlobal.msgpackr,
  );
  try {
    const until = async (ok: () => boolean) => {
      for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(ok());
    };
    await until(() => byId("model").textContent.includes("cpu-gmm"));
    (byId("go").onclick as () => void)();
    await until(() => byId("results").children.length === 1);
    const card = byId("results").children[0];
    assert.equal(card.children.length, 3); // two canvases and the caption
    assert.match(card.children[2].textContent, /class 4 · ddim 3 steps · seed 9 .* batch 2/);
  } finally {
    for (const s of sockets) {
      s.onclose = null;
      s.close();
    }
    await new Promise((r) => setTimeout(r, 50));
    await server.shutdown();
  }
});
