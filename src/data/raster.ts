/**
 * A minimal RGBA raster canvas for grids and plots: filled rectangles, anti-aliased lines (Xiaolin
 * Wu), bitmap text, PNG export. Pure TypeScript, no GPU.
 */
import { rasterizeText, textWidth } from "./font.ts";
import { encodePng } from "./png.ts";

/** An RGB colour, 0..255 per channel. */
export type Rgb = readonly [number, number, number];

/** An 8-bit opaque-or-alpha RGBA canvas; `data` is [H,W,4] row-major. */
export class Canvas {
  readonly width: number;
  readonly height: number;
  /** [H,W,4] RGBA, straight alpha */
  readonly data: Uint8Array;

  /** A canvas filled with `background` (opaque). */
  constructor(width: number, height: number, background: Rgb = [255, 255, 255]) {
    if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
      throw new Error(`Canvas size must be positive integers, got ${width}x${height}`);
    }
    this.width = width;
    this.height = height;
    this.data = new Uint8Array(width * height * 4);
    this.fillRect(0, 0, width, height, background);
  }

  /** Blends `color` with coverage `alpha` in [0,1] over pixel (x, y); ignores pixels outside. */
  blend(x: number, y: number, color: Rgb, alpha = 1): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height || !(alpha > 0)) return;
    const a = Math.min(1, alpha);
    const i = (y * this.width + x) * 4;
    const d = this.data;
    for (let c = 0; c < 3; c++) d[i + c] = Math.round(d[i + c] * (1 - a) + color[c] * a);
    d[i + 3] = Math.round(d[i + 3] * (1 - a) + 255 * a);
  }

  /** Fills the rectangle [x, x+w) x [y, y+h) (clipped) with an opaque colour. */
  fillRect(x: number, y: number, w: number, h: number, color: Rgb): void {
    const x0 = Math.max(0, Math.floor(x)), x1 = Math.min(this.width, Math.floor(x + w));
    const y0 = Math.max(0, Math.floor(y)), y1 = Math.min(this.height, Math.floor(y + h));
    for (let yy = y0; yy < y1; yy++) {
      for (let xx = x0; xx < x1; xx++) {
        const i = (yy * this.width + xx) * 4;
        this.data[i] = color[0];
        this.data[i + 1] = color[1];
        this.data[i + 2] = color[2];
        this.data[i + 3] = 255;
      }
    }
  }

  /** Draws a one-pixel rectangle outline along [x, x+w) x [y, y+h). */
  strokeRect(x: number, y: number, w: number, h: number, color: Rgb): void {
    this.fillRect(x, y, w, 1, color);
    this.fillRect(x, y + h - 1, w, 1, color);
    this.fillRect(x, y, 1, h, color);
    this.fillRect(x + w - 1, y, 1, h, color);
  }

  /**
   * Draws an anti-aliased line from (x0, y0) to (x1, y1) in pixel-centre coordinates (Xiaolin Wu's
   * algorithm); `width` > 1 draws ceil(width) parallel strokes spread across the line.
   */
  line(x0: number, y0: number, x1: number, y1: number, color: Rgb, width = 1): void {
    if (width <= 1) return this.#wu(x0, y0, x1, y1, color);
    const dx = x1 - x0, dy = y1 - y0;
    const len = Math.hypot(dx, dy) || 1;
    const nx = -dy / len, ny = dx / len; // unit normal
    const n = Math.ceil(width);
    for (let k = 0; k < n; k++) {
      const o = (k / (n - 1) - 0.5) * (width - 1);
      this.#wu(x0 + nx * o, y0 + ny * o, x1 + nx * o, y1 + ny * o, color);
    }
  }

  /** Xiaolin Wu's anti-aliased line. */
  #wu(x0: number, y0: number, x1: number, y1: number, color: Rgb): void {
    const steep = Math.abs(y1 - y0) > Math.abs(x1 - x0);
    if (steep) [x0, y0, x1, y1] = [y0, x0, y1, x1];
    if (x0 > x1) [x0, x1, y0, y1] = [x1, x0, y1, y0];
    const plot = (x: number, y: number, c: number) =>
      steep ? this.blend(y, x, color, c) : this.blend(x, y, color, c);
    const dx = x1 - x0;
    const grad = dx === 0 ? 1 : (y1 - y0) / dx;
    const fpart = (v: number) => v - Math.floor(v);
    // first endpoint
    let xe = Math.round(x0);
    let ye = y0 + grad * (xe - x0);
    let xgap = 1 - fpart(x0 + 0.5);
    const xp1 = xe;
    plot(xp1, Math.floor(ye), (1 - fpart(ye)) * xgap);
    plot(xp1, Math.floor(ye) + 1, fpart(ye) * xgap);
    let intery = ye + grad;
    // second endpoint
    xe = Math.round(x1);
    ye = y1 + grad * (xe - x1);
    xgap = fpart(x1 + 0.5);
    const xp2 = xe;
    if (xp2 !== xp1) {
      plot(xp2, Math.floor(ye), (1 - fpart(ye)) * xgap);
      plot(xp2, Math.floor(ye) + 1, fpart(ye) * xgap);
    }
    for (let x = xp1 + 1; x < xp2; x++) {
      plot(x, Math.floor(intery), 1 - fpart(intery));
      plot(x, Math.floor(intery) + 1, fpart(intery));
      intery += grad;
    }
  }

  /** Draws `text` with its top-left corner at (x, y) in the built-in 5x7 font at integer `scale`. */
  text(x: number, y: number, text: string, color: Rgb, scale = 1): void {
    rasterizeText(text, Math.round(x), Math.round(y), scale, (px, py) => this.blend(px, py, color));
  }

  /** Width in pixels of `text` at `scale` (see {@linkcode textWidth}). */
  textWidth(text: string, scale = 1): number {
    return textWidth(text, scale);
  }

  /** The canvas as PNG bytes (RGBA). */
  toPng(): Uint8Array {
    return encodePng(this.data, this.width, this.height, 4);
  }
}
