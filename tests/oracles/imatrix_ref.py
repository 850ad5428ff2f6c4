"""Oracle of tests/test_imatrix.c: checks qatc's llama.cpp importance-matrix
file (imatrix.gguf) in each case directory DIR/TAG with no qatc code:
  - parses the GGUF with its own reader (v3 layout: header, KVs, tensor
    infos, data at general.alignment or 32) and checks llama-imatrix's form:
    general.type "imatrix" (string), imatrix.datasets (array of strings),
    imatrix.chunk_count = nseq and imatrix.chunk_size = T (u32), no
    general.architecture, exactly W.in_sum2 (F32, ne [in, 1]) and W.counts
    (F32, ne [1, 1]) for the GGUF name W of every Linear of the HF
    checkpoint (mapped here from HF names: q_proj → blk.N.attn_q.weight, ...,
    lm_head → output.weight, or token_embd.weight when tied), entries in name
    order (in_sum2 then counts, as llama-imatrix writes them), counts = nseq·T;
  - in_sum2 vs numpy's float64 Σx² of the inputs qatc's hooks saw (J.x):
    1e-6 relative;
  - in_sum2 vs Σx² of the inputs of tests/oracles/hf_families.py's float64
    torch forward of the HF checkpoint on the calibration windows: 1e-5
    relative per column (measured 1.4e-6: qatc's forward is float32);
  - llama.cpp (libggml-base.so): ggml_quantize_chunk of J.w with importance
    float32(in_sum2) / float32(counts) gives J.q's bytes; for "ptq" lines,
    dequantize_row of those bytes equals J.ptq (qatc's PTQ llamacpp weights).
usage: imatrix_ref.py DIR TAG...   exit 0 and "imatrix_ref: ok" when all hold."""
import ctypes as C
import glob
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_families as H  # noqa: E402
from st_util import read_st  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


def read_gguf(path):
    b = open(path, "rb").read()
    pos = [0]

    def take(fmt):
        v = struct.unpack_from(fmt, b, pos[0])
        pos[0] += struct.calcsize(fmt)
        return v[0]

    def string():
        n = take("<Q")
        s = b[pos[0]:pos[0] + n].decode()
        pos[0] += n
        return s

    def value(t):
        if t == 8:
            return string()
        if t == 9:
            et, n = take("<I"), take("<Q")
            return (et, [value(et) for _ in range(n)])
        return take(SCALAR[t])

    assert b[:4] == b"GGUF", "magic"
    pos[0] = 4
    version, nt, nkv = take("<I"), take("<Q"), take("<Q")
    kv = {}
    for _ in range(nkv):
        k = string()
        t = take("<I")
        kv[k] = (t, value(t))
    infos = []
    for _ in range(nt):
        name = string()
        nd = take("<I")
        ne = [take("<Q") for _ in range(nd)]
        infos.append((name, ne, take("<I"), take("<Q")))
    align = kv.get("general.alignment", (4, 32))[1]
    base = (pos[0] + align - 1) // align * align
    tensors = {}
    for name, ne, t, off in infos:
        assert t == 0, f"{name}: type {t}, expected F32 (0)"
        n = int(np.prod(ne))
        assert off % align == 0 and base + off + 4 * n <= len(b), f"{name}: data out of place"
        tensors[name] = (ne, np.frombuffer(b, dtype=np.float32, count=n, offset=base + off))
    return version, kv, [i[0] for i in infos], tensors


LEAF = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
        "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
        "mlp.down_proj": "ffn_down"}
QATC_LEAF = {"attention.wq": "attn_q", "attention.wk": "attn_k", "attention.wv": "attn_v", "attention.wo": "attn_output",
             "feed_forward.w1": "ffn_gate", "feed_forward.w3": "ffn_up", "feed_forward.w2": "ffn_down"}


def gguf_of_hf(name, tied):
    if name == "lm_head.weight":
        return "token_embd.weight" if tied else "output.weight"
    p = name.split(".")  # model.layers.N.self_attn.q_proj.weight
    return f"blk.{p[2]}.{LEAF[p[3] + '.' + p[4]]}.weight"


def gguf_of_qatc(name):
    if name in ("output.weight", "tok_embeddings.weight"):
        return "output.weight" if name == "output.weight" else "token_embd.weight"
    p = name.split(".")  # layers.N.attention.wq.weight
    return f"blk.{p[1]}.{QATC_LEAF[p[2] + '.' + p[3]]}.weight"


def ggml():
    libs = glob.glob(os.path.join(HERE, "node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so"))
    if not libs:
        sys.exit("imatrix_ref.py: libggml-base.so missing: run scripts/install_oracles.sh")
    lib = C.CDLL(libs[0])
    lib.ggml_quantize_chunk.restype = C.c_size_t
    lib.ggml_quantize_chunk.argtypes = [C.c_int, C.c_void_p, C.c_void_p, C.c_int64, C.c_int64, C.c_int64, C.c_void_p]
    lib.ggml_type_name.restype = C.c_char_p
    lib.ggml_type_name.argtypes = [C.c_int]
    lib.ggml_row_size.restype = C.c_size_t
    lib.ggml_row_size.argtypes = [C.c_int, C.c_int64]
    return lib


def check_case(d, lib, errs, stat):
    man = [ln.split() for ln in open(os.path.join(d, "manifest.txt")) if ln.strip()]
    tag, nseq, T = man[0][1], int(man[0][2]), int(man[0][3])
    cfg_path = os.path.join(d, "hf", "config.json")
    import json
    cfg = json.load(open(cfg_path))
    spec = H.Spec(cfg)
    w = read_st(os.path.join(d, "hf", "model.safetensors"))
    version, kv, order, ts = read_gguf(os.path.join(d, "imatrix.gguf"))

    def err(msg):
        errs.append(f"{tag}: {msg}")

    if version != 3:
        err(f"GGUF version {version}")
    want_kv = {"general.type": (8, "imatrix"), "imatrix.chunk_count": (4, nseq), "imatrix.chunk_size": (4, T)}
    for k, v in want_kv.items():
        if kv.get(k) != v:
            err(f"{k} = {kv.get(k)}, expected {v}")
    ds = kv.get("imatrix.datasets")
    if not ds or ds[0] != 9 or ds[1][0] != 8 or ds[1][1] != ["qatc test windows"]:
        err(f"imatrix.datasets = {ds}")
    if "general.architecture" in kv:
        err("general.architecture present (llama-imatrix writes none)")

    # the Linears of the HF checkpoint and the inputs torch's forward gives them
    sums = {}

    def rec(name, x):
        x = x.reshape(-1, x.shape[-1]).to(torch.float64)
        sums[name] = sums.get(name, 0) + (x * x).sum(0)

    ids = torch.from_numpy(np.fromfile(os.path.join(d, "calib.i32"), dtype=np.int32).astype(np.int64)).reshape(nseq, T)
    with torch.no_grad():
        H.forward(spec, w, ids, rec=rec)
    names = {gguf_of_hf(n, spec.tied): n for n in sums}
    # llama-imatrix: entries in weight-name order, each as in_sum2 then counts
    want_tensors = [f"{g}.{x}" for g in sorted(names) for x in ("in_sum2", "counts")]
    if order != want_tensors:
        err(f"tensors {order}, expected {want_tensors}")
    for g, hfn in names.items():
        if f"{g}.in_sum2" not in ts or f"{g}.counts" not in ts:
            continue
        ne, s2 = ts[f"{g}.in_sum2"]
        nc, cnt = ts[f"{g}.counts"]
        ref = sums[hfn].numpy()
        if ne != [ref.size, 1] or nc != [1, 1]:
            err(f"{g}: in_sum2 ne {ne}, counts ne {nc}, expected [{ref.size}, 1] and [1, 1]")
            continue
        if cnt[0] != nseq * T:
            err(f"{g}: counts {cnt[0]}, expected {nseq * T}")
        e = float(np.max(np.abs(s2 - ref) / ref))
        stat["torch"] = max(stat["torch"], e)
        if e > 1e-5:
            err(f"{g}: in_sum2 differs from torch's float64 Σx² by {e:.2e} (relative, worst column)")

    ptq = {}
    for ln in man[1:]:
        if ln[0] == "ptq":
            ptq[int(ln[1])] = int(ln[2])
    lins = {}
    for ln in man[1:]:
        if ln[0] != "lin":
            continue
        j, qname, t, rows, cols = int(ln[1]), ln[2], int(ln[3]), int(ln[4]), int(ln[5])
        g = gguf_of_qatc(qname)
        if g == "token_embd.weight" and not spec.tied:
            err(f"{qname}: maps to token_embd in an untied model")
        lins[j] = (g, rows, cols)
        if f"{g}.in_sum2" not in ts:
            err(f"{g} (qatc {qname}) missing")
            continue
        s2, cnt = ts[f"{g}.in_sum2"][1], ts[f"{g}.counts"][1]
        # the inputs qatc's hooks saw: numpy's Σx²
        x = np.fromfile(os.path.join(d, f"{j}.x"), dtype=np.float32).astype(np.float64).reshape(-1, cols)
        if x.shape[0] != nseq * T:
            err(f"{g}: {x.shape[0]} rows dumped, expected {nseq * T}")
        e = float(np.max(np.abs(s2 - (x * x).sum(0)) / (x * x).sum(0)))
        stat["hooks"] = max(stat["hooks"], e)
        if e > 1e-6:
            err(f"{g}: in_sum2 differs from numpy's Σx² of qatc's Linear inputs by {e:.2e}")
        # llama-quantize: importance = in_sum2 / counts in float32
        imx = (s2.astype(np.float32) / np.float32(cnt[0])).astype(np.float32)
        W = np.fromfile(os.path.join(d, f"{j}.w"), dtype=np.float32)
        assert W.size == rows * cols
        out = np.zeros(lib.ggml_row_size(t, cols) * rows, dtype=np.uint8)
        lib.ggml_quantize_chunk(t, W.ctypes.data, out.ctypes.data, 0, rows, cols, imx.ctypes.data)
        q = np.fromfile(os.path.join(d, f"{j}.q"), dtype=np.uint8)
        stat["chunks"] += 1
        if q.size != out.size or not np.array_equal(q, out):
            err(f"{g}: {lib.ggml_type_name(t).decode()} bytes of ggml_quantize_chunk with the file's importance "
                "differ from qatc's")
        if j in ptq:
            pt = ptq[j]
            pq = np.zeros(lib.ggml_row_size(pt, cols) * rows, dtype=np.uint8)
            lib.ggml_quantize_chunk(pt, W.ctypes.data, pq.ctypes.data, 0, rows, cols, imx.ctypes.data)
            fn = getattr(lib, "dequantize_row_" + lib.ggml_type_name(pt).decode().lower().replace("_k", "_K"))
            fn.argtypes = [C.c_void_p, C.c_void_p, C.c_int64]
            y = np.zeros(rows * cols, dtype=np.float32)
            fn(pq.ctypes.data, y.ctypes.data, rows * cols)
            mine = np.fromfile(os.path.join(d, f"{j}.ptq"), dtype=np.float32)
            stat["ptq"] += 1
            if not np.array_equal(y.view(np.uint32), mine.view(np.uint32)):
                err(f"{g}: qatc's PTQ llamacpp weights differ from llama.cpp's {lib.ggml_type_name(pt).decode()} "
                    "with the file's importance")
    if sorted(v[0] for v in lins.values()) != sorted(names):
        err(f"qatc's Linears map to {sorted(v[0] for v in lins.values())}, the HF checkpoint's to {sorted(names)}")


def main():
    root, tags = sys.argv[1], sys.argv[2:]
    lib = ggml()
    errs, stat = [], {"torch": 0.0, "hooks": 0.0, "chunks": 0, "ptq": 0}
    for tag in tags:
        check_case(os.path.join(root, tag), lib, errs, stat)
    for e in errs:
        print("imatrix_ref: " + e, file=sys.stderr)
    print(f"imatrix_ref: {len(tags)} cases; in_sum2 vs hooks' inputs {stat['hooks']:.2e}, vs torch float64 "
          f"{stat['torch']:.2e} (worst relative column); {stat['chunks']} ggml_quantize_chunk byte checks, "
          f"{stat['ptq']} PTQ llamacpp weight checks")
    if errs:
        return 1
    print("imatrix_ref: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
