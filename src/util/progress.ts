/**
 * A training progress display: step/total, loss, samples per second and ETA. On a terminal it
 * redraws one line in place (carriage return + erase-line); otherwise (logs, CI, pipes) it prints a
 * plain line every `every` steps and at the end.
 */

/** Where the progress goes; defaults to Deno's stdout. */
export interface ProgressSink {
  /** whether to redraw in place */
  isTerminal: boolean;
  /** writes text as is (no newline added) */
  write(text: string): void;
}

/** Options of {@linkcode Progress}. */
export interface ProgressOptions {
  /** total number of steps */
  total: number;
  /** prefix, e.g. "train" */
  label?: string;
  /** plain-mode log interval in steps (default 50) */
  every?: number;
  /** terminal redraw interval in milliseconds (default 100) */
  redrawMs?: number;
  /** bar width in characters (default 24) */
  barWidth?: number;
  /** output (default stdout, terminal detected with `Deno.stdout.isTerminal()`) */
  sink?: ProgressSink;
  /** clock in milliseconds (default `performance.now`) */
  now?: () => number;
  /**
   * steps already done when the clock starts (0 for a fresh run, the checkpoint's step when
   * resuming); by default the step before the first update, which undercounts when updates come
   * every few steps
   */
  startStep?: number;
}

/** Values reported with a step. */
export interface ProgressUpdate {
  /** current loss (shown with 4 significant digits) */
  loss?: number;
  /** samples processed since the previous update (for samples/s) */
  samples?: number;
  /** extra "key=value" fields to show */
  extra?: Record<string, string | number>;
}

/** Formats seconds as "42s", "3m05s" or "2h07m". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

function stdoutSink(): ProgressSink {
  const enc = new TextEncoder();
  return {
    isTerminal: Deno.stdout.isTerminal(),
    write: (text) => {
      const bytes = enc.encode(text);
      let off = 0;
      while (off < bytes.length) off += Deno.stdout.writeSync(bytes.subarray(off));
    },
  };
}

/** A progress bar / progress logger for a loop of `total` steps. */
export class Progress {
  #total: number;
  readonly #label: string;
  readonly #every: number;
  readonly #redrawMs: number;
  readonly #barWidth: number;
  readonly #sink: ProgressSink;
  readonly #now: () => number;
  readonly #start: number;
  #startStep = -1;
  #samples = 0;
  #lastDraw = -Infinity;
  #lastLine = "";
  #done = false;

  /** Starts the clock. */
  constructor(options: ProgressOptions) {
    if (!Number.isInteger(options.total) || options.total <= 0) {
      throw new Error(`Progress total must be a positive integer, got ${options.total}`);
    }
    this.#total = options.total;
    this.#label = options.label ?? "";
    this.#every = Math.max(1, options.every ?? 50);
    this.#redrawMs = options.redrawMs ?? 100;
    this.#barWidth = options.barWidth ?? 24;
    this.#sink = options.sink ?? stdoutSink();
    this.#now = options.now ?? (() => performance.now());
    this.#start = this.#now();
    if (options.startStep !== undefined) this.#startStep = options.startStep;
  }

  /** Steps of the whole loop. */
  get total(): number {
    return this.#total;
  }

  /** Changes the loop's length (a run sized by a time budget fixes it after a few steps). */
  set total(n: number) {
    if (!Number.isInteger(n) || n <= 0) {
      throw new Error(`Progress total must be a positive integer, got ${n}`);
    }
    this.#total = n;
  }

  /** Prints a line of its own; on a terminal above the bar, which is redrawn below it. */
  note(text: string): void {
    if (this.#sink.isTerminal && this.#lastLine) {
      this.#sink.write(`\r\x1b[K${text}\n${this.#lastLine}`);
    } else this.#sink.write(`${text}\n`);
  }

  /**
   * Reports that `step` steps (1-based count, may start above 1 when resuming) are done. Rates and
   * ETA count only the steps and samples since the clock started (see `startStep`).
   */
  update(step: number, info: ProgressUpdate = {}): void {
    if (this.#startStep < 0) this.#startStep = step - 1;
    this.#samples += info.samples ?? 0;
    const t = this.#now();
    const line = this.format(step, info, t);
    this.#lastLine = line;
    if (this.#sink.isTerminal) {
      if (t - this.#lastDraw >= this.#redrawMs || step >= this.#total) {
        this.#sink.write(`\r${line}\x1b[K`);
        this.#lastDraw = t;
      }
    } else if (step % this.#every === 0 || step >= this.#total) {
      this.#sink.write(`${line}\n`);
    }
  }

  /** The status line for `step` at clock time `t` (ms). */
  format(step: number, info: ProgressUpdate, t: number): string {
    const elapsed = Math.max(1e-9, (t - this.#start) / 1000);
    const doneSteps = step - Math.max(0, this.#startStep);
    const stepsPerSec = doneSteps / elapsed;
    const eta = stepsPerSec > 0 ? (this.#total - step) / stepsPerSec : Infinity;
    const frac = Math.min(1, Math.max(0, step / this.#total));
    const filled = Math.round(frac * this.#barWidth);
    const parts = [
      this.#label,
      this.#sink.isTerminal ? `[${"#".repeat(filled)}${".".repeat(this.#barWidth - filled)}]` : "",
      `${step}/${this.#total}`,
      info.loss !== undefined ? `loss ${Number(info.loss.toPrecision(4))}` : "",
      this.#samples > 0 ? `${(this.#samples / elapsed).toFixed(1)} samples/s` : "",
      ...Object.entries(info.extra ?? {}).map(([k, v]) => `${k}=${v}`),
      `elapsed ${formatDuration(elapsed)}`,
      step < this.#total ? `ETA ${formatDuration(eta)}` : "",
    ];
    return parts.filter((p) => p !== "").join(" ");
  }

  /** Finishes: on a terminal, ends the redrawn line with a newline. Idempotent. */
  done(): void {
    if (this.#done) return;
    this.#done = true;
    if (this.#sink.isTerminal && this.#lastLine) this.#sink.write(`\r${this.#lastLine}\x1b[K\n`);
  }

  /** Prints a message on its own line without breaking the redrawn bar. */
  log(message: string): void {
    if (this.#sink.isTerminal && this.#lastLine && !this.#done) {
      this.#sink.write(`\r\x1b[K${message}\n${this.#lastLine}`);
    } else this.#sink.write(`${message}\n`);
  }
}
