#!/usr/bin/env python3
"""Compatibility check: the unmodified openpi-client from PyPI against `deno task serve`.

Run by .ci/openpi_check.sh against a served test policy (examples/make_test_policy.ts, the server
started with --seed 0 and --token). Exits non-zero on the first failed check.

    python3 tests/python/openpi_client_check.py --port 8000 --api-key ci-key
"""

import argparse
import sys

import numpy as np
from openpi_client import websocket_client_policy


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print(f"  ok: {what}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--api-key", default=None)
    args = ap.parse_args()

    connect = lambda key: websocket_client_policy.WebsocketClientPolicy(  # noqa: E731
        host=args.host, port=args.port, api_key=key
    )
    policy = connect(args.api_key)
    meta = policy.get_server_metadata()
    state_key = next(iter(meta["observation"]))
    D = meta["observation"][state_key]["shape"][0]
    H, A = meta["action"]["shape"]
    n_obs = meta["n_obs_steps"]
    check(meta["server"]["name"] == "dit-serve", f"metadata from {meta['server']}")
    check((H, A, n_obs, meta["n_action_steps"]) == (16, 2, 2, 8), "Push-T windows in metadata")
    check(meta["sampler"] and meta["steps"] > 0, f"sampler {meta['sampler']}, {meta['steps']} steps")

    frames = [np.array([200 + 5 * k, 100 + 3 * k, 300, 320, 0.5], np.float32) for k in range(3)]
    answers = []
    for k, f in enumerate(frames):
        obs = {state_key: f if k != 1 else f.astype(np.float64), "prompt": "push the T"}
        out = policy.infer(obs)
        a = out["actions"]
        check(isinstance(a, np.ndarray) and a.shape == (H, A) and a.dtype == np.float32,
              f"observation {k}: actions {a.shape} {a.dtype}")
        check(bool(np.isfinite(a).all()), f"observation {k}: finite actions")
        timing = out["server_timing"]
        check(timing["infer_ms"] > 0 and (k == 0) == ("prev_total_ms" not in timing),
              f"observation {k}: server_timing {sorted(timing)}")
        answers.append(a)

    window = np.stack([frames[1], frames[2]])
    out = policy.infer({state_key: window, "timestamp": np.float64(0.3)})
    check(out["actions"].shape == (H, A), "whole window [n_obs_steps, D] with a numpy scalar beside")

    # Control messages travel as ordinary maps, so any client version can send them.
    ack = policy.infer({"__ctrl__": "episode_start", "__task__": "push", "__episode_id__": 1})
    check(ack.get("ok") is True and ack.get("__ctrl__") == "episode_start", "episode_start acked")
    again = policy.infer({state_key: frames[0]})["actions"]
    check(np.array_equal(again, answers[0]), "--seed: the episode's first answer repeats")
    ack = policy.infer({"__ctrl__": "episode_end", "__success__": False})
    check(ack.get("ok") is True, "episode_end acked")

    for name, bad in [
        ("wrong shape", {state_key: np.zeros(D + 1, np.float32)}),
        ("missing key", {"observation.image": np.zeros((2, 2), np.uint8)}),
        ("integer dtype", {state_key: np.zeros(D, np.int64)}),
        ("NaN", {state_key: np.full(D, np.nan, np.float32)}),
    ]:
        try:
            policy.infer(bad)
        except RuntimeError as e:
            check("\n" not in str(e).split("\n", 1)[1], f"{name}: RuntimeError '{str(e).splitlines()[-1]}'")
        else:
            raise AssertionError(f"{name}: no error raised")
        a = policy.infer({state_key: frames[0]})["actions"]
        check(a.shape == (H, A), f"{name}: the connection still answers")

    other = connect(args.api_key)
    same = [other.infer({state_key: f if k != 1 else f.astype(np.float64)})["actions"]
            for k, f in enumerate(frames)]
    check(all(np.array_equal(x, y) for x, y in zip(same, answers)),
          "a second connection with the same observations gets the same actions")

    if args.api_key:
        try:
            connect("wrong-" + args.api_key)
        except Exception as e:  # websockets' InvalidStatus (HTTP 401)
            check("401" in str(e), f"a wrong api_key is refused ({type(e).__name__})")
        else:
            raise AssertionError("a wrong api_key was accepted")

    print("openpi-client check: all checks passed")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # one clear line for the CI log
        print(f"openpi-client check FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
