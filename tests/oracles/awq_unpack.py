"""Reads an AutoAWQ GEMM checkpoint following only the published layout and
compares its dequantized weights with qatc's frozen weights.
  qweight int32 [in, out/8], qzeros int32 [in/g, out/8]: 8 4-bit values per int32
  along the output dim in AWQ order [0,2,4,6,1,3,5,7] (packed[:, c] holds
  v[:, 8c + ORDER[i]] at bits 4i); scales fp16 [in/g, out]; W = (q - z)·s.
  HF Llama rope rotates halves, so q/k rows are mapped back to the adjacent-pair
  layout as llama.cpp's converter does: reshape(n_head, 2, hd/2, in).swapaxes(1, 2).
usage: awq_unpack.py AWQ_DIR REF.safetensors
REF holds "<module>.deq" float32 [out, in] (qatc's frozen weights, its own row order).
Exits 0 when every quantized module reproduces them exactly."""
import json
import os
import sys

import numpy as np

ORDER = [0, 2, 4, 6, 1, 3, 5, 7]
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from st_np import float_errors, read_st  # noqa: E402


def unpack(p):
    u = p.view(np.uint32)
    v = np.zeros((u.shape[0], u.shape[1] * 8), dtype=np.uint8)
    for i in range(8):
        v[:, ORDER[i]::8] = ((u >> (4 * i)) & 15).astype(np.uint8)
    return v


awq_dir, ref_path = sys.argv[1], sys.argv[2]
cfg = json.load(open(f"{awq_dir}/config.json"))
qc = cfg["quantization_config"]
errors = []
for k, v in {"quant_method": "awq", "zero_point": True, "bits": 4, "version": "gemm"}.items():
    if qc.get(k) != v:
        errors.append(f"quantization_config.{k} = {qc.get(k)!r}, expected {v!r}")
g = qc["group_size"]
H, KV, D = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["hidden_size"]
hd = D // H
if cfg.get("architectures") != ["LlamaForCausalLM"] or cfg.get("model_type") != "llama":
    errors.append("config.json is not a LlamaForCausalLM")
st = read_st(f"{awq_dir}/model.safetensors")
ref = read_st(ref_path)
checked = 0
for name in sorted(k for k in ref if k.endswith(".deq")):
    mod = name[:-4]
    qw, qz, sc = st[mod + ".qweight"], st[mod + ".qzeros"], st[mod + ".scales"]
    if st[mod + ".qweight/dtype"] != "I32" or st[mod + ".qzeros/dtype"] != "I32" or st[mod + ".scales/dtype"] != "F16":
        errors.append(f"{mod}: dtypes {st[mod + '.qweight/dtype']}, {st[mod + '.qzeros/dtype']}, {st[mod + '.scales/dtype']}")
    n_in, n_out = qw.shape[0], qw.shape[1] * 8
    if qz.shape != (n_in // g, n_out // 8) or sc.shape != (n_in // g, n_out):
        errors.append(f"{mod}: qzeros {qz.shape} / scales {sc.shape} do not match qweight {qw.shape} and group {g}")
        continue
    q = unpack(qw).astype(np.float32)                 # [in, out]
    z = np.repeat(unpack(qz).astype(np.float32), g, axis=0)
    s = np.repeat(sc.astype(np.float32), g, axis=0)
    w = ((q - z) * s).T                               # [out, in], HF row order
    if mod.endswith("q_proj") or mod.endswith("k_proj"):
        nh = w.shape[0] // hd
        w = w.reshape(nh, 2, hd // 2, n_in).swapaxes(1, 2).reshape(w.shape)
    want = ref[name]
    if w.shape != want.shape or not np.array_equal(w, want):
        bad = np.argwhere(w != want)[:1] if w.shape == want.shape else "shape"
        errors.append(f"{mod}: dequantized weights differ from qatc's frozen weights (first at {bad})")
    checked += 1
errors += float_errors(st, checked)
if errors:
    print("awq_unpack: FAIL\n  " + "\n  ".join(errors))
    sys.exit(1)
print(f"awq_unpack: ok ({checked} modules exact, group {g})")
