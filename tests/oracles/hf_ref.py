"""Torch reference for HF Llama import: writes Hugging Face Llama checkpoints
(config.json + safetensors, written by the small writer in st_util.py) with
random weights in F32, F16 and BF16 (and one sharded with an index), and the
logits a float64 torch forward of the HF Llama definition gives for fixed ids
(rope on halves (i, i + hd/2), GQA, SwiGLU, RMSNorm, untied lm_head).
usage: hf_ref.py OUT_DIR   (writes OUT_DIR/{f32,f16,bf16,sharded}/ and OUT_DIR/ref.safetensors)"""
import json
import os
import sys

import torch

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from st_util import write_st

out = sys.argv[1]
torch.manual_seed(0)
D, L, H, KV, F, V, T, B = 64, 2, 4, 2, 96, 256, 11, 2
hd = D // H
theta, eps = 10000.0, 1e-5
cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": D, "intermediate_size": F,
       "num_hidden_layers": L, "num_attention_heads": H, "num_key_value_heads": KV, "vocab_size": V,
       "max_position_embeddings": 128, "rms_norm_eps": eps, "rope_theta": theta, "tie_word_embeddings": False,
       "hidden_act": "silu", "torch_dtype": "float32"}

p = {"model.embed_tokens.weight": torch.randn(V, D) * 0.5}
for i in range(L):
    pre = f"model.layers.{i}."
    p[pre + "input_layernorm.weight"] = 1.0 + 0.1 * torch.randn(D)
    p[pre + "post_attention_layernorm.weight"] = 1.0 + 0.1 * torch.randn(D)
    p[pre + "self_attn.q_proj.weight"] = torch.randn(H * hd, D) * 0.2
    p[pre + "self_attn.k_proj.weight"] = torch.randn(KV * hd, D) * 0.2
    p[pre + "self_attn.v_proj.weight"] = torch.randn(KV * hd, D) * 0.2
    p[pre + "self_attn.o_proj.weight"] = torch.randn(D, H * hd) * 0.2
    p[pre + "mlp.gate_proj.weight"] = torch.randn(F, D) * 0.2
    p[pre + "mlp.up_proj.weight"] = torch.randn(F, D) * 0.2
    p[pre + "mlp.down_proj.weight"] = torch.randn(D, F) * 0.2
p["model.norm.weight"] = 1.0 + 0.1 * torch.randn(D)
p["lm_head.weight"] = torch.randn(V, D) * 0.2
ids = torch.randint(0, V, (B, T))

def rmsnorm(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rope_halves(x, n):  # HF: rotate_half on (i, i + hd/2)
    b, t, _ = x.shape
    x = x.view(b, t, n, hd)
    inv = theta ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    ang = torch.arange(t, dtype=torch.float64)[:, None] * inv[None, :]
    emb = torch.cat([ang, ang], -1)
    c, s = torch.cos(emb)[None, :, None, :], torch.sin(emb)[None, :, None, :]
    rot = torch.cat([-x[..., hd // 2:], x[..., :hd // 2]], -1)
    return (x * c + rot * s).view(b, t, n * hd)


def forward(w):
    x = w["model.embed_tokens.weight"][ids]
    mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
    for i in range(L):
        pre = f"model.layers.{i}."
        h = rmsnorm(x, w[pre + "input_layernorm.weight"])
        q = rope_halves(h @ w[pre + "self_attn.q_proj.weight"].T, H).view(B, T, H, hd).transpose(1, 2)
        k = rope_halves(h @ w[pre + "self_attn.k_proj.weight"].T, KV).view(B, T, KV, hd).transpose(1, 2)
        v = (h @ w[pre + "self_attn.v_proj.weight"].T).view(B, T, KV, hd).transpose(1, 2)
        k, v = k.repeat_interleave(H // KV, 1), v.repeat_interleave(H // KV, 1)
        a = torch.softmax(q @ k.transpose(-1, -2) / hd ** 0.5 + mask, -1) @ v
        x = x + a.transpose(1, 2).reshape(B, T, H * hd) @ w[pre + "self_attn.o_proj.weight"].T
        h = rmsnorm(x, w[pre + "post_attention_layernorm.weight"])
        g = torch.nn.functional.silu(h @ w[pre + "mlp.gate_proj.weight"].T) * (h @ w[pre + "mlp.up_proj.weight"].T)
        x = x + g @ w[pre + "mlp.down_proj.weight"].T
    return rmsnorm(x, w["model.norm.weight"]) @ w["lm_head.weight"].T


ref = {"ids": ids.to(torch.int32).reshape(-1).float()}
for tag, dt in (("f32", torch.float32), ("f16", torch.float16), ("bf16", torch.bfloat16), ("sharded", torch.float32)):
    d = os.path.join(out, tag)
    os.makedirs(d, exist_ok=True)
    stored = {k: v.to(dt) for k, v in p.items()}
    c = dict(cfg, torch_dtype={"f16": "float16", "bf16": "bfloat16"}.get(tag, "float32"))
    json.dump(c, open(os.path.join(d, "config.json"), "w"), indent=1)
    if tag == "sharded":
        names = list(stored)
        half = len(names) // 2
        parts = {"model-00001-of-00002.safetensors": names[:half], "model-00002-of-00002.safetensors": names[half:]}
        wm = {}
        for fn, ns in parts.items():
            write_st(os.path.join(d, fn), {n: stored[n] for n in ns}, {"format": "pt"})
            wm.update({n: fn for n in ns})
        json.dump({"metadata": {}, "weight_map": wm}, open(os.path.join(d, "model.safetensors.index.json"), "w"))
    else:
        write_st(os.path.join(d, "model.safetensors"), stored, {"format": "pt"})
    with torch.no_grad():
        logits = forward({k: v.to(torch.float64) for k, v in stored.items()})
    ref["logits_" + tag] = logits.reshape(B * T, V).float()
write_st(os.path.join(out, "ref.safetensors"), ref)
print("hf_ref: wrote", out)
