/* Helpers shared by the model-level PTQ tests: a small Llama model with
 * outlier channels, its logits, the mean squared difference, and a weight-only
 * quantization config. */
#ifndef QATC_TEST_MODEL_UTIL_H
#define QATC_TEST_MODEL_UTIL_H

#include <string.h>

#include "io/export.h"
#include "qat/policy.h"
#include "nn/model.h"
#include "store/safetensors.h"
#include "test_util.h"

/* dim 128, 2 layers, 4 heads (2 kv), ffn 256 of family arch, a quantizer of
 * spec on every Linear but the output (MSE init, scales jittered by ±10%,
 * offsets by ±0.5): the exporters' test model. Free with tm_free_quant. */
static inline qt_model *tm_tiny_quant(const qt_quant_spec *spec, qt_arch arch, uint64_t seed) {
    qt_model_cfg cfg = {.arch = arch, .dim = 128, .layers = 2, .heads = 4, .kv_heads = 2, .ffn = 256, .ctx = 32,
                        .vocab = 256, .rope_theta = 10000.0f, .norm_eps = 1e-5f, .qkv_bias = arch == QT_ARCH_QWEN2};
    qt_model *m = qt_model_new(&cfg);
    qt_model_init(m, seed);
    char err[256];
    uint64_t s = seed;
    for (int j = 0; j < m->n_linears; j++) {
        qt_linear_layer *l = m->linears[j];
        if (l == &m->output) continue;
        l->wq = qt_quantizer_new(spec, l->w, err, sizeof err);
        if (!l->wq) qt_die("%s", err);
        qt_quant_init_mse(l->wq, l->w, 20, 0.6f);
        for (size_t k = 0; k < l->wq->scale->n; k++) l->wq->scale->data[k] *= (float)(0.9 + 0.2 * tu_uniform(&s));
        if (l->wq->offset)
            for (size_t k = 0; k < l->wq->offset->n; k++) l->wq->offset->data[k] += (float)(tu_uniform(&s) - 0.5);
        qt_quantizer_clamp(l->wq);
    }
    return m;
}

static inline void tm_free_quant(qt_model *m) {
    for (int j = 0; j < m->n_linears; j++) qt_quantizer_free(m->linears[j]->wq);
    qt_model_free(m);
}

/* 1 when every parameter of b (an import of m's export) equals what the
 * export holds: the frozen grid dequantized for quantized Linears, the fp16
 * rounding for the rest; else 0 with the first differing name in which */
static inline int tm_same_as_export(const qt_model *m, const qt_model *b, char *which, size_t len) {
    int ok = 1;
    for (int i = 0; ok && i < m->n_params; i++) {
        const qt_tensor *p = m->params[i], *q = b->params[i];
        const qt_linear_layer *l = qt_model_linear(m, p->name);
        float *want = malloc(p->n * sizeof *want);
        if (l && l->wq) {
            qt_qweight *qw = qt_freeze(l->w, l->wq);
            qt_qweight_dequant(qw, want);
            qt_qweight_free(qw);
        } else {
            for (size_t k = 0; k < p->n; k++) want[k] = qt_f16_round(p->data[k]);
        }
        if (memcmp(want, q->data, p->n * sizeof *want)) ok = 0, snprintf(which, len, "%s", p->name);
        free(want);
    }
    return ok;
}

/* qatc's frozen weights of every quantized Linear of m as "<HF module>.deq"
 * float32 [out, in] (our row order) in a safetensors file: the oracles' reference */
static inline void tm_write_deq_ref(const qt_model *m, const char *path) {
    char err[512];
    qt_safetensors *st = qt_st_new();
    for (int j = 0; j < m->n_linears; j++) {
        const qt_linear_layer *l = m->linears[j];
        if (!l->wq) continue;
        qt_qweight *qw = qt_freeze(l->w, l->wq);
        float *w = malloc(l->w->n * sizeof *w);
        qt_qweight_dequant(qw, w);
        char hf[160], nm[200];
        qt_hf_name(l->w->name, hf, sizeof hf);
        hf[strlen(hf) - strlen(".weight")] = 0;
        snprintf(nm, sizeof nm, "%s.deq", hf);
        qt_st_add(st, nm, QT_ST_F32, 2, (int64_t[]){qt_rows(l->w), qt_cols(l->w)}, w, l->w->n * sizeof *w, err,
                  sizeof err);
        free(w);
        qt_qweight_free(qw);
    }
    CHECK(qt_st_write(st, path, err, sizeof err) == 0, "%s", err);
    qt_st_free(st);
}

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
