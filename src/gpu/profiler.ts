/**
 * Opt-in timestamp-query profiler: when active, every dispatch runs in its own compute pass with
 * timestamps, and {@linkcode Profiler.report} sums GPU time per kernel name.
 */
export class Profiler {
  #names: string[] = [];
  #querySet: GPUQuerySet;
  #resolveBuf: GPUBuffer;
  #capacity = 2048;
  #pending: { buf: GPUBuffer; names: string[] }[] = [];
  /** When true, `Gpu.submit` profiles each dispatch (default false). */
  active = false;

  /** Creates the timestamp query set (room for 2048 dispatches per submit) on `device`. */
  constructor(readonly device: GPUDevice) {
    this.#querySet = device.createQuerySet({
      label: "profiler",
      type: "timestamp",
      count: this.#capacity * 2,
    });
    this.#resolveBuf = device.createBuffer({
      label: "profiler-resolve",
      size: this.#capacity * 16,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
  }

  /** Timestamp writes for the next dispatch named `name`. */
  next(name: string): GPUComputePassTimestampWrites | undefined {
    const i = this.#names.length;
    if (i >= this.#capacity) return undefined;
    this.#names.push(name);
    return {
      querySet: this.#querySet,
      beginningOfPassWriteIndex: 2 * i,
      endOfPassWriteIndex: 2 * i + 1,
    };
  }

  /** Resolves this submit's queries into a staging buffer (called by Gpu.submit). */
  resolve(enc: GPUCommandEncoder): void {
    const n = this.#names.length;
    if (!n) return;
    enc.resolveQuerySet(this.#querySet, 0, 2 * n, this.#resolveBuf, 0);
    const buf = this.device.createBuffer({
      label: "profiler-read",
      size: 16 * n,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    enc.copyBufferToBuffer(this.#resolveBuf, 0, buf, 0, 16 * n);
    this.#pending.push({ buf, names: this.#names });
    this.#names = [];
  }

  /** Milliseconds per kernel name, summed over all profiled submits since the last report. */
  async report(): Promise<Map<string, { ms: number; count: number }>> {
    const out = new Map<string, { ms: number; count: number }>();
    for (const { buf, names } of this.#pending.splice(0)) {
      await buf.mapAsync(GPUMapMode.READ);
      const t = new BigUint64Array(buf.getMappedRange());
      names.forEach((name, i) => {
        const ms = Number(t[2 * i + 1] - t[2 * i]) / 1e6;
        const e = out.get(name) ?? { ms: 0, count: 0 };
        e.ms += ms;
        e.count++;
        out.set(name, e);
      });
      buf.unmap();
      buf.destroy();
    }
    return out;
  }
}
