#include "ops/ops.h"

static void sum_backward(qt_ctx *ctx, qt_node *nd) {
    float *da = qt_grad(ctx, nd->in[0]);
    float g = nd->out->grad[0] * nd->farg[0];
    for (size_t i = 0; i < nd->in[0]->n; i++) da[i] += g;
}

static qt_tensor *reduce(qt_ctx *ctx, qt_tensor *a, float factor, const char *name) {
    qt_tensor *y = qt_new1(ctx, 1);
    double s = 0.0;
    for (size_t i = 0; i < a->n; i++) s += a->data[i];
    y->data[0] = (float)(s * factor);
    qt_node *nd = qt_record(ctx, name, sum_backward, y, 1, &a);
    if (nd) nd->farg[0] = factor;
    return y;
}

qt_tensor *qt_sum(qt_ctx *ctx, qt_tensor *a) { return reduce(ctx, a, 1.0f, "sum"); }
qt_tensor *qt_mean(qt_ctx *ctx, qt_tensor *a) { return reduce(ctx, a, 1.0f / (float)a->n, "mean"); }
