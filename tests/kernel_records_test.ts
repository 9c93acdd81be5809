// Every kernel record agrees with its WGSL source (binding names and order, uniform fields and
// types, entry points), and a launch filled by name packs and binds what the record says.
import assert from "node:assert/strict";
import { F32 } from "../src/gpu/gpu.ts";
import { checkKernelSpec, type KernelSpec, kernelSpecs, uniformWords } from "../src/ops/_kernel.ts";
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

Deno.test("kernel records match their WGSL sources, and every kernel file has one", () => {
  const specs = kernelSpecs();
  for (const spec of specs) checkKernelSpec(spec);
  const dir = new URL("../kernels/", import.meta.url);
  const withEntries = [...Deno.readDirSync(dir)]
    .filter((e) => e.name.endsWith(".wgsl"))
    .filter((e) => /@compute/.test(Deno.readTextFileSync(new URL(e.name, dir))))
    .map((e) => e.name.slice(0, -5));
  const covered = new Set(specs.map((s) => s.file));
  assert.deepEqual(
    withEntries.filter((f) => !covered.has(f)).sort(),
    [],
    "kernels without a record",
  );
});

Deno.test("kernel records: a record that disagrees with its source names the mismatch", () => {
  const wrongOrder: KernelSpec = {
    file: "embed",
    entries: ["embedding_forward"],
    bindings: ["ids", "src", "out", "P"],
    uniforms: { N: "u32", D: "u32", rows: "u32", stride: "u32" },
  };
  assert.throws(() => checkKernelSpec(wrongOrder), /embed: bindings \[ids,src,out,P\]/);
  const wrongField: KernelSpec = {
    file: "embed",
    entries: ["embedding_forward"],
    bindings: ["src", "ids", "out", "P"],
    uniforms: { N: "u32", D: "f32", rows: "u32", stride: "u32" },
  };
  assert.throws(() => checkKernelSpec(wrongField), /uniform fields .*D:f32/);
  const wrongEntry: KernelSpec = {
    file: "embed",
    entries: ["embedding_sideways"],
    bindings: ["src", "ids", "out", "P"],
    uniforms: { N: "u32", D: "u32", rows: "u32", stride: "u32" },
  };
  assert.throws(() => checkKernelSpec(wrongEntry), /no entry point embedding_sideways/);
});

Deno.test("kernel records: uniforms are packed by name, padding zero, f32 marked", () => {
  const values = { HW: 4, N: 1, Cp: 2, Ct: 3, stride: 5, slot: 6, scale: 0.5 };
  const words = uniformWords(MSE, values);
  assert.deepEqual(words.slice(0, 8), [1, 2, 3, 4, 5, 6, 0, 0]);
  assert.ok(words[8] instanceof F32 && words[8].value === 0.5);
  assert.deepEqual(words.slice(9).map((w) => (w instanceof F32 ? w.value : w)), [0, 0, 0]);
  assert.throws(() => uniformWords(MSE, { ...values, slot: undefined! }), /slot is not set/);
  assert.throws(
    () => uniformWords(MSE, { ...values, extra: 1 } as never),
    /no uniform field extra/,
  );
});
