/**
 * The Push-T page's controller (browser only; served at `/pusht/app.js`): loads MuJoCo's
 * WebAssembly module, builds the scene with `pusht_sim.js`, asks the served policy for action
 * chunks over openpi's websocket protocol (msgpack, msgpackr's browser build as the global
 * `msgpackr`), steps the scene at the policy's control rate and draws it. The mouse drags the
 * block; the wheel turns it.
 *
 * @module
 */
import { PushTSim } from "./pusht_sim.js";

const $ = (id) => document.getElementById(id);
const config = JSON.parse($("config").textContent);
const canvas = $("scene");
const ctx = canvas.getContext("2d");
const unpackr = new msgpackr.Unpackr({ mapsAsObjects: false, useRecords: false });
const packr = new msgpackr.Packr({ useRecords: false });
const keyText = new TextDecoder();

let sim = null, meta = null, ws = null, awaitingMeta = true, timer = null;
let history = [], queue = [], inflight = false, sentAt = 0;
let steps = 0, paused = false, drag = null, episode = 0;
const latencies = [];

function status(text) {
  $("status").textContent = text;
}

/** openpi frames to plain objects: maps with bin keys (Python bytes) get string keys. */
function plain(value) {
  if (value instanceof Map) {
    const out = {};
    for (const [k, v] of value) out[typeof k === "string" ? k : keyText.decode(k)] = plain(v);
    return out;
  }
  if (Array.isArray(value)) return value.map(plain);
  return value;
}

/** A float32 ndarray map's values (the bytes copied, so they are aligned). */
function floats(nd) {
  if (!nd || !nd.__ndarray__ || nd.dtype !== "<f4") throw new Error("expected a float32 ndarray");
  return new Float32Array(nd.data.slice().buffer);
}

function randomStart() {
  // gym-pusht's reset ranges: pusher in [50, 450)^2, block in [100, 400)^2, any angle.
  const r = (lo, hi) => lo + Math.random() * (hi - lo);
  return [r(50, 450), r(50, 450), r(100, 400), r(100, 400), r(-Math.PI, Math.PI)];
}

/** `?start=ax,ay,bx,by,angle` fixes the first episode's start (for checks and demos). */
function startParam() {
  const text = new URLSearchParams(location.search).get("start");
  const v = text ? text.split(",").map(Number) : [];
  return v.length === config.stateDim && v.every(Number.isFinite) ? v : null;
}

function reset(start = randomStart()) {
  const obs = sim.resetTo(start);
  history = [];
  for (let i = 0; i < (meta ? meta.n_obs_steps : 2); i++) history.push(obs);
  queue = [];
  steps = 0;
  episode++;
  draw();
}

function connect() {
  const token = new URLSearchParams(location.search).get("token");
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/" +
    (token ? "?token=" + encodeURIComponent(token) : "");
  ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  awaitingMeta = true;
  ws.onclose = (e) => {
    ws = null;
    inflight = false;
    status(`disconnected (${e.code}${e.reason ? ": " + e.reason : ""}), retrying`);
    setTimeout(connect, 1000);
  };
  ws.onmessage = (e) => {
    if (typeof e.data === "string") {
      status("server error: " + e.data);
      inflight = false;
      setTimeout(schedule, 1000); // ask again, slowly
      return;
    }
    const msg = plain(unpackr.unpack(new Uint8Array(e.data)));
    if (awaitingMeta) {
      awaitingMeta = false;
      if (!meta) setup(msg);
      else schedule(); // reconnected
      return;
    }
    inflight = false;
    latencies.push(performance.now() - sentAt);
    if (latencies.length > 100) latencies.shift();
    const a = floats(msg.actions), dim = meta.action.shape[1];
    const first = meta.first_action_index ?? meta.n_obs_steps - 1;
    queue = [];
    for (let i = first; i < first + meta.n_action_steps; i++) {
      queue.push([a[i * dim], a[i * dim + 1]]);
    }
    schedule();
  };
}

function setup(m) {
  const key = Object.keys(m.observation)[0];
  const stateDim = m.observation[key].shape[0], actionDim = m.action.shape[1];
  if (stateDim !== config.stateDim || actionDim !== config.actionDim) {
    status(
      `the served policy has state ${stateDim} and action ${actionDim}: ` +
        `not Push-T (${config.stateDim}, ${config.actionDim})`,
    );
    ws.onclose = null;
    ws.close();
    return;
  }
  meta = m;
  meta.stateKey = key;
  $("policy").textContent = `Policy ${m.policy.name}: ${m.sampler} x ${m.steps} steps, window ` +
    `${m.n_obs_steps}, ${m.n_action_steps} actions per chunk at ${m.fps} Hz`;
  status("running");
  reset(startParam() ?? randomStart());
  schedule();
}

/**
 * Runs the next control tick one period from now. Ticks are chained timeouts, not an interval:
 * while the scene waits for a chunk no timer is pending, so page time (also Chromium's virtual
 * time in headless checks) advances with the simulation, not with the policy's latency.
 */
function schedule() {
  if (timer === null && meta && !paused) {
    timer = setTimeout(() => {
      timer = null;
      tick();
    }, 1000 / meta.fps);
  }
}

function request() {
  const window = new Float32Array(history.length * 5);
  history.forEach((obs, i) => window.set(obs, i * 5));
  const obs = {};
  obs[meta.stateKey] = {
    __ndarray__: true,
    data: new Uint8Array(window.buffer),
    dtype: "<f4",
    shape: [history.length, 5],
  };
  inflight = true;
  sentAt = performance.now();
  ws.send(packr.pack(obs));
}

function tick() {
  if (paused || !sim) return;
  if (queue.length === 0 && !inflight && ws && ws.readyState === 1) request();
  // Without "real time" the scene waits for each chunk, as an evaluation does; with it the
  // pusher keeps its last target while a chunk is on its way.
  if (queue.length === 0 && !$("realtime").checked) return; // the answer schedules the next tick
  const target = queue.length ? queue.shift() : sim.target;
  const obs = target ? sim.step(target) : sim.observe();
  history.push(obs);
  history.shift();
  steps++;
  const cov = coverage(obs);
  if ($("autoreset").checked && (steps >= 300 || cov > 0.95)) reset();
  const sorted = latencies.slice().sort((x, y) => x - y);
  const p50 = sorted.length ? sorted[Math.floor(sorted.length / 2)].toFixed(1) : "-";
  $("stats").textContent =
    `episode ${episode}, step ${steps}, coverage ${(100 * cov).toFixed(1)}%` +
    `, policy round trip p50 ${p50} ms`;
  draw();
  schedule();
}

/** Body coordinates of a world point under the pose (x, y, angle). */
function toBody(pose, px, py) {
  const c = Math.cos(pose[2]), s = Math.sin(pose[2]), dx = px - pose[0], dy = py - pose[1];
  return [c * dx + s * dy, -s * dx + c * dy];
}

function insideT(u, v) {
  const b = config.bar, s = config.stem;
  return (u >= b.x0 && u <= b.x1 && v >= b.y0 && v <= b.y1) ||
    (u >= s.x0 && u <= s.x1 && v >= s.y0 && v <= s.y1);
}

/** Coverage of the goal T by the block, sampled on a 3 px grid of the goal's body frame. */
function coverage(obs) {
  const g = config.goal, c = Math.cos(g.angle), s = Math.sin(g.angle);
  let inGoal = 0, covered = 0;
  for (let u = -60 + 1.5; u < 60; u += 3) {
    for (let v = 1.5; v < 120; v += 3) {
      if (!insideT(u, v)) continue;
      inGoal++;
      const [bu, bv] = toBody([obs[2], obs[3], obs[4]], g.x + c * u - s * v, g.y + s * u + c * v);
      if (insideT(bu, bv)) covered++;
    }
  }
  return covered / inGoal;
}

function tPath(x, y, angle) {
  const c = Math.cos(angle), s = Math.sin(angle);
  ctx.beginPath();
  config.outline.forEach(([u, v], i) => {
    const px = x + c * u - s * v, py = y + s * u + c * v;
    if (i === 0) ctx.moveTo(px, py);
    else ctx.lineTo(px, py);
  });
  ctx.closePath();
}

function draw() {
  const obs = sim.observe();
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, 512, 512);
  ctx.strokeStyle = "#ccc";
  ctx.lineWidth = 4;
  ctx.strokeRect(5, 5, 501, 501);
  // gym-pusht's colours: goal light green, block light slate grey, pusher royal blue.
  tPath(config.goal.x, config.goal.y, config.goal.angle);
  ctx.fillStyle = "rgba(144, 238, 144, 0.6)";
  ctx.fill();
  ctx.strokeStyle = "#3a3";
  ctx.lineWidth = 2;
  ctx.stroke();
  tPath(obs[2], obs[3], obs[4]);
  ctx.fillStyle = drag ? "#8fa0b8" : "#778899";
  ctx.fill();
  ctx.beginPath();
  ctx.arc(obs[0], obs[1], config.pusherRadius, 0, 2 * Math.PI);
  ctx.fillStyle = "#4169e1";
  ctx.fill();
  if (sim.target) {
    const [tx, ty] = sim.target;
    ctx.strokeStyle = "#e33";
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(tx - 7, ty - 7);
    ctx.lineTo(tx + 7, ty + 7);
    ctx.moveTo(tx + 7, ty - 7);
    ctx.lineTo(tx - 7, ty + 7);
    ctx.stroke();
  }
}

function pointer(e) {
  const r = canvas.getBoundingClientRect();
  return [(e.clientX - r.left) * 512 / r.width, (e.clientY - r.top) * 512 / r.height];
}

function blockAt(e) {
  const obs = sim.observe(), [px, py] = pointer(e);
  const [u, v] = toBody([obs[2], obs[3], obs[4]], px, py);
  return insideT(u, v) ? { obs, px, py } : null;
}

canvas.addEventListener("pointerdown", (e) => {
  const hit = sim && blockAt(e);
  if (!hit) return;
  drag = { dx: hit.obs[2] - hit.px, dy: hit.obs[3] - hit.py, angle: hit.obs[4] };
  canvas.setPointerCapture(e.pointerId);
  canvas.style.cursor = "grabbing";
});
canvas.addEventListener("pointermove", (e) => {
  if (!drag) return;
  const [px, py] = pointer(e);
  sim.placeBlock(px + drag.dx, py + drag.dy, drag.angle);
  draw();
});
canvas.addEventListener("pointerup", () => {
  if (!drag) return;
  drag = null;
  canvas.style.cursor = "grab";
  draw();
});
canvas.addEventListener("wheel", (e) => {
  if (!sim || !blockAt(e)) return;
  e.preventDefault();
  const obs = sim.observe();
  sim.placeBlock(obs[2], obs[3], obs[4] + Math.sign(e.deltaY) * 0.1);
  draw();
}, { passive: false });
$("reset").onclick = () => sim && meta && reset();
$("pause").onclick = () => {
  paused = !paused;
  $("pause").textContent = paused ? "Run" : "Pause";
  schedule();
};
$("realtime").onchange = () => schedule();

// `?realtime=1` starts with "real time" on.
$("realtime").checked = new URLSearchParams(location.search).get("realtime") === "1";

try {
  const t0 = performance.now();
  // mujoco-js's module, served beside this file from node_modules (named at run time so that
  // type checks of this file do not look for it in the source tree).
  const { default: loadMujoco } = await import(new URL("mujoco.js", import.meta.url).href);
  sim = new PushTSim(await loadMujoco(), config.sim);
  status(`MuJoCo loaded in ${(performance.now() - t0).toFixed(0)} ms; connecting to the policy…`);
  sim.resetTo(startParam() ?? randomStart());
  draw();
  connect();
} catch (error) {
  status("could not start: " + error.message);
}
