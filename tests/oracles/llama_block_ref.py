"""Torch reference of one Llama-style block (RMSNorm, attention with rope on
adjacent pairs, GQA, SwiGLU MLP), forward and backward in float64.
Writes inputs, parameters, the output and every gradient to an HDF5 file.
usage: llama_block_ref.py OUT.h5"""
import sys

import h5py
import numpy as np
import torch

torch.manual_seed(0)
B, T, D, H, KV, F = 2, 9, 32, 4, 2, 48
theta, eps = 10000.0, 1e-5
hd = D // H
dt = torch.float64


def rnd(*shape, std=1.0):
    return (torch.randn(*shape, dtype=torch.float32) * std).to(dt).requires_grad_(True)


p = {
    "attention_norm.weight": (1.0 + 0.1 * torch.randn(D)).to(dt).requires_grad_(True),
    "attention.wq.weight": rnd(H * hd, D, std=0.2),
    "attention.wk.weight": rnd(KV * hd, D, std=0.2),
    "attention.wv.weight": rnd(KV * hd, D, std=0.2),
    "attention.wo.weight": rnd(D, H * hd, std=0.2),
    "ffn_norm.weight": (1.0 + 0.1 * torch.randn(D)).to(dt).requires_grad_(True),
    "feed_forward.w1.weight": rnd(F, D, std=0.2),
    "feed_forward.w2.weight": rnd(D, F, std=0.2),
    "feed_forward.w3.weight": rnd(F, D, std=0.2),
}
x = rnd(B, T, D)
R = torch.randn(B, T, D, dtype=torch.float32).to(dt)


def rmsnorm(v, w):
    return v * torch.rsqrt(v.pow(2).mean(-1, keepdim=True) + eps) * w


def rope(v, n_heads):
    # adjacent pairs (2i, 2i+1) of each head rotated by t * theta^(-2i/hd)
    b, t, _ = v.shape
    v = v.view(b, t, n_heads, hd // 2, 2)
    freq = theta ** (-torch.arange(0, hd, 2, dtype=dt) / hd)
    ang = torch.arange(t, dtype=dt)[:, None] * freq[None, :]
    c, s = torch.cos(ang)[None, :, None, :], torch.sin(ang)[None, :, None, :]
    x0, x1 = v[..., 0], v[..., 1]
    out = torch.stack([x0 * c - x1 * s, x0 * s + x1 * c], dim=-1)
    return out.view(b, t, n_heads * hd)


def block(x):
    h = rmsnorm(x, p["attention_norm.weight"])
    q = rope(h @ p["attention.wq.weight"].T, H).view(B, T, H, hd).transpose(1, 2)
    k = rope(h @ p["attention.wk.weight"].T, KV).view(B, T, KV, hd).transpose(1, 2)
    v = (h @ p["attention.wv.weight"].T).view(B, T, KV, hd).transpose(1, 2)
    k = k.repeat_interleave(H // KV, dim=1)
    v = v.repeat_interleave(H // KV, dim=1)
    att = (q @ k.transpose(-1, -2)) / (hd ** 0.5)
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
    att = att.masked_fill(mask, float("-inf")).softmax(-1)
    a = (att @ v).transpose(1, 2).reshape(B, T, H * hd)
    x = x + a @ p["attention.wo.weight"].T
    h = rmsnorm(x, p["ffn_norm.weight"])
    g = torch.nn.functional.silu(h @ p["feed_forward.w1.weight"].T) * (h @ p["feed_forward.w3.weight"].T)
    return x + g @ p["feed_forward.w2.weight"].T


y = block(x)
(y * R).sum().backward()

with h5py.File(sys.argv[1], "w") as f:
    f.attrs["B"], f.attrs["T"], f.attrs["D"], f.attrs["H"], f.attrs["KV"], f.attrs["F"] = B, T, D, H, KV, F
    f.attrs["theta"], f.attrs["eps"] = theta, eps
    f["x"] = x.detach().numpy().astype(np.float32)
    f["R"] = R.numpy().astype(np.float32)
    f["y"] = y.detach().numpy().astype(np.float32)
    f["grad/x"] = x.grad.numpy().astype(np.float32)
    for k, v in p.items():
        f["param/" + k] = v.detach().numpy().astype(np.float32)
        f["grad/" + k] = v.grad.numpy().astype(np.float32)
