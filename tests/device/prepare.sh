#!/usr/bin/env bash
# Builds, on this machine, what a device-machine run carries (README: "Running on a real GPU"),
# in two folders that .git/info/exclude keeps out of git and deno.json out of fmt/lint/test:
#   .gl/   the Vulkan loader and glvnd debs that the NVIDIA Vulkan ICD needs (~0.4 MB)
#   .dev/  deno.xz (the Deno binary, ~30 MB), denodir/ (a DENO_DIR with the npm packages, minus the
#          emoji package's 82 MB of images), emoji32/ (the emoji set as
#          a 32x32 class-folder tree, for training there)
# Together ~60 MB of the 64 MiB a call may carry. Idempotent: rerun after changing dependencies.
set -euo pipefail
cd "$(dirname "$0")/../.."
for d in /.gl/ /.dev/; do grep -qxF "$d" .git/info/exclude || echo "$d" >>.git/info/exclude; done
mkdir -p .gl .dev
if ! compgen -G ".gl/*.deb" >/dev/null; then
  o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
  mkdir -p /tmp/amd64/partial
  apt-get "${o[@]}" update -qq
  (cd .gl && apt-get "${o[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
deno=(npx -y deno@2.9.6)
if [ ! -f .dev/deno.xz ]; then
  bin=$("${deno[@]}" eval 'console.log(Deno.execPath())')
  xz -T2 -6 -c "$bin" >.dev/deno.xz.tmp && mv .dev/deno.xz.tmp .dev/deno.xz
fi
# The npm packages into a private DENO_DIR, fetched from a copy without node_modules (here Deno
# would find them in ./node_modules and cache nothing; there it fills node_modules from DENO_DIR).
dev=$PWD/.dev
tmp=$(mktemp -d)
git clone -q . "$tmp/repo" && cp deno.json deno.lock "$tmp/repo/" 2>/dev/null || true
(cd "$tmp/repo" && DENO_DIR=$dev/denodir "${deno[@]}" cache mod.ts src/cli/*.ts src/server/*.ts \
  tests/*.ts tests/bench/*.ts >/dev/null 2>&1)
rm -rf "$tmp"
# What Deno rebuilds by itself, and the images: the carry limit is 64 MiB.
rm -rf .dev/denodir/npm/registry.npmjs.org/emoji-datasource-google/*/img .dev/denodir/gen \
  .dev/denodir/*_cache_v2*
[ -d .dev/emoji32 ] || XDG_RUNTIME_DIR=/tmp "${deno[@]}" run -A tests/device/export_emoji.ts .dev/emoji32
du -sh .gl .dev .dev/*
echo "carried in all (with the tracked files): $(( ($(du -sk .gl .dev | awk '{s += $1} END {print s}') + \
  $(git ls-files -z | xargs -0 du -ck 2>/dev/null | tail -1 | cut -f1)) / 1024 )) MiB of 64"
