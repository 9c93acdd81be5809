// Timestep features over every timestep 0..999 and every width a preset uses, against
//  (a) a float64 evaluation of torch's float32-rounded arguments (what an exact sin/cos gives),
//  (b) torch's float32 result modelled as (a) rounded to float32,
//  (c) the float64 formula of src/reference/timestep.ts (arguments unrounded; context only).
// The frequency tables are rebuilt here from the upstream expressions, with Float32Array stores as
// the float32 rounding, and must equal the engine's bit for bit. Checked once against PyTorch
// 1.13 (CPU): every exp argument is bit-identical; ~9% of its exps (SLEEF) are 1 ulp off the
// correctly rounded value used here.
import assert from "node:assert/strict";
import type { Gpu, Tensor } from "../src/gpu/gpu.ts";
import { PRESETS } from "../src/model/config.ts";
import { timestepFeatures, timestepFrequencies } from "../src/ops/timestep_features.ts";
import { timestepFeatures as referenceFeatures } from "../src/reference/timestep.ts";
import { gpuTest } from "./_gpu.ts";

/** Absolute limit against (a) and (b): a few float32 ulps of values in [-1, 1]. */
const EXACT_ATOL = 3e-7;

/** torch's frequency tables: official `timestep_embedding`, seed dit.py (see the module comment). */
function torchFrequencies(D: number, variant: "official" | "seed"): Float32Array {
  const half = Math.floor(D / 2);
  const r = new Float32Array(1); // r[0] = x rounds x to float32
  const out = new Float32Array(half);
  if (variant === "official") {
    r[0] = -Math.log(10000);
    const negLn = r[0];
    for (let k = 0; k < half; k++) {
      r[0] = negLn * k; // float32 tensor times the float32-cast scalar
      r[0] = r[0] / half;
      out[k] = Math.exp(r[0]);
    }
  } else {
    r[0] = -(Math.log(10000) / (half - 1));
    const scale = r[0];
    for (let k = 0; k < half; k++) {
      r[0] = k * scale;
      out[k] = Math.exp(r[0]);
    }
  }
  return out;
}

const widths = [
  ...new Set([256, ...Object.values(PRESETS).map((make) => make().hidden)]),
].sort((a, b) => a - b);

async function gpuFeatures(gpu: Gpu, t: Float32Array, D: number, variant: "official" | "seed") {
  const N = t.length;
  const tt: Tensor = gpu.upload(t, [N], "t");
  const out = gpu.tensor([N, D], "features");
  const p = gpu.program("timestep-sweep");
  await timestepFeatures(p, tt, out, N, D, variant);
  gpu.submit(p);
  const [got] = await gpu.read(out);
  tt.buffer.destroy();
  out.buffer.destroy();
  return got;
}

gpuTest("timestepFeatures() is exact for t = 0..999 at every preset width", async (gpu, t) => {
  const ts = Float32Array.from({ length: 1000 }, (_, i) => i);
  const summary: string[] = [];
  for (const variant of ["official", "seed"] as const) {
    for (const D of widths) {
      await t.step(`${variant} D=${D}`, async () => {
        const freq = timestepFrequencies(D, variant);
        assert.deepEqual(freq, torchFrequencies(D, variant), "frequency table");
        const got = await gpuFeatures(gpu, ts, D, variant);
        const formula = referenceFeatures(ts, ts.length, D, variant);
        const half = freq.length;
        const arg = new Float32Array(1);
        let exact = 0, torch = 0, loose = 0;
        for (let n = 0; n < ts.length; n++) {
          for (let k = 0; k < half; k++) {
            arg[0] = ts[n] * freq[k];
            const s = Math.sin(arg[0]), c = Math.cos(arg[0]);
            const [a, b] = variant === "seed" ? [s, c] : [c, s];
            const i = n * D + k, j = n * D + half + k;
            exact = Math.max(exact, Math.abs(got[i] - a), Math.abs(got[j] - b));
            torch = Math.max(torch, Math.abs(got[i] - Math.fround(a)));
            torch = Math.max(torch, Math.abs(got[j] - Math.fround(b)));
            loose = Math.max(loose, Math.abs(got[i] - formula[i]), Math.abs(got[j] - formula[j]));
          }
          if (D % 2) assert.equal(got[n * D + D - 1], 0, "odd D: zero last column");
        }
        summary.push(
          `${variant} D=${D}: ${exact.toExponential(2)} vs float64 of the float32 arguments, ` +
            `${torch.toExponential(2)} vs torch's float32, ${
              loose.toExponential(2)
            } vs the float64 formula`,
        );
        assert.ok(exact <= EXACT_ATOL, `${exact} over ${EXACT_ATOL} against float64`);
        assert.ok(torch <= EXACT_ATOL, `${torch} over ${EXACT_ATOL} against torch's float32`);
      });
    }
  }
  console.log(`worst |gpu - ref| over t = 0..999:\n  ${summary.join("\n  ")}`);
});
