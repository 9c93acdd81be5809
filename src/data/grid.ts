/**
 * Image grids as PNGs: a batch of images in [-1,1] laid out rows x cols with a small gap, optionally
 * upscaled (nearest neighbour) and with a text label per row (e.g. the class of each row).
 * RGBA images are composited over a light checkerboard (or white) so transparency stays visible.
 */
import { ADVANCE, GLYPH_HEIGHT } from "./font.ts";
import { Canvas, type Rgb } from "./raster.ts";

/** Options of {@linkcode makeGrid}. */
export interface GridOptions {
  /** columns (default: N / rows when `rows` is given, else ceil(sqrt(N))) */
  cols?: number;
  /** rows (default: ceil(N / cols)) */
  rows?: number;
  /** pixels between cells and around the grid (default 2) */
  gap?: number;
  /** integer nearest-neighbour upscaling (default: largest integer keeping cells <= 64 px, >= 1) */
  scale?: number;
  /** what shows through transparent pixels (default "checker") */
  background?: "checker" | "white";
  /** colour representation of 4-channel images (default "straight") */
  alpha?: "straight" | "premultiplied";
  /** one label per row, drawn left of the row */
  rowLabels?: readonly string[];
  /** integer scale of the label font (default 1, or 2 when cells are at least 48 px tall) */
  labelScale?: number;
}

const GAP_COLOR: Rgb = [214, 214, 214];
const CHECKER: readonly [number, number] = [255, 230];
const CHECKER_CELL = 8; // output pixels
const TEXT_COLOR: Rgb = [40, 40, 40];

/**
 * Renders images into a grid canvas, row-major (image k at row floor(k / cols), column k % cols).
 *
 * Shapes: images [N,C,H,W] with C = 1 (grey), 3 (RGB) or 4 (RGBA), values in [-1,1] (clamped).
 */
export function makeGrid(
  images: Float32Array,
  shape: readonly [number, number, number, number],
  options: GridOptions = {},
): Canvas {
  const [N, C, H, W] = shape;
  if (shape.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new Error(`Grid shape must be positive integers [N,C,H,W], got [${shape.join(",")}]`);
  }
  if (images.length !== N * C * H * W) {
    throw new Error(
      `Grid images have ${images.length} values but [${shape.join(",")}] needs ${N * C * H * W}`,
    );
  }
  if (C !== 1 && C !== 3 && C !== 4) {
    throw new Error(`Grid images must have 1, 3 or 4 channels (decode latents first), got ${C}`);
  }
  const cols = options.cols ??
    (options.rows ? Math.ceil(N / options.rows) : Math.ceil(Math.sqrt(N)));
  const rows = options.rows ?? Math.ceil(N / cols);
  if (!(cols > 0 && rows > 0 && Number.isInteger(cols) && Number.isInteger(rows))) {
    throw new Error(`Grid rows and cols must be positive integers, got ${rows}x${cols}`);
  }
  if (rows * cols < N) throw new Error(`A ${rows}x${cols} grid cannot hold ${N} images`);
  const gap = options.gap ?? 2;
  const scale = options.scale ?? Math.max(1, Math.floor(64 / Math.max(H, W)));
  if (!Number.isInteger(scale) || scale < 1) {
    throw new Error(`Grid scale must be a positive integer, got ${scale}`);
  }
  const labels = options.rowLabels;
  if (labels && labels.length !== rows) {
    throw new Error(`Grid has ${rows} rows but ${labels.length} row labels`);
  }
  const cellW = W * scale, cellH = H * scale;
  const labelScale = options.labelScale ?? (cellH >= 48 ? 2 : 1);
  const labelW = labels
    ? Math.max(...labels.map((l) => [...l].length)) * ADVANCE * labelScale + 2 * gap + 4
    : 0;
  const width = labelW + cols * cellW + (cols + 1) * gap;
  const height = rows * cellH + (rows + 1) * gap;
  const canvas = new Canvas(width, height, GAP_COLOR);
  if (labels) canvas.fillRect(0, 0, labelW, height, [255, 255, 255]);
  const premultiplied = options.alpha === "premultiplied";
  const checker = (options.background ?? "checker") === "checker";
  const hw = H * W;
  const px = new Float64Array(3);
  for (let k = 0; k < N; k++) {
    const r = Math.floor(k / cols), c = k % cols;
    const ox = labelW + gap + c * (cellW + gap);
    const oy = gap + r * (cellH + gap);
    const base = k * C * hw; // image k in [N,C,H,W]
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const p = base + y * W + x;
        const v = (ch: number) => Math.min(1, Math.max(0, (images[p + ch * hw] + 1) / 2));
        if (C === 1) px.fill(v(0));
        else for (let ch = 0; ch < 3; ch++) px[ch] = v(ch);
        const a = C === 4 ? v(3) : 1;
        for (let sy = 0; sy < scale; sy++) {
          for (let sx = 0; sx < scale; sx++) {
            const gx = x * scale + sx, gy = y * scale + sy;
            const bg = checker
              ? CHECKER[(Math.floor(gx / CHECKER_CELL) + Math.floor(gy / CHECKER_CELL)) & 1]
              : 255;
            const i = ((oy + gy) * width + ox + gx) * 4;
            for (let ch = 0; ch < 3; ch++) {
              const fg = premultiplied ? px[ch] : px[ch] * a;
              canvas.data[i + ch] = Math.min(255, Math.round(255 * fg + bg * (1 - a)));
            }
            canvas.data[i + 3] = 255;
          }
        }
      }
    }
  }
  if (labels) {
    labels.forEach((label, r) => {
      const ty = gap + r * (cellH + gap) + Math.floor((cellH - GLYPH_HEIGHT * labelScale) / 2);
      canvas.text(gap + 2, ty, label, TEXT_COLOR, labelScale);
    });
  }
  return canvas;
}

/** {@linkcode makeGrid} encoded as PNG bytes. */
export function gridPng(
  images: Float32Array,
  shape: readonly [number, number, number, number],
  options: GridOptions = {},
): Uint8Array {
  return makeGrid(images, shape, options).toPng();
}
