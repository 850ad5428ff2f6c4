#!/usr/bin/python3
"""Reference runs of torch.optim.AdamW / SGD, LambdaLR warmup+cosine and
clip_grad_norm_ for tests/test_optim.c.

usage: optim_ref.py OUT.h5

Layout of OUT.h5 (all tensors float32, flattened to [n] or [steps, n]):
  /<case>             attrs: optim ("adamw"|"sgd"), steps, n_params, n_groups,
                      group_lr[g], group_wd[g], beta1, beta2, eps, momentum,
                      nesterov, sched ("constant"|"cosine"), warmup, total, min_ratio
  /<case>/lr_mult     [steps] float64: lr of group 0 at each step / its base lr
  /<case>/p<i>        attrs: group, name; datasets init [n], grads [steps, n],
                      after [steps, n] (param after each step), and the final
                      optimizer state: m [n] (exp_avg or momentum_buffer), v [n]
  /clip_<k>           attrs: max_norm, n_params, norm (float64, torch's value)
  /clip_<k>/p<i>      datasets grad [n] (before), clipped [n] (after)
  /sched_<k>          attrs: warmup, total, min_ratio; dataset lr [steps] float64
                      (LambdaLR with base lr 1: lr used by optimizer step k)
"""
import math
import sys

import h5py
import numpy as np
import torch

STEPS = 10
# params: (shape, group)
PARAMS = [((4, 8), 0), ((16,), 0), ((3, 5), 1), ((7,), 1)]


def cosine_lambda(warmup, total, min_ratio):
    def f(step):
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        progress = min(1.0, max(0.0, progress))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return f


def make_params_and_grads(seed):
    gen = torch.Generator().manual_seed(seed)
    params, grads = [], []
    for i, (shape, _) in enumerate(PARAMS):
        p = torch.randn(shape, generator=gen) * (0.5 + i)
        gs = []
        for s in range(STEPS):
            # magnitudes vary per step and per param; some exact zeros
            g = torch.randn(shape, generator=gen) * (0.1 + 0.7 * ((s + i) % 4))
            if s % 3 == 0:
                g.view(-1)[::5] = 0.0
            gs.append(g)
        params.append(p)
        grads.append(gs)
    return params, grads


def run_case(f, name, seed, optim, group_lr, group_wd, sched, warmup=0, total=STEPS, min_ratio=0.0,
             beta1=0.9, beta2=0.999, eps=1e-8, momentum=0.0, nesterov=False):
    init, grads = make_params_and_grads(seed)
    params = [torch.nn.Parameter(p.clone()) for p in init]
    groups = []
    for g in range(len(group_lr)):
        groups.append({"params": [params[i] for i, (_, gi) in enumerate(PARAMS) if gi == g],
                       "lr": group_lr[g], "weight_decay": group_wd[g]})
    if optim == "adamw":
        opt = torch.optim.AdamW(groups, betas=(beta1, beta2), eps=eps)
    else:
        opt = torch.optim.SGD(groups, lr=group_lr[0], momentum=momentum, nesterov=nesterov)
    if sched == "cosine":
        lam = cosine_lambda(warmup, total, min_ratio)
    else:
        lam = (lambda step: (step + 1) / warmup if step < warmup else 1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(opt, lam)

    after = [[] for _ in params]
    lr_mult = []
    for s in range(STEPS):
        lr_mult.append(opt.param_groups[0]["lr"] / group_lr[0])
        opt.zero_grad()
        for i, p in enumerate(params):
            p.grad = grads[i][s].clone()
        opt.step()
        scheduler.step()
        for i, p in enumerate(params):
            after[i].append(p.detach().clone())

    grp = f.create_group(name)
    grp.attrs.update(dict(optim=optim, steps=STEPS, n_params=len(params), n_groups=len(group_lr),
                          group_lr=np.array(group_lr, np.float64), group_wd=np.array(group_wd, np.float64),
                          beta1=beta1, beta2=beta2, eps=eps, momentum=momentum, nesterov=int(nesterov),
                          sched=sched, warmup=warmup, total=total, min_ratio=min_ratio))
    grp.create_dataset("lr_mult", data=np.array(lr_mult, np.float64))
    for i, p in enumerate(params):
        pg = grp.create_group(f"p{i}")
        pg.attrs["group"] = PARAMS[i][1]
        pg.attrs["name"] = f"{name}.p{i}"
        pg.create_dataset("init", data=init[i].numpy().reshape(-1).astype(np.float32))
        pg.create_dataset("grads", data=torch.stack(grads[i]).reshape(STEPS, -1).numpy().astype(np.float32))
        pg.create_dataset("after", data=torch.stack(after[i]).reshape(STEPS, -1).numpy().astype(np.float32))
        st = opt.state[p]
        if optim == "adamw":
            pg.create_dataset("m", data=st["exp_avg"].reshape(-1).numpy())
            pg.create_dataset("v", data=st["exp_avg_sq"].reshape(-1).numpy())
        elif momentum != 0:
            pg.create_dataset("m", data=st["momentum_buffer"].reshape(-1).numpy())


def clip_case(f, name, seed, max_norm, scale):
    gen = torch.Generator().manual_seed(seed)
    params = []
    for shape, _ in PARAMS:
        p = torch.nn.Parameter(torch.zeros(shape))
        p.grad = torch.randn(shape, generator=gen) * scale
        params.append(p)
    before = [p.grad.clone() for p in params]
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    grp = f.create_group(name)
    grp.attrs.update(dict(max_norm=max_norm, n_params=len(params), norm=float(norm)))
    for i, p in enumerate(params):
        pg = grp.create_group(f"p{i}")
        pg.create_dataset("grad", data=before[i].reshape(-1).numpy())
        pg.create_dataset("clipped", data=p.grad.reshape(-1).numpy())


def sched_case(f, name, warmup, total, min_ratio, steps):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(opt, cosine_lambda(warmup, total, min_ratio))
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        p.grad = torch.zeros(1)
        opt.step()
        scheduler.step()
    grp = f.create_group(name)
    grp.attrs.update(dict(warmup=warmup, total=total, min_ratio=min_ratio))
    grp.create_dataset("lr", data=np.array(lrs, np.float64))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: optim_ref.py OUT.h5")
    torch.set_num_threads(1)
    with h5py.File(sys.argv[1], "w") as f:
        run_case(f, "adamw", 1, "adamw", [3e-2, 1e-1], [0.1, 0.0], "cosine", warmup=3, total=STEPS, min_ratio=0.1)
        run_case(f, "adamw_const", 2, "adamw", [1e-2, 5e-2], [0.01, 0.3], "constant",
                 beta1=0.8, beta2=0.95, eps=1e-6)
        run_case(f, "sgd", 3, "sgd", [5e-2, 2e-2], [0.05, 0.0], "constant", momentum=0.9)
        run_case(f, "sgd_nesterov", 4, "sgd", [3e-2, 1e-2], [0.0, 0.2], "cosine", warmup=2, total=8,
                 min_ratio=0.0, momentum=0.7, nesterov=True)
        run_case(f, "sgd_plain", 5, "sgd", [1e-1, 3e-2], [0.01, 0.0], "constant")
        clip_case(f, "clip_0", 6, 1.0, 1.0)      # norm ~ 8: clipped
        clip_case(f, "clip_1", 7, 100.0, 1.0)    # norm ~ 8: untouched
        sched_case(f, "sched_0", 5, 40, 0.1, 50)
        sched_case(f, "sched_1", 0, 17, 0.0, 20)
        sched_case(f, "sched_2", 4, 4, 0.25, 8)


if __name__ == "__main__":
    main()
