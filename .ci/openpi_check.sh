#!/usr/bin/env bash
# openpi compatibility: the unmodified openpi-client from PyPI (in a virtual environment) against
# `deno task serve` serving a test policy written on the fly. Exits non-zero when any check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
CHECK_NAME="openpi check"
. .ci/lib/policy_server.sh

# openpi-client 0.1.2 imports typing_extensions without declaring it.
ci_venv "${OPENPI_CLIENT_VENV:-/tmp/openpi-client-venv}" openpi-client numpy typing_extensions
"$PY" -m pip show openpi-client websockets | grep -E '^(Name|Version)' | paste - - | sed 's/^/  /'

ci_serve_test_policy --seed 0 --token ci-key

"$PY" tests/python/openpi_client_check.py --port "$PORT" --api-key ci-key ||
  ci_fail "tests/python/openpi_client_check.py"
"$PY" examples/openpi_robot_loop.py --port "$PORT" --api-key ci-key --episodes 1 --steps 16 ||
  ci_fail "examples/openpi_robot_loop.py"
echo "openpi check: PASSED (openpi-client from PyPI against deno task serve)"
