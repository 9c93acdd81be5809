/**
 * The Push-T page: its routes (content types, the modules from node_modules, 404s) on a running
 * server, and the browser's simulation (`pusht_sim.js`) against `PushTEnv` step for step.
 */
import assert from "node:assert/strict";
import { PUSHT_CPU_TEST_CONFIG, startTestServer } from "../src/server/testing.ts";
import { pushTPageConfig } from "../src/server/pusht_page.ts";
import { PushTSim, type PushTSimConfig } from "../src/server/pusht_sim.js";
import { PushTEnv } from "../src/robot/pusht/env.ts";
import { loadMujocoModule } from "../src/robot/pusht/mujoco.ts";
import { pushTXml } from "../src/robot/pusht/model.ts";
import { PUSHT_TEST_SPEC } from "../examples/make_test_policy.ts";

Deno.test("pusht page: the page and its modules are served with their content types", async () => {
  const server = await startTestServer();
  try {
    const get = async (path: string) => {
      const res = await fetch(server.url + path);
      return { status: res.status, type: res.headers.get("content-type"), body: await res.text() };
    };
    const page = await get("/pusht");
    assert.equal(page.status, 200);
    assert.equal(page.type, "text/html; charset=utf-8");
    for (const src of ["/pusht/msgpackr.js", "/pusht/pusht_page_app.js"]) {
      assert.ok(page.body.includes(`src="${src}"`), `the page loads ${src}`);
    }
    // The inlined settings parse and carry the MJCF text that PushTEnv loads.
    const json = page.body.match(/<script type="application\/json" id="config">(.*?)<\/script>/s);
    assert.ok(json, "the page inlines its settings");
    assert.equal(JSON.parse(json[1].replaceAll("<\\/", "</")).sim.xml, pushTXml(0));

    // Each module with what identifies it: the modules import one another by these names.
    const modules: [string, RegExp][] = [
      ["/pusht/pusht_page_app.js", /from "\.\/pusht_sim\.js"[\s\S]*new URL\("mujoco\.js"/],
      ["/pusht/pusht_sim.js", /export class PushTSim/],
      ["/pusht/mujoco.js", /export default loadMujoco;\s*$/],
      ["/pusht/msgpackr.js", /\.msgpackr=\{\}/],
    ];
    for (const [path, marker] of modules) {
      const res = await get(path);
      assert.equal(res.status, 200, path);
      assert.equal(res.type, "text/javascript; charset=utf-8", path);
      assert.match(res.body, marker, path);
    }
    assert.ok((await get("/pusht/mujoco.js")).body.length > 5_000_000, "the wasm is inlined");

    assert.equal((await get("/pusht/nothing.js")).status, 404);
    assert.equal((await get("/pusht/toString")).status, 404);
    // The main page stays where it was.
    const main = await get("/");
    assert.equal(main.status, 200);
    assert.ok(!main.body.includes("Push-T: live policy"));
  } finally {
    await server.shutdown();
  }
});

Deno.test("pusht page: the browser's simulation steps exactly as PushTEnv", async () => {
  const env = await PushTEnv.create();
  const sim = new PushTSim(await loadMujocoModule(), pushTPageConfig().sim as PushTSimConfig);
  try {
    // A start with the pusher close to the block, so that the pushes below make contact.
    const start = [180, 300, 250, 300, 0.4];
    const a = env.resetTo(start), b = sim.resetTo(start);
    assert.deepEqual(Array.from(b), Array.from(a));
    let moved = 0;
    for (let k = 0; k < 60; k++) {
      // Sweep the target through the block and out again; clipping is exercised at the edge.
      const target = [150 + 6 * k, 300 + 40 * Math.sin(k / 5) + (k === 30 ? 900 : 0)];
      const e = env.step(target).obs, s = sim.step(target);
      // The same operations in the same order: equal to the last bit, not merely close.
      assert.deepEqual(Array.from(s), Array.from(e), `step ${k}`);
      moved = Math.max(moved, Math.hypot(e[2] - start[2], e[3] - start[3]));
    }
    assert.ok(moved > 20, `the block was pushed (moved ${moved.toFixed(1)} px)`);

    // Dragging the block puts it where the mouse says, velocities cleared.
    sim.placeBlock(100, 420, 7);
    const o = sim.observe();
    assert.deepEqual(
      Array.from(o.slice(2)),
      Array.from(Float32Array.of(100, 420, 7 - 2 * Math.PI)),
    );
  } finally {
    sim.close();
    env.close();
  }
});

Deno.test("pusht page: a served Push-T policy's root page is the live scene", async () => {
  const server = await startTestServer({
    denoiserConfig: { ...PUSHT_CPU_TEST_CONFIG },
    policy: { ...PUSHT_TEST_SPEC, steps: 2 },
  });
  try {
    const root = await fetch(server.url + "/", { redirect: "manual" });
    await root.body?.cancel();
    assert.equal(root.status, 302);
    assert.equal(new URL(root.headers.get("location")!).pathname, "/pusht");
    // The protocol-v1 page stays one query away.
    const v1 = await fetch(server.url + "/?page=v1");
    assert.equal(v1.status, 200);
    assert.match(await v1.text(), /href="\/pusht"/);
  } finally {
    await server.shutdown();
  }
});
