"""llama.cpp's own block codecs, for tests/test_ggml_codecs.c: loads the
prebuilt libggml-base.so of npm @node-llama-cpp/linux-x64 (installed by
scripts/install_oracles.sh) with ctypes and runs, on the inputs the test wrote,
  quantize_row_<type>_ref (F16/BF16: the type traits' from_float_ref),
  dequantize_row_<type> (F16/BF16: the traits' to_float) of those bytes,
  ggml_quantize_chunk without and with the test's importance matrix,
  dequantize_row_<type> of the imatrix bytes,
and reports, for every type id the test lists, ggml_type_name and the traits'
block size and type size. Nothing of qatc is loaded.
usage: ggml_codecs.py DIR   (DIR/manifest.txt: "types ID..." then one line
"case I TYPE NROWS N_PER_ROW" per case, with DIR/I.x and DIR/I.imx as raw
float32; writes DIR/I.ref, I.deq, I.chunk, I.chunkw, I.deqw and DIR/types.txt;
"blocks I TYPE N" lines: DIR/I.blk holds N values of blocks qatc wrote, decoded
by dequantize_row_<type> to DIR/I.bdeq)"""
import ctypes as C
import os
import sys

import numpy as np

import llama_quantize


class Traits(C.Structure):
    # struct ggml_type_traits (ggml.h)
    _fields_ = [("type_name", C.c_char_p), ("blck_size", C.c_int64), ("blck_size_interleave", C.c_int64),
                ("type_size", C.c_size_t), ("is_quantized", C.c_bool), ("to_float", C.c_void_p),
                ("from_float_ref", C.c_void_p)]


ROW_FN = C.CFUNCTYPE(None, C.c_void_p, C.c_void_p, C.c_int64)
F32, F16, BF16, Q8_K = 0, 1, 30, 15


def main():
    out = sys.argv[1]
    lib = llama_quantize.ggml()  # libggml-base.so, ggml_type_name / blck_size / type_size typed
    lib.ggml_get_type_traits.restype = C.POINTER(Traits)
    lib.ggml_get_type_traits.argtypes = [C.c_int]
    lib.ggml_quantize_chunk.restype = C.c_size_t
    lib.ggml_quantize_chunk.argtypes = [C.c_int, C.c_void_p, C.c_void_p, C.c_int64, C.c_int64, C.c_int64, C.c_void_p]

    lines = open(os.path.join(out, "manifest.txt")).read().split("\n")
    with open(os.path.join(out, "types.txt"), "w") as f:
        for t in [int(v) for v in lines[0].split()[1:]]:
            tr = lib.ggml_get_type_traits(t).contents
            name = lib.ggml_type_name(t).decode()
            # the traits struct is read as laid out above: its name must be ggml_type_name's
            # and its sizes ggml_blck_size's / ggml_type_size's
            if tr.type_name.decode() != name or tr.blck_size != lib.ggml_blck_size(t) or \
                    tr.type_size != lib.ggml_type_size(t):
                print(f"ggml_codecs.py: type traits of {t} misread", file=sys.stderr)
                return 1
            f.write(f"{t} {name} {tr.blck_size} {tr.type_size}\n")

    for line in lines[1:]:
        if not line.strip():
            continue
        if line.startswith("blocks "):  # blocks qatc wrote: decoded by llama.cpp
            _, i, t, n = line.split()
            t, n = int(t), int(n)
            name = lib.ggml_type_name(t).decode().lower().replace("_k", "_K")
            deq_fn = getattr(lib, f"dequantize_row_{name}")
            deq_fn.argtypes = [C.c_void_p, C.c_void_p, C.c_int64]
            blk = np.fromfile(os.path.join(out, f"{i}.blk"), dtype=np.uint8)
            tr = lib.ggml_get_type_traits(t).contents
            assert blk.size == n // tr.blck_size * tr.type_size
            y = np.zeros(n, dtype=np.float32)
            deq_fn(blk.ctypes.data, y.ctypes.data, n)
            y.tofile(os.path.join(out, f"{i}.bdeq"))
            continue
        _, i, t, nrows, n_per_row = line.split()
        t, nrows, n_per_row = int(t), int(nrows), int(n_per_row)
        n = nrows * n_per_row
        x = np.fromfile(os.path.join(out, f"{i}.x"), dtype=np.float32)
        imx = np.fromfile(os.path.join(out, f"{i}.imx"), dtype=np.float32)
        assert x.size == n and imx.size == n_per_row
        tr = lib.ggml_get_type_traits(t).contents
        name = lib.ggml_type_name(t).decode().lower().replace("_k", "_K")  # quantize_row_q4_K_ref
        nbytes = n // tr.blck_size * tr.type_size
        # zero-filled: Q8_K leaves an all-zero super-block's bsums untouched
        ref = np.zeros(nbytes, dtype=np.uint8)
        if t in (F16, BF16):
            quant, deq_fn = ROW_FN(tr.from_float_ref), ROW_FN(tr.to_float)
        elif t == F32:
            quant = deq_fn = None
        else:
            quant = getattr(lib, f"quantize_row_{name}_ref")
            deq_fn = getattr(lib, f"dequantize_row_{name}")
            quant.argtypes = deq_fn.argtypes = [C.c_void_p, C.c_void_p, C.c_int64]
            # the exported functions are the ones the type traits point at (Q8_K's traits
            # have none: it is only a matmul input type)
            if t != Q8_K and (C.cast(deq_fn, C.c_void_p).value != tr.to_float or
                              C.cast(quant, C.c_void_p).value != tr.from_float_ref):
                print(f"ggml_codecs.py: {name}: exported codecs are not the traits' ones", file=sys.stderr)
                return 1
        if quant is None:
            ref = x.view(np.uint8).copy()
        else:
            quant(x.ctypes.data, ref.ctypes.data, n)
        ref.tofile(os.path.join(out, f"{i}.ref"))

        def deq(buf):
            y = np.zeros(n, dtype=np.float32)
            if deq_fn is None:
                y = buf.view(np.float32).copy()
            else:
                deq_fn(buf.ctypes.data, y.ctypes.data, n)
            return y

        deq(ref).tofile(os.path.join(out, f"{i}.deq"))
        if t == Q8_K:  # llama.cpp has no chunk quantizer for Q8_K
            continue
        for suffix, w in (("chunk", None), ("chunkw", imx)):
            buf = np.zeros(nbytes, dtype=np.uint8)
            got = lib.ggml_quantize_chunk(t, x.ctypes.data, buf.ctypes.data, 0, nrows, n_per_row,
                                          None if w is None else w.ctypes.data)
            if got != nbytes:
                print(f"ggml_codecs.py: ggml_quantize_chunk({name}) wrote {got} bytes, not {nbytes}", file=sys.stderr)
                return 1
            buf.tofile(os.path.join(out, f"{i}.{suffix}"))
            if w is not None:
                deq(buf).tofile(os.path.join(out, f"{i}.deqw"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
