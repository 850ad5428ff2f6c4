"""Reads a GPTQ (AutoGPTQ v1 / GPTQModel v2) or compressed-tensors pack-quantized
checkpoint following only the published layouts, and compares its dequantized
weights with qatc's frozen weights.

GPTQ (AutoGPTQ qlinear pack/forward): qweight int32 [in*bits/32, out] packed along
the input dim; 2/4/8 bits: 32/bits codes per word at shifts 0, bits, ...; 3 bits: 32
codes per 3 words: word0 codes 0..9 at 3j, code 10 = bits 30-31 of word0 | bit 0 of
word1 << 2, codes 11..20 at 3j+1 of word1, code 21 = bit 31 of word1 | bits 0-1 of
word2 << 1, codes 22..31 at 3j+2 of word2. qzeros int32 [ceil(in/g), out*bits/32]
packed the same way along the output dim; scales fp16 [ceil(in/g), out]; g_idx
int32 [in]. W[:, i] = scales[g_idx[i]] * (q - z), z = stored + 1 for
checkpoint_format "gptq" (v1, the default), z = stored for "gptq_v2".

compressed-tensors pack_to_int32: weight_packed int32 [out, ceil(in/pf)], pf =
32 // bits values per word at shifts 0, bits, ... (little end first), value =
signed int + 2^(bits-1); weight_zero_point int32 [ceil(out/pf), in/g] packed the
same way along dim 0 (asymmetric only); weight_scale [out, in/g]; weight_shape
[2]. W = scale * (q - zp).

HF rope rotates halves, so q/k rows are mapped back to the adjacent-pair layout:
reshape(n_head, 2, hd/2, in).swapaxes(1, 2).

usage: gptq_unpack.py DIR REF.safetensors [--read-as gptq|gptq_v2]
                      [--expect-stored-zero N] [--expect-mismatch]
REF holds "<module>.deq" float32 [out, in] (qatc's frozen weights, its own row order).
--read-as reads a GPTQ file as that checkpoint_format whatever its config says;
--expect-mismatch: exit 0 only when the weights differ (a wrong offset).
Exits 0 when every quantized module reproduces REF exactly."""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from st_np import float_errors, read_st  # noqa: E402


def gptq_unpack_rows(p, bits):
    """int32 [words, n] packed along axis 0 -> uint32 [words*32/bits, n]"""
    u = p.view(np.uint32).astype(np.uint64)
    if bits in (2, 4, 8):
        per = 32 // bits
        v = np.zeros((u.shape[0] * per, u.shape[1]), dtype=np.uint64)
        for j in range(per):
            v[j::per] = (u >> (bits * j)) & ((1 << bits) - 1)
        return v.astype(np.int64)
    assert bits == 3
    w = u.reshape(-1, 3, u.shape[1])
    v = np.zeros((w.shape[0], 32, u.shape[1]), dtype=np.uint64)
    for j in range(10):
        v[:, j] = (w[:, 0] >> (3 * j)) & 7
    v[:, 10] = ((w[:, 0] >> 30) & 3) | ((w[:, 1] & 1) << 2)
    for j in range(10):
        v[:, 11 + j] = (w[:, 1] >> (3 * j + 1)) & 7
    v[:, 21] = ((w[:, 1] >> 31) & 1) | ((w[:, 2] & 3) << 1)
    for j in range(10):
        v[:, 22 + j] = (w[:, 2] >> (3 * j + 2)) & 7
    return v.reshape(-1, u.shape[1]).astype(np.int64)


def ct_unpack(p, bits, n, axis):
    """int32 packed along axis (1: columns, 0: rows) -> signed ints, n values along it"""
    pf = 32 // bits
    u = p.view(np.uint32).astype(np.int64)
    if axis == 0:
        u = u.T
    v = np.zeros((u.shape[0], u.shape[1] * pf), dtype=np.int64)
    for i in range(pf):
        v[:, i::pf] = (u >> (bits * i)) & ((1 << bits) - 1)
    v = v[:, :n] - (1 << (bits - 1))
    return v.T if axis == 0 else v


def main():
    args = sys.argv[1:]
    d, ref_path = args[0], args[1]
    read_as = args[args.index("--read-as") + 1] if "--read-as" in args else None
    want_zero = int(args[args.index("--expect-stored-zero") + 1]) if "--expect-stored-zero" in args else None
    expect_mismatch = "--expect-mismatch" in args
    cfg = json.load(open(f"{d}/config.json"))
    qc = cfg["quantization_config"]
    errors = []
    H, D = cfg["num_attention_heads"], cfg["hidden_size"]
    hd = cfg.get("head_dim") or D // H
    st = read_st(f"{d}/model.safetensors")
    ref = read_st(ref_path)
    method = qc["quant_method"]
    if method == "gptq":
        bits, g = qc["bits"], qc["group_size"]
        fmt = read_as or qc.get("checkpoint_format", "gptq")
        qz = json.load(open(f"{d}/quantize_config.json"))
        for k in ("bits", "group_size", "sym", "desc_act", "checkpoint_format"):
            if qz.get(k) != qc.get(k):
                errors.append(f"quantize_config.json {k} = {qz.get(k)!r}, config.json has {qc.get(k)!r}")
        for k in ("damp_percent", "true_sequential", "static_groups"):
            if k not in qc:
                errors.append(f"quantization_config lacks {k}")
        if qc.get("desc_act") is not False:
            errors.append("desc_act is not false")
    elif method == "compressed-tensors":
        if qc.get("format") != "pack-quantized":
            errors.append(f"format {qc.get('format')!r}")
        (grp,) = qc["config_groups"].values()
        w = grp["weights"]
        bits, sym = w["num_bits"], w["symmetric"]
        g = w["group_size"] if w["strategy"] == "group" else -1
        if w["type"] != "int" or grp["targets"] != ["Linear"] or "lm_head" not in qc["ignore"]:
            errors.append(f"config_groups / ignore: {qc}")
    else:
        errors.append(f"quant_method {method!r}")
    checked, differ, zeros_seen = 0, 0, set()
    for name in sorted(k for k in ref if k.endswith(".deq")):
        mod = name[:-4]
        want = ref[name]
        n_out, n_in = want.shape
        gs = n_in if g == -1 else g
        ng = -(-n_in // gs)
        if method == "gptq":
            qw, qzr, sc, gi = st[mod + ".qweight"], st[mod + ".qzeros"], st[mod + ".scales"], st[mod + ".g_idx"]
            if [st[mod + x + "/dtype"] for x in (".qweight", ".qzeros", ".scales", ".g_idx")] != ["I32", "I32", "F16", "I32"]:
                errors.append(f"{mod}: dtypes")
            if qw.shape != (n_in // 32 * bits, n_out) or qzr.shape != (ng, n_out // 32 * bits) or sc.shape != (ng, n_out):
                errors.append(f"{mod}: shapes {qw.shape} {qzr.shape} {sc.shape}")
                continue
            if not np.array_equal(gi, np.arange(n_in) // gs):
                errors.append(f"{mod}: g_idx is not i // group_size")
            q = gptq_unpack_rows(qw, bits)                  # [in, out]
            stored = gptq_unpack_rows(qzr.T.copy(), bits).T  # [ng, out]
            zeros_seen |= set(np.unique(stored).tolist())
            z = stored + (1 if fmt == "gptq" else 0)
            wt = (q - z[gi]).astype(np.float32) * sc[gi].astype(np.float32)  # [in, out]
            w = wt.T
        else:
            wp, sc, shp = st[mod + ".weight_packed"], st[mod + ".weight_scale"], st[mod + ".weight_shape"]
            if st[mod + ".weight_packed/dtype"] != "I32" or st[mod + ".weight_shape/dtype"] != "I64":
                errors.append(f"{mod}: dtypes")
            if list(shp) != [n_out, n_in] or sc.shape != (n_out, ng):
                errors.append(f"{mod}: weight_shape {list(shp)} / weight_scale {sc.shape}")
                continue
            q = ct_unpack(wp, bits, n_in, 1)                 # [out, in]
            zp = np.zeros((n_out, ng), dtype=np.int64)
            if not sym:
                zp = ct_unpack(st[mod + ".weight_zero_point"], bits, n_out, 0)
            elif mod + ".weight_zero_point" in st:
                errors.append(f"{mod}: a symmetric checkpoint with weight_zero_point")
            gi = np.arange(n_in) // gs
            w = (q - zp[:, gi]).astype(np.float32) * sc[:, gi].astype(np.float32)
        if mod.endswith("q_proj") or mod.endswith("k_proj"):
            nh = w.shape[0] // hd
            w = w.reshape(nh, 2, hd // 2, n_in).swapaxes(1, 2).reshape(w.shape)
        if not np.array_equal(w, want):
            differ += 1
            if not expect_mismatch:
                errors.append(f"{mod}: dequantized weights differ from qatc's (first at {np.argwhere(w != want)[:1]})")
        checked += 1
    errors += float_errors(st, checked)
    if want_zero is not None and zeros_seen != {want_zero}:
        errors.append(f"stored qzeros {sorted(zeros_seen)}, expected only {want_zero}")
    if expect_mismatch and differ != checked:
        errors.append(f"read as {read_as}: {checked - differ} of {checked} modules still match (offset not applied?)")
    if errors:
        print("gptq_unpack: FAIL\n  " + "\n  ".join(errors[:10]))
        sys.exit(1)
    what = "all differ as expected" if expect_mismatch else "exact"
    print(f"gptq_unpack: ok ({method}, {checked} modules {what}, {bits}-bit, group {g})")


main()
