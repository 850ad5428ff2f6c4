#include <string.h>

#include "ops/ops.h"

static void reshape_backward(qt_ctx *ctx, qt_node *nd) {
    float *da = qt_grad(ctx, nd->in[0]);
    const float *dy = nd->out->grad;
    for (size_t i = 0; i < nd->out->n; i++) da[i] += dy[i];
}

qt_tensor *qt_reshape(qt_ctx *ctx, qt_tensor *a, int ndim, const int *shape) {
    size_t n = qt_shape_numel(ndim, shape);
    char sa[64];
    if (n != a->n) qt_die("reshape: %s has %zu elements, the new shape %zu", qt_shape_str(a, sa, 64), a->n, n);
    qt_tensor *y = qt_arena_alloc(&ctx->arena, sizeof *y);
    memset(y, 0, sizeof *y);
    y->ndim = ndim;
    for (int i = 0; i < QT_MAX_DIMS; i++) y->shape[i] = i < ndim ? shape[i] : 1;
    y->n = n;
    y->data = a->data; /* a view: same storage */
    qt_record(ctx, "reshape", reshape_backward, y, 1, &a);
    return y;
}

/* Copies src into dst with dims d0 and d1 swapped (or back when inverse). */
static void permute_copy(const float *src, float *dst, const int *shape, int d0, int d1, int accumulate) {
    int s[4] = {1, 1, 1, 1};
    for (int i = 0; i < 4; i++) s[i] = shape[i];
    size_t in_stride[4], out_stride[4];
    int oshape[4] = {s[0], s[1], s[2], s[3]};
    oshape[d0] = s[d1];
    oshape[d1] = s[d0];
    in_stride[3] = out_stride[3] = 1;
    for (int i = 2; i >= 0; i--) {
        in_stride[i] = in_stride[i + 1] * (size_t)s[i + 1];
        out_stride[i] = out_stride[i + 1] * (size_t)oshape[i + 1];
    }
    size_t os[4] = {out_stride[0], out_stride[1], out_stride[2], out_stride[3]};
    size_t t = os[d0];
    os[d0] = os[d1];
    os[d1] = t; /* output stride seen from input index order */
    for (int i0 = 0; i0 < s[0]; i0++)
        for (int i1 = 0; i1 < s[1]; i1++)
            for (int i2 = 0; i2 < s[2]; i2++)
                for (int i3 = 0; i3 < s[3]; i3++) {
                    size_t si = i0 * in_stride[0] + i1 * in_stride[1] + i2 * in_stride[2] + i3;
                    size_t di = i0 * os[0] + i1 * os[1] + i2 * os[2] + i3 * os[3];
                    if (accumulate)
                        dst[si] += src[di];
                    else
                        dst[di] = src[si];
                }
}

static void transpose_backward(qt_ctx *ctx, qt_node *nd) {
    qt_tensor *a = nd->in[0];
    permute_copy(nd->out->grad, qt_grad(ctx, a), a->shape, nd->iarg[0], nd->iarg[1], 1);
}

qt_tensor *qt_transpose(qt_ctx *ctx, qt_tensor *a, int d0, int d1) {
    char sa[64];
    if (d0 < 0 || d1 < 0 || d0 >= a->ndim || d1 >= a->ndim)
        qt_die("transpose: dims %d, %d outside %s", d0, d1, qt_shape_str(a, sa, 64));
    int shape[QT_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    shape[d0] = a->shape[d1];
    shape[d1] = a->shape[d0];
    qt_tensor *y = qt_tensor_new(ctx, a->ndim, shape);
    permute_copy(a->data, y->data, a->shape, d0, d1, 0);
    qt_node *nd = qt_record(ctx, "transpose", transpose_backward, y, 1, &a);
    if (nd) {
        nd->iarg[0] = d0;
        nd->iarg[1] = d1;
    }
    return y;
}
