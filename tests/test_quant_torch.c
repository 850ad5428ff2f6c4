/* Weight and activation fake-quant against python3-torch
 * (tests/oracles/quant_ref.py): for every grid (sym, asym, float-min), bits
 * 2/3/4/8, per-tensor / per-channel / group 32 / group 16, fp32 and fp16
 * scales, plus scales at or below eps:
 *   - ŵ equal to torch's fp32 forward element for element (==), including
 *     values at exact .5 steps where half-to-even and half-away differ (and a
 *     roundf forward is shown to disagree with torch on them);
 *   - the frozen weight dequantizes to the same values;
 *   - ∂/∂w, ∂/∂scale, ∂/∂offset within TOL = 1e-5 of torch float64 autograd
 *     (max abs diff / max abs), LSQ factor g included (observed: 0);
 * activations: per-token dynamic forward (==) and identity backward, static
 * LSQ forward/backward, calibration from the first batch; fp16 rounding of
 * 2000+ values against torch .half(). */
#include <hdf5.h>

#include "quant/quant.h"
#include "test_util.h"

static hid_t file;

#define TOL 1e-5

/* Reads dataset `name` (exactly n values of the given memory type) into buf; 0 on success. */
static int read_ds(const char *name, hid_t type, void *buf, size_t n) {
    if (H5Lexists(file, name, H5P_DEFAULT) <= 0) return -1;
    hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
    if (d < 0) return -1;
    hid_t sp = H5Dget_space(d);
    hssize_t cnt = H5Sget_simple_extent_npoints(sp);
    int rc = (size_t)cnt == n ? (H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) : -1;
    H5Sclose(sp);
    H5Dclose(d);
    return rc;
}
static int read_floats(const char *name, float *buf, size_t n) { return read_ds(name, H5T_NATIVE_FLOAT, buf, n); }

/* Number of i with a[i] != b[i] (value compare: +0 == -0). */
static size_t n_diff(const float *a, const float *b, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += !(a[i] == b[i]);
    return k;
}

/* ŵ computed with C's roundf (half away from zero) instead of rintf. */
static void roundf_forward(const qt_quantizer *q, const float *w, float *out) {
    const qt_quant_spec *sp = &q->spec;
    float lo = (float)qt_quant_qmin(sp), hi = (float)qt_quant_qmax(sp);
    for (int r = 0; r < q->rows; r++)
        for (int c = 0; c < q->cols; c++) {
            size_t gi = (size_t)(q->srows == 1 ? 0 : r) * q->ngroups + c / q->gsize, i = (size_t)r * q->cols + c;
            qt_qparams p = qt_quant_effective(sp, q->scale->data[gi], q->offset ? q->offset->data[gi] : 0.0f);
            float v;
            if (sp->grid == QT_GRID_SYM) {
                v = fminf(fmaxf(roundf(w[i] / p.s), lo), hi) * p.s;
            } else if (sp->grid == QT_GRID_ASYM) {
                v = (fminf(fmaxf(roundf(w[i] / p.s) + p.z, lo), hi) - p.z) * p.s;
            } else {
                float t = p.s * fminf(fmaxf(roundf((w[i] - p.z) / p.s), lo), hi);
                v = t + p.z;
            }
            out[i] = v;
        }
}

static void weight_cases(void) {
    int ncases = 0;
    CHECK(read_ds("n_cases", H5T_NATIVE_INT, &ncases, 1) == 0, "read n_cases");
    CHECK(ncases >= 99, "only %d cases", ncases);
    double worst_w = 0, worst_s = 0, worst_o = 0;
    size_t total_ties = 0;
    for (int k = 0; k < ncases; k++) {
        char name[96];
        int meta[7];
        snprintf(name, sizeof name, "case/%03d/meta", k);
        if (read_ds(name, H5T_NATIVE_INT, meta, 7)) {
            CHECK(0, "read %s", name);
            continue;
        }
        qt_quant_spec spec = {.grid = (qt_grid)meta[0], .bits = meta[1], .group = meta[2], .learnable = 1,
                              .fp16_scales = meta[3]};
        int rows = meta[4], cols = meta[5], n_ties = meta[6];
        char label[96];
        snprintf(label, sizeof label, "case %d (grid %d, %d bits, group %d, fp16 %d)", k, meta[0], meta[1], meta[2],
                 meta[3]);
        qt_tensor *w = qt_param_new("w", 2, (int[]){rows, cols});
        char err[160];
        qt_quantizer *q = qt_quantizer_new(&spec, w, err, sizeof err);
        CHECK(q != NULL, "%s: %s", label, err);
        if (!q) {
            qt_param_free(w);
            continue;
        }
        size_t n = w->n, ns = q->scale->n;
        float *ref = malloc(n * sizeof(float)), *dy = malloc(n * sizeof(float)), *tmp = malloc(n * sizeof(float));
        float *gs_ref = malloc(ns * sizeof(float)), *go_ref = malloc(ns * sizeof(float));
#define RD(ds, buf, cnt)                                                   \
    snprintf(name, sizeof name, "case/%03d/%s", k, ds);                    \
    CHECK(read_floats(name, buf, cnt) == 0, "%s: read %s", label, name)
        RD("w", w->data, n);
        RD("scale", q->scale->data, ns);
        if (q->offset) {
            RD("offset", q->offset->data, ns);
        }
        RD("dy", dy, n);
        RD("what", ref, n);
        RD("gs", gs_ref, ns);
        RD("go", go_ref, ns);

        qt_ctx ctx;
        qt_ctx_init(&ctx, 1 << 20);
        qt_tensor *y = qt_fake_quant(&ctx, w, q);
        size_t nd = n_diff(y->data, ref, n);
        CHECK(nd == 0, "%s: %zu of %zu ŵ values differ from torch", label, nd, n);
        if (nd) {
            for (size_t i = 0, shown = 0; i < n && shown < 3; i++)
                if (y->data[i] != ref[i]) {
                    fprintf(stderr, "   [%zu] w=%.9g C %.9g torch %.9g\n", i, w->data[i], y->data[i], ref[i]);
                    shown++;
                }
        }
        /* the ties in this case decide between rounding rules: roundf must disagree */
        CHECK(n_ties > 0, "%s: the oracle placed no .5 ties", label);
        total_ties += (size_t)n_ties;
        roundf_forward(q, w->data, tmp);
        CHECK(n_diff(tmp, ref, n) > 0, "%s: a roundf forward would agree with torch (ties not effective)", label);

        /* the frozen weight gives the same numbers */
        qt_qweight *qw = qt_freeze(w, q);
        qt_qweight_dequant(qw, tmp);
        CHECK(n_diff(tmp, ref, n) == 0, "%s: dequantized frozen weight differs from torch", label);
        qt_qweight_free(qw);

        qt_backward(&ctx, y, dy);
        RD("gw", ref, n);
        double ew = tu_rel_err(w->grad, ref, n), es = tu_rel_err(q->scale->grad, gs_ref, ns);
        CHECK(ew < TOL, "%s: dL/dw rel err %.3g", label, ew);
        CHECK(es < TOL, "%s: dL/dscale rel err %.3g", label, es);
        if (ew > worst_w) worst_w = ew;
        if (es > worst_s) worst_s = es;
        if (q->offset) {
            double eo = tu_rel_err(q->offset->grad, go_ref, ns);
            CHECK(eo < TOL, "%s: dL/doffset rel err %.3g", label, eo);
            if (eo > worst_o) worst_o = eo;
        }
#undef RD
        qt_ctx_free(&ctx);
        qt_quantizer_free(q);
        qt_param_free(w);
        free(ref);
        free(dy);
        free(tmp);
        free(gs_ref);
        free(go_ref);
    }
    printf("  %d weight cases, %zu decisive .5 ties; worst rel err dw %.2e dscale %.2e doffset %.2e\n", ncases,
           total_ties, worst_w, worst_s, worst_o);
}

static void act_cases(void) {
    int shape[3] = {2, 5, 64};
    size_t n = 2 * 5 * 64;
    float *ref = malloc(n * sizeof(float)), *dy = malloc(n * sizeof(float));
    char name[64];
    for (int bits = 4; bits <= 8; bits += 4) {
        /* dynamic per token */
        qt_tensor *x = qt_param_new("x", 3, shape);
        snprintf(name, sizeof name, "act/dyn%d/x", bits);
        CHECK(read_floats(name, x->data, n) == 0, "read %s", name);
        snprintf(name, sizeof name, "act/dyn%d/y", bits);
        CHECK(read_floats(name, ref, n) == 0, "read %s", name);
        qt_ctx ctx;
        qt_ctx_init(&ctx, 1 << 20);
        qt_tensor *y = qt_act_quant_dynamic(&ctx, x, bits);
        CHECK(n_diff(y->data, ref, n) == 0, "dynamic %d-bit: %zu values differ from torch", bits,
              n_diff(y->data, ref, n));
        for (size_t i = 0; i < n; i++) dy[i] = (float)(i % 7) - 3.0f;
        qt_backward(&ctx, y, dy);
        CHECK(n_diff(x->grad, dy, n) == 0, "dynamic %d-bit: backward is not the identity", bits);
        qt_ctx_free(&ctx);

        /* static LSQ */
        for (int k = 0; k < 2; k++) {
            qt_actquant *aq = qt_actquant_new("act", bits, QT_ACT_STATIC, 1.0f);
            float gs_ref = 0;
            memset(x->grad, 0, n * sizeof(float));
            snprintf(name, sizeof name, "act/static%d_%d/x", bits, k);
            CHECK(read_floats(name, x->data, n) == 0, "read %s", name);
            snprintf(name, sizeof name, "act/static%d_%d/scale", bits, k);
            CHECK(read_floats(name, aq->scale->data, 1) == 0, "read %s", name);
            snprintf(name, sizeof name, "act/static%d_%d/dy", bits, k);
            CHECK(read_floats(name, dy, n) == 0, "read %s", name);
            snprintf(name, sizeof name, "act/static%d_%d/gs", bits, k);
            CHECK(read_floats(name, &gs_ref, 1) == 0, "read %s", name);
            snprintf(name, sizeof name, "act/static%d_%d/y", bits, k);
            CHECK(read_floats(name, ref, n) == 0, "read %s", name);
            qt_ctx_init(&ctx, 1 << 20);
            y = qt_act_quant(&ctx, x, aq);
            CHECK(n_diff(y->data, ref, n) == 0, "static %d-bit #%d: %zu values differ from torch", bits, k,
                  n_diff(y->data, ref, n));
            qt_backward(&ctx, y, dy);
            snprintf(name, sizeof name, "act/static%d_%d/gx", bits, k);
            CHECK(read_floats(name, ref, n) == 0, "read %s", name);
            double ex = tu_rel_err(x->grad, ref, n), es = tu_rel_err(aq->scale->grad, &gs_ref, 1);
            CHECK(ex < TOL, "static %d-bit #%d: dL/dx rel err %.3g", bits, k, ex);
            CHECK(es < TOL, "static %d-bit #%d: dL/ds rel err %.3g (C %.9g torch %.9g)", bits, k, es,
                  aq->scale->grad[0], gs_ref);
            qt_ctx_free(&ctx);
            qt_actquant_free(aq);
        }

        /* calibration from the first batch */
        qt_actquant *aq = qt_actquant_new("act", bits, QT_ACT_STATIC, 0.0f);
        float sref = 0;
        snprintf(name, sizeof name, "act/calib%d/x", bits);
        CHECK(read_floats(name, x->data, n) == 0, "read %s", name);
        snprintf(name, sizeof name, "act/calib%d/scale", bits);
        CHECK(read_floats(name, &sref, 1) == 0, "read %s", name);
        snprintf(name, sizeof name, "act/calib%d/y", bits);
        CHECK(read_floats(name, ref, n) == 0, "read %s", name);
        qt_ctx_init(&ctx, 1 << 20);
        y = qt_act_quant(&ctx, x, aq);
        CHECK(aq->scale->data[0] == sref, "calib %d-bit: scale %.9g, torch %.9g", bits, aq->scale->data[0], sref);
        CHECK(n_diff(y->data, ref, n) == 0, "calib %d-bit: output differs from torch", bits);
        qt_ctx_free(&ctx);
        qt_actquant_free(aq);
        qt_param_free(x);
    }
    free(ref);
    free(dy);
}

static void f16_cases(void) {
    hid_t d = H5Dopen2(file, "f16/in", H5P_DEFAULT);
    CHECK(d >= 0, "open f16/in");
    if (d < 0) return;
    hid_t sp = H5Dget_space(d);
    size_t n = (size_t)H5Sget_simple_extent_npoints(sp);
    H5Sclose(sp);
    H5Dclose(d);
    float *in = malloc(n * sizeof(float)), *out = malloc(n * sizeof(float));
    int16_t *bits = malloc(n * sizeof(int16_t));
    CHECK(read_floats("f16/in", in, n) == 0, "read f16/in");
    CHECK(read_floats("f16/out", out, n) == 0, "read f16/out");
    CHECK(read_ds("f16/bits", H5T_NATIVE_INT16, bits, n) == 0, "read f16/bits");
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint16_t h = qt_f32_to_f16(in[i]);
        float r = qt_f16_round(in[i]);
        int ok = h == (uint16_t)bits[i] && (r == out[i] || (isnan(r) && isnan(out[i])));
        if (!ok && bad++ < 5)
            fprintf(stderr, "   fp16(%.9g): C %04x %.9g, torch %04x %.9g\n", in[i], h, r, (uint16_t)bits[i], out[i]);
    }
    CHECK(bad == 0, "%zu of %zu fp16 roundings differ from torch", bad, n);
    free(in);
    free(out);
    free(bits);
}

int main(void) {
    char dir[512], path[600];
    tu_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/quant.h5", dir);
    int rc = tu_run_oracle("tests/oracles/quant_ref.py", path);
    CHECK(rc == 0, "oracle script failed (%d)", rc);
    if (rc) return tu_finish("test_quant_torch");
    file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(file >= 0, "cannot open %s", path);
    if (file < 0) return tu_finish("test_quant_torch");
    weight_cases();
    act_cases();
    f16_cases();
    H5Fclose(file);
    remove(path);
    remove(dir);
    return tu_finish("test_quant_torch");
}
