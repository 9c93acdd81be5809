"""PyTorch peer for `deno task bench:policy`: the served policy network, sampled the same way.

Prints one JSON object. Run by bench/policy.ts (`python3 peer_policy_torch.py <threads> [cpu|cuda]
<horizon> <action_dim> <cond_dim> <hidden> <depth> <heads> <sampler:steps,...>`) when torch is
importable. The network is the engine's official DiT on a token sequence: a per-token linear
embedding of the actions (the engine's Conv1d with kernel 1), fixed positions, the 256-frequency
timestep MLP plus a linear embedding of the observation window, adaLN-Zero blocks (peer_torch.py's
Block) and a linear output of action_dim channels. Eager mode, no_grad, float32; each figure is the
median wall time of whole samples (every step, the sampler updates and the step noise included),
written for timing, not parity. Repetitions: 5 (batch x steps up to 100), 3 (up to 320), else 1.
"""
import json
import math
import sys

import torch
import torch.nn as nn

from peer_torch import DEVICE, Block, time_embedding, timed_ms, trunk


class PolicyDiT(nn.Module):
    def __init__(self, horizon, a, cond, d, depth, h):
        super().__init__()
        self.x_emb = nn.Linear(a, d)
        self.t1, self.t2 = nn.Linear(256, d), nn.Linear(d, d)
        self.c_emb = nn.Linear(cond, d)
        self.pos = nn.Parameter(torch.randn(1, horizon, d) * 0.02, requires_grad=False)
        self.blocks = nn.ModuleList([Block(d, h) for _ in range(depth)])
        self.norm = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.fada = nn.Linear(d, 2 * d)
        self.lin = nn.Linear(d, a)

    def forward(self, x, t, c):
        h = self.x_emb(x) + self.pos
        return trunk(self, h, time_embedding(self, t) + self.c_emb(c))


def cosine_alpha_bars(T=100):
    """squaredcos_cap_v2 with T training timesteps (Diffusion Policy's Push-T schedule)."""
    f = lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    betas = [min(1 - f((i + 1) / T) / f(i / T), 0.999) for i in range(T)]
    out, prod = [], 1.0
    for b in betas:
        prod *= 1 - b
        out.append(prod)
    return out


def sample(model, cond, sampler, steps, shape, T=100):
    ab = cosine_alpha_bars(T)
    ts = [(steps - j) * T // steps - 1 for j in range(steps)]
    x = torch.randn(shape, device=DEVICE)
    for j, t in enumerate(ts):
        a = ab[t]
        a_next = ab[ts[j + 1]] if j + 1 < steps else 1.0
        eps = model(x, torch.full((shape[0],), t, device=DEVICE), cond)
        x0 = ((x - math.sqrt(1 - a) * eps) / math.sqrt(a)).clamp(-1, 1)
        if sampler == "ddim":
            x = math.sqrt(a_next) * x0 + math.sqrt(1 - a_next) * eps
        else:  # ddpm: the posterior mean plus its noise
            alpha = a / a_next
            beta = 1 - alpha
            mean = (math.sqrt(a_next) * beta / (1 - a)) * x0 + (math.sqrt(alpha) * (1 - a_next) / (1 - a)) * x
            if j + 1 < steps:
                mean = mean + math.sqrt(beta * (1 - a_next) / (1 - a)) * torch.randn_like(x)
            x = mean
    return x


def main():
    horizon, a, cond, d, depth, h = (int(v) for v in sys.argv[3:9])
    configs = [(s.split(":")[0], int(s.split(":")[1])) for s in sys.argv[9].split(",")]
    torch.manual_seed(0)
    model = PolicyDiT(horizon, a, cond, d, depth, h).to(DEVICE).eval()
    out = {"threads": torch.get_num_threads(), "torch": torch.__version__, "device": str(DEVICE),
           "params": sum(p.numel() for p in model.parameters()), "sample_ms": {}}
    with torch.no_grad():
        for sampler, steps in configs:
            for bsz in (1, 32):
                c = torch.randn(bsz, cond, device=DEVICE)
                # Fewer repetitions of the long runs: DDPM 100 at batch 32 takes seconds here.
                cost = bsz * steps
                reps = 5 if cost <= 100 else 3 if cost <= 320 else 1
                shape = (bsz, horizon, a)
                ms = timed_ms(lambda: sample(model, c, sampler, steps, shape), reps,
                              lambda: sample(model, c, sampler, 2, shape))
                out["sample_ms"][f"{sampler}{steps}-b{bsz}"] = ms
                print(f"  torch {sampler} x {steps} batch {bsz}: {ms:.1f} ms", file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
