/* qatc PTQ: GPTQ (Frantar et al. 2022), see qat/ptq/ptq.h. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qat/policy.h"
#include "qat/ptq/ptq.h"

/* LAPACK (shipped by OpenBLAS; no LAPACKE header on Debian's openblas-dev) */
extern void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
extern void dpotri_(const char *uplo, const int *n, double *a, const int *lda, int *info);

/* Upper Cholesky factor U of H⁻¹ (H⁻¹ = UᵀU), row-major, lower part zero. A [n·n] holds H
 * (symmetric) and is overwritten. Returns the LAPACK info (0 = success). */
static int chol_inv_upper(double *A, int n, double *U) {
    int info = 0;
    /* column-major view of a symmetric matrix is the same matrix */
    dpotrf_("L", &n, A, &n, &info);
    if (info) return info;
    dpotri_("L", &n, A, &n, &info);
    if (info) return info;
    for (int j = 0; j < n; j++)          /* column-major lower (i > j) -> upper */
        for (int i = j + 1; i < n; i++) A[(size_t)j + (size_t)i * n] = A[(size_t)i + (size_t)j * n];
    dpotrf_("U", &n, A, &n, &info);
    if (info) return info;
    /* column-major upper: U(i, j) = A[i + j·n], i <= j */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) U[(size_t)i * n + j] = j >= i ? A[(size_t)i + (size_t)j * n] : 0.0;
    return 0;
}

/* Runs the initialiser of the spec on tmp (a quantizer for tmpw). */
static void run_init(qt_quantizer *tq, const qt_tensor *tw, int init_mse) {
    if (init_mse)
        qt_quant_init_mse(tq, tw, 0, 0.0f);
    else
        qt_quant_init_absmax(tq, tw);
}

static int cmp_desc(const void *a, const void *b, void *ctx) {
    const double *d = ctx;
    int i = *(const int *)a, j = *(const int *)b;
    if (d[i] > d[j]) return -1;
    if (d[i] < d[j]) return 1;
    return (i > j) - (i < j);   /* stable: lower index first */
}

/* insertion-free stable sort by descending diag (merge sort with context) */
static void sort_perm(int *p, int n, const double *d) {
    int *tmp = malloc((size_t)n * sizeof *tmp);
    for (int w = 1; w < n; w *= 2)
        for (int lo = 0; lo < n; lo += 2 * w) {
            int mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int a = lo, b = mid, k = lo;
            while (a < mid && b < hi) tmp[k++] = cmp_desc(&p[b], &p[a], (void *)d) < 0 ? p[b++] : p[a++];
            while (a < mid) tmp[k++] = p[a++];
            while (b < hi) tmp[k++] = p[b++];
            memcpy(p + lo, tmp + lo, (size_t)(hi - lo) * sizeof *p);
        }
    free(tmp);
}

int qt_gptq_weight(qt_tensor *w, qt_quantizer *q, const double *H, const qt_gptq_opts *o, int init_mse,
                   uint8_t *codes, char *err, size_t errlen) {
    const int R = q->rows, C = q->cols, g = q->gsize, ng = q->ngroups;
    const int bs = o->blocksize > 0 ? o->blocksize : 128;
    const int dynamic = q->spec.group > 0 && !o->act_order && g < C;
    const qt_quant_spec *spec = &q->spec;
    double *W = malloc((size_t)R * C * sizeof *W);
    double *Hm = malloc((size_t)C * C * sizeof *Hm);
    double *U = malloc((size_t)C * C * sizeof *U);
    int *perm = malloc((size_t)C * sizeof *perm);
    float *wf = malloc((size_t)R * C * sizeof *wf);
    int rc = -1;
    memcpy(Hm, H, (size_t)C * C * sizeof *Hm);
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) wf[(size_t)r * C + c] = w->data[(size_t)r * C + c];
    for (int c = 0; c < C; c++)
        if (Hm[(size_t)c * C + c] == 0.0) {   /* dead input: never active */
            Hm[(size_t)c * C + c] = 1.0;
            for (int r = 0; r < R; r++) wf[(size_t)r * C + c] = 0.0f;
        }
    /* initial parameters on the (dead-zeroed) original weights: every group for
     * per-channel / per-tensor / static groups; overwritten per group when dynamic */
    qt_tensor *tw = qt_param_new("gptq.tmp", 2, (int[]){R, C});
    memcpy(tw->data, wf, (size_t)R * C * sizeof *wf);
    char e[256];
    qt_quantizer *tq = qt_quantizer_new(spec, tw, e, sizeof e);
    if (!tq) {
        snprintf(err, errlen, "gptq: %s: %s", w->name, e);
        qt_param_free(tw);
        goto done;
    }
    run_init(tq, tw, init_mse);
    memcpy(q->scale->data, tq->scale->data, q->scale->n * sizeof(float));
    if (q->offset) memcpy(q->offset->data, tq->offset->data, q->offset->n * sizeof(float));
    qt_quantizer_free(tq);
    qt_param_free(tw);
    qt_tensor *gw = NULL;
    qt_quantizer *gq = NULL;
    if (dynamic) {
        qt_quant_spec gs = *spec;
        gw = qt_param_new("gptq.group", 2, (int[]){R, g});
        gq = qt_quantizer_new(&gs, gw, e, sizeof e);
    }

    for (int c = 0; c < C; c++) perm[c] = c;
    if (o->act_order) {
        double *d = malloc((size_t)C * sizeof *d);
        for (int c = 0; c < C; c++) d[c] = Hm[(size_t)c * C + c];
        sort_perm(perm, C, d);
        free(d);
    }
    /* permuted W (double) and H */
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) W[(size_t)r * C + c] = wf[(size_t)r * C + perm[c]];
    for (int i = 0; i < C; i++)
        for (int j = 0; j < C; j++) U[(size_t)i * C + j] = Hm[(size_t)perm[i] * C + perm[j]];
    double mean_diag = 0.0;
    for (int c = 0; c < C; c++) mean_diag += U[(size_t)c * C + c];
    mean_diag /= C;
    double damp = o->percdamp * mean_diag;
    for (int c = 0; c < C; c++) U[(size_t)c * C + c] += damp;
    int info = chol_inv_upper(U, C, Hm); /* Hm <- Hinv (upper) */
    if (info) {
        snprintf(err, errlen, "gptq: %s: the damped Hessian is not positive definite (LAPACK info %d); raise percdamp",
                 w->name, info);
        qt_quantizer_free(gq);
        qt_param_free(gw);
        goto done;
    }
    const double *Hinv = Hm;
    double *Err = malloc((size_t)R * bs * sizeof *Err);
    float *P_s = malloc((size_t)q->srows * ng * sizeof *P_s), *P_z = malloc((size_t)q->srows * ng * sizeof *P_z);
    for (int i = 0; i < q->srows * ng; i++) {
        qt_qparams p = qt_quant_effective(spec, q->scale->data[i], q->offset ? q->offset->data[i] : 0.0f);
        P_s[i] = p.s;
        P_z[i] = p.z;
    }
    for (int i1 = 0; i1 < C; i1 += bs) {
        int i2 = i1 + bs < C ? i1 + bs : C, cnt = i2 - i1;
        for (int c = i1; c < i2; c++) {
            int oc = perm[c], grp = oc / g;
            if (dynamic && c % g == 0) {
                /* group parameters from the current, error-updated weights */
                for (int r = 0; r < R; r++)
                    for (int k = 0; k < g; k++) gw->data[(size_t)r * g + k] = (float)W[(size_t)r * C + c + k];
                run_init(gq, gw, init_mse);
                for (int r = 0; r < R; r++) {
                    size_t pi = (size_t)r * ng + grp;
                    q->scale->data[pi] = gq->scale->data[r];
                    if (q->offset) q->offset->data[pi] = gq->offset->data[r];
                    qt_qparams p = qt_quant_effective(spec, gq->scale->data[r], gq->offset ? gq->offset->data[r] : 0.0f);
                    P_s[pi] = p.s;
                    P_z[pi] = p.z;
                }
            }
            const double d = Hinv[(size_t)c * C + c];
            const double *hrow = Hinv + (size_t)c * C;
#pragma omp parallel for schedule(static) if (R >= 64)
            for (int r = 0; r < R; r++) {
                size_t pi = (size_t)(q->srows == 1 ? 0 : r) * ng + grp;
                qt_qparams p = {P_s[pi], P_z[pi]};
                double *wr = W + (size_t)r * C;
                float x = (float)wr[c], xq;
                uint8_t code;
                qt_quant_group(spec, p, &x, 1, &xq, &code);
                w->data[(size_t)r * C + oc] = xq;
                if (codes) codes[(size_t)r * C + oc] = code;
                double e1 = (wr[c] - (double)xq) / d;
                Err[(size_t)r * bs + (c - i1)] = e1;
                for (int j = c + 1; j < i2; j++) wr[j] -= e1 * hrow[j];
            }
        }
        if (i2 < C)
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, R, C - i2, cnt, -1.0, Err, bs,
                        Hinv + (size_t)i1 * C + i2, C, 1.0, W + i2, C);
    }
    free(Err);
    free(P_s);
    free(P_z);
    qt_quantizer_free(gq);
    qt_param_free(gw);
    rc = 0;
done:
    free(W);
    free(Hm);
    free(U);
    free(perm);
    free(wf);
    return rc;
}

/* Linears sharing one input, in model order: llama q/k/v, o, w1/w3, w2 per block, then output. */
static int build_groups(const qt_model *m, int *grp_of) {
    int ng = 0;
    if (qt_arch_is_decoder(m->cfg.arch)) {
        for (int i = 0; i < m->cfg.layers; i++) {
            const qt_block *b = &m->blocks[i];
            const qt_linear_layer *order[7] = {&b->wq, &b->wk, &b->wv, &b->wo, &b->w1, &b->w3, &b->w2};
            const int gi[7] = {0, 0, 0, 1, 2, 2, 3};
            for (int k = 0; k < 7; k++)
                for (int j = 0; j < m->n_linears; j++)
                    if (m->linears[j] == order[k]) grp_of[j] = ng + gi[k];
            ng += 4;
        }
    } else {
        for (int j = 0; j < m->n_linears; j++)
            if (m->linears[j] == &m->fc1) grp_of[j] = ng;
            else if (m->linears[j] == &m->fc2) grp_of[j] = ng + 1;
        ng += 2;
    }
    for (int j = 0; j < m->n_linears; j++)
        if (m->linears[j] == &m->output) grp_of[j] = ng;
    return ng + 1;
}

int qt_ptq_gptq(qt_model *m, const qt_quant_rules *qc, const qt_calib *c, const qt_gptq_opts *o, FILE *log, char *err,
                size_t errlen) {
    if (qt_policy_apply(m, qc, log, err, errlen)) return -1;
    for (int j = 0; j < m->n_linears; j++)
        if (m->linears[j]->wq && m->linears[j]->wq->spec.dq_bits) {
            snprintf(err, errlen, "gptq: %s: its grid quantizes the group scales per super-block (a K type), which "
                     "GPTQ's column-by-column rounding does not model; use rtn or QAT for it", m->linears[j]->w->name);
            return -1;
        }
    int n = m->n_linears;
    int *grp_of = malloc((size_t)n * sizeof *grp_of), *want = calloc((size_t)n, sizeof *want);
    qt_calib_stats *st = calloc((size_t)n, sizeof *st);
    int ngrp = build_groups(m, grp_of), rc = 0;
    /* static activation scales are set from the FP inputs before GPTQ, so the
     * inputs it sees are the ones deployment will see */
    if (qt_calib_act_scales(m, c, 8, err, errlen)) rc = -1;
    /* llama: each block runs on cached hidden states (the output of the blocks
     * before it, already quantized), one block forward per group instead of a
     * whole-model forward; advanced through the block once its 4 groups are done */
    float *hid = o->no_cache ? NULL : qt_calib_hidden_new(m, c, 8);
    for (int gi = 0; gi < ngrp && !rc; gi++) {
        int any = 0;
        for (int j = 0; j < n; j++) any |= (want[j] = grp_of[j] == gi && m->linears[j]->wq != NULL);
        int layer = hid && gi < 4 * m->cfg.layers ? gi / 4 : -1; /* build_groups: 4 groups per block */
        if (any) {
            if (layer >= 0)
                qt_calib_collect_block(m, c, 8, layer, hid, want, 1, st);
            else if (qt_calib_collect(m, c, 8, want, 1, st, err, errlen))
                rc = -1;
            for (int j = 0; j < n && !rc; j++) {
                if (!want[j]) continue;
                qt_linear_layer *l = m->linears[j];
                qt_scale_init init = QT_INIT_ABSMAX;
                qt_quant_spec spec;
                qt_policy_spec(qc, &m->cfg, l->w->name, qt_cols(l->w), &spec, &init);
                int in = st[j].in;
                for (size_t k = 0; k < (size_t)in * in; k++) st[j].xtx[k] *= 2.0 / (double)(st[j].n > 0 ? st[j].n : 1);
                if (qt_gptq_weight(l->w, l->wq, st[j].xtx, o, init == QT_INIT_MSE, NULL, err, errlen)) rc = -1;
                if (log && !rc) fprintf(log, "gptq: %s (%ld calibration tokens)\n", l->w->name, st[j].n);
            }
            qt_calib_stats_free(st, n);
        }
        if (layer >= 0 && gi % 4 == 3 && !rc) qt_calib_hidden_advance(m, c, 8, layer, hid);
    }
    free(hid);
    free(grp_of);
    free(want);
    free(st);
    return rc;
}
