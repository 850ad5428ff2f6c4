"""Small safetensors writer and reader shared by the torch oracles (hf_ref.py,
hf_families.py), so the files qatc reads are not written by qatc's own code.
write_st(path, {name: tensor}, meta): F32/F16/BF16/F64 torch tensors, header
padded with spaces to 8 bytes, tensors contiguous in insertion order.
read_st(path): {name: float64 tensor} for F32/F16/BF16/F64 (a check helper)."""
import json
import struct

import numpy as np
import torch

DT = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64"}


def write_st(path, tensors, meta=None):
    header, blobs, off = {}, [], 0
    if meta:
        header["__metadata__"] = meta
    for name, t in tensors.items():
        t = t.detach().contiguous()
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        header[name] = {"dtype": DT[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b_ in blobs:
            f.write(b_)


def read_st(path):
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n])
    base, out = 8 + n, {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        raw = buf[base + a:base + b]
        if e["dtype"] == "BF16":
            i16 = np.frombuffer(raw, dtype=np.int16).astype(np.int32) << 16
            arr = i16.astype(np.uint32).view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype={"F32": np.float32, "F16": np.float16, "F64": np.float64}[e["dtype"]])
        out[name] = torch.from_numpy(arr.astype(np.float64).reshape(e["shape"]))
    return out
