/**
 * Loads MuJoCo's WebAssembly module once per process and mounts an in-memory folder for the MJCF
 * files the environments write.
 */
import loadMujoco from "mujoco-js";
import type { MainModule } from "mujoco-js";

/** MuJoCo's module with the Emscripten file system that its typings leave out. */
export type MujocoModule = MainModule & {
  FS: {
    mkdir(path: string): void;
    writeFile(path: string, data: string): void;
    unlink(path: string): void;
  };
};

let loading: Promise<MujocoModule> | undefined;

/** The shared MuJoCo module; the first call loads it (~170 ms) and creates `/pusht` in MEMFS. */
export function loadMujocoModule(): Promise<MujocoModule> {
  loading ??= (async () => {
    const mj = await loadMujoco() as MujocoModule;
    mj.FS.mkdir("/pusht");
    return mj;
  })();
  return loading;
}
