/* Scale initialisers: absmax / min-max, and an MSE clipping search that
 * evaluates each candidate with the exact fake-quant arithmetic
 * (qt_quant_group_sqerr), fp16 scale and zero-point rounding included (a
 * double-quantized spec is searched group by group, before its super-block
 * rounding of the scales).
 * Not part of the training step: runs once before training (or in PTQ).
 * OpenMP over groups, or over the candidates when one group is the whole tensor. */
#include <math.h>
#include <stdlib.h>

#include "quant/quant.h"

/* Statistics of one group: min, max, max|w|, and the value of largest
 * magnitude with its sign (the first of equal magnitudes, as llama.cpp). */
typedef struct grp_stats {
    float mn, mx, amax, smax;
} grp_stats;

static grp_stats span_stats(const float *w, size_t n) {
    float mn = w[0], mx = w[0];
#pragma omp simd reduction(min : mn) reduction(max : mx)
    for (size_t i = 0; i < n; i++) {
        mn = w[i] < mn ? w[i] : mn;
        mx = w[i] > mx ? w[i] : mx;
    }
    grp_stats st = {mn, mx, fabsf(mn) > fabsf(mx) ? fabsf(mn) : fabsf(mx), 0.0f};
    for (size_t i = 0; i < n; i++)
        if (fabsf(w[i]) == st.amax) {
            st.smax = w[i];
            break;
        }
    return st;
}

static float at_least_eps(float s) { return s >= QT_SCALE_EPS ? s : QT_SCALE_EPS; }

/* Raw (scale, offset) of the candidate with clip ratio r; r == 1 is the absmax init. */
static void candidate(const qt_quant_spec *spec, grp_stats st, float r, float *scale, float *offset) {
    float qmax = (float)qt_quant_qmax(spec);
    if (spec->grid == QT_GRID_IQ4_NL) { /* s = -r·M/127: M lands on the level -127 */
        float s = -r * st.smax / (float)qt_quant_lsq_qp(spec);
        *scale = fabsf(s) >= QT_SCALE_EPS ? s : QT_SCALE_EPS;
        *offset = 0.0f;
    } else if (spec->grid == QT_GRID_MXFP4) { /* llama.cpp's exponent for r·max|w| (search_group: neighbours) */
        float a = r * st.amax;
        *scale = a > 0.0f ? ldexpf(1.0f, ilogbf(a) - 3) : QT_SCALE_EPS;
        *scale = at_least_eps(*scale);
        *offset = 0.0f;
    } else if (spec->grid == QT_GRID_SYM) {
        *scale = at_least_eps(r * st.amax / qmax);
        *offset = 0.0f;
    } else if (spec->grid == QT_GRID_ASYM) {
        float lo = st.mn < 0.0f ? st.mn : 0.0f, hi = st.mx > 0.0f ? st.mx : 0.0f;
        lo *= r;
        hi *= r;
        *scale = at_least_eps((hi - lo) / qmax);
        float s = qt_quant_effective(spec, *scale, 0.0f).s; /* the step the forward will use */
        float z = rintf(-lo / s);
        *offset = (z < 0.0f ? 0.0f : z > qmax ? qmax : z) + 0.0f;
    } else {
        /* K-quant mins are subtracted (m <= 0): the range then reaches down to 0 at least */
        float mn = spec->dq_bits && st.mn > 0.0f ? 0.0f : st.mn, range = st.mx - mn;
        *scale = at_least_eps(r * range / qmax);
        *offset = r == 1.0f ? mn : mn + 0.5f * (1.0f - r) * range;
        if (spec->dq_bits && *offset > 0.0f) *offset = 0.0f;
    }
}

void qt_quant_candidate(const qt_quant_spec *spec, const float *w, size_t n, float r, float *scale, float *offset) {
    candidate(spec, span_stats(w, n), r, scale, offset);
}

/* Chooses the best of n_grid+1 candidates for the group w[0..n): the first
 * (smallest k, so r = 1 wins ties) with the smallest error. With `par`, the
 * candidates are evaluated in parallel (one group spanning the whole tensor). */
static void search_group(const qt_quant_spec *spec, const float *w, size_t n, int n_grid, float min_ratio, int par,
                         float *scale, float *offset) {
    grp_stats st = span_stats(w, n);
    candidate(spec, st, 1.0f, scale, offset);
    if (n_grid == 0) return;
    if (spec->grid == QT_GRID_MXFP4) { /* a power of two: the absmax one's neighbours are the only other candidates */
        const float s0 = *scale;
        double best = qt_quant_group_sqerr(spec, qt_quant_effective(spec, s0, 0.0f), w, n);
        for (int k = -1; k <= 1; k += 2) {
            float s = at_least_eps(ldexpf(s0, k));
            double e = qt_quant_group_sqerr(spec, qt_quant_effective(spec, s, 0.0f), w, n);
            if (e < best) best = e, *scale = s;
        }
        return;
    }
    double best = qt_quant_group_sqerr(spec, qt_quant_effective(spec, *scale, *offset), w, n);
    if (par) {
        double *err = malloc((size_t)(n_grid + 1) * sizeof(double));
        if (!err) qt_die("out of memory");
#pragma omp parallel for schedule(dynamic, 1)
        for (int k = 1; k <= n_grid; k++) {
            float r = 1.0f - (float)k * (1.0f - min_ratio) / (float)n_grid, s, o;
            candidate(spec, st, r, &s, &o);
            err[k] = qt_quant_group_sqerr(spec, qt_quant_effective(spec, s, o), w, n);
        }
        int kb = 0;
        for (int k = 1; k <= n_grid; k++)
            if (err[k] < best) best = err[k], kb = k;
        free(err);
        if (kb) candidate(spec, st, 1.0f - (float)kb * (1.0f - min_ratio) / (float)n_grid, scale, offset);
        return;
    }
    for (int k = 1; k <= n_grid; k++) {
        float r = 1.0f - (float)k * (1.0f - min_ratio) / (float)n_grid, s, o;
        candidate(spec, st, r, &s, &o);
        double e = qt_quant_group_sqerr(spec, qt_quant_effective(spec, s, o), w, n);
        if (e < best) {
            best = e;
            *scale = s;
            *offset = o;
        }
    }
}

static void check_shape(const char *fn, const qt_quantizer *q, const qt_tensor *w) {
    if (qt_rows(w) != q->rows || qt_cols(w) != q->cols) {
        char sb[64];
        qt_die("%s: weight %s is %s but its quantizer was made for [%d, %d]", fn, w->name,
               qt_shape_str(w, sb, sizeof sb), q->rows, q->cols);
    }
}

/* Every group is a contiguous span of w: group i (of srows·ngroups) covers
 * w[i·span, (i+1)·span) with span = gsize, or rows·cols per tensor. */
static void init_groups(qt_quantizer *q, const qt_tensor *w, int n_grid, float min_ratio) {
    size_t ngr = (size_t)q->srows * q->ngroups;
    size_t span = q->spec.group == QT_GROUP_PER_TENSOR ? w->n : (size_t)q->gsize;
    float *sc = q->scale->data, *of = q->offset ? q->offset->data : NULL;
#pragma omp parallel for schedule(dynamic, 16) if (ngr > 1)
    for (size_t i = 0; i < ngr; i++) {
        float s, o;
        search_group(&q->spec, w->data + i * span, span, n_grid, min_ratio, ngr == 1, &s, &o);
        sc[i] = s;
        if (of) of[i] = o;
    }
}

void qt_quant_init_absmax(qt_quantizer *q, const qt_tensor *w) {
    check_shape("quant_init_absmax", q, w);
    init_groups(q, w, 0, 1.0f);
}

void qt_quant_init_mse(qt_quantizer *q, const qt_tensor *w, int n_grid, float min_ratio) {
    check_shape("quant_init_mse", q, w);
    if (n_grid <= 0) n_grid = 50;
    if (min_ratio <= 0.0f) min_ratio = 0.5f;
    if (min_ratio > 1.0f) min_ratio = 1.0f;
    init_groups(q, w, n_grid, min_ratio);
}

double qt_quant_sqerr(const qt_quantizer *q, const qt_tensor *w) {
    check_shape("quant_sqerr", q, w);
    size_t ngr = (size_t)q->srows * q->ngroups;
    size_t span = q->spec.group == QT_GROUP_PER_TENSOR ? w->n : (size_t)q->gsize;
    const float *sc = q->scale->data, *of = q->offset ? q->offset->data : NULL;
    const int sbg = qt_quant_span_groups(&q->spec);
    double acc = 0.0;
    for (size_t i = 0; i < ngr; i += (size_t)sbg) {
        qt_qparams p[QT_SUPERBLOCK / 16];
        qt_quant_effective_span(&q->spec, sc + i, of ? of + i : NULL, p, NULL, NULL);
        for (int j = 0; j < sbg; j++) acc += qt_quant_group_sqerr(&q->spec, p[j], w->data + (i + j) * span, span);
    }
    return acc;
}
