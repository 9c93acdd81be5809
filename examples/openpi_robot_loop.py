#!/usr/bin/env python3
"""A robot control loop driven by a policy served with `deno task serve`, through the unmodified
openpi-client from PyPI (`WebsocketClientPolicy`).

    python3 -m pip install openpi-client numpy typing_extensions
    deno task serve --ckpt runs/pusht-policy --seed 0          # serves openpi on ws://127.0.0.1:8000
    python3 examples/openpi_robot_loop.py --port 8000 --episodes 2 --steps 40

The "robot" is a stand-in with Push-T's interface: a pusher that moves toward each action target
the way gym-pusht's PD controller does, and a block that stays put. Every `n_action_steps` control
ticks the loop sends the latest state, gets an action chunk [horizon, action_dim] and executes the
entries n_obs_steps - 1 .. n_obs_steps - 2 + n_action_steps (Diffusion Policy's receding horizon:
the chunk starts at the oldest observation). The server keeps the observation history, so only
the latest frame travels; each episode starts with a `__ctrl__: episode_start` message, which
clears it. With --realtime the loop keeps the policy's control rate (metadata `fps`).
"""

import argparse
import time

import numpy as np
from openpi_client import websocket_client_policy


class ToyPusher:
    """Pusher at `pos` driven toward a target by a PD law, ten 0.01 s substeps per tick."""

    def __init__(self, rng):
        self.pos = rng.uniform(50, 450, 2)
        self.vel = np.zeros(2)
        self.block = np.array([*rng.uniform(100, 400, 2), rng.uniform(0, 2 * np.pi)])

    def state(self):
        return np.array([*self.pos, *self.block], np.float32)

    def step(self, target):
        for _ in range(10):
            self.vel += (100 * (target - self.pos) - 20 * self.vel) * 0.01
            self.pos = np.clip(self.pos + self.vel * 0.01, 0, 512)


def main():
    ap = argparse.ArgumentParser(description="Robot loop against an openpi policy server")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--api-key", default=None, help="sent as 'Authorization: Api-Key <key>'")
    ap.add_argument("--episodes", type=int, default=2)
    ap.add_argument("--steps", type=int, default=40, help="control ticks per episode")
    ap.add_argument("--realtime", action="store_true", help="keep the policy's control rate")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    policy = websocket_client_policy.WebsocketClientPolicy(args.host, args.port, args.api_key)
    meta = policy.get_server_metadata()
    state_key = next(iter(meta["observation"]))
    first, n_act = meta["n_obs_steps"] - 1, meta["n_action_steps"]
    print(f"Policy {meta['policy']['name']}: {state_key} -> actions {meta['action']['shape']}, "
          f"{meta['sampler']} x {meta['steps']}, executing {n_act} of each chunk at {meta['fps']} Hz")

    rng = np.random.default_rng(args.seed)
    latencies = []
    for episode in range(args.episodes):
        policy.infer({"__ctrl__": "episode_start", "__episode_id__": episode})
        robot = ToyPusher(rng)
        tick, t_next = 0, time.monotonic()
        while tick < args.steps:
            t0 = time.perf_counter()
            out = policy.infer({state_key: robot.state()})
            latencies.append((time.perf_counter() - t0) * 1000)
            for target in out["actions"][first:first + n_act]:
                robot.step(target)
                tick += 1
                if args.realtime:
                    t_next += 1 / meta["fps"]
                    time.sleep(max(0.0, t_next - time.monotonic()))
        policy.infer({"__ctrl__": "episode_end", "__success__": False})
        print(f"episode {episode}: {tick} ticks, pusher at {robot.pos.round(1)}, "
              f"last server_timing {({k: round(v, 1) for k, v in out['server_timing'].items()})}")
    lat = np.sort(np.array(latencies))
    print(f"{len(lat)} policy calls: p50 {np.percentile(lat, 50):.1f} ms, "
          f"p99 {np.percentile(lat, 99):.1f} ms (chunk budget {1000 * n_act / meta['fps']:.0f} ms)")


if __name__ == "__main__":
    main()
