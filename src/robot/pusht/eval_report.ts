/**
 * The numbers of a Push-T evaluation and their printed forms: the per-episode table, the summary
 * lines and the one-line JSON record (docs/pusht_eval.md).
 *
 * @module
 */

import { quantile } from "../../util/stats.ts";
import type { EpisodeResult } from "./eval.ts";

/** What an evaluation reports; the first six fields open the JSON line, in this order. */
export interface EvalSummary {
  /** Episodes played. */
  episodes: number;
  /** Share of episodes that succeeded. */
  success_rate: number;
  /** Mean over episodes of each episode's highest reward (LeRobot's `avg_max_reward`). */
  avg_max_reward: number;
  /** Median round trip of a chunk request, ms (all chunks of all episodes). */
  p50_infer_ms: number;
  /** 99th percentile of the round trips, ms. */
  p99_infer_ms: number;
  /** Ticks with no action ready, all episodes (real time; 0 in lockstep). */
  late_ticks: number;
  /** Real-time ticks processed over a tick behind the clock, all episodes. */
  slow_ticks: number;
  /** Episodes that succeeded. */
  successes: number;
  /** 95% Wilson score interval of the success rate. */
  success_ci95: [number, number];
  /** Mean episode length in control steps. */
  mean_steps: number;
  /** Chunks requested, all episodes. */
  chunks: number;
  /** Control ticks, all episodes. */
  ticks: number;
}

/**
 * The Wilson score interval of `k` successes in `n` trials at normal quantile `z` (1.96: 95%),
 * clamped to [0, 1]. It stays inside [0, 1] and keeps its coverage at 0/n and n/n, where the
 * normal approximation collapses to a point.
 */
export function wilsonInterval(k: number, n: number, z = 1.96): [number, number] {
  if (!Number.isInteger(n) || n <= 0 || !Number.isInteger(k) || k < 0 || k > n) {
    throw new Error(`wilsonInterval needs 0 <= k <= n, n >= 1, got k=${k} n=${n}`);
  }
  const p = k / n, z2 = z * z;
  const denom = 1 + z2 / n;
  const center = (p + z2 / (2 * n)) / denom;
  const half = (z / denom) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return [Math.max(0, center - half), Math.min(1, center + half)];
}

/** The round trips of an episode's chunks, ms. */
export function latencies(ep: EpisodeResult): number[] {
  return ep.chunks.map((c) => c.latencyMs).filter(Number.isFinite);
}

/** The summary of evaluated episodes. */
export function summarize(episodes: readonly EpisodeResult[]): EvalSummary {
  const n = episodes.length;
  if (n === 0) throw new Error("No episodes to summarise");
  const successes = episodes.filter((e) => e.success).length;
  const all = episodes.flatMap(latencies);
  const sum = (f: (e: EpisodeResult) => number) => episodes.reduce((s, e) => s + f(e), 0);
  return {
    episodes: n,
    success_rate: successes / n,
    avg_max_reward: sum((e) => e.maxReward) / n,
    p50_infer_ms: quantile(all, 0.5),
    p99_infer_ms: quantile(all, 0.99),
    late_ticks: sum((e) => e.lateTicks),
    slow_ticks: sum((e) => e.slowTicks),
    successes,
    success_ci95: wilsonInterval(successes, n),
    mean_steps: sum((e) => e.steps) / n,
    chunks: sum((e) => e.chunks.length),
    ticks: sum((e) => e.steps),
  };
}

/** The per-episode table (seed, steps, max reward, success, chunks, p50 ms; late ticks in real time). */
export function formatTable(episodes: readonly EpisodeResult[], realtime = false): string {
  const head = ["seed", "steps", "max reward", "success", "chunks", "p50 ms"];
  if (realtime) head.push("late");
  const rows = episodes.map((e) => {
    const row = [
      String(e.seed),
      String(e.steps),
      e.maxReward.toFixed(4),
      e.success ? "yes" : "no",
      String(e.chunks.length),
      quantile(latencies(e), 0.5).toFixed(1),
    ];
    if (realtime) row.push(String(e.lateTicks));
    return row;
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i])).join("  ");
  return [line(head), ...rows.map(line)].join("\n");
}

/** The human-readable summary lines. */
export function formatSummary(s: EvalSummary, realtime = false): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const lines = [
    `success rate ${pct(s.success_rate)} (${s.successes}/${s.episodes}), 95% Wilson interval ` +
    `[${pct(s.success_ci95[0])}, ${pct(s.success_ci95[1])}]`,
    `average max reward ${s.avg_max_reward.toFixed(4)}, mean length ${
      s.mean_steps.toFixed(1)
    } steps`,
    `inference round trip per chunk: p50 ${s.p50_infer_ms.toFixed(1)} ms, ` +
    `p99 ${s.p99_infer_ms.toFixed(1)} ms over ${s.chunks} chunks`,
  ];
  if (realtime) {
    lines.push(
      `late ticks ${s.late_ticks} of ${s.ticks} (${pct(s.late_ticks / Math.max(1, s.ticks))}); ` +
        `${s.slow_ticks} ticks ran over a tick behind the clock`,
    );
  }
  return lines.join("\n");
}

/** The JSON line: the summary's fields in order, then `extra`. */
export function jsonLine(s: EvalSummary, extra: Record<string, unknown> = {}): string {
  const round = (x: number, d: number) => Number.isFinite(x) ? Number(x.toFixed(d)) : null;
  return JSON.stringify({
    episodes: s.episodes,
    success_rate: round(s.success_rate, 6),
    avg_max_reward: round(s.avg_max_reward, 6),
    p50_infer_ms: round(s.p50_infer_ms, 3),
    p99_infer_ms: round(s.p99_infer_ms, 3),
    late_ticks: s.late_ticks,
    slow_ticks: s.slow_ticks,
    successes: s.successes,
    success_ci95: s.success_ci95.map((x) => round(x, 6)),
    mean_steps: round(s.mean_steps, 3),
    chunks: s.chunks,
    ticks: s.ticks,
    ...extra,
  });
}
