#!/usr/bin/env bash
# gym-pusht compatibility: examples/gym_pusht_loop.py (gym-pusht 0.1.5 and openpi-client from PyPI,
# in a virtual environment) runs two episodes against `deno task serve` serving a Push-T-shaped
# test policy; the last line must be the evaluation JSON with 2 episodes. Exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
CHECK_NAME="gym-pusht check"
. .ci/lib/policy_server.sh
t0=$SECONDS

# gym-pusht pulls gymnasium, pymunk, pygame, opencv-python, shapely and scikit-image. It asks for
# pymunk >= 6.6 but calls Space.add_collision_handler, which pymunk 7 removed. openpi-client 0.1.2
# imports typing_extensions without declaring it.
ci_venv "${GYM_PUSHT_VENV:-/tmp/gym-pusht-venv}" gym-pusht==0.1.5 "pymunk>=6.6,<7" openpi-client \
  typing_extensions
"$PY" -m pip show gym-pusht pymunk gymnasium openpi-client | grep -E '^(Name|Version)' |
  paste - - | sed 's/^/  /'
echo "$CHECK_NAME: install took $((SECONDS - t0)) s"

ci_serve_test_policy --seed 0 --token ci-key

t1=$SECONDS
SDL_VIDEODRIVER=dummy "$PY" examples/gym_pusht_loop.py --port "$PORT" --api-key ci-key \
  --episodes 2 --seed 0 | tee "$CI_WORK/loop.log" || ci_fail "examples/gym_pusht_loop.py exited non-zero"
tail -n 1 "$CI_WORK/loop.log" | "$PY" -c '
import json, sys
r = json.loads(sys.stdin.read())
keys = ["episodes", "success_rate", "avg_max_reward", "p50_infer_ms", "p99_infer_ms", "late_ticks"]
missing = [k for k in keys if k not in r]
assert not missing, f"missing keys {missing}"
assert r["episodes"] == 2, ("expected 2 episodes", r)
assert 0 <= r["success_rate"] <= 1 and 0 <= r["avg_max_reward"] <= 1, r
assert r["p50_infer_ms"] > 0 and r["late_ticks"] == 0, r
' || ci_fail "the last line is not the expected evaluation JSON"
echo "$CHECK_NAME: PASSED in $((SECONDS - t0)) s (loop $((SECONDS - t1)) s)"
