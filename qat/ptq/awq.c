/* qatc PTQ: scale folding and AWQ (Lin et al. 2023), see qat/ptq/ptq.h. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qat/policy.h"
#include "qat/ptq/ptq.h"

int qt_fold_linears(qt_model *m, int layer, qt_fold_site site, qt_linear_layer **out) {
    if (!qt_arch_is_decoder(m->cfg.arch) || layer < 0 || layer >= m->cfg.layers) return 0;
    qt_block *b = &m->blocks[layer];
    switch (site) {
    case QT_FOLD_ATTN_NORM: out[0] = &b->wq; out[1] = &b->wk; out[2] = &b->wv; return 3;
    case QT_FOLD_V_O: if (m->cfg.kv_heads != m->cfg.heads) return 0; out[0] = &b->wo; return 1;
    case QT_FOLD_FFN_NORM: out[0] = &b->w1; out[1] = &b->w3; return 2;
    case QT_FOLD_UP_DOWN: out[0] = &b->w2; return 1;
    }
    return 0;
}

static void scale_cols(qt_tensor *w, const float *s) {
    int R = w->shape[0], C = w->shape[1];
#pragma omp parallel for schedule(static)
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) w->data[(size_t)r * C + c] *= s[c];
}

static void div_rows(qt_tensor *w, const float *s) {
    int R = w->shape[0], C = w->shape[1];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) w->data[(size_t)r * C + c] /= s[r];
}

int qt_fold_scales(qt_model *m, int layer, qt_fold_site site, const float *s) {
    qt_linear_layer *ls[3];
    int n = qt_fold_linears(m, layer, site, ls);
    if (!n) return -1;
    qt_block *b = &m->blocks[layer];
    int D = m->cfg.dim;
    if (site == QT_FOLD_ATTN_NORM || site == QT_FOLD_FFN_NORM) {
        qt_tensor *nw = site == QT_FOLD_ATTN_NORM ? b->attn_norm : b->ffn_norm;
        for (int j = 0; j < D; j++) nw->data[j] /= s[j];
    } else {
        qt_linear_layer *prev = site == QT_FOLD_V_O ? &b->wv : &b->w3;
        div_rows(prev->w, s);
        if (prev->b) /* the bias is part of the output the next Linear scales back */
            for (int r = 0; r < prev->b->shape[0]; r++) prev->b->data[r] /= s[r];
    }
    for (int i = 0; i < n; i++) scale_cols(ls[i]->w, s);
    return 0;
}

/* Σ_r Δw_r H Δw_rᵀ for D [rows, in] and H [in, in] (float), in double */
static double quad_err(const float *Dm, int rows, int in, const float *H, float *P) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, in, in, 1.0f, Dm, in, H, in, 0.0f, P, in);
    double acc = 0.0;
#pragma omp parallel for reduction(+ : acc) schedule(static)
    for (size_t i = 0; i < (size_t)rows * in; i++) acc += (double)P[i] * Dm[i];
    return acc;
}

/* RTN of w [rows, in] with a fresh quantizer of spec (absmax or MSE init); writes ŵ to out */
static void rtn_into(const qt_quant_spec *spec, const float *w, int rows, int in, int init_mse, float *out) {
    char e[128];
    qt_tensor *t = qt_param_new("awq.tmp", 2, (int[]){rows, in});
    memcpy(t->data, w, (size_t)rows * in * sizeof *w);
    qt_quantizer *q = qt_quantizer_new(spec, t, e, sizeof e);
    if (init_mse)
        qt_quant_init_mse(q, t, 0, 0.0f);
    else
        qt_quant_init_absmax(q, t);
    qt_qweight *qw = qt_freeze(t, q);
    qt_qweight_dequant(qw, out);
    qt_qweight_free(qw);
    qt_quantizer_free(q);
    qt_param_free(t);
}

/* s_j = mean|x_j|^α (x_only) or mean|x_j|^α / wmean_j^(1-α) (AutoAWQ's duo
 * scaling), clamped at 1e-4 and normalised by sqrt(max·min) */
static void awq_s(const qt_calib_stats *st, const float *wmean, double alpha, float *s) {
    int in = st->in;
    double mx = 0.0, mn = INFINITY;
    for (int j = 0; j < in; j++) {
        double v = pow(st->abs_sum[j] / (double)(st->n > 0 ? st->n : 1), alpha);
        if (wmean) v /= pow((double)wmean[j], 1.0 - alpha) + 1e-4;
        if (v < 1e-4) v = 1e-4;
        s[j] = (float)v;
        mx = v > mx ? v : mx;
        mn = v < mn ? v : mn;
    }
    float norm = (float)sqrt(mx * mn);
    for (int j = 0; j < in; j++) s[j] /= norm;
}

/* Per input channel, the mean over the rows of all ls of |w| / max|w| of its
 * quantization group (the group size of specs[0], whole rows when per-channel
 * or per-tensor). */
static void weight_mean(qt_linear_layer *const *ls, int n, const qt_quant_spec *specs, int in, float *wmean) {
    int g = specs[0].group > 0 && in % specs[0].group == 0 ? specs[0].group : in;
    long rows = 0;
    memset(wmean, 0, (size_t)in * sizeof *wmean);
    for (int i = 0; i < n; i++) {
        const qt_tensor *w = ls[i]->w;
        for (int r = 0; r < w->shape[0]; r++, rows++)
            for (int c0 = 0; c0 < in; c0 += g) {
                const float *row = w->data + (size_t)r * in + c0;
                float mx = 0.0f;
                for (int c = 0; c < g; c++) mx = fabsf(row[c]) > mx ? fabsf(row[c]) : mx;
                for (int c = 0; c < g; c++) wmean[c0 + c] += fabsf(row[c]) / (mx + 1e-6f);
            }
    }
    for (int j = 0; j < in; j++) wmean[j] /= (float)(rows > 0 ? rows : 1);
}

double qt_awq_search(qt_linear_layer *const *ls, int n, const qt_quant_spec *specs, int init_mse,
                     const qt_calib_stats *st, int n_grid, float *s_out, double *losses, int *duo) {
    if (n_grid <= 0) n_grid = 20;
    int in = st->in;
    size_t maxrows = 0, tot_rows = 0;
    for (int i = 0; i < n; i++) {
        size_t r = (size_t)ls[i]->w->shape[0];
        maxrows = r > maxrows ? r : maxrows;
        tot_rows += r;
    }
    float *H = malloc((size_t)in * in * sizeof *H), *s = malloc((size_t)in * sizeof *s);
    float *Ws = malloc(maxrows * in * sizeof *Ws), *Q = malloc(maxrows * in * sizeof *Q);
    float *P = malloc(maxrows * in * sizeof *P);
    double inv_n = 1.0 / (double)(st->n > 0 ? st->n : 1);
    for (size_t k = 0; k < (size_t)in * in; k++) H[k] = (float)(st->xtx[k] * inv_n);
    float *wmean = malloc((size_t)in * sizeof *wmean);
    weight_mean(ls, n, specs, in, wmean);
    double best = INFINITY;
    int best_k = 0;
    for (int k = 0; k < 2 * n_grid; k++) {
        /* k < n_grid: s from the activations alone; then duo scaling */
        double alpha = (double)(k % n_grid) / n_grid, loss = 0.0;
        awq_s(st, k < n_grid ? NULL : wmean, alpha, s);
        for (int i = 0; i < n; i++) {
            const qt_tensor *w = ls[i]->w;
            int rows = w->shape[0];
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < in; c++) Ws[(size_t)r * in + c] = w->data[(size_t)r * in + c] * s[c];
            rtn_into(&specs[i], Ws, rows, in, init_mse, Q);
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < in; c++)
                    Q[(size_t)r * in + c] = Q[(size_t)r * in + c] / s[c] - w->data[(size_t)r * in + c];
            loss += quad_err(Q, rows, in, H, P);
        }
        loss /= (double)tot_rows;
        if (losses) losses[k] = loss;
        if (loss < best) {
            best = loss;
            best_k = k;
            memcpy(s_out, s, (size_t)in * sizeof *s);
        }
    }
    if (duo) *duo = best_k >= n_grid;
    free(wmean);
    free(H);
    free(s);
    free(Ws);
    free(Q);
    free(P);
    return (double)(best_k % n_grid) / n_grid;
}

/* ---- clipping search on the output error ---- */

/* For every group of l (per-group or per-channel), the parameters among the
 * current ones (the policy initialiser's) and the shrink-ratio candidates whose
 * fake-quant minimises eᵀ H_gg e (H of the Linear's input, float [in, in]). */
static void clip_search(qt_linear_layer *l, const float *H, int n_grid, float max_shrink) {
    qt_quantizer *q = l->wq;
    if (q->spec.group == QT_GROUP_PER_TENSOR) return;
    int R = q->rows, C = q->cols, g = q->gsize, ng = q->ngroups;
#pragma omp parallel for schedule(dynamic, 4)
    for (int r = 0; r < R; r++) {
        float *e = malloc((size_t)g * sizeof *e);
        for (int k = 0; k < ng; k++) {
            const float *w = l->w->data + (size_t)r * C + (size_t)k * g;
            const float *Hg = H + (size_t)k * g * C + (size_t)k * g;
            /* the policy initialiser's parameters (already in q) compete too, so the
             * result is never worse than RTN on the calibration output error */
            double best = INFINITY;
            float bs = q->scale->data[(size_t)r * ng + k], bo = q->offset ? q->offset->data[(size_t)r * ng + k] : 0.0f;
            for (int t = -1; t <= n_grid; t++) {
                float ratio = 1.0f - (float)t * max_shrink / (float)n_grid, sc = bs, of = bo;
                if (t >= 0) qt_quant_candidate(&q->spec, w, (size_t)g, ratio, &sc, &of);
                qt_quant_group(&q->spec, qt_quant_effective(&q->spec, sc, of), w, (size_t)g, e, NULL);
                for (int i = 0; i < g; i++) e[i] -= w[i];
                double err = 0.0;
                for (int i = 0; i < g; i++) {
                    double a = 0.0;
                    for (int j = 0; j < g; j++) a += (double)Hg[(size_t)i * C + j] * e[j];
                    err += a * e[i];
                }
                if (err < best) {
                    best = err;
                    bs = sc;
                    bo = of;
                }
            }
            q->scale->data[(size_t)r * ng + k] = bs;
            if (q->offset) q->offset->data[(size_t)r * ng + k] = bo;
        }
        free(e);
    }
}

/* index in m->linears of the Linear whose input statistics stand for j's input */
static int stat_index(const qt_model *m, int j) {
    const qt_linear_layer *l = m->linears[j], *rep = l;
    if (qt_arch_is_decoder(m->cfg.arch))
        for (int i = 0; i < m->cfg.layers; i++) {
            const qt_block *b = &m->blocks[i];
            if (l == &b->wk || l == &b->wv) rep = &b->wq;
            if (l == &b->w3) rep = &b->w1;
        }
    for (int k = 0; k < m->n_linears; k++)
        if (m->linears[k] == rep) return k;
    return j;
}

static int index_of(const qt_model *m, const qt_linear_layer *l) {
    for (int k = 0; k < m->n_linears; k++)
        if (m->linears[k] == l) return k;
    return -1;
}

int qt_ptq_awq(qt_model *m, const qt_quant_rules *qc, const qt_calib *c, const qt_awq_opts *o, FILE *log, char *err,
               size_t errlen) {
    int n = m->n_linears, n_grid = o->n_grid > 0 ? o->n_grid : 20, rc = 0;
    int *want = calloc((size_t)n, sizeof *want);
    qt_quant_spec *specs = calloc((size_t)n, sizeof *specs);
    int *quantized = calloc((size_t)n, sizeof *quantized), *init_mse = calloc((size_t)n, sizeof *init_mse);
    float **sfold = calloc((size_t)n, sizeof *sfold);   /* per stat index: the scale folded into its input */
    qt_calib_stats *st = calloc((size_t)n, sizeof *st);
    for (int j = 0; j < n; j++) {
        qt_scale_init init = QT_INIT_ABSMAX;
        quantized[j] = qt_policy_spec(qc, &m->cfg, m->linears[j]->w->name, qt_cols(m->linears[j]->w), &specs[j], &init);
        init_mse[j] = init == QT_INIT_MSE;
    }
    for (int j = 0; j < n; j++)
        if (quantized[j] && specs[j].dq_bits) {
            snprintf(err, errlen, "awq: %s: its grid quantizes the group scales per super-block (a K type), which "
                     "AWQ's scale search does not model; use rtn or QAT for it", m->linears[j]->w->name);
            rc = -1;
            goto out;
        }
    for (int j = 0; j < n; j++)
        if (quantized[j]) want[stat_index(m, j)] = 1;
    if (qt_calib_collect(m, c, 8, want, 1, st, err, errlen)) { rc = -1; goto out; }
    /* scale search and folding, site by site (folds are exact, so the statistics
     * of later sites, taken on the unfolded model, stay valid) */
    if (qt_arch_is_decoder(m->cfg.arch))
        for (int i = 0; i < m->cfg.layers; i++)
            for (int site = 0; site < 4; site++) {
                qt_linear_layer *ls[3];
                int nl = qt_fold_linears(m, i, (qt_fold_site)site, ls), ok = nl > 0;
                qt_quant_spec sp[3];
                int mse = 0; /* search with the initialiser the final RTN uses */
                for (int k = 0; k < nl; k++) {
                    int j = index_of(m, ls[k]);
                    ok &= quantized[j];
                    sp[k] = specs[j];
                    mse |= init_mse[j];
                }
                if (!ok) continue;
                int si = stat_index(m, index_of(m, ls[0]));
                float *s = malloc((size_t)st[si].in * sizeof *s);
                double *losses = malloc((size_t)2 * n_grid * sizeof *losses);
                int duo = 0;
                double alpha = qt_awq_search(ls, nl, sp, mse, &st[si], n_grid, s, losses, &duo);
                qt_fold_scales(m, i, (qt_fold_site)site, s);
                sfold[si] = s;
                if (log)
                    fprintf(log, "awq: layer %d %-9s alpha %.2f%s output mse %.4g (alpha 0: %.4g)\n", i,
                            (const char *[]){"qkv", "v->o", "w1/w3", "w3->w2"}[site], alpha, duo ? " duo" : "",
                            losses[(int)lrint(alpha * n_grid) + (duo ? n_grid : 0)], losses[0]);
                free(losses);
            }
    /* RTN on the folded weights, then the clipping search (not for q/k: their
     * outputs go through rope and softmax, as in AutoAWQ) */
    if (qt_policy_apply(m, qc, NULL, err, errlen)) { rc = -1; goto out; }
    if (o->clip)
        for (int j = 0; j < n; j++) {
            qt_linear_layer *l = m->linears[j];
            if (!l->wq || strstr(l->w->name, ".wq.") || strstr(l->w->name, ".wk.")) continue;
            int si = stat_index(m, j), in = st[si].in;
            float *H = malloc((size_t)in * in * sizeof *H);
            double inv_n = 1.0 / (double)(st[si].n > 0 ? st[si].n : 1);
            const float *s = sfold[si];
            for (int a = 0; a < in; a++)
                for (int b = 0; b < in; b++)
                    H[(size_t)a * in + b] = (float)(st[si].xtx[(size_t)a * in + b] * inv_n / (s ? (double)s[a] * s[b] : 1.0));
            clip_search(l, H, 20, 0.5f);
            free(H);
        }
    rc = qt_calib_act_scales(m, c, 8, err, errlen);
out:
    for (int j = 0; j < n; j++) free(sfold[j]);
    qt_calib_stats_free(st, n);
    free(st);
    free(sfold);
    free(want);
    free(specs);
    free(quantized);
    free(init_mse);
    return rc;
}
