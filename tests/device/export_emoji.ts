/**
 * Writes the embedded emoji set at 32x32 as a class-folder PNG tree (`<out>/<k>-<class>/<i>.png`),
 * for device-machine runs, which carry the npm packages without the emoji package's 82 MB of
 * images: `deno task train --data <out>` trains on the same images there.
 *
 * Usage: deno run -A tests/device/export_emoji.ts <out dir>
 *
 * @module
 */
import { encodePng } from "../../src/data/png.ts";
import { loadEmojiDataset } from "../../src/data/emoji.ts";

const out = Deno.args[0];
if (!out) throw new Error("Usage: deno run -A tests/device/export_emoji.ts <out dir>");
const ds = loadEmojiDataset({ size: 32, channels: 4 });
const [C, H, W] = ds.shape;
for (let i = 0; i < ds.length; i++) {
  const { x, label } = ds.get(i);
  // [C,H,W] in [-1,1] -> interleaved RGBA bytes.
  const px = new Uint8Array(H * W * 4);
  for (let c = 0; c < C; c++) {
    for (let p = 0; p < H * W; p++) {
      px[p * 4 + c] = Math.round(Math.min(1, Math.max(0, (x[c * H * W + p] + 1) / 2)) * 255);
    }
  }
  const name = ds.classNames[label].replace(/\W+/g, "_");
  const dir = `${out}/${String(label).padStart(2, "0")}-${name}`;
  Deno.mkdirSync(dir, { recursive: true });
  Deno.writeFileSync(`${dir}/${String(i).padStart(4, "0")}.png`, encodePng(px, W, H, 4));
}
console.log(`${ds.length} images in ${ds.numClasses} class folders under ${out}`);
