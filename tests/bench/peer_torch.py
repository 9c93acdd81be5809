"""PyTorch peer for `deno task bench:engine`: the same shapes, timed the same way.

Prints one JSON object. Run by bench/engine.ts (`python3 peer_torch.py <threads> [cpu|cuda]`) when
torch is importable: on the CPU for the llvmpipe adapter, on CUDA when the engine runs on a real
GPU (`--peer-device cuda`), so that both sides use the same chip.
The DiT here is a compact re-statement of the official architecture (facebookresearch/DiT:
conv patch embedding, sin-cos positions, adaLN-Zero blocks, timm-style attention, GELU-tanh MLP,
learned sigma) so that FLOPs match the engine's DiT-S/2; it is written for timing, not parity.
"""
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
DEVICE = torch.device(sys.argv[2] if len(sys.argv) > 2 else "cpu")
torch.manual_seed(0)
# Plain FP32 products, as the engine's kernels compute (no TF32 tensor-core shortcut on CUDA).
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False


def modulate(x, shift, scale):
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


def time_embedding(m, t):
    """[n] timesteps -> [n, d]: 256 sin-cos frequencies through m's MLP (m.t1, SiLU, m.t2)."""
    half = 128
    f = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    a = t[:, None].float() * f[None]
    return m.t2(F.silu(m.t1(torch.cat([torch.cos(a), torch.sin(a)], -1))))


def trunk(m, h, c):
    """[n, tokens, d] -> [n, tokens, out]: m's adaLN-Zero blocks, then its final adaLN and linear."""
    for b in m.blocks:
        h = b(h, c)
    s, sc = m.fada(F.silu(c)).chunk(2, dim=1)
    return m.lin(modulate(m.norm(h), s, sc))


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.fc1 = nn.Linear(d, 4 * d)
        self.fc2 = nn.Linear(4 * d, d)
        self.ada = nn.Linear(d, 6 * d)

    def attn(self, x):
        n, t, d = x.shape
        qkv = self.qkv(x).reshape(n, t, 3, self.h, d // self.h).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        a = (q * (d // self.h) ** -0.5) @ k.transpose(-2, -1)
        o = a.softmax(-1) @ v
        return self.proj(o.transpose(1, 2).reshape(n, t, d))

    def forward(self, x, c):
        s1, sc1, g1, s2, sc2, g2 = self.ada(F.silu(c)).chunk(6, dim=1)
        x = x + g1.unsqueeze(1) * self.attn(modulate(self.norm1(x), s1, sc1))
        h = self.fc2(F.gelu(self.fc1(modulate(self.norm2(x), s2, sc2)), approximate="tanh"))
        return x + g2.unsqueeze(1) * h


class DiT(nn.Module):
    def __init__(self, d=384, depth=12, h=6, p=2, c=4, size=32, classes=1000):
        super().__init__()
        self.p, self.c = p, c
        self.x_emb = nn.Conv2d(c, d, p, p)
        self.t1, self.t2 = nn.Linear(256, d), nn.Linear(d, d)
        self.y_emb = nn.Embedding(classes + 1, d)
        t = (size // p) ** 2
        self.pos = nn.Parameter(torch.randn(1, t, d) * 0.02, requires_grad=False)
        self.blocks = nn.ModuleList([Block(d, h) for _ in range(depth)])
        self.norm = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.fada = nn.Linear(d, 2 * d)
        self.lin = nn.Linear(d, p * p * 2 * c)

    def forward(self, x, t, y):
        n, _, hh, ww = x.shape
        h = self.x_emb(x).flatten(2).transpose(1, 2) + self.pos
        h = trunk(self, h, time_embedding(self, t) + self.y_emb(y))
        g = hh // self.p
        h = h.reshape(n, g, g, self.p, self.p, 2 * self.c)
        return torch.einsum("nhwpqc->nchpwq", h).reshape(n, 2 * self.c, hh, ww)


def sync():
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def timed_ms(fn, reps, warm=None):
    """Median wall ms of `reps` calls of fn after one untimed call of `warm` (fn itself by default)."""
    (warm or fn)()
    sync()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync()
        ts.append((time.perf_counter() - t0) * 1000)
    return sorted(ts)[len(ts) // 2]


def median_ms(fn, reps):
    reps *= 10 if DEVICE.type == "cuda" else 1  # GPU runs are short: more of them
    return timed_ms(fn, reps)


if __name__ == "__main__":  # bench/peer_policy_torch.py imports the model classes
    out = {"threads": torch.get_num_threads(), "torch": torch.__version__, "device": str(DEVICE),
           "matmul_ms": {}}
    if DEVICE.type == "cuda":
        out["device_name"] = torch.cuda.get_device_name(DEVICE)
    for m, k, n in [(2048, 384, 1536), (2048, 1536, 384), (2048, 384, 1152), (2048, 384, 384)]:
        a, b = torch.randn(m, k, device=DEVICE), torch.randn(n, k, device=DEVICE)
        out["matmul_ms"][f"{m}x{k}x{n}"] = median_ms(lambda: a @ b.t(), 10)

    model = DiT().to(DEVICE)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    fwd = {}
    with torch.no_grad():
        for bsz in (1, 8):
            x = torch.randn(bsz, 4, 32, 32, device=DEVICE)
            t = torch.randint(0, 1000, (bsz,), device=DEVICE)
            y = torch.randint(0, 1000, (bsz,), device=DEVICE)
            fwd[f"dit-s2-b{bsz}"] = median_ms(lambda: model(x, t, y), 5 if bsz == 1 else 3)
    out["forward_ms"] = fwd
    x = torch.randn(8, 4, 32, 32, device=DEVICE)
    t = torch.randint(0, 1000, (8,), device=DEVICE)
    y = torch.randint(0, 1000, (8,), device=DEVICE)
    target = torch.randn(8, 4, 32, 32, device=DEVICE)


    ema = [p.detach().clone() for p in model.parameters()]


    def step():
        # The same work as the engine's step: forward, loss, backward, gradient clipping, AdamW and
        # the EMA update of the official DiT training loop (update_ema, decay 0.9999).
        opt.zero_grad(set_to_none=True)
        loss = ((model(x, t, y)[:, :4] - target) ** 2).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for e, p in zip(ema, model.parameters()):
                e.mul_(0.9999).add_(p, alpha=1 - 0.9999)


    out["train_step_ms"] = {"dit-s2-b8": median_ms(step, 3)}
    print(json.dumps(out))
