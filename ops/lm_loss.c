/* Fused "linear + loss" for the LM head: the logits x·Wᵀ are made chunk by
 * chunk of rows into one arena scratch of chunk×V floats, reduced to per-row
 * statistics (O(N)), and made again chunk by chunk in backward, where each
 * chunk's logits gradient goes straight into dx and dW through sgemm. When all
 * rows fit in one chunk, backward reuses the forward's logits instead of
 * recomputing them, so small vocabularies cost no extra product. */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ops/fastmath.h"
#include "ops/lm_loss.h"
#include "ops/ops.h"

int qt_lm_loss_chunk_rows(int n, int v, int blocks) {
    size_t per_row = (size_t)(v > 0 ? v : 1) * (size_t)(blocks > 0 ? blocks : 1);
    size_t rows = QT_LM_LOSS_BUDGET / per_row;
    if (rows < QT_LM_LOSS_MIN_ROWS) rows = QT_LM_LOSS_MIN_ROWS;
    if (rows > (size_t)n) rows = (size_t)(n > 0 ? n : 1);
    return (int)rows;
}

static int pick_rows(int n, int v, int blocks, int chunk_rows) {
    if (chunk_rows <= 0) return qt_lm_loss_chunk_rows(n, v, blocks);
    return chunk_rows < n ? chunk_rows : (n > 0 ? n : 1);
}

/* z[c, V] = xc[c, D] · Wᵀ (W [V, D]) */
static void chunk_logits(const float *xc, const float *w, int c, int D, int V, float *z) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, c, V, D, 1.0f, xc, D, w, D, 0.0f, z, V);
}

/* dxc[c, D] (+)= dz[c, V] · W (beta 1 accumulates, 0 overwrites); skipped when dxc is NULL */
static void chunk_dx(const float *dz, const float *w, int c, int D, int V, float *dxc, float beta) {
    if (dxc) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c, D, V, 1.0f, dz, V, w, D, beta, dxc, D);
}

/* dW[V, D] += dzᵀ · xc[c, D]; skipped when dw is NULL */
static void chunk_dw(const float *dz, const float *xc, int c, int D, int V, float *dw) {
    if (dw) cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, V, D, c, 1.0f, dz, V, xc, D, 1.0f, dw, D);
}

static void check_head(const char *op, const qt_tensor *x, const qt_tensor *w) {
    char sx[64], sw[64];
    if (w->ndim != 2 || w->shape[1] != qt_cols(x))
        qt_die("%s: expected x [..., D] and W [V, D], got %s and %s", op, qt_shape_str(x, sx, 64),
               qt_shape_str(w, sw, 64));
}

/* ---- cross-entropy ----
 * Only scored rows (target >= 0) are multiplied: when some are ignored, their
 * indices go in idx and each chunk's rows of x are gathered into xbuf. */
typedef struct {
    const int32_t *targets;
    int32_t *idx;   /* scored rows in order, NULL when every row is scored */
    float *lse;     /* per scored row */
    float *z;       /* chunk×V logits scratch */
    float *xbuf;    /* chunk×D gathered rows of x (idx only) */
    int count, chunk;
} lce_state;

/* The rows of x for scored rows k0 .. k0+c: a pointer into x or the gathered copy. */
static const float *lce_rows(const lce_state *st, const float *x, int k0, int c, int D) {
    if (!st->idx) return x + (size_t)k0 * D;
    for (int k = 0; k < c; k++)
        memcpy(st->xbuf + (size_t)k * D, x + (size_t)st->idx[k0 + k] * D, (size_t)D * sizeof(float));
    return st->xbuf;
}

/* iarg[0] = 1 while z and xbuf still hold the forward's single chunk */
static void lce_backward(qt_ctx *ctx, qt_node *nd) {
    qt_tensor *x = nd->in[0], *w = nd->in[1];
    const lce_state *st = nd->ptr;
    int D = qt_cols(x), V = w->shape[0], count = st->count, C = st->chunk;
    if (!count) return;
    float g = nd->out->grad[0] / (float)count;
    float *dx = x->requires_grad ? qt_grad(ctx, x) : NULL;
    float *dw = w->requires_grad ? qt_grad(ctx, w) : NULL;
    float *z = st->z;
    for (int k0 = 0; k0 < count; k0 += C) {
        int c = count - k0 < C ? count - k0 : C;
        const float *xc;
        if (nd->iarg[0]) {
            xc = st->idx ? st->xbuf : x->data;
        } else {
            xc = lce_rows(st, x->data, k0, c, D);
            chunk_logits(xc, w->data, c, D, V, z);
        }
        nd->iarg[0] = 0; /* z becomes dlogits below */
        /* dlogits = (softmax − onehot) · g / count, in place */
#pragma omp parallel for if (c > 16)
        for (int k = 0; k < c; k++) {
            float *zr = z + (size_t)k * V;
            const float l = st->lse[k0 + k];
#pragma omp simd
            for (int j = 0; j < V; j++) zr[j] = g * fast_expf(zr[j] - l);
            zr[st->targets[st->idx ? st->idx[k0 + k] : k0 + k]] -= g;
        }
        chunk_dw(z, xc, c, D, V, dw);
        if (!st->idx) {
            chunk_dx(z, w->data, c, D, V, dx ? dx + (size_t)k0 * D : NULL, 1.0f);
        } else if (dx) {
            /* xbuf is no longer needed for this chunk: it takes dlogits·W, scattered into dx */
            chunk_dx(z, w->data, c, D, V, st->xbuf, 0.0f);
#pragma omp parallel for if ((size_t)c * D > 65536)
            for (int k = 0; k < c; k++) {
                float *dr = dx + (size_t)st->idx[k0 + k] * D;
                const float *sr = st->xbuf + (size_t)k * D;
                for (int i = 0; i < D; i++) dr[i] += sr[i];
            }
        }
    }
}

qt_tensor *qt_linear_cross_entropy_ex(qt_ctx *ctx, qt_tensor *x, qt_tensor *w, const int32_t *targets,
                                      int chunk_rows) {
    check_head("linear_cross_entropy", x, w);
    int N = qt_rows(x), D = qt_cols(x), V = w->shape[0], count = 0;
    for (int r = 0; r < N; r++) {
        if (targets[r] >= V)
            qt_die("linear_cross_entropy: target %d at row %d outside [0, %d)", targets[r], r, V);
        count += targets[r] >= 0;
    }
    int recording = ctx->no_grad <= 0 && (x->requires_grad || w->requires_grad);
    lce_state *st = qt_arena_alloc(&ctx->arena, sizeof *st);
    memset(st, 0, sizeof *st);
    st->targets = targets;
    st->count = count;
    st->chunk = pick_rows(count, V, 1, chunk_rows);
    int C = st->chunk;
    if (count && count < N) {
        st->idx = qt_arena_alloc(&ctx->arena, (size_t)count * sizeof(int32_t));
        for (int r = 0, k = 0; r < N; r++)
            if (targets[r] >= 0) st->idx[k++] = r;
        st->xbuf = qt_arena_alloc(&ctx->arena, (size_t)C * D * sizeof(float));
    }
    if (count) st->z = qt_arena_alloc(&ctx->arena, (size_t)C * V * sizeof(float));
    if (recording && count) st->lse = qt_arena_alloc(&ctx->arena, (size_t)count * sizeof(float));
    double total = 0.0;
    for (int k0 = 0; k0 < count; k0 += C) {
        int c = count - k0 < C ? count - k0 : C;
        chunk_logits(lce_rows(st, x->data, k0, c, D), w->data, c, D, V, st->z);
        float *lse = st->lse;
        const int32_t *idx = st->idx;
        const float *z = st->z;
#pragma omp parallel for reduction(+ : total) if (c > 16)
        for (int k = 0; k < c; k++) {
            const float *zr = z + (size_t)k * V;
            double l = row_lse(zr, V, 1.0f);
            if (lse) lse[k0 + k] = (float)l;
            total += l - zr[targets[idx ? idx[k0 + k] : k0 + k]];
        }
    }
    qt_tensor *y = qt_new1(ctx, 1);
    y->data[0] = count ? (float)(total / count) : 0.0f;
    qt_tensor *in[2] = {x, w};
    qt_node *nd = qt_record(ctx, "linear_cross_entropy", lce_backward, y, 2, in);
    if (nd) {
        nd->ptr = st;
        nd->iarg[0] = count > 0 && C >= count;
    }
    return y;
}

qt_tensor *qt_linear_cross_entropy(qt_ctx *ctx, qt_tensor *x, qt_tensor *w, const int32_t *targets) {
    return qt_linear_cross_entropy_ex(ctx, x, w, targets, 0);
}

/* ---- KL(p_t ‖ p_s) at temperature T, times T², mean over rows ----
 * zt and zs: the teacher's and the student's chunk×V logits scratch. */
typedef struct {
    double lt, ls, kl; /* teacher and student log-sum-exp of logits/T, row KL */
} lkl_row;

typedef struct {
    lkl_row *rows;
    float *zt, *zs;
    int chunk;
} lkl_state;

/* iarg[0] = 1 while zt and zs still hold the forward's single chunk */
static void lkl_backward(qt_ctx *ctx, qt_node *nd) {
    qt_tensor *xt = nd->in[0], *wt = nd->in[1], *xs = nd->in[2], *ws = nd->in[3];
    const lkl_state *st = nd->ptr;
    int N = qt_rows(xs), Dt = qt_cols(xt), Ds = qt_cols(xs), V = ws->shape[0], C = st->chunk;
    float T = nd->farg[0], inv_t = 1.0f / T;
    float g = nd->out->grad[0] * T / (float)N; /* T² · (1/T) chain factor */
    float *dxt = xt->requires_grad ? qt_grad(ctx, xt) : NULL, *dwt = wt->requires_grad ? qt_grad(ctx, wt) : NULL;
    float *dxs = xs->requires_grad ? qt_grad(ctx, xs) : NULL, *dws = ws->requires_grad ? qt_grad(ctx, ws) : NULL;
    float *zt = st->zt, *zs = st->zs;
    const lkl_row *rs = st->rows;
    for (int r0 = 0; r0 < N; r0 += C) {
        int c = N - r0 < C ? N - r0 : C;
        if (!nd->iarg[0]) {
            chunk_logits(xt->data + (size_t)r0 * Dt, wt->data, c, Dt, V, zt);
            chunk_logits(xs->data + (size_t)r0 * Ds, ws->data, c, Ds, V, zs);
        }
        nd->iarg[0] = 0; /* zt, zs become the logits gradients below */
        /* d zs = g·(p_s − p_t), d zt = g·p_t·(log p_t − log p_s − KL), in place */
#pragma omp parallel for if (c > 16)
        for (int k = 0; k < c; k++) {
            float *tr = zt + (size_t)k * V, *sr = zs + (size_t)k * V;
            const lkl_row *q = &rs[r0 + k];
            const float lt = (float)q->lt, ls = (float)q->ls, d = (float)(q->lt - q->ls), kl = (float)q->kl;
#pragma omp simd
            for (int j = 0; j < V; j++) {
                float a = tr[j] * inv_t, b = sr[j] * inv_t;
                float pt = fast_expf(a - lt), ps = fast_expf(b - ls);
                sr[j] = g * (ps - pt);
                tr[j] = g * pt * ((a - b) - d - kl);
            }
        }
        chunk_dx(zt, wt->data, c, Dt, V, dxt ? dxt + (size_t)r0 * Dt : NULL, 1.0f);
        chunk_dw(zt, xt->data + (size_t)r0 * Dt, c, Dt, V, dwt);
        chunk_dx(zs, ws->data, c, Ds, V, dxs ? dxs + (size_t)r0 * Ds : NULL, 1.0f);
        chunk_dw(zs, xs->data + (size_t)r0 * Ds, c, Ds, V, dws);
    }
}

qt_tensor *qt_linear_kl_div_ex(qt_ctx *ctx, qt_tensor *xt, qt_tensor *wt, qt_tensor *xs, qt_tensor *ws,
                               float temperature, int chunk_rows) {
    char s1[64], s2[64];
    check_head("linear_kl_div", xt, wt);
    check_head("linear_kl_div", xs, ws);
    if (qt_rows(xt) != qt_rows(xs) || wt->shape[0] != ws->shape[0])
        qt_die("linear_kl_div: teacher rows/vocab (%d, W %s) differ from the student's (%d, W %s)", qt_rows(xt),
               qt_shape_str(wt, s1, 64), qt_rows(xs), qt_shape_str(ws, s2, 64));
    if (!(temperature > 0.0f)) qt_die("linear_kl_div: temperature %g must be > 0", (double)temperature);
    int N = qt_rows(xs), Dt = qt_cols(xt), Ds = qt_cols(xs), V = ws->shape[0];
    int recording = ctx->no_grad <= 0 &&
                    (xt->requires_grad || wt->requires_grad || xs->requires_grad || ws->requires_grad);
    lkl_state *st = qt_arena_alloc(&ctx->arena, sizeof *st);
    memset(st, 0, sizeof *st);
    st->chunk = pick_rows(N, V, 2, chunk_rows);
    int C = st->chunk;
    st->zt = qt_arena_alloc(&ctx->arena, (size_t)C * V * sizeof(float));
    st->zs = qt_arena_alloc(&ctx->arena, (size_t)C * V * sizeof(float));
    if (recording) st->rows = qt_arena_alloc(&ctx->arena, (size_t)N * sizeof(lkl_row));
    float inv_t = 1.0f / temperature;
    double total = 0.0;
    for (int r0 = 0; r0 < N; r0 += C) {
        int c = N - r0 < C ? N - r0 : C;
        chunk_logits(xt->data + (size_t)r0 * Dt, wt->data, c, Dt, V, st->zt);
        chunk_logits(xs->data + (size_t)r0 * Ds, ws->data, c, Ds, V, st->zs);
        const float *zt = st->zt, *zs = st->zs;
        lkl_row *rs = st->rows;
#pragma omp parallel for reduction(+ : total) if (c > 16)
        for (int k = 0; k < c; k++) {
            const float *tr = zt + (size_t)k * V, *sr = zs + (size_t)k * V;
            double lt = row_lse(tr, V, inv_t), ls = row_lse(sr, V, inv_t), kl = 0.0;
            /* KL = Σ p_t·(log p_t − log p_s) with log p_t − log p_s = (a − b) − (lt − ls) */
            const float flt = (float)lt, d = (float)(lt - ls);
#pragma omp simd reduction(+ : kl)
            for (int j = 0; j < V; j++) {
                float a = tr[j] * inv_t, b = sr[j] * inv_t;
                kl += fast_expf(a - flt) * ((a - b) - d);
            }
            if (rs) rs[r0 + k] = (lkl_row){lt, ls, kl};
            total += kl;
        }
    }
    qt_tensor *y = qt_new1(ctx, 1);
    y->data[0] = (float)(total / N * temperature * temperature);
    qt_tensor *in[4] = {xt, wt, xs, ws};
    qt_node *nd = qt_record(ctx, "linear_kl_div", lkl_backward, y, 4, in);
    if (nd) {
        nd->ptr = st;
        nd->iarg[0] = C >= N;
        nd->farg[0] = temperature;
    }
    return y;
}

qt_tensor *qt_linear_kl_div(qt_ctx *ctx, qt_tensor *xt, qt_tensor *wt, qt_tensor *xs, qt_tensor *ws,
                            float temperature) {
    return qt_linear_kl_div_ex(ctx, xt, wt, xs, ws, temperature, 0);
}
