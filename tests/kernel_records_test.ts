// Kernel records: each kernel's interface is read from its WGSL source (bindings, uniform fields,
// entry points), every kernel file is used through one, and launches filled by name are checked
// against it.
import assert from "node:assert/strict";
import { F32, type Gpu } from "../src/gpu/gpu.ts";
import { compileKernel, kernelRecords, uniformWords } from "../src/ops/_kernel.ts";
import { EMBED } from "../src/ops/embedding.ts";
import { MSE } from "../src/ops/mse.ts";
import "../src/model/graph.ts"; // loads every op launcher the model uses
import "../src/ops/philox_normal.ts";
import "../src/diffusion/gpu_step.ts";
import "../src/train/optimizer.ts";
import "../src/vae/model.ts";
import "../src/vae/attention.ts";
import "../src/vae/elementwise.ts";
import "../src/vae/groupnorm.ts";
import "../src/vae/pack.ts";

Deno.test("kernel records: every kernel file has one, and every source parses", () => {
  const records = kernelRecords();
  for (const r of records) assert.ok(r.iface.entries.length > 0, `${r.file} has no entry point`);
  const dir = new URL("../kernels/", import.meta.url);
  const withEntries = [...Deno.readDirSync(dir)]
    .filter((e) => e.name.endsWith(".wgsl"))
    .filter((e) => /@compute/.test(Deno.readTextFileSync(new URL(e.name, dir))))
    .map((e) => e.name.slice(0, -5));
  const covered = new Set(records.map((r) => r.file));
  assert.deepEqual(
    withEntries.filter((f) => !covered.has(f)).sort(),
    [],
    "kernels without a record",
  );
});

Deno.test("kernel records: the interface is read from the source", () => {
  assert.deepEqual(EMBED.iface, {
    entries: ["embedding_forward", "embedding_backward"],
    bindings: [
      { name: "src", kind: "read" },
      { name: "ids", kind: "read" },
      { name: "out", kind: "write" },
      { name: "P", kind: "uniform" },
    ],
    uniform: 3,
    fields: ["N", "D", "rows", "stride"].map((name) => ({ name, type: "u32" })),
  });
});

Deno.test("kernel records: uniforms are packed by name, padding zero, f32 marked", () => {
  const values = { HW: 4, N: 1, Cp: 2, Ct: 3, stride: 5, slot: 6, scale: 0.5 };
  const words = uniformWords(MSE, values);
  assert.deepEqual(words.slice(0, 8), [1, 2, 3, 4, 5, 6, 0, 0]);
  assert.ok(words[8] instanceof F32 && words[8].value === 0.5);
  assert.deepEqual(words.slice(9).map((w) => (w instanceof F32 ? w.value : w)), [0, 0, 0]);
});

Deno.test("kernel records: wrong names fail with the kernel named", async () => {
  const values = { HW: 4, N: 1, Cp: 2, Ct: 3, stride: 5, slot: 6, scale: 0.5 };
  assert.throws(() => uniformWords(MSE, { ...values, slot: undefined! }), /mse: uniform slot/);
  assert.throws(() => uniformWords(MSE, { ...values, extra: 1 }), /mse: no uniform field extra/);
  assert.throws(() => uniformWords(MSE, { ...values, _p0: 1 }), /no uniform field _p0/);
  const noGpu = {} as Gpu; // never reached: the entry point is checked first
  await assert.rejects(compileKernel(noGpu, MSE, "mse_sideways"), /mse: no entry point/);
});
