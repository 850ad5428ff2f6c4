/* Helpers shared by the model-level PTQ tests: a small Llama model with
 * outlier channels, its logits, the mean squared difference, and a weight-only
 * quantization config. */
#ifndef QATC_TEST_MODEL_UTIL_H
#define QATC_TEST_MODEL_UTIL_H

#include <string.h>

#include "qat/policy.h"
#include "nn/model.h"
#include "test_util.h"

/* dim 64, 2 layers, 4 heads (kv_heads kv), ffn 128; weights ×5 and norm
 * weights in [0.5, 1.5) with every 16th channel ×12 (activation outliers). */
static inline qt_model *tm_outlier_model(int kv, uint64_t seed) {
    qt_model_cfg c = {.arch = QT_ARCH_LLAMA, .dim = 64, .layers = 2, .heads = 4, .kv_heads = kv, .ffn = 128,
                      .ctx = 32, .vocab = 256, .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    qt_model *m = qt_model_new(&c);
    qt_model_init(m, seed);
    uint64_t s = seed + 7;
    for (int i = 0; i < m->n_params; i++) {
        qt_tensor *t = m->params[i];
        for (size_t k = 0; k < t->n; k++)
            t->data[k] = t->ndim == 1 ? (float)(0.5 + tu_uniform(&s)) * ((k % 16) == 3 ? 12.0f : 1.0f) : t->data[k] * 5.0f;
    }
    return m;
}

/* Logits of m for ids [B·T] (no grad), malloc'd. */
static inline float *tm_logits(qt_model *m, const int32_t *ids, int B, int T) {
    qt_ctx ctx;
    qt_ctx_init(&ctx, 1 << 20);
    qt_no_grad(&ctx, 1);
    qt_tensor *y = qt_model_forward(&ctx, m, ids, B, T);
    float *out = malloc(y->n * sizeof *out);
    memcpy(out, y->data, y->n * sizeof *out);
    qt_ctx_free(&ctx);
    return out;
}

/* Mean of (a - b)² in double. */
static inline double tm_mse(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return s / n;
}

/* Weight-only config: sym grid, fixed scales, fp16 scales, the given init,
 * embeddings and output skipped, no activation quantization. */
static inline qt_quant_rules tm_wquant(int bits, int group, int init_mse) {
    qt_quant_rules q;
    memset(&q, 0, sizeof q);
    q.weights = (qt_quant_spec){.bits = bits, .group = group, .grid = QT_GRID_SYM, .learnable = 0, .fp16_scales = 1};
    q.init = init_mse ? QT_INIT_MSE : QT_INIT_ABSMAX;
    q.act_mode = QT_ACT_NONE;
    q.act_bits = 8;
    static const char *const skip[] = {"tok_embeddings.weight", "output.weight"};
    q.skip = skip;
    q.n_skip = 2;
    return q;
}

#endif
