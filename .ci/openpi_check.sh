#!/usr/bin/env bash
# openpi compatibility: the unmodified openpi-client from PyPI (in a virtual environment) against
# `deno task serve` serving a test policy written on the fly. Exits non-zero when any check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
DENO="npx -y deno@2.9.6"
VENV=${OPENPI_CLIENT_VENV:-/tmp/openpi-client-venv}
WORK=$(mktemp -d /tmp/openpi-check.XXXXXX)
SERVER_PID=""

cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "openpi check: installing openpi-client into $VENV"
PY="$VENV/bin/python"
if ! [ -x "$PY" ] && ! python3 -m venv "$VENV"; then
  echo "openpi check: no venv module, installing into the user site instead"
  PY=python3
fi
PIP_FLAGS=(-q --disable-pip-version-check)
if [ "$PY" = python3 ]; then PIP_FLAGS+=(--user); fi
# openpi-client 0.1.2 imports typing_extensions without declaring it.
"$PY" -m pip install "${PIP_FLAGS[@]}" openpi-client numpy typing_extensions
"$PY" -m pip show openpi-client websockets | grep -E '^(Name|Version)' | paste - - | sed 's/^/  /'

$DENO run -A examples/make_test_policy.ts --out "$WORK/policy" --size tiny
# The serve task's command, run by the deno binary itself so that the process id is the server's.
DENO_BIN=$($DENO eval 'console.log(Deno.execPath())')
"$DENO_BIN" run -A src/server/main.ts --host 127.0.0.1 --port 0 --ckpt "$WORK/policy" --seed 0 \
  --token ci-key >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!

URL=""
for _ in $(seq 1 240); do
  URL=$(grep -o 'Listening on http://[0-9.:]*' "$WORK/serve.log" | head -1 | cut -d' ' -f3 || true)
  if [ -n "$URL" ] && curl -sf "$URL/healthz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
  sleep 0.5
done
if [ -z "$URL" ] || ! curl -sf "$URL/healthz" >/dev/null 2>&1; then
  echo "openpi check FAILED: the server did not become healthy" >&2
  cat "$WORK/serve.log" >&2
  exit 1
fi
PORT=${URL##*:}
echo "openpi check: server at $URL"

status=0
"$PY" tests/python/openpi_client_check.py --port "$PORT" --api-key ci-key || status=$?
if [ "$status" -eq 0 ]; then
  "$PY" examples/openpi_robot_loop.py --port "$PORT" --api-key ci-key \
    --episodes 1 --steps 16 || status=$?
fi
if [ "$status" -ne 0 ]; then
  echo "--- server log ---" >&2
  cat "$WORK/serve.log" >&2
  echo "openpi check FAILED" >&2
  exit "$status"
fi
echo "openpi check: PASSED (openpi-client from PyPI against deno task serve)"
