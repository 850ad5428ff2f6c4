#!/usr/bin/python3
"""PyTorch reference for bench/bench_train: the same model, fake-quant, optimizer,
batch and thread count, timed the same way, printed in the same format.

usage: torch_ref.py [--variant fp32|qat_w4g32|qat_w4g32_a8|all]... [--arch llama|qwen2|qwen3]
                    [--dim D] [--layers L] [--heads H] [--kv-heads KV] [--head-dim HD] [--ffn F]
                    [--vocab V] [--tied] [--ctx T] [--batch B] [--threads N]
                    [--steps K] [--warmup W] [--json] [--no-profile] [--ops]

Model (as nn/model.c): token embedding [V, D], per block RMSNorm -> wq/wk/wv
(with biases for qwen2) -> per-head RMSNorm of q and k (qwen3) -> rope on
adjacent pairs (llama.cpp) -> causal softmax attention with grouped KV heads
(repeat_kv, as Hugging Face writes it) -> wo, residual, RMSNorm -> SwiGLU (w1
gate, w3 up, w2 down), residual; final RMSNorm and the output Linear (its
weight is the embedding's with --tied), bias-free otherwise. Random token ids
in [0, V), next-id targets; the loss is the natural PyTorch one: full logits
[B, T, V] and F.cross_entropy.

QAT (as quant/fakequant.c): every block Linear weight goes through LSQFakeQuant,
a torch.autograd.Function: symmetric signed 4-bit, groups of 32 along the input
dim, scale s = fp16(max(scale, 2^-24)); forward q = clamp(round(w/s), -8, 7),
w_hat = q*s; backward dw = dy inside the clip range (STE), ds = sum over the
group of dy*(round(x)-x inside, the clip value outside) * 1/sqrt(32*7). The
backward recomputes from w and s (nothing but the inputs is saved), like qatc.
A8 (qat_w4g32_a8): each quantized Linear's input goes through per-token dynamic
symmetric 8-bit fake-quant (s = max|x_row|/127, identity backward).

Step: zero_grad, forward, cross-entropy, backward, clip_grad_norm_(1.0),
AdamW (betas 0.9/0.95, eps 1e-8; matrices lr 3e-4 wd 0.1, vectors wd 0,
quantizer scales lr 1e-3 wd 0), clamp scales >= 2^-24. Each variant runs in its
own process so peak RSS (ru_maxrss) is its own. step_ms is the median over the
timed steps, tokens_per_s = batch*ctx / step_ms, cpu_ms the median CPU time
(all threads) per step. sgemm_share is the share of
self CPU time in aten::mm/addmm/bmm (the BLAS calls) in one extra step run
under torch.profiler (not timed); it is an estimate, not a clock around sgemm.
"""
import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time

VARIANTS = ["fp32", "qat_w4g32", "qat_w4g32_a8"]
SCALE_EPS = 2.0 ** -24


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def build(args, variant, torch):
    import torch.nn.functional as F

    class LSQFakeQuant(torch.autograd.Function):
        """Symmetric signed b-bit fake-quant with per-group LSQ scales (see module doc)."""

        @staticmethod
        def forward(ctx, w, scale, bits, group):
            ctx.save_for_backward(w, scale)
            ctx.bits, ctx.group = bits, group
            qn, qp = 2 ** (bits - 1), 2 ** (bits - 1) - 1
            s = scale.clamp(min=SCALE_EPS).half().float().unsqueeze(-1)
            wg = w.view(w.shape[0], -1, group)
            return (torch.clamp(torch.round(wg / s), -qn, qp) * s).view_as(w)

        @staticmethod
        def backward(ctx, dy):
            w, scale = ctx.saved_tensors
            qn, qp = 2 ** (ctx.bits - 1), 2 ** (ctx.bits - 1) - 1
            s = scale.clamp(min=SCALE_EPS).half().float().unsqueeze(-1)
            wg = w.view(w.shape[0], -1, ctx.group)
            dyg = dy.view_as(wg)
            x = wg / s
            inside = (x >= -qn) & (x <= qp)
            t = torch.where(inside, torch.round(x) - x, torch.clamp(x, -qn, qp))
            g = 1.0 / math.sqrt(ctx.group * qp)
            ds = (dyg * t).sum(-1) * g * (scale >= SCALE_EPS)
            dw = (dyg * inside).view_as(w)
            return dw, ds, None, None

    class ActQuantPerToken(torch.autograd.Function):
        """Per-token dynamic symmetric b-bit fake-quant, identity (STE) backward."""

        @staticmethod
        def forward(ctx, x, bits):
            qp = 2 ** (bits - 1) - 1
            s = (x.abs().amax(-1, keepdim=True) / qp).clamp(min=SCALE_EPS)
            return torch.clamp(torch.round(x / s), -qp - 1, qp) * s

        @staticmethod
        def backward(ctx, dy):
            return dy, None

    class QLinear(torch.nn.Module):
        def __init__(self, out_f, in_f, std, wq, aq, bias=False):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.randn(out_f, in_f) * std)
            self.bias = torch.nn.Parameter(torch.zeros(out_f)) if bias else None
            self.wq, self.aq = wq, aq
            if wq:  # absmax init per group of 32
                g = self.weight.detach().view(out_f, -1, 32)
                self.scale = torch.nn.Parameter((g.abs().amax(-1) / 7.0).clamp(min=SCALE_EPS))

        def forward(self, x):
            w = LSQFakeQuant.apply(self.weight, self.scale, 4, 32) if self.wq else self.weight
            if self.aq:
                x = ActQuantPerToken.apply(x, 8)
            return F.linear(x, w, self.bias)

    class RMSNorm(torch.nn.Module):
        def __init__(self, d, eps=1e-5):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.ones(d))
            self.eps = eps

        def forward(self, x):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight

    def rope(x, cos, sin):  # x [B, T, heads, hd], pairs (2i, 2i+1)
        xs = x.view(*x.shape[:-1], -1, 2)
        x0, x1 = xs[..., 0], xs[..., 1]
        return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), -1).flatten(-2)

    D, L, H, Fh, T, V = args.dim, args.layers, args.heads, args.ffn, args.ctx, args.vocab
    KV = args.kv_heads or H
    hd = args.head_dim or D // H
    G = H // KV
    wq = variant != "fp32"
    aq = variant == "qat_w4g32_a8"
    qkv_bias = args.arch == "qwen2"
    qk_norm = args.arch == "qwen3"
    resid = 0.02 / math.sqrt(2 * L)

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.attention_norm, self.ffn_norm = RMSNorm(D), RMSNorm(D)
            self.wq = QLinear(H * hd, D, 0.02, wq, aq, qkv_bias)
            self.wk, self.wv = (QLinear(KV * hd, D, 0.02, wq, aq, qkv_bias) for _ in range(2))
            self.wo = QLinear(D, H * hd, resid, wq, aq)
            if qk_norm:
                self.q_norm, self.k_norm = RMSNorm(hd), RMSNorm(hd)
            self.w1, self.w3 = QLinear(Fh, D, 0.02, wq, aq), QLinear(Fh, D, 0.02, wq, aq)
            self.w2 = QLinear(D, Fh, resid, wq, aq)

        def forward(self, x, cos, sin, mask):
            B_, T_, _ = x.shape
            h = self.attention_norm(x)
            q = self.wq(h).view(B_, T_, H, hd)
            k = self.wk(h).view(B_, T_, KV, hd)
            if qk_norm:
                q, k = self.q_norm(q), self.k_norm(k)
            q = rope(q, cos, sin).transpose(1, 2)
            k = rope(k, cos, sin).transpose(1, 2)
            v = self.wv(h).view(B_, T_, KV, hd).transpose(1, 2)
            if G > 1:  # repeat_kv: [B, KV, T, hd] -> [B, H, T, hd]
                k = k[:, :, None].expand(B_, KV, G, T_, hd).reshape(B_, H, T_, hd)
                v = v[:, :, None].expand(B_, KV, G, T_, hd).reshape(B_, H, T_, hd)
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
            att = torch.softmax(att.masked_fill(mask, float("-inf")), dim=-1)
            a = (att @ v).transpose(1, 2).reshape(B_, T_, H * hd)
            x = x + self.wo(a)
            h = self.ffn_norm(x)
            return x + self.w2(F.silu(self.w1(h)) * self.w3(h))

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.tok_embeddings = torch.nn.Embedding(V, D)
            torch.nn.init.normal_(self.tok_embeddings.weight, std=0.02)
            self.layers = torch.nn.ModuleList(Block() for _ in range(L))
            self.norm = RMSNorm(D)
            if not args.tied:
                self.output = QLinear(V, D, 0.02, False, False)
            freq = 10000.0 ** (-2.0 * torch.arange(hd // 2, dtype=torch.float64) / hd)
            ang = torch.arange(T, dtype=torch.float64)[:, None] * freq[None, :]
            self.register_buffer("cos", ang.cos().float()[:, None, :])  # [T, 1, hd/2]
            self.register_buffer("sin", ang.sin().float()[:, None, :])
            self.register_buffer("mask", torch.triu(torch.ones(T, T, dtype=torch.bool), 1))

        def forward(self, ids):
            x = self.tok_embeddings(ids)
            for blk in self.layers:
                x = blk(x, self.cos, self.sin, self.mask)
            x = self.norm(x)
            return F.linear(x, self.tok_embeddings.weight) if args.tied else self.output(x)

    return Model()


def run_variant(args, variant):
    import torch
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    base = rss_mb()
    t_init = time.perf_counter()
    model = build(args, variant, torch)
    mats = [p for n, p in model.named_parameters() if p.ndim >= 2]
    vecs = [p for n, p in model.named_parameters() if p.ndim == 1]
    scales = [p for n, p in model.named_parameters() if n.endswith(".scale")]
    groups = [{"params": mats, "lr": 3e-4, "weight_decay": 0.1},
              {"params": vecs, "lr": 3e-4, "weight_decay": 0.0}]
    if scales:
        groups.append({"params": scales, "lr": 1e-3, "weight_decay": 0.0})
    # scales are [rows, groups] matrices: keep them out of the decayed group
    sid = {id(p) for p in scales}
    groups[0]["params"] = [p for p in mats if id(p) not in sid]
    opt = torch.optim.AdamW(groups, betas=(0.9, 0.95), eps=1e-8)
    params = [p for g in groups for p in g["params"]]
    n_weights = sum(p.numel() for p in params)
    B, T, V = args.batch, args.ctx, args.vocab
    gen = torch.Generator().manual_seed(0x5eed)
    init_s = time.perf_counter() - t_init

    def step():
        x = torch.randint(0, V, (B, T), generator=gen)
        y = torch.roll(x, -1, 1)
        y[:, -1] = x[:, -1]
        opt.zero_grad()
        logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits.view(-1, V), y.view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        with torch.no_grad():
            for s in scales:
                s.clamp_(min=SCALE_EPS)
        return loss.item()

    times, cpus, loss_first, loss_last = [], [], None, None
    for i in range(args.warmup + args.steps):
        c0, t0 = time.process_time(), time.perf_counter()
        lv = step()
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        loss_first = lv if loss_first is None else loss_first
        loss_last = lv
        if i >= args.warmup:
            times.append(dt)
            cpus.append(dc)
    peak = rss_mb()
    share = None
    if not args.no_profile or args.ops:
        from torch.profiler import profile, ProfilerActivity
        with profile(activities=[ProfilerActivity.CPU], profile_memory=args.ops) as prof:
            step()
        tot = sum(e.self_cpu_time_total for e in prof.key_averages())
        mm = sum(e.self_cpu_time_total for e in prof.key_averages() if e.key in ("aten::mm", "aten::addmm", "aten::bmm"))
        share = mm / tot if tot > 0 else None
        if args.ops:
            print(f"{variant}: the profiled step, by self CPU time (all threads):", file=sys.stderr)
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.ops_rows), file=sys.stderr)
    med = statistics.median(times)
    rec = {"impl": "torch", "variant": variant, "tokens_per_s": round(B * T / med, 1), "step_ms": round(med * 1e3, 3),
           "peak_rss_mb": round(peak, 1), "sgemm_share": None if share is None else round(share, 4),
           "cpu_ms": round(statistics.median(cpus) * 1e3, 3),
           "step_ms_min": round(min(times) * 1e3, 3), "step_ms_max": round(max(times) * 1e3, 3),
           "base_rss_mb": round(base, 1), "state_mb": round(n_weights * 16 / 2 ** 20, 1),
           "params_m": round(sum(p.numel() for n, p in model.named_parameters() if not n.endswith(".scale")) / 1e6, 3),
           "init_s": round(init_s, 2), "loss_first": round(loss_first, 5), "loss_last": round(loss_last, 5),
           "arch": args.arch, "dim": args.dim, "layers": args.layers, "heads": args.heads,
           "kv_heads": args.kv_heads or args.heads, "head_dim": args.head_dim or args.dim // args.heads,
           "ffn": args.ffn, "vocab": args.vocab, "tied": args.tied, "ctx": args.ctx,
           "batch": B, "threads": args.threads, "steps": args.steps, "warmup": args.warmup,
           "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "torch": torch.__version__}
    if args.json:
        print(json.dumps(rec), flush=True)
    else:
        print(f"{variant:<14} {rec['tokens_per_s']:10.0f} tok/s {rec['step_ms']:9.2f} ms/step (CPU {rec['cpu_ms']:.0f} ms)  peak RSS "
              f"{peak:7.1f} MB (after import {base:.1f})  sgemm~{100 * (share or 0):5.1f}%  "
              f"(min {rec['step_ms_min']:.2f} max {rec['step_ms_max']:.2f} ms, params+grads+AdamW {rec['state_mb']:.0f} MB, "
              f"loss {loss_first:.3f} -> {loss_last:.3f})",
              flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variant", action="append", choices=VARIANTS + ["all"])
    ap.add_argument("--arch", default="llama", choices=["llama", "qwen2", "qwen3"])
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=0, help="KV heads (default: heads)")
    ap.add_argument("--head-dim", type=int, default=0, help="head size (default: dim / heads)")
    ap.add_argument("--ffn", type=int, default=704)
    ap.add_argument("--vocab", type=int, default=256)
    ap.add_argument("--tied", action="store_true", help="the output Linear multiplies by the embedding")
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-profile", action="store_true", help="skip the profiled step (sgemm_share = null)")
    ap.add_argument("--ops", action="store_true", help="print the profiled step's op table to stderr (forces the profiled step)")
    ap.add_argument("--ops-rows", type=int, default=25, help=argparse.SUPPRESS)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    hd = args.head_dim or args.dim // args.heads
    kv = args.kv_heads or args.heads
    if ((not args.head_dim and args.dim % args.heads) or hd % 2 or args.heads % kv or args.dim % 32 or args.ffn % 32
            or (args.heads * hd) % 32):
        ap.error("dim must be a multiple of heads (unless --head-dim) and of 32, head dim even, heads a multiple "
                 "of kv heads, ffn and heads*head_dim multiples of 32")
    want = args.variant or ["all"]
    variants = VARIANTS if "all" in want else [v for v in VARIANTS if v in want]
    if args.child:
        run_variant(args, variants[0])
        return 0
    if not args.json:
        print(f"torch_ref: {args.arch}, dim {args.dim}, layers {args.layers}, heads {args.heads} (KV {kv}, head dim {hd}), "
              f"ffn {args.ffn}, vocab {args.vocab}{' tied' if args.tied else ''}, ctx {args.ctx}, "
              f"batch {args.batch}, {args.threads} threads, {args.steps} steps (+{args.warmup} warm-up)", flush=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    rc = 0
    base_argv = [a for a in sys.argv[1:]]
    # strip --variant options, then pass exactly one per child
    stripped, skip = [], False
    for a in base_argv:
        if skip:
            skip = False
            continue
        if a == "--variant":
            skip = True
            continue
        if a.startswith("--variant="):
            continue
        stripped.append(a)
    for v in variants:
        r = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", "--variant", v] + stripped, env=env)
        if r.returncode:
            print(f"torch_ref: variant {v} failed (exit {r.returncode})", file=sys.stderr)
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
