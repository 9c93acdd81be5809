/**
 * A user's image folder as a dataset.
 *
 * Layouts:
 * - one subfolder per class: `root/<class>/**.png`; class names are the subfolder names, sorted by
 *   code unit (labels are indices into that order);
 * - a flat folder of PNGs: one class (unconditioned) named after the folder.
 *
 * Only PNG is decoded; JPEG/WebP/GIF/BMP files are an error (convert them first), other files and
 * hidden entries are ignored. Images are centre-cropped to a square and resized (see `prepareRgba`
 * in transforms.ts).
 */
import { basename, join } from "node:path";
import type { Dataset } from "./dataset.ts";
import { createPngDataset, type ImageOptions } from "./png_dataset.ts";

const UNSUPPORTED = /\.(jpe?g|webp|gif|bmp|tiff?|avif|heic)$/i;

/** PNG files under `dir` (recursively), sorted; throws on unsupported image formats. */
function listPngs(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    if (e.name.startsWith(".")) continue;
    const path = join(dir, e.name);
    if (e.isDirectory) out.push(...listPngs(path));
    else if (/\.png$/i.test(e.name)) out.push(path);
    else if (UNSUPPORTED.test(e.name)) {
      throw new Error(`Unsupported image format (only PNG is read): ${path}`);
    }
  }
  return out.sort(byCodeUnit);
}

function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Loads an image folder (see the module comment for layouts). Images are decoded lazily.
 *
 * @throws "Image folder not found: <path>", "... is not a folder", "Image folder <path> contains no
 * PNG images", "Class folder <path> contains no PNG images", or a mix of loose images and class
 * subfolders
 */
export function loadImageFolder(root: string, options: ImageOptions = {}): Dataset {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(root);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(`Image folder not found: ${root}`);
    throw e;
  }
  if (!info.isDirectory) throw new Error(`Image folder path is not a folder: ${root}`);
  const loose: string[] = [];
  const classDirs: string[] = [];
  for (const e of Deno.readDirSync(root)) {
    if (e.name.startsWith(".")) continue;
    if (e.isDirectory) classDirs.push(e.name);
    else if (/\.png$/i.test(e.name)) loose.push(join(root, e.name));
    else if (UNSUPPORTED.test(e.name)) {
      throw new Error(`Unsupported image format (only PNG is read): ${join(root, e.name)}`);
    }
  }
  const name = basename(root.replace(/[\\/]+$/, "")) || root;
  if (classDirs.length === 0) {
    if (loose.length === 0) throw new Error(`Image folder ${root} contains no PNG images`);
    return createPngDataset({
      ...options,
      name,
      files: loose.sort(byCodeUnit),
      labels: new Int32Array(loose.length),
      classNames: [name],
    });
  }
  if (loose.length > 0) {
    throw new Error(
      `Image folder ${root} mixes loose images (${
        basename(loose[0])
      }) with class subfolders: use one layout`,
    );
  }
  classDirs.sort(byCodeUnit);
  const files: string[] = [];
  const labels: number[] = [];
  classDirs.forEach((dir, k) => {
    const pngs = listPngs(join(root, dir));
    if (pngs.length === 0) {
      throw new Error(`Class folder ${join(root, dir)} contains no PNG images`);
    }
    files.push(...pngs);
    for (let i = 0; i < pngs.length; i++) labels.push(k);
  });
  return createPngDataset({
    ...options,
    name,
    files,
    labels: Int32Array.from(labels),
    classNames: classDirs,
  });
}
