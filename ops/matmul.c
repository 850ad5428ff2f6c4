#include <cblas.h>
#include <string.h>

#include "ops/ops.h"

/* C[M,N] (+)= op(A)·op(B) with row-major storage; lda/ldb from the stored shapes. */
static void gemm(int ta, int tb, int M, int N, int K, const float *A, const float *B, float *C, float beta) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, 1.0f,
                A, ta ? M : K, B, tb ? K : N, beta, C, N);
}

/* Gradients of C = op(A)·op(B) for one matrix triple (M, N, K as in the forward). */
static void gemm_backward(int ta, int tb, int M, int N, int K, const float *A, const float *B, const float *dC,
                          float *dA, float *dB) {
    if (dA) {
        if (!ta) /* dA[M,K] += dC[M,N] · op(B)ᵀ */
            gemm(0, !tb, M, K, N, dC, B, dA, 1.0f);
        else /* dA[K,M] += op(B)[K,N] · dCᵀ */
            gemm(tb, 1, K, M, N, B, dC, dA, 1.0f);
    }
    if (dB) {
        if (!tb) /* dB[K,N] += op(A)ᵀ · dC */
            gemm(!ta, 0, K, N, M, A, dC, dB, 1.0f);
        else /* dB[N,K] += dCᵀ · op(A) */
            gemm(1, ta, N, K, M, dC, A, dB, 1.0f);
    }
}

static void matmul_backward(qt_ctx *ctx, qt_node *nd) {
    qt_tensor *a = nd->in[0], *b = nd->in[1];
    int ta = nd->iarg[0], tb = nd->iarg[1], M = nd->iarg[2], N = nd->iarg[3], K = nd->iarg[4], batch = nd->iarg[5];
    float *dA = a->requires_grad ? qt_grad(ctx, a) : NULL;
    float *dB = b->requires_grad ? qt_grad(ctx, b) : NULL;
    size_t sa = (size_t)M * K, sb = (size_t)K * N, sc = (size_t)M * N;
    for (int i = 0; i < batch; i++)
        gemm_backward(ta, tb, M, N, K, a->data + i * sa, b->data + i * sb, nd->out->grad + i * sc,
                      dA ? dA + i * sa : NULL, dB ? dB + i * sb : NULL);
}

static qt_tensor *record_matmul(qt_ctx *ctx, qt_tensor *a, qt_tensor *b, qt_tensor *c, int ta, int tb, int M, int N,
                                int K, int batch, const char *name) {
    qt_tensor *in[2] = {a, b};
    qt_node *nd = qt_record(ctx, name, matmul_backward, c, 2, in);
    if (nd) {
        nd->iarg[0] = ta; nd->iarg[1] = tb; nd->iarg[2] = M; nd->iarg[3] = N; nd->iarg[4] = K; nd->iarg[5] = batch;
    }
    return c;
}

qt_tensor *qt_matmul(qt_ctx *ctx, qt_tensor *a, qt_tensor *b, int trans_a, int trans_b) {
    char sa[64], sb[64];
    if (b->ndim != 2 || (trans_a && a->ndim != 2))
        qt_die("matmul: expected 2-D operands, got %s and %s", qt_shape_str(a, sa, 64), qt_shape_str(b, sb, 64));
    int M = trans_a ? a->shape[1] : qt_rows(a);
    int K = trans_a ? a->shape[0] : qt_cols(a);
    int Kb = trans_b ? b->shape[1] : b->shape[0];
    int N = trans_b ? b->shape[0] : b->shape[1];
    if (K != Kb)
        qt_die("matmul: inner dims differ (%d vs %d) for %s%s · %s%s", K, Kb, qt_shape_str(a, sa, 64),
               trans_a ? "ᵀ" : "", qt_shape_str(b, sb, 64), trans_b ? "ᵀ" : "");
    qt_tensor *c;
    if (!trans_a && a->ndim > 2) {
        int shape[QT_MAX_DIMS];
        memcpy(shape, a->shape, sizeof shape);
        shape[a->ndim - 1] = N;
        c = qt_tensor_new(ctx, a->ndim, shape);
    } else {
        c = qt_new2(ctx, M, N);
    }
    gemm(trans_a, trans_b, M, N, K, a->data, b->data, c->data, 0.0f);
    return record_matmul(ctx, a, b, c, trans_a, trans_b, M, N, K, 1, "matmul");
}

qt_tensor *qt_bmm(qt_ctx *ctx, qt_tensor *a, qt_tensor *b, int trans_a, int trans_b) {
    char sa[64], sb[64];
    if (a->ndim != 3 || b->ndim != 3 || a->shape[0] != b->shape[0])
        qt_die("bmm: expected [B, ., .] operands with equal B, got %s and %s", qt_shape_str(a, sa, 64),
               qt_shape_str(b, sb, 64));
    int batch = a->shape[0];
    int M = trans_a ? a->shape[2] : a->shape[1], K = trans_a ? a->shape[1] : a->shape[2];
    int Kb = trans_b ? b->shape[2] : b->shape[1], N = trans_b ? b->shape[1] : b->shape[2];
    if (K != Kb) qt_die("bmm: inner dims differ (%d vs %d) for %s · %s", K, Kb, qt_shape_str(a, sa, 64), qt_shape_str(b, sb, 64));
    qt_tensor *c = qt_new3(ctx, batch, M, N);
    size_t as = (size_t)M * K, bs = (size_t)K * N, cs = (size_t)M * N;
    for (int i = 0; i < batch; i++) gemm(trans_a, trans_b, M, N, K, a->data + i * as, b->data + i * bs, c->data + i * cs, 0.0f);
    return record_matmul(ctx, a, b, c, trans_a, trans_b, M, N, K, batch, "bmm");
}

qt_tensor *qt_linear(qt_ctx *ctx, qt_tensor *x, qt_tensor *w) { return qt_matmul(ctx, x, w, 0, 1); }
