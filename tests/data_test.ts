/**
 * Tests of the data side: PNG codec, transforms, image-folder / emoji / latents datasets, the
 * train/validation split and the resumable batch iterator.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { encode } from "fast-png";
import { identityAutoencoder } from "../src/data/autoencoder.ts";
import {
  BatchIterator,
  type Dataset,
  type IteratorState,
  orderedBatches,
  splitDataset,
} from "../src/data/dataset.ts";
import {
  EMOJI_CLASS_NAMES,
  EMOJI_COUNT,
  EMOJI_COUNT_WITH_SKIN_TONES,
  emojiEntries,
  loadEmojiDataset,
} from "../src/data/emoji.ts";
import { loadImageFolder } from "../src/data/folder.ts";
import { encodeLatents, loadLatents } from "../src/data/latents.ts";
import { decodePng, decodePngFloat, encodePng } from "../src/data/png.ts";
import { flipHorizontal, normalize, prepareRgba, resize } from "../src/data/transforms.ts";

/** A w x h RGBA PNG whose pixel (x, y) is f(x, y). */
function makePng(w: number, h: number, f: (x: number, y: number) => number[]): Uint8Array {
  const data = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set(f(x, y), (y * w + x) * 4);
  return encodePng(data, w, h, 4);
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-6): void {
  assert.equal(actual.length, expected.length, "length");
  for (let i = 0; i < expected.length; i++) {
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= tol,
      `index ${i}: ${actual[i]} vs ${expected[i]}`,
    );
  }
}

/** A synthetic in-memory dataset with `n` examples of [1,1,2] (x = [i, -i]) and labels i % k. */
function toyDataset(n: number, k: number): Dataset {
  const ds: Dataset = {
    name: "toy",
    numClasses: k,
    classNames: Array.from({ length: k }, (_, i) => `c${i}`),
    shape: [1, 1, 2],
    length: n,
    label: (i) => i % k,
    get: (i) => ({ x: Float32Array.of(i, -i), label: i % k }),
  };
  return ds;
}

Deno.test("png", async (t) => {
  await t.step("RGBA round trip, float layout is [4,H,W]", () => {
    const bytes = makePng(3, 2, (x, y) => [x * 100, y * 200, 7, 255 - x]);
    const img = decodePng(bytes);
    assert.equal(img.width, 3);
    assert.equal(img.height, 2);
    assert.deepEqual([...img.data.subarray(4 * 4, 4 * 5)], [100, 200, 7, 254]); // (x=1,y=1)
    const f = decodePngFloat(bytes);
    const hw = 6;
    assert.equal(f.data.length, 4 * hw);
    close([f.data[0 * hw + 4], f.data[1 * hw + 4], f.data[3 * hw + 4]], [
      100 / 255,
      200 / 255,
      254 / 255,
    ]);
  });
  await t.step("RGB, 16-bit grey and palette images decode to RGBA", () => {
    const rgb = encodePng(Uint8Array.of(1, 2, 3, 4, 5, 6), 2, 1, 3);
    assert.deepEqual([...decodePng(rgb).data], [1, 2, 3, 255, 4, 5, 6, 255]);
    const grey16 = encode({
      width: 2,
      height: 1,
      data: Uint16Array.of(0, 65535),
      depth: 16,
      channels: 1,
    });
    assert.deepEqual([...decodePng(grey16).data], [0, 0, 0, 255, 255, 255, 255, 255]);
    close(decodePngFloat(grey16).data, [0, 1, 0, 1, 0, 1, 1, 1]);
    // 3x1 indexed PNG, palette [red, blue], tRNS [255, 0], pixels [0, 1, 1] (written by Python's zlib:
    // fast-png 8.0.0's encoder writes a wrong tRNS chunk, its decoder is right)
    const indexed = Uint8Array.of(
      137,
      80,
      78,
      71,
      13,
      10,
      26,
      10,
      0,
      0,
      0,
      13,
      73,
      72,
      68,
      82,
      0,
      0,
      0,
      3,
      0,
      0,
      0,
      1,
      8,
      3,
      0,
      0,
      0,
      44,
      62,
      228,
      134,
      0,
      0,
      0,
      6,
      80,
      76,
      84,
      69,
      255,
      0,
      0,
      0,
      0,
      255,
      108,
      161,
      253,
      142,
      0,
      0,
      0,
      2,
      116,
      82,
      78,
      83,
      255,
      0,
      229,
      183,
      48,
      74,
      0,
      0,
      0,
      12,
      73,
      68,
      65,
      84,
      120,
      156,
      99,
      96,
      96,
      100,
      4,
      0,
      0,
      7,
      0,
      3,
      117,
      129,
      129,
      37,
      0,
      0,
      0,
      0,
      73,
      69,
      78,
      68,
      174,
      66,
      96,
      130,
    );
    assert.deepEqual([...decodePng(indexed).data], [255, 0, 0, 255, 0, 0, 255, 0, 0, 0, 255, 0]);
  });
  await t.step("corrupt and non-PNG bytes give errors naming the file", () => {
    const good = makePng(8, 8, (x, y) => [x, y, 0, 255]);
    const truncated = good.slice(0, 40);
    assert.throws(() => decodePng(truncated, "bad.png"), /Corrupt PNG file bad\.png/);
    assert.throws(
      () => decodePng(new TextEncoder().encode("hello"), "x.png"),
      /Not a PNG file.*x\.png/,
    );
  });
});

Deno.test("transforms", async (t) => {
  await t.step("area downsampling averages blocks, also for non-integer factors", () => {
    const x = Float32Array.from({ length: 16 }, (_, i) => i); // [1,4,4]
    close(resize(x, [1, 4, 4], 2, 2), [2.5, 4.5, 10.5, 12.5]);
    const row = Float32Array.of(0, 3, 6); // [1,1,3] -> [1,1,2]
    close(resize(row, [1, 1, 3], 1, 2), [(0 + 0.5 * 3) / 1.5, (0.5 * 3 + 6) / 1.5], 1e-6);
  });
  await t.step("bilinear upsampling matches align_corners=False", () => {
    close(resize(Float32Array.of(0, 1), [1, 1, 2], 1, 4), [0, 0.25, 0.75, 1]);
  });
  await t.step("flip and normalise", () => {
    const x = Float32Array.of(1, 2, 3, 4, 5, 6); // [1,2,3]
    close(flipHorizontal(x, [1, 2, 3]), [3, 2, 1, 6, 5, 4]);
    close(normalize(Float32Array.of(0, 0.5, 1)), [-1, 0, 1]);
  });
  await t.step("RGBA: invisible colour does not leak into edges (premultiplied filtering)", () => {
    // 2x2: one opaque red pixel, three fully transparent green ones -> 1x1
    const hw = 4;
    const img = new Float32Array(4 * hw); // [4,2,2]
    img[0] = 1; // R of pixel 0
    for (let i = 1; i < 4; i++) img[hw + i] = 1; // G of the transparent pixels
    img[3 * hw] = 1; // alpha of pixel 0
    close(prepareRgba(img, [4, 2, 2], { size: 1 }), [1, -1, -1, -0.5]);
    close(prepareRgba(img, [4, 2, 2], { size: 1, alpha: "premultiplied" }), [-0.5, -1, -1, -0.5]);
    close(prepareRgba(img, [4, 2, 2], { size: 1, channels: 3 }), [1, 0.5, 0.5]);
    // fully transparent pixels get RGB -1 at the same size
    close(prepareRgba(img, [4, 2, 2], { size: 2 }).subarray(4, 8), [-1, -1, -1, -1]);
  });
});

Deno.test("image folder", async (t) => {
  const root = await Deno.makeTempDir({ prefix: "dit_data_test_" });
  try {
    const classes = join(root, "classes");
    await Deno.mkdir(join(classes, "red"), { recursive: true });
    await Deno.mkdir(join(classes, "blue"), { recursive: true });
    for (let i = 0; i < 3; i++) {
      await Deno.writeFile(
        join(classes, "red", `r${i}.png`),
        makePng(8, 8, () => [255, 0, 0, 255]),
      );
      await Deno.writeFile(
        join(classes, "blue", `b${i}.png`),
        makePng(6, 4, () => [0, 0, 255, 255]),
      );
    }
    await Deno.writeFile(join(classes, "blue", "notes.txt"), new Uint8Array(1));

    await t.step("one subfolder per class", () => {
      const ds = loadImageFolder(classes, { size: 4 });
      assert.equal(ds.name, "classes");
      assert.deepEqual(ds.classNames, ["blue", "red"]);
      assert.equal(ds.numClasses, 2);
      assert.equal(ds.length, 6);
      assert.deepEqual(ds.shape, [4, 4, 4]);
      const red = ds.get(3);
      assert.equal(red.label, 1);
      close(red.x.subarray(0, 16), new Array(16).fill(1));
      close(red.x.subarray(16, 32), new Array(16).fill(-1));
      const blue = ds.get(0); // 6x4 image, centre-cropped to 4x4
      assert.equal(blue.label, 0);
      close(blue.x.subarray(32, 48), new Array(16).fill(1));
    });
    await t.step("flat folder is one class", () => {
      const ds = loadImageFolder(join(classes, "red"), { size: 8, channels: 3 });
      assert.equal(ds.numClasses, 1);
      assert.deepEqual(ds.classNames, ["red"]);
      assert.equal(ds.length, 3);
      assert.deepEqual(ds.shape, [3, 8, 8]);
      assert.equal(ds.get(2).label, 0);
    });
    await t.step("missing, empty and mixed folders", async () => {
      assert.throws(() => loadImageFolder(join(root, "nope")), /Image folder not found: .*nope/);
      await Deno.mkdir(join(root, "empty"));
      assert.throws(() => loadImageFolder(join(root, "empty")), /contains no PNG images/);
      await Deno.mkdir(join(root, "empty", "cls"));
      assert.throws(
        () => loadImageFolder(join(root, "empty")),
        /Class folder .*cls contains no PNG/,
      );
      await Deno.writeFile(join(classes, "loose.png"), makePng(2, 2, () => [0, 0, 0, 255]));
      assert.throws(() => loadImageFolder(classes), /mixes loose images/);
      await Deno.remove(join(classes, "loose.png"));
      await Deno.writeFile(join(classes, "red", "photo.jpg"), new Uint8Array(3));
      assert.throws(() => loadImageFolder(classes), /Unsupported image format.*photo\.jpg/);
      await Deno.remove(join(classes, "red", "photo.jpg"));
    });
    await t.step("corrupt PNG names the file when the example is read", async () => {
      const bad = join(root, "bad");
      await Deno.mkdir(bad);
      await Deno.writeFile(join(bad, "a.png"), makePng(4, 4, () => [1, 2, 3, 255]));
      await Deno.writeFile(join(bad, "b.png"), makePng(4, 4, () => [1, 2, 3, 255]).slice(0, 50));
      const ds = loadImageFolder(bad);
      ds.get(0);
      assert.throws(() => ds.get(1), /Corrupt PNG file .*b\.png/);
      assert.throws(() => ds.get(2), /Index 2 is out of range/);
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("split and batch iterator", async (t) => {
  const ds = toyDataset(100, 3);
  await t.step("stratified, deterministic split", () => {
    const a = splitDataset(ds, { valFraction: 0.1, seed: 7 });
    const b = splitDataset(ds, { valFraction: 0.1, seed: 7 });
    assert.deepEqual(a, b);
    assert.equal(a.val.length, 3 + 3 + 3); // round(34*0.1), round(33*0.1), round(33*0.1)
    assert.equal(a.train.length + a.val.length, 100);
    assert.equal(new Set([...a.train, ...a.val]).size, 100);
    for (let c = 0; c < 3; c++) assert.equal([...a.val].filter((i) => i % 3 === c).length, 3);
    assert.notDeepEqual(splitDataset(ds, { valFraction: 0.1, seed: 8 }).val, a.val);
    assert.throws(() => splitDataset(ds, { valFraction: 1 }), /Validation fraction/);
  });
  await t.step("each epoch visits every index once; batches cross epochs", () => {
    const it = new BatchIterator(ds, null, { batchSize: 30, seed: 1 });
    const seen: number[] = [];
    for (let b = 0; b < 4; b++) seen.push(...it.next().indices); // 120 = 1 epoch + 20
    assert.deepEqual([...seen.slice(0, 100)].sort((x, y) => x - y), [...Array(100).keys()]);
    assert.deepEqual(it.state().epoch, 1);
    assert.deepEqual(it.state().position, 20);
    assert.notDeepEqual(seen.slice(0, 20), seen.slice(100, 120)); // reshuffled
  });
  await t.step("state save/restore continues identically (flips included)", () => {
    const { train } = splitDataset(ds, { valFraction: 0.2 });
    const a = new BatchIterator(ds, train, { batchSize: 7, seed: 42, flip: true });
    for (let i = 0; i < 13; i++) a.next();
    const saved: IteratorState = JSON.parse(JSON.stringify(a.state()));
    const expected = Array.from({ length: 20 }, () => a.next());
    const b = new BatchIterator(ds, train, { batchSize: 7, seed: 42, flip: true });
    b.restore(saved);
    for (const e of expected) {
      const got = b.next();
      assert.deepEqual(got.indices, e.indices);
      assert.deepEqual(got.labels, e.labels);
      assert.deepEqual(got.x, e.x);
    }
    // flips happen, about half the time: x = [i, -i] flipped is [-i, i]
    let flips = 0, total = 0;
    for (const e of expected) {
      for (let k = 0; k < 7; k++) {
        if (e.indices[k] === 0) continue;
        total++;
        if (e.x[2 * k] === -e.indices[k]) flips++;
      }
    }
    assert.ok(flips > total * 0.3 && flips < total * 0.7, `${flips}/${total} flipped`);
    const other = new BatchIterator(ds, train, { batchSize: 7, seed: 43, flip: true });
    assert.throws(() => other.restore(saved), /seed is 42, expected 43/);
    const otherSplit = new BatchIterator(ds, null, { batchSize: 7, seed: 42, flip: true });
    assert.throws(() => otherSplit.restore(saved), /does not match/);
  });
  await t.step("ordered batches cover the validation set", () => {
    const { val } = splitDataset(ds, { valFraction: 0.2 });
    const batches = [...orderedBatches(ds, val, 8)];
    assert.deepEqual(batches.flatMap((b) => [...b.indices]), [...val]);
    assert.equal(batches.at(-1)!.shape[0], val.length % 8 || 8);
  });
});

Deno.test("emoji dataset", async (t) => {
  await t.step("entries, classes and counts", () => {
    const entries = emojiEntries();
    assert.equal(entries.length, EMOJI_COUNT);
    assert.equal(emojiEntries(true).length, EMOJI_COUNT_WITH_SKIN_TONES);
    assert.deepEqual([...EMOJI_CLASS_NAMES], [...EMOJI_CLASS_NAMES].sort());
    const counts = new Array(EMOJI_CLASS_NAMES.length).fill(0);
    for (const e of entries) counts[e.label]++;
    assert.deepEqual(counts, [85, 159, 270, 131, 264, 386, 169, 224, 218]);
  });
  await t.step("a sample is RGBA [4,32,32] in [-1,1] with real transparency", () => {
    const ds = loadEmojiDataset();
    assert.equal(ds.length, 1906);
    assert.equal(ds.numClasses, 9);
    assert.deepEqual(ds.shape, [4, 32, 32]);
    const i = emojiEntries().findIndex((e) => e.name === "grinning");
    const { x, label } = ds.get(i);
    assert.equal(EMOJI_CLASS_NAMES[label], "Smileys & Emotion");
    assert.equal(x.length, 4 * 32 * 32);
    const alpha = x.subarray(3 * 1024);
    assert.ok(x.every((v) => v >= -1 && v <= 1));
    assert.equal(Math.min(...alpha), -1); // transparent corners
    assert.equal(Math.max(...alpha), 1); // opaque face
    assert.ok(x.subarray(0, 1024).some((v) => v > 0.5)); // yellow face: red channel high
  });
});

Deno.test("latents file", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "dit_latents_test_" });
  const shape = [3, 4, 2, 2] as const;
  const latents = Float32Array.from({ length: 48 }, (_, i) => i / 10);
  try {
    await t.step("round trip", async () => {
      const path = join(dir, "ok.safetensors");
      await Deno.writeFile(
        path,
        encodeLatents({
          latents,
          shape,
          labels: [0, 1, 1],
          classNames: ["a", "b"],
          autoencoder: "identity",
          scalingFactor: 1,
        }),
      );
      const ds = await loadLatents(path, { expectShape: [4, 2, 2] });
      assert.equal(ds.length, 3);
      assert.deepEqual(ds.shape, [4, 2, 2]);
      assert.deepEqual(ds.classNames, ["a", "b"]);
      assert.equal(ds.autoencoder, "identity");
      assert.equal(ds.scalingFactor, 1);
      assert.equal(ds.get(2).label, 1);
      close(ds.get(2).x, latents.subarray(32, 48));
    });
    await t.step("bad files", async () => {
      const path = join(dir, "bad.safetensors");
      await Deno.writeFile(
        path,
        encodeLatents({ latents, shape, labels: [0, 1, 2], classNames: ["a", "b"] }),
      );
      await assert.rejects(
        () => loadLatents(path),
        /labels\[2\] = 2 is out of range.*bad\.safetensors|bad\.safetensors.*labels\[2\]/,
      );
      await Deno.writeFile(
        path,
        encodeLatents({ latents, shape, labels: [0, 1, 1], classNames: ["a", "b"] }),
      );
      await assert.rejects(
        () => loadLatents(path, { expectShape: [4, 32, 32] }),
        /"latents" in .*bad\.safetensors.*\[4,2,2\], expected \[4,32,32\]/,
      );
      await assert.rejects(
        () => loadLatents(join(dir, "none.safetensors")),
        /Latents file not found: .*none\.safetensors/,
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("identity autoencoder", async () => {
  const ae = identityAutoencoder;
  assert.deepEqual(ae.latentShape([4, 32, 32]), [4, 32, 32]);
  assert.equal(ae.scalingFactor, 1);
  const images = {
    data: Float32Array.from({ length: 8 }, (_, i) => i / 8),
    shape: [2, 4, 1, 1] as const,
  };
  const z = await ae.encode(images);
  assert.deepEqual(z.data, images.data);
  assert.notEqual(z.data, images.data);
  assert.deepEqual((await ae.decode(z)).data, images.data);
});
