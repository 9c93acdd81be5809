import assert from "node:assert/strict";
import { Gpu, type Tensor } from "../src/gpu/gpu.ts";
import { loadSafetensors } from "../src/io/safetensors.ts";
import {
  betasForAlphaBar,
  makeSchedule,
  type NoiseSchedule,
  spacedTimesteps,
} from "../src/diffusion/schedule.ts";
import {
  addNoise,
  DdimSampler,
  DdpmSampler,
  DpmSolverSampler,
  sampleCpu,
  type SamplerPlan,
  stepCpu,
} from "../src/diffusion/samplers.ts";
import {
  parityDdim,
  parityDdpm,
  type ParityRow,
  relError,
  standInModel,
} from "../src/diffusion/parity.ts";
import {
  NoiseDomain,
  philoxNormal,
  philoxNormalBatch,
  philoxRowTable,
} from "../src/util/philox.ts";
import { GpuAddNoise, GpuSampler, uploadTimesteps } from "../src/diffusion/gpu_step.ts";
import { GpuNoise, uploadRowTable } from "../src/ops/philox_normal.ts";

const golden = new URL("./golden/", import.meta.url);
const DDPM = new URL("ddpm_squaredcos.safetensors", golden);
const DDIM = new URL("ddim_squaredcos.safetensors", golden);

function assertRows(rows: ParityRow[]): void {
  const bad = rows.filter((r) => !(r.error <= r.limit));
  assert.deepEqual(bad, [], `parity rows over their limit`);
}

function worst(rows: ParityRow[], re: RegExp): number {
  return Math.max(...rows.filter((r) => re.test(r.name)).map((r) => r.error));
}

Deno.test("noise schedules", async (t) => {
  await t.step(
    "squaredcos_cap_v2 float32 equals diffusers exactly, float64 within 1.4e-5",
    async () => {
      const st = await loadSafetensors(DDPM);
      const s32 = makeSchedule({ betaSchedule: "squaredcos_cap_v2", precision: "float32" });
      assert.deepEqual(Float32Array.from(s32.betas), st.float32("betas"));
      assert.deepEqual(Float32Array.from(s32.alphasCumprod), st.float32("alphas_cumprod"));
      const s64 = makeSchedule({ betaSchedule: "squaredcos_cap_v2" });
      const ac = st.float32("alphas_cumprod");
      let rel = 0;
      s64.alphasCumprod.forEach((v, i) => rel = Math.max(rel, Math.abs(v - ac[i]) / ac[i]));
      assert.ok(rel < 1.4e-5, `float64 alphas_cumprod relative difference ${rel}`);
      assert.equal(s64.betas[999], 0.999);
      assert.equal(Math.fround(betasForAlphaBar(1000)[0]), Math.fround(4.12842237e-05));
    },
  );

  await t.step("linear schedule as the official DiT (float64 linspace 1e-4..0.02)", () => {
    const s = makeSchedule();
    assert.equal(s.betas[0], 1e-4);
    assert.equal(s.betas[999], 0.02);
    assert.equal(s.betas[500], 500 * ((0.02 - 1e-4) / 999) + 1e-4); // numpy.linspace arithmetic
    let p = 1;
    for (let i = 0; i < 1000; i++) p *= 1 - s.betas[i];
    assert.equal(s.alphasCumprod[999], p);
    const f = makeSchedule({ precision: "float32" });
    assert.ok(f.betas.every((b, i) => Math.abs(b - s.betas[i]) <= 2e-9));
  });

  await t.step("timestep spacings", () => {
    assert.deepEqual(spacedTimesteps(1000, 10, "leading"), [
      900,
      800,
      700,
      600,
      500,
      400,
      300,
      200,
      100,
      0,
    ]);
    assert.deepEqual(spacedTimesteps(1000, 4, "linspace"), [999, 666, 333, 0]);
    assert.deepEqual(spacedTimesteps(1000, 4, "trailing"), [999, 749, 499, 249]);
    assert.throws(
      () => spacedTimesteps(1000, 0, "leading"),
      /inference steps 0 must be an integer in 1\.\.1000/,
    );
    assert.throws(() => new DdpmSampler().plan(1001), /inference steps 1001/);
  });
});

Deno.test("CPU samplers match the golden diffusers files", async (t) => {
  await t.step("DDPM: schedule, timesteps, add_noise, every step of the trajectory", async () => {
    const rows = await parityDdpm(DDPM);
    assertRows(rows);
    assert.ok(rows.some((r) => r.name === "traj_prev_sample_9"));
    assert.ok(rows.some((r) => r.name === "timesteps_1000"));
    console.log(
      `    DDPM: add_noise ${
        rows.find((r) => r.name === "add_noise_out")!.error.toExponential(2)
      }, ` +
        `pred_original_sample ${
          worst(rows, /^traj_pred_original_sample_\d+$/).toExponential(2)
        }, ` +
        `prev_sample ${worst(rows, /^traj_prev_sample_\d+$/).toExponential(2)}`,
    );
  });

  await t.step("DDIM: schedule, timesteps, 10- and 50-step trajectories", async () => {
    const rows = await parityDdim(DDIM);
    assertRows(rows);
    assert.ok(rows.some((r) => r.name === "traj50_prev_sample_49"));
    console.log(
      `    DDIM: pred_original_sample ${
        worst(rows, /pred_original_sample_\d+$/).toExponential(2)
      }, ` +
        `prev_sample ${worst(rows, /prev_sample_\d+$/).toExponential(2)}`,
    );
  });

  await t.step(
    "the float64 schedule also stays within 1e-5 of the golden trajectories",
    async () => {
      const rows = [
        ...await parityDdpm(DDPM, { precision: "float64" }),
        ...await parityDdim(DDIM, { precision: "float64" }),
      ];
      assertRows(rows);
      console.log(
        `    float64 schedule: worst step ${worst(rows, /sample_\d+$/).toExponential(2)}`,
      );
    },
  );
});

/** DDIM step exactly as diffusers writes it (float64), for eta > 0 and use_clipped_model_output. */
function diffusersDdimStep(
  s: NoiseSchedule,
  n: number,
  t: number,
  x: Float32Array,
  eps: Float32Array,
  eta: number,
  noise: Float32Array,
  useClipped: boolean,
): Float32Array {
  const prev = t - Math.floor(1000 / n);
  const abT = s.alphasCumprod[t];
  const abP = prev >= 0 ? s.alphasCumprod[prev] : 1;
  const bT = 1 - abT;
  const variance = ((1 - abP) / bT) * (1 - abT / abP);
  const std = eta * variance ** 0.5;
  return x.map((xi, i) => {
    let x0 = (xi - bT ** 0.5 * eps[i]) / abT ** 0.5;
    x0 = Math.min(Math.max(x0, -1), 1);
    const e = useClipped ? (xi - abT ** 0.5 * x0) / bT ** 0.5 : eps[i];
    return abP ** 0.5 * x0 + (1 - abP - std ** 2) ** 0.5 * e + std * noise[i];
  });
}

/** DPM-Solver++ as diffusers writes it (float64 port of step / first / second order updates). */
function diffusersDpm(
  sampler: DpmSolverSampler,
  n: number,
  xT: Float32Array,
  model: (x: Float32Array, k: number) => Float32Array,
): Float32Array[] {
  const ts = sampler.timesteps(n);
  const sigmas = sampler.sigmas(ts);
  const at = (sig: number) => {
    const alpha = 1 / (sig ** 2 + 1) ** 0.5;
    return [alpha, sig * alpha];
  };
  const outs: (Float32Array | null)[] = [null, null];
  let lowerOrderNums = 0;
  let x = xT;
  const result: Float32Array[] = [];
  for (let i = 0; i < n; i++) {
    const lowerOrderFinal = i === n - 1 &&
      ((sampler.lowerOrderFinal && n < 15) || sampler.finalSigmasType === "zero");
    const eps = model(x, i);
    const [aS, sS] = at(sigmas[i]);
    const m = x.map((xi, j) => (xi - sS * eps[j]) / aS);
    outs[0] = outs[1];
    outs[1] = m;
    const [alphaT, sigmaT] = at(sigmas[i + 1]);
    const lambdaT = Math.log(alphaT) - Math.log(sigmaT);
    const lambdaS0 = Math.log(aS) - Math.log(sS);
    const h = lambdaT - lambdaS0;
    if (sampler.solverOrder === 1 || lowerOrderNums < 1 || lowerOrderFinal) {
      x = x.map((xi, j) => (sigmaT / sS) * xi - alphaT * (Math.exp(-h) - 1) * m[j]);
    } else {
      const [aS1, sS1] = at(sigmas[i - 1]);
      const lambdaS1 = Math.log(aS1) - Math.log(sS1);
      const r0 = (lambdaS0 - lambdaS1) / h;
      const m1 = outs[0]!;
      x = x.map((xi, j) => {
        const d1 = (1 / r0) * (m[j] - m1[j]);
        return (sigmaT / sS) * xi - alphaT * (Math.exp(-h) - 1) * m[j] -
          0.5 * (alphaT * (Math.exp(-h) - 1)) * d1;
      });
    }
    if (lowerOrderNums < sampler.solverOrder) lowerOrderNums++;
    result.push(x);
  }
  return result;
}

Deno.test("CPU samplers without golden files", async (t) => {
  const xT = philoxNormal({ seed: 3 }, 256);
  const randomEps = (k: number) => philoxNormal({ seed: 11, stream: k }, 256);

  await t.step("DPM-Solver++ defaults: linspace timesteps and diffusers' update formulas", () => {
    const dpm = new DpmSolverSampler();
    assert.equal(dpm.timestepSpacing, "linspace");
    assert.deepEqual(dpm.timesteps(10), [999, 899, 799, 699, 599, 500, 400, 300, 200, 100]);
    assert.deepEqual(
      dpm.timesteps(25).slice(10, 16),
      [599, 559, 519, 480, 440, 400],
    );
    for (
      const [s, n] of [
        [dpm, 10],
        [dpm, 20],
        [new DpmSolverSampler({ betaSchedule: "squaredcos_cap_v2" }), 7],
        [new DpmSolverSampler({ finalSigmasType: "sigma_min" }), 20],
        [new DpmSolverSampler({ finalSigmasType: "sigma_min" }), 8],
        [new DpmSolverSampler({ solverOrder: 1 }), 6],
      ] as const
    ) {
      const plan = s.plan(n);
      assert.equal(plan.multistep, s.solverOrder === 2);
      const ours = sampleCpu(plan, xT, (x, _t, k) => standInModel(x, k));
      const ref = diffusersDpm(s, n, xT, (x, k) => standInModel(x, k));
      for (let k = 0; k < n; k++) {
        const e = relError(ours[k].prevSample, ref[k]);
        assert.ok(e < 1e-6, `${s.finalSigmasType} order ${s.solverOrder} n=${n} step ${k}: ${e}`);
      }
    }
    // Second order everywhere but the first and (final sigma 0) last steps.
    const rows = dpm.plan(10).rows;
    assert.deepEqual(rows.map((r) => r.c !== 0), [false, ...Array(8).fill(true), false]);
    assert.deepEqual([rows[9].a, rows[9].b], [0, 1]);
  });

  await t.step("DDIM eta > 0 and use_clipped_model_output follow diffusers' formula", () => {
    for (const useClippedModelOutput of [false, true]) {
      const s = new DdimSampler({
        betaSchedule: "squaredcos_cap_v2",
        eta: 0.7,
        useClippedModelOutput,
      });
      const plan = s.plan(8);
      assert.ok(plan.noisy);
      let x = xT;
      plan.rows.forEach((row, k) => {
        const eps = randomEps(k);
        const noise = philoxNormal({ seed: 5, stream: k, domain: NoiseDomain.step }, 256);
        const ours = stepCpu(row, { x, eps, noise }).prevSample;
        const ref = diffusersDdimStep(
          s.schedule,
          8,
          row.t,
          x,
          eps,
          0.7,
          noise,
          useClippedModelOutput,
        );
        const e = relError(ours, ref);
        assert.ok(e < 1e-6, `clipped=${useClippedModelOutput} step ${k}: ${e}`);
        x = ours;
      });
    }
  });

  await t.step("exact model output leads deterministic samplers to x0", () => {
    // eps = (x - sqrt(ab) x0) / sqrt(1 - ab) is the true noise for a fixed clean x0.
    const x0 = philoxNormal({ seed: 8 }, 256).map((v) => v * 0.3);
    for (
      const s of [
        new DpmSolverSampler(),
        new DdimSampler({ clipSample: false }),
        new DpmSolverSampler({ betaSchedule: "squaredcos_cap_v2" }),
      ]
    ) {
      const plan = s.plan(12);
      const ac = s.schedule.alphasCumprod;
      const eps = (x: Float32Array, t: number) =>
        x.map((v, i) => (v - Math.sqrt(ac[t]) * x0[i]) / Math.sqrt(1 - ac[t]));
      const out = sampleCpu(plan, xT, (x, t) => eps(x, t));
      const e = relError(out[out.length - 1].prevSample, x0);
      assert.ok(e < 1e-5, `${s.name}: ${e}`);
    }
  });

  await t.step("add_noise and step input checks", () => {
    const s = makeSchedule();
    const out = addNoise(s, new Float32Array([1, 2]), new Float32Array([0, 0]), [999]);
    assert.ok(Math.abs(out[1] - 2 * Math.sqrt(s.alphasCumprod[999])) < 1e-7);
    assert.throws(
      () => addNoise(s, new Float32Array(3), new Float32Array(3), [0, 1]),
      /Add noise needs matching sizes/,
    );
    const plan = new DdpmSampler().plan(10);
    assert.throws(
      () => stepCpu(plan.rows[0], { x: new Float32Array(4), eps: new Float32Array(4) }),
      /Step needs noise/,
    );
  });
});

Deno.test("GPU sampler step and add_noise", async (t) => {
  const gpu = await Gpu.create();
  const ddpmSt = await loadSafetensors(DDPM);

  /** Records a trajectory and copies x / x0 after every step into history tensors. */
  async function runGpu(
    plan: SamplerPlan,
    xT: Float32Array,
    eps: Float32Array[],
    noise: (p: ReturnType<Gpu["program"]>, k: number, out: Tensor) => void,
    epsStride = xT.length,
    perSample = xT.length,
  ): Promise<{ x: Float32Array[]; x0: Float32Array[] }> {
    const n = plan.numSteps;
    const size = xT.length;
    const sampler = await GpuSampler.create(gpu, plan);
    const x = gpu.upload(xT, [size], "x");
    const x0 = gpu.tensor([size], "x0");
    const epsAll = gpu.upload(
      Float32Array.from(eps.flatMap((e) => [...e])),
      [n, eps[0].length],
      "eps",
    );
    const noiseT = gpu.tensor([size], "noise");
    const histX = gpu.tensor([n, size], "hist_x");
    const histX0 = gpu.tensor([n, size], "hist_x0");
    const p = gpu.program("trajectory");
    for (let k = 0; k < n; k++) {
      if (plan.rows[k].s !== 0) noise(p, k, noiseT);
      sampler.record(p, k, {
        x,
        x0,
        eps: epsAll.slice(k * eps[0].length, [eps[0].length]),
        noise: plan.rows[k].s !== 0 ? noiseT : undefined,
        epsStride,
        perSample,
      });
      p.copy(x, histX.slice(k * size, [size]));
      p.copy(x0, histX0.slice(k * size, [size]));
    }
    gpu.submit(p);
    const [hx, hx0] = await gpu.read(histX, histX0);
    return {
      x: Array.from({ length: n }, (_, k) => hx.slice(k * size, (k + 1) * size)),
      x0: Array.from({ length: n }, (_, k) => hx0.slice(k * size, (k + 1) * size)),
    };
  }

  await t.step("DDPM trajectory with the stored noise matches the golden file", async () => {
    const st = ddpmSt;
    const plan = new DdpmSampler({ betaSchedule: "squaredcos_cap_v2", precision: "float32" }).plan(
      10,
    );
    const eps = plan.rows.map((_, k) => st.float32(`traj_model_output_${k}`));
    const gpuOut = await runGpu(plan, st.float32("traj_x_T"), eps, (p, k, out) => {
      // Upload step k's stored noise into the noise tensor before the step (queued in order).
      const src = gpu.upload(st.float32(`traj_noise_${k}`), [out.size], `noise_${k}`);
      p.copy(src, out);
    });
    let e = 0;
    for (let k = 0; k < 10; k++) {
      e = Math.max(
        e,
        relError(gpuOut.x[k], st.float32(`traj_prev_sample_${k}`)),
        relError(gpuOut.x0[k], st.float32(`traj_pred_original_sample_${k}`)),
      );
    }
    console.log(`    GPU DDPM trajectory: worst step error ${e.toExponential(2)}`);
    assert.ok(e <= 1e-5, `GPU DDPM error ${e}`);
  });

  await t.step("DDIM (50 steps) on the GPU matches the golden file", async () => {
    const st = await loadSafetensors(DDIM);
    const plan = new DdimSampler({ betaSchedule: "squaredcos_cap_v2", precision: "float32" }).plan(
      50,
    );
    const eps = plan.rows.map((_, k) => st.float32(`traj50_model_output_${k}`));
    const gpuOut = await runGpu(plan, st.float32("traj50_x_T"), eps, () => {});
    let e = 0;
    for (let k = 0; k < 50; k++) {
      e = Math.max(
        e,
        relError(gpuOut.x[k], st.float32(`traj50_prev_sample_${k}`)),
        relError(gpuOut.x0[k], st.float32(`traj50_pred_original_sample_${k}`)),
      );
    }
    console.log(`    GPU DDIM trajectory: worst step error ${e.toExponential(2)}`);
    assert.ok(e <= 1e-5, `GPU DDIM error ${e}`);
  });

  await t.step(
    "DPM-Solver++ with strided eps and DDIM eta > 0 with GPU Philox noise equal the CPU",
    async () => {
      const N = 2, L = 128;
      const xT = philoxNormalBatch([{ seed: 1 }, { seed: 2 }], L);
      // DPM++ 2M: eps rows are [N, 2L] (learned-sigma layout); eps is the first L of each row.
      const dpmPlan = new DpmSolverSampler().plan(8);
      const wide = dpmPlan.rows.map((_, k) => philoxNormal({ seed: 40, stream: k }, N * 2 * L));
      const narrow = wide.map((w) =>
        Float32Array.from({ length: N * L }, (_, i) => w[Math.floor(i / L) * 2 * L + (i % L)])
      );
      const g1 = await runGpu(dpmPlan, xT, wide, () => {}, 2 * L, L);
      const c1 = sampleCpu(dpmPlan, xT, (_x, _t, k) => narrow[k]);
      // DDIM eta = 1 with noise from the GPU Philox kernel, stream = step index.
      const keys = [{ seed: 77, domain: NoiseDomain.step }, { seed: 78, domain: NoiseDomain.step }];
      const ddimPlan = new DdimSampler({ eta: 1 }).plan(8);
      const noiseGen = await GpuNoise.create(gpu);
      const rows = uploadRowTable(gpu, philoxRowTable(keys));
      const g2 = await runGpu(
        ddimPlan,
        xT,
        narrow,
        (p, k, out) => noiseGen.record(p, { rows, out, stream: k }),
      );
      const c2 = sampleCpu(
        ddimPlan,
        xT,
        (_x, _t, k) => narrow[k],
        (k) => philoxNormalBatch(keys.map((key) => ({ ...key, stream: k })), L),
      );
      let e = 0;
      for (let k = 0; k < 8; k++) {
        e = Math.max(
          e,
          relError(g1.x[k], c1[k].prevSample),
          relError(g1.x0[k], c1[k].predOriginalSample),
          relError(g2.x[k], c2[k].prevSample),
          relError(g2.x0[k], c2[k].predOriginalSample),
        );
      }
      console.log(`    GPU vs CPU (DPM++ 2M, DDIM eta 1): ${e.toExponential(2)}`);
      assert.ok(e <= 1e-5, `GPU vs CPU error ${e}`);
    },
  );

  await t.step(
    "a sample size that is not a multiple of 4 (the scalar kernel) equals the CPU",
    async () => {
      // 2 samples of 6 values, eps rows of 32 (first 6 used; each step's eps then starts on a
      // 256-byte binding boundary): main, not main4.
      const N = 2, L = 6, stride = 32;
      const xT = philoxNormalBatch([{ seed: 5 }, { seed: 6 }], L);
      // DDIM uses every coefficient but c and s; DPM-Solver++ 2M uses c.
      for (const plan of [new DdimSampler().plan(6), new DpmSolverSampler().plan(6)]) {
        const wide = plan.rows.map((_, k) => philoxNormal({ seed: 41, stream: k }, N * stride));
        const narrow = wide.map((w) =>
          Float32Array.from({ length: N * L }, (_, i) => w[Math.floor(i / L) * stride + (i % L)])
        );
        const g = await runGpu(plan, xT, wide, () => {}, stride, L);
        const c = sampleCpu(plan, xT, (_x, _t, k) => narrow[k]);
        let e = 0;
        for (let k = 0; k < plan.numSteps; k++) {
          e = Math.max(
            e,
            relError(g.x[k], c[k].prevSample),
            relError(g.x0[k], c[k].predOriginalSample),
          );
        }
        assert.ok(e <= 1e-5, `${plan.sampler}: GPU vs CPU error ${e}`);
      }
    },
  );

  await t.step("add_noise kernel matches the golden add_noise_out", async () => {
    const st = ddpmSt;
    const schedule = makeSchedule({ betaSchedule: "squaredcos_cap_v2", precision: "float32" });
    const op = await GpuAddNoise.create(gpu, schedule);
    const x0 = gpu.upload(st.float32("add_noise_x0"), [4, 256], "x0");
    const noise = gpu.upload(st.float32("add_noise_noise"), [4, 256], "noise");
    const tT = uploadTimesteps(gpu, st.numbers("add_noise_t"));
    const out = gpu.tensor([4, 256], "out");
    const p = gpu.program("add_noise");
    op.record(p, { x0, noise, t: tT, out });
    gpu.submit(p);
    const [o] = await gpu.read(out);
    const e = relError(o, st.float32("add_noise_out"));
    console.log(`    GPU add_noise: ${e.toExponential(2)}`);
    assert.ok(e <= 1e-5, `add_noise error ${e}`);
  });
});
