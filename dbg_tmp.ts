import { Gpu } from "./src/gpu/gpu.ts";
import { loadModel } from "./src/sample/load.ts";
import { GpuDenoiser } from "./src/sample/denoiser.ts";
import { gridPng } from "./src/data/grid.ts";
const gpu = await Gpu.create();
const model = await loadModel(gpu, Deno.args[0], { ema: Deno.args[1] !== "raw" });
const d = new GpuDenoiser(gpu, model);
const rows: Float32Array[] = [];
const steps = 20;
const r = await d.sample({
  sampler: Deno.args[2] ?? "ddim",
  steps,
  seeds: [1, 2, 3, 4, 5, 6],
  labels: [6, 6, 6, 2, 2, 2],
}, (k, x0) => {
  if (k % 4 === 1) rows.push(x0.slice());
});
rows.push(r.x0);
const all = new Float32Array(rows.length * 6 * 4096);
rows.forEach((x, i) => all.set(x, i * 6 * 4096));
await Deno.writeFile(
  "/tmp/traj.png",
  gridPng(all, [rows.length * 6, 4, 32, 32], { rows: rows.length, cols: 6 }),
);
