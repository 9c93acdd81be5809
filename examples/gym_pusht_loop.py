#!/usr/bin/env python3
"""Evaluates a Push-T policy served with `deno task serve` in the real gym-pusht (pymunk physics),
through the unmodified openpi-client from PyPI (`WebsocketClientPolicy`). Nothing of this project
is imported: the policy is reached only over the openpi websocket protocol.

    python3 -m pip install gym-pusht==0.1.5 "pymunk<7" openpi-client typing_extensions
    deno task serve --ckpt runs/pusht-policy --seed 0        # openpi on ws://127.0.0.1:8000
    python3 examples/gym_pusht_loop.py --port 8000 --episodes 50 --seed 0

Episodes run `gym_pusht/PushT-v0` with `obs_type="state"` on seeds S .. S+n-1, at most 300 steps
each. Each policy call sends the last n_obs_steps observations as the window [n_obs_steps, 5]
(the first observation of an episode repeated to fill it, as Diffusion Policy pads) and executes
the chunk entries n_obs_steps - 1 .. n_obs_steps - 2 + n_action_steps, read from the server's
metadata. gym-pusht 0.1.5 draws its resets with `np.random.RandomState(seed)`, as the project's
MuJoCo environment does, so the same seed starts the same episode in both.

Prints one line per episode, a summary table, and as the last line the JSON object that
`deno task eval:pusht` prints: episodes, success_rate, avg_max_reward, p50_infer_ms (client round
trip of one policy call), p99_infer_ms, late_ticks (with --realtime: control ticks applied after
their 1 / fps slot had ended; 0 otherwise).
"""

import argparse
import json
import os
import sys
import time
import warnings
from collections import deque
from urllib.parse import urlparse

# pygame (imported by gym-pusht) needs no display for state observations.
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import gymnasium as gym  # noqa: E402
import gym_pusht  # noqa: E402,F401  (registers gym_pusht/PushT-v0)
import numpy as np  # noqa: E402
import pymunk  # noqa: E402
from openpi_client import websocket_client_policy  # noqa: E402

# gym-pusht 0.1.5 returns one info dict from reset and step; gymnasium's checker warns every run.
warnings.filterwarnings("ignore", message=".*share an object.*")

SUCCESS_COVERAGE = 0.95


def parse_args():
    ap = argparse.ArgumentParser(
        description="Runs a served Push-T policy in gym-pusht (PushT-v0, state observations) "
        "over openpi-client and prints the evaluation JSON as the last line.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--url", default=None,
                    help="ws://host:port of the server (overrides --host and --port)")
    ap.add_argument("--host", default="127.0.0.1", help="server host")
    ap.add_argument("--port", type=int, default=8000, help="server port")
    ap.add_argument("--api-key", default=None, help="sent as 'Authorization: Api-Key <key>'")
    ap.add_argument("--episodes", type=int, default=50, help="episodes to run")
    ap.add_argument("--seed", type=int, default=0, help="first seed; episodes use seed .. seed+n-1")
    ap.add_argument("--max-steps", type=int, default=300, help="control steps per episode at most")
    ap.add_argument("--realtime", action="store_true",
                    help="keep the policy's control rate (metadata fps) and count late ticks")
    args = ap.parse_args()
    if args.episodes <= 0 or args.max_steps <= 0:
        ap.error("--episodes and --max-steps must be positive")
    if args.url:
        u = urlparse(args.url)
        if u.scheme not in ("ws", "http") or not u.hostname or u.port is None:
            ap.error(f"--url must look like ws://host:port, got {args.url!r}")
        args.host, args.port = u.hostname, u.port
    return args


def read_metadata(meta):
    """The state key and the executed chunk slice from the server's metadata map."""
    try:
        state_key = next(iter(meta["observation"]))
        n_obs, n_act = int(meta["n_obs_steps"]), int(meta["n_action_steps"])
        state_dim = int(meta["observation"][state_key]["shape"][0])
        action_shape = [int(v) for v in meta["action"]["shape"]]
        fps = float(meta["fps"])
    except (KeyError, StopIteration, TypeError, ValueError, IndexError) as error:
        sys.exit(f"gym_pusht_loop: server metadata lacks a field ({error!r}): {meta}")
    if state_dim != 5 or action_shape[-1] != 2:
        sys.exit(f"gym_pusht_loop: the served policy is not Push-T-shaped (state {state_dim}, "
                 f"action {action_shape}); Push-T needs state 5 and action 2")
    first = meta.get("first_action_index", n_obs - 1)
    if first + n_act > action_shape[0]:
        sys.exit(f"gym_pusht_loop: chunk of {action_shape[0]} cannot give entries "
                 f"{first}..{first + n_act - 1}")
    return state_key, n_obs, first, n_act, fps


def run_episode(env, policy, seed, state_key, n_obs, first, n_act, fps, args, latencies):
    """One episode; returns (max reward, success, steps, late ticks)."""
    policy.infer({"__ctrl__": "episode_start", "__episode_id__": seed})
    obs, _ = env.reset(seed=seed)
    history = deque([np.asarray(obs, np.float32)] * n_obs, maxlen=n_obs)
    max_reward, success, steps, late = 0.0, False, 0, 0
    done = False
    t_next = time.monotonic()
    while not done and steps < args.max_steps:
        t0 = time.perf_counter()
        out = policy.infer({state_key: np.stack(history)})
        latencies.append((time.perf_counter() - t0) * 1000)
        for action in np.asarray(out["actions"])[first:first + n_act]:
            if args.realtime:
                t_next += 1 / fps
                now = time.monotonic()
                if now > t_next:
                    late += 1
                else:
                    time.sleep(t_next - now)
            obs, reward, terminated, truncated, info = env.step(np.asarray(action, np.float64))
            history.append(np.asarray(obs, np.float32))
            steps += 1
            max_reward = max(max_reward, float(reward))
            success = success or bool(info.get("is_success", reward >= 1.0))
            if terminated or truncated or steps >= args.max_steps:
                done = True
                break
    policy.infer({"__ctrl__": "episode_end", "__success__": success})
    return max_reward, success, steps, late


def main():
    args = parse_args()
    if int(pymunk.version.split(".")[0]) >= 7:
        sys.exit(f"gym_pusht_loop: gym-pusht 0.1.5 needs pymunk < 7 (it calls "
                 f"Space.add_collision_handler), found {pymunk.version}: pip install 'pymunk<7'")
    try:
        policy = websocket_client_policy.WebsocketClientPolicy(args.host, args.port, args.api_key)
    except OSError as error:
        sys.exit(f"gym_pusht_loop: cannot reach ws://{args.host}:{args.port}: {error}")
    meta = policy.get_server_metadata()
    state_key, n_obs, first, n_act, fps = read_metadata(meta)
    print(f"Policy {meta.get('policy', {}).get('name', '?')} at ws://{args.host}:{args.port}: "
          f"{meta.get('sampler')} x {meta.get('steps')}, window {n_obs}, executing chunk entries "
          f"{first}..{first + n_act - 1} at {fps:g} Hz", flush=True)
    env = gym.make("gym_pusht/PushT-v0", obs_type="state", max_episode_steps=args.max_steps)
    rows, latencies, late_total = [], [], 0
    t_start = time.perf_counter()
    try:
        for i in range(args.episodes):
            seed = args.seed + i
            max_reward, success, steps, late = run_episode(
                env, policy, seed, state_key, n_obs, first, n_act, fps, args, latencies)
            late_total += late
            rows.append((seed, steps, max_reward, success))
            print(f"[{i + 1}/{args.episodes}] seed {seed}: {steps} steps, max reward "
                  f"{max_reward:.3f}, {'success' if success else 'failure'}", flush=True)
    finally:
        env.close()
    wall = time.perf_counter() - t_start

    print()
    print(f"{'seed':>8} {'steps':>6} {'max reward':>11} {'success':>8}")
    for seed, steps, max_reward, success in rows:
        print(f"{seed:>8} {steps:>6} {max_reward:>11.4f} {'yes' if success else 'no':>8}")
    lat = np.array(latencies)
    result = {
        "episodes": len(rows),
        "success_rate": sum(r[3] for r in rows) / len(rows),
        "avg_max_reward": float(np.mean([r[2] for r in rows])),
        "p50_infer_ms": float(np.percentile(lat, 50)),
        "p99_infer_ms": float(np.percentile(lat, 99)),
        "late_ticks": late_total,
    }
    print(f"{len(rows)} episodes in {wall:.1f} s: success {100 * result['success_rate']:.1f}%, "
          f"average max reward {result['avg_max_reward']:.4f}, {len(lat)} policy calls "
          f"p50 {result['p50_infer_ms']:.1f} ms p99 {result['p99_infer_ms']:.1f} ms")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
