/**
 * The default dataset: Google's Noto Color Emoji as shipped in the npm package
 * `emoji-datasource-google` 16.0.0 (64x64 straight-alpha RGBA PNGs under `img/google/64/`,
 * metadata in `emoji.json`; images Apache-2.0, see the package's README).
 *
 * Class label = the emoji's top-level `category`, as an index into {@linkcode EMOJI_CLASS_NAMES}
 * (sorted by code unit). The "Component" category (the five skin-tone swatches) and entries without
 * a Google image (`has_img_google: false`; none in 16.0.0) are skipped. Examples are ordered by the
 * package's `sort_order`.
 *
 * Skin-tone variations are excluded by default: they are 1,875 near-duplicates (the same glyph in five
 * skin colours), all in "People & Body", which would make that one class 60% of the data. Pass
 * `skinTones: true` to include them.
 *
 * | label | class             | default | with skin tones |
 * | ----- | ----------------- | ------- | --------------- |
 * | 0     | Activities        | 85      | 85              |
 * | 1     | Animals & Nature  | 159     | 159             |
 * | 2     | Flags             | 270     | 270             |
 * | 3     | Food & Drink      | 131     | 131             |
 * | 4     | Objects           | 264     | 264             |
 * | 5     | People & Body     | 386     | 2,261           |
 * | 6     | Smileys & Emotion | 169     | 169             |
 * | 7     | Symbols           | 224     | 224             |
 * | 8     | Travel & Places   | 218     | 218             |
 * |       | total             | 1,906   | 3,781           |
 *
 * (The package's 64px folder holds 3,786 PNGs: these 3,781 plus the 5 skin-tone swatches.)
 *
 * Installation: the static JSON import below puts the package into the module graph, so Deno
 * downloads it on the first `deno run`/`test`/`check` of anything that imports this module, and
 * with `"nodeModulesDir": "auto"` (deno.json) materialises it under
 * `node_modules/emoji-datasource-google/`. `import.meta.resolve` then gives the file URL of
 * `emoji.json` (under `node_modules/.deno/...`, or Deno's global npm cache when run with
 * `--node-modules-dir=none`), and the images are read next to it. `deno install` ahead of time
 * (e.g. for offline use) does the same.
 */
import emojiJson from "emoji-datasource-google/emoji.json" with { type: "json" };
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Dataset } from "./dataset.ts";
import { createPngDataset, type ImageOptions } from "./png_dataset.ts";

/** The emoji classes (top-level categories without "Component"), sorted; label k is entry k. */
export const EMOJI_CLASS_NAMES: readonly string[] = Object.freeze([
  "Activities",
  "Animals & Nature",
  "Flags",
  "Food & Drink",
  "Objects",
  "People & Body",
  "Smileys & Emotion",
  "Symbols",
  "Travel & Places",
]);

/** Image count of the default emoji dataset (no skin-tone variations). */
export const EMOJI_COUNT = 1906;

/** Image count of the emoji dataset with skin-tone variations. */
export const EMOJI_COUNT_WITH_SKIN_TONES = 3781;

/** The fields of an `emoji.json` entry that this module reads. */
interface RawEntry {
  short_name: string;
  image: string;
  category: string;
  sort_order: number;
  has_img_google?: boolean;
  skin_variations?: Record<string, { image: string; has_img_google?: boolean }>;
}

/** One example of the emoji dataset. */
export interface EmojiEntry {
  /** the emoji's short name, e.g. "grinning"; skin-tone variants get a suffix, e.g. ":1F3FB" */
  name: string;
  /** file name under `img/google/64/` */
  image: string;
  /** index into {@linkcode EMOJI_CLASS_NAMES} */
  label: number;
}

/**
 * The examples in dataset order (by `sort_order`, each base emoji followed by its skin tones when
 * `skinTones` is set).
 */
export function emojiEntries(skinTones = false): EmojiEntry[] {
  const raw = (emojiJson as unknown as RawEntry[])
    .filter((e) => e.category !== "Component" && e.has_img_google === true)
    .sort((a, b) => a.sort_order - b.sort_order);
  const out: EmojiEntry[] = [];
  for (const e of raw) {
    const label = EMOJI_CLASS_NAMES.indexOf(e.category);
    if (label < 0) throw new Error(`Unknown emoji category "${e.category}" for ${e.short_name}`);
    out.push({ name: e.short_name, image: e.image, label });
    if (!skinTones || !e.skin_variations) continue;
    for (const key of Object.keys(e.skin_variations).sort()) {
      const v = e.skin_variations[key];
      if (v.has_img_google === true) {
        out.push({ name: `${e.short_name}:${key}`, image: v.image, label });
      }
    }
  }
  return out;
}

/**
 * The folder of the 64x64 Google emoji PNGs inside the installed package.
 *
 * @throws when the package's files cannot be found (with a hint to run `deno install`)
 */
export function emojiImageDir(): string {
  const url = import.meta.resolve("emoji-datasource-google/emoji.json");
  const hint = `run "npx -y deno@2.9.6 install" in the project root`;
  if (!url.startsWith("file:")) {
    throw new Error(`Package emoji-datasource-google resolved to ${url}, not a file: ${hint}`);
  }
  const dir = join(dirname(fileURLToPath(url)), "img", "google", "64");
  try {
    if (Deno.statSync(dir).isDirectory) return dir;
  } catch {
    // fall through to the error below
  }
  throw new Error(`Emoji image folder not found: ${dir}: ${hint}`);
}

/** Options of {@linkcode loadEmojiDataset}. */
export interface EmojiOptions extends ImageOptions {
  /** include the 1,875 skin-tone variations (default false) */
  skinTones?: boolean;
}

/**
 * The emoji dataset: by default 1,906 examples in 9 classes, `x` [4,32,32] straight RGBA in
 * [-1,1] (64x64 images averaged over 2x2 blocks in premultiplied space). Decoding is lazy.
 */
export function loadEmojiDataset(options: EmojiOptions = {}): Dataset {
  const { skinTones = false, ...imageOptions } = options;
  const dir = emojiImageDir();
  const entries = emojiEntries(skinTones);
  return createPngDataset({
    ...imageOptions,
    name: skinTones ? "emoji+skin" : "emoji",
    files: entries.map((e) => join(dir, e.image)),
    labels: Int32Array.from(entries, (e) => e.label),
    classNames: EMOJI_CLASS_NAMES,
  });
}
