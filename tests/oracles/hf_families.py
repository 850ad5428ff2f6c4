"""Torch reference for HF model families: tiny random Llama-3 (llama3 rope
scaling), Mistral (explicit head_dim), Qwen2 (q/k/v biases, tied embeddings),
Qwen3 (per-head q/k RMSNorm, explicit head_dim) and SmolLM (Llama, tied)
checkpoints, and the float64 forward and backward of each family's published
definition (transformers' modeling_llama / modeling_mistral / modeling_qwen2 /
modeling_qwen3: rotate_half rope, GQA by repeat_kv, SiLU-gated MLP, RMSNorm
with the config's eps, eager softmax attention scaled by head_dim^-0.5).

The forward reads everything from the config.json it writes (the same dict),
so the file and the reference cannot disagree.

usage: hf_families.py OUT_DIR
  writes, for each tag in TAGS,
    OUT_DIR/<tag>/config.json + model.safetensors (F32; qwen2_sharded: two
        shards + model.safetensors.index.json)
    OUT_DIR/ref_<tag>.safetensors: ids [B*T], targets [B*T] (as floats),
        logits [B*T, V], loss [1] (mean cross-entropy of logits vs targets),
        grad.<N> = d loss / d N for every HF tensor name N (float64 autograd,
        stored F32; tied: grad of model.embed_tokens.weight covers both uses);
        __metadata__ family, B, T, head_dim, tied
  and broken checkpoints OUT_DIR/bad_<what>/ (see write_bad) for refusals.
usage: hf_families.py --ckpt TAG OUT_DIR [--tokenizer TOKENIZER.json] [KEY=JSON ...] [--ckpt ...]
  writes, for each --ckpt group, one checkpoint of family TAG (config.json +
  model.safetensors, F32, random weights as above, seed fixed) with config.json
  keys overridden by KEY=JSON (e.g. vocab_size=256 intermediate_size=128, as
  tests/cli/llamacpp_families.sh does); --tokenizer copies the file (and
  tokenizer_config.json beside it, when present) into OUT_DIR and sets
  vocab_size to its size (highest id + 1, added tokens included) unless
  given. No reference is computed; the llama3 band assertion (and the
  sliding window > T) still holds for the config written.
usage: hf_families.py --check-hf-ref HF_REF_OUT_DIR
  runs this script's forward on hf_ref.py's f32 checkpoint and compares with
  the logits hf_ref.py computed (an independent check of the Llama math).

Asserted on every run (the script exits non-zero otherwise):
  - llama3: the head's rope frequencies fall in all three bands of the llama3
    rule (unchanged, divided by factor, smoothed), none on a band edge;
  - mistral: sliding_window > T, so its mask is the plain causal mask;
  - autograd gradients agree with central finite differences (float64) along
    a random direction for every tensor;
  - the llama.cpp layout (q/k rows, q/k biases and q_norm/k_norm elements
    permuted by qt_hf_rope_row, rope on adjacent pairs) gives the same logits;
  - every family-specific feature moves the logits by far more than the C
    test's 1e-5 tolerance (rope scaling, its smooth band, head_dim in the
    attention scale, each bias, q_norm/k_norm and their place before rope),
    so an implementation that drops one cannot pass;
  - a float32 run of the same forward/backward is well inside the C test's
    tolerances: logits < 1e-5 / 2.5, loss < 1e-6 relative, every gradient
    < GRAD_TOL / 10 (relative to the tensor's max |grad|), so the cases are
    not too ill-conditioned for a float32 implementation."""
import json
import math
import os
import shutil
import sys

import torch

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from st_util import read_st, write_st

B, T = 2, 16
F64 = torch.float64
# Gradient tolerance of tests/test_families.c (max |g - g_ref| / max |g_ref| per
# tensor); the float32 run below must stay 10x inside it.
GRAD_TOL = 1e-4
LOGIT_TOL = 1e-5

COMMON = {"bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu", "initializer_range": 0.02,
          "attention_dropout": 0.0, "use_cache": True, "torch_dtype": "float32", "transformers_version": "4.51.0"}

FAMILIES = {
    "llama3": dict(COMMON, architectures=["LlamaForCausalLM"], model_type="llama", hidden_size=64,
                   intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                   head_dim=16, vocab_size=300, max_position_embeddings=512, rms_norm_eps=1e-5,
                   rope_theta=500000.0, rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                                      "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
                   tie_word_embeddings=False, attention_bias=False, mlp_bias=False, pretraining_tp=1),
    "mistral": dict(COMMON, architectures=["MistralForCausalLM"], model_type="mistral", hidden_size=64,
                    intermediate_size=112, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                    head_dim=24, vocab_size=300, max_position_embeddings=1024, rms_norm_eps=1e-5,
                    rope_theta=1000000.0, sliding_window=4096, tie_word_embeddings=False),
    "qwen2": dict(COMMON, architectures=["Qwen2ForCausalLM"], model_type="qwen2", hidden_size=64,
                  intermediate_size=96, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                  vocab_size=300, max_position_embeddings=1024, rms_norm_eps=1e-6, rope_theta=1000000.0,
                  tie_word_embeddings=True, use_sliding_window=False, sliding_window=4096, max_window_layers=2),
    "qwen3": dict(COMMON, architectures=["Qwen3ForCausalLM"], model_type="qwen3", hidden_size=64,
                  intermediate_size=96, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                  head_dim=32, vocab_size=300, max_position_embeddings=1024, rms_norm_eps=1e-6,
                  rope_theta=1000000.0, rope_scaling=None, attention_bias=False, tie_word_embeddings=False,
                  use_sliding_window=False, sliding_window=None, max_window_layers=2),
    "smollm": dict(COMMON, architectures=["LlamaForCausalLM"], model_type="llama", hidden_size=96,
                   intermediate_size=160, num_hidden_layers=2, num_attention_heads=6, num_key_value_heads=2,
                   vocab_size=300, max_position_embeddings=2048, rms_norm_eps=1e-5, rope_theta=10000.0,
                   rope_scaling=None, tie_word_embeddings=True, attention_bias=False, mlp_bias=False,
                   pretraining_tp=1),
}
TAGS = ["llama3", "mistral", "qwen2", "qwen3", "smollm", "qwen2_sharded"]


# ---------------------------------------------------------------- the model
class Spec:
    """What the forward needs, read from config.json as transformers reads it."""

    def __init__(self, cfg):
        self.mt = cfg.get("model_type", "llama")
        assert self.mt in ("llama", "mistral", "qwen2", "qwen3"), self.mt
        assert cfg.get("hidden_act", "silu") == "silu"
        assert not cfg.get("mlp_bias", False)
        self.D, self.L = cfg["hidden_size"], cfg["num_hidden_layers"]
        self.H = cfg["num_attention_heads"]
        self.KV = cfg.get("num_key_value_heads") or self.H
        self.hd = cfg.get("head_dim") or self.D // self.H
        self.F, self.V = cfg["intermediate_size"], cfg["vocab_size"]
        self.eps = cfg["rms_norm_eps"]
        self.tied = bool(cfg.get("tie_word_embeddings", False))
        # Qwen2Attention: q/k/v bias=True, o_proj bias=False; the others: attention_bias
        # (Llama would also put it on o_proj; not used here)
        self.qkv_bias = self.mt == "qwen2"
        assert not cfg.get("attention_bias", False)
        self.qk_norm = self.mt == "qwen3"
        self.window = None
        if self.mt == "mistral" or (self.mt in ("qwen2", "qwen3") and cfg.get("use_sliding_window", False)):
            self.window = cfg.get("sliding_window")
        self.theta = cfg.get("rope_theta", 10000.0)
        self.rope_scaling = cfg.get("rope_scaling")

    def inv_freq(self, scaling="config"):
        """HF _compute_default_rope_parameters / _compute_llama3_parameters, in float64."""
        hd = self.hd
        inv = 1.0 / (self.theta ** (torch.arange(0, hd, 2, dtype=F64) / hd))
        rs = self.rope_scaling
        if not rs or scaling == "none":
            return inv
        assert rs.get("rope_type", rs.get("type")) == "llama3", rs
        factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        low_wl, high_wl = old / lo, old / hi
        wl = 2 * math.pi / inv
        inv_l = torch.where(wl > low_wl, inv / factor, inv)
        smooth = (old / wl - lo) / (hi - lo)
        smoothed = (1 - smooth) * inv_l / factor + smooth * inv_l
        medium = ~(wl < high_wl) * ~(wl > low_wl)
        if scaling == "nosmooth":  # the medium band left unscaled: must differ
            return inv_l
        return torch.where(medium, smoothed, inv_l)

    def names(self):
        n = ["model.embed_tokens.weight"]
        for i in range(self.L):
            p = f"model.layers.{i}."
            n += [p + "input_layernorm.weight", p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight",
                  p + "self_attn.v_proj.weight"]
            if self.qkv_bias:
                n += [p + "self_attn.q_proj.bias", p + "self_attn.k_proj.bias", p + "self_attn.v_proj.bias"]
            if self.qk_norm:
                n += [p + "self_attn.q_norm.weight", p + "self_attn.k_norm.weight"]
            n += [p + "self_attn.o_proj.weight", p + "post_attention_layernorm.weight", p + "mlp.gate_proj.weight",
                  p + "mlp.up_proj.weight", p + "mlp.down_proj.weight"]
        n.append("model.norm.weight")
        if not self.tied:
            n.append("lm_head.weight")
        return n

    def shape(self, name):
        D, H, KV, hd, F, V = self.D, self.H, self.KV, self.hd, self.F, self.V
        leaf = name.split(".")[-2] + "." + name.split(".")[-1]
        return {"embed_tokens.weight": (V, D), "lm_head.weight": (V, D), "norm.weight": (D,),
                "input_layernorm.weight": (D,), "post_attention_layernorm.weight": (D,),
                "q_proj.weight": (H * hd, D), "k_proj.weight": (KV * hd, D), "v_proj.weight": (KV * hd, D),
                "q_proj.bias": (H * hd,), "k_proj.bias": (KV * hd,), "v_proj.bias": (KV * hd,),
                "q_norm.weight": (hd,), "k_norm.weight": (hd,), "o_proj.weight": (D, H * hd),
                "gate_proj.weight": (F, D), "up_proj.weight": (F, D), "down_proj.weight": (D, F)}[leaf]


def random_weights(spec, gen):
    """Tiny random weights, F32: non-trivial norms (1 + 0.1 randn; q/k norms
    1 + 0.3 randn) and biases (0.3 randn) so a missing term shows."""
    w = {}
    for n in spec.names():
        shp = spec.shape(n)
        r = torch.randn(*shp, generator=gen)
        if n.endswith("norm.weight"):
            w[n] = 1.0 + (0.3 if ("q_norm" in n or "k_norm" in n) else 0.1) * r
        elif n.endswith(".bias"):
            w[n] = 0.3 * r
        elif "embed_tokens" in n:  # tied: also the output head, logits of a few units
            w[n] = (0.2 if spec.tied else 0.5) * r
        else:
            w[n] = 0.2 * r
    return {k: v.float() for k, v in w.items()}


def rms(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), -1)


def rope(x, cos, sin, pairs):
    """x [B, n, T, hd]; cos/sin [T, hd] (HF: cat(freqs, freqs)). pairs: llama.cpp's
    layout, element 2i and 2i+1 rotated by frequency i (for the permutation check)."""
    if not pairs:
        return x * cos + rotate_half(x) * sin
    h = x.shape[-1] // 2
    a, b = x[..., 0::2], x[..., 1::2]
    c, s = cos[..., :h], sin[..., :h]
    return torch.stack((a * c - b * s, a * s + b * c), -1).flatten(-2)


def forward(spec, w, ids, var=None, rec=None):
    """Logits [B, T, V] of the HF definition. var (a set) alters it on purpose
    for the sensitivity checks: "rope:none", "rope:nosmooth", "scale:dim/heads",
    "no_qk_norm", "qk_norm_after_rope", "pairs" (llama.cpp rope layout).
    rec(name, x), when given, sees the input x [..., in] of every matmul by
    weight name (the lm_head's as "lm_head.weight", tied or not)."""
    var = var or set()
    Bn, Tn = ids.shape
    H, KV, hd, eps = spec.H, spec.KV, spec.hd, spec.eps
    dt = w["model.embed_tokens.weight"].dtype
    inv = spec.inv_freq("none" if "rope:none" in var else "nosmooth" if "rope:nosmooth" in var else "config")
    ang = torch.arange(Tn, dtype=F64)[:, None] * inv[None, :]
    emb = torch.cat((ang, ang), -1)
    cos, sin = emb.cos().to(dt), emb.sin().to(dt)
    pairs = "pairs" in var
    i_ = torch.arange(Tn)
    allowed = i_[None, :] <= i_[:, None]
    if spec.window is not None:
        allowed = allowed & (i_[:, None] - i_[None, :] < spec.window)
    mask = torch.zeros(Tn, Tn, dtype=dt).masked_fill(~allowed, float("-inf"))
    scale = (spec.D // H if "scale:dim/heads" in var else hd) ** -0.5

    def lin(x, name, bias=None):
        if rec:
            rec(name, x)
        y = x @ w[name].T
        return y + w[bias] if bias else y

    x = w["model.embed_tokens.weight"][ids]
    for i in range(spec.L):
        p = f"model.layers.{i}."
        h = rms(x, w[p + "input_layernorm.weight"], eps)
        qb = (p + "self_attn.q_proj.bias", p + "self_attn.k_proj.bias", p + "self_attn.v_proj.bias") \
            if spec.qkv_bias else (None, None, None)
        q = lin(h, p + "self_attn.q_proj.weight", qb[0]).view(Bn, Tn, H, hd)
        k = lin(h, p + "self_attn.k_proj.weight", qb[1]).view(Bn, Tn, KV, hd)
        v = lin(h, p + "self_attn.v_proj.weight", qb[2]).view(Bn, Tn, KV, hd)
        norm_qk = spec.qk_norm and "no_qk_norm" not in var
        if norm_qk and "qk_norm_after_rope" not in var:
            q = rms(q, w[p + "self_attn.q_norm.weight"], eps)
            k = rms(k, w[p + "self_attn.k_norm.weight"], eps)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        q, k = rope(q, cos, sin, pairs), rope(k, cos, sin, pairs)
        if norm_qk and "qk_norm_after_rope" in var:
            q = rms(q, w[p + "self_attn.q_norm.weight"], eps)
            k = rms(k, w[p + "self_attn.k_norm.weight"], eps)
        # repeat_kv: query head h reads kv head h // (H / KV)
        k = k[:, :, None].expand(Bn, KV, H // KV, Tn, hd).reshape(Bn, H, Tn, hd)
        v = v[:, :, None].expand(Bn, KV, H // KV, Tn, hd).reshape(Bn, H, Tn, hd)
        a = torch.softmax(q @ k.transpose(-1, -2) * scale + mask, -1) @ v
        x = x + lin(a.transpose(1, 2).reshape(Bn, Tn, H * hd), p + "self_attn.o_proj.weight")
        h = rms(x, w[p + "post_attention_layernorm.weight"], eps)
        g = torch.nn.functional.silu(lin(h, p + "mlp.gate_proj.weight")) * lin(h, p + "mlp.up_proj.weight")
        x = x + lin(g, p + "mlp.down_proj.weight")
    head = w["model.embed_tokens.weight"] if spec.tied else w["lm_head.weight"]
    h = rms(x, w["model.norm.weight"], eps)
    if rec:
        rec("lm_head.weight", h)
    return h @ head.T


def loss_fn(logits, targets):
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def loss_and_grads(spec, w, ids, targets, dt):
    ws = {k: v.to(dt).clone().requires_grad_(True) for k, v in w.items()}
    logits = forward(spec, ws, ids)
    loss = loss_fn(logits, targets)
    names = list(ws)
    gs = torch.autograd.grad(loss, [ws[n] for n in names])
    return logits.detach(), loss.detach(), dict(zip(names, gs))


# ---------------------------------------------------------------- checks
def rel(a, b):
    return ((a.to(F64) - b.to(F64)).abs().max() / b.to(F64).abs().max().clamp_min(1e-30)).item()


def hf_rope_row(r, hd):
    """io/export_awq.c qt_hf_rope_row: HF row r (h·hd + j·hd/2 + i) is our row h·hd + 2i + j."""
    h, wi, half = r // hd, r % hd, hd // 2
    return h * hd + 2 * (wi % half) + wi // half


def to_llamacpp_layout(spec, w):
    out = dict(w)
    for n, t in w.items():
        if any(s in n for s in ("q_proj.", "k_proj.", "q_norm.", "k_norm.")):
            idx = torch.tensor([hf_rope_row(r, spec.hd) for r in range(t.shape[0])])
            o = torch.empty_like(t)
            o[idx] = t
            out[n] = o
    return out


def check_llama3_bands(spec):
    rs = spec.rope_scaling
    old = rs["original_max_position_embeddings"]
    low_wl, high_wl = old / rs["low_freq_factor"], old / rs["high_freq_factor"]
    wl = 2 * math.pi / spec.inv_freq("none")
    unchanged, divided = int((wl < high_wl).sum()), int((wl > low_wl).sum())
    smooth = len(wl) - unchanged - divided
    assert unchanged > 0 and divided > 0 and smooth > 0, (unchanged, smooth, divided)
    edge = torch.minimum((wl / low_wl).log().abs(), (wl / high_wl).log().abs()).min().item()
    assert edge > 0.01, "a wavelength sits on a band edge"
    s = spec.inv_freq() / spec.inv_freq("none")
    assert (s[wl < high_wl] == 1).all() and ((s[wl > low_wl] - 1 / rs["factor"]).abs() < 1e-15).all()
    mid = s[(wl >= high_wl) & (wl <= low_wl)]
    assert ((mid > 1 / rs["factor"] + 1e-3) & (mid < 1 - 1e-3)).all()
    return unchanged, smooth, divided


def self_check(tag, spec, w, ids, targets, logits, loss, grads):
    w64 = {k: v.to(F64) for k, v in w.items()}
    notes = []
    # finite differences along a random direction, per tensor
    gen = torch.Generator().manual_seed(1234)
    worst = 0.0
    with torch.no_grad():
        for n in w64:
            d = torch.randn(*w64[n].shape, generator=gen, dtype=F64)
            d /= d.norm()
            e = 1e-5
            wp, wm = dict(w64), dict(w64)
            wp[n], wm[n] = w64[n] + e * d, w64[n] - e * d
            fd = (loss_fn(forward(spec, wp, ids), targets) - loss_fn(forward(spec, wm, ids), targets)) / (2 * e)
            an = (grads[n] * d).sum()
            err = abs((fd - an).item()) / max(abs(an.item()), (grads[n].abs().sum()).item() * 1e-3, 1e-12)
            worst = max(worst, err)
            assert err < 1e-6, f"{tag}: {n}: finite difference {fd.item():.10g} vs autograd {an.item():.10g}"
    notes.append(f"fd {worst:.1e}")
    with torch.no_grad():
        # llama.cpp layout: permuted q/k rows, biases and q/k norms + rope on pairs
        lp = forward(spec, to_llamacpp_layout(spec, w64), ids, {"pairs"})
        e = rel(lp, logits)
        assert e < 1e-12, f"{tag}: llama.cpp-layout forward differs: {e}"
        assert rel(forward(spec, w64, ids, {"pairs"}), logits) > 1e-2, f"{tag}: rope layout does not matter"
        # each family feature moves the logits far beyond the tolerance
        variants = []
        if spec.rope_scaling:
            variants += [("rope scaling ignored", {"rope:none"}, w64), ("smooth band unscaled", {"rope:nosmooth"}, w64)]
        if spec.hd != spec.D // spec.H:
            variants.append(("scale 1/sqrt(hidden/heads)", {"scale:dim/heads"}, w64))
        if spec.qk_norm:
            variants += [("no q/k norm", {"no_qk_norm"}, w64), ("q/k norm after rope", {"qk_norm_after_rope"}, w64)]
            for which in ("q_norm", "k_norm"):  # one norm's weights all 1 (elements unpermuted would also fail)
                w1 = {k: (torch.ones_like(v) if which in k else v) for k, v in w64.items()}
                variants.append((f"{which} weight 1", set(), w1))
        if spec.qkv_bias:
            for which in ("q_proj.bias", "k_proj.bias", "v_proj.bias"):
                variants.append((f"{which} zero", set(), {k: (v * 0 if which in k else v) for k, v in w64.items()}))
        if spec.qk_norm or spec.qkv_bias:  # permuting the weights but not the bias / norm elements
            part = to_llamacpp_layout(spec, w64)
            part = {k: (w64[k] if (k.endswith(".bias") or "_norm." in k) else v) for k, v in part.items()}
            variants.append(("bias/norm elements unpermuted", {"pairs"}, part))
        for what, var, ww in variants:
            d = rel(forward(spec, ww, ids, var), logits)
            assert d > 100 * LOGIT_TOL, f"{tag}: {what} changes the logits by only {d:.2e}"
            notes.append(f"{what} {d:.1e}")
    # float32 run of the same definition: within the C test's tolerances
    l32, loss32, g32 = loss_and_grads(spec, w, ids, targets, torch.float32)
    el = rel(l32, logits)
    eloss = abs(loss32.item() - loss.item()) / abs(loss.item())
    eg = max(rel(g32[n], grads[n]) for n in grads)
    # margins: observed <= 2.7e-6 (logits), 1.5e-7 (loss), 4.3e-6 (grads)
    assert el < LOGIT_TOL / 2.5 and eloss < LOGIT_TOL / 10 and eg < GRAD_TOL / 10, (tag, el, eloss, eg)
    notes.append(f"f32: logits {el:.1e} loss {eloss:.1e} grads {eg:.1e}")
    return notes


# ---------------------------------------------------------------- files
def write_ckpt(d, cfg, w, shards=0):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    if not shards:
        write_st(os.path.join(d, "model.safetensors"), w, {"format": "pt"})
        return
    names = list(w)
    per = (len(names) + shards - 1) // shards
    wm = {}
    for s in range(shards):
        fn = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = names[s * per:(s + 1) * per]
        write_st(os.path.join(d, fn), {n: w[n] for n in part}, {"format": "pt"})
        wm.update({n: fn for n in part})
    total = sum(t.numel() * 4 for t in w.values())
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": wm}, f, indent=2)


def write_bad(out, weights):
    """Broken checkpoints; tests/test_families.c knows what each error must name."""
    def cfg_variant(tag, src, **changes):
        cfg = dict(FAMILIES[src], **changes)
        write_ckpt(os.path.join(out, tag), cfg, weights[src])

    sh = os.path.join(out, "qwen2_sharded")
    # the index names a file that does not exist
    d = os.path.join(out, "bad_index_absent")
    shutil.copytree(sh, d)
    ip = os.path.join(d, "model.safetensors.index.json")
    idx = json.load(open(ip))
    idx["weight_map"]["model.norm.weight"] = "model-00003-of-00003.safetensors"
    json.dump(idx, open(ip, "w"), indent=2)
    # a shard the index names is gone
    d = os.path.join(out, "bad_shard_missing")
    shutil.copytree(sh, d)
    os.remove(os.path.join(d, "model-00002-of-00002.safetensors"))
    # a tensor the family needs (a Qwen2 bias) is in no shard
    d = os.path.join(out, "bad_tensor_missing")
    gone = "model.layers.1.self_attn.k_proj.bias"
    w = {k: v for k, v in weights["qwen2"].items() if k != gone}
    write_ckpt(d, FAMILIES["qwen2"], w, shards=2)
    # q_norm sized hidden/heads (16) instead of head_dim (32)
    w = dict(weights["qwen3"])
    w["model.layers.0.self_attn.q_norm.weight"] = torch.ones(16)
    write_ckpt(os.path.join(out, "bad_shape"), FAMILIES["qwen3"], w)
    # NaN in a bias and in a k_norm weight
    w = dict(weights["qwen2"])
    w["model.layers.1.self_attn.q_proj.bias"] = w["model.layers.1.self_attn.q_proj.bias"].clone()
    w["model.layers.1.self_attn.q_proj.bias"][5] = float("nan")
    write_ckpt(os.path.join(out, "bad_nan_bias"), FAMILIES["qwen2"], w)
    w = dict(weights["qwen3"])
    w["model.layers.1.self_attn.k_norm.weight"] = w["model.layers.1.self_attn.k_norm.weight"].clone()
    w["model.layers.1.self_attn.k_norm.weight"][3] = float("nan")
    write_ckpt(os.path.join(out, "bad_nan_norm"), FAMILIES["qwen3"], w)
    # config refusals
    cfg_variant("bad_rope_yarn", "llama3", rope_scaling={"rope_type": "yarn", "factor": 4.0,
                                                         "original_max_position_embeddings": 64})
    cfg_variant("bad_gelu", "smollm", hidden_act="gelu")
    cfg_variant("bad_model_type", "qwen2", model_type="gemma2", architectures=["Gemma2ForCausalLM"])


def main(out):
    os.makedirs(out, exist_ok=True)
    gen = torch.Generator().manual_seed(20250601)
    weights = {}
    for fam, cfg in FAMILIES.items():
        spec = Spec(cfg)
        if fam == "llama3":
            bands = check_llama3_bands(spec)
        if spec.window is not None:
            assert spec.window > T
        w = random_weights(spec, gen)
        weights[fam] = w
        ids = torch.randint(0, spec.V, (B, T), generator=gen)
        targets = torch.randint(0, spec.V, (B, T), generator=gen)
        logits, loss, grads = loss_and_grads(spec, w, ids, targets, F64)
        notes = self_check(fam, spec, w, ids, targets, logits, loss, grads)
        if fam == "llama3":
            notes.insert(0, "rope bands unchanged/smooth/divided %d/%d/%d" % bands)
        ref = {"ids": ids.reshape(-1).float(), "targets": targets.reshape(-1).float(),
               "logits": logits.reshape(B * T, spec.V).float(), "loss": loss.reshape(1).float()}
        for n in spec.names():
            ref["grad." + n] = grads[n].float()
        meta = {"family": fam, "B": str(B), "T": str(T), "head_dim": str(spec.hd), "tied": str(int(spec.tied))}
        tags = [fam] + (["qwen2_sharded"] if fam == "qwen2" else [])
        for tag in tags:
            write_ckpt(os.path.join(out, tag), cfg, w, shards=2 if tag.endswith("_sharded") else 0)
            write_st(os.path.join(out, f"ref_{tag}.safetensors"), ref, dict(meta, tag=tag))
        print(f"hf_families: {fam}: loss {loss.item():.6f}; " + "; ".join(notes))
    write_bad(out, weights)
    print("hf_families: wrote", out)


def check_hf_ref(d):
    """hf_ref.py's f32 checkpoint through this forward vs hf_ref.py's own logits."""
    cfg = json.load(open(os.path.join(d, "f32", "config.json")))
    spec = Spec(cfg)
    w = read_st(os.path.join(d, "f32", "model.safetensors"))
    assert sorted(w) == sorted(spec.names()), "tensor names differ"
    ref = read_st(os.path.join(d, "ref.safetensors"))
    ids = ref["ids"].long().reshape(2, -1)
    with torch.no_grad():
        logits = forward(spec, w, ids)
    e = rel(logits.reshape(-1, spec.V), ref["logits_f32"])
    # hf_ref stores float64 logits rounded to F32: agreement to F32 rounding
    assert e < 1e-7, e
    print(f"hf_families: hf_ref.py f32 logits reproduced, rel err {e:.2e}")


def write_one(tag, out, args):
    """--ckpt: one checkpoint of family tag, config keys overridden (see the usage)."""
    cfg = dict(FAMILIES[tag])
    tok = None
    for a in args:
        if a.startswith("--tokenizer="):
            tok = a.split("=", 1)[1]
            continue
        key, _, val = a.partition("=")
        if not _ or not key:
            sys.exit(f"hf_families: {a!r}: expected KEY=JSON (a config.json key)")
        cfg[key] = json.loads(val)
    os.makedirs(out, exist_ok=True)
    if tok:
        t = json.load(open(tok, encoding="utf-8"))
        size = max(list(t["model"]["vocab"].values()) + [x["id"] for x in t.get("added_tokens", [])]) + 1
        if not any(a.startswith("vocab_size=") for a in args):
            cfg["vocab_size"] = size
        assert cfg["vocab_size"] >= size, (cfg["vocab_size"], size)
        shutil.copyfile(tok, os.path.join(out, "tokenizer.json"))
        tc = os.path.join(os.path.dirname(tok), "tokenizer_config.json")
        if os.path.exists(tc):
            shutil.copyfile(tc, os.path.join(out, "tokenizer_config.json"))
    spec = Spec(cfg)
    if spec.rope_scaling:
        check_llama3_bands(spec)
    if spec.window is not None:
        assert spec.window > T
    w = random_weights(spec, torch.Generator().manual_seed(20250601))
    write_ckpt(out, cfg, w)
    print(f"hf_families: {tag}: wrote {out} (vocab {spec.V}, dim {spec.D}, head_dim {spec.hd}, ffn {spec.F}, "
          f"tied {int(spec.tied)}{', tokenizer ' + os.path.basename(tok) if tok else ''})")


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "--ckpt":
        groups, cur = [], None  # one process for several checkpoints: "--ckpt TAG OUT [ARGS] --ckpt ..."
        for a in sys.argv[1:]:
            if a == "--ckpt":
                cur = []
                groups.append(cur)
            else:
                cur.append(a)
        for g in groups:
            if len(g) < 2 or g[0] not in FAMILIES:
                sys.exit(__doc__)
            args = g[2:]
            for i, a in enumerate(args):  # "--tokenizer FILE" as one item
                if a == "--tokenizer" and i + 1 < len(args):
                    args[i:i + 2] = ["--tokenizer=" + args[i + 1], ""]
            write_one(g[0], g[1], [a for a in args if a])
    elif len(sys.argv) == 3 and sys.argv[1] == "--check-hf-ref":
        check_hf_ref(sys.argv[2])
    elif len(sys.argv) == 2:
        main(sys.argv[1])
    else:
        sys.exit(__doc__)
