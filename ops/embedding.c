#include <string.h>

#include "ops/ops.h"

static void embedding_backward(qt_ctx *ctx, qt_node *nd) {
    qt_tensor *w = nd->in[0];
    const int32_t *ids = nd->ptr;
    int n = nd->iarg[0], D = w->shape[1];
    float *dw = qt_grad(ctx, w);
    const float *dy = nd->out->grad;
    /* serial: repeated ids would race */
    for (int i = 0; i < n; i++) {
        float *row = dw + (size_t)ids[i] * D;
        const float *g = dy + (size_t)i * D;
        for (int j = 0; j < D; j++) row[j] += g[j];
    }
}

qt_tensor *qt_embedding(qt_ctx *ctx, qt_tensor *weight, const int32_t *ids, int n, int T) {
    char sw[64];
    if (weight->ndim != 2) qt_die("embedding: weight must be [V, D], got %s", qt_shape_str(weight, sw, 64));
    if (n <= 0 || (T > 0 && n % T)) qt_die("embedding: %d ids do not form rows of T = %d", n, T);
    int V = weight->shape[0], D = weight->shape[1];
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= V) qt_die("embedding: token id %d at position %d outside [0, %d)", ids[i], i, V);
    qt_tensor *y = T > 0 ? qt_new3(ctx, n / T, T, D) : qt_new2(ctx, n, D);
#pragma omp parallel for if ((size_t)n * D > 65536)
    for (int i = 0; i < n; i++) memcpy(y->data + (size_t)i * D, weight->data + (size_t)ids[i] * D, (size_t)D * sizeof(float));
    qt_node *nd = qt_record(ctx, "embedding", embedding_backward, y, 1, &weight);
    if (nd) {
        nd->ptr = ids;
        nd->iarg[0] = n;
    }
    return y;
}
