/**
 * A buffer pool: buffers bucketed by usage and power-of-two size, handed out and returned, so
 * that per-request work (readback staging, temporaries) reuses GPU memory instead of creating and
 * destroying buffers each time.
 */
export class BufferPool {
  #free = new Map<string, GPUBuffer[]>();
  #live = 0;

  /** Creates an empty pool that allocates its buffers on `device`. */
  constructor(readonly device: GPUDevice) {}

  /** A buffer of at least `bytes` with exactly `usage`. Return it with {@linkcode release}. */
  acquire(bytes: number, usage: GPUBufferUsageFlags, label: string): GPUBuffer {
    const size = 2 ** Math.max(8, Math.ceil(Math.log2(Math.max(1, bytes))));
    const list = this.#free.get(`${usage}:${size}`);
    const hit = list?.pop();
    if (hit) return hit;
    this.#live++;
    return this.device.createBuffer({ label: `${label} (pool ${size})`, size, usage });
  }

  /** Returns a buffer for reuse (it must be unmapped and no longer used by pending work). */
  release(buf: GPUBuffer): void {
    const key = `${buf.usage}:${buf.size}`;
    let list = this.#free.get(key);
    if (!list) this.#free.set(key, list = []);
    list.push(buf);
  }

  /** Buffers created by this pool (live or free). */
  get created(): number {
    return this.#live;
  }

  /** Destroys every free buffer. */
  trim(): void {
    for (const list of this.#free.values()) for (const b of list) b.destroy();
    this.#live -= [...this.#free.values()].reduce((a, l) => a + l.length, 0);
    this.#free.clear();
  }
}
