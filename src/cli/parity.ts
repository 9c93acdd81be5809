/**
 * `deno task parity <file.safetensors>`: compares the engine against a golden file computed by
 * the upstream PyTorch code (kind read from the file's metadata). Prints one line per tensor:
 * name and max|ours - ref| / max|ref|. Exit 0 when all pass, 1 when one exceeds its limit,
 * 2 for a kind not supported yet.
 */
import { Gpu } from "../gpu/gpu.ts";
import { loadSafetensors } from "../io/safetensors.ts";
import { ditKind, parityDit, type ParityRow } from "../model/parity.ts";
import { parityDdim, parityDdpm } from "../diffusion/parity.ts";
import { vaeParityCli } from "../vae/parity.ts";

const HELP = `Usage: deno task parity <golden.safetensors>

Compares the engine with a golden file computed by the upstream PyTorch code (tests/golden/):
the kind (official DiT, the seed's dit.py, diffusers DDPM/DDIM, AutoencoderKL) is read from the
file's metadata. Prints max|ours - ref| / max|ref| per tensor. Limits: 1e-4 for outputs and
activations, 1e-3 for gradients, 1e-5 for schedulers. Exit 0 when all pass, 1 when one fails.

  -h, --help    show this help`;

async function main(args: string[]): Promise<number> {
  if (args.length === 1 && (args[0] === "--help" || args[0] === "-h")) {
    console.log(HELP);
    return 0;
  }
  if (args.length !== 1 || args[0].startsWith("-")) {
    console.error(HELP);
    return 2;
  }
  const path = args[0];
  const st = await loadSafetensors(path);
  const ctor = Object.hasOwn(st.metadata, "constructor") ? st.metadata["constructor"] : "";
  let rows: ParityRow[];
  let kind: string;
  if (ditKind(st)) {
    kind = `${ditKind(st)} DiT`;
    const gpu = await Gpu.create();
    console.log(`adapter: ${gpu.info.description} (matmul kernels: ${gpu.info.matmul})`);
    rows = await parityDit(gpu, st);
  } else if (ctor.startsWith("DDPMScheduler")) {
    kind = "DDPM scheduler";
    rows = await parityDdpm(path);
  } else if (ctor.startsWith("DDIMScheduler")) {
    kind = "DDIM scheduler";
    rows = await parityDdim(path);
  } else if (st.metadata.model_config?.includes("down_block_types")) {
    ({ kind, rows } = await vaeParityCli(st));
  } else {
    console.log(`${path}: unknown golden kind: not supported yet`);
    return 2;
  }
  console.log(`${path}: ${kind}, ${rows.length} tensors`);
  const width = Math.max(...rows.map((r) => r.name.length));
  let failed = 0;
  for (const r of rows) {
    const ok = r.error <= r.limit;
    if (!ok) failed++;
    console.log(
      `${r.name.padEnd(width)}  ${r.error.toExponential(3)}  ${
        ok ? "ok" : `FAIL (limit ${r.limit})`
      }`,
    );
  }
  const worst = rows.reduce(
    (a, r) => (r.error / (r.limit || 1) > a.error / (a.limit || 1) ? r : a),
    rows[0],
  );
  console.log(
    failed
      ? `${failed} of ${rows.length} tensors over their limit`
      : `all ${rows.length} within limits (worst: ${worst.name} ${worst.error.toExponential(2)})`,
  );
  return failed ? 1 : 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    console.error(`parity: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
