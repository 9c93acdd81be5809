/**
 * `deno task export`: an inference checkpoint carries the EMA weights under the model's names, the
 * config and the policy record, and no optimizer state.
 */
import assert from "node:assert/strict";
import { gpuTest } from "./_gpu.ts";
import { loadCheckpoint, saveCheckpoint } from "../src/model/checkpoint.ts";
import { loadModel } from "../src/sample/load.ts";
import { writeTestPolicy } from "../examples/make_test_policy.ts";

gpuTest("deno task export writes the EMA weights without optimizer state", async (gpu) => {
  const dir = await Deno.makeTempDir({ prefix: "export-" });
  try {
    // A training-style checkpoint: the test policy's weights plus an EMA copy that differs.
    const src = await loadCheckpoint(await writeTestPolicy(`${dir}/run`, "tiny"));
    const raw = await loadModel(gpu, src.path);
    const n = raw.params.size;
    const ema = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 0.05);
    const tensors = Object.fromEntries(
      src.file.names().map((
        k,
      ) => [k, {
        dtype: "F32" as const,
        shape: src.file.info(k).shape,
        data: src.file.float32(k),
      }]),
    );
    tensors["optim.ema"] = { dtype: "F32", shape: [n], data: ema };
    tensors["optim.m"] = { dtype: "F32", shape: [n], data: new Float32Array(n) };
    await saveCheckpoint(`${dir}/run`, { ...src, step: 7 }, tensors, 1);

    const cli = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "src/cli/export.ts", "--ckpt", `${dir}/run`, "--out", `${dir}/out`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const said = new TextDecoder().decode(cli.stdout) + new TextDecoder().decode(cli.stderr);
    assert.equal(cli.code, 0, said);
    assert.match(said, /exported EMA weights of .* \(step 7\)/);

    const out = await loadCheckpoint(`${dir}/out`);
    assert.equal(out.step, 7);
    assert.deepEqual(out.config, src.config);
    assert.deepEqual(out.policy, src.policy);
    assert.ok(!out.file.names().some((k) => k.startsWith("optim.")), "no optimizer state");
    // Loaded for inference, the export is the run's EMA weights exactly, tensor by tensor.
    const exported = await (await loadModel(gpu, `${dir}/out`)).stateDict();
    const fromRun = await (await loadModel(gpu, `${dir}/run`)).stateDict();
    const rawWeights = await raw.stateDict();
    assert.deepEqual(Object.keys(exported), Object.keys(fromRun));
    for (const k of Object.keys(fromRun)) assert.deepEqual(exported[k].data, fromRun[k].data, k);
    assert.ok(
      Object.keys(fromRun).some((k) => String(fromRun[k].data) !== String(rawWeights[k].data)),
      "the EMA weights differ from the raw ones",
    );
    const bad = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "src/cli/export.ts", "--out", `${dir}/x`],
      stderr: "piped",
    }).output();
    assert.equal(bad.code, 1);
    assert.match(new TextDecoder().decode(bad.stderr), /export: --ckpt and --out are required/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task export --sampler/--steps set a policy's served defaults, checked", async () => {
  const dir = await Deno.makeTempDir({ prefix: "export-sampler-" });
  const run = (...args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "src/cli/export.ts", "--ckpt", `${dir}/run`, ...args],
      env: { XDG_RUNTIME_DIR: "/tmp" },
      stdout: "piped",
      stderr: "piped",
    }).output();
  try {
    const src = await loadCheckpoint(await writeTestPolicy(`${dir}/run`, "tiny"));
    assert.notEqual(src.policy!.sampler, "dpm++2m");
    const ok = await run("--out", `${dir}/out`, "--sampler", "dpm++2m", "--steps", "8");
    assert.equal(ok.code, 0, new TextDecoder().decode(ok.stderr));
    const out = await loadCheckpoint(`${dir}/out`);
    // Only the two defaults change; the rest of the record is the run's.
    assert.deepEqual(out.policy, { ...src.policy, sampler: "dpm++2m", steps: 8 });
    for (
      const [args, message] of [
        [
          ["--sampler", "euler"],
          /Unknown sampler "euler"; known: ddim, ddim-eta1, dpm\+\+2m, ddpm/,
        ],
        [["--steps", "0"], /--steps must be an integer in \[1, 100\]/],
        [["--steps", "101"], /--steps must be an integer in \[1, 100\]/],
      ] as const
    ) {
      const bad = await run("--out", `${dir}/bad`, ...args);
      assert.equal(bad.code, 1);
      assert.match(new TextDecoder().decode(bad.stderr), message);
      await assert.rejects(() => Deno.stat(`${dir}/bad`));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
