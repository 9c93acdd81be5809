/** `deno task train --resume <run>` without `--preset` takes the policy preset from the checkpoint. */
import assert from "node:assert/strict";
import { resumedPreset } from "../src/cli/train.ts";
import { loadCheckpoint, saveCheckpoint } from "../src/model/checkpoint.ts";
import { writeTestPolicy } from "../examples/make_test_policy.ts";

Deno.test("a resumed run's preset comes from its checkpoint's policy windows", async () => {
  const dir = await Deno.makeTempDir({ prefix: "resume-preset-" });
  try {
    // The test policy has Push-T's windows 2/16/8.
    const ckpt = await loadCheckpoint(await writeTestPolicy(`${dir}/policy`));
    assert.equal(await resumedPreset(`${dir}/policy`), "pusht");

    const tensors = Object.fromEntries(
      ckpt.file.names().map((k) => [k, {
        dtype: "F32" as const,
        shape: ckpt.file.info(k).shape,
        data: ckpt.file.float32(k),
      }]),
    );
    // An image run: no policy record, so no preset is implied.
    const { policy: _, ...image } = ckpt;
    await saveCheckpoint(`${dir}/image`, image, tensors, 1);
    assert.equal(await resumedPreset(`${dir}/image`), undefined);

    // Windows no preset has: a clear error naming the flag to pass.
    const odd = { ...ckpt, policy: { ...ckpt.policy!, nObsSteps: 3 } };
    await saveCheckpoint(`${dir}/odd`, odd, tensors, 1);
    await assert.rejects(() => resumedPreset(`${dir}/odd`), /windows 3\/16\/8.*pass --preset/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
