#include <omp.h>
#include <string.h>

#include "ops/ops.h"

enum { BC_SAME, BC_ROW, BC_SCALAR };
enum { EW_ADD, EW_SUB, EW_MUL };

static int broadcast_kind(const char *op, const qt_tensor *a, const qt_tensor *b) {
    if (qt_same_shape(a, b)) return BC_SAME;
    if (b->n == 1) return BC_SCALAR;
    if (b->ndim == 1 && b->shape[0] == qt_cols(a)) return BC_ROW;
    char sa[64], sb[64];
    qt_die("%s: cannot broadcast %s onto %s (expected the same shape, [%d] or [1])", op, qt_shape_str(b, sb, 64),
           qt_shape_str(a, sa, 64), qt_cols(a));
}

static void ew_backward(qt_ctx *ctx, qt_node *nd) {
    qt_tensor *a = nd->in[0], *b = nd->in[1];
    int kind = nd->iarg[0], bc = nd->iarg[1];
    const float *dy = nd->out->grad;
    size_t n = a->n, cols = (size_t)qt_cols(a);
    if (a->requires_grad) {
        float *da = qt_grad(ctx, a);
        if (kind == EW_MUL) {
            const float *bd = b->data;
#pragma omp parallel for if (n > 65536)
            for (size_t i = 0; i < n; i++) da[i] += dy[i] * bd[bc == BC_SAME ? i : bc == BC_ROW ? i % cols : 0];
        } else {
#pragma omp parallel for if (n > 65536)
            for (size_t i = 0; i < n; i++) da[i] += dy[i];
        }
    }
    if (b->requires_grad) {
        float *db = qt_grad(ctx, b);
        float sign = kind == EW_SUB ? -1.0f : 1.0f;
        const float *ad = a->data;
        if (bc == BC_SAME) {
#pragma omp parallel for if (n > 65536)
            for (size_t i = 0; i < n; i++) db[i] += kind == EW_MUL ? dy[i] * ad[i] : sign * dy[i];
        } else if (bc == BC_ROW) {
            /* db[j] += Σ_r g[r][j]: each thread owns a range of columns and walks the rows in
             * order, so every db[j] gets the same additions in the same order as a serial loop */
            const size_t rows = n / cols;
#pragma omp parallel if (n > 65536)
            {
                const size_t nt = (size_t)omp_get_num_threads(), t = (size_t)omp_get_thread_num();
                const size_t j0 = cols * t / nt, j1 = cols * (t + 1) / nt;
                for (size_t r = 0; r < rows; r++) {
                    const float *dyr = dy + r * cols, *ar = ad + r * cols;
                    if (kind == EW_MUL)
                        for (size_t j = j0; j < j1; j++) db[j] += dyr[j] * ar[j];
                    else
                        for (size_t j = j0; j < j1; j++) db[j] += sign * dyr[j];
                }
            }
        } else {
            for (size_t i = 0; i < n; i++) db[0] += kind == EW_MUL ? dy[i] * ad[i] : sign * dy[i];
        }
    }
}

static qt_tensor *elementwise(qt_ctx *ctx, qt_tensor *a, qt_tensor *b, int kind, const char *name) {
    int bc = broadcast_kind(name, a, b);
    qt_tensor *y = qt_tensor_like(ctx, a);
    size_t n = a->n, cols = (size_t)qt_cols(a);
    const float *ad = a->data, *bd = b->data;
    float *yd = y->data;
    if (bc == BC_ROW) { /* rows × cols: no index division per element */
        const size_t rows = n / cols;
#pragma omp parallel for if (n > 65536)
        for (size_t r = 0; r < rows; r++) {
            const float *ar = ad + r * cols;
            float *yr = yd + r * cols;
            if (kind == EW_ADD)
                for (size_t j = 0; j < cols; j++) yr[j] = ar[j] + bd[j];
            else if (kind == EW_SUB)
                for (size_t j = 0; j < cols; j++) yr[j] = ar[j] - bd[j];
            else
                for (size_t j = 0; j < cols; j++) yr[j] = ar[j] * bd[j];
        }
    } else {
#pragma omp parallel for if (n > 65536)
        for (size_t i = 0; i < n; i++) {
            float bv = bd[bc == BC_SAME ? i : 0];
            yd[i] = kind == EW_ADD ? ad[i] + bv : kind == EW_SUB ? ad[i] - bv : ad[i] * bv;
        }
    }
    qt_tensor *in[2] = {a, b};
    qt_node *nd = qt_record(ctx, name, ew_backward, y, 2, in);
    if (nd) {
        nd->iarg[0] = kind;
        nd->iarg[1] = bc;
    }
    return y;
}

qt_tensor *qt_add(qt_ctx *ctx, qt_tensor *a, qt_tensor *b) { return elementwise(ctx, a, b, EW_ADD, "add"); }
qt_tensor *qt_sub(qt_ctx *ctx, qt_tensor *a, qt_tensor *b) { return elementwise(ctx, a, b, EW_SUB, "sub"); }
qt_tensor *qt_mul(qt_ctx *ctx, qt_tensor *a, qt_tensor *b) { return elementwise(ctx, a, b, EW_MUL, "mul"); }

static void scale_backward(qt_ctx *ctx, qt_node *nd) {
    float *da = qt_grad(ctx, nd->in[0]);
    const float *dy = nd->out->grad;
    float s = nd->farg[0];
    for (size_t i = 0; i < nd->in[0]->n; i++) da[i] += s * dy[i];
}

qt_tensor *qt_scale(qt_ctx *ctx, qt_tensor *a, float s) {
    qt_tensor *y = qt_tensor_like(ctx, a);
    for (size_t i = 0; i < a->n; i++) y->data[i] = s * a->data[i];
    qt_node *nd = qt_record(ctx, "scale", scale_backward, y, 1, &a);
    if (nd) nd->farg[0] = s;
    return y;
}
