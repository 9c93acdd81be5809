/**
 * Pictures of Push-T states: a top-down view in gym-pusht's colours (goal T light green, block
 * light slate grey, pusher royal blue, walls light grey, commanded target as a red cross), drawn
 * with 3 x 3 supersampling on the project's RGBA canvas; PNG stills and animated GIF episodes.
 */
import gifenc from "gifenc";
import { Canvas, type Rgb } from "../../data/raster.ts";
import type { PushTState } from "./env.ts";
import { BAR, GOAL_POSE, type Pose, STEM } from "./geometry.ts";
import { PUSHER_RADIUS, Q, WALL_HI, WALL_LO, WALL_RADIUS } from "./model.ts";

const WHITE: Rgb = [255, 255, 255];
const LIGHT_GREEN: Rgb = [144, 238, 144];
const SLATE_GREY: Rgb = [119, 136, 153];
const ROYAL_BLUE: Rgb = [65, 105, 225];
const LIGHT_GREY: Rgb = [211, 211, 211];
const RED: Rgb = [220, 30, 30];
// gifenc's CommonJS build (the one Deno resolves) exports an object, not named ES exports
const { applyPalette, GIFEncoder, quantize } = gifenc;
const SUB = 3; // supersamples per pixel side

/** Options of the pictures. */
export interface RenderOptions {
  /** image side in pixels (default 256; the workspace is 512 units wide) */
  size?: number;
}

/** A test of whether world point (x, y) lies in the T at `pose`. */
function inT(pose: Pose): (x: number, y: number) => boolean {
  const c = Math.cos(pose.angle), s = Math.sin(pose.angle);
  return (x, y) => {
    const dx = x - pose.x, dy = y - pose.y;
    const u = c * dx + s * dy, v = -s * dx + c * dy; // inverse rotation to body coordinates
    return (u >= BAR.x0 && u <= BAR.x1 && v >= BAR.y0 && v <= BAR.y1) ||
      (u >= STEM.x0 && u <= STEM.x1 && v >= STEM.y0 && v <= STEM.y1);
  };
}

/**
 * Fills the world-space region `inside` within the world box [x0, x1] x [y0, y1], blending each
 * pixel by the share of its supersamples inside.
 */
function fillRegion(
  canvas: Canvas,
  scale: number,
  box: [number, number, number, number],
  color: Rgb,
  inside: (x: number, y: number) => boolean,
): void {
  const px0 = Math.max(0, Math.floor(box[0] * scale)),
    px1 = Math.min(canvas.width - 1, Math.ceil(box[2] * scale));
  const py0 = Math.max(0, Math.floor(box[1] * scale)),
    py1 = Math.min(canvas.height - 1, Math.ceil(box[3] * scale));
  for (let py = py0; py <= py1; py++) {
    for (let px = px0; px <= px1; px++) {
      let n = 0;
      for (let j = 0; j < SUB; j++) {
        for (let i = 0; i < SUB; i++) {
          if (inside((px + (i + 0.5) / SUB) / scale, (py + (j + 0.5) / SUB) / scale)) n++;
        }
      }
      if (n > 0) canvas.blend(px, py, color, n / (SUB * SUB));
    }
  }
}

function fillT(canvas: Canvas, scale: number, pose: Pose, color: Rgb): void {
  const r = Math.hypot(60, 120) + 1; // the T lies within this radius of its origin
  fillRegion(canvas, scale, [pose.x - r, pose.y - r, pose.x + r, pose.y + r], color, inT(pose));
}

function fillCircle(
  canvas: Canvas,
  scale: number,
  cx: number,
  cy: number,
  radius: number,
  color: Rgb,
): void {
  const r2 = radius * radius;
  fillRegion(
    canvas,
    scale,
    [cx - radius, cy - radius, cx + radius, cy + radius],
    color,
    (x, y) => (x - cx) ** 2 + (y - cy) ** 2 <= r2,
  );
}

/** Draws `state` on a new canvas of `size` x `size` pixels. */
export function drawState(state: PushTState, options: RenderOptions = {}): Canvas {
  const size = options.size ?? 256;
  if (!Number.isInteger(size) || size < 16 || size > 4096) {
    throw new Error(`render size must be an integer in [16, 4096], got ${size}`);
  }
  const scale = size / 512;
  const canvas = new Canvas(size, size, WHITE);
  const q = state.qpos;
  // walls: the segments' rounded rectangles, as thin filled strips
  const lo = WALL_LO - WALL_RADIUS, hi = WALL_HI + WALL_RADIUS, w = 2 * WALL_RADIUS;
  for (
    const [x, y, ww, hh] of [[lo, lo, hi - lo, w], [lo, hi - w, hi - lo, w], [lo, lo, w, hi - lo], [
      hi - w,
      lo,
      w,
      hi - lo,
    ]]
  ) {
    fillRegion(
      canvas,
      scale,
      [x, y, x + ww, y + hh],
      LIGHT_GREY,
      (px, py) => px >= x && px <= x + ww && py >= y && py <= y + hh,
    );
  }
  fillT(canvas, scale, GOAL_POSE, LIGHT_GREEN);
  fillT(canvas, scale, { x: q[Q.bx], y: q[Q.by], angle: q[Q.ba] }, SLATE_GREY);
  fillCircle(canvas, scale, q[Q.px], q[Q.py], PUSHER_RADIUS, ROYAL_BLUE);
  if (state.target) {
    const [tx, ty] = [state.target[0] * scale, state.target[1] * scale];
    const arm = Math.max(3, 8 * scale), width = Math.max(1, 2 * scale);
    canvas.line(tx - arm, ty, tx + arm, ty, RED, width);
    canvas.line(tx, ty - arm, tx, ty + arm, RED, width);
  }
  return canvas;
}

/** A PNG picture of `state`. */
export function renderPng(state: PushTState, options: RenderOptions = {}): Uint8Array {
  return drawState(state, options).toPng();
}

/** Options of {@linkcode episodeGif}. */
export interface GifOptions extends RenderOptions {
  /** frames per second (default 10, the control rate) */
  fps?: number;
  /** extra time the last frame is shown, in milliseconds (default 1000) */
  holdLastMs?: number;
}

/** An animated GIF of an episode's states (one frame each), looping forever. */
export function episodeGif(states: readonly PushTState[], options: GifOptions = {}): Uint8Array {
  if (states.length === 0) throw new Error("episodeGif needs at least one state");
  const fps = options.fps ?? 10;
  if (!(fps > 0 && fps <= 100)) throw new Error(`fps must be in (0, 100], got ${fps}`);
  const gif = GIFEncoder();
  const delay = 1000 / fps;
  let palette: number[][] | undefined;
  states.forEach((state, i) => {
    const canvas = drawState(state, options);
    const rgba = canvas.data;
    // one palette for the whole animation keeps colours steady between frames; the first frame
    // has every colour but the target cross's, which the palette gets explicitly
    palette ??= withColor(quantize(rgba, 64), RED);
    const index = applyPalette(rgba, palette);
    const last = i === states.length - 1;
    gif.writeFrame(index, canvas.width, canvas.height, {
      palette,
      delay: last ? delay + (options.holdLastMs ?? 1000) : delay,
    });
  });
  gif.finish();
  return gif.bytes();
}

function withColor(palette: number[][], color: Rgb): number[][] {
  const has = palette.some((c) => c[0] === color[0] && c[1] === color[1] && c[2] === color[2]);
  if (has) return palette;
  const out = palette.slice(0, 255);
  out.push([color[0], color[1], color[2]]);
  return out;
}
