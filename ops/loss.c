#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ops/fastmath.h"
#include "ops/ops.h"

/* ---- cross-entropy: saved[0] = lse per row; iarg[0] = number of scored rows ---- */
static void ce_backward(qt_ctx *ctx, qt_node *nd) {
    qt_tensor *z = nd->in[0];
    const int32_t *tg = nd->ptr;
    const float *lse = nd->saved[0];
    int rows = qt_rows(z), V = qt_cols(z), count = nd->iarg[0];
    if (!count) return;
    float g = nd->out->grad[0] / (float)count;
    float *dz = qt_grad(ctx, z);
#pragma omp parallel for if (rows > 16)
    for (int r = 0; r < rows; r++) {
        if (tg[r] < 0) continue;
        const float *zr = z->data + (size_t)r * V;
        float *dr = dz + (size_t)r * V;
        const float l = lse[r];
#pragma omp simd
        for (int j = 0; j < V; j++) dr[j] += g * fast_expf(zr[j] - l);
        dr[tg[r]] -= g;
    }
}

qt_tensor *qt_cross_entropy(qt_ctx *ctx, qt_tensor *logits, const int32_t *targets) {
    int rows = qt_rows(logits), V = qt_cols(logits);
    float *lse = qt_arena_alloc(&ctx->arena, (size_t)rows * sizeof(float));
    int count = 0;
    for (int r = 0; r < rows; r++) {
        if (targets[r] >= V) qt_die("cross_entropy: target %d at row %d outside [0, %d)", targets[r], r, V);
        count += targets[r] >= 0;
    }
    double total = 0.0;
#pragma omp parallel for reduction(+ : total) if (rows > 16)
    for (int r = 0; r < rows; r++) {
        const float *zr = logits->data + (size_t)r * V;
        double l = row_lse(zr, V, 1.0f);
        lse[r] = (float)l;
        if (targets[r] >= 0) total += l - zr[targets[r]];
    }
    qt_tensor *y = qt_new1(ctx, 1);
    y->data[0] = count ? (float)(total / count) : 0.0f;
    qt_node *nd = qt_record(ctx, "cross_entropy", ce_backward, y, 1, &logits);
    if (nd) {
        nd->ptr = targets;
        nd->saved[0] = lse;
        nd->iarg[0] = count;
    }
    return y;
}

/* ---- KL(p_t ‖ p_s) at temperature T, times T², mean over rows ---- */
static void kl_backward(qt_ctx *ctx, qt_node *nd) {
    qt_tensor *t = nd->in[0], *s = nd->in[1];
    int rows = qt_rows(t), V = qt_cols(t);
    float T = nd->farg[0], inv_t = 1.0f / T;
    float g = nd->out->grad[0] * T / (float)rows; /* T² · (1/T) chain factor */
    float *dt = t->requires_grad ? qt_grad(ctx, t) : NULL;
    float *ds = s->requires_grad ? qt_grad(ctx, s) : NULL;
#pragma omp parallel for if (rows > 16)
    for (int r = 0; r < rows; r++) {
        const float *tr = t->data + (size_t)r * V, *sr = s->data + (size_t)r * V;
        double lt = row_lse(tr, V, inv_t), ls = row_lse(sr, V, inv_t), kl = 0.0;
        for (int j = 0; j < V; j++) {
            double lpt = tr[j] * inv_t - lt, lps = sr[j] * inv_t - ls;
            kl += exp(lpt) * (lpt - lps);
        }
        for (int j = 0; j < V; j++) {
            double lpt = tr[j] * inv_t - lt, lps = sr[j] * inv_t - ls, pt = exp(lpt);
            if (ds) ds[(size_t)r * V + j] += g * (float)(exp(lps) - pt);
            if (dt) dt[(size_t)r * V + j] += g * (float)(pt * (lpt - lps - kl));
        }
    }
}

qt_tensor *qt_kl_div(qt_ctx *ctx, qt_tensor *teacher, qt_tensor *student, float temperature) {
    char st[64], ss[64];
    if (!qt_same_shape(teacher, student))
        qt_die("kl_div: teacher %s and student %s differ in shape", qt_shape_str(teacher, st, 64), qt_shape_str(student, ss, 64));
    if (!(temperature > 0.0f)) qt_die("kl_div: temperature %g must be > 0", (double)temperature);
    int rows = qt_rows(teacher), V = qt_cols(teacher);
    float inv_t = 1.0f / temperature;
    double total = 0.0;
#pragma omp parallel for reduction(+ : total) if (rows > 16)
    for (int r = 0; r < rows; r++) {
        const float *tr = teacher->data + (size_t)r * V, *sr = student->data + (size_t)r * V;
        double lt = row_lse(tr, V, inv_t), ls = row_lse(sr, V, inv_t), kl = 0.0;
        for (int j = 0; j < V; j++) {
            double lpt = tr[j] * inv_t - lt, lps = sr[j] * inv_t - ls;
            kl += exp(lpt) * (lpt - lps);
        }
        total += kl;
    }
    qt_tensor *y = qt_new1(ctx, 1);
    y->data[0] = (float)(total / rows * temperature * temperature);
    qt_tensor *in[2] = {teacher, student};
    qt_node *nd = qt_record(ctx, "kl_div", kl_backward, y, 2, in);
    if (nd) nd->farg[0] = temperature;
    return y;
}
