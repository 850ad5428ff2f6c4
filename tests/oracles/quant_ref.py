"""Torch reference for quant/quant.h: weight fake-quant (sym, asym integer zero,
float-min) with STE and LSQ gradients, activation fake-quant, fp16 rounding.

Forward: float32 torch ops in the same order as the C code, so ŵ must match
exactly (round = torch.round, half to even). Every case puts values exactly at
.5 of a step where half-to-even and half-away-from-zero disagree.

Gradients: torch autograd in float64 over the quantizer formula with
  - STE round (custom Function: forward round, backward identity),
  - the clip as torch.where on the fp32 decision (inside / below / above, as
    the fp32 forward decides it) so both sides clip the same elements,
  - torch.clamp(s, min=EPS) and, for ASYM, torch.clamp(z, 0, 2^b-1) before
    the STE round of z,
  - fp16 scale rounding as an STE Function,
  - the LSQ factor g = 1/sqrt(N·Qp) as a gradient-scale Function on the
    scale and the offset.
usage: quant_ref.py OUT.h5"""
import math
import sys

import h5py
import numpy as np
import torch

SYM, ASYM, FMIN = 0, 1, 2
EPS = 2.0 ** -24
PER_TENSOR, PER_CHANNEL = -1, 0
F32, F64 = torch.float32, torch.float64


class RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.round(x)

    @staticmethod
    def backward(ctx, g):
        return g


class Snap(torch.autograd.Function):
    """forward: the given (fp32-decided) integer codes; backward: identity to x."""

    @staticmethod
    def forward(ctx, x, codes):
        return codes.clone()

    @staticmethod
    def backward(ctx, g):
        return g, None


class F16STE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.to(F32).half().to(x.dtype)

    @staticmethod
    def backward(ctx, g):
        return g


class GradScale(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, g):
        ctx.g = g
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.g, None


def levels(grid, bits):
    if grid == SYM:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2 ** bits - 1


def layout(rows, cols, group):
    """(srows, ngroups, span): w reshapes to [srows, ngroups, span]."""
    if group == PER_TENSOR:
        return 1, 1, rows * cols
    if group == PER_CHANNEL:
        return rows, 1, cols
    return rows, cols // group, group


def effective32(grid, bits, s, o, fp16):
    lo, hi = levels(grid, bits)
    s = torch.clamp(s, min=EPS)
    if fp16:
        s = s.half().float()
    if grid == ASYM:
        o = torch.round(torch.clamp(o, 0, hi))
    elif grid == FMIN and fp16:
        o = o.half().float()
    return s, o


def forward32(grid, bits, w3, s, o, fp16):
    """ŵ in float32 exactly as the C forward (the grid formulas of quant.h)."""
    lo, hi = levels(grid, bits)
    s, o = effective32(grid, bits, s, o, fp16)
    s, o = s[..., None], o[..., None]
    if grid == SYM:
        q = torch.clamp(torch.round(w3 / s), lo, hi)
        return q * s
    if grid == ASYM:
        q = torch.clamp(torch.round(w3 / s) + o, 0, hi)
        return (q - o) * s
    q = torch.clamp(torch.round((w3 - o) / s), 0, hi)
    return s * q + o


def decisions32(grid, bits, w3, s, o, fp16):
    """fp32 x, its clip range, below/above masks and the clipped-rounded code (x units)."""
    lo, hi = levels(grid, bits)
    s, o = effective32(grid, bits, s, o, fp16)
    s, o = s[..., None], o[..., None]
    if grid == SYM:
        x, L, H = w3 / s, torch.full_like(w3, lo), torch.full_like(w3, hi)
    elif grid == ASYM:
        x = w3 / s
        L, H = (-o).expand_as(w3), (hi - o).expand_as(w3)
    else:
        x, L, H = (w3 - o) / s, torch.full_like(w3, 0.0), torch.full_like(w3, hi)
    below, above = x < L, x > H
    code = torch.round(torch.where(below, L, torch.where(above, H, x)))
    return x, below, above, code


def grads64(grid, bits, w3, s32, o32, fp16, dy3, n_share):
    """(gw, gs, go) by float64 autograd; decisions (clip, codes) from the fp32 forward."""
    lo, hi = levels(grid, bits)
    g = 1.0 / math.sqrt(n_share * hi)
    _, below, above, code = decisions32(grid, bits, w3, s32, o32, fp16)
    w = w3.to(F64).requires_grad_(True)
    s = s32.to(F64).requires_grad_(True)
    o = o32.to(F64).requires_grad_(True)
    se = torch.clamp(GradScale.apply(s, g), min=EPS)
    if fp16:
        se = F16STE.apply(se)
    se = se[..., None]
    if grid == SYM:
        x = w / se
        L, H = torch.full_like(x, lo), torch.full_like(x, hi)
        xc = torch.where(below, L, torch.where(above, H, x))
        what = Snap.apply(xc, code.to(F64)) * se
    elif grid == ASYM:
        z = RoundSTE.apply(torch.clamp(GradScale.apply(o, g), 0, hi))[..., None]
        x = w / se
        xc = torch.where(below, (-z).expand_as(x), torch.where(above, (hi - z).expand_as(x), x))
        what = Snap.apply(xc, code.to(F64)) * se
    else:
        m = GradScale.apply(o, g)
        if fp16:
            m = F16STE.apply(m)
        m = m[..., None]
        x = (w - m) / se
        xc = torch.where(below, torch.zeros_like(x), torch.where(above, torch.full_like(x, hi), x))
        what = se * Snap.apply(xc, code.to(F64)) + m
    what.backward(dy3.to(F64))
    go = o.grad if grid != SYM else torch.zeros_like(o)
    return w.grad.to(F32), s.grad.to(F32), go.to(F32)


def away(x):
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def make_case(rng, grid, bits, group, fp16, rows=8, cols=64):
    lo, hi = levels(grid, bits)
    srows, ng, span = layout(rows, cols, group)
    w = (rng.standard_normal((rows, cols)) * 0.05).astype(np.float32)
    w[rng.integers(0, rows, 3), rng.integers(0, cols, 3)] *= 6.0  # a few outliers
    w3 = w.reshape(srows, ng, span)
    mn, mx = w3.min(-1), w3.max(-1)
    amax = np.maximum(np.abs(mn), np.abs(mx))
    factor = rng.uniform(0.6, 1.15, size=(srows, ng))  # < 1 clips some weights
    if grid == SYM:
        s = amax / hi * factor
        o = np.zeros_like(s)
    elif grid == ASYM:
        lo_r, hi_r = np.minimum(mn, 0), np.maximum(mx, 0)
        s = (hi_r - lo_r) / hi * factor
        o = np.clip(np.round(-lo_r / s), 0, hi) + rng.uniform(-0.45, 0.45, size=s.shape)
        if o.size > 2:  # zero points outside [0, 2^b-1]: no gradient through the clamp
            o.flat[1], o.flat[2] = -0.7, hi + 0.4
    else:
        s = (mx - mn) / hi * factor
        o = mn + rng.uniform(-0.3, 0.3, size=mn.shape) * s
    s = s.astype(np.float32)
    o = o.astype(np.float32)
    # group 0: a power-of-two step and values exactly at .5 of a step
    p2 = np.float32(2.0 ** np.round(np.log2(s.flat[0])))
    s.flat[0] = p2
    if grid == FMIN:
        o.flat[0] = np.float32(np.round(o.flat[0] / p2) * p2)
    if grid == SYM:
        xl, xh = lo, hi
    elif grid == ASYM:
        z0 = float(np.clip(np.round(o.flat[0]), 0, hi))
        xl, xh = -z0, hi - z0
    else:
        xl, xh = 0, hi
    halves = [h + 0.5 for h in range(int(xl), int(xh)) if np.round(h + 0.5) != away(h + 0.5)]
    assert halves, (grid, bits)
    g0 = w3[0, 0]
    pos = rng.choice(span, size=min(8, span), replace=False)
    for i, p in enumerate(pos):
        xv = halves[i % len(halves)]
        g0[p] = np.float32(o.flat[0] + xv * p2) if grid == FMIN else np.float32(xv * p2)
    w = w3.reshape(rows, cols)
    return w, s, o


def weight_case(rng, grid, bits, group, fp16):
    rows, cols = 8, 64
    w, s, o = make_case(rng, grid, bits, group, fp16, rows, cols)
    srows, ng, span = layout(rows, cols, group)
    dy = rng.standard_normal((rows, cols)).astype(np.float32)
    tw, ts, to = torch.from_numpy(w), torch.from_numpy(s), torch.from_numpy(o)
    w3 = tw.reshape(srows, ng, span)
    # the fp32 division torch does must be IEEE division (no reciprocal multiply)
    se, oe = effective32(grid, bits, ts, to, fp16)
    num = (w3 - oe[..., None]) if grid == FMIN else w3
    assert np.array_equal((num / se[..., None]).numpy(), num.numpy() / se.numpy()[..., None])
    what = forward32(grid, bits, w3, ts, to, fp16).reshape(rows, cols)
    x, below, above, code = decisions32(grid, bits, w3, ts, to, fp16)
    # ties where half-to-even and half-away differ, inside the clip range
    xn = x.numpy()
    inside = ~(below | above).numpy()
    tie = (xn - np.floor(xn) == 0.5) & inside & (np.round(xn) != away(xn))
    n_ties = int(tie.sum())
    assert n_ties > 0
    # the two ASYM formulations (clamp(round(x)+z) - z vs round(clip(x))) agree
    if grid == ASYM:
        assert torch.equal(what.reshape(srows, ng, span), code * se[..., None])
    gw, gs, go = grads64(grid, bits, w3, ts, to, fp16, torch.from_numpy(dy).reshape(srows, ng, span), span)
    return dict(w=w, scale=s, offset=o, dy=dy, what=what.numpy(), gw=gw.reshape(rows, cols).numpy(),
                gs=gs.numpy(), go=go.numpy(),
                meta=np.array([grid, bits, group, fp16, rows, cols, n_ties], dtype=np.int32))


def act_cases(rng, f):
    for bits in (4, 8):
        qp = 2 ** (bits - 1) - 1
        qn = qp + 1
        x = (rng.standard_normal((2, 5, 64)) * 0.7).astype(np.float32)
        # row 0: max|x| = Qp/8 so s = 1/8 exactly, plus .5 ties
        x[0, 0] = np.clip(x[0, 0], -qp / 8 * 0.9, qp / 8 * 0.9)
        x[0, 0, 3] = -qp / 8
        for i, h in enumerate([0.5, -0.5, 2.5, -2.5, 4.5]):
            if abs(h) < qp:
                x[0, 0, 10 + i] = h / 8
        x[1, 2] = 0.0  # an all-zero row
        tx = torch.from_numpy(x)
        s = torch.clamp(tx.abs().amax(-1, keepdim=True) / qp, min=EPS)
        assert s[0, 0, 0].item() == 0.125
        y = torch.clamp(torch.round(tx / s), -qn, qp) * s
        d = f.create_group(f"act/dyn{bits}")
        d["x"], d["y"] = x, y.numpy()

        dy = rng.standard_normal(x.shape).astype(np.float32)
        # a power-of-two scale (exact .5 ties) and one that clips the largest values
        for k, sv in enumerate([2.0 ** -3 if bits == 4 else 2.0 ** -6, float(np.abs(x).max() / qp * 0.6)]):
            sv = np.float32(sv)
            xs = x.copy()
            xs[0, 1, :5] = np.array([0.5, -0.5, 2.5, -2.5, 1.5], dtype=np.float32) * sv
            t3 = torch.from_numpy(xs).reshape(1, 1, -1)
            ts = torch.tensor([[sv]], dtype=F32)
            y = forward32(SYM, bits, t3, ts, torch.zeros_like(ts), 0)
            gx, gs, _ = grads64(SYM, bits, t3, ts, torch.zeros_like(ts), 0,
                                torch.from_numpy(dy).reshape(1, 1, -1), xs.size)
            d = f.create_group(f"act/static{bits}_{k}")
            d["x"], d["dy"], d["scale"] = xs, dy, np.array([sv], dtype=np.float32)
            d["y"], d["gx"], d["gs"] = y.reshape(xs.shape).numpy(), gx.reshape(xs.shape).numpy(), gs.reshape(1).numpy()
        # calibration from the first batch: s = max|x|/Qp
        sc = np.float32(np.float32(np.abs(x).max()) / np.float32(qp))
        y = forward32(SYM, bits, tx.reshape(1, 1, -1), torch.tensor([[sc]]), torch.zeros(1, 1), 0)
        d = f.create_group(f"act/calib{bits}")
        d["x"], d["scale"], d["y"] = x, np.array([sc], dtype=np.float32), y.reshape(x.shape).numpy()


def f16_case(rng, f):
    v = [65504.0, 65519.99, 65520.0, 1e6, 2.0 ** -24, 2.0 ** -25, 3 * 2.0 ** -25, 1.5 * 2.0 ** -24, 2.0 ** -26,
         2.0 ** -14, 2.0 ** -14 * (1 - 2.0 ** -12), 1.0 / 3, -0.1, 0.0, 1.0 + 2.0 ** -11, 1.0 + 3 * 2.0 ** -11,
         2049.0, 2051.0, -7.5e-5]
    r = (np.sign(rng.standard_normal(2000)) * 2.0 ** rng.uniform(-27, 17, 2000)).tolist()
    x = np.array(v + r, dtype=np.float32)
    f["f16/in"] = x
    f["f16/out"] = torch.from_numpy(x).half().float().numpy()
    f["f16/bits"] = torch.from_numpy(x).half().view(torch.int16).numpy()


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(1234)
    with h5py.File(out, "w") as f:
        k = 0
        for grid in (SYM, ASYM, FMIN):
            for bits in (2, 3, 4, 8):
                for group in (PER_TENSOR, PER_CHANNEL, 32, 16):
                    for fp16 in (0, 1):
                        c = weight_case(rng, grid, bits, group, fp16)
                        gr = f.create_group(f"case/{k:03d}")
                        for name, val in c.items():
                            gr[name] = val
                        k += 1
        # scales at or below eps (and negative): clamped in the forward, no gradient
        rng2 = np.random.default_rng(7)
        for grid in (SYM, ASYM, FMIN):
            c = weight_case(rng2, grid, 4, 16, 1)
            s = c["scale"]
            s.flat[3], s.flat[4], s.flat[5] = -0.01, 0.0, EPS
            tw, ts, to = (torch.from_numpy(c[n]) for n in ("w", "scale", "offset"))
            w3, dy3 = tw.reshape(8, 4, 16), torch.from_numpy(c["dy"]).reshape(8, 4, 16)
            c["what"] = forward32(grid, 4, w3, ts, to, 1).reshape(8, 64).numpy()
            gw, gs, go = grads64(grid, 4, w3, ts, to, 1, dy3, 16)
            c["gw"], c["gs"], c["go"] = gw.reshape(8, 64).numpy(), gs.numpy(), go.numpy()
            gr = f.create_group(f"case/{k:03d}")
            for name, val in c.items():
                gr[name] = val
            k += 1
        f["n_cases"] = np.array([k], dtype=np.int32)
        act_cases(rng, f)
        f16_case(rng, f)


if __name__ == "__main__":
    main()
