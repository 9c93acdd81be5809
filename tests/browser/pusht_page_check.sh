#!/usr/bin/env bash
# Optional browser check of the Push-T page (not part of `deno task test`; needs Chromium:
# `apt-get install -y chromium`). Serves a Push-T-shaped test policy, opens /pusht in headless
# Chromium from a fixed start twice, screenshotting after EARLY and LATE ms of virtual time, and
# checks that the pusher was drawn in both and moved between them (the policy drove MuJoCo in the
# page over the websocket). Screenshots are kept in $OUT_DIR (default /tmp/pusht-page-check).
#
#   tests/browser/pusht_page_check.sh            # EARLY=2000 LATE=15000 MIN_PX=5
set -euo pipefail
cd "$(dirname "$0")/../.."
CHECK_NAME="pusht page check"
. .ci/lib/policy_server.sh
EARLY=${EARLY:-2000}
LATE=${LATE:-15000}
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
shot() {
  "$CHROMIUM" --headless=new --no-sandbox --disable-gpu --window-size=1200,900 \
    --virtual-time-budget="$1" --screenshot="$2" "$URL/pusht?realtime=1&start=$START" 2>"$CI_WORK/chromium.log" ||
    { cat "$CI_WORK/chromium.log" >&2; ci_fail "chromium exited non-zero"; }
  [ -s "$2" ] || ci_fail "chromium wrote no screenshot $2"
  echo "$CHECK_NAME: $2 after $1 ms of virtual time"
}
# Virtual time jumps ahead whenever the page has nothing but a websocket to wait for, so the
# page runs in real-time mode (ticks go on, holding the last target, while a chunk is on its way):
# the ticks' own work lets the answers arrive within the budget.
shot "$EARLY" "$OUT_DIR/early.png"
shot "$LATE" "$OUT_DIR/late.png"
$DENO run -A tests/browser/pusher_moved.ts "$OUT_DIR/early.png" "$OUT_DIR/late.png" \
  --min-px "${MIN_PX:-5}" || ci_fail "the pusher did not move between the screenshots"
echo "$CHECK_NAME: PASSED"
