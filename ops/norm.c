#include <math.h>
#include <omp.h>

#include "ops/ops.h"

static void check_norm_args(const char *op, const qt_tensor *x, const qt_tensor *w, const qt_tensor *b) {
    char sx[64], sw[64];
    if (w->ndim != 1 || w->shape[0] != qt_cols(x))
        qt_die("%s: weight %s does not match input %s (expected [%d])", op, qt_shape_str(w, sw, 64),
               qt_shape_str(x, sx, 64), qt_cols(x));
    if (b && (b->ndim != 1 || b->shape[0] != qt_cols(x)))
        qt_die("%s: bias %s does not match input %s", op, qt_shape_str(b, sw, 64), qt_shape_str(x, sx, 64));
}

/* Adds sum over rows of a[r][j]*b[r][j] (b NULL: of a) to out[j]. Rows are
 * split across threads, each summing into its own slice of a scratch buffer
 * (row-major, cache friendly), then the slices are reduced in a fixed order
 * so the result does not depend on timing. */
static void colsum_product(qt_ctx *ctx, const float *a, const float *b, float *out, int rows, int cols) {
    int nt = omp_get_max_threads();
    if ((size_t)rows * cols < 65536) nt = 1;
    float *part = qt_arena_calloc(&ctx->arena, (size_t)nt * cols * sizeof(float));
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), n = omp_get_num_threads();
        float *acc = part + (size_t)t * cols;
        int r0 = (int)((long)rows * t / n), r1 = (int)((long)rows * (t + 1) / n);
        for (int r = r0; r < r1; r++) {
            const float *ar = a + (size_t)r * cols, *br = b ? b + (size_t)r * cols : NULL;
            if (br)
                for (int j = 0; j < cols; j++) acc[j] += ar[j] * br[j];
            else
                for (int j = 0; j < cols; j++) acc[j] += ar[j];
        }
    }
    for (int t = 0; t < nt; t++)
        for (int j = 0; j < cols; j++) out[j] += part[(size_t)t * cols + j];
}

/* ---- RMSNorm: saved[0] = 1/rms per row ---- */
/* One parallel pass over row blocks: dx rows, and dw[j] = Σ_r dy·x·rstd summed
 * per thread into its slice of a scratch buffer, the slices then reduced in a
 * fixed order (as colsum_product; no copy of x). */
static void rmsnorm_backward(qt_ctx *ctx, qt_node *nd) {
    qt_tensor *x = nd->in[0], *w = nd->in[1];
    const float *rstd = nd->saved[0], *dy = nd->out->grad, *wd = w->data;
    const int rows = qt_rows(x), cols = qt_cols(x);
    float *dx = x->requires_grad ? qt_grad(ctx, x) : NULL;
    float *dw = w->requires_grad ? qt_grad(ctx, w) : NULL;
    int nt = omp_get_max_threads();
    if ((size_t)rows * cols < 65536) nt = 1;
    float *part = dw ? qt_arena_calloc(&ctx->arena, (size_t)nt * cols * sizeof(float)) : NULL;
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), n = omp_get_num_threads();
        float *acc = part ? part + (size_t)t * cols : NULL;
        int r0 = (int)((long)rows * t / n), r1 = (int)((long)rows * (t + 1) / n);
        for (int r = r0; r < r1; r++) {
            const float *xr = x->data + (size_t)r * cols, *dyr = dy + (size_t)r * cols;
            const float rs = rstd[r];
            if (dx) {
                float *dxr = dx + (size_t)r * cols;
                double dot = 0.0;
#pragma omp simd reduction(+ : dot)
                for (int j = 0; j < cols; j++) dot += (double)dyr[j] * wd[j] * xr[j];
                const float c = (float)(dot / cols) * rs * rs * rs;
#pragma omp simd
                for (int j = 0; j < cols; j++) dxr[j] += dyr[j] * wd[j] * rs - xr[j] * c;
            }
            if (acc) {
#pragma omp simd
                for (int j = 0; j < cols; j++) acc[j] += dyr[j] * (xr[j] * rs);
            }
        }
    }
    if (dw)
        for (int t = 0; t < nt; t++)
            for (int j = 0; j < cols; j++) dw[j] += part[(size_t)t * cols + j];
}

qt_tensor *qt_rmsnorm(qt_ctx *ctx, qt_tensor *x, qt_tensor *w, float eps) {
    check_norm_args("rmsnorm", x, w, NULL);
    qt_tensor *y = qt_tensor_like(ctx, x);
    int rows = qt_rows(x), cols = qt_cols(x);
    float *rstd = qt_arena_alloc(&ctx->arena, (size_t)rows * sizeof(float));
#pragma omp parallel for if (rows > 16)
    for (int r = 0; r < rows; r++) {
        const float *xr = x->data + (size_t)r * cols;
        float *yr = y->data + (size_t)r * cols;
        const float *wd = w->data;
        double ss = 0.0;
#pragma omp simd reduction(+ : ss)
        for (int j = 0; j < cols; j++) ss += (double)xr[j] * xr[j];
        float rs = (float)(1.0 / sqrt(ss / cols + eps));
        rstd[r] = rs;
#pragma omp simd
        for (int j = 0; j < cols; j++) yr[j] = xr[j] * rs * wd[j];
    }
    qt_tensor *in[2] = {x, w};
    qt_node *nd = qt_record(ctx, "rmsnorm", rmsnorm_backward, y, 2, in);
    if (nd) nd->saved[0] = rstd;
    return y;
}

/* ---- LayerNorm: saved[0] = mean, saved[1] = 1/std per row ---- */
static void layernorm_backward(qt_ctx *ctx, qt_node *nd) {
    qt_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2];
    const float *mean = nd->saved[0], *rstd = nd->saved[1], *dy = nd->out->grad;
    int rows = qt_rows(x), cols = qt_cols(x);
    float *xhat = qt_arena_alloc(&ctx->arena, x->n * sizeof(float));
#pragma omp parallel for if (rows > 16)
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++)
            xhat[(size_t)r * cols + j] = (x->data[(size_t)r * cols + j] - mean[r]) * rstd[r];
    if (x->requires_grad) {
        float *dx = qt_grad(ctx, x);
#pragma omp parallel for if (rows > 16)
        for (int r = 0; r < rows; r++) {
            const float *dyr = dy + (size_t)r * cols, *xh = xhat + (size_t)r * cols;
            float *dxr = dx + (size_t)r * cols;
            double m1 = 0.0, m2 = 0.0;
            for (int j = 0; j < cols; j++) {
                double g = (double)dyr[j] * w->data[j];
                m1 += g;
                m2 += g * xh[j];
            }
            float a = (float)(m1 / cols), c = (float)(m2 / cols);
            for (int j = 0; j < cols; j++) dxr[j] += rstd[r] * (dyr[j] * w->data[j] - a - xh[j] * c);
        }
    }
    if (w->requires_grad) colsum_product(ctx, dy, xhat, qt_grad(ctx, w), rows, cols);
    if (b && b->requires_grad) colsum_product(ctx, dy, NULL, qt_grad(ctx, b), rows, cols);
}

qt_tensor *qt_layernorm(qt_ctx *ctx, qt_tensor *x, qt_tensor *w, qt_tensor *b, float eps) {
    check_norm_args("layernorm", x, w, b);
    qt_tensor *y = qt_tensor_like(ctx, x);
    int rows = qt_rows(x), cols = qt_cols(x);
    float *mean = qt_arena_alloc(&ctx->arena, (size_t)rows * sizeof(float));
    float *rstd = qt_arena_alloc(&ctx->arena, (size_t)rows * sizeof(float));
#pragma omp parallel for if (rows > 16)
    for (int r = 0; r < rows; r++) {
        const float *xr = x->data + (size_t)r * cols;
        float *yr = y->data + (size_t)r * cols;
        double s = 0.0, ss = 0.0;
        for (int j = 0; j < cols; j++) s += xr[j];
        double mu = s / cols;
        for (int j = 0; j < cols; j++) ss += ((double)xr[j] - mu) * ((double)xr[j] - mu);
        float rs = (float)(1.0 / sqrt(ss / cols + eps));
        mean[r] = (float)mu;
        rstd[r] = rs;
        for (int j = 0; j < cols; j++) yr[j] = (xr[j] - (float)mu) * rs * w->data[j] + (b ? b->data[j] : 0.0f);
    }
    qt_tensor *in[3] = {x, w, b};
    qt_node *nd = qt_record(ctx, "layernorm", layernorm_backward, y, b ? 3 : 2, in);
    if (nd) {
        nd->saved[0] = mean;
        nd->saved[1] = rstd;
    }
    return y;
}
