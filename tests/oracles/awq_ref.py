"""numpy reference of qatc's AWQ scale search (qt_awq_search in qat/ptq/awq.c),
written from the AWQ paper and AutoAWQ's description: for alpha = k/n_grid,
s = mean|x|^alpha (x only) and s = mean|x|^alpha / wmean^(1-alpha) (duo scaling;
wmean = per input channel mean over rows of |w| / max|w| of its group), clamped
at 1e-4 and divided by sqrt(max s * min s); W*diag(s) is quantized by RTN
(SYM absmax per group, fp16 scales), scaled back by 1/s, and the loss is
sum over rows of dW H dW^T / total rows with H = X^T X / N.

usage: awq_ref.py W.bin absmean.bin H.bin out.bin rows in group bits n_grid
W.bin float32 [rows, in] (the Linears sharing the input, stacked);
absmean.bin float64 [in]; H.bin float32 [in, in]; out.bin float64 [2 n_grid]:
losses for x-only scaling, then for duo scaling."""
import sys
import numpy as np
sys.path.insert(0, __file__.rsplit('/', 1)[0])
from gptq_ref import absmax_params, quant

def rtn(w32, g, bits):
    out = np.empty_like(w32)
    for k in range(w32.shape[1] // g):
        blk = w32[:, k * g:(k + 1) * g]
        s = absmax_params(blk, bits)[:, None]
        out[:, k * g:(k + 1) * g] = quant(blk, s, bits)[0]
    return out

def main():
    wp, ap, hp, op = sys.argv[1:5]
    R, C, g, bits, n_grid = (int(v) for v in sys.argv[5:10])
    W = np.fromfile(wp, dtype=np.float32).reshape(R, C)
    am = np.fromfile(ap, dtype=np.float64)
    H = np.fromfile(hp, dtype=np.float32).reshape(C, C).astype(np.float64)
    a = np.abs(W).reshape(R, C // g, g)
    wmean = (a / (a.max(axis=2, keepdims=True) + 1e-6)).reshape(R, C).mean(axis=0)
    losses = []
    for duo in (False, True):
        for k in range(n_grid):
            alpha = k / n_grid
            v = am ** alpha
            if duo:
                v = v / (wmean.astype(np.float64) ** (1 - alpha) + 1e-4)
            v = np.maximum(v, 1e-4)
            s = (v.astype(np.float32) / np.float32(np.sqrt(v.max() * v.min()))).astype(np.float32)
            Q = rtn((W * s).astype(np.float32), g, bits)
            D = (Q / s - W).astype(np.float64)
            losses.append(np.einsum('ri,ij,rj->', D, H, D) / R)
    np.array(losses, dtype=np.float64).tofile(op)

if __name__ == "__main__":
    main()
