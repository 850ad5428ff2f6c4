#include <math.h>

#include "ops/ops.h"

/* Row-wise softmax (log_out = 0) or log-softmax (log_out = 1) of x into y. */
static void softmax_rows(const float *x, float *y, int rows, int cols, int log_out) {
#pragma omp parallel for if (rows > 64)
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * cols;
        float *yr = y + (size_t)r * cols;
        float mx = -INFINITY;
        for (int j = 0; j < cols; j++) mx = xr[j] > mx ? xr[j] : mx;
        double sum = 0.0;
        for (int j = 0; j < cols; j++) sum += exp((double)(xr[j] - mx));
        if (log_out) {
            float lse = mx + (float)log(sum);
            for (int j = 0; j < cols; j++) yr[j] = xr[j] - lse;
        } else {
            float inv = (float)(1.0 / sum);
            for (int j = 0; j < cols; j++) yr[j] = expf(xr[j] - mx) * inv;
        }
    }
}

static void softmax_backward(qt_ctx *ctx, qt_node *nd) {
    qt_tensor *x = nd->in[0], *y = nd->out;
    float *dx = qt_grad(ctx, x);
    int rows = qt_rows(x), cols = qt_cols(x), log_out = nd->iarg[0];
#pragma omp parallel for if (rows > 64)
    for (int r = 0; r < rows; r++) {
        const float *yr = y->data + (size_t)r * cols, *dy = y->grad + (size_t)r * cols;
        float *dxr = dx + (size_t)r * cols;
        double dot = 0.0;
        if (log_out) {
            for (int j = 0; j < cols; j++) dot += dy[j];
            for (int j = 0; j < cols; j++) dxr[j] += dy[j] - expf(yr[j]) * (float)dot;
        } else {
            for (int j = 0; j < cols; j++) dot += (double)dy[j] * yr[j];
            for (int j = 0; j < cols; j++) dxr[j] += yr[j] * (dy[j] - (float)dot);
        }
    }
}

static qt_tensor *softmax_op(qt_ctx *ctx, qt_tensor *a, int log_out) {
    qt_tensor *y = qt_tensor_like(ctx, a);
    softmax_rows(a->data, y->data, qt_rows(a), qt_cols(a), log_out);
    qt_node *nd = qt_record(ctx, log_out ? "log_softmax" : "softmax", softmax_backward, y, 1, &a);
    if (nd) nd->iarg[0] = log_out;
    return y;
}

qt_tensor *qt_softmax(qt_ctx *ctx, qt_tensor *a) { return softmax_op(ctx, a, 0); }
qt_tensor *qt_log_softmax(qt_ctx *ctx, qt_tensor *a) { return softmax_op(ctx, a, 1); }
