#include <math.h>

#include "ops/ops.h"

/* saved[0] = cos, saved[1] = sin tables [T, hd/2] */
static void rope_apply(const float *x, float *y, const float *cs, const float *sn, int B, int T, int H, int hd,
                       int inverse, int accumulate) {
    int half = hd / 2, D = H * hd;
#pragma omp parallel for collapse(2) if ((size_t)B * T * D > 65536)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *xr = x + ((size_t)b * T + t) * D;
            float *yr = y + ((size_t)b * T + t) * D;
            const float *c = cs + (size_t)t * half, *s = sn + (size_t)t * half;
            const float sgn = inverse ? -1.0f : 1.0f;
            for (int h = 0; h < H; h++)
#pragma omp simd
                for (int i = 0; i < half; i++) {
                    float x0 = xr[h * hd + 2 * i], x1 = xr[h * hd + 2 * i + 1];
                    float si = sgn * s[i];
                    /* forward: overwrite the (uninitialised) output; backward: accumulate into the grad */
                    float y0 = accumulate ? yr[h * hd + 2 * i] : 0.0f, y1 = accumulate ? yr[h * hd + 2 * i + 1] : 0.0f;
                    yr[h * hd + 2 * i] = y0 + (x0 * c[i] - x1 * si);
                    yr[h * hd + 2 * i + 1] = y1 + (x0 * si + x1 * c[i]);
                }
        }
}

static void rope_backward(qt_ctx *ctx, qt_node *nd) {
    qt_tensor *x = nd->in[0];
    int B = nd->iarg[0], T = nd->iarg[1], H = nd->iarg[2], hd = nd->iarg[3];
    /* the transpose of a rotation is the rotation by the opposite angle */
    rope_apply(nd->out->grad, qt_grad(ctx, x), nd->saved[0], nd->saved[1], B, T, H, hd, 1, 1);
}

qt_tensor *qt_rope(qt_ctx *ctx, qt_tensor *x, int n_heads, float theta, const float *div, int pos0) {
    char sx[64];
    if (x->ndim != 3 || n_heads <= 0 || x->shape[2] % n_heads || (x->shape[2] / n_heads) % 2)
        qt_die("rope: expected [B, T, H·hd] with even hd for %d heads, got %s", n_heads, qt_shape_str(x, sx, 64));
    int B = x->shape[0], T = x->shape[1], H = n_heads, hd = x->shape[2] / n_heads, half = hd / 2;
    float *cs = qt_arena_alloc(&ctx->arena, (size_t)T * half * sizeof(float));
    float *sn = qt_arena_alloc(&ctx->arena, (size_t)T * half * sizeof(float));
    for (int i = 0; i < half; i++) {
        double freq = pow((double)theta, -2.0 * i / hd) / (div ? (double)div[i] : 1.0);
        for (int t = 0; t < T; t++) {
            double a = (double)(pos0 + t) * freq;
            cs[(size_t)t * half + i] = (float)cos(a);
            sn[(size_t)t * half + i] = (float)sin(a);
        }
    }
    qt_tensor *y = qt_tensor_like(ctx, x);
    rope_apply(x->data, y->data, cs, sn, B, T, H, hd, 0, 0);
    qt_node *nd = qt_record(ctx, "rope", rope_backward, y, 1, &x);
    if (nd) {
        nd->saved[0] = cs;
        nd->saved[1] = sn;
        nd->iarg[0] = B; nd->iarg[1] = T; nd->iarg[2] = H; nd->iarg[3] = hd;
    }
    return y;
}
