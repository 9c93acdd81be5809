/**
 * Server metrics in the Prometheus text format (version 0.0.4).
 *
 * @module
 */

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];

/** A cumulative histogram. */
export class Histogram {
  /** Cumulative count per bound. */
  readonly counts: number[];
  /** Sum of all observations. */
  sum = 0;
  /** Number of observations. */
  count = 0;

  /** Creates a histogram with the given upper bounds (ascending). */
  constructor(readonly bounds: number[]) {
    this.counts = bounds.map(() => 0);
  }

  /** Records one observation. */
  observe(value: number): void {
    this.sum += value;
    this.count++;
    for (let i = 0; i < this.bounds.length; i++) if (value <= this.bounds[i]) this.counts[i]++;
  }

  /** Prometheus lines for this histogram under `name`. */
  render(name: string, help: string): string {
    const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`];
    this.bounds.forEach((b, i) => lines.push(`${name}_bucket{le="${b}"} ${this.counts[i]}`));
    lines.push(`${name}_bucket{le="+Inf"} ${this.count}`);
    lines.push(`${name}_sum ${this.sum}`, `${name}_count ${this.count}`);
    return lines.join("\n");
  }
}

/** All counters, gauges and histograms of one server. */
export class Metrics {
  /** Sample requests accepted into the queue. */
  requests = 0;
  /** Results sent. */
  results = 0;
  /** Samples computed (all batches). */
  samples = 0;
  /** Batches run. */
  batches = 0;
  /** Error frames sent, by code. */
  readonly errors: Map<string, number> = new Map();
  /** Open websocket connections. */
  connections = 0;
  /** Requests waiting in the queue, and their samples (set by the scheduler). */
  queueDepth = 0;
  /** Samples waiting in the queue. */
  queueSamples = 0;
  /** Samples per batch. */
  readonly batchSize = new Histogram(BATCH_BUCKETS);
  /** Acceptance to dispatch, per request. */
  readonly queueSeconds = new Histogram(LATENCY_BUCKETS);
  /** Denoiser run time, per batch. */
  readonly computeSeconds = new Histogram(LATENCY_BUCKETS);
  /** Readback time, per batch. */
  readonly readbackSeconds = new Histogram(LATENCY_BUCKETS);
  /** Frame arrival to result sent, per request. */
  readonly totalSeconds = new Histogram(LATENCY_BUCKETS);

  /** Counts one error frame. */
  error(code: string): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }

  /** The text exposition. */
  render(): string {
    const counter = (name: string, help: string, value: number) =>
      `# HELP ${name} ${help}\n# TYPE ${name} counter\n${name} ${value}`;
    const gauge = (name: string, help: string, value: number) =>
      `# HELP ${name} ${help}\n# TYPE ${name} gauge\n${name} ${value}`;
    const memory = Deno.memoryUsage();
    const errorLines = [...this.errors].sort().map(([code, n]) =>
      `dit_errors_total{code="${code}"} ${n}`
    );
    return [
      counter("dit_requests_total", "Sample requests accepted.", this.requests),
      counter("dit_results_total", "Results sent.", this.results),
      `# HELP dit_errors_total Error frames sent, by code.\n# TYPE dit_errors_total counter` +
      (errorLines.length ? "\n" + errorLines.join("\n") : ""),
      counter("dit_samples_total", "Samples computed.", this.samples),
      counter("dit_batches_total", "Batches run.", this.batches),
      gauge("dit_connections", "Open websocket connections.", this.connections),
      gauge("dit_process_rss_bytes", "Resident memory of the server.", memory.rss),
      gauge("dit_heap_used_bytes", "V8 heap in use on the main thread.", memory.heapUsed),
      gauge("dit_queue_depth", "Requests waiting for a batch.", this.queueDepth),
      gauge("dit_queue_samples", "Samples waiting for a batch.", this.queueSamples),
      this.batchSize.render("dit_batch_size", "Samples per batch."),
      this.queueSeconds.render("dit_queue_seconds", "Time from acceptance to dispatch."),
      this.computeSeconds.render("dit_compute_seconds", "Denoiser run time per batch."),
      this.readbackSeconds.render("dit_readback_seconds", "Readback time per batch."),
      this.totalSeconds.render("dit_total_seconds", "Time from frame arrival to result sent."),
    ].join("\n") + "\n";
  }
}
