/**
 * A dataset over a list of PNG files with known labels, decoded lazily on first access and then
 * cached (at the output size, so the emoji set at 32x32x4 costs 16 KiB an image).
 */
import { checkIndex, type Dataset, type Sample, type Shape3 } from "./dataset.ts";
import { readPngFloat } from "./png.ts";
import { prepareRgba } from "./transforms.ts";

/** Options shared by the PNG-backed datasets (emoji and image folders). */
export interface ImageOptions {
  /** output side length in pixels (default 32) */
  size?: number;
  /** 4: straight RGBA, alpha as channel 4 (default); 3: RGB composited over white */
  channels?: 3 | 4;
  /** colour representation of 4-channel output (default "straight") */
  alpha?: "straight" | "premultiplied";
  /** keep decoded examples in memory (default true) */
  cache?: boolean;
}

/** What {@linkcode createPngDataset} needs. */
export interface PngDatasetSpec extends ImageOptions {
  name: string;
  /** PNG paths, one per example */
  files: readonly string[];
  /** [N] label per file */
  labels: Int32Array;
  classNames: readonly string[];
}

/**
 * Creates a lazily decoded dataset; each `get(i)` yields `x` [channels,size,size] in [-1,1].
 * Decoding errors name the file ("Corrupt PNG file <path>: ...").
 */
export function createPngDataset(spec: PngDatasetSpec): Dataset {
  const { name, files, labels, classNames, size = 32, channels = 4, alpha = "straight" } = spec;
  const useCache = spec.cache ?? true;
  if (!Number.isInteger(size) || size <= 0) {
    throw new Error(`Image size must be a positive integer, got ${size}`);
  }
  if (channels !== 3 && channels !== 4) {
    throw new Error(`Image channels must be 3 or 4, got ${channels}`);
  }
  if (labels.length !== files.length) {
    throw new Error(`Dataset ${name} has ${files.length} files but ${labels.length} labels`);
  }
  labels.forEach((l, i) => {
    if (l < 0 || l >= classNames.length) {
      throw new Error(`Label ${l} of ${files[i]} is out of range (${classNames.length} classes)`);
    }
  });
  const shape: Shape3 = [channels, size, size];
  const cache: (Float32Array | undefined)[] = new Array(files.length);
  const dataset: Dataset = {
    name,
    numClasses: classNames.length,
    classNames,
    shape,
    length: files.length,
    label(i: number): number {
      checkIndex(dataset, i);
      return labels[i];
    },
    get(i: number): Sample {
      checkIndex(dataset, i);
      let x = cache[i];
      if (!x) {
        const img = readPngFloat(files[i]); // [4,h,w] in [0,1]
        x = prepareRgba(img.data, [4, img.height, img.width], { size, channels, alpha });
        if (useCache) cache[i] = x;
      }
      return { x, label: labels[i] };
    },
  };
  return dataset;
}
