"""llama.cpp's own quantizer (`llama-quantize`), for tests/cli/llamacpp_presets.sh: loads the
prebuilt libllama.v0.5.0.so of npm @node-llama-cpp/linux-x64 (installed by
scripts/install_oracles.sh; its libggml*.so beside it are found through its RUNPATH) with ctypes
and calls llama_model_quantize(IN, OUT, &params) for a file type, optionally with an importance
matrix. Nothing of qatc is loaded.

The parameter struct is llama.h's llama_model_quantize_params of that build (the llama.cpp
source node-llama-cpp ships as llama/gitRelease.bundle):
    int32_t nthread; enum llama_ftype ftype; enum ggml_type output_tensor_type;
    enum ggml_type token_embedding_type; bool allow_requantize, quantize_output_tensor,
    only_copy, pure, keep_split, dry_run; const llama_model_imatrix_data *imatrix;
    const llama_model_kv_override *kv_overrides; const llama_model_tensor_override *tt_overrides;
    const int32_t *prune_layers; size_t max_buf_size;
and the importance matrix a C array of {const char *name; const float *data; size_t size}
ended by name NULL (what llama-quantize --imatrix builds from an imatrix file: per tensor the
mean of x² per input column).

usage: llama_quantize.py quantize IN.gguf OUT.gguf FTYPE [IMXDIR]
         FTYPE a LLAMA_FTYPE_MOSTLY_* name without the prefix (Q4_K_M) or its number;
         IMXDIR/<tensor name>.imx: float32 per input column; prints "NAME TYPE" per tensor of OUT
       llama_quantize.py types FILE.gguf          prints "NAME TYPE" per tensor
As a module: read_gguf(path) -> {name: (type_id, dims, bytes)}, dequantize(type_id, bytes, n)
(libggml-base.so's dequantize_row_<type>), type_name(type_id)."""
import ctypes as C
import glob
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
BINS = os.path.join(HERE, "node_modules/@node-llama-cpp/linux-x64/bins/linux-x64")

# include/llama.h enum llama_ftype (this build)
FTYPES = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9, "Q2_K": 10,
          "Q3_K_S": 11, "Q3_K_M": 12, "Q3_K_L": 13, "Q4_K_S": 14, "Q4_K_M": 15, "Q5_K_S": 16,
          "Q5_K_M": 17, "Q6_K": 18}
GGML_TYPE_COUNT = 43  # ggml.h: "use the rules" for output_tensor_type / token_embedding_type


class ImatrixData(C.Structure):
    _fields_ = [("name", C.c_char_p), ("data", C.POINTER(C.c_float)), ("size", C.c_size_t)]


class QuantizeParams(C.Structure):
    _fields_ = [("nthread", C.c_int32), ("ftype", C.c_int), ("output_tensor_type", C.c_int),
                ("token_embedding_type", C.c_int), ("allow_requantize", C.c_bool),
                ("quantize_output_tensor", C.c_bool), ("only_copy", C.c_bool), ("pure", C.c_bool),
                ("keep_split", C.c_bool), ("dry_run", C.c_bool), ("imatrix", C.POINTER(ImatrixData)),
                ("kv_overrides", C.c_void_p), ("tt_overrides", C.c_void_p), ("prune_layers", C.c_void_p),
                ("max_buf_size", C.c_size_t)]


def _lib(name):
    path = os.path.join(BINS, name)
    if not os.path.exists(path):
        sys.exit(f"llama_quantize.py: {path} missing: run scripts/install_oracles.sh")
    return C.CDLL(path)


_ggml = None


def ggml():
    global _ggml
    if _ggml is None:
        _ggml = _lib("libggml-base.so")
        _ggml.ggml_type_name.restype = C.c_char_p
        _ggml.ggml_type_name.argtypes = [C.c_int]
        _ggml.ggml_blck_size.restype = C.c_int64
        _ggml.ggml_blck_size.argtypes = [C.c_int]
        _ggml.ggml_type_size.restype = C.c_size_t
        _ggml.ggml_type_size.argtypes = [C.c_int]
    return _ggml


def type_name(t):
    return ggml().ggml_type_name(t).decode()


def nbytes(t, n):
    g = ggml()
    return n // g.ggml_blck_size(t) * g.ggml_type_size(t)


def dequantize(t, data, n):
    """n floats decoded by llama.cpp's dequantize_row_<type> (F32: the bytes as they are)."""
    if t == 0:
        return np.frombuffer(data, dtype=np.float32, count=n).copy()
    fn = getattr(ggml(), "dequantize_row_" + type_name(t).lower().replace("_k", "_K"))
    fn.argtypes = [C.c_void_p, C.c_void_p, C.c_int64]
    buf = np.frombuffer(data, dtype=np.uint8).copy()
    y = np.zeros(n, dtype=np.float32)
    fn(buf.ctypes.data, y.ctypes.data, n)
    return y


def read_gguf(path):
    """{name: (ggml type id, dims (ne0 first), raw bytes)} of a GGUF v3 file, read from the spec."""
    b = open(path, "rb").read()
    if b[:4] != b"GGUF":
        raise ValueError(f"{path}: not a GGUF file")
    pos = 4
    ver, n_t, n_kv = struct.unpack_from("<IQQ", b, pos)
    pos += 20
    if ver != 3:
        raise ValueError(f"{path}: GGUF version {ver}")
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

    def string():
        nonlocal pos
        n, = struct.unpack_from("<Q", b, pos)
        s = b[pos + 8:pos + 8 + n].decode()
        pos += 8 + n
        return s

    def value(vt):
        nonlocal pos
        if vt == 8:
            return string()
        if vt == 9:
            et, n = struct.unpack_from("<IQ", b, pos)
            pos += 12
            return [value(et) for _ in range(n)]
        fmt = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}[vt]
        v, = struct.unpack_from("<" + fmt, b, pos)
        pos += sizes[vt]
        return v

    align = 32
    for _ in range(n_kv):
        k = string()
        vt, = struct.unpack_from("<I", b, pos)
        pos += 4
        v = value(vt)
        if k == "general.alignment":
            align = v
    infos = []
    for _ in range(n_t):
        name = string()
        nd, = struct.unpack_from("<I", b, pos)
        dims = struct.unpack_from("<" + "Q" * nd, b, pos + 4)
        t, off = struct.unpack_from("<IQ", b, pos + 4 + 8 * nd)
        pos += 4 + 8 * nd + 12
        infos.append((name, t, dims, off))
    base = (pos + align - 1) // align * align
    out = {}
    for name, t, dims, off in infos:
        n = int(np.prod(dims))
        size = n * 4 if t == 0 else n * 2 if t in (1, 30) else nbytes(t, n)
        out[name] = (t, dims, b[base + off:base + off + size])
    return out


def quantize(inp, out, ftype, imxdir=None, nthread=2):
    lib = _lib("libllama.v0.5.0.so")
    lib.llama_model_quantize_default_params.restype = QuantizeParams
    lib.llama_model_quantize.restype = C.c_uint32
    lib.llama_model_quantize.argtypes = [C.c_char_p, C.c_char_p, C.POINTER(QuantizeParams)]
    p = lib.llama_model_quantize_default_params()
    # the defaults this struct layout must read back (llama-quant.cpp llama_model_quantize_default_params)
    if (p.nthread, p.ftype, p.output_tensor_type, p.token_embedding_type, p.allow_requantize,
            p.quantize_output_tensor, p.only_copy, p.pure, p.keep_split, p.dry_run, bool(p.imatrix),
            p.max_buf_size) != (0, FTYPES["Q8_0"], GGML_TYPE_COUNT, GGML_TYPE_COUNT, False, True, False, False,
                                False, False, False, 8 << 30):
        sys.exit("llama_quantize.py: llama_model_quantize_params misread (layout differs from this build's)")
    p.ftype = FTYPES[ftype] if ftype in FTYPES else int(ftype)
    p.nthread = nthread
    keep = []
    if imxdir:
        files = sorted(glob.glob(os.path.join(imxdir, "*.imx")))
        arr = (ImatrixData * (len(files) + 1))()
        for i, f in enumerate(files):
            v = np.fromfile(f, dtype=np.float32)
            keep.append(v)
            name = os.path.basename(f)[:-4].encode()
            keep.append(name)
            arr[i] = ImatrixData(name, v.ctypes.data_as(C.POINTER(C.c_float)), v.size)
        arr[len(files)] = ImatrixData(None, None, 0)
        keep.append(arr)
        p.imatrix = C.cast(arr, C.POINTER(ImatrixData))
    rc = lib.llama_model_quantize(inp.encode(), out.encode(), C.byref(p))
    if rc != 0:
        sys.exit(f"llama_quantize.py: llama_model_quantize failed ({rc})")


def main():
    a = sys.argv[1:]
    if len(a) in (4, 5) and a[0] == "quantize":
        quantize(a[1], a[2], a[3], a[4] if len(a) == 5 else None)
        path = a[2]
    elif len(a) == 2 and a[0] == "types":
        path = a[1]
    else:
        sys.exit(__doc__)
    for name, (t, _, _) in read_gguf(path).items():
        print(name, type_name(t))


if __name__ == "__main__":
    main()
