#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ops/fastmath.h"
#include "ops/ops.h"

enum { ACT_SILU, ACT_GELU, ACT_RELU };

static inline float sigmoid(float x) { return 1.0f / (1.0f + fast_expf(-x)); }

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_C 0.044715f

static inline float act_fwd(int kind, float x) {
    switch (kind) {
    case ACT_SILU: return x * sigmoid(x);
    case ACT_GELU: return 0.5f * x * (1.0f + tanhf(GELU_K * (x + GELU_C * x * x * x)));
    default: return x > 0.0f ? x : 0.0f;
    }
}

static inline float act_grad(int kind, float x) {
    switch (kind) {
    case ACT_SILU: {
        float s = sigmoid(x);
        return s * (1.0f + x * (1.0f - s));
    }
    case ACT_GELU: {
        float th = tanhf(GELU_K * (x + GELU_C * x * x * x));
        return 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * GELU_K * (1.0f + 3.0f * GELU_C * x * x);
    }
    default: return x > 0.0f ? 1.0f : 0.0f;
    }
}

static void act_backward(qt_ctx *ctx, qt_node *nd) {
    qt_tensor *a = nd->in[0];
    float *da = qt_grad(ctx, a);
    const float *dy = nd->out->grad, *x = a->data;
    int kind = nd->iarg[0];
    size_t n = a->n;
#pragma omp parallel for if (n > 65536)
    for (size_t i = 0; i < n; i++) da[i] += dy[i] * act_grad(kind, x[i]);
}

static qt_tensor *activation(qt_ctx *ctx, qt_tensor *a, int kind, const char *name) {
    qt_tensor *y = qt_tensor_like(ctx, a);
    size_t n = a->n;
    const float *x = a->data;
    float *yd = y->data;
#pragma omp parallel for if (n > 65536)
    for (size_t i = 0; i < n; i++) yd[i] = act_fwd(kind, x[i]);
    qt_node *nd = qt_record(ctx, name, act_backward, y, 1, &a);
    if (nd) nd->iarg[0] = kind;
    return y;
}

qt_tensor *qt_silu(qt_ctx *ctx, qt_tensor *a) { return activation(ctx, a, ACT_SILU, "silu"); }
qt_tensor *qt_gelu(qt_ctx *ctx, qt_tensor *a) { return activation(ctx, a, ACT_GELU, "gelu"); }
qt_tensor *qt_relu(qt_ctx *ctx, qt_tensor *a) { return activation(ctx, a, ACT_RELU, "relu"); }

static void swiglu_backward(qt_ctx *ctx, qt_node *nd) {
    qt_tensor *g = nd->in[0], *u = nd->in[1];
    const float *dy = nd->out->grad;
    float *dg = g->requires_grad ? qt_grad(ctx, g) : NULL;
    float *du = u->requires_grad ? qt_grad(ctx, u) : NULL;
    size_t n = g->n;
    const float *gd = g->data, *ud = u->data;
    if (dg && du) {
#pragma omp parallel for simd if (n > 65536)
        for (size_t i = 0; i < n; i++) {
            float x = gd[i], s = sigmoid(x);
            dg[i] += dy[i] * ud[i] * (s * (1.0f + x * (1.0f - s)));
            du[i] += dy[i] * (x * s);
        }
    } else {
#pragma omp parallel for if (n > 65536)
        for (size_t i = 0; i < n; i++) {
            float x = gd[i];
            if (dg) dg[i] += dy[i] * ud[i] * act_grad(ACT_SILU, x);
            if (du) du[i] += dy[i] * act_fwd(ACT_SILU, x);
        }
    }
}

qt_tensor *qt_swiglu(qt_ctx *ctx, qt_tensor *gate, qt_tensor *up) {
    char sg[64], su[64];
    if (!qt_same_shape(gate, up))
        qt_die("swiglu: gate %s and up %s differ in shape", qt_shape_str(gate, sg, 64), qt_shape_str(up, su, 64));
    qt_tensor *y = qt_tensor_like(ctx, gate);
    size_t n = gate->n;
    const float *gd = gate->data, *ud = up->data;
    float *yd = y->data;
#pragma omp parallel for simd if (n > 65536)
    for (size_t i = 0; i < n; i++) yd[i] = act_fwd(ACT_SILU, gd[i]) * ud[i];
    qt_tensor *in[2] = {gate, up};
    qt_record(ctx, "swiglu", swiglu_backward, y, 2, in);
    return y;
}
