/* qatc PTQ calibration: calibration windows and per-Linear input statistics
 * gathered through the Linear hook on the real model. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/rng.h"
#include "ops/ops.h"
#include "qat/ptq/ptq.h"

int qt_calib_from_mix(const qd_mix *mix, int nseq, int T, uint64_t seed, qt_calib *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (nseq <= 0 || T <= 0) {
        snprintf(err, errlen, "calibration: expected sequences > 0 and T > 0, got %d x %d", nseq, T);
        return -1;
    }
    out->tok = malloc((size_t)nseq * T * sizeof *out->tok);
    int32_t *y = malloc((size_t)nseq * T * sizeof *y);
    qrng rng;
    qrng_seed_stream(&rng, seed, 0xCA11B);
    char qerr[256];
    int rc = qd_mix_batch(mix, nseq, T, &rng, out->tok, y, NULL, qerr, sizeof qerr);
    free(y);
    if (rc) {
        snprintf(err, errlen, "calibration: %s", qerr);
        qt_calib_free(out);
        return -1;
    }
    out->nseq = nseq;
    out->T = T;
    return 0;
}

int qt_calib_from_tokens(const int32_t *tok, size_t n, int nseq, int T, uint64_t seed, qt_calib *out, char *err,
                         size_t errlen) {
    memset(out, 0, sizeof *out);
    if (nseq <= 0 || T <= 0 || n < (size_t)T + 1) {
        snprintf(err, errlen, "calibration: need %d windows of %d tokens from %zu tokens", nseq, T, n);
        return -1;
    }
    out->tok = malloc((size_t)nseq * T * sizeof *out->tok);
    qrng rng;
    qrng_seed_stream(&rng, seed, 0xCA11B);
    for (int i = 0; i < nseq; i++) {
        size_t s = (size_t)qrng_below(&rng, (uint64_t)(n - (size_t)T));
        memcpy(out->tok + (size_t)i * T, tok + s, (size_t)T * sizeof *tok);
    }
    out->nseq = nseq;
    out->T = T;
    return 0;
}

void qt_calib_free(qt_calib *c) {
    free(c->tok);
    memset(c, 0, sizeof *c);
}

typedef struct collector collector;
typedef struct {
    collector *col;
    int j;
} hook_arg;

struct collector {
    qt_calib_stats *stats;
    int want_xtx;
    const qt_tensor *last_x;     /* input whose XᵀX is in scratch (same batch) */
    const float *last_data;
    float *scratch;              /* [in·in] float XᵀX of the current batch */
    size_t scratch_cap;
    int dedupe;                  /* 0 after a ctx reset */
};

static void hook(void *user, qt_linear_layer *l, const qt_tensor *x) {
    hook_arg *a = user;
    collector *col = a->col;
    qt_calib_stats *st = &col->stats[a->j];
    int in = l->w->shape[1];
    size_t rows = x->n / (size_t)in;
    const float *xd = x->data;
    for (size_t r = 0; r < rows; r++) {
        const float *row = xd + r * in;
        double *as = st->abs_sum, *ss = st->sq_sum;
        float *am = st->abs_max;
#pragma omp simd
        for (int k = 0; k < in; k++) {
            float v = fabsf(row[k]);
            as[k] += v;
            ss[k] += (double)row[k] * row[k];
            am[k] = v > am[k] ? v : am[k];
        }
    }
    st->n += (long)rows;
    if (!col->want_xtx) return;
    if (!(col->dedupe && col->last_x == x && col->last_data == xd)) {
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, in, (int)rows, 1.0f, xd, in, 0.0f, col->scratch, in);
        col->last_x = x;
        col->last_data = xd;
        col->dedupe = 1;
    }
    double *H = st->xtx;
    const float *S = col->scratch;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < in; i++)
        for (int k = i; k < in; k++) H[(size_t)i * in + k] += S[(size_t)i * in + k];
}

/* The forward that drives the hooks: sequences s0 .. s0+B of the calibration set.
 * collect_with runs it over the whole set with hooks on the Linears j with
 * want[j] (want NULL: none, the forward alone). */
typedef void (*calib_fwd)(qt_ctx *ctx, qt_model *m, const qt_calib *c, int s0, int B, void *user);

static int collect_with(qt_model *m, const qt_calib *c, int batch, const int *want, int want_xtx,
                        qt_calib_stats *stats, calib_fwd fwd, void *user) {
    if (batch <= 0) batch = 8;
    collector col = {.stats = stats, .want_xtx = want_xtx};
    hook_arg *args = calloc((size_t)m->n_linears, sizeof *args);
    size_t maxin = 0;
    for (int j = 0; j < m->n_linears; j++) {
        if (!want || !want[j]) continue;
        int in = m->linears[j]->w->shape[1];
        qt_calib_stats *st = &stats[j];
        memset(st, 0, sizeof *st);
        st->in = in;
        st->abs_sum = calloc((size_t)in, sizeof *st->abs_sum);
        st->sq_sum = calloc((size_t)in, sizeof *st->sq_sum);
        st->abs_max = calloc((size_t)in, sizeof *st->abs_max);
        if (want_xtx) st->xtx = calloc((size_t)in * in, sizeof *st->xtx);
        if ((size_t)in > maxin) maxin = (size_t)in;
        args[j] = (hook_arg){&col, j};
        m->linears[j]->hook = hook;
        m->linears[j]->hook_user = &args[j];
    }
    if (want_xtx) col.scratch = malloc(maxin * maxin * sizeof *col.scratch);
    qt_ctx ctx;
    qt_ctx_init(&ctx, 16 << 20);
    qt_no_grad(&ctx, 1);
    for (int s0 = 0; s0 < c->nseq; s0 += batch) {
        int B = c->nseq - s0 < batch ? c->nseq - s0 : batch;
        qt_ctx_reset(&ctx);
        col.dedupe = 0;
        fwd(&ctx, m, c, s0, B, user);
    }
    qt_no_grad(&ctx, -1);
    qt_ctx_free(&ctx);
    for (int j = 0; j < m->n_linears; j++) {
        m->linears[j]->hook = NULL;
        m->linears[j]->hook_user = NULL;
        if (!want || !want[j] || !stats[j].xtx) continue;
        int in = stats[j].in;
        double *H = stats[j].xtx;
        for (int i = 0; i < in; i++)
            for (int k = 0; k < i; k++) H[(size_t)i * in + k] = H[(size_t)k * in + i];
    }
    free(col.scratch);
    free(args);
    return 0;
}

/* every Linear's input reaches its hook; the output layer's hook sees its
 * input without the B×T×V logits being formed (hooks observe inputs only) */
static void fwd_model(qt_ctx *ctx, qt_model *m, const qt_calib *c, int s0, int B, void *user) {
    (void)user;
    qt_tensor *hw;
    qt_linear_input(ctx, &m->output, qt_model_hidden(ctx, m, c->tok + (size_t)s0 * c->T, B, c->T, &hw));
}

int qt_calib_collect(qt_model *m, const qt_calib *c, int batch, const int *want, int want_xtx, qt_calib_stats *stats,
                     char *err, size_t errlen) {
    (void)err;
    (void)errlen;
    return collect_with(m, c, batch, want, want_xtx, stats, fwd_model, NULL);
}

/* cached hidden states of the calibration set and the block they enter */
typedef struct {
    float *x;
    int layer;
    int advance; /* 1: write the block's output back into x */
} block_arg;

static void fwd_block(qt_ctx *ctx, qt_model *m, const qt_calib *c, int s0, int B, void *user) {
    block_arg *a = user;
    size_t D = (size_t)m->cfg.dim, off = (size_t)s0 * c->T * D, n = (size_t)B * c->T * D;
    qt_tensor *y;
    if (a->layer < 0) {
        y = qt_embedding(ctx, m->tok_emb, c->tok + (size_t)s0 * c->T, B * c->T, c->T);
    } else {
        qt_tensor *x = qt_new3(ctx, B, c->T, (int)D);
        memcpy(x->data, a->x + off, n * sizeof(float));
        y = qt_block_forward(ctx, m, a->layer, x, 0);
    }
    if (a->advance) memcpy(a->x + off, y->data, n * sizeof(float));
}

float *qt_calib_hidden_new(qt_model *m, const qt_calib *c, int batch) {
    if (!qt_arch_is_decoder(m->cfg.arch)) return NULL;
    float *x = malloc((size_t)c->nseq * c->T * m->cfg.dim * sizeof *x);
    if (x) qt_calib_hidden_advance(m, c, batch, -1, x);
    return x;
}

int qt_calib_collect_block(qt_model *m, const qt_calib *c, int batch, int layer, float *x, const int *want,
                           int want_xtx, qt_calib_stats *stats) {
    block_arg a = {x, layer, 0};
    return collect_with(m, c, batch, want, want_xtx, stats, fwd_block, &a);
}

void qt_calib_hidden_advance(qt_model *m, const qt_calib *c, int batch, int layer, float *x) {
    block_arg a = {x, layer, 1};
    collect_with(m, c, batch, NULL, 0, NULL, fwd_block, &a);
}

void qt_calib_stats_free(qt_calib_stats *stats, int n) {
    if (!stats) return;
    for (int j = 0; j < n; j++) {
        free(stats[j].xtx);
        free(stats[j].abs_sum);
        free(stats[j].sq_sum);
        free(stats[j].abs_max);
        memset(&stats[j], 0, sizeof stats[j]);
    }
}

int qt_calib_act_scales(qt_model *m, const qt_calib *c, int batch, char *err, size_t errlen) {
    int n = m->n_linears, any = 0;
    int *want = calloc((size_t)n, sizeof *want);
    qt_actquant **saved = calloc((size_t)n, sizeof *saved);
    for (int j = 0; j < n; j++) {
        saved[j] = m->linears[j]->aq;
        want[j] = saved[j] && saved[j]->mode == QT_ACT_STATIC;
        any |= want[j];
    }
    int rc = 0;
    if (any && c) {
        qt_calib_stats *st = calloc((size_t)n, sizeof *st);
        for (int j = 0; j < n; j++) m->linears[j]->aq = NULL;
        rc = qt_calib_collect(m, c, batch, want, 0, st, err, errlen);
        for (int j = 0; j < n; j++) {
            m->linears[j]->aq = saved[j];
            if (!want[j] || rc) continue;
            float mx = 0.0f;
            for (int k = 0; k < st[j].in; k++) mx = st[j].abs_max[k] > mx ? st[j].abs_max[k] : mx;
            float s = mx / (float)((1 << (saved[j]->bits - 1)) - 1);
            saved[j]->scale->data[0] = s > QT_SCALE_EPS ? s : QT_SCALE_EPS;
        }
        qt_calib_stats_free(st, n);
        free(st);
    }
    free(want);
    free(saved);
    return rc;
}
