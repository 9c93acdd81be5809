/**
 * Compares two screenshots of the Push-T page: finds the pusher (royal blue, 65 105 225) and the
 * block (light slate grey, 119 136 153) by colour and prints their centroids as JSON. Exits 1 when
 * either screenshot lacks the pusher or the pusher moved less than `--min-px` between them.
 *
 *   deno run -A tests/browser/pusher_moved.ts early.png late.png [--min-px 5]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { decode } from "fast-png";

const PUSHER = [65, 105, 225], BLOCK = [119, 136, 153];

/** Centroid and count of the pixels within 12 of `rgb` in every channel (edges left out). */
function blob(png: ReturnType<typeof decode>, rgb: number[]) {
  const ch = png.channels, d = png.data;
  let n = 0, sx = 0, sy = 0;
  for (let y = 0; y < png.height; y++) {
    for (let x = 0; x < png.width; x++) {
      const i = (y * png.width + x) * ch;
      if (rgb.every((c, k) => Math.abs(d[i + k] - c) <= 12)) {
        n++;
        sx += x;
        sy += y;
      }
    }
  }
  return n ? { n, x: sx / n, y: sy / n } : { n, x: NaN, y: NaN };
}

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: { "min-px": { type: "string", default: "5" }, help: { type: "boolean" } },
});
if (values.help || positionals.length !== 2) {
  console.log("usage: pusher_moved.ts early.png late.png [--min-px 5]  (default --min-px 5)");
  Deno.exit(values.help ? 0 : 2);
}
const shots = await Promise.all(positionals.map(async (p) => decode(await Deno.readFile(p))));
const [a, b] = shots.map((s) => ({ pusher: blob(s, PUSHER), block: blob(s, BLOCK) }));
const moved = Math.hypot(b.pusher.x - a.pusher.x, b.pusher.y - a.pusher.y);
const blockMoved = Math.hypot(b.block.x - a.block.x, b.block.y - a.block.y);
const round = (v: number) => Math.round(v * 10) / 10;
console.log(JSON.stringify({
  early: {
    pusher: [round(a.pusher.x), round(a.pusher.y), a.pusher.n],
    block: [round(a.block.x), round(a.block.y), a.block.n],
  },
  late: {
    pusher: [round(b.pusher.x), round(b.pusher.y), b.pusher.n],
    block: [round(b.block.x), round(b.block.y), b.block.n],
  },
  pusher_moved_px: round(moved),
  block_moved_px: round(blockMoved),
}));
const minPx = Number(values["min-px"]);
if (!a.pusher.n || !b.pusher.n) {
  console.error("pusher_moved: a screenshot shows no pusher (the scene was not drawn)");
  Deno.exit(1);
}
if (!(moved >= minPx)) {
  console.error(`pusher_moved: the pusher moved ${round(moved)} px, less than ${minPx}`);
  Deno.exit(1);
}
