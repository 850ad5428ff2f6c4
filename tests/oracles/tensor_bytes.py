"""Compares two checkpoints tensor by tensor, bit for bit, with readers written
here (struct + numpy), not qatc's:
  two GGUF files: the same tensor names, ggml types, shapes and data bytes,
      and the same metadata (keys, value types, values);
  two Hugging Face checkpoints (directories with model.safetensors, or
      .safetensors files): the same tensor names, dtypes, shapes and data bytes
      (header metadata and tensor order may differ).
usage: tensor_bytes.py A B
Prints one line "tensor_bytes: N tensors, M bytes identical (...)"; exit 1
naming the first differences."""
import json
import os
import struct
import sys

# ggml type -> (block size in values, bytes per block)
GGML = {0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 8: (32, 34), 30: (1, 2)}
# GGUF metadata value types: fixed sizes; 8 string, 9 array
FIXED = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


class Reader:
    def __init__(self, buf):
        self.b, self.p = buf, 0

    def take(self, fmt):
        v = struct.unpack_from("<" + fmt, self.b, self.p)
        self.p += struct.calcsize("<" + fmt)
        return v[0]

    def string(self):
        n = self.take("Q")
        s = self.b[self.p:self.p + n]
        self.p += n
        return s.decode("utf-8")

    def value(self, t):
        if t in FIXED:
            return (t, self.take(FIXED[t]))
        if t == 8:
            return (t, self.string())
        if t == 9:
            et, n = self.take("I"), self.take("Q")
            return (t, et, tuple(self.value(et)[-1] for _ in range(n)))
        raise ValueError(f"unknown GGUF value type {t}")


def read_gguf(path):
    with open(path, "rb") as f:
        buf = f.read()
    r = Reader(buf)
    if buf[:4] != b"GGUF":
        raise ValueError(f"{path}: not a GGUF file")
    r.p = 4
    version, n_t, n_kv = r.take("I"), r.take("Q"), r.take("Q")
    if version != 3:
        raise ValueError(f"{path}: GGUF version {version}")
    meta = {}
    for _ in range(n_kv):
        k = r.string()
        meta[k] = r.value(r.take("I"))
    infos = []
    for _ in range(n_t):
        name = r.string()
        nd = r.take("I")
        ne = tuple(r.take("Q") for _ in range(nd))
        infos.append((name, ne, r.take("I"), r.take("Q")))
    align = meta.get("general.alignment", (4, 32))[1]
    base = (r.p + align - 1) // align * align
    tensors = {}
    for name, ne, ty, off in infos:
        if ty not in GGML:
            raise ValueError(f"{path}: {name}: ggml type {ty} not handled here")
        bs, bb = GGML[ty]
        n = 1
        for d in ne:
            n *= d
        size = n // bs * bb
        if base + off + size > len(buf):
            raise ValueError(f"{path}: {name}: data beyond the end of the file")
        tensors[name] = (ty, ne, buf[base + off:base + off + size])
    return meta, tensors


def read_st(path):
    if os.path.isdir(path):
        path = os.path.join(path, "model.safetensors")
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack_from("<Q", buf, 0)
    header = json.loads(buf[8:8 + n])
    tensors = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        tensors[name] = (e["dtype"], tuple(e["shape"]), buf[8 + n + a:8 + n + b])
    return tensors


def main(a, b):
    gguf = a.endswith(".gguf")
    if gguf != b.endswith(".gguf"):
        sys.exit("tensor_bytes: both files must be GGUF, or both Hugging Face checkpoints")
    bad = []
    if gguf:
        (ma, ta), (mb, tb) = read_gguf(a), read_gguf(b)
        for k in sorted(set(ma) | set(mb)):
            if ma.get(k) != mb.get(k):
                show = lambda v: "absent" if v is None else repr(v)[:80]
                bad.append(f"metadata {k}: {show(ma.get(k))} vs {show(mb.get(k))}")
    else:
        ta, tb = read_st(a), read_st(b)
    for n in sorted(set(ta) | set(tb)):
        if n not in ta or n not in tb:
            bad.append(f"tensor {n} only in {a if n in ta else b}")
        elif ta[n][:2] != tb[n][:2]:
            bad.append(f"tensor {n}: type/shape {ta[n][:2]} vs {tb[n][:2]}")
        elif ta[n][2] != tb[n][2]:
            x, y = ta[n][2], tb[n][2]
            i = next(i for i in range(len(x)) if x[i] != y[i])
            bad.append(f"tensor {n}: bytes differ from byte {i} of {len(x)}")
    if bad:
        print(f"tensor_bytes: {a} vs {b}: {len(bad)} difference(s): " + "; ".join(bad[:5]), file=sys.stderr)
        sys.exit(1)
    size = sum(len(t[2]) for t in ta.values())
    extra = f", {len(ma)} metadata keys" if gguf else ""
    print(f"tensor_bytes: {len(ta)} tensors, {size} bytes identical{extra}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
