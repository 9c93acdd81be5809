/**
 * Line plots as PNGs (training and validation loss curves): axes with "nice" tick labels in the
 * built-in bitmap font, optional log-scale y axis, a legend, anti-aliased lines. Pure TypeScript
 * rasterisation into an RGBA canvas.
 */
import { GLYPH_HEIGHT } from "./font.ts";
import { Canvas, type Rgb } from "./raster.ts";

/** A curve: (x, y) points in drawing order. */
export interface Series {
  name: string;
  points: readonly (readonly [number, number])[];
  /** line colour (default: from the palette by position) */
  color?: Rgb;
  /** draw a dot at every point (default: when the series has at most 60 points) */
  markers?: boolean;
}

/** Options of {@linkcode linePlot}. */
export interface PlotOptions {
  /** image width in pixels (default 720) */
  width?: number;
  /** image height in pixels (default 440) */
  height?: number;
  /** logarithmic y axis (default false); points with y <= 0 are skipped */
  logY?: boolean;
  /** text above the plot */
  title?: string;
  /** x-axis caption (default "step") */
  xLabel?: string;
  /** y-axis caption, drawn above the axis (default "loss") */
  yLabel?: string;
}

/** Series colours: blue, orange, green, red, purple. */
export const PALETTE: readonly Rgb[] = [
  [31, 119, 180],
  [255, 127, 14],
  [44, 160, 44],
  [214, 39, 40],
  [148, 103, 189],
];

const AXIS: Rgb = [60, 60, 60];
const GRIDLINE: Rgb = [232, 232, 232];
const TEXT: Rgb = [30, 30, 30];

/** Formats a tick value compactly: "0", "0.05", "2.5", "12k", "1.5M", "1e-4". */
export function formatTick(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e6) return `${trim(v / 1e6)}M`;
  if (a >= 1e4) return `${trim(v / 1e3)}k`;
  if (a < 1e-3) {
    const [m, e] = v.toExponential(2).split("e");
    return `${String(Number(m))}e${Number(e)}`;
  }
  return trim(v);
}

function trim(v: number): string {
  return String(Number(v.toPrecision(4)));
}

/** 1, 2 or 5 times a power of ten, near `x` (rounded) or at least `x` (not rounded). */
function niceNumber(x: number, round: boolean): number {
  const e = Math.floor(Math.log10(x));
  const f = x / 10 ** e;
  const n = round
    ? (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10)
    : (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10);
  return n * 10 ** e;
}

/** An axis: its range and tick values. */
export interface Axis {
  min: number;
  max: number;
  ticks: number[];
  log: boolean;
}

/** A linear axis over [lo, hi] widened to nice tick bounds, about `count` ticks. */
export function linearAxis(lo: number, hi: number, count = 6): Axis {
  if (!(hi > lo)) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const step = niceNumber(niceNumber(hi - lo, false) / (count - 1), true);
  const min = Math.floor(lo / step + 1e-9) * step;
  const max = Math.ceil(hi / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let t = min; t <= max + step * 1e-6; t += step) ticks.push(Number(t.toPrecision(12)));
  return { min, max, ticks, log: false };
}

/** A log axis over [lo, hi] (both > 0), padded slightly, ticks at 1, 2, 5 (or all) x 10^k. */
export function logAxis(lo: number, hi: number): Axis {
  if (!(lo > 0 && hi > 0)) throw new Error(`Log axis needs positive bounds, got ${lo}..${hi}`);
  let l = Math.log10(lo), h = Math.log10(hi);
  if (h - l < 0.05) {
    l -= 0.1;
    h += 0.1;
  }
  const pad = (h - l) * 0.04;
  l -= pad;
  h += pad;
  const candidates = [[1], [1, 2, 5], [1, 2, 3, 4, 5, 6, 7, 8, 9]];
  let ticks: number[] = [];
  for (const mults of candidates) {
    ticks = [];
    for (let e = Math.floor(l); e <= Math.ceil(h); e++) {
      for (const m of mults) {
        const t = Number((m * 10 ** e).toPrecision(12));
        const lt = Math.log10(t);
        if (lt >= l - 1e-9 && lt <= h + 1e-9) ticks.push(t);
      }
    }
    if (ticks.length >= 3) break;
  }
  if (ticks.length > 12) ticks = ticks.filter((_, i) => i % Math.ceil(ticks.length / 10) === 0);
  return { min: 10 ** l, max: 10 ** h, ticks, log: true };
}

/**
 * Renders line series into a canvas. Throws when no series has a plottable point.
 */
export function linePlot(series: readonly Series[], options: PlotOptions = {}): Canvas {
  const { width = 720, height = 440, logY = false, title, xLabel = "step", yLabel = "loss" } =
    options;
  const usable = (p: readonly [number, number]) =>
    Number.isFinite(p[0]) && Number.isFinite(p[1]) && (!logY || p[1] > 0);
  const all = series.flatMap((s) => s.points.filter(usable));
  if (all.length === 0) throw new Error("Plot has no finite points to draw");
  let xLo = Infinity, xHi = -Infinity, yLo = Infinity, yHi = -Infinity;
  for (const [x, y] of all) {
    xLo = Math.min(xLo, x);
    xHi = Math.max(xHi, x);
    yLo = Math.min(yLo, y);
    yHi = Math.max(yHi, y);
  }
  const xAxis = linearAxis(xLo, xHi, 7);
  const yAxis = logY ? logAxis(yLo, yHi) : linearAxis(yLo, yHi, 6);
  const yLabels = yAxis.ticks.map(formatTick);
  const canvas = new Canvas(width, height);
  const charH = GLYPH_HEIGHT;
  const left = 10 +
    Math.max(...yLabels.map((s) => canvas.textWidth(s)), canvas.textWidth(yLabel) - 4);
  const top = (title ? 2 * charH + 14 : 8) + charH + 6;
  const right = width - 16;
  const bottom = height - (2 * charH + 18);
  if (right - left < 20 || bottom - top < 20) {
    throw new Error(`Plot size ${width}x${height} is too small`);
  }
  const X = (x: number) => left + ((x - xAxis.min) / (xAxis.max - xAxis.min)) * (right - left);
  const yt = (y: number) => (yAxis.log ? Math.log10(y) : y);
  const ymin = yt(yAxis.min), ymax = yt(yAxis.max);
  const Y = (y: number) => bottom - ((yt(y) - ymin) / (ymax - ymin)) * (bottom - top);

  // grid lines and tick labels
  yAxis.ticks.forEach((t, i) => {
    const py = Math.round(Y(t));
    canvas.fillRect(left + 1, py, right - left - 1, 1, GRIDLINE);
    canvas.fillRect(left - 4, py, 4, 1, AXIS);
    const s = yLabels[i];
    canvas.text(left - 7 - canvas.textWidth(s), py - 3, s, TEXT);
  });
  for (const t of xAxis.ticks) {
    const px = Math.round(X(t));
    canvas.fillRect(px, top, 1, bottom - top, GRIDLINE);
    canvas.fillRect(px, bottom, 1, 4, AXIS);
    const s = formatTick(t);
    canvas.text(px - Math.floor(canvas.textWidth(s) / 2), bottom + 7, s, TEXT);
  }
  canvas.strokeRect(left, top, right - left + 1, bottom - top + 1, AXIS);
  canvas.text(
    Math.round((left + right - canvas.textWidth(xLabel)) / 2),
    bottom + charH + 12,
    xLabel,
    TEXT,
  );
  canvas.text(4, top - charH - 5, yLabel + (logY ? " (log)" : ""), TEXT);
  if (title) canvas.text(Math.round((width - canvas.textWidth(title, 2)) / 2), 8, title, TEXT, 2);

  // curves
  series.forEach((s, k) => {
    const color = s.color ?? PALETTE[k % PALETTE.length];
    const markers = s.markers ?? s.points.length <= 60;
    let prev: [number, number] | null = null;
    for (const p of s.points) {
      if (!usable(p)) {
        prev = null;
        continue;
      }
      const q: [number, number] = [X(p[0]), Y(p[1])];
      if (prev) canvas.line(prev[0], prev[1], q[0], q[1], color, 1.5);
      if (markers) canvas.fillRect(Math.round(q[0]) - 1, Math.round(q[1]) - 1, 3, 3, color);
      prev = q;
    }
  });

  // legend, top right inside the plot area
  const named = series.filter((s) => s.name);
  if (named.length > 0) {
    const lw = 26 + Math.max(...named.map((s) => canvas.textWidth(s.name)));
    const lh = named.length * (charH + 6) + 6;
    const lx = right - lw - 8, ly = top + 8;
    canvas.fillRect(lx, ly, lw, lh, [255, 255, 255]);
    canvas.strokeRect(lx, ly, lw, lh, [190, 190, 190]);
    named.forEach((s, i) => {
      const color = s.color ?? PALETTE[series.indexOf(s) % PALETTE.length];
      const cy = ly + 6 + i * (charH + 6) + 3;
      canvas.fillRect(lx + 6, cy, 14, 2, color);
      canvas.text(lx + 24, cy - 3, s.name, TEXT);
    });
  }
  return canvas;
}

/**
 * A loss plot PNG: training loss (blue) and validation loss (orange, with markers) against step.
 *
 * @param train [step, loss] pairs
 * @param val [step, loss] pairs (may be empty)
 */
export function lossPlotPng(
  train: readonly (readonly [number, number])[],
  val: readonly (readonly [number, number])[],
  options: PlotOptions = {},
): Uint8Array {
  const series: Series[] = [{ name: "train", points: train, color: PALETTE[0], markers: false }];
  if (val.length > 0) series.push({ name: "validation", points: val, color: PALETTE[1] });
  return linePlot(series, options).toPng();
}
