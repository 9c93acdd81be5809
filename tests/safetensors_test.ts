import assert from "node:assert/strict";
import {
  encodeSafetensors,
  f16ToF32,
  loadSafetensors,
  readSafetensors,
  writeSafetensorsAtomic,
} from "../src/io/safetensors.ts";
import { writeFileAtomic } from "../src/io/atomic.ts";

const golden = new URL("./golden/", import.meta.url);

/** Builds a file from a raw header object and data bytes. */
function rawFile(header: unknown, data: Uint8Array, headerLength?: number): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength ?? json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

Deno.test("safetensors", async (t) => {
  await t.step("round trip keeps dtypes, shapes, data, metadata and alignment", () => {
    const f = new Float32Array([1.5, -2, 3.25, 0, 1e-30, -7]);
    const i = new BigInt64Array([0n, -1n, 999n, 2n ** 40n]);
    const u = new Uint8Array([1, 2, 3]);
    const bytes = encodeSafetensors(
      {
        u8: { dtype: "U8", shape: [3], data: u },
        w: { dtype: "F32", shape: [2, 3], data: f },
        t: { dtype: "I64", shape: [4], data: i },
        empty: { dtype: "F32", shape: [0, 5], data: new Float32Array(0) },
      },
      { note: "hello", config: '{"a":1}' },
    );
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal((8 + n) % 8, 0, "data section starts 8-byte aligned");
    assert.equal(bytes[8 + n - 1] === 0x20 || bytes[8 + n - 1] === 0x7d, true);
    const st = readSafetensors(bytes);
    assert.deepEqual(st.metadata, { note: "hello", config: '{"a":1}' });
    assert.deepEqual(st.names().sort(), ["empty", "t", "u8", "w"]);
    assert.deepEqual(st.get("w"), { dtype: "F32", shape: [2, 3], data: f });
    assert.deepEqual([...st.float32("w")], [...f]);
    assert.deepEqual([...st.int64("t")], [...i]);
    assert.deepEqual(st.numbers("t"), [0, -1, 999, 2 ** 40]);
    assert.deepEqual([...(st.get("u8").data as Uint8Array)], [1, 2, 3]);
    assert.deepEqual(st.get("empty").shape, [0, 5]);
    for (const name of st.names()) {
      const info = st.info(name);
      const size = { F32: 4, I64: 8, U8: 1 }[info.dtype as "F32"];
      assert.equal((st.dataStart + info.dataOffsets[0]) % size, 0, `${name} aligned`);
    }
    assert.throws(() => st.float32("t"), /Tensor t has dtype I64, not a float type/);
    assert.throws(() => st.get("nope"), /No tensor named nope/);
  });

  await t.step("F16, BF16, I32 and unaligned F32 decode", () => {
    // F16: 1.0 = 0x3c00, -2.5 = 0xc100, smallest subnormal 0x0001, inf 0x7c00.
    const h = new Uint16Array([0x3c00, 0xc100, 0x0001, 0x7c00]);
    assert.deepEqual([...f16ToF32(h)], [1, -2.5, 2 ** -24, Infinity]);
    const bf = new Uint16Array([0x3f80, 0xc020]); // 1.0, -2.5
    const i32 = new Int32Array([-5, 7]);
    const f = new Float32Array([3.5]);
    const data = new Uint8Array(8 + 4 + 8 + 2 + 4);
    data.set(new Uint8Array(h.buffer), 0);
    data.set(new Uint8Array(bf.buffer), 8);
    data.set(new Uint8Array(i32.buffer), 12);
    data.set([0, 0], 20);
    data.set(new Uint8Array(f.buffer), 22); // unaligned on purpose
    const st = readSafetensors(rawFile({
      h: { dtype: "F16", shape: [4], data_offsets: [0, 8] },
      b: { dtype: "BF16", shape: [2], data_offsets: [8, 12] },
      i: { dtype: "I32", shape: [2], data_offsets: [12, 20] },
      f: { dtype: "F32", shape: [1], data_offsets: [22, 26] },
    }, data));
    assert.deepEqual([...st.float32("h")], [1, -2.5, 2 ** -24, Infinity]);
    assert.deepEqual([...st.float32("b")], [1, -2.5]);
    assert.deepEqual(st.numbers("i"), [-5, 7]);
    assert.deepEqual([...st.float32("f")], [3.5]);
  });

  await t.step("reads every golden file", async () => {
    let files = 0;
    for await (const e of Deno.readDir(golden)) {
      if (!e.name.endsWith(".safetensors")) continue;
      files++;
      const st = await loadSafetensors(new URL(e.name, golden));
      assert.ok(st.names().length > 0, e.name);
      assert.ok(typeof st.metadata.tensors === "string", `${e.name} has a tensors description`);
      assert.equal(st.dataStart % 8, 0, `${e.name} data aligned`);
      for (const name of st.names()) {
        const { dtype, shape, data } = st.get(name);
        assert.ok(dtype === "F32" || dtype === "I64", `${e.name}:${name} dtype ${dtype}`);
        assert.equal(data.length, shape.reduce((a, b) => a * b, 1));
        if (dtype === "F32") assert.ok(st.float32(name).every(Number.isFinite), `${name} finite`);
      }
      // Re-encoding gives the golden file byte for byte (same order, padding and alignment).
      const again = encodeSafetensors(
        Object.fromEntries(st.names().map((n) => [n, st.get(n)])) as never,
        st.metadata,
      );
      const orig = await Deno.readFile(new URL(e.name, golden));
      assert.ok(again.length === orig.length && again.every((v, i) => v === orig[i]), e.name);
    }
    assert.ok(files >= 5, `found ${files} golden files`);
    const ddpm = await loadSafetensors(new URL("ddpm_squaredcos.safetensors", golden));
    assert.deepEqual(ddpm.numbers("add_noise_t"), [0, 1, 500, 999]);
    assert.equal(ddpm.float32("betas")[999], Math.fround(0.999));
    assert.deepEqual(ddpm.get("traj_x_T").shape, [2, 4, 8, 8]);
  });

  await t.step("truncated and corrupt files give clear errors", async () => {
    const good = await Deno.readFile(new URL("ddpm_squaredcos.safetensors", golden));
    const n = Number(new DataView(good.buffer).getBigUint64(0, true));
    assert.throws(() => readSafetensors(good.subarray(0, 5)), /too short for a safetensors header/);
    assert.throws(() => readSafetensors(good.subarray(0, 100)), /header length 7136 exceeds/);
    // Cut inside the data section: the error names the first tensor that no longer fits.
    const st = readSafetensors(good);
    const last = st.names().reduce((a, b) =>
      st.info(a).dataOffsets[1] > st.info(b).dataOffsets[1] ? a : b
    );
    assert.throws(
      () => readSafetensors(good.subarray(0, good.length - 10)),
      new RegExp(
        `Tensor ${last}: data_offsets .* reach past the .*data section \\(file truncated\\?\\)`,
      ),
    );
    const bad = good.slice();
    bad[8] = 0x5b; // "[" instead of "{"
    bad[9] = 0x7b;
    assert.throws(() => readSafetensors(bad), /header is not valid UTF-8 JSON/);
    const huge = good.slice();
    new DataView(huge.buffer).setBigUint64(0, 2n ** 63n, true);
    assert.throws(() => readSafetensors(huge), /header length \d+ exceeds/);
    assert.ok(n > 0);
    const four = new Uint8Array(16);
    assert.throws(
      () =>
        readSafetensors(
          rawFile({ a: { dtype: "F32", shape: [2, 2], data_offsets: [0, 12] } }, four),
        ),
      /Tensor a: 12 data bytes, but F32 \[2,2\] needs 16/,
    );
    assert.throws(
      () =>
        readSafetensors(rawFile({
          a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
          b: { dtype: "F32", shape: [2], data_offsets: [4, 12] },
        }, four)),
      /Tensor b bytes \[4,12\] overlap tensor a bytes \[0,8\]/,
    );
    assert.throws(
      () =>
        readSafetensors(rawFile({ a: { dtype: "Q4", shape: [1], data_offsets: [0, 1] } }, four)),
      /Tensor a: unsupported dtype "Q4"/,
    );
    assert.throws(
      () =>
        readSafetensors(rawFile({ a: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, four)),
      /Tensor a: bad shape \[-1\]/,
    );
    assert.throws(
      () => readSafetensors(rawFile({ __metadata__: { a: 1 } }, four)),
      /__metadata__ value a is not a string/,
    );
    assert.throws(() => readSafetensors(rawFile([1, 2], four)), /header is not a JSON object/);
    await assert.rejects(
      () => loadSafetensors(new URL("./golden/README.md", import.meta.url)),
      /README\.md: Safetensors header length \d+ exceeds/,
    );
  });

  await t.step("atomic write replaces the file and leaves no temporary files", async () => {
    const dir = await Deno.makeTempDir({ prefix: "st_test_" });
    try {
      const path = `${dir}/a.safetensors`;
      await writeSafetensorsAtomic(path, {
        x: { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) },
      }, { v: "1" });
      await writeSafetensorsAtomic(path, {
        x: { dtype: "F32", shape: [3], data: new Float32Array([4, 5, 6]) },
      }, { v: "2" });
      const st = await loadSafetensors(path);
      assert.equal(st.metadata.v, "2");
      assert.deepEqual([...st.float32("x")], [4, 5, 6]);
      const names = [];
      for await (const e of Deno.readDir(dir)) names.push(e.name);
      assert.deepEqual(names, ["a.safetensors"]);
      // A failing rename (target is a non-empty directory) removes the temporary file.
      await Deno.mkdir(`${dir}/sub/inner`, { recursive: true });
      await assert.rejects(
        () => writeFileAtomic(`${dir}/sub`, new Uint8Array([1])),
        /Atomic write/,
      );
      const after = [];
      for await (const e of Deno.readDir(dir)) after.push(e.name);
      assert.deepEqual(after.sort(), ["a.safetensors", "sub"]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});
