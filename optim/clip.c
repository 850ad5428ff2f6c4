/* Gradient utilities: global L2 norm, clip_grad_norm_, non-finite check. */
#include <math.h>

#include "optim/optim.h"

#define CLIP_PAR_MIN 32768

static double sum_sq(const float *restrict g, size_t n) {
    double s = 0.0;
#pragma omp parallel for simd schedule(static) reduction(+ : s) if (n > CLIP_PAR_MIN)
    for (size_t i = 0; i < n; i++) s += (double)g[i] * (double)g[i];
    return s;
}

double qt_grad_norm(qt_tensor *const *params, int n) {
    double s = 0.0;
    for (int i = 0; i < n; i++)
        if (params[i] && params[i]->grad) s += sum_sq(params[i]->grad, params[i]->n);
    return sqrt(s);
}

double qt_clip_grad_norm(qt_tensor *const *params, int n, double max_norm) {
    if (!(max_norm > 0)) qt_die("clip_grad_norm: max_norm must be > 0 (got %g)", max_norm);
    double total = qt_grad_norm(params, n);
    if (!isfinite(total) || !(total > max_norm)) return total;
    const float c = (float)(max_norm / (total + 1e-6));
    for (int i = 0; i < n; i++) {
        if (!params[i] || !params[i]->grad) continue;
        float *restrict g = params[i]->grad;
        size_t len = params[i]->n;
#pragma omp parallel for simd schedule(static) if (len > CLIP_PAR_MIN)
        for (size_t k = 0; k < len; k++) g[k] *= c;
    }
    return total;
}

/* 1 if any of g[0..n) is NaN or Inf: x - x is 0 exactly for finite x and NaN otherwise. */
static int any_nonfinite(const float *restrict g, size_t n) {
    int bad = 0;
#pragma omp parallel for simd schedule(static) reduction(| : bad) if (n > CLIP_PAR_MIN)
    for (size_t i = 0; i < n; i++) bad |= (g[i] - g[i]) != 0.0f;
    return bad;
}

int qt_grads_nonfinite(qt_tensor *const *params, int n) {
    for (int i = 0; i < n; i++)
        if (params[i] && params[i]->grad && any_nonfinite(params[i]->grad, params[i]->n)) return 1;
    return 0;
}
