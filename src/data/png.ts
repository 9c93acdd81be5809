/**
 * PNG decoding and encoding through `fast-png`.
 *
 * Every PNG colour type (grey, grey+alpha, RGB, RGBA, indexed, with or without a `tRNS` chunk) and
 * bit depth (1, 2, 4, 8, 16) decodes to straight (non-premultiplied) RGBA. Encoding takes 8-bit RGB
 * or RGBA pixels in row-major [H,W,C] order.
 */
import { convertIndexedToRgb, decode, type DecodedPng, encode, hasPngSignature } from "fast-png";

/** An 8-bit straight-alpha RGBA image: `data` is [H,W,4] row-major. */
export interface RgbaImage {
  width: number;
  height: number;
  /** [H,W,4] RGBA, 0..255, not premultiplied */
  data: Uint8Array;
}

/** A float RGBA image: `data` is [4,H,W] (channel-major, as the model wants), values in [0,1]. */
export interface FloatImage {
  width: number;
  height: number;
  /** [4,H,W] RGBA in [0,1], not premultiplied */
  data: Float32Array;
}

/** Decodes with fast-png, turning any failure into an error that names the file. */
function decodeRaw(bytes: Uint8Array, name: string): DecodedPng {
  if (!hasPngSignature(bytes)) {
    throw new Error(`Not a PNG file (bad signature): ${name}`);
  }
  let png: DecodedPng;
  try {
    png = decode(bytes);
  } catch (e) {
    throw new Error(`Corrupt PNG file ${name}: ${e instanceof Error ? e.message : e}`, {
      cause: e,
    });
  }
  if (png.width <= 0 || png.height <= 0) {
    throw new Error(`Corrupt PNG file ${name}: size ${png.width}x${png.height}`);
  }
  return png;
}

/** Unpacks sub-byte samples (depth 1, 2 or 4; rows padded to whole bytes) to one sample a byte. */
function unpackBits(data: ArrayLike<number>, width: number, height: number, depth: number) {
  const out = new Uint8Array(width * height); // [H,W]
  const rowBytes = Math.ceil((width * depth) / 8);
  const mask = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const bit = x * depth;
      const byte = data[y * rowBytes + (bit >> 3)];
      out[y * width + x] = (byte >> (8 - depth - (bit & 7))) & mask;
    }
  }
  return out;
}

/**
 * Converts a decoded PNG to RGBA samples at 8 or 16 bits, [H,W,4]; `max` is the full-scale value.
 */
function toRgba(
  png: DecodedPng,
  name: string,
): { data: Uint8Array | Uint16Array; max: number } {
  const { width, height } = png;
  const n = width * height;
  if (png.palette) {
    const rgb = convertIndexedToRgb(png); // [H,W,3|4]
    const c = png.palette[0]?.length ?? 3;
    const out = new Uint8Array(n * 4);
    for (let i = 0; i < n; i++) {
      out[4 * i] = rgb[c * i];
      out[4 * i + 1] = rgb[c * i + 1];
      out[4 * i + 2] = rgb[c * i + 2];
      out[4 * i + 3] = c === 4 ? rgb[c * i + 3] : 255;
    }
    return { data: out, max: 255 };
  }
  const c = png.channels;
  if (c < 1 || c > 4) throw new Error(`Corrupt PNG file ${name}: ${c} channels`);
  let depth = png.depth;
  let src: ArrayLike<number> = png.data;
  if (depth < 8) {
    // Only grey images may have sub-byte depths; scale samples up to 8 bits.
    const unpacked = unpackBits(src, width, height, depth);
    const scale = 255 / ((1 << depth) - 1);
    for (let i = 0; i < n; i++) unpacked[i] = Math.round(unpacked[i] * scale);
    src = unpacked;
    depth = 8;
  }
  if (src.length < n * c) {
    throw new Error(`Corrupt PNG file ${name}: ${src.length} samples for ${width}x${height}x${c}`);
  }
  const max = depth === 16 ? 65535 : 255;
  const out = depth === 16 ? new Uint16Array(n * 4) : new Uint8Array(n * 4);
  const key = png.transparency; // tRNS for grey ([g]) or RGB ([r,g,b]) at the original depth
  const keyScale = png.depth < 8 ? 255 / ((1 << png.depth) - 1) : 1;
  for (let i = 0; i < n; i++) {
    let r, g, b, a;
    if (c <= 2) {
      r = g = b = src[c * i];
      a = c === 2 ? src[c * i + 1] : max;
      if (key && key.length >= 1 && r === Math.round(key[0] * keyScale)) a = 0;
    } else {
      r = src[c * i];
      g = src[c * i + 1];
      b = src[c * i + 2];
      a = c === 4 ? src[c * i + 3] : max;
      if (key && key.length >= 3 && r === key[0] && g === key[1] && b === key[2]) a = 0;
    }
    out[4 * i] = r;
    out[4 * i + 1] = g;
    out[4 * i + 2] = b;
    out[4 * i + 3] = a;
  }
  return { data: out, max };
}

/**
 * Decodes PNG bytes to 8-bit straight RGBA [H,W,4] (16-bit samples are rounded to 8 bits).
 *
 * @param name the file name or path used in error messages
 * @throws when the bytes are not a valid PNG: "Corrupt PNG file <name>: ..."
 */
export function decodePng(bytes: Uint8Array, name = "<bytes>"): RgbaImage {
  const png = decodeRaw(bytes, name);
  const { data, max } = toRgba(png, name);
  if (max === 255) return { width: png.width, height: png.height, data: data as Uint8Array };
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = Math.round(data[i] / 257);
  return { width: png.width, height: png.height, data: out };
}

/**
 * Decodes PNG bytes to float RGBA [4,H,W] in [0,1], straight alpha (16-bit precision kept).
 *
 * @param name the file name or path used in error messages
 */
export function decodePngFloat(bytes: Uint8Array, name = "<bytes>"): FloatImage {
  const png = decodeRaw(bytes, name);
  const { data, max } = toRgba(png, name); // [H,W,4]
  const hw = png.width * png.height;
  const out = new Float32Array(4 * hw); // [4,H,W]
  const inv = 1 / max;
  for (let i = 0; i < hw; i++) {
    for (let ch = 0; ch < 4; ch++) out[ch * hw + i] = data[4 * i + ch] * inv;
  }
  return { width: png.width, height: png.height, data: out };
}

/** Reads and decodes a PNG file to 8-bit RGBA; errors name `path`. */
export function readPng(path: string): RgbaImage {
  return decodePng(readBytes(path), path);
}

/** Reads and decodes a PNG file to float RGBA [4,H,W] in [0,1]; errors name `path`. */
export function readPngFloat(path: string): FloatImage {
  return decodePngFloat(readBytes(path), path);
}

/** Reads a whole file, with an error that names the path when it is missing. */
function readBytes(path: string): Uint8Array {
  try {
    return Deno.readFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(`Image file not found: ${path}`);
    throw e;
  }
}

/**
 * Encodes 8-bit pixels as a PNG.
 *
 * @param data [H,W,channels] row-major, 0..255
 * @param channels 3 (RGB) or 4 (RGBA, straight alpha)
 */
export function encodePng(
  data: Uint8Array,
  width: number,
  height: number,
  channels: 3 | 4 = 4,
): Uint8Array {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new Error(`PNG size must be positive integers, got ${width}x${height}`);
  }
  if (channels !== 3 && channels !== 4) {
    throw new Error(`PNG channels must be 3 or 4, got ${channels}`);
  }
  if (data.length !== width * height * channels) {
    throw new Error(
      `PNG data has ${data.length} bytes but ${width}x${height}x${channels} needs ${
        width * height * channels
      }`,
    );
  }
  return encode({ width, height, data, channels, depth: 8 });
}

/** Encodes an {@linkcode RgbaImage} as a PNG and writes it to `path`. */
export function writePng(path: string, image: RgbaImage): void {
  Deno.writeFileSync(path, encodePng(image.data, image.width, image.height, 4));
}
