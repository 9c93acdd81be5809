/**
 * The policy trainer's picture: demonstrated against sampled action chunks on a few fixed
 * windows, one panel per window, in the dataset's units. Two-dimensional actions (Push-T's target
 * position) are drawn as x-y paths with the observation history's first two state channels
 * marked (a position in the same units, as in Push-T); other widths as per-channel lines over the
 * chunk's time steps.
 */
import { linePlot, PALETTE, type Series } from "./plot.ts";
import { Canvas, type Rgb } from "./raster.ts";

/** One window to draw. */
export interface ChunkPanel {
  /** Observation history [nObsSteps, stateDim], dataset units. */
  obs: Float32Array;
  /** Demonstrated chunk [horizon, actionDim], dataset units. */
  demo: Float32Array;
  /** Sampled chunks, each [horizon, actionDim], dataset units. */
  samples: Float32Array[];
}

/** Options of {@linkcode chunksPng}. */
export interface ChunkPlotOptions {
  /** State width D. */
  stateDim: number;
  /** Action width A. */
  actionDim: number;
  /** Action channel names (axis captions). */
  actionNames?: string[];
  /** Panels per row (default 4). */
  cols?: number;
  /** Panel size in pixels (default 300 x 280). */
  panelWidth?: number;
  /** Panel height in pixels. */
  panelHeight?: number;
}

const GREY: Rgb = [40, 40, 40];

/** Channel colours: the plot palette, then five more (matplotlib's tab10), for up to 10 joints. */
const COLORS: readonly Rgb[] = [
  ...PALETTE,
  [140, 86, 75],
  [227, 119, 194],
  [127, 127, 127],
  [188, 189, 34],
  [23, 190, 207],
];

/** `c` mixed with white: the colour of sampled chunks beside the demonstrated one. */
function light(c: Rgb, k = 0.55): Rgb {
  return [0, 1, 2].map((i) => Math.round(c[i] + (255 - c[i]) * k)) as unknown as Rgb;
}

/** Draws the panels into one PNG. */
export function chunksPng(panels: readonly ChunkPanel[], o: ChunkPlotOptions): Uint8Array {
  if (!panels.length) throw new Error("A chunk picture needs at least one window");
  const { stateDim: D, actionDim: A } = o;
  const cols = Math.min(o.cols ?? 4, panels.length);
  const w = o.panelWidth ?? 300, h = o.panelHeight ?? 280;
  const rows = Math.ceil(panels.length / cols);
  const out = new Canvas(cols * w, rows * h + (A === 2 ? 0 : 14));
  panels.forEach((p, k) => {
    const H = p.demo.length / A;
    const series: Series[] = [];
    let xLabel = "step", yLabel = "action";
    if (A === 2) {
      const path = (a: Float32Array) =>
        Array.from({ length: H }, (_, i) => [a[2 * i], a[2 * i + 1]] as const);
      p.samples.forEach((s, i) =>
        series.push({
          name: i ? "" : "sampled",
          points: path(s),
          color: PALETTE[1],
          markers: false,
        })
      );
      series.push({ name: "demonstrated", points: path(p.demo), color: PALETTE[0], markers: true });
      if (D >= 2) {
        const n = p.obs.length / D;
        const obs = Array.from({ length: n }, (_, i) => [p.obs[i * D], p.obs[i * D + 1]] as const);
        // Markers only: the history is drawn as points, oldest to newest.
        series.push({ name: "observed", points: obs, color: PALETTE[2], markers: true });
      }
      xLabel = o.actionNames?.[0] ?? "action 0";
      yLabel = o.actionNames?.[1] ?? "action 1";
    } else {
      for (let c = 0; c < A; c++) {
        const color = COLORS[c % COLORS.length];
        const line = (a: Float32Array) =>
          Array.from({ length: H }, (_, i) => [i, a[i * A + c]] as const);
        p.samples.forEach((s) =>
          series.push({ name: "", points: line(s), color: light(color), markers: false })
        );
        series.push({
          name: o.actionNames?.[c] ?? `action ${c}`,
          points: line(p.demo),
          color,
          markers: true,
        });
      }
    }
    const panel = linePlot(series, {
      width: w,
      height: h,
      title: `window ${k + 1}`,
      xLabel,
      yLabel,
    });
    blit(out, panel, (k % cols) * w, Math.floor(k / cols) * h);
  });
  if (A !== 2) {
    out.text(4, out.height - 11, "markers: demonstrated; light lines: sampled", GREY);
  }
  return out.toPng();
}

/** Copies `src` into `dst` with its top-left corner at (x, y). */
function blit(dst: Canvas, src: Canvas, x: number, y: number): void {
  for (let r = 0; r < src.height; r++) {
    const from = src.data.subarray(r * src.width * 4, (r + 1) * src.width * 4);
    dst.data.set(from, ((y + r) * dst.width + x) * 4);
  }
}
