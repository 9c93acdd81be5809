import assert from "node:assert/strict";
import { Gpu } from "../src/gpu/gpu.ts";
import {
  boxMuller,
  cosSinTurns,
  logU24,
  NoiseDomain,
  type NoiseKey,
  philox4x32,
  philoxBits,
  philoxNormal,
  philoxNormalBatch,
  philoxRowTable,
  seedWords,
} from "../src/util/philox.ts";
import { asU32, GpuNoise, uploadRowTable } from "../src/ops/philox_normal.ts";

const hex = (a: ArrayLike<number>) =>
  Array.from(a, (v) => v.toString(16).padStart(8, "0")).join(" ");

Deno.test("philox CPU", async (t) => {
  await t.step("Random123 known answers for Philox4x32-10", () => {
    assert.equal(hex(philox4x32([0, 0, 0, 0], [0, 0])), "6627e8d5 e169c58d bc57ac4c 9b00dbd8");
    const ff = 0xffffffff;
    assert.equal(
      hex(philox4x32([ff, ff, ff, ff], [ff, ff])),
      "408f276d 41c83b0e a20bc7c6 6d5451fd",
    );
    assert.equal(
      hex(philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0])),
      "d16cfe09 94fdcceb 5001e420 24126ea1",
    );
  });

  await t.step("layout: element i is lane i % 4 of block i / 4", () => {
    const key: NoiseKey = { seed: 0x1234_5678_9abcn, stream: 7, domain: NoiseDomain.step };
    const bits = philoxBits(key, 10);
    const [lo, hi] = seedWords(0x1234_5678_9abcn);
    assert.deepEqual([lo, hi], [0x56789abc, 0x1234]);
    assert.deepEqual([...bits.subarray(4, 8)], [...philox4x32([1, 0, 7, 1], [lo, hi])]);
    const z = philoxNormal(key, 10);
    const b = philox4x32([2, 0, 7, 1], [lo, hi]);
    assert.deepEqual([z[8], z[9]], boxMuller(b[0], b[1]));
    // Any window of a row equals the same slice of the whole row.
    assert.deepEqual([...philoxNormal(key, 5, 3)], [...z.subarray(3, 8)]);
  });

  await t.step("portable ln / cos / sin polynomials are float32-accurate", () => {
    const ulp = (x: number) => {
      const f = new Float32Array([Math.abs(x)]);
      new Uint32Array(f.buffer)[0]++;
      return f[0] - Math.abs(Math.fround(x));
    };
    const ks = [1, 2, 3, 0xb504f3 >> 1, 0xb504f3, 0xb504f4, 1 << 23, (1 << 24) - 1, 1 << 24];
    const vs = [-0.5, -0.375, -0.25, -0.125, 0, 2 ** -24, 0.125, 0.25, 0.375, 0.5 - 2 ** -24];
    const words = philoxBits({ seed: 99 }, 20_000);
    for (let i = 0; i < words.length; i += 2) {
      ks.push((words[i] >>> 8) + 1);
      vs.push((words[i + 1] >>> 8) * 2 ** -24 - 0.5);
    }
    let worstLog = 0;
    for (const k of ks) {
      const exact = Math.log(k * 2 ** -24);
      worstLog = Math.max(worstLog, Math.abs(logU24(k) - exact) / (ulp(exact) || 2 ** -149));
    }
    let worstTrig = 0;
    for (const v of vs) {
      const [c, s] = cosSinTurns(v);
      worstTrig = Math.max(
        worstTrig,
        Math.abs(c - Math.cos(2 * Math.PI * v)),
        Math.abs(s - Math.sin(2 * Math.PI * v)),
      );
    }
    assert.ok(worstLog <= 2, `ln error ${worstLog} ulp`);
    assert.ok(worstTrig <= 2 ** -23, `cos/sin absolute error ${worstTrig}`);
    assert.equal(logU24(1 << 24), 0);
  });

  await t.step("mean and variance of 1e5 normals; streams and domains differ", () => {
    const z = philoxNormal({ seed: 42 }, 100_000);
    let m = 0;
    for (const v of z) m += v;
    m /= z.length;
    let v2 = 0;
    for (const v of z) v2 += (v - m) ** 2;
    v2 /= z.length;
    // Standard errors: mean 0.0032, variance 0.0045.
    assert.ok(Math.abs(m) < 0.015, `mean ${m}`);
    assert.ok(Math.abs(v2 - 1) < 0.02, `variance ${v2}`);
    assert.ok(z.every((x) => Number.isFinite(x) && Math.abs(x) <= 5.8));
    const a = philoxNormal({ seed: 42, stream: 1 }, 8);
    const b = philoxNormal({ seed: 42, domain: 1 }, 8);
    assert.notDeepEqual([...a], [...z.subarray(0, 8)]);
    assert.notDeepEqual([...b], [...z.subarray(0, 8)]);
  });

  await t.step("a row's noise does not depend on the batch", () => {
    const keys = [{ seed: 5 }, { seed: 9, stream: 2 }, { seed: 1n << 40n }];
    const batch = philoxNormalBatch(keys, 33);
    const alone = philoxNormalBatch([keys[1]], 33);
    assert.deepEqual([...batch.subarray(33, 66)], [...alone]);
  });
});

Deno.test("philox GPU matches the CPU bit for bit", async (t) => {
  const gpu = await Gpu.create();
  const noise = await GpuNoise.create(gpu);
  const keys: NoiseKey[] = [
    { seed: 0 },
    { seed: 42, stream: 3, domain: NoiseDomain.step },
    { seed: 0xffff_ffff_ffffn, domain: NoiseDomain.train },
  ];
  const L = 1001; // not a multiple of 4: exercises the tail block
  const rows = uploadRowTable(gpu, philoxRowTable(keys));
  const bits = gpu.tensor([keys.length, L], "bits");
  const normals = gpu.tensor([keys.length, L], "normals");
  const streamed = gpu.tensor([keys.length, L], "streamed");
  const p = gpu.program("philox");
  noise.record(p, { rows, out: bits, raw: true });
  noise.record(p, { rows, out: normals });
  noise.record(p, { rows, out: streamed, stream: 5 });
  gpu.submit(p);
  const [gBits, gNormals, gStreamed] = await gpu.read(bits, normals, streamed);

  await t.step("u32 words", () => {
    const cpu = new Uint32Array(keys.length * L);
    keys.forEach((k, n) => cpu.set(philoxBits(k, L), n * L));
    const g = asU32(gBits);
    let mismatches = 0;
    for (let i = 0; i < cpu.length; i++) if (g[i] !== cpu[i]) mismatches++;
    assert.equal(mismatches, 0);
  });

  await t.step("normals within 1e-6, stream offset added per row", () => {
    let worst = 0;
    let same = 0;
    for (const [g, stream] of [[gNormals, 0], [gStreamed, 5]] as const) {
      const cpu = philoxNormalBatch(
        keys.map((k) => ({ ...k, stream: (k.stream ?? 0) + stream })),
        L,
      );
      for (let i = 0; i < cpu.length; i++) {
        worst = Math.max(worst, Math.abs(g[i] - cpu[i]));
        if (g[i] === cpu[i]) same++;
      }
    }
    console.log(
      `    philox normals: max |gpu - cpu| = ${worst.toExponential(2)}, ` +
        `${same} of ${2 * keys.length * L} bit-identical`,
    );
    assert.ok(worst <= 1e-6, `max |gpu - cpu| = ${worst}`);
  });

  await t.step("a row's GPU noise does not depend on the batch", async () => {
    const alone = gpu.tensor([1, L], "alone");
    const p2 = gpu.program("philox-alone");
    noise.record(p2, { rows: uploadRowTable(gpu, philoxRowTable([keys[2]])), out: alone });
    const reordered = gpu.tensor([2, L], "reordered");
    noise.record(p2, {
      rows: uploadRowTable(gpu, philoxRowTable([keys[2], keys[0]])),
      out: reordered,
    });
    gpu.submit(p2);
    const [a, r] = await gpu.read(alone, reordered);
    const row2 = gNormals.subarray(2 * L, 3 * L);
    assert.deepEqual(asU32(a), asU32(row2.slice()));
    assert.deepEqual(asU32(r.slice(0, L)), asU32(row2.slice()));
    assert.deepEqual(asU32(r.slice(L)), asU32(gNormals.slice(0, L)));
  });

  await t.step("GPU mean and variance of 1e5 normals", async () => {
    const big = gpu.tensor([4, 25_000], "big");
    const p3 = gpu.program("philox-big");
    noise.record(p3, {
      rows: uploadRowTable(gpu, philoxRowTable([1, 2, 3, 4].map((s) => ({ seed: s })))),
      out: big,
    });
    gpu.submit(p3);
    const [z] = await gpu.read(big);
    let m = 0;
    for (const v of z) m += v;
    m /= z.length;
    let v2 = 0;
    for (const v of z) v2 += (v - m) ** 2;
    v2 /= z.length;
    assert.ok(Math.abs(m) < 0.015 && Math.abs(v2 - 1) < 0.02, `mean ${m}, variance ${v2}`);
  });
});
