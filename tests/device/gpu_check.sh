#!/usr/bin/env bash
# One device-machine run (README: "Running on a real GPU"), prepared by tests/device/prepare.sh:
# sets up from the carried .gl/ and .dev/, then runs, each under its own time limit and logged to
# $OUT: the adapter probe, the buffer matmul with 64x64 and 128x128 tiles (bench:tiles), the test
# suite, the golden parity, bench:engine against PyTorch on CUDA, the per-kernel profile of a
# DiT-S/2 training step and of a small-preset forward, bench:serve and a short training run on
# the emoji set. At most ~9.5 minutes with the default limits (seconds, from the environment:
# TILES_S TEST_S ENGINE_S PROFILE_S SERVE_S TRAIN_S). LOCAL=1 runs it on this machine (no dpkg,
# the npx Deno) to check the script itself.
set -u
T0=$(date +%s)
step() { echo "=== [$(($(date +%s) - T0)) s] $*"; }
OUT=${OUT:-/tmp/gpu_check_out}
mkdir -p "$OUT"
if [ -z "${LOCAL:-}" ]; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
  icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  if [ -f $icd ] && ! ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* >/dev/null 2>&1; then
    export VK_DRIVER_FILES=$icd
  fi
  mkdir -p /tmp/bin && xz -dc -T8 .dev/deno.xz >/tmp/bin/deno && chmod +x /tmp/bin/deno
  export DENO_DIR=$PWD/.dev/denodir
  nvidia-smi -L
  deno=/tmp/bin/deno
else
  deno=$(npx -y deno@2.9.6 eval 'console.log(Deno.execPath())')
fi
export XDG_RUNTIME_DIR=/tmp NO_COLOR=1

step "adapter"
timeout 60 "$deno" eval 'const a = await navigator.gpu.requestAdapter();
console.log(a ? `${a.info.vendor} ${a.info.architecture} ${a.info.description}` : "no adapter");' 2>&1

step "bench:tiles: the buffer matmul with 64x64, 128x128 and per-product tiles"
timeout "${TILES_S:-60}" "$deno" run -A tests/bench/buffer_tiles.ts >"$OUT/tiles.log" 2>&1
echo "tiles rc $?"
grep -v "^{" "$OUT/tiles.log" | tail -14

step "tests (the two that read the emoji PNGs fail there: the images are not carried)"
DENO_JOBS=8 timeout "${TEST_S:-130}" "$deno" test -A --no-check --parallel tests/ >"$OUT/test.log" 2>&1
echo "test rc $?"
grep -E "FAILED|passed|failed" "$OUT/test.log" | tail -12

step "golden parity"
for f in dit_official_small dit_seed_small; do
  timeout 60 "$deno" run -A src/cli/parity.ts "tests/golden/$f.safetensors" 2>&1 | tail -1
done

step "bench:engine against PyTorch CUDA (FP32, TF32 off)"
timeout "${ENGINE_S:-90}" "$deno" run -A tests/bench/engine.ts --python python3 --peer-device cuda \
  --peak 67000 --inner-scale 20 --reps 5 >"$OUT/engine.log" 2>&1
echo "engine rc $?"
grep -v "^{" "$OUT/engine.log" | tail -12

step "profile: DiT-S/2 training step at batch 8, small-preset forward at batch 32"
timeout "${PROFILE_S:-35}" "$deno" run -A tests/bench/profile.ts --model DiT-S/2 --train --batch 8 \
  --top 15 >"$OUT/profile.log" 2>&1
timeout "${PROFILE_S:-35}" "$deno" run -A tests/bench/profile.ts --model small --batch 32 --top 10 \
  >>"$OUT/profile.log" 2>&1
echo "profile rc $?"
cut -c1-110 "$OUT/profile.log"

step "bench:serve"
timeout "${SERVE_S:-70}" "$deno" run -A tests/bench/serve.ts --denoiser src/server/gpu_denoiser.ts \
  --duration 2 >"$OUT/serve.log" 2>&1
echo "serve rc $?"
grep -v "^{" "$OUT/serve.log" | tail -12

step "training: small preset on the emoji set, batch 64 (stopped by SIGINT at TRAIN_S)"
data=.dev/emoji32
[ -d $data ] || data=emoji
timeout -s INT "${TRAIN_S:-40}" "$deno" run -A src/cli/train.ts --data $data --steps 3000 --batch 64 \
  --sample-every 0 --val-every 500 --ckpt-every 1000 --log-every 50 --out /tmp/gpu_check_run \
  >"$OUT/train.log" 2>&1
echo "train rc $?"
tail -3 "$OUT/train.log" | cut -c1-200
cp /tmp/gpu_check_run/loss.png /tmp/gpu_check_run/metrics.jsonl "$OUT/" 2>/dev/null
step "done"
