/**
 * The demo page served at `/`: connects to `/v1/ws` (forwarding a `?token=` of its own URL), sends
 * sample requests and draws each result as it arrives with its class, steps, seed and timings.
 * Its MessagePack codec is msgpackr's own browser build, served by this server at
 * {@linkcode MSGPACKR_PATH} from the installed npm package, so the page needs no CDN.
 *
 * @module
 */

/** Where the server serves msgpackr's browser build (a UMD script defining `msgpackr`). */
export const MSGPACKR_PATH = "/msgpackr.js";

// msgpackr ships a minified UMD build for browsers; with `"nodeModulesDir": "auto"` the package is
// materialised under the project's node_modules/, where import.meta.resolve cannot point (it
// answers an npm: specifier), hence the path relative to this file.
const MSGPACKR_FILE = new URL("../../node_modules/msgpackr/dist/index.min.js", import.meta.url);
let msgpackrBytes: Uint8Array | undefined;

/** The response to `GET /msgpackr.js`: the browser build's bytes, read once and kept. */
export function msgpackrResponse(): Response {
  try {
    msgpackrBytes ??= Deno.readFileSync(MSGPACKR_FILE);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return new Response(`msgpackr browser build not found: ${message}\n`, { status: 500 });
  }
  return new Response(msgpackrBytes.slice(), {
    headers: {
      "content-type": "text/javascript; charset=utf-8",
      "cache-control": "max-age=3600",
    },
  });
}

const SCRIPT = `
var packr = new msgpackr.Packr({ useRecords: false });
var $ = function (id) { return document.getElementById(id); };
var ws, hello, nextId = 1, auto = false, pending = 0, classes = {};
function status(text) { $("status").textContent = text; }
function connect() {
  var token = new URLSearchParams(location.search).get("token");
  var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/v1/ws" +
    (token ? "?token=" + encodeURIComponent(token) : "");
  ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  ws.onopen = function () { status("connected"); };
  ws.onclose = function (e) { status("disconnected (" + e.code + "), retrying"); setTimeout(connect, 1000); };
  ws.onmessage = function (e) {
    var m = packr.unpack(new Uint8Array(e.data));
    if (m.type === "hello") setup(m);
    else if (m.type === "result") { pending--; show(m); if (auto) send(); }
    else if (m.type === "preview") preview(m);
    else if (m.type === "error") { pending--; delete classes[m.id]; status("error " + m.code + ": " + m.message); }
  };
}
function setup(m) {
  hello = m;
  $("model").textContent = m.model.name + " (" + m.model.arch + "), input " + m.model.input.kind +
    " [" + m.model.input.shape.join("x") + "], max batch " + m.limits.maxBatch;
  var sampler = $("sampler");
  sampler.textContent = "";
  m.samplers.forEach(function (s) { var o = document.createElement("option"); o.textContent = s; sampler.appendChild(o); });
  var c = m.model.condition;
  $("classrow").style.display = c.kind === "class" ? "" : "none";
  if (c.kind === "class") $("class").max = c.numClasses - 1;
}
function send() {
  if (!ws || ws.readyState !== 1 || !hello) return;
  var n = +$("n").value, req = { type: "sample", id: "p" + nextId++, n: n, steps: +$("steps").value,
    sampler: $("sampler").value, previews: $("previews").checked };
  var c = hello.model.condition;
  if (c.kind === "class") {
    var v = $("class").value;
    req["class"] = v === "" ? Math.floor(Math.random() * c.numClasses) : +v;
  } else if (c.kind === "vector") {
    req.cond = { dtype: "float32", shape: [c.dim], data: new Uint8Array(new Float32Array(c.dim).buffer) };
  }
  if ($("seed").value !== "") req.seed = +$("seed").value;
  var cls = req["class"];
  classes[req.id] = cls;
  pending++;
  ws.send(packr.pack(req));
  $("last").textContent = "sent " + req.id + (cls !== undefined ? " class " + cls : "");
}
function floats(t) { return new Float32Array(t.data.slice().buffer); }
function draw(canvas, t, index) {
  var shape = t.shape.slice(1), x = floats(t), size = shape.reduce(function (a, b) { return a * b; }, 1);
  var h = shape.length >= 2 ? shape[shape.length - 2] : 1, w = shape[shape.length - 1];
  var ch = size / (w * h), rgb = shape.length === 3 && ch >= 3, scale = Math.max(1, Math.floor(128 / Math.max(w, h)));
  canvas.width = w * scale; canvas.height = h * scale;
  var ctx = canvas.getContext("2d"), img = ctx.createImageData(w, h), base = index * size;
  for (var p = 0; p < w * h; p++) {
    for (var c = 0; c < 3; c++) {
      var v = x[base + (rgb ? c : 0) * w * h + p];
      img.data[4 * p + c] = Math.max(0, Math.min(255, Math.round((v + 1) * 127.5)));
    }
    img.data[4 * p + 3] = 255;
  }
  var tmp = document.createElement("canvas"); tmp.width = w; tmp.height = h;
  tmp.getContext("2d").putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(tmp, 0, 0, w * scale, h * scale);
}
function preview(m) {
  var canvas = $("preview");
  draw(canvas, m.x0, 0);
  $("previewinfo").textContent = m.id + " step " + m.step;
}
function show(m) {
  var card = document.createElement("div"); card.className = "card";
  for (var i = 0; m.x0 && i < m.x0.shape[0]; i++) { var c = document.createElement("canvas"); draw(c, m.x0, i); card.appendChild(c); }
  var t = m.timing, info = document.createElement("div");
  var cls = classes[m.id]; delete classes[m.id];
  info.textContent = m.id + (cls !== undefined ? " · class " + cls : "") + " · " + m.sampler + " " +
    m.steps + " steps · seed " + m.seed +
    " · queue " + t.queueMs.toFixed(1) + " ms, compute " + t.computeMs.toFixed(1) + " ms, total " +
    t.totalMs.toFixed(1) + " ms · batch " + t.batchSamples;
  card.appendChild(info);
  var list = $("results"); list.insertBefore(card, list.firstChild);
  while (list.children.length > 24) list.removeChild(list.lastChild);
}
$("go").onclick = send;
$("auto").onchange = function () { auto = $("auto").checked; if (auto && pending === 0) send(); };
connect();
`;

/** The page's HTML. */
export function renderPage(): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>DiT denoising server</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
label { margin-right: 1em; } input { width: 5em; }
.card { display: inline-block; margin: .4em; padding: .4em; border: 1px solid #ccc; max-width: 40em; }
.card canvas { margin-right: 4px; image-rendering: pixelated; }
#status { color: #666; }
</style></head><body>
<h1>DiT denoising server</h1>
<p id="model">connecting…</p><p id="status"></p>
<p><a href="/pusht">Push-T live in the browser</a> (for a served Push-T policy: state 5, action 2)</p>
<div>
<label id="classrow">class <input id="class" type="number" min="0" placeholder="random"></label>
<label>steps <input id="steps" type="number" min="1" value="25"></label>
<label>n <input id="n" type="number" min="1" value="1"></label>
<label>seed <input id="seed" type="number" min="0" placeholder="random"></label>
<label>sampler <select id="sampler"></select></label>
<label><input id="previews" type="checkbox"> previews</label>
<button id="go">Sample</button>
<label><input id="auto" type="checkbox"> continuous</label>
<span id="last"></span>
</div>
<p><canvas id="preview" width="1" height="1"></canvas> <span id="previewinfo"></span></p>
<div id="results"></div>
<script src="${MSGPACKR_PATH}"></script>
<script>${SCRIPT}</script>
</body></html>
`;
}
