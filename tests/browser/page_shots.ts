/**
 * Opens a page in headless Chromium and screenshots it twice in real time over the DevTools
 * protocol: once `--early` ms and once `--late` ms after the page's `#status` reads "running"
 * (the Push-T page: MuJoCo loaded, policy metadata received). Real time, not Chromium's virtual
 * time: virtual time jumps ahead while a page only waits on a websocket, so it cannot show a
 * policy's answers reliably. Prints the `#stats` text at each screenshot.
 *
 *   deno run -A tests/browser/page_shots.ts --url URL --out DIR [--early 1000] [--late 6000]
 *     [--chromium chromium] [--ready-timeout 60000]
 *
 * @module
 */
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    url: { type: "string" },
    out: { type: "string" },
    early: { type: "string", default: "1000" },
    late: { type: "string", default: "6000" },
    chromium: { type: "string", default: "chromium" },
    "ready-timeout": { type: "string", default: "60000" },
    help: { type: "boolean" },
  },
});
if (values.help || !values.url || !values.out) {
  console.log(
    "usage: page_shots.ts --url URL --out DIR [--early 1000] [--late 6000] " +
      "[--chromium chromium] [--ready-timeout 60000]  (writes DIR/early.png, DIR/late.png)",
  );
  Deno.exit(values.help ? 0 : 2);
}
const early = Number(values.early), late = Number(values.late);
const readyTimeout = Number(values["ready-timeout"]);
if (!(early >= 0 && late > early && readyTimeout > 0)) {
  console.error("page_shots: need 0 <= --early < --late and --ready-timeout > 0");
  Deno.exit(2);
}

const profile = await Deno.makeTempDir({ prefix: "page-shots-" });
const browser = new Deno.Command(values.chromium, {
  args: [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--window-size=1200,900",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
    `--user-data-dir=${profile}`,
    values.url,
  ],
  stdout: "null",
  stderr: "null",
}).spawn();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Chromium writes its DevTools port into the profile once it listens. */
async function devtoolsPort(): Promise<number> {
  for (let i = 0; i < 300; i++) {
    try {
      const text = await Deno.readTextFile(`${profile}/DevToolsActivePort`);
      const port = Number(text.split("\n")[0]);
      if (port > 0) return port;
    } catch {
      // not written yet
    }
    await sleep(100);
  }
  throw new Error("Chromium did not open its DevTools port within 30 s");
}

let socket: WebSocket | undefined;
try {
  const port = await devtoolsPort();
  let target: { type: string; webSocketDebuggerUrl: string } | undefined;
  for (let i = 0; i < 100 && !target; i++) {
    const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
    target = list.find((t: { type: string }) => t.type === "page");
    if (!target) await sleep(100);
  }
  if (!target) throw new Error("Chromium shows no page target");
  const ws = socket = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error("cannot open the DevTools websocket"));
  });
  let nextId = 1;
  const waiting = new Map<number, (result: Record<string, unknown>) => void>();
  ws.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    if (msg.id && waiting.has(msg.id)) {
      waiting.get(msg.id)!(msg.error ? { error: msg.error } : msg.result);
      waiting.delete(msg.id);
    }
  };
  const send = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<Record<string, unknown>>((resolve) => {
      const id = nextId++;
      waiting.set(id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  const text = async (id: string) => {
    const r = await send("Runtime.evaluate", {
      expression: `document.getElementById(${JSON.stringify(id)})?.textContent ?? ""`,
      returnByValue: true,
    });
    return String((r.result as { value?: string } | undefined)?.value ?? "");
  };
  const shot = async (name: string) => {
    const r = await send("Page.captureScreenshot", { format: "png" });
    if (typeof r.data !== "string") throw new Error(`screenshot failed: ${JSON.stringify(r)}`);
    await Deno.writeFile(
      `${values.out}/${name}.png`,
      Uint8Array.from(atob(r.data), (c) => c.charCodeAt(0)),
    );
    console.log(`${name}.png: ${await text("stats")}`);
  };

  const t0 = performance.now();
  let status = "";
  while ((status = await text("status")) !== "running") {
    if (performance.now() - t0 > readyTimeout) {
      throw new Error(`the page did not start within ${readyTimeout} ms (status "${status}")`);
    }
    await sleep(100);
  }
  console.log(`page running after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const start = performance.now();
  await sleep(early);
  await shot("early");
  await sleep(Math.max(0, late - (performance.now() - start)));
  await shot("late");
} catch (error) {
  console.error(`page_shots: ${(error as Error).message}`);
  Deno.exitCode = 1;
} finally {
  socket?.close();
  browser.kill("SIGTERM");
  await browser.status;
  await Deno.remove(profile, { recursive: true }).catch(() => {});
}
