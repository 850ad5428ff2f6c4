/* Deployment-faithful evaluation: see eval/faithful.h. */
#include "eval/faithful.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "quant/quant.h"

qt_deploy *qt_deploy_wrap(qt_model *m) {
    qt_deploy *d = calloc(1, sizeof *d);
    if (!d) qt_die("out of memory");
    d->m = m;
    d->act = calloc((size_t)m->n_linears, sizeof *d->act);
    d->mins = calloc((size_t)m->n_linears, sizeof *d->mins);
    if (!d->act || !d->mins) qt_die("out of memory");
    return d;
}

void qt_deploy_free(qt_deploy *d) {
    if (!d) return;
    if (d->m)
        for (int j = 0; j < d->m->n_linears; j++) free(d->mins[j]);
    free(d->mins);
    free(d->act);
    qt_model_free(d->m);
    free(d);
}

void qt_deploy_unfaithful(qt_deploy *d) {
    for (int j = 0; j < d->m->n_linears; j++) {
        d->act[j] = QT_RT_F32;
        free(d->mins[j]);
        d->mins[j] = NULL;
    }
}

qt_deploy *qt_deploy_from_qat(const qt_model *qat, int faithful) {
    qt_model *m = qt_model_clone(qat);
    for (int j = 0; j < m->n_linears; j++) {
        m->linears[j]->wq = NULL;
        m->linears[j]->aq = NULL;
    }
    qt_deploy *d = qt_deploy_wrap(m);
    for (int j = 0; j < qat->n_linears; j++) {
        const qt_linear_layer *l = qat->linears[j];
        if (!l->wq) continue;
        qt_qweight *qw = qt_freeze(l->w, l->wq);
        qt_qweight_dequant(qw, m->linears[j]->w->data);
        if (faithful) {
            if (qw->spec.grid == QT_GRID_FLOAT_MIN && qw->gsize == 32 && qw->spec.group > 0) {
                d->act[j] = QT_RT_Q8_1;
                size_t n = (size_t)qw->rows * qw->ngroups;
                d->mins[j] = malloc(n * sizeof(float));
                if (!d->mins[j]) qt_die("out of memory");
                memcpy(d->mins[j], qw->mins, n * sizeof(float));
            } else {
                d->act[j] = QT_RT_Q8_0;
            }
        }
        qt_qweight_free(qw);
    }
    return d;
}

static int linear_index(const qt_model *m, const qt_linear_layer *l) {
    for (int j = 0; j < m->n_linears; j++)
        if (m->linears[j] == l) return j;
    qt_die("deploy: Linear %s is not in the model", l->w->name);
}

/* y = round(x)·Wᵀ with the runtime's input rounding of Linear j */
static qt_tensor *dlinear(qt_ctx *ctx, const qt_deploy *d, const qt_linear_layer *l, qt_tensor *x) {
    const int j = linear_index(d->m, l);
    const qt_rt_act mode = d->act[j];
    if (mode == QT_RT_F32) return qt_linear(ctx, x, l->w);
    const int rows = qt_rows(x), cols = qt_cols(x);
    qt_tensor *xr = qt_tensor_like(ctx, x);
    if (mode == QT_RT_F16) {
#pragma omp parallel for simd if (x->n > 65536)
        for (size_t i = 0; i < x->n; i++) xr->data[i] = qt_f16_round(x->data[i]);
        return qt_linear(ctx, xr, l->w);
    }
    const int nb = (cols + 31) / 32;
    float *corr = mode == QT_RT_Q8_1 ? qt_arena_alloc(&ctx->arena, (size_t)rows * nb * sizeof(float)) : NULL;
#pragma omp parallel for if (x->n > 32768)
    for (int r = 0; r < rows; r++) {
        size_t o = (size_t)r * cols;
        if (!corr) {
            qt_q8_blocks_row(x->data + o, xr->data + o, (size_t)cols, NULL, NULL);
            continue;
        }
        float d32[nb];
        int qs[nb];
        qt_q8_blocks_row(x->data + o, xr->data + o, (size_t)cols, d32, qs);
        for (int b = 0; b < nb; b++) {
            /* llama.cpp's min term uses s = fp16(d32·Σq); x̂·Ŵᵀ gives fp16(d32)·Σq */
            float s = qt_f16_round(d32[b] * (float)qs[b]);
            corr[(size_t)r * nb + b] = s - qt_f16_round(d32[b]) * (float)qs[b];
        }
    }
    qt_tensor *y = qt_linear(ctx, xr, l->w);
    if (corr) {
        const int out = qt_rows(l->w);
        if (qt_cols(l->w) % 32) qt_die("deploy: %s: Q8_1 needs rows of a multiple of 32", l->w->name);
        /* y [rows, out] += corr [rows, nb] · minsᵀ, mins [out, nb] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out, nb, 1.0f, corr, nb, d->mins[j], nb, 1.0f,
                    y->data, out);
    }
    return y;
}

qt_tensor *qt_deploy_forward(qt_ctx *ctx, const qt_deploy *d, const int32_t *ids, int B, int T) {
    qt_model *m = d->m;
    const qt_model_cfg *c = &m->cfg;
    if (c->arch != QT_ARCH_LLAMA) qt_die("deploy: only the llama arch is supported");
    qt_no_grad(ctx, 1);
    qt_tensor *x = qt_embedding(ctx, m->tok_emb, ids, B * T, T);
    for (int i = 0; i < c->layers; i++) {
        qt_block *b = &m->blocks[i];
        qt_tensor *h = qt_rmsnorm(ctx, x, b->attn_norm, c->norm_eps);
        qt_tensor *q = qt_rope(ctx, dlinear(ctx, d, &b->wq, h), c->heads, c->rope_theta, 0);
        qt_tensor *k = qt_rope(ctx, dlinear(ctx, d, &b->wk, h), c->kv_heads, c->rope_theta, 0);
        qt_tensor *v = dlinear(ctx, d, &b->wv, h);
        qt_tensor *a = qt_attention(ctx, q, k, v, c->heads, c->kv_heads);
        x = qt_add(ctx, x, dlinear(ctx, d, &b->wo, a));
        h = qt_rmsnorm(ctx, x, b->ffn_norm, c->norm_eps);
        qt_tensor *g = qt_swiglu(ctx, dlinear(ctx, d, &b->w1, h), dlinear(ctx, d, &b->w3, h));
        x = qt_add(ctx, x, dlinear(ctx, d, &b->w2, g));
    }
    x = qt_rmsnorm(ctx, x, m->norm, c->norm_eps);
    qt_tensor *z = dlinear(ctx, d, &m->output, x);
    qt_no_grad(ctx, -1);
    return z;
}

/* Σ over t in [1, len) of -log softmax(z[t-1])[ids[t]], in double */
static double chunk_nll(const float *z, const int32_t *ids, int len, int V) {
    double s = 0.0;
    for (int t = 1; t < len; t++) {
        const float *zt = z + (size_t)(t - 1) * V;
        double mx = zt[0];
        for (int v = 1; v < V; v++) mx = zt[v] > mx ? zt[v] : mx;
        double e = 0.0;
        for (int v = 0; v < V; v++) e += exp((double)zt[v] - mx);
        s += mx + log(e) - (double)zt[ids[t]];
    }
    return s;
}

int qt_deploy_score(qt_ctx *ctx, const qt_deploy *d, const int32_t *ids, long n, int N, double *nll_mean,
                    long *n_scored, char *err, size_t errlen) {
    const int V = d->m->cfg.vocab;
    if (d->m->cfg.arch != QT_ARCH_LLAMA) {
        snprintf(err, errlen, "score: only the llama arch is supported (this model is mlp)");
        return -1;
    }
    if (N < 2) {
        snprintf(err, errlen, "score: chunk length %d (expected >= 2)", N);
        return -1;
    }
    for (long i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= V) {
            snprintf(err, errlen, "score: token %ld is %d, outside the vocabulary [0, %d)", i, (int)ids[i], V);
            return -1;
        }
    long full = n / N, rest = n % N, cnt = 0;
    double sum = 0.0;
    const int batch = 4;
    for (long c0 = 0; c0 < full; c0 += batch) {
        int B = (int)(full - c0 < batch ? full - c0 : batch);
        qt_ctx_reset(ctx);
        qt_tensor *z = qt_deploy_forward(ctx, d, ids + c0 * N, B, N);
        for (int b = 0; b < B; b++) sum += chunk_nll(z->data + (size_t)b * N * V, ids + (c0 + b) * N, N, V);
        cnt += (long)B * (N - 1);
    }
    if (rest >= 2) {
        qt_ctx_reset(ctx);
        qt_tensor *z = qt_deploy_forward(ctx, d, ids + full * N, 1, (int)rest);
        sum += chunk_nll(z->data, ids + full * N, (int)rest, V);
        cnt += rest - 1;
    }
    qt_ctx_reset(ctx);
    if (!cnt) {
        snprintf(err, errlen, "score: %ld token ids give nothing to score (need at least 2)", n);
        return -1;
    }
    *nll_mean = sum / (double)cnt;
    *n_scored = cnt;
    return 0;
}
