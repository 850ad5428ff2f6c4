/* Quantizer properties without an oracle:
 *  - LSQ gradients are the derivative of the STE surrogate: central finite
 *    differences (double) of L = Σ dy·ŵ_sur, ŵ_sur = s·(clip(x) + c) with the
 *    rounding residual c = round(clip(x)) - clip(x) held fixed, match
 *    ∂L/∂scale / g, ∂L/∂offset / g and ∂L/∂w, for each grid and per-tensor /
 *    per-channel / group 16 (weights kept away from rounding and clip
 *    boundaries); and LSQ differs from the "codes fixed" derivative Σ dy·q;
 *  - the same gradients on a tensor large enough for the OpenMP paths;
 *  - freeze -> dequant equals the fake-quant forward bit for bit, for every
 *    grid, bits 2..8, four group layouts, fp32/fp16 scales; codes in range;
 *  - MSE init error <= absmax init error (and strictly lower on heavy tails);
 *  - pack/unpack round trips, documented nibble order, qweight pack/unpack;
 *  - scales stay positive: eps in the forward, qt_quantizer_clamp after a step;
 *  - round half to even at exact .5; fixed quantizers get no gradient;
 *  - a repeated training step allocates nothing new;
 *  - double quantization (K-quant layouts): effective scales on the
 *    super-block grid, forward and gradients those of a plain grid holding
 *    the effective parameters (straight through the sub-scale rounding),
 *    freeze keeps the super-block scales, bad specs refused. */
#include "quant/quant.h"
#include "test_util.h"

static const qt_grid GRIDS[3] = {QT_GRID_SYM, QT_GRID_ASYM, QT_GRID_FLOAT_MIN};
static const char *GRID_NAME[3] = {"sym", "asym", "float_min"};

static size_t pidx(const qt_quantizer *q, int r, int c) {
    return (size_t)(q->srows == 1 ? 0 : r) * q->ngroups + (size_t)(c / q->gsize);
}

/* ---------------------------------------------------------------- surrogate */

/* The STE surrogate of one weight in double, with the residuals fixed at the
 * base point (cz for the zero point, c for the code). */
typedef struct sur_point {
    double lo, hi;   /* code range */
    const float *w;  /* base weights */
    double *c;       /* per-weight residual */
    double *cz;      /* per-group zero-point residual (ASYM) */
} sur_point;

static double sur_what(const qt_quantizer *q, const sur_point *sp, double wv, double s, double o, double cz,
                       double c) {
    switch (q->spec.grid) {
    case QT_GRID_SYM: {
        double x = wv / s, xc = x < sp->lo ? sp->lo : x > sp->hi ? sp->hi : x;
        return s * (xc + c);
    }
    case QT_GRID_ASYM: {
        double zc = (o < 0 ? 0 : o > sp->hi ? sp->hi : o) + cz;
        double x = wv / s, l = -zc, h = sp->hi - zc, xc = x < l ? l : x > h ? h : x;
        return s * (xc + c);
    }
    default: {
        double x = (wv - o) / s, xc = x < sp->lo ? sp->lo : x > sp->hi ? sp->hi : x;
        return s * (xc + c) + o;
    }
    }
}

/* Σ dy·ŵ_sur with the parameters of group gi replaced by (s, o) and weight wi by wv (wi < 0: none). */
static double sur_loss(const qt_quantizer *q, const sur_point *sp, const float *dy, size_t gi, double s, double o,
                       long wi, double wv) {
    double L = 0;
    for (int r = 0; r < q->rows; r++)
        for (int cc = 0; cc < q->cols; cc++) {
            size_t i = (size_t)r * q->cols + cc, k = pidx(q, r, cc);
            double ss = k == gi ? s : q->scale->data[k];
            double oo = q->offset ? (k == gi ? o : q->offset->data[k]) : 0.0;
            double w = (long)i == wi ? wv : sp->w[i];
            L += dy[i] * sur_what(q, sp, w, ss, oo, sp->cz ? sp->cz[k] : 0.0, sp->c[i]);
        }
    return L;
}

/* Moves weights away from rounding (.5) and clip boundaries (in x units) by
 * at least `margin`; returns how many had to move. */
static int keep_off_boundaries(qt_quantizer *q, float *w, double margin) {
    int moved = 0;
    double lo = qt_quant_qmin(&q->spec), hi = qt_quant_qmax(&q->spec);
    for (int r = 0; r < q->rows; r++)
        for (int cc = 0; cc < q->cols; cc++) {
            size_t i = (size_t)r * q->cols + cc, k = pidx(q, r, cc);
            double s = q->scale->data[k], o = q->offset ? q->offset->data[k] : 0.0;
            for (int tries = 0; tries < 50; tries++) {
                double x, l = lo, h = hi;
                if (q->spec.grid == QT_GRID_FLOAT_MIN) {
                    x = (w[i] - o) / s;
                } else {
                    x = w[i] / s;
                    if (q->spec.grid == QT_GRID_ASYM) {
                        double ze = qt_quant_effective(&q->spec, 1.0f, (float)o).z;
                        l = -ze, h = hi - ze;
                    }
                }
                double fr = x - floor(x);
                if (fabs(fr - 0.5) > margin && fabs(x - l) > margin && fabs(x - h) > margin && fabs(fr) > margin &&
                    fabs(fr - 1.0) > margin)
                    break;
                w[i] += (float)(0.037 * s);
                moved++;
            }
        }
    return moved;
}

static void fd_check(qt_grid grid, int bits, int group, uint64_t *rng) {
    const int rows = 6, cols = 32;
    char label[96];
    snprintf(label, sizeof label, "fd %s %d-bit group %d", GRID_NAME[grid], bits, group);
    qt_tensor *w = qt_param_new("w", 2, (int[]){rows, cols});
    tu_fill_normal(w->data, w->n, 0.05f, rng);
    qt_quant_spec spec = {.bits = bits, .group = group, .grid = grid, .learnable = 1, .fp16_scales = 0};
    qt_quantizer *q = qt_quantizer_new(&spec, w, NULL, 0);
    qt_quant_init_absmax(q, w);
    /* shrink the scales so that some weights clip; nudge zero points / mins off .5 */
    for (size_t k = 0; k < q->scale->n; k++) {
        q->scale->data[k] *= 0.8f;
        if (grid == QT_GRID_ASYM) q->offset->data[k] += 0.2f;
        if (grid == QT_GRID_FLOAT_MIN) q->offset->data[k] += 0.3f * q->scale->data[k];
    }
    keep_off_boundaries(q, w->data, 0.02);
    CHECK(keep_off_boundaries(q, w->data, 0.02) == 0, "%s: weights still on a boundary", label);

    float *dy = malloc(w->n * sizeof(float));
    tu_fill_normal(dy, w->n, 1.0f, rng);
    qt_ctx ctx;
    qt_ctx_init(&ctx, 1 << 20);
    qt_tensor *y = qt_fake_quant(&ctx, w, q);
    qt_backward(&ctx, y, dy);

    /* the surrogate at the base point */
    sur_point sp = {.lo = qt_quant_qmin(&spec), .hi = qt_quant_qmax(&spec), .w = w->data};
    sp.c = calloc(w->n, sizeof(double));
    if (grid == QT_GRID_ASYM) {
        sp.cz = calloc(q->offset->n, sizeof(double));
        for (size_t k = 0; k < q->offset->n; k++) {
            double zc = q->offset->data[k];
            sp.cz[k] = rint(zc) - zc;
        }
    }
    int n_clipped = 0;
    double max_dev = 0;
    for (int r = 0; r < rows; r++)
        for (int cc = 0; cc < cols; cc++) {
            size_t i = (size_t)r * cols + cc, k = pidx(q, r, cc);
            double s = q->scale->data[k], o = q->offset ? q->offset->data[k] : 0.0, x, l = sp.lo, h = sp.hi;
            if (grid == QT_GRID_FLOAT_MIN) {
                x = (w->data[i] - o) / s;
            } else {
                x = w->data[i] / s;
                if (grid == QT_GRID_ASYM) {
                    double ze = qt_quant_effective(&spec, 1.0f, (float)o).z;
                    l = -ze, h = sp.hi - ze;
                }
            }
            double xc = x < l ? l : x > h ? h : x;
            sp.c[i] = rint(xc) - xc;
            n_clipped += x < l || x > h;
            double dev = fabs(sur_what(q, &sp, w->data[i], s, o, sp.cz ? sp.cz[k] : 0, sp.c[i]) - y->data[i]);
            if (dev > max_dev) max_dev = dev;
        }
    CHECK(n_clipped > 0 && n_clipped < rows * cols, "%s: %d clipped weights (want some, not all)", label, n_clipped);
    CHECK(max_dev < 1e-6, "%s: the surrogate is not ŵ at the base point (max dev %.3g)", label, max_dev);

    double g = qt_quantizer_lsq_g(q), worst = 0, scale_ref = 0;
    size_t ns = q->scale->n;
    double *fd_s = calloc(ns, sizeof(double)), *fd_o = calloc(ns, sizeof(double));
    for (size_t k = 0; k < ns; k++) {
        double s = q->scale->data[k], o = q->offset ? q->offset->data[k] : 0.0, h = 1e-5 * s;
        fd_s[k] = (sur_loss(q, &sp, dy, k, s + h, o, -1, 0) - sur_loss(q, &sp, dy, k, s - h, o, -1, 0)) / (2 * h);
        if (q->offset) {
            double ho = grid == QT_GRID_ASYM ? 1e-3 : 1e-5 * s;
            fd_o[k] = (sur_loss(q, &sp, dy, k, s, o + ho, -1, 0) - sur_loss(q, &sp, dy, k, s, o - ho, -1, 0)) /
                      (2 * ho);
        }
        scale_ref = fmax(scale_ref, fmax(fabs(fd_s[k]), fabs(fd_o[k])));
    }
    for (size_t k = 0; k < ns; k++) {
        double es = fabs(q->scale->grad[k] / g - fd_s[k]) / scale_ref;
        CHECK(es < 1e-5, "%s: group %zu dscale/g %.8g, finite difference %.8g", label, k, q->scale->grad[k] / g,
              fd_s[k]);
        worst = fmax(worst, es);
        if (q->offset) {
            double eo = fabs(q->offset->grad[k] / g - fd_o[k]) / scale_ref;
            CHECK(eo < 1e-5, "%s: group %zu doffset/g %.8g, finite difference %.8g", label, k,
                  q->offset->grad[k] / g, fd_o[k]);
            worst = fmax(worst, eo);
        }
    }
    /* ∂L/∂w: the surrogate is piecewise linear in w; step one weight at a time */
    for (size_t i = 0; i < w->n; i++) {
        double wi = w->data[i], hw = 1e-4 * q->scale->data[pidx(q, (int)(i / cols), (int)(i % cols))];
        double fd = (sur_loss(q, &sp, dy, (size_t)-1, 0, 0, (long)i, wi + hw) -
                     sur_loss(q, &sp, dy, (size_t)-1, 0, 0, (long)i, wi - hw)) / (2 * hw);
        CHECK(fabs(w->grad[i] - fd) < 1e-5 * (1 + fabs(fd)), "%s: dw[%zu] %.8g, finite difference %.8g", label, i,
              w->grad[i], fd);
    }
    /* LSQ is not the derivative with the codes held fixed (Σ dy·q per group) */
    if (grid == QT_GRID_SYM) {
        double max_gap = 0;
        for (size_t k = 0; k < ns; k++) {
            double fixed = 0;
            for (int r = 0; r < rows; r++)
                for (int cc = 0; cc < cols; cc++)
                    if (pidx(q, r, cc) == k) {
                        size_t i = (size_t)r * cols + cc;
                        fixed += dy[i] * (y->data[i] / q->scale->data[k]);
                    }
            max_gap = fmax(max_gap, fabs(fixed - q->scale->grad[k] / g) / scale_ref);
        }
        CHECK(max_gap > 1e-3, "%s: LSQ gradient equals the codes-fixed derivative (gap %.3g)", label, max_gap);
    }
    qt_ctx_free(&ctx);
    free(fd_s);
    free(fd_o);
    free(sp.c);
    free(sp.cz);
    free(dy);
    qt_quantizer_free(q);
    qt_param_free(w);
}

/* Same gradients on a weight big enough for the parallel forward/backward paths,
 * against the LSQ formulas evaluated here in double. */
static void big_check(qt_grid grid, int group, uint64_t *rng) {
    const int rows = 256, cols = 512;
    qt_tensor *w = qt_param_new("big", 2, (int[]){rows, cols});
    tu_fill_normal(w->data, w->n, 0.05f, rng);
    qt_quant_spec spec = {.bits = 4, .group = group, .grid = grid, .learnable = 1, .fp16_scales = 1};
    qt_quantizer *q = qt_quantizer_new(&spec, w, NULL, 0);
    qt_quant_init_mse(q, w, 20, 0.6f);
    float *dy = malloc(w->n * sizeof(float));
    tu_fill_normal(dy, w->n, 1.0f, rng);
    qt_ctx ctx;
    qt_ctx_init(&ctx, 1 << 20);
    qt_tensor *y = qt_fake_quant(&ctx, w, q);
    qt_backward(&ctx, y, dy);
    size_t ns = q->scale->n;
    double *rs = calloc(ns, sizeof(double)), *ro = calloc(ns, sizeof(double));
    double lo = qt_quant_qmin(&spec), hi = qt_quant_qmax(&spec);
    size_t bad_w = 0;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            size_t i = (size_t)r * cols + c, k = pidx(q, r, c);
            qt_qparams p = qt_quant_effective(&spec, q->scale->data[k], q->offset ? q->offset->data[k] : 0.0f);
            float x = grid == QT_GRID_FLOAT_MIN ? (w->data[i] - p.z) / p.s : w->data[i] / p.s;
            double l = grid == QT_GRID_ASYM ? -p.z : lo, h = grid == QT_GRID_ASYM ? hi - p.z : hi;
            int in = x >= l && x <= h;
            double xt = grid == QT_GRID_FLOAT_MIN ? ((double)w->data[i] - p.z) / p.s : (double)w->data[i] / p.s;
            rs[k] += dy[i] * (in ? rint(x) - xt : x < l ? l : h);
            if (grid == QT_GRID_ASYM) ro[k] += in ? 0 : -dy[i] * (double)p.s;
            if (grid == QT_GRID_FLOAT_MIN) ro[k] += in ? 0 : dy[i];
            bad_w += w->grad[i] != (in ? dy[i] : 0.0f);
        }
    double g = qt_quantizer_lsq_g(q);
    float *ref = malloc(ns * sizeof(float));
    for (size_t k = 0; k < ns; k++) ref[k] = (float)(g * rs[k]);
    double es = tu_rel_err(q->scale->grad, ref, ns), eo = 0;
    if (q->offset) {
        for (size_t k = 0; k < ns; k++) ref[k] = (float)(g * ro[k]);
        eo = tu_rel_err(q->offset->grad, ref, ns);
    }
    CHECK(bad_w == 0, "big %s group %d: %zu wrong dw", GRID_NAME[grid], group, bad_w);
    CHECK(es < 1e-6 && eo < 1e-6, "big %s group %d: dscale rel err %.3g, doffset %.3g", GRID_NAME[grid], group, es,
          eo);
    free(ref);
    free(rs);
    free(ro);
    free(dy);
    qt_ctx_free(&ctx);
    qt_quantizer_free(q);
    qt_param_free(w);
}

/* ---------------------------------------------------------------- freeze */

static void freeze_check(uint64_t *rng) {
    const int rows = 5, cols = 64, groups[4] = {QT_GROUP_PER_TENSOR, QT_GROUP_PER_CHANNEL, 32, 16};
    int n_configs = 0, n_bad = 0;
    qt_tensor *w = qt_param_new("fw", 2, (int[]){rows, cols});
    float *deq = malloc(w->n * sizeof(float));
    for (int gi = 0; gi < 3; gi++)
        for (int bits = 2; bits <= 8; bits++)
            for (int gr = 0; gr < 4; gr++)
                for (int fp16 = 0; fp16 < 2; fp16++) {
                    tu_fill_normal(w->data, w->n, 0.03f, rng);
                    for (int c = 0; c < cols; c++) w->data[3 * cols + c] = 0.0f; /* an all-zero row */
                    w->data[7] = 0.5f * 0.03f;                                   /* an outlier */
                    qt_quant_spec spec = {.bits = bits, .group = groups[gr], .grid = GRIDS[gi], .learnable = 1,
                                          .fp16_scales = fp16};
                    qt_quantizer *q = qt_quantizer_new(&spec, w, NULL, 0);
                    qt_quant_init_mse(q, w, 10, 0.7f);
                    /* perturb so scales are not "nice" and zero points not integers */
                    for (size_t k = 0; k < q->scale->n; k++) {
                        q->scale->data[k] *= (float)(0.9 + 0.2 * tu_uniform(rng));
                        if (q->offset) q->offset->data[k] += (float)(0.8 * tu_uniform(rng) - 0.4) *
                                                              (GRIDS[gi] == QT_GRID_ASYM ? 1.0f : q->scale->data[k]);
                    }
                    qt_ctx ctx;
                    qt_ctx_init(&ctx, 1 << 16);
                    qt_no_grad(&ctx, 1);
                    qt_tensor *y = qt_fake_quant(&ctx, w, q);
                    qt_qweight *qw = qt_freeze(w, q);
                    qt_qweight_dequant(qw, deq);
                    n_configs++;
                    int bad = memcmp(deq, y->data, w->n * sizeof(float)) != 0;
                    /* codes and parameters in range and as the forward uses them */
                    int lo = qt_quant_qmin(&spec), hi = qt_quant_qmax(&spec);
                    for (size_t i = 0; i < w->n; i++) {
                        int code = qw->codes_s8 ? qw->codes_s8[i] : qw->codes_u8[i];
                        bad |= code < lo || code > hi;
                    }
                    for (size_t k = 0; k < q->scale->n; k++) {
                        qt_qparams p = qt_quant_effective(&spec, q->scale->data[k],
                                                          q->offset ? q->offset->data[k] : 0.0f);
                        bad |= qw->scales[k] != p.s || !(qw->scales[k] > 0.0f);
                        if (fp16) bad |= qt_f16_round(qw->scales[k]) != qw->scales[k];
                        if (qw->zeros) bad |= qw->zeros[k] != (uint8_t)p.z || qw->zeros[k] > hi;
                        if (qw->mins) bad |= qw->mins[k] != p.z;
                    }
                    if (bad) {
                        n_bad++;
                        fprintf(stderr, "   freeze mismatch: %s %d-bit group %d fp16 %d\n", GRID_NAME[gi], bits,
                                groups[gr], fp16);
                    }
                    qt_qweight_free(qw);
                    qt_ctx_free(&ctx);
                    qt_quantizer_free(q);
                }
    CHECK(n_bad == 0, "%d of %d configs: frozen weight does not dequantize to the fake-quant forward", n_bad,
          n_configs);
    free(deq);
    qt_param_free(w);
}

/* ---------------------------------------------------------------- MSE init */

static double fq_err(qt_quantizer *q, qt_tensor *w) {
    qt_ctx ctx;
    qt_ctx_init(&ctx, 1 << 16);
    qt_tensor *y = qt_fake_quant(&ctx, w, q);
    double e = 0;
    for (size_t i = 0; i < w->n; i++) e += ((double)y->data[i] - w->data[i]) * ((double)y->data[i] - w->data[i]);
    qt_ctx_free(&ctx);
    return e;
}

static void mse_check(uint64_t *rng) {
    const int rows = 16, cols = 128, groups[4] = {QT_GROUP_PER_TENSOR, QT_GROUP_PER_CHANNEL, 32, 16};
    qt_tensor *w = qt_param_new("mw", 2, (int[]){rows, cols});
    /* heavy tails: a normal times an occasional large factor */
    for (size_t i = 0; i < w->n; i++)
        w->data[i] = (float)(tu_normal(rng) * 0.02 * (tu_uniform(rng) < 0.02 ? 8.0 : 1.0));
    for (int gi = 0; gi < 3; gi++) {
        double sum_abs = 0, sum_mse = 0;
        for (int b = 2; b <= 8; b++)
            for (int gr = 0; gr < 4; gr++)
                for (int fp16 = 0; fp16 < 2; fp16++) {
                    qt_quant_spec spec = {.bits = b, .group = groups[gr], .grid = GRIDS[gi], .learnable = 1,
                                          .fp16_scales = fp16};
                    qt_quantizer *q = qt_quantizer_new(&spec, w, NULL, 0);
                    qt_quant_init_absmax(q, w);
                    double ea = fq_err(q, w), ea2 = qt_quant_sqerr(q, w);
                    qt_quant_init_mse(q, w, 0, 0.0f);
                    double em = fq_err(q, w);
                    CHECK(em <= ea * (1 + 1e-12), "%s %d-bit group %d fp16 %d: mse init error %.6g > absmax %.6g",
                          GRID_NAME[gi], b, groups[gr], fp16, em, ea);
                    CHECK(fabs(ea2 - ea) <= 1e-9 * ea, "qt_quant_sqerr %.9g vs fake-quant error %.9g", ea2, ea);
                    if (b <= 4) {
                        sum_abs += ea;
                        sum_mse += em;
                    }
                    qt_quantizer_free(q);
                }
        CHECK(sum_mse < 0.9 * sum_abs, "%s: mse search barely helps on heavy tails (%.4g vs absmax %.4g)",
              GRID_NAME[gi], sum_mse, sum_abs);
        printf("  %-9s 2..4-bit total sq err: absmax %.4g, mse %.4g\n", GRID_NAME[gi], sum_abs, sum_mse);
    }
    /* absmax math on a known group */
    qt_tensor *t = qt_param_new("t", 2, (int[]){1, 4});
    float v[4] = {-0.3f, 0.1f, 0.7f, 0.2f};
    memcpy(t->data, v, sizeof v);
    qt_quant_spec s4 = {.bits = 4, .group = 0, .grid = QT_GRID_SYM, .learnable = 1};
    qt_quantizer *q = qt_quantizer_new(&s4, t, NULL, 0);
    qt_quant_init_absmax(q, t);
    CHECK(q->scale->data[0] == 0.7f / 7.0f, "sym absmax scale %.9g", q->scale->data[0]);
    qt_quantizer_free(q);
    s4.grid = QT_GRID_ASYM;
    q = qt_quantizer_new(&s4, t, NULL, 0);
    qt_quant_init_absmax(q, t);
    CHECK(q->scale->data[0] == (0.7f - -0.3f) / 15.0f && q->offset->data[0] == rintf(0.3f / q->scale->data[0]),
          "asym absmax s %.9g z %.9g", q->scale->data[0], q->offset->data[0]);
    qt_quantizer_free(q);
    s4.grid = QT_GRID_FLOAT_MIN;
    q = qt_quantizer_new(&s4, t, NULL, 0);
    qt_quant_init_absmax(q, t);
    CHECK(q->scale->data[0] == (0.7f - -0.3f) / 15.0f && q->offset->data[0] == -0.3f, "float_min absmax d %.9g m %.9g",
          q->scale->data[0], q->offset->data[0]);
    qt_quantizer_free(q);
    qt_param_free(t);
    qt_param_free(w);
}

/* ---------------------------------------------------------------- packing */

static void pack_check(uint64_t *rng) {
    const size_t sizes[5] = {1, 2, 7, 64, 129};
    uint8_t codes[130], back[130], packed[130];
    for (int bits = 2; bits <= 8; bits++)
        for (int si = 0; si < 5; si++) {
            size_t n = sizes[si];
            for (size_t i = 0; i < n; i++) codes[i] = (uint8_t)(tu_uniform(rng) * (1 << bits));
            size_t nb = qt_codes_packed_bytes(n, bits);
            CHECK(nb == (bits <= 4 ? (n + 1) / 2 : n), "%d-bit %zu codes: %zu packed bytes", bits, n, nb);
            memset(packed, 0xAA, sizeof packed);
            qt_codes_pack(codes, n, bits, packed);
            memset(back, 0xFF, sizeof back);
            qt_codes_unpack(packed, n, bits, back);
            CHECK(memcmp(codes, back, n) == 0, "%d-bit %zu codes: pack/unpack round trip differs", bits, n);
            CHECK(back[n] == 0xFF, "%d-bit: unpack wrote past n", bits);
            if (bits <= 4 && (n & 1)) CHECK(packed[nb - 1] >> 4 == 0, "odd count: high nibble of the last byte not 0");
        }
    /* documented order: code 2i in the low nibble */
    uint8_t c3[3] = {1, 2, 3}, p3[2];
    qt_codes_pack(c3, 3, 4, p3);
    CHECK(p3[0] == 0x21 && p3[1] == 0x03, "nibble order: got %02x %02x, want 21 03", p3[0], p3[1]);

    /* a frozen weight through pack / unpack: same codes, same dequant */
    qt_tensor *w = qt_param_new("pw", 2, (int[]){4, 32});
    for (int gi = 0; gi < 3; gi++)
        for (int bits = 2; bits <= 8; bits++) {
            tu_fill_normal(w->data, w->n, 0.1f, rng);
            qt_quant_spec spec = {.bits = bits, .group = 16, .grid = GRIDS[gi], .learnable = 1};
            qt_quantizer *q = qt_quantizer_new(&spec, w, NULL, 0);
            qt_quant_init_absmax(q, w);
            qt_qweight *qw = qt_freeze(w, q), *qw2 = qt_qweight_new(&spec, 4, 32, NULL, 0);
            uint8_t buf[128];
            size_t nb = qt_qweight_packed_bytes(qw);
            CHECK(nb == (bits <= 4 ? 64u : 128u), "qweight packed bytes %zu", nb);
            qt_qweight_pack(qw, buf);
            qt_qweight_unpack(qw2, buf);
            if (qw->codes_s8) {
                CHECK(memcmp(qw->codes_s8, qw2->codes_s8, w->n) == 0, "%s %d-bit: codes differ after unpack",
                      GRID_NAME[gi], bits);
                /* packed SYM codes are q + 2^(b-1) */
                uint8_t u0 = bits <= 4 ? (buf[0] & 0x0f) : buf[0];
                CHECK(u0 == qw->codes_s8[0] + (1 << (bits - 1)), "sym packed code %u for q %d", u0, qw->codes_s8[0]);
            } else {
                CHECK(memcmp(qw->codes_u8, qw2->codes_u8, w->n) == 0, "%s %d-bit: codes differ after unpack",
                      GRID_NAME[gi], bits);
            }
            qt_qweight_free(qw2);
            qt_qweight_free(qw);
            qt_quantizer_free(q);
        }
    qt_param_free(w);
}

/* ---------------------------------------------------------------- misc */

static void clamp_check(void) {
    qt_tensor *w = qt_param_new("cw", 2, (int[]){2, 16});
    for (size_t i = 0; i < w->n; i++) w->data[i] = 0.01f * (float)((int)i - 16);
    for (int gi = 0; gi < 3; gi++) {
        qt_quant_spec spec = {.bits = 4, .group = 8, .grid = GRIDS[gi], .learnable = 1, .fp16_scales = 1};
        qt_quantizer *q = qt_quantizer_new(&spec, w, NULL, 0);
        qt_quant_init_absmax(q, w);
        float bad[4] = {-0.5f, 0.0f, 1e-30f, NAN};
        for (int k = 0; k < 4; k++) q->scale->data[k] = bad[k];
        if (gi == QT_GRID_ASYM) {
            float zb[4] = {-3.0f, 17.5f, NAN, 4.2f};
            memcpy(q->offset->data, zb, sizeof zb);
        }
        qt_ctx ctx;
        qt_ctx_init(&ctx, 1 << 16);
        qt_tensor *y = qt_fake_quant(&ctx, w, q);
        int finite = 1;
        for (size_t i = 0; i < w->n; i++)
            if (!(gi == QT_GRID_ASYM && i >= 16 && i < 24)) finite &= isfinite(y->data[i]); /* that group's z is NaN */
        CHECK(finite, "%s: non-finite ŵ with scales <= 0", GRID_NAME[gi]);
        qt_backward(&ctx, y, w->data);
        for (int k = 0; k < 4; k++)
            CHECK(q->scale->grad[k] == 0.0f, "%s: scale %g (below eps) received gradient %g", GRID_NAME[gi], bad[k],
                  q->scale->grad[k]);
        /* an "optimizer step" that pushes every scale negative, then the projection */
        for (size_t k = 0; k < q->scale->n; k++) q->scale->data[k] -= 10.0f;
        qt_quantizer_clamp(q);
        int pos = 1;
        for (size_t k = 0; k < q->scale->n; k++) pos &= q->scale->data[k] >= QT_SCALE_EPS;
        CHECK(pos, "%s: scales below eps after qt_quantizer_clamp", GRID_NAME[gi]);
        if (gi == QT_GRID_ASYM) {
            int inr = 1;
            for (size_t k = 0; k < q->offset->n; k++) inr &= q->offset->data[k] >= 0.0f && q->offset->data[k] <= 15.0f;
            CHECK(inr, "asym: zero points outside [0, 15] after qt_quantizer_clamp");
            CHECK(q->offset->data[3] == 4.2f, "asym: clamp changed an in-range zero point");
        }
        qt_ctx_free(&ctx);
        qt_quantizer_free(q);
    }
    qt_actquant *aq = qt_actquant_new("a", 8, QT_ACT_STATIC, 0.5f);
    aq->scale->data[0] = -1.0f;
    qt_actquant_clamp(aq);
    CHECK(aq->scale->data[0] >= QT_SCALE_EPS, "activation scale %g after clamp", aq->scale->data[0]);
    qt_actquant_free(aq);
    qt_param_free(w);
}

static void rounding_check(void) {
    qt_tensor *w = qt_param_new("rw", 2, (int[]){1, 8});
    float v[8] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 3.5f, -3.5f};
    float want[8] = {0.0f, 2.0f, 2.0f, 0.0f, -2.0f, -2.0f, 4.0f, -4.0f};
    memcpy(w->data, v, sizeof v);
    qt_quant_spec spec = {.bits = 4, .group = QT_GROUP_PER_TENSOR, .grid = QT_GRID_SYM, .learnable = 1};
    qt_quantizer *q = qt_quantizer_new(&spec, w, NULL, 0); /* scale 1 */
    qt_ctx ctx;
    qt_ctx_init(&ctx, 1 << 16);
    qt_tensor *y = qt_fake_quant(&ctx, w, q);
    for (int i = 0; i < 8; i++)
        CHECK(y->data[i] == want[i], "round(%g) gave %g, half-to-even wants %g", v[i], y->data[i], want[i]);
    qt_ctx_free(&ctx);
    qt_quantizer_free(q);
    qt_param_free(w);
}

static void fixed_and_spec_check(void) {
    qt_tensor *w = qt_param_new("xw", 2, (int[]){3, 32});
    for (size_t i = 0; i < w->n; i++) w->data[i] = 0.01f * (float)((int)(i * 7 % 23) - 11);
    qt_quant_spec spec = {.bits = 3, .group = 16, .grid = QT_GRID_ASYM, .learnable = 0};
    qt_quantizer *q = qt_quantizer_new(&spec, w, NULL, 0);
    qt_quant_init_absmax(q, w);
    for (size_t k = 0; k < q->scale->n; k++) q->scale->data[k] *= 0.7f;
    qt_ctx ctx;
    qt_ctx_init(&ctx, 1 << 16);
    qt_tensor *y = qt_fake_quant(&ctx, w, q);
    float *ones = malloc(w->n * sizeof(float));
    for (size_t i = 0; i < w->n; i++) ones[i] = 1.0f;
    qt_backward(&ctx, y, ones);
    double sg = 0, og = 0, wg = 0;
    for (size_t k = 0; k < q->scale->n; k++) sg += fabs(q->scale->grad[k]), og += fabs(q->offset->grad[k]);
    for (size_t i = 0; i < w->n; i++) wg += w->grad[i];
    CHECK(sg == 0 && og == 0, "fixed quantizer: scale/offset got gradient");
    CHECK(wg > 0 && wg < (double)w->n, "fixed quantizer: dw sum %g (want STE with some clipped)", wg);
    /* nothing requires grad: no node */
    w->requires_grad = 0;
    qt_tensor *y2 = qt_fake_quant(&ctx, w, q);
    CHECK(y2->node == 0 && !y2->requires_grad, "fake_quant recorded a node with nothing to differentiate");
    w->requires_grad = 1;
    free(ones);
    qt_ctx_free(&ctx);
    qt_quantizer_free(q);

    /* LSQ factor g = 1/sqrt(N·Qp) */
    int groups[3] = {QT_GROUP_PER_TENSOR, QT_GROUP_PER_CHANNEL, 16};
    double want[3] = {1 / sqrt(96.0 * 7), 1 / sqrt(32.0 * 7), 1 / sqrt(16.0 * 7)};
    for (int i = 0; i < 3; i++) {
        qt_quant_spec s = {.bits = 3, .group = groups[i], .grid = QT_GRID_ASYM, .learnable = 1};
        q = qt_quantizer_new(&s, w, NULL, 0);
        CHECK(fabs(qt_quantizer_lsq_g(q) - want[i]) < 1e-15, "g(group %d) = %.9g, want %.9g", groups[i],
              qt_quantizer_lsq_g(q), want[i]);
        CHECK(q->scale->shape[0] == (groups[i] == QT_GROUP_PER_TENSOR ? 1 : 3) &&
                  q->scale->shape[1] == (groups[i] == 16 ? 2 : 1),
              "scale shape [%d, %d] for group %d", q->scale->shape[0], q->scale->shape[1], groups[i]);
        CHECK(strcmp(q->scale->name, "xw.scale") == 0 && strcmp(q->offset->name, "xw.offset") == 0,
              "param names %s %s", q->scale->name, q->offset->name);
        qt_quantizer_free(q);
    }
    qt_quant_spec sym = {.bits = 8, .group = 0, .grid = QT_GRID_SYM};
    CHECK(qt_quant_qmin(&sym) == -128 && qt_quant_qmax(&sym) == 127, "sym 8-bit levels");
    sym.grid = QT_GRID_FLOAT_MIN;
    sym.bits = 4;
    CHECK(qt_quant_qmin(&sym) == 0 && qt_quant_qmax(&sym) == 15, "float_min 4-bit levels");

    /* invalid specs are refused with a message */
    char err[160];
    qt_quant_spec bad[4] = {{.bits = 1, .group = 16}, {.bits = 9, .group = 16}, {.bits = 4, .group = 24},
                            {.bits = 4, .group = -2}};
    for (int i = 0; i < 4; i++) {
        err[0] = 0;
        CHECK(qt_quantizer_new(&bad[i], w, err, sizeof err) == NULL && err[0], "bad spec %d accepted", i);
    }
    CHECK(strstr(err, "group") != NULL, "error message does not name the field: %s", err);
    qt_param_free(w);
}

static void activation_check(uint64_t *rng) {
    qt_tensor *x = qt_param_new("ax", 3, (int[]){2, 3, 40});
    tu_fill_normal(x->data, x->n, 1.0f, rng);
    qt_ctx ctx;
    qt_ctx_init(&ctx, 1 << 16);
    qt_tensor *y = qt_act_quant_dynamic(&ctx, x, 8);
    /* per row: the largest |x| maps to ±127 steps exactly, all values within half a step */
    int ok = 1;
    for (int r = 0; r < 6; r++) {
        float m = 0;
        for (int c = 0; c < 40; c++) m = fmaxf(m, fabsf(x->data[r * 40 + c]));
        float s = m / 127.0f;
        for (int c = 0; c < 40; c++) {
            float v = x->data[r * 40 + c], q = y->data[r * 40 + c];
            ok &= fabsf(q - v) <= 0.5f * s * (1 + 1e-5f);
            ok &= fabsf(q / s - rintf(q / s)) < 1e-3f;
        }
    }
    CHECK(ok, "dynamic 8-bit: values not on the per-row grid");
    /* static: calibrates once, then keeps the (trained or loaded) scale */
    qt_actquant *aq = qt_actquant_new("a", 8, QT_ACT_STATIC, 0.0f);
    CHECK(aq->scale->data[0] == 0.0f && strcmp(aq->scale->name, "a.scale") == 0, "static init");
    qt_act_quant(&ctx, x, aq);
    float s1 = aq->scale->data[0];
    CHECK(s1 > 0, "static: no calibration on the first batch");
    for (size_t i = 0; i < x->n; i++) x->data[i] *= 3.0f;
    qt_act_quant(&ctx, x, aq);
    CHECK(aq->scale->data[0] == s1, "static: scale re-calibrated on a later batch");
    qt_actquant_free(aq);
    qt_ctx_free(&ctx);
    qt_param_free(x);
}

/* A training step (forward, backward, clamp) repeated: no new arena chunks, no tape growth. */
static void alloc_check(uint64_t *rng) {
    qt_tensor *w = qt_param_new("sw", 2, (int[]){64, 128});
    tu_fill_normal(w->data, w->n, 0.05f, rng);
    qt_quant_spec spec = {.bits = 4, .group = 32, .grid = QT_GRID_FLOAT_MIN, .learnable = 1, .fp16_scales = 1};
    qt_quantizer *q = qt_quantizer_new(&spec, w, NULL, 0);
    qt_quant_init_mse(q, w, 0, 0);
    qt_actquant *aq = qt_actquant_new("a", 8, QT_ACT_STATIC, 0.0f);
    qt_ctx ctx;
    qt_ctx_init(&ctx, 1 << 20);
    size_t m0 = 0, r0 = 0;
    for (int step = 0; step < 4; step++) {
        qt_ctx_reset(&ctx);
        qt_tensor *y = qt_fake_quant(&ctx, w, q);
        qt_tensor *z = qt_act_quant(&ctx, y, aq);
        qt_backward(&ctx, z, w->data);
        qt_quantizer_clamp(q);
        if (step == 1) m0 = ctx.arena.n_mallocs, r0 = ctx.n_node_reallocs;
    }
    CHECK(ctx.arena.n_mallocs == m0 && ctx.n_node_reallocs == r0, "steps 2..4 allocated (%zu -> %zu chunks)", m0,
          ctx.arena.n_mallocs);
    qt_ctx_free(&ctx);
    qt_actquant_free(aq);
    qt_quantizer_free(q);
    qt_param_free(w);
}

/* ---------------------------------------------------------------- double quantization (K-quants) */

/* For each K-quant layout: the effective scales have the super-block
 * structure (d an fp16 value, s_eff = d·sc with sc an integer in [1, L],
 * mins -dmin·mq with mq in [0, L]); forward and every gradient equal those
 * of a plain quantizer (no sub-scale rounding, fp32 scales) holding the
 * effective parameters, i.e. the gradient goes straight through the
 * sub-scale rounding; a raw min above 0 gets no gradient and is projected to
 * 0; freeze -> dequant is the forward bit for bit and keeps d and dmin. */
static void dq_check(uint64_t *rng) {
    static const struct { qt_grid grid; int bits, group, dq; const char *name; } K[] = {
        {QT_GRID_FLOAT_MIN, 2, 16, 4, "Q2_K"}, {QT_GRID_SYM, 3, 16, 6, "Q3_K"}, {QT_GRID_FLOAT_MIN, 4, 32, 6, "Q4_K"},
        {QT_GRID_FLOAT_MIN, 5, 32, 6, "Q5_K"}, {QT_GRID_SYM, 6, 16, 8, "Q6_K"}};
    const int rows = 64, cols = 512;
    for (size_t t = 0; t < sizeof K / sizeof K[0]; t++) {
        qt_tensor *w = qt_param_new("dq", 2, (int[]){rows, cols});
        tu_fill_normal(w->data, w->n, 0.05f, rng);
        for (int r = 0; r < rows; r++) w->data[(size_t)r * cols + (r * 37) % cols] *= 12.0f; /* outliers */
        for (int c = 0; c < cols; c++) w->data[c] = fabsf(w->data[c]);                       /* a positive row */
        qt_quant_spec spec = {.bits = K[t].bits, .group = K[t].group, .grid = K[t].grid, .learnable = 1,
                              .fp16_scales = 1, .dq_bits = K[t].dq};
        qt_quantizer *q = qt_quantizer_new(&spec, w, NULL, 0);
        CHECK(q != NULL, "%s: spec refused", K[t].name);
        if (!q) continue;
        qt_quant_init_mse(q, w, 20, 0.6f);
        size_t ns = q->scale->n;
        for (size_t k = 0; k < ns; k += 7) q->scale->data[k] *= 0.3f + (float)(k % 5) * 0.4f;
        if (q->offset) {
            for (size_t k = 0; k < ns; k++) CHECK(q->offset->data[k] <= 0.0f, "%s: init gave min %g > 0", K[t].name,
                                                  q->offset->data[k]);
            for (size_t k = 3; k < ns; k += 11) q->offset->data[k] = 0.01f; /* above 0: acts as 0, no gradient */
        }
        /* structure */
        const int span = qt_quant_span_groups(&spec), fmin = K[t].grid == QT_GRID_FLOAT_MIN;
        const float L = (float)(fmin ? (1 << K[t].dq) - 1 : (1 << (K[t].dq - 1)) - 1);
        CHECK(span == 256 / K[t].group, "%s: span %d", K[t].name, span);
        float *se = malloc(ns * sizeof(float)), *me = calloc(ns, sizeof(float));
        int n_bad = 0, n_distinct = 0;
        for (size_t k = 0; k < ns; k += (size_t)span) {
            qt_qparams p[16];
            float d, dmin;
            qt_quant_effective_span(&spec, q->scale->data + k, q->offset ? q->offset->data + k : NULL, p, &d, &dmin);
            n_bad += !(d > 0.0f) || qt_f16_round(d) != d || qt_f16_round(dmin) != dmin || dmin < 0.0f;
            for (int j = 0; j < span; j++) {
                float sc = p[j].s / d, mq = dmin > 0.0f ? -p[j].z / dmin : 0.0f;
                n_bad += sc != rintf(sc) || sc < 1.0f || sc > L || d * sc != p[j].s;
                n_bad += mq != rintf(mq) || mq < 0.0f || mq > L || (fmin ? p[j].z != -(dmin * mq) : p[j].z != 0.0f);
                n_distinct += j > 0 && p[j].s != p[0].s;
                se[k + j] = p[j].s;
                me[k + j] = p[j].z;
            }
        }
        CHECK(n_bad == 0, "%s: %d effective parameters off the super-block grid", K[t].name, n_bad);
        CHECK(n_distinct > 0, "%s: every group of a super-block has the same scale", K[t].name);
        /* forward and gradients = a plain quantizer with the effective parameters */
        qt_quant_spec plain = spec;
        plain.dq_bits = 0;
        plain.fp16_scales = 0;
        qt_tensor *w2 = qt_param_new("dq", 2, (int[]){rows, cols});
        memcpy(w2->data, w->data, w->n * sizeof(float));
        qt_quantizer *q2 = qt_quantizer_new(&plain, w2, NULL, 0);
        memcpy(q2->scale->data, se, ns * sizeof(float));
        if (q2->offset) memcpy(q2->offset->data, me, ns * sizeof(float));
        float *dy = malloc(w->n * sizeof(float));
        tu_fill_normal(dy, w->n, 1.0f, rng);
        qt_ctx ctx, ctx2;
        qt_ctx_init(&ctx, 1 << 20);
        qt_ctx_init(&ctx2, 1 << 20);
        qt_tensor *y = qt_fake_quant(&ctx, w, q), *y2 = qt_fake_quant(&ctx2, w2, q2);
        CHECK(memcmp(y->data, y2->data, w->n * sizeof(float)) == 0, "%s: forward differs from the plain grid",
              K[t].name);
        qt_backward(&ctx, y, dy);
        qt_backward(&ctx2, y2, dy);
        CHECK(memcmp(w->grad, w2->grad, w->n * sizeof(float)) == 0, "%s: dw differs", K[t].name);
        CHECK(memcmp(q->scale->grad, q2->scale->grad, ns * sizeof(float)) == 0, "%s: dscale differs", K[t].name);
        if (q->offset) {
            int bad_o = 0, n_out = 0;
            for (size_t k = 0; k < ns; k++) {
                float want = q->offset->data[k] > 0.0f ? 0.0f : q2->offset->grad[k];
                bad_o += q->offset->grad[k] != want;
                n_out += q2->offset->grad[k] != 0.0f;
            }
            CHECK(bad_o == 0, "%s: %d min gradients differ", K[t].name, bad_o);
            CHECK(n_out > 0, "%s: no min received a gradient (no clipped weight)", K[t].name);
        }
        /* freeze */
        qt_qweight *qw = qt_freeze(w, q);
        float *deq = malloc(w->n * sizeof(float));
        qt_qweight_dequant(qw, deq);
        CHECK(memcmp(deq, y->data, w->n * sizeof(float)) == 0, "%s: frozen weight differs from the forward", K[t].name);
        for (size_t b = 0; b < ns / span; b++) {
            float d, dmin;
            qt_qparams p[16];
            qt_quant_effective_span(&spec, q->scale->data + b * span, q->offset ? q->offset->data + b * span : NULL,
                                    p, &d, &dmin);
            n_bad += qw->sb_d[b] != d || (fmin ? qw->sb_dmin[b] != dmin : qw->sb_dmin != NULL);
        }
        CHECK(n_bad == 0, "%s: frozen super-block scales differ", K[t].name);
        /* projection */
        qt_quantizer_clamp(q);
        if (q->offset)
            for (size_t k = 3; k < ns; k += 11) CHECK(q->offset->data[k] == 0.0f, "%s: min %g not projected to 0",
                                                      K[t].name, q->offset->data[k]);
        qt_qweight_free(qw);
        free(deq);
        free(dy);
        free(se);
        free(me);
        qt_ctx_free(&ctx);
        qt_ctx_free(&ctx2);
        qt_quantizer_free(q);
        qt_quantizer_free(q2);
        qt_param_free(w);
        qt_param_free(w2);
    }
    /* refusals, each naming what is wrong */
    qt_tensor *w = qt_param_new("dq_bad", 2, (int[]){4, 384});
    char err[256];
    qt_quant_spec ok = {.bits = 4, .group = 32, .grid = QT_GRID_FLOAT_MIN, .learnable = 1, .fp16_scales = 1, .dq_bits = 6};
    CHECK(!qt_quantizer_new(&ok, w, err, sizeof err) && strstr(err, "384") && strstr(err, "256"),
          "row 384 with super-blocks: %s", err);
    qt_param_free(w);
    w = qt_param_new("dq_bad", 2, (int[]){4, 512});
    qt_quant_spec bad[4] = {ok, ok, ok, ok};
    bad[0].group = 64;
    bad[1].grid = QT_GRID_ASYM;
    bad[2].fp16_scales = 0;
    bad[3].dq_bits = 9;
    for (int i = 0; i < 4; i++) {
        err[0] = 0;
        CHECK(!qt_quantizer_new(&bad[i], w, err, sizeof err) && strstr(err, "super-block"), "bad dq spec %d: %s", i,
              err);
    }
    qt_param_free(w);
}

/* ---------------------------------------------------------------- level grids */

/* The levels by code, written here from llama.cpp's kvalues_iq4nl and the
 * doubled E2M1 values (independent of quant/fakequant.c's tables). */
static const double IQ4NL_REF[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
static const double MXFP4_REF[16] = {0, 1, 2, 3, 4, 6, 8, 12, -0.0, -1, -2, -3, -4, -6, -8, -12};

/* the nearest level to x by brute force (ties to the larger level) */
static double ref_level(qt_grid grid, double x) {
    const double *lv = grid == QT_GRID_IQ4_NL ? IQ4NL_REF : MXFP4_REF;
    double best = lv[0];
    for (int i = 1; i < 16; i++) {
        double d = fabs(x - lv[i]), db = fabs(x - best);
        if (d < db || (d == db && lv[i] > best)) best = lv[i];
    }
    return best + 0.0;
}

/* the effective scale, computed here: IQ4_NL sign·max(|s|, eps) in fp16;
 * MXFP4 the power of two nearest in log2 */
static double ref_scale(qt_grid grid, float s) {
    if (grid == QT_GRID_IQ4_NL) {
        float a = fabsf(s) < QT_SCALE_EPS ? QT_SCALE_EPS : fabsf(s);
        return (s < 0 ? -1.0 : 1.0) * qt_f16_round(a > 65504.0f ? 65504.0f : a);
    }
    double a = s < QT_SCALE_EPS ? QT_SCALE_EPS : s;
    return ldexp(1.0, (int)floor(log2(a) + 0.5));
}

/* forward, freeze and dequant, gradients against finite differences of the
 * STE surrogate s·(clip(x) + c), init, clamp and spec checks for IQ4_NL and MXFP4 */
static void level_check(uint64_t *rng) {
    for (int gi = 0; gi < 2; gi++) {
        const qt_grid grid = gi ? QT_GRID_MXFP4 : QT_GRID_IQ4_NL;
        const char *gname = gi ? "mxfp4" : "iq4_nl";
        const double LMIN = gi ? -12 : -127, LMAX = gi ? 12 : 113;
        const int rows = 8, cols = 64;
        qt_tensor *w = qt_param_new("w", 2, (int[]){rows, cols});
        tu_fill_normal(w->data, w->n, 0.05f, rng);
        qt_quant_spec spec = {.bits = 4, .group = 32, .grid = grid, .learnable = 1, .fp16_scales = 1};
        qt_quantizer *q = qt_quantizer_new(&spec, w, NULL, 0);
        CHECK(q != NULL, "%s: quantizer", gname);
        qt_quant_init_absmax(q, w);
        /* absmax: IQ4_NL's largest-magnitude value sits on the level -127 (s of the other sign); MXFP4 2^(floor log2 amax - 3) */
        int neg = 0;
        for (int k = 0; k < rows * 2; k++) {
            const float *g = w->data + (size_t)k * 32;
            float M = 0;
            for (int i = 0; i < 32; i++) M = fabsf(g[i]) > fabsf(M) ? g[i] : M;
            double want = gi ? ldexp(1.0, (int)floor(log2(fabs(M))) - 3) : -M / 127.0;
            CHECK(fabs(q->scale->data[k] - want) <= 1e-6 * fabs(want), "%s absmax group %d: scale %.9g, want %.9g", gname,
                  k, q->scale->data[k], want);
            neg += q->scale->data[k] < 0;
        }
        if (!gi) CHECK(neg > 0 && neg < rows * 2, "iq4_nl absmax: %d of %d scales negative (want both signs)", neg, rows * 2);
        /* move the scales off their init (and off the rounding thresholds of MXFP4's power of two) */
        for (size_t k = 0; k < q->scale->n; k++) q->scale->data[k] *= (float)(0.7 + 0.5 * tu_uniform(rng));
        qt_quantizer_clamp(q);
        /* keep weights off the midpoints and the clip range's edges (in x units) */
        for (size_t i = 0; i < w->n; i++) {
            const double sc = ref_scale(grid, q->scale->data[i / 32]);
            for (int t = 0; t < 100; t++) {
                double x = w->data[i] / sc, near = 1e9;
                for (int j = 0; j < 16; j++) {
                    const double *lv = gi ? MXFP4_REF : IQ4NL_REF;
                    for (int k2 = 0; k2 < 16; k2++)
                        if (lv[k2] > lv[j]) near = fmin(near, fabs(x - 0.5 * (lv[j] + lv[k2])));
                }
                near = fmin(near, fmin(fabs(x - LMIN), fabs(x - LMAX)));
                if (near > 0.02 * (gi ? 1 : 8)) break;
                w->data[i] += (float)(0.013 * fabs(sc) * (gi ? 1 : 8));
            }
        }
        float *dy = malloc(w->n * sizeof(float));
        tu_fill_normal(dy, w->n, 1.0f, rng);
        qt_ctx ctx;
        qt_ctx_init(&ctx, 1 << 20);
        qt_tensor *y = qt_fake_quant(&ctx, w, q);
        qt_backward(&ctx, y, dy);
        /* forward: ŵ = s·level(w/s), bit for bit; freeze gives those codes; dequant gives ŵ */
        qt_qweight *qw = qt_freeze(w, q);
        float *dq = malloc(w->n * sizeof(float));
        qt_qweight_dequant(qw, dq);
        const double *bycode = gi ? MXFP4_REF : IQ4NL_REF;
        int bad_fwd = 0, bad_code = 0, n_clip = 0;
        for (size_t i = 0; i < w->n; i++) {
            const double sc = ref_scale(grid, q->scale->data[i / 32]), x = w->data[i] / sc;
            const float want = (float)(sc * ref_level(grid, (double)(float)(w->data[i] / (float)sc)));
            bad_fwd += memcmp(&y->data[i], &want, 4) != 0 || memcmp(&dq[i], &want, 4) != 0;
            bad_code += bycode[qw->codes_u8[i] & 15] != ref_level(grid, (double)(float)(w->data[i] / (float)sc)) ||
                        qw->codes_u8[i] > 15 || (gi && qw->codes_u8[i] == 8);
            n_clip += x < LMIN || x > LMAX;
            if (i % 32 == 0)
                CHECK(qw->scales[i / 32] == (float)sc, "%s: frozen scale %.9g, want %.9g", gname, qw->scales[i / 32], sc);
        }
        CHECK(bad_fwd == 0, "%s: %d values of ŵ or the dequantized weight differ from s·level(w/s)", gname, bad_fwd);
        CHECK(bad_code == 0, "%s: %d frozen codes do not name the nearest level", gname, bad_code);
        CHECK(n_clip > 0 && n_clip < (int)w->n, "%s: %d clipped weights (want some, not all)", gname, n_clip);
        /* gradients: finite differences of the surrogate Σ dy·s·(clip(x) + c), c fixed at the base point */
        CHECK(qt_quant_scale_unit(&spec) == (gi ? 24.0 / 15.0 : 240.0 / 15.0), "%s: scale unit %.9g", gname,
              qt_quant_scale_unit(&spec));
        const double g = qt_quantizer_lsq_g(q);
        CHECK(fabs(g - 1.0 / sqrt(32.0 * (gi ? 12 : 127))) < 1e-15, "%s: LSQ factor %.9g", gname, g);
        double worst = 0, ref_mag = 0;
        double fds[16];
        for (int k = 0; k < rows * 2; k++) {
            const double s0 = ref_scale(grid, q->scale->data[k]), h = 1e-6 * fabs(s0);
            double Lp = 0, Lm = 0;
            for (int i = 0; i < 32; i++) {
                const size_t ii = (size_t)k * 32 + i;
                const double x0 = w->data[ii] / s0, xc0 = fmin(fmax(x0, LMIN), LMAX);
                const double c = ref_level(grid, x0) - xc0;
                const double sp = s0 + h, sm = s0 - h;
                Lp += dy[ii] * sp * (fmin(fmax(w->data[ii] / sp, LMIN), LMAX) + c);
                Lm += dy[ii] * sm * (fmin(fmax(w->data[ii] / sm, LMIN), LMAX) + c);
            }
            fds[k] = (Lp - Lm) / (2 * h);
            ref_mag = fmax(ref_mag, fabs(fds[k]));
        }
        for (int k = 0; k < rows * 2; k++) {
            const double e = fabs(q->scale->grad[k] / g - fds[k]) / ref_mag;
            worst = fmax(worst, e);
            CHECK(e < 1e-5, "%s group %d: dscale/g %.9g, finite difference %.9g", gname, k, q->scale->grad[k] / g, fds[k]);
        }
        int bad_dw = 0;
        for (size_t i = 0; i < w->n; i++) {
            const double x = w->data[i] / ref_scale(grid, q->scale->data[i / 32]);
            bad_dw += w->grad[i] != ((x >= LMIN && x <= LMAX) ? dy[i] : 0.0f);
        }
        CHECK(bad_dw == 0, "%s: %d weight gradients are not the STE's", gname, bad_dw);
        /* MSE init never worse than absmax */
        qt_quant_init_absmax(q, w);
        double e_abs = qt_quant_sqerr(q, w);
        qt_quant_init_mse(q, w, 0, 0.0f);
        double e_mse = qt_quant_sqerr(q, w);
        CHECK(e_mse <= e_abs && e_mse < e_abs * 0.999, "%s: mse init error %.6g vs absmax %.6g", gname, e_mse, e_abs);
        /* clamp: IQ4_NL keeps the sign, tiny scales become ±eps, NaN eps; MXFP4 negative becomes eps */
        q->scale->data[0] = -1e-30f;
        q->scale->data[1] = NAN;
        q->scale->data[2] = -0.25f;
        q->scale->data[3] = 1e9f;
        qt_quantizer_clamp(q);
        CHECK(q->scale->data[0] == (gi ? QT_SCALE_EPS : -QT_SCALE_EPS), "%s: clamp of -1e-30 gives %.9g", gname,
              q->scale->data[0]);
        CHECK(q->scale->data[1] == QT_SCALE_EPS, "%s: clamp of NaN gives %.9g", gname, q->scale->data[1]);
        CHECK(q->scale->data[2] == (gi ? QT_SCALE_EPS : -0.25f), "%s: clamp of -0.25 gives %.9g", gname, q->scale->data[2]);
        CHECK(q->scale->data[3] == (gi ? 1e9f : 65504.0f), "%s: clamp of 1e9 gives %.9g", gname, q->scale->data[3]);
        qt_qparams p = qt_quant_effective(&spec, 1e9f, 0.0f);
        CHECK(gi ? p.s == 0x1p30f : p.s == 65504.0f, "%s: effective scale of 1e9 is %.9g", gname, p.s);
        free(dq);
        qt_qweight_free(qw);
        qt_ctx_free(&ctx);
        free(dy);
        qt_quantizer_free(q);
        qt_param_free(w);
        (void)worst;
    }
    /* spec: the level grids are 4-bit, without sub-scale quantization */
    qt_tensor *w = qt_param_new("w", 2, (int[]){4, 256});
    char err[200] = "";
    qt_quant_spec bad = {.bits = 3, .group = 32, .grid = QT_GRID_IQ4_NL, .learnable = 1, .fp16_scales = 1};
    CHECK(!qt_quantizer_new(&bad, w, err, sizeof err) && strstr(err, "iq4_nl"), "3-bit iq4_nl accepted: %s", err);
    bad.bits = 4;
    bad.dq_bits = 6;
    bad.grid = QT_GRID_MXFP4;
    CHECK(!qt_quantizer_new(&bad, w, err, sizeof err) && strstr(err, "mxfp4"), "mxfp4 with sub-scales accepted: %s", err);
    qt_param_free(w);
}

/* fp16 scales never overflow: a scale (or float min) past 65504 acts as
 * 65504, so a group stays finite; the gradient stops at the clamp */
static void f16_range_check(void) {
    for (int gi = 0; gi < 3; gi++) {
        qt_tensor *w = qt_param_new("w", 2, (int[]){1, 32});
        for (int i = 0; i < 32; i++) w->data[i] = (float)(i - 16) * 1e6f;
        qt_quant_spec spec = {.bits = 4, .group = 32, .grid = GRIDS[gi], .learnable = 1, .fp16_scales = 1};
        qt_quantizer *q = qt_quantizer_new(&spec, w, NULL, 0);
        q->scale->data[0] = 1e6f; /* fp16(1e6) would be inf */
        if (q->offset) q->offset->data[0] = GRIDS[gi] == QT_GRID_FLOAT_MIN ? -1e6f : 3.0f;
        qt_ctx ctx;
        qt_ctx_init(&ctx, 1 << 16);
        qt_tensor *y = qt_fake_quant(&ctx, w, q);
        int finite = 1;
        for (int i = 0; i < 32; i++) finite &= isfinite(y->data[i]);
        CHECK(finite, "%s: a scale of 1e6 with fp16 scales gives a non-finite ŵ", GRID_NAME[gi]);
        qt_qparams p = qt_quant_effective(&spec, 1e6f, GRIDS[gi] == QT_GRID_FLOAT_MIN ? -1e6f : 3.0f);
        CHECK(p.s == 65504.0f, "%s: effective scale %.9g (want 65504)", GRID_NAME[gi], p.s);
        if (GRIDS[gi] == QT_GRID_FLOAT_MIN) CHECK(p.z == -65504.0f, "float_min: effective min %.9g (want -65504)", p.z);
        float dy[32];
        for (int i = 0; i < 32; i++) dy[i] = 1.0f;
        qt_backward(&ctx, y, dy);
        CHECK(q->scale->grad[0] == 0.0f, "%s: a clamped scale gets gradient %.9g (want 0)", GRID_NAME[gi], q->scale->grad[0]);
        qt_quantizer_clamp(q);
        CHECK(q->scale->data[0] == 65504.0f, "%s: clamp gives %.9g (want 65504)", GRID_NAME[gi], q->scale->data[0]);
        qt_ctx_free(&ctx);
        qt_quantizer_free(q);
        qt_param_free(w);
    }
}

int main(void) {
    uint64_t rng = 0x9E3779B97F4A7C15ULL;
    const int groups[3] = {QT_GROUP_PER_TENSOR, QT_GROUP_PER_CHANNEL, 16};
    const int bits[3] = {3, 4, 8};
    for (int gi = 0; gi < 3; gi++)
        for (int b = 0; b < 3; b++)
            for (int gr = 0; gr < 3; gr++) fd_check(GRIDS[gi], bits[b], groups[gr], &rng);
    for (int gi = 0; gi < 3; gi++) {
        big_check(GRIDS[gi], QT_GROUP_PER_TENSOR, &rng);
        big_check(GRIDS[gi], 32, &rng);
    }
    freeze_check(&rng);
    dq_check(&rng);
    mse_check(&rng);
    pack_check(&rng);
    clamp_check();
    rounding_check();
    fixed_and_spec_check();
    activation_check(&rng);
    alloc_check(&rng);
    level_check(&rng);
    f16_range_check();
    return tu_finish("test_quant");
}
