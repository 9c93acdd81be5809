/**
 * Tests of the rendered outputs: image grids, loss plots (decoded back from PNG) and the progress
 * display. Set DIT_EXAMPLES_DIR to also write the example grid and plot there for a visual check.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { EMOJI_CLASS_NAMES, emojiEntries, loadEmojiDataset } from "../src/data/emoji.ts";
import { glyph, textWidth } from "../src/data/font.ts";
import { gridPng, makeGrid } from "../src/data/grid.ts";
import { formatTick, linearAxis, logAxis, lossPlotPng } from "../src/data/plot.ts";
import { decodePng } from "../src/data/png.ts";
import { formatDuration, Progress } from "../src/util/progress.ts";

const examplesDir = Deno.env.get("DIT_EXAMPLES_DIR");

/** Number of distinct RGB colours in an RGBA buffer. */
function distinctColors(rgba: Uint8Array): number {
  const set = new Set<number>();
  for (let i = 0; i < rgba.length; i += 4) {
    set.add((rgba[i] << 16) | (rgba[i + 1] << 8) | rgba[i + 2]);
  }
  return set.size;
}

Deno.test("image grid", async (t) => {
  await t.step("emoji grid with row labels decodes to the expected size", async () => {
    const ds = loadEmojiDataset();
    const entries = emojiEntries();
    const rows = [0, 5, 6]; // Activities, People & Body, Smileys & Emotion
    const cols = 6;
    const per = 4 * 32 * 32;
    const images = new Float32Array(rows.length * cols * per); // [18,4,32,32]
    rows.forEach((label, r) => {
      const members = entries.flatMap((e, i) => (e.label === label ? [i] : []));
      for (let c = 0; c < cols; c++) images.set(ds.get(members[c * 7]).x, (r * cols + c) * per);
    });
    const rowLabels = rows.map((l) => `${l} ${EMOJI_CLASS_NAMES[l]}`);
    const png = gridPng(images, [rows.length * cols, 4, 32, 32], {
      rows: 3,
      cols,
      scale: 2,
      rowLabels,
    });
    const img = decodePng(png);
    const labelW = Math.max(...rowLabels.map((l) => [...l].length)) * 6 * 2 + 2 * 2 + 4;
    assert.equal(img.width, labelW + cols * 64 + (cols + 1) * 2);
    assert.equal(img.height, 3 * 64 + 4 * 2);
    assert.ok(distinctColors(img.data) > 500, "emoji colours present");
    // the label column has dark text pixels
    let dark = 0;
    for (let y = 0; y < img.height; y++) {
      for (let x = 0; x < labelW; x++) if (img.data[(y * img.width + x) * 4] < 100) dark++;
    }
    assert.ok(dark > 100, `label text drawn (${dark} dark pixels)`);
    if (examplesDir) await Deno.writeFile(join(examplesDir, "grid_example.png"), png);
  });
  await t.step("transparency shows the checkerboard; RGB and grey work", () => {
    const clear = new Float32Array(4 * 16 * 16).fill(-1); // [1,4,16,16] fully transparent
    const c = makeGrid(clear, [1, 4, 16, 16], { gap: 0, scale: 1 });
    assert.equal(c.width, 16);
    const px = (x: number, y: number) => c.data[(y * 16 + x) * 4];
    assert.equal(px(0, 0), 255);
    assert.equal(px(8, 0), 230);
    const white = makeGrid(clear, [1, 4, 16, 16], { gap: 0, background: "white" });
    assert.ok(white.data.every((v) => v === 255));
    const rgb = makeGrid(new Float32Array(2 * 3 * 4 * 4).fill(1), [2, 3, 4, 4], {
      gap: 1,
      scale: 3,
    });
    assert.deepEqual([rgb.width, rgb.height], [2 * 12 + 3, 12 + 2]);
    assert.throws(() => makeGrid(new Float32Array(8), [1, 8, 1, 1]), /1, 3 or 4 channels/);
    assert.throws(
      () => makeGrid(new Float32Array(8), [2, 4, 1, 1], { rowLabels: ["a", "b"] }),
      /1 rows but 2/,
    );
  });
});

Deno.test("font", () => {
  assert.equal(textWidth("ab", 2), 22);
  assert.equal(glyph("1").reduce((a, b) => a + b, 0), 10);
  assert.equal(glyph("\u2603").reduce((a, b) => a + b, 0), 20); // unknown -> box
});

Deno.test("loss plot", async (t) => {
  await t.step("axes and tick formatting", () => {
    assert.deepEqual(linearAxis(0, 10000, 7).ticks, [0, 2000, 4000, 6000, 8000, 10000]);
    assert.deepEqual(linearAxis(0.13, 0.52, 6).ticks, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]);
    assert.deepEqual(logAxis(0.02, 3).ticks, [0.02, 0.05, 0.1, 0.2, 0.5, 1, 2]);
    assert.deepEqual(logAxis(1e-4, 10).ticks, [1e-4, 1e-3, 0.01, 0.1, 1, 10]);
    assert.deepEqual([0, 0.05, 2.5, 12000, 1.5e6, 1e-4].map(formatTick), [
      "0",
      "0.05",
      "2.5",
      "12k",
      "1.5M",
      "1e-4",
    ]);
  });
  await t.step("PNG of the expected size with both curves", async () => {
    const train: [number, number][] = [];
    const val: [number, number][] = [];
    for (let s = 0; s <= 5000; s += 10) {
      train.push([s, 0.08 + 0.9 * Math.exp(-s / 700) + 0.02 * Math.sin(s * 0.37)]);
      if (s % 500 === 0) val.push([s, 0.1 + 0.85 * Math.exp(-s / 800)]);
    }
    for (const logY of [false, true]) {
      const png = lossPlotPng(train, val, {
        width: 640,
        height: 400,
        logY,
        title: "DiT-S/2 emoji",
      });
      const img = decodePng(png);
      assert.deepEqual([img.width, img.height], [640, 400]);
      let blue = 0, orange = 0;
      for (let i = 0; i < img.data.length; i += 4) {
        const [r, g, b] = img.data.subarray(i, i + 3);
        if (b > 150 && r < 80) blue++;
        if (r > 220 && g > 100 && g < 150 && b < 60) orange++;
      }
      assert.ok(blue > 300, `train curve drawn (${blue} px)`);
      assert.ok(orange > 30, `validation curve drawn (${orange} px)`);
      if (examplesDir && logY) await Deno.writeFile(join(examplesDir, "plot_example.png"), png);
    }
    assert.throws(() => lossPlotPng([], [], {}), /no finite points/);
  });
});

Deno.test("progress", async (t) => {
  const sink = (isTerminal: boolean) => {
    const out: string[] = [];
    return { out, sink: { isTerminal, write: (s: string) => void out.push(s) } };
  };
  await t.step("plain lines every K steps", () => {
    let now = 0;
    const { out, sink: s } = sink(false);
    const p = new Progress({ total: 10, every: 5, sink: s, now: () => now, label: "train" });
    for (let i = 1; i <= 10; i++) {
      now += 500;
      p.update(i, { loss: 0.123456, samples: 32 });
    }
    p.done();
    assert.equal(out.length, 2);
    assert.equal(out[0], "train 5/10 loss 0.1235 64.0 samples/s elapsed 3s ETA 3s\n");
    assert.equal(out[1], "train 10/10 loss 0.1235 64.0 samples/s elapsed 5s\n");
  });
  await t.step("updates every K steps: the rate counts every step since startStep", () => {
    let now = 0;
    const { out, sink: s } = sink(false);
    // A resumed run from step 100, reporting every 10 steps, 10 steps per second.
    const p = new Progress({ total: 200, every: 10, sink: s, now: () => now, startStep: 100 });
    now += 1000;
    p.update(110, { samples: 160 });
    assert.equal(out[0], "110/200 160.0 samples/s elapsed 1s ETA 9s\n");
  });
  await t.step("terminal redraws in place", () => {
    let now = 0;
    const { out, sink: s } = sink(true);
    const p = new Progress({ total: 4, sink: s, now: () => now, barWidth: 4 });
    for (let i = 1; i <= 4; i++) {
      now += 1000;
      p.update(i, { loss: 1 });
    }
    p.done();
    assert.ok(out.every((l) => l.startsWith("\r")));
    assert.equal(out[1], "\r[##..] 2/4 loss 1 elapsed 2s ETA 2s\x1b[K");
    assert.ok(out.at(-1)!.endsWith("\n"));
  });
  await t.step("a new total moves the ETA; a note prints above the bar", () => {
    let now = 0;
    const { out, sink: s } = sink(true);
    const p = new Progress({ total: 100, sink: s, now: () => now, barWidth: 4 });
    now += 1000;
    p.update(10);
    p.total = 20;
    p.note("time budget: 20 steps");
    assert.equal(out[1], "\r\x1b[Ktime budget: 20 steps\n" + out[0].slice(1, -3));
    now += 1000;
    p.update(20);
    assert.equal(out[2], "\r[####] 20/20 elapsed 2s\x1b[K");
    assert.throws(() => (p.total = 0), /positive integer/);
    const plain = sink(false);
    new Progress({ total: 5, sink: plain.sink }).note("hello");
    assert.deepEqual(plain.out, ["hello\n"]);
  });
  assert.equal(formatDuration(3725), "1h02m");
  assert.equal(formatDuration(125), "2m05s");
});
