"""PyTorch CPU peer for `deno task bench:train`: one training step (forward, MSE on epsilon,
backward, AdamW) of the seed architecture at a given config, timed as the engine is timed.

Usage: python3 peer_train_torch.py '<json config>' [threads]; prints one JSON object.
The model re-states the seed repository's DiT design (reshape patchify + Linear, learnable
positions, raw-t sinusoid features with Linear-GELU-Linear, adaLN-Zero blocks, MLP with a
depthwise conv over the token grid, PyTorch "same" padding), with per-sample conditioning.
"""
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

cfg = json.loads(sys.argv[1])
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
torch.manual_seed(0)
D, depth, heads, p = cfg["hidden"], cfg["depth"], cfg["heads"], cfg["patch"]
C, S, k, B, classes = cfg["channels"], cfg["size"], cfg["dw"], cfg["batch"], cfg["classes"]
g = S // p
T = g * g


def modulate(x, shift, scale):
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln = nn.LayerNorm(D, elementwise_affine=False, eps=1e-6)
        self.c_attn, self.c_proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.fc, self.dw, self.out = nn.Linear(D, 4 * D), nn.Conv2d(4 * D, 4 * D, k, groups=4 * D, padding="same"), nn.Linear(4 * D, D)
        self.ada = nn.Linear(D, 6 * D)

    def forward(self, x, c):
        s1, sc1, g1, s2, sc2, g2 = self.ada(F.silu(c)).chunk(6, dim=1)
        h = modulate(self.ln(x), s1, sc1)
        q, kk, v = self.c_attn(h).split(D, dim=2)
        sh = lambda t: t.view(B, T, heads, D // heads).transpose(1, 2)
        a = (sh(q) @ sh(kk).transpose(-2, -1) / math.sqrt(D // heads)).softmax(-1) @ sh(v)
        x = x + g1.unsqueeze(1) * self.c_proj(a.transpose(1, 2).reshape(B, T, D))
        h = F.gelu(self.fc(modulate(self.ln(x), s2, sc2)), approximate="tanh")
        h = self.dw(h.transpose(1, 2).reshape(B, 4 * D, g, g)).reshape(B, 4 * D, T).transpose(1, 2)
        return x + g2.unsqueeze(1) * self.out(h)


class SeedDiT(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch = nn.Linear(p * p * C, D)
        self.pos = nn.Parameter(torch.randn(1, T, D) * 0.02)
        self.t1, self.t2 = nn.Linear(D, D), nn.Linear(D, D)
        self.y = nn.Embedding(classes, D)
        self.blocks = nn.ModuleList([Block() for _ in range(depth)])
        self.ln = nn.LayerNorm(D, elementwise_affine=False, eps=1e-6)
        self.fada, self.lin = nn.Linear(D, 2 * D), nn.Linear(D, p * p * C)

    def forward(self, x, t, y):
        x = x.reshape(B, C, g, p, g, p).permute(0, 2, 4, 3, 5, 1).reshape(B, T, p * p * C)
        x = self.patch(x) + self.pos
        half = D // 2
        f = torch.exp(-math.log(10000) * torch.arange(half) / (half - 1))
        a = t.float()[:, None] * f[None]
        c = self.t2(F.gelu(self.t1(torch.cat([a.sin(), a.cos()], -1)), approximate="tanh")) + self.y(y)
        for b in self.blocks:
            x = b(x, c)
        s, sc = self.fada(F.silu(c)).chunk(2, dim=1)
        x = self.lin(modulate(self.ln(x), s, sc))
        return x.view(B, g, g, p, p, C).permute(0, 5, 1, 3, 2, 4).reshape(B, C, S, S)


model = SeedDiT()
opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
x, target = torch.randn(B, C, S, S), torch.randn(B, C, S, S)
t, y = torch.randint(0, 1000, (B,)), torch.randint(0, classes, (B,))


def step():
    opt.zero_grad(set_to_none=True)
    loss = ((model(x, t, y) - target) ** 2).mean()
    loss.backward()
    opt.step()


step()
ts = []
for _ in range(int(cfg.get("reps", 5))):
    t0 = time.perf_counter()
    step()
    ts.append((time.perf_counter() - t0) * 1000)
ts.sort()
print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "train_step_ms": ts[len(ts) // 2]}))
