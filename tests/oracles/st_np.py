"""numpy-only safetensors reader shared by the packed-format oracles (awq_unpack.py,
gptq_unpack.py), written from the safetensors layout: u64 header length, JSON
header, byte buffer. read_st(path): {name: array (BF16 as uint16), name + "/dtype": str};
float_errors(st, checked): what the quantized exports must also hold (fp16 float tensors, a module compared)."""
import json
import struct

import numpy as np

DT = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16, "I32": np.int32, "I64": np.int64}


def read_st(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    buf = raw[8 + n:]
    out = {}
    for name, e in header.items():
        b0, b1 = e["data_offsets"]
        out[name] = np.frombuffer(buf[b0:b1], dtype=DT[e["dtype"]]).reshape(e["shape"])
        out[name + "/dtype"] = e["dtype"]
    return out


def float_errors(st, checked):
    errors = [f"{n}: expected an F16 tensor" for n in ("model.embed_tokens.weight", "lm_head.weight", "model.norm.weight")
              if st.get(n + "/dtype") != "F16"]
    if checked == 0:
        errors.append("no quantized module compared")
    return errors
