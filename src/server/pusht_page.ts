/**
 * The Push-T page at `/pusht`: MuJoCo's WebAssembly build runs the Push-T scene in the browser,
 * the served policy drives it over the openpi websocket on `/`, and the user resets the episode
 * or drags the block with the mouse. The route serves the page, its script
 * (`pusht_page_app.js`), the shared simulation (`pusht_sim.js`), `mujoco-js`'s ES module and
 * msgpackr's browser build, the last two from `node_modules`.
 *
 * @module
 */

import { BAR, GOAL_POSE, STEM, T_OUTLINE } from "../robot/pusht/geometry.ts";
// model.ts, not env.ts: env.ts loads MuJoCo's 11 MB module, which the server itself never runs.
import {
  KP,
  KV,
  PHYSICS_DT,
  PUSHER_RADIUS,
  PUSHT_ACTION_DIM,
  PUSHT_STATE_DIM,
  pushTXml,
  Q,
  SUBSTEPS,
  WORKSPACE,
} from "../robot/pusht/model.ts";

/** The route prefix of the page and its modules. */
export const PUSHT_PAGE_PATH = "/pusht";

const ROOT = new URL("../../", import.meta.url);

/** Files served under `/pusht/`: name -> [file URL, content type]. */
export const PUSHT_PAGE_FILES: Readonly<Record<string, readonly [URL, string]>> = Object.freeze({
  // The page's own modules keep their file names: the script imports "./pusht_sim.js".
  "pusht_page_app.js": [
    new URL("./pusht_page_app.js", import.meta.url),
    "text/javascript; charset=utf-8",
  ],
  "pusht_sim.js": [new URL("./pusht_sim.js", import.meta.url), "text/javascript; charset=utf-8"],
  "mujoco.js": [
    new URL("node_modules/mujoco-js/dist/mujoco_wasm.js", ROOT),
    "text/javascript; charset=utf-8",
  ],
  "msgpackr.js": [
    new URL("node_modules/msgpackr/dist/index.min.js", ROOT),
    "text/javascript; charset=utf-8",
  ],
});

/**
 * The page's settings: the simulation's constants and MJCF text from `model.ts` (the browser runs
 * the same scene as `PushTEnv`) and the shapes it draws.
 */
export function pushTPageConfig(): Record<string, unknown> {
  return {
    sim: {
      xml: pushTXml(0),
      dt: PHYSICS_DT,
      substeps: SUBSTEPS,
      kp: KP,
      kv: KV,
      workspace: WORKSPACE,
      q: Q,
    },
    outline: T_OUTLINE,
    bar: BAR,
    stem: STEM,
    goal: GOAL_POSE,
    pusherRadius: PUSHER_RADIUS,
    stateDim: PUSHT_STATE_DIM,
    actionDim: PUSHT_ACTION_DIM,
  };
}

/** The page's HTML, with its settings inlined as JSON. */
export function renderPushTPage(): string {
  // "</" cannot end the JSON's script element early once escaped.
  const config = JSON.stringify(pushTPageConfig()).replaceAll("</", "<\\/");
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Push-T: live policy</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
#scene { border: 1px solid #bbb; cursor: grab; touch-action: none; width: 512px; height: 512px; }
#panel { display: inline-block; vertical-align: top; margin-left: 1.5em; max-width: 28em; }
#panel p { margin: .4em 0; } #status { color: #666; } .num { font-variant-numeric: tabular-nums; }
</style></head><body>
<h1>Push-T: live policy</h1>
<canvas id="scene" width="512" height="512"></canvas>
<div id="panel">
<p id="policy">connecting…</p>
<p id="status">loading MuJoCo…</p>
<p><button id="reset">Reset</button> <button id="pause">Pause</button>
<label><input id="autoreset" type="checkbox"> reset after 300 steps or success</label>
<label title="hold the pusher's target while a chunk is on its way instead of waiting for it">
<input id="realtime" type="checkbox"> real time</label></p>
<p class="num" id="stats"></p>
<p>Drag the grey block with the mouse (the wheel turns it) and watch the policy push it back
toward the green goal. Blue: pusher; red cross: its commanded target.</p>
<p><a href="/">main page</a></p>
</div>
<script type="application/json" id="config">${config}</script>
<script src="${PUSHT_PAGE_PATH}/msgpackr.js"></script>
<script type="module" src="${PUSHT_PAGE_PATH}/pusht_page_app.js"></script>
</body></html>
`;
}

/**
 * Answers `/pusht` and `/pusht/<file>` (GET), or null for any other path. Files stream from
 * disk; a module missing from `node_modules` answers 503 naming the file (run `deno install`).
 */
export function servePushTPage(url: URL): Response | null {
  if (url.pathname === PUSHT_PAGE_PATH || url.pathname === `${PUSHT_PAGE_PATH}/`) {
    return new Response(renderPushTPage(), {
      headers: { "content-type": "text/html; charset=utf-8" },
    });
  }
  if (!url.pathname.startsWith(`${PUSHT_PAGE_PATH}/`)) return null;
  const name = url.pathname.slice(PUSHT_PAGE_PATH.length + 1);
  const entry = Object.hasOwn(PUSHT_PAGE_FILES, name) ? PUSHT_PAGE_FILES[name] : undefined;
  if (!entry) return new Response("Not found\n", { status: 404 });
  const [file, type] = entry;
  let handle;
  try {
    handle = Deno.openSync(file);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    return new Response(`Missing ${file.pathname} (run \`deno install\`)\n`, { status: 503 });
  }
  return new Response(handle.readable, {
    headers: { "content-type": type, "cache-control": "no-cache" },
  });
}
