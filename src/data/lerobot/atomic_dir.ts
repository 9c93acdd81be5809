/**
 * Writing a whole folder atomically: files go into a temporary sibling folder, are fsynced, and
 * the folder is renamed into place. A reader of the target sees the old folder or the complete
 * new one, never a partly written dataset; a failed write leaves the target untouched.
 */
import { basename, dirname, resolve } from "node:path";
import { syncDir, writeSynced } from "../../io/atomic.ts";

async function isNonEmptyDir(path: string): Promise<boolean | undefined> {
  let st: Deno.FileInfo;
  try {
    st = await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  if (!st.isDirectory) throw new Error(`${path} exists and is not a folder`);
  for await (const _ of Deno.readDir(path)) return true;
  return false;
}

/**
 * Writes `files` (relative path -> bytes) as the folder `dir`, atomically. An existing non-empty
 * `dir` is refused unless `overwrite` is set; it is then replaced as a whole.
 */
export async function writeDirAtomic(
  dir: string,
  files: Map<string, Uint8Array>,
  overwrite = false,
): Promise<void> {
  const target = resolve(dir);
  const parent = dirname(target);
  const existing = await isNonEmptyDir(target);
  if (existing && !overwrite) {
    throw new Error(`${target} is not empty; pass overwrite: true to replace it`);
  }
  await Deno.mkdir(parent, { recursive: true });
  const tag = `${Deno.pid}.${crypto.getRandomValues(new Uint32Array(1))[0].toString(36)}`;
  const tmp = `${parent}/.${basename(target)}.${tag}.tmp`;
  const old = `${parent}/.${basename(target)}.${tag}.old`;
  try {
    await Deno.mkdir(tmp);
    const made = new Set<string>();
    for (const [rel, bytes] of files) {
      const sub = dirname(`${tmp}/${rel}`);
      if (!made.has(sub)) {
        await Deno.mkdir(sub, { recursive: true });
        made.add(sub);
      }
      await writeSynced(`${tmp}/${rel}`, bytes);
    }
    for (const sub of made) await syncDir(sub);
    if (existing !== undefined) await Deno.rename(target, old);
    try {
      await Deno.rename(tmp, target);
    } catch (e) {
      if (existing !== undefined) await Deno.rename(old, target);
      throw e;
    }
  } catch (e) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw new Error(`Writing ${target} failed: ${(e as Error).message}`, { cause: e });
  }
  await syncDir(parent);
  if (existing !== undefined) await Deno.remove(old, { recursive: true });
}
