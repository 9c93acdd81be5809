/**
 * Crash-safe file replacement: write a temporary file next to the target, fsync it, rename it
 * over the target (atomic on POSIX file systems), then fsync the directory. A reader sees either
 * the old complete file or the new complete file, never a partial one.
 */
import { basename, dirname } from "node:path";
import { fileURLToPath } from "node:url";

/** Converts a `string | URL` path to a file-system path string. */
function toPath(path: string | URL): string {
  return path instanceof URL ? fileURLToPath(path) : path;
}

/**
 * Writes `bytes` to `path` atomically: the data goes to a temporary `*.tmp` file in the same
 * directory, is fsynced and then renamed over `path`. On any error the temporary file is removed
 * and the target is left untouched.
 */
export async function writeFileAtomic(path: string | URL, bytes: Uint8Array): Promise<void> {
  const target = toPath(path);
  const dir = dirname(target);
  const rand = crypto.getRandomValues(new Uint32Array(1))[0].toString(36);
  const tmp = `${dir}/.${basename(target)}.${Deno.pid}.${rand}.tmp`;
  try {
    await writeSynced(tmp, bytes);
    await Deno.rename(tmp, target);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw new Error(`Atomic write of ${target} failed: ${(e as Error).message}`, { cause: e });
  }
  await syncDir(dir);
}

/** Writes `bytes` to a new file at `path` (it must not exist) and fsyncs it before closing. */
export async function writeSynced(path: string, bytes: Uint8Array): Promise<void> {
  const f = await Deno.open(path, { write: true, createNew: true, mode: 0o644 });
  try {
    let written = 0;
    while (written < bytes.length) written += await f.write(bytes.subarray(written));
    await f.sync();
  } finally {
    f.close();
  }
}

/** Best-effort fsync of a directory so that a completed rename survives a power loss. */
export async function syncDir(dir: string): Promise<void> {
  try {
    const d = await Deno.open(dir, { read: true });
    try {
      await d.sync();
    } finally {
      d.close();
    }
  } catch { /* some platforms cannot open or sync directories; the rename itself is done */ }
}

/** Names of the temporary files {@linkcode writeFileAtomic} creates: `.<target>.<pid>.<rand>.tmp`. */
const TEMP_NAME = /^\..+\.(\d+)\.[0-9a-z]+\.tmp$/;

/** Whether process `pid` is alive (Linux /proc; elsewhere any pid but our own counts as gone). */
function processAlive(pid: number): boolean {
  if (pid === Deno.pid) return true;
  try {
    Deno.statSync("/proc/self");
  } catch {
    return false;
  }
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Removes the temporary files that an atomic write left in `dir` when its process died mid-file
 * (SIGKILL, power loss): those whose writer process is no longer alive. Files of live writers,
 * and everything else, are left alone. Returns the names removed; a missing `dir` removes nothing.
 */
export async function removeStaleTemps(dir: string): Promise<string[]> {
  const removed: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      const m = e.isFile ? TEMP_NAME.exec(e.name) : null;
      if (!m || processAlive(Number(m[1]))) continue;
      await Deno.remove(`${dir}/${e.name}`).catch((err) => {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      });
      removed.push(e.name);
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return removed;
    throw e;
  }
  return removed.sort();
}
