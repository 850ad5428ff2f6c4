/* Fake-quant op (forward + STE/LSQ backward), the quantizer state and
 * the per-group kernels shared with qinit.c and qweight.c.
 * The math is documented in quant/quant.h.
 *
 * Bit-exactness with torch: ŵ is computed with the same fp32 operations in
 * the same order as tests/oracles/quant_ref.py (IEEE division w/s, rintf,
 * clamp, one multiply; FLOAT_MIN d·q then + m, never fused: ISO C mode
 * compiles with -ffp-contract=off on GCC, and the pragma below covers clang). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

/* ---------------------------------------------------------------- spec */

/* A level grid's levels sorted ascending and the code of each (see quant.h). */
typedef struct level_grid {
    int n;
    float lv[16];
    uint8_t code[16];
} level_grid;

static const level_grid IQ4NL_GRID = {16,
                                      {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113},
                                      {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}};
static const level_grid MXFP4_GRID = {15,
                                      {-12, -8, -6, -4, -3, -2, -1, 0, 1, 2, 3, 4, 6, 8, 12},
                                      {15, 14, 13, 12, 11, 10, 9, 0, 1, 2, 3, 4, 5, 6, 7}};
static const int8_t IQ4NL_BY_CODE[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
static const int8_t MXFP4_BY_CODE[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

static const level_grid *level_grid_of(qt_grid g) {
    return g == QT_GRID_IQ4_NL ? &IQ4NL_GRID : g == QT_GRID_MXFP4 ? &MXFP4_GRID : NULL;
}

int qt_quant_is_level_grid(qt_grid grid) { return grid == QT_GRID_IQ4_NL || grid == QT_GRID_MXFP4; }

const int8_t *qt_quant_levels(qt_grid grid) {
    return grid == QT_GRID_IQ4_NL ? IQ4NL_BY_CODE : grid == QT_GRID_MXFP4 ? MXFP4_BY_CODE : NULL;
}

const char *qt_quant_grid_name(qt_grid grid) {
    static const char *const names[QT_N_GRIDS] = {"sym", "asym", "float_min", "iq4_nl", "mxfp4"};
    return (int)grid >= 0 && (int)grid < QT_N_GRIDS ? names[grid] : "?";
}

double qt_quant_scale_unit(const qt_quant_spec *spec) {
    const level_grid *L = level_grid_of(spec->grid);
    return L ? (double)(L->lv[L->n - 1] - L->lv[0]) / 15.0 : 1.0;
}

int qt_quant_qmin(const qt_quant_spec *spec) { return spec->grid == QT_GRID_SYM ? -(1 << (spec->bits - 1)) : 0; }

int qt_quant_qmax(const qt_quant_spec *spec) {
    return spec->grid == QT_GRID_SYM ? (1 << (spec->bits - 1)) - 1 : (1 << spec->bits) - 1;
}

int qt_quant_lsq_qp(const qt_quant_spec *spec) {
    const level_grid *L = level_grid_of(spec->grid);
    return L ? (int)fmaxf(-L->lv[0], L->lv[L->n - 1]) : qt_quant_qmax(spec);
}

int qt_quant_spec_check(const qt_quant_spec *spec, int rows, int cols, char *err, size_t errlen) {
    char dummy[8];
    if (!err) { err = dummy; errlen = sizeof dummy; }
    if (spec->bits < 2 || spec->bits > 8) {
        snprintf(err, errlen, "quant bits = %d (expected 2..8)", spec->bits);
        return -1;
    }
    if ((int)spec->grid < 0 || (int)spec->grid >= QT_N_GRIDS) {
        snprintf(err, errlen, "quant grid = %d (expected sym, asym, float_min, iq4_nl or mxfp4)", (int)spec->grid);
        return -1;
    }
    if (qt_quant_is_level_grid(spec->grid) && (spec->bits != 4 || spec->dq_bits)) {
        snprintf(err, errlen, "quant bits = %d%s with the %s grid (expected 4: its 16 levels, one scale per group)",
                 spec->bits, spec->dq_bits ? " and super-block sub-scales" : "", qt_quant_grid_name(spec->grid));
        return -1;
    }
    if (rows <= 0 || cols <= 0) {
        snprintf(err, errlen, "weight shape %d x %d (expected positive dims)", rows, cols);
        return -1;
    }
    if (spec->group < QT_GROUP_PER_TENSOR) {
        snprintf(err, errlen, "quant group = %d (expected > 0, 0 per channel or -1 per tensor)", spec->group);
        return -1;
    }
    if (spec->group > 0 && cols % spec->group != 0) {
        snprintf(err, errlen, "quant group = %d does not divide the row length %d", spec->group, cols);
        return -1;
    }
    if (spec->dq_bits) {
        if (spec->dq_bits < 4 || spec->dq_bits > 8 || (spec->grid != QT_GRID_SYM && spec->grid != QT_GRID_FLOAT_MIN) ||
            !spec->fp16_scales ||
            (spec->group != 16 && spec->group != 32)) {
            snprintf(err, errlen, "quant scale bits = %d with a %s grid, group %d, fp16_scales %d (super-block scales: "
                     "expected 4..8 bits, sym or float_min, group 16 or 32, fp16 scales)", spec->dq_bits,
                     qt_quant_grid_name(spec->grid), spec->group, spec->fp16_scales);
            return -1;
        }
        if (cols % QT_SUPERBLOCK) {
            snprintf(err, errlen, "row length %d is not a multiple of the super-block of %d weights", cols,
                     QT_SUPERBLOCK);
            return -1;
        }
    }
    return 0;
}

int qt_quant_span_groups(const qt_quant_spec *spec) { return spec->dq_bits ? QT_SUPERBLOCK / spec->group : 1; }

/* max(s, eps) clamped to the fp16 range (NaN becomes eps) */
static float clamp_scale_f16(float s) {
    s = s >= QT_SCALE_EPS ? s : QT_SCALE_EPS;
    return s > QT_SCALE_MAX_F16 ? QT_SCALE_MAX_F16 : s;
}

/* round(x / step) clamped to [lo, hi], as the K-quant sub-scales are chosen */
static float dq_level(float x, float step, float lo, float hi) {
    float r = rintf(x / step);
    return (r < lo ? lo : r > hi ? hi : r) + 0.0f;
}

void qt_quant_effective_span(const qt_quant_spec *spec, const float *scale, const float *offset, qt_qparams *p,
                             float *d, float *dmin) {
    if (!spec->dq_bits) {
        p[0] = qt_quant_effective(spec, scale[0], offset ? offset[0] : 0.0f);
        if (d) *d = 0.0f;
        if (dmin) *dmin = 0.0f;
        return;
    }
    const int n = QT_SUPERBLOCK / spec->group, fmin = spec->grid == QT_GRID_FLOAT_MIN;
    const float L = (float)(fmin ? (1 << spec->dq_bits) - 1 : (1 << (spec->dq_bits - 1)) - 1);
    float smax = QT_SCALE_EPS, mumax = 0.0f;
    for (int j = 0; j < n; j++) {
        float sj = clamp_scale_f16(scale[j]), mu = fmin ? -offset[j] : 0.0f;
        mu = mu > QT_SCALE_MAX_F16 ? QT_SCALE_MAX_F16 : mu;
        smax = sj > smax ? sj : smax;
        mumax = mu > mumax ? mu : mumax;
    }
    float sd = qt_f16_round(smax / L), md = qt_f16_round(mumax / L);
    sd = sd >= 0x1p-24f ? sd : 0x1p-24f;
    for (int j = 0; j < n; j++) {
        float sj = clamp_scale_f16(scale[j]);
        p[j].s = sd * dq_level(sj, sd, 1.0f, L);
        p[j].z = 0.0f;
        if (fmin && md > 0.0f) {
            float mu = -offset[j] > 0.0f ? -offset[j] : 0.0f;
            mu = mu > QT_SCALE_MAX_F16 ? QT_SCALE_MAX_F16 : mu;
            p[j].z = 0.0f - md * dq_level(mu, md, 0.0f, L);
        }
    }
    if (d) *d = sd;
    if (dmin) *dmin = fmin ? md : 0.0f;
}

/* ---------------------------------------------------------------- state */

qt_quantizer *qt_quantizer_new(const qt_quant_spec *spec, const qt_tensor *w, char *err, size_t errlen) {
    int rows = qt_rows(w), cols = qt_cols(w);
    if (qt_quant_spec_check(spec, rows, cols, err, errlen)) return NULL;
    qt_quantizer *q = calloc(1, sizeof *q);
    if (!q) qt_die("out of memory");
    q->spec = *spec;
    q->rows = rows;
    q->cols = cols;
    q->gsize = spec->group > 0 ? spec->group : cols;
    q->ngroups = cols / q->gsize;
    q->srows = spec->group == QT_GROUP_PER_TENSOR ? 1 : rows;
    char name[128];
    int shape[2] = {q->srows, q->ngroups};
    snprintf(name, sizeof name, "%s.scale", w->name);
    q->scale = qt_param_new(name, 2, shape);
    for (size_t i = 0; i < q->scale->n; i++) q->scale->data[i] = 1.0f;
    q->scale->requires_grad = spec->learnable != 0;
    if (spec->grid != QT_GRID_SYM) {
        snprintf(name, sizeof name, "%s.offset", w->name);
        q->offset = qt_param_new(name, 2, shape);
        q->offset->requires_grad = spec->learnable != 0;
    }
    return q;
}

void qt_quantizer_free(qt_quantizer *q) {
    if (!q) return;
    qt_param_free(q->scale);
    qt_param_free(q->offset);
    free(q);
}

void qt_quantizer_clamp(qt_quantizer *q) {
    float *s = q->scale->data;
    const float smax = q->spec.fp16_scales && q->spec.grid != QT_GRID_MXFP4 ? QT_SCALE_MAX_F16 : INFINITY;
    if (q->spec.grid == QT_GRID_IQ4_NL) { /* the sign is free: |s| into [eps, max] */
        for (size_t i = 0; i < q->scale->n; i++) {
            float a = fabsf(s[i]);
            a = a >= QT_SCALE_EPS ? a : QT_SCALE_EPS; /* also catches NaN */
            a = a > smax ? smax : a;
            s[i] = s[i] < 0.0f ? -a : a;
        }
    } else {
        for (size_t i = 0; i < q->scale->n; i++) {
            if (!(s[i] >= QT_SCALE_EPS)) s[i] = QT_SCALE_EPS; /* also catches NaN */
            if (s[i] > smax) s[i] = smax;
        }
    }
    if (q->spec.fp16_scales && q->spec.grid == QT_GRID_FLOAT_MIN) {
        float *m = q->offset->data;
        for (size_t i = 0; i < q->offset->n; i++) {
            if (m[i] != m[i]) m[i] = 0.0f;
            m[i] = m[i] > QT_SCALE_MAX_F16 ? QT_SCALE_MAX_F16 : m[i] < -QT_SCALE_MAX_F16 ? -QT_SCALE_MAX_F16 : m[i];
        }
    }
    if (q->spec.dq_bits && q->offset) { /* K-quant mins are subtracted: m <= 0 */
        float *m = q->offset->data;
        for (size_t i = 0; i < q->offset->n; i++)
            if (!(m[i] <= 0.0f)) m[i] = 0.0f;
    }
    if (q->spec.grid == QT_GRID_ASYM) {
        float *z = q->offset->data, hi = (float)qt_quant_qmax(&q->spec);
        for (size_t i = 0; i < q->offset->n; i++) {
            if (!(z[i] >= 0.0f)) z[i] = 0.0f;
            if (z[i] > hi) z[i] = hi;
        }
    }
}

double qt_quantizer_lsq_g(const qt_quantizer *q) {
    double n = q->spec.group == QT_GROUP_PER_TENSOR ? (double)q->rows * q->cols : (double)q->gsize;
    return 1.0 / sqrt(n * qt_quant_lsq_qp(&q->spec));
}

/* the power of two nearest to a in log scale (a >= eps), at most 2^126 */
static float pow2_round(float a) {
    int e;
    float m = frexpf(a, &e); /* a = m·2^e, m in [0.5, 1) */
    e = m >= 0x1.6a09e6p-1f ? e : e - 1;
    return ldexpf(1.0f, e > 126 ? 126 : e);
}

qt_qparams qt_quant_effective(const qt_quant_spec *spec, float scale, float offset) {
    qt_qparams p;
    if (spec->grid == QT_GRID_MXFP4) {
        p.s = pow2_round(scale >= QT_SCALE_EPS ? scale : QT_SCALE_EPS);
        p.z = 0.0f;
        return p;
    }
    float a = spec->grid == QT_GRID_IQ4_NL ? fabsf(scale) : scale;
    a = a >= QT_SCALE_EPS ? a : QT_SCALE_EPS; /* NaN too */
    if (spec->fp16_scales) a = qt_f16_round(a > QT_SCALE_MAX_F16 ? QT_SCALE_MAX_F16 : a);
    p.s = spec->grid == QT_GRID_IQ4_NL && scale < 0.0f ? -a : a;
    if (spec->grid == QT_GRID_ASYM) {
        float hi = (float)qt_quant_qmax(spec);
        float z = offset < 0.0f ? 0.0f : offset;
        z = z > hi ? hi : z;
        p.z = rintf(z) + 0.0f; /* + 0.0f: never -0 */
    } else if (spec->grid == QT_GRID_FLOAT_MIN) {
        float m = offset > QT_SCALE_MAX_F16 ? QT_SCALE_MAX_F16 : offset < -QT_SCALE_MAX_F16 ? -QT_SCALE_MAX_F16 : offset;
        p.z = spec->fp16_scales ? qt_f16_round(m) : offset;
    } else {
        p.z = 0.0f;
    }
    return p;
}

/* ---------------------------------------------------------------- kernels */

/* The three forward loops. Clamps are ternaries (fminf/fmaxf block
 * vectorization); "+ 0.0f" turns a -0 code into +0 so ŵ and the frozen
 * weight agree bit for bit. */
static void group_fwd(qt_grid grid, float lo, float hi, qt_qparams p, const float *restrict w, size_t n,
                      float *restrict y) {
    const float s = p.s, z = p.z;
    if (grid == QT_GRID_SYM) {
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            float r = rintf(w[i] / s);
            r = r < lo ? lo : r;
            r = (r > hi ? hi : r) + 0.0f;
            y[i] = r * s;
        }
    } else if (grid == QT_GRID_ASYM) {
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            float r = rintf(w[i] / s) + z;
            r = r < lo ? lo : r;
            r = (r > hi ? hi : r) + 0.0f;
            y[i] = (r - z) * s;
        }
    } else {
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            float r = rintf((w[i] - z) / s);
            r = r < lo ? lo : r;
            r = (r > hi ? hi : r) + 0.0f;
            y[i] = s * r + z;
        }
    }
}

/* Unsigned codes of the same arithmetic (SYM: q - lo). */
static void group_codes(qt_grid grid, float lo, float hi, qt_qparams p, const float *restrict w, size_t n,
                        uint8_t *restrict u) {
    const float s = p.s, z = p.z;
    const float off = grid == QT_GRID_SYM ? -lo : 0.0f;
    const float zadd = grid == QT_GRID_ASYM ? z : 0.0f, msub = grid == QT_GRID_FLOAT_MIN ? z : 0.0f;
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float r = rintf((w[i] - msub) / s) + zadd;
        r = r < lo ? lo : r;
        r = r > hi ? hi : r;
        u[i] = (uint8_t)(int)(r + off);
    }
}

/* Level grids: the sorted index of x's level is the number of midpoints
 * x >= mid[j] (ties to the larger level); its value is lv[0] plus the steps
 * passed (exact small integers). */
typedef struct level_steps {
    int n;              /* midpoints: levels - 1 */
    float lo, hi;       /* the smallest and largest level */
    float mid[15], step[15];
} level_steps;

static level_steps level_steps_of(const level_grid *L) {
    level_steps t = {L->n - 1, L->lv[0], L->lv[L->n - 1], {0}, {0}};
    for (int j = 0; j < t.n; j++) {
        t.mid[j] = 0.5f * (L->lv[j] + L->lv[j + 1]);
        t.step[j] = L->lv[j + 1] - L->lv[j];
    }
    return t;
}

static inline float level_value(const level_steps *t, float x) {
    float v = t->lo;
    for (int j = 0; j < t->n; j++) v += x >= t->mid[j] ? t->step[j] : 0.0f;
    return v;
}

static void level_fwd(const level_grid *L, float s, const float *restrict w, size_t n, float *restrict y,
                      uint8_t *restrict codes) {
    const level_steps t = level_steps_of(L);
    if (y) {
#pragma omp simd
        for (size_t i = 0; i < n; i++) y[i] = s * level_value(&t, w[i] / s);
    }
    if (codes)
        for (size_t i = 0; i < n; i++) {
            const float x = w[i] / s;
            int k = 0;
            for (int j = 0; j < t.n; j++) k += x >= t.mid[j];
            codes[i] = L->code[k];
        }
}

static double level_sqerr(const level_grid *L, float s, const float *restrict w, size_t n) {
    const level_steps t = level_steps_of(L);
    double acc = 0.0;
#pragma omp simd reduction(+ : acc)
    for (size_t i = 0; i < n; i++) {
        double e = (double)(s * level_value(&t, w[i] / s)) - (double)w[i];
        acc += e * e;
    }
    return acc;
}

/* Backward of one level-grid group: inside [lo, hi] ∂ŵ/∂w = 1 and
 * ∂ŵ/∂s = level - x; outside ∂ŵ/∂w = 0 and ∂ŵ/∂s = the clip level. */
static void level_bwd(const level_grid *L, float s, const float *restrict w, const float *restrict dy,
                      float *restrict dw, size_t n, double *acc_s) {
    const level_steps t = level_steps_of(L);
    const double inv = 1.0 / (double)s;
    double as = 0.0;
#pragma omp simd reduction(+ : as)
    for (size_t i = 0; i < n; i++) {
        const float x = w[i] / s;
        const int in = (x >= t.lo) & (x <= t.hi);
        const double v = (double)level_value(&t, x);
        as += (double)dy[i] * (in ? v - (double)w[i] * inv : v);
        if (dw) dw[i] += in ? dy[i] : 0.0f;
    }
    *acc_s += as;
}

void qt_quant_group(const qt_quant_spec *spec, qt_qparams p, const float *w, size_t n, float *what, uint8_t *codes) {
    const level_grid *L = level_grid_of(spec->grid);
    if (L) {
        level_fwd(L, p.s, w, n, what, codes);
        return;
    }
    float lo = (float)qt_quant_qmin(spec), hi = (float)qt_quant_qmax(spec);
    if (what) group_fwd(spec->grid, lo, hi, p, w, n, what);
    if (codes) group_codes(spec->grid, lo, hi, p, w, n, codes);
}

double qt_quant_group_sqerr(const qt_quant_spec *spec, qt_qparams p, const float *w, size_t n) {
    /* same loops as group_fwd, the error summed instead of stored */
    const level_grid *L = level_grid_of(spec->grid);
    if (L) return level_sqerr(L, p.s, w, n);
    const float s = p.s, z = p.z;
    const float lo = (float)qt_quant_qmin(spec), hi = (float)qt_quant_qmax(spec);
    double acc = 0.0;
    if (spec->grid == QT_GRID_SYM) {
#pragma omp simd reduction(+ : acc)
        for (size_t i = 0; i < n; i++) {
            float r = rintf(w[i] / s);
            r = r < lo ? lo : r;
            r = (r > hi ? hi : r) + 0.0f;
            double e = (double)(r * s) - (double)w[i];
            acc += e * e;
        }
    } else if (spec->grid == QT_GRID_ASYM) {
#pragma omp simd reduction(+ : acc)
        for (size_t i = 0; i < n; i++) {
            float r = rintf(w[i] / s) + z;
            r = r < lo ? lo : r;
            r = (r > hi ? hi : r) + 0.0f;
            double e = (double)((r - z) * s) - (double)w[i];
            acc += e * e;
        }
    } else {
#pragma omp simd reduction(+ : acc)
        for (size_t i = 0; i < n; i++) {
            float r = rintf((w[i] - z) / s);
            r = r < lo ? lo : r;
            r = (r > hi ? hi : r) + 0.0f;
            double e = (double)(s * r + z) - (double)w[i];
            acc += e * e;
        }
    }
    return acc;
}

/* Backward of one group, one pass for every grid: dw += inside·dy (if dw),
 * *acc_s += Σ dy·∂ŵ/∂s, *acc_o += Σ dy·∂ŵ/∂offset. x = (w - msub)/s with
 * msub = m for FLOAT_MIN (else 0, exact); the clip range in x units is
 * [lo - z, hi - z] for ASYM (exact small integers), else [lo, hi]; the
 * offset derivative outside the range is -s (ASYM), 1 (FLOAT_MIN), 0 (SYM).
 * round(x) - x uses x in double ((w - msub)·(1/s), relative error ~1e-16). */
static void group_bwd(qt_grid grid, float lo, float hi, qt_qparams p, const float *restrict w,
                      const float *restrict dy, float *restrict dw, size_t n, double *acc_s, double *acc_o) {
    const float s = p.s, msub = grid == QT_GRID_FLOAT_MIN ? p.z : 0.0f;
    const float clo = grid == QT_GRID_ASYM ? lo - p.z : lo, chi = grid == QT_GRID_ASYM ? hi - p.z : hi;
    const double inv = 1.0 / (double)s, md = msub;
    const double oc = grid == QT_GRID_ASYM ? -(double)s : grid == QT_GRID_FLOAT_MIN ? 1.0 : 0.0;
    double as = 0.0, ao = 0.0;
    if (dw) {
#pragma omp simd reduction(+ : as, ao)
        for (size_t i = 0; i < n; i++) {
            float x = (w[i] - msub) / s;
            int in = (x >= clo) & (x <= chi);
            double t = x < clo ? (double)clo : x > chi ? (double)chi : (double)rintf(x) - ((double)w[i] - md) * inv;
            as += (double)dy[i] * t;
            ao += in ? 0.0 : (double)dy[i] * oc;
            dw[i] += in ? dy[i] : 0.0f;
        }
    } else {
#pragma omp simd reduction(+ : as, ao)
        for (size_t i = 0; i < n; i++) {
            float x = (w[i] - msub) / s;
            int in = (x >= clo) & (x <= chi);
            double t = x < clo ? (double)clo : x > chi ? (double)chi : (double)rintf(x) - ((double)w[i] - md) * inv;
            as += (double)dy[i] * t;
            ao += in ? 0.0 : (double)dy[i] * oc;
        }
    }
    *acc_s += as;
    *acc_o += ao;
}

/* ---------------------------------------------------------------- op */

static void fake_quant_backward(qt_ctx *ctx, qt_node *nd) {
    qt_quantizer *q = (qt_quantizer *)nd->ptr;
    qt_tensor *w = nd->in[0];
    const qt_quant_spec *spec = &q->spec;
    const float *dy = nd->out->grad;
    float *dw = w->requires_grad ? qt_grad(ctx, w) : NULL;
    int want_s = q->scale->requires_grad, want_o = q->offset && q->offset->requires_grad;
    float *ds = want_s ? qt_grad(ctx, q->scale) : NULL;
    float *doff = want_o ? qt_grad(ctx, q->offset) : NULL;
    const float *sp = q->scale->data, *op = q->offset ? q->offset->data : NULL;
    const float lo = (float)qt_quant_qmin(spec), hi = (float)qt_quant_qmax(spec);
    const double g = qt_quantizer_lsq_g(q);
    const int rows = q->rows, cols = q->cols, ng = q->ngroups, gs = q->gsize;
    const int per_tensor = spec->group == QT_GROUP_PER_TENSOR, span = qt_quant_span_groups(spec);
    const int par = w->n > 32768;
    const level_grid *L = level_grid_of(spec->grid);
    const float smax = spec->fp16_scales && spec->grid != QT_GRID_MXFP4 ? QT_SCALE_MAX_F16 : INFINITY;

    /* gradient of the parameter through max(·, eps) (|·| for IQ4_NL), min(·, fp16 max) and, for z, clamp(·, 0, hi) */
#define SCALE_PASS(k) (spec->grid == QT_GRID_IQ4_NL ? (fabsf(sp[k]) >= QT_SCALE_EPS && fabsf(sp[k]) <= smax ? 1.0 : 0.0) \
                       : (sp[k] >= QT_SCALE_EPS && sp[k] <= smax ? 1.0 : 0.0))
#define OFFSET_PASS(k) (spec->grid == QT_GRID_ASYM ? ((op[k] >= 0.0f) & (op[k] <= hi) ? 1.0 : 0.0) \
                        : spec->dq_bits ? (op[k] <= 0.0f && op[k] >= -QT_SCALE_MAX_F16 ? 1.0 : 0.0) \
                        : spec->fp16_scales ? (fabsf(op[k]) <= QT_SCALE_MAX_F16 ? 1.0 : 0.0) : 1.0)
    if (per_tensor) {
        qt_qparams p = qt_quant_effective(spec, sp[0], op ? op[0] : 0.0f);
        double as = 0.0, ao = 0.0;
#pragma omp parallel for reduction(+ : as, ao) if (par)
        for (int r = 0; r < rows; r++) {
            size_t o = (size_t)r * cols;
            if (L) level_bwd(L, p.s, w->data + o, dy + o, dw ? dw + o : NULL, (size_t)cols, &as);
            else group_bwd(spec->grid, lo, hi, p, w->data + o, dy + o, dw ? dw + o : NULL, (size_t)cols, &as, &ao);
        }
        if (ds) ds[0] += (float)(g * SCALE_PASS(0) * as);
        if (doff) doff[0] += (float)(g * OFFSET_PASS(0) * ao);
    } else {
#pragma omp parallel for if (par)
        for (int r = 0; r < rows; r++) {
            qt_qparams p[QT_SUPERBLOCK / 16];
            for (int k = 0; k < ng; k += span) {
                size_t p0 = (size_t)r * ng + k;
                qt_quant_effective_span(spec, sp + p0, op ? op + p0 : NULL, p, NULL, NULL);
                for (int j = 0; j < span; j++) {
                    size_t pi = p0 + j, o = (size_t)r * cols + (size_t)(k + j) * gs;
                    double as = 0.0, ao = 0.0;
                    if (L) level_bwd(L, p[j].s, w->data + o, dy + o, dw ? dw + o : NULL, (size_t)gs, &as);
                    else group_bwd(spec->grid, lo, hi, p[j], w->data + o, dy + o, dw ? dw + o : NULL, (size_t)gs, &as, &ao);
                    if (ds) ds[pi] += (float)(g * SCALE_PASS(pi) * as);
                    if (doff) doff[pi] += (float)(g * OFFSET_PASS(pi) * ao);
                }
            }
        }
    }
#undef SCALE_PASS
#undef OFFSET_PASS
}

qt_tensor *qt_fake_quant(qt_ctx *ctx, qt_tensor *w, qt_quantizer *q) {
    if (qt_rows(w) != q->rows || qt_cols(w) != q->cols) {
        char sb[64];
        qt_die("fake_quant: weight %s is %s but its quantizer was made for [%d, %d]", w->name,
               qt_shape_str(w, sb, sizeof sb), q->rows, q->cols);
    }
    const qt_quant_spec *spec = &q->spec;
    qt_tensor *y = qt_tensor_like(ctx, w);
    const float *sp = q->scale->data, *op = q->offset ? q->offset->data : NULL;
    const float lo = (float)qt_quant_qmin(spec), hi = (float)qt_quant_qmax(spec);
    const int rows = q->rows, cols = q->cols, ng = q->ngroups, gs = q->gsize;
    const int per_tensor = spec->group == QT_GROUP_PER_TENSOR;
    const int span = qt_quant_span_groups(spec);
    const level_grid *L = level_grid_of(spec->grid);
#pragma omp parallel for if (w->n > 32768)
    for (int r = 0; r < rows; r++) {
        qt_qparams p[QT_SUPERBLOCK / 16];
        for (int k = 0; k < ng; k += span) {
            size_t p0 = per_tensor ? 0 : (size_t)r * ng + k;
            qt_quant_effective_span(spec, sp + p0, op ? op + p0 : NULL, p, NULL, NULL);
            for (int j = 0; j < span; j++) {
                size_t o = (size_t)r * cols + (size_t)(k + j) * gs;
                if (L) level_fwd(L, p[j].s, w->data + o, (size_t)gs, y->data + o, NULL);
                else group_fwd(spec->grid, lo, hi, p[j], w->data + o, (size_t)gs, y->data + o);
            }
        }
    }
    qt_tensor *in[3] = {w, q->scale, q->offset};
    qt_node *nd = qt_record(ctx, "fake_quant", fake_quant_backward, y, q->offset ? 3 : 2, in);
    if (nd) nd->ptr = q;
    return y;
}
