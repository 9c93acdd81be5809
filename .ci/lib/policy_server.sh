#!/usr/bin/env bash
# Shared by the Python compatibility steps (.ci/openpi_check.sh, .ci/gym_pusht_check.sh): a virtual
# environment with pip packages, and `deno task serve` serving a freshly written test policy.
# Source it after `set -euo pipefail` and `cd` to the repository root, with CHECK_NAME set.
#
#   ci_venv DIR PKG...         installs PKG... into DIR (the user site when venv is missing); sets PY
#   ci_serve_test_policy ARGS  writes a tiny test policy, serves it on a free port with ARGS appended
#                              to the serve command; sets URL, PORT, SERVER_PID; stopped at exit
#   ci_fail MESSAGE            prints MESSAGE and the server log, exits 1

export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
DENO="npx -y deno@2.9.6"
CI_WORK=$(mktemp -d "/tmp/${CHECK_NAME// /-}.XXXXXX")
SERVER_PID=""
URL=""
PORT=""

ci_cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$CI_WORK"
}
trap ci_cleanup EXIT

ci_venv() {
  local venv=$1
  shift
  echo "$CHECK_NAME: installing $* into $venv"
  PY="$venv/bin/python"
  if ! [ -x "$PY" ] && ! python3 -m venv "$venv"; then
    echo "$CHECK_NAME: no venv module, installing into the user site instead"
    PY=python3
  fi
  local flags=(-q --disable-pip-version-check)
  if [ "$PY" = python3 ]; then flags+=(--user); fi
  "$PY" -m pip install "${flags[@]}" "$@"
}

ci_fail() {
  echo "--- server log ---" >&2
  cat "$CI_WORK/serve.log" >&2 2>/dev/null || true
  echo "$CHECK_NAME FAILED: $1" >&2
  exit 1
}

ci_serve_test_policy() {
  $DENO run -A examples/make_test_policy.ts --out "$CI_WORK/policy" --size tiny
  # The serve task's command, run by the deno binary itself so that the process id is the server's.
  local deno_bin
  deno_bin=$($DENO eval 'console.log(Deno.execPath())')
  "$deno_bin" run -A src/server/main.ts --host 127.0.0.1 --port 0 --ckpt "$CI_WORK/policy" "$@" \
    >"$CI_WORK/serve.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 240); do
    URL=$(grep -o 'Listening on http://[0-9.:]*' "$CI_WORK/serve.log" | head -1 | cut -d' ' -f3 ||
      true)
    if [ -n "$URL" ] && curl -sf "$URL/healthz" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
    sleep 0.5
  done
  if [ -z "$URL" ] || ! curl -sf "$URL/healthz" >/dev/null 2>&1; then
    ci_fail "the server did not become healthy"
  fi
  PORT=${URL##*:}
  echo "$CHECK_NAME: server at $URL"
}
