"""numpy reference of qatc's GPTQ (qat/ptq/gptq.c), the same algorithm in the
same order: dead columns, act-order (stable, descending diag H), percdamp,
upper Cholesky of H^-1 in float64, lazy blocks, group parameters (SYM absmax,
fp16 scales) found when a column opens a group from the current error-updated
weights (act-order: up front on the original weights), quantization in float32.

usage: gptq_ref.py W.bin H.bin out.bin rows cols group bits percdamp act_order blocksize
W.bin float32 [rows, cols]; H.bin float64 [cols, cols]; out.bin float32 dequantized
weights followed by uint8 unsigned codes (q + 2^(bits-1))."""
import sys
import numpy as np

def absmax_params(w32, bits):
    """per row of w32 [R, n]: s = fp16(max(max|w| / Qp, 2^-24)) computed in float32"""
    qmax = np.float32(2 ** (bits - 1) - 1)
    amax = np.max(np.abs(w32), axis=1).astype(np.float32)
    s = (amax / qmax).astype(np.float32)
    s = np.maximum(s, np.float32(2.0 ** -24))
    return s.astype(np.float16).astype(np.float32)

def quant(x32, s, bits):
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    r = np.rint((x32 / s).astype(np.float32))
    r = np.clip(r, lo, hi).astype(np.float32)
    return (r * s).astype(np.float32), (r + 2 ** (bits - 1)).astype(np.uint8)

def main():
    wpath, hpath, opath = sys.argv[1:4]
    R, C, g, bits = (int(v) for v in sys.argv[4:8])
    percdamp = float(sys.argv[8]); act_order = int(sys.argv[9]); bs = int(sys.argv[10])
    W0 = np.fromfile(wpath, dtype=np.float32).reshape(R, C).copy()
    H = np.fromfile(hpath, dtype=np.float64).reshape(C, C).copy()
    dead = np.diag(H) == 0
    H[dead, dead] = 1
    W0[:, dead] = 0
    ng = C // g
    S = np.zeros((R, ng), dtype=np.float32)
    for k in range(ng):      # initial (static) parameters on the original weights
        S[:, k] = absmax_params(W0[:, k * g:(k + 1) * g], bits)
    perm = np.arange(C)
    if act_order:
        perm = np.argsort(-np.diag(H), kind="stable")
    dynamic = not act_order and g < C
    W = W0[:, perm].astype(np.float64)
    H = H[perm][:, perm]
    H[np.arange(C), np.arange(C)] += percdamp * np.mean(np.diag(H))
    L = np.linalg.cholesky(H)
    Linv = np.linalg.inv(L)
    Hinv = Linv.T @ Linv
    U = np.linalg.cholesky(Hinv).T       # Hinv = U^T U, U upper
    Q = np.zeros((R, C), dtype=np.float32)
    codes = np.zeros((R, C), dtype=np.uint8)
    for i1 in range(0, C, bs):
        i2 = min(i1 + bs, C)
        Err = np.zeros((R, i2 - i1))
        for c in range(i1, i2):
            oc = perm[c]
            grp = oc // g
            if dynamic and c % g == 0:
                S[:, grp] = absmax_params(W[:, c:c + g].astype(np.float32), bits)
            d = U[c, c]
            x32 = W[:, c].astype(np.float32)
            xq, code = quant(x32, S[:, grp], bits)
            Q[:, oc] = xq
            codes[:, oc] = code
            e = (W[:, c] - xq.astype(np.float64)) / d
            Err[:, c - i1] = e
            W[:, c + 1:i2] -= np.outer(e, U[c, c + 1:i2])
        W[:, i2:] -= Err @ U[i1:i2, i2:]
    with open(opath, "wb") as f:
        f.write(Q.tobytes())
        f.write(codes.tobytes())

if __name__ == "__main__":
    main()
