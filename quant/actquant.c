/* Activation fake-quant, symmetric signed b-bit: per-token dynamic (no
 * parameters, identity STE), static per-tensor with one LSQ scale, and
 * llama.cpp's rounding of matmul inputs (identity STE). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/ggml_blocks.h"
#include "quant/quant.h"

static void check_bits(const char *fn, int bits) {
    if (bits < 2 || bits > 8) qt_die("%s: bits = %d (expected 2..8)", fn, bits);
}

qt_actquant *qt_actquant_new(const char *name, int bits, qt_act_mode mode, float init_scale) {
    if (mode == QT_ACT_Q8_BLOCKS) bits = 8;
    check_bits("actquant_new", bits);
    if (mode != QT_ACT_PER_TOKEN && mode != QT_ACT_STATIC && mode != QT_ACT_Q8_BLOCKS) qt_die("actquant_new: mode %d is unknown", (int)mode);
    qt_actquant *aq = calloc(1, sizeof *aq);
    if (!aq) qt_die("out of memory");
    aq->bits = bits;
    aq->mode = mode;
    if (mode == QT_ACT_STATIC) {
        char pn[128];
        snprintf(pn, sizeof pn, "%s.scale", name ? name : "act");
        aq->scale = qt_param_new(pn, 1, (int[]){1});
        aq->scale->data[0] = init_scale > 0.0f ? init_scale : 0.0f;
    }
    return aq;
}

void qt_actquant_free(qt_actquant *aq) {
    if (!aq) return;
    qt_param_free(aq->scale);
    free(aq);
}

/* max|x| over n values */
static float span_absmax(const float *x, size_t n) {
    float m = 0.0f;
#pragma omp simd reduction(max : m)
    for (size_t i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        m = a > m ? a : m;
    }
    return m;
}

void qt_actquant_calibrate(qt_actquant *aq, const qt_tensor *x) {
    if (!aq->scale) return;
    float m = 0.0f;
    const int rows = qt_rows(x), cols = qt_cols(x);
#pragma omp parallel for reduction(max : m) if (x->n > 32768)
    for (int r = 0; r < rows; r++) {
        float a = span_absmax(x->data + (size_t)r * cols, (size_t)cols);
        m = a > m ? a : m;
    }
    float s = m / (float)((1 << (aq->bits - 1)) - 1);
    aq->scale->data[0] = s >= QT_SCALE_EPS ? s : QT_SCALE_EPS;
}

void qt_actquant_clamp(qt_actquant *aq) {
    if (aq->scale && !(aq->scale->data[0] >= QT_SCALE_EPS)) aq->scale->data[0] = QT_SCALE_EPS;
}

qt_tensor *qt_act_quant(qt_ctx *ctx, qt_tensor *x, qt_actquant *aq) {
    if (aq->mode == QT_ACT_PER_TOKEN) return qt_act_quant_dynamic(ctx, x, aq->bits);
    if (aq->mode == QT_ACT_Q8_BLOCKS) return qt_act_quant_q8_blocks(ctx, x);
    if (!(aq->scale->data[0] > 0.0f)) qt_actquant_calibrate(aq, x);
    return qt_act_quant_static(ctx, x, aq->scale, aq->bits);
}

/* y = clamp(round(x/s), lo, hi)·s over one row */
static void row_quant(const float *restrict x, float *restrict y, size_t n, float s, float lo, float hi) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float r = rintf(x[i] / s);
        r = r < lo ? lo : r;
        r = (r > hi ? hi : r) + 0.0f;
        y[i] = r * s;
    }
}

/* ---- dynamic per token ---- */

static void dyn_backward(qt_ctx *ctx, qt_node *nd) {
    qt_tensor *x = nd->in[0];
    float *dx = qt_grad(ctx, x);
    const float *dy = nd->out->grad;
    size_t n = x->n;
#pragma omp parallel for simd if (n > 65536)
    for (size_t i = 0; i < n; i++) dx[i] += dy[i];
}

qt_tensor *qt_act_quant_dynamic(qt_ctx *ctx, qt_tensor *x, int bits) {
    check_bits("act_quant_dynamic", bits);
    /* Linears that share an input (wq/wk/wv, w1/w3) would quantize the same x
     * again: reuse a recent identical node's output (tensors are never
     * modified after creation; its gradient then sums every consumer's). */
    for (int i = ctx->n_nodes - 1; i >= 0 && i >= ctx->n_nodes - 8; i--) {
        const qt_node *nd = &ctx->nodes[i];
        if (nd->backward == dyn_backward && nd->in[0] == x && nd->iarg[0] == bits && !strcmp(nd->op, "act_quant_dynamic"))
            return nd->out;
    }
    qt_tensor *y = qt_tensor_like(ctx, x);
    const int rows = qt_rows(x), cols = qt_cols(x);
    const float hi = (float)((1 << (bits - 1)) - 1), lo = -hi - 1.0f;
#pragma omp parallel for if (x->n > 32768)
    for (int r = 0; r < rows; r++) {
        size_t o = (size_t)r * cols;
        float s = span_absmax(x->data + o, (size_t)cols) / hi;
        s = s >= QT_SCALE_EPS ? s : QT_SCALE_EPS;
        row_quant(x->data + o, y->data + o, (size_t)cols, s, lo, hi);
    }
    qt_node *nd = qt_record(ctx, "act_quant_dynamic", dyn_backward, y, 1, &x);
    if (nd) nd->iarg[0] = bits;
    return y;
}

/* ---- llama.cpp's rounding of matmul inputs (quant/ggml_blocks.h) ---- */

qt_tensor *qt_act_quant_q8_blocks(qt_ctx *ctx, qt_tensor *x) {
    qt_tensor *y = qt_tensor_like(ctx, x);
    const int rows = qt_rows(x), cols = qt_cols(x);
#pragma omp parallel for if (x->n > 32768)
    for (int r = 0; r < rows; r++) {
        size_t o = (size_t)r * cols;
        qt_ggml_q8_round_row(x->data + o, y->data + o, (size_t)cols, NULL, NULL);
    }
    qt_record(ctx, "act_quant_q8_blocks", dyn_backward, y, 1, &x);
    return y;
}

qt_tensor *qt_act_round_ggml(qt_ctx *ctx, qt_tensor *x, int type, float **corr) {
    if (type == QT_GGML_Q8_0) return qt_act_quant_q8_blocks(ctx, x);
    if (type != QT_GGML_F16 && type != QT_GGML_Q8_1 && type != QT_GGML_Q8_K)
        qt_die("act_round_ggml: type %d is not F16, Q8_0, Q8_1 or Q8_K", type);
    qt_tensor *y = qt_tensor_like(ctx, x);
    if (type == QT_GGML_Q8_K) { /* through the Q8_K codec, one super-block of 256 at a time */
        if (x->n % 256) qt_die("act_round_ggml: Q8_K rounding of %zu values (expected a multiple of 256)", x->n);
#pragma omp parallel for if (x->n > 65536)
        for (size_t b = 0; b < x->n / 256; b++) {
            uint8_t blk[4 + 256 + 32];
            qt_ggml_quantize_ref(QT_GGML_Q8_K, x->data + b * 256, blk, 256);
            qt_ggml_dequantize(QT_GGML_Q8_K, blk, y->data + b * 256, 256);
        }
        qt_record(ctx, "act_quant_q8_k_blocks", dyn_backward, y, 1, &x);
        return y;
    }
    if (type == QT_GGML_F16) {
#pragma omp parallel for simd if (x->n > 65536)
        for (size_t i = 0; i < x->n; i++) y->data[i] = qt_f16_round(x->data[i]);
        qt_record(ctx, "act_round_f16", dyn_backward, y, 1, &x);
        return y;
    }
    const int rows = qt_rows(x), cols = qt_cols(x), nb = (cols + 31) / 32;
    float *c = qt_arena_alloc(&ctx->arena, (size_t)rows * nb * sizeof(float));
#pragma omp parallel for if (x->n > 32768)
    for (int r = 0; r < rows; r++) {
        size_t o = (size_t)r * cols;
        qt_ggml_q8_1_round_row(x->data + o, y->data + o, (size_t)cols, c + (size_t)r * nb);
    }
    qt_record(ctx, "act_quant_q8_1_blocks", dyn_backward, y, 1, &x);
    *corr = c;
    return y;
}

/* ---- static per tensor, LSQ scale ---- */

static void static_backward(qt_ctx *ctx, qt_node *nd) {
    qt_tensor *x = nd->in[0], *sc = nd->in[1];
    const int bits = nd->iarg[0];
    const float hi = (float)((1 << (bits - 1)) - 1), lo = -hi - 1.0f;
    const float sraw = sc->data[0], s = sraw >= QT_SCALE_EPS ? sraw : QT_SCALE_EPS;
    const double sd = s;
    const float *dy = nd->out->grad, *xd = x->data;
    float *dx = x->requires_grad ? qt_grad(ctx, x) : NULL;
    const int rows = qt_rows(x), cols = qt_cols(x);
    double acc = 0.0;
#pragma omp parallel for reduction(+ : acc) if (x->n > 32768)
    for (int r = 0; r < rows; r++) {
        const float *xr = xd + (size_t)r * cols, *dyr = dy + (size_t)r * cols;
        if (dx) {
            float *dxr = dx + (size_t)r * cols;
#pragma omp simd
            for (int i = 0; i < cols; i++) {
                float v = xr[i] / s;
                dxr[i] += (v >= lo) & (v <= hi) ? dyr[i] : 0.0f;
            }
        }
        double a = 0.0;
#pragma omp simd reduction(+ : a)
        for (int i = 0; i < cols; i++) {
            float v = xr[i] / s;
            double t = v < lo ? (double)lo : v > hi ? (double)hi : (double)rintf(v) - (double)xr[i] / sd;
            a += (double)dyr[i] * t;
        }
        acc += a;
    }
    if (sc->requires_grad && sraw >= QT_SCALE_EPS) {
        double g = 1.0 / sqrt((double)x->n * hi);
        qt_grad(ctx, sc)[0] += (float)(g * acc);
    }
}

qt_tensor *qt_act_quant_static(qt_ctx *ctx, qt_tensor *x, qt_tensor *scale, int bits) {
    check_bits("act_quant_static", bits);
    if (scale->n != 1) qt_die("act_quant_static: scale %s has %zu elements (expected 1)", scale->name, scale->n);
    qt_tensor *y = qt_tensor_like(ctx, x);
    const int rows = qt_rows(x), cols = qt_cols(x);
    const float hi = (float)((1 << (bits - 1)) - 1), lo = -hi - 1.0f;
    const float s = scale->data[0] >= QT_SCALE_EPS ? scale->data[0] : QT_SCALE_EPS;
#pragma omp parallel for if (x->n > 32768)
    for (int r = 0; r < rows; r++) {
        size_t o = (size_t)r * cols;
        row_quant(x->data + o, y->data + o, (size_t)cols, s, lo, hi);
    }
    qt_tensor *in[2] = {x, scale};
    qt_node *nd = qt_record(ctx, "act_quant_static", static_backward, y, 2, in);
    if (nd) nd->iarg[0] = bits;
    return y;
}
