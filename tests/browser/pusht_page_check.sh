#!/usr/bin/env bash
# Optional browser check of the Push-T page (not part of `deno task test`; needs Chromium:
# `apt-get install -y chromium`). Serves a Push-T-shaped test policy, opens /pusht in headless
# Chromium from a fixed start and screenshots it EARLY and LATE ms (real time, over the DevTools
# protocol: page_shots.ts) after the page starts running, then checks by colour that the pusher
# was drawn in both and moved between them (pusher_moved.ts): the policy drove MuJoCo in the page
# over the websocket. Screenshots are kept in $OUT_DIR (default /tmp/pusht-page-check).
#
#   tests/browser/pusht_page_check.sh            # EARLY=0 LATE=6000 MIN_PX=5
set -euo pipefail
cd "$(dirname "$0")/../.."
CHECK_NAME="pusht page check"
. .ci/lib/policy_server.sh
EARLY=${EARLY:-0}
LATE=${LATE:-6000}
OUT_DIR=${OUT_DIR:-/tmp/pusht-page-check}
# Pusher left of the block, the block off the goal: the first pushes are easy to see.
START=${START:-150,300,250,300,0.4}
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if [ -z "$CHROMIUM" ]; then
  echo "$CHECK_NAME: no chromium (apt-get install -y chromium)" >&2
  exit 2
fi
mkdir -p "$OUT_DIR"

ci_serve_test_policy --seed 0
$DENO run -A tests/browser/page_shots.ts --chromium "$CHROMIUM" --out "$OUT_DIR" \
  --url "$URL/pusht?start=$START" --early "$EARLY" --late "$LATE" ||
  ci_fail "no screenshots (tests/browser/page_shots.ts)"
$DENO run -A tests/browser/pusher_moved.ts "$OUT_DIR/early.png" "$OUT_DIR/late.png" \
  --min-px "${MIN_PX:-5}" || ci_fail "the pusher did not move between the screenshots"
echo "$CHECK_NAME: PASSED"
