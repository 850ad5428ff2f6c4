/* qt_ctx_recycle_grads: a training step as train/train.c runs it (the
 * model's hidden states, the fused LM-head cross-entropy, backward) gives
 * bit-identical parameter and quantizer-scale gradients and loss with and
 * without gradient recycling, for llama / qwen2 / qwen3 shapes with GQA, tied
 * and untied, FP32 and QAT W4 g32 (LSQ) + A8 per-token (whose quantized input
 * is shared by wq/wk/wv and w1/w3, so one output gradient gathers several
 * consumers); the arena of a step is smaller with recycling; from step 2 on
 * neither allocates; after backward a node output holds no gradient. */
#include "nn/model.h"
#include "ops/ops.h"
#include "quant/quant.h"
#include "test_util.h"

typedef struct {
    qt_model *m;
    qt_quantizer *wq[64];
    qt_actquant *aq[64];
    int nq;
} qmodel;

static void make(qmodel *q, const qt_model_cfg *cfg, int quant) {
    memset(q, 0, sizeof *q);
    q->m = qt_model_new(cfg);
    qt_model_init(q->m, 11);
    if (!quant) return;
    qt_quant_spec spec = {.bits = 4, .group = 32, .grid = QT_GRID_SYM, .learnable = 1, .fp16_scales = 1};
    char err[256];
    for (int i = 0; i < q->m->n_linears; i++) {
        qt_linear_layer *l = q->m->linears[i];
        if (l == &q->m->output) continue;
        q->wq[q->nq] = qt_quantizer_new(&spec, l->w, err, sizeof err);
        CHECK(q->wq[q->nq] != NULL, "%s", err);
        qt_quant_init_absmax(q->wq[q->nq], l->w);
        l->wq = q->wq[q->nq];
        l->aq = q->aq[q->nq] = qt_actquant_new(l->w->name, 8, QT_ACT_PER_TOKEN, 0.0f);
        q->nq++;
    }
}

static void drop(qmodel *q) {
    for (int i = 0; i < q->m->n_linears; i++) {
        q->m->linears[i]->wq = NULL;
        q->m->linears[i]->aq = NULL;
    }
    for (int i = 0; i < q->nq; i++) {
        qt_quantizer_free(q->wq[i]);
        qt_actquant_free(q->aq[i]);
    }
    qt_model_free(q->m);
}

/* One step (zero grads, forward as train.c, backward); returns the loss. */
static float step(qt_ctx *ctx, qmodel *q, const int32_t *x, const int32_t *y, int B, int T) {
    qt_model *m = q->m;
    qt_ctx_reset(ctx);
    qt_zero_grad(m->params, m->n_params);
    for (int i = 0; i < q->nq; i++) qt_zero_grad(&q->wq[i]->scale, 1);
    qt_tensor *hw, *h = qt_linear_input(ctx, &m->output, qt_model_hidden(ctx, m, x, B, T, &hw));
    qt_tensor *loss = qt_linear_cross_entropy(ctx, h, hw, y);
    qt_backward(ctx, loss, NULL);
    return loss->data[0];
}

static void compare(const char *name, const qt_model_cfg *cfg, int quant) {
    const int B = 2, T = cfg->ctx;
    int32_t x[2 * 24], y[2 * 24];
    uint64_t rng = 5;
    qmodel a, b;
    make(&a, cfg, quant);
    make(&b, cfg, quant);
    qt_ctx ca, cb;
    qt_ctx_init(&ca, 1 << 16);
    qt_ctx_init(&cb, 1 << 16);
    qt_ctx_recycle_grads(&cb, 1);
    size_t used_a = 0, used_b = 0, mallocs_b = 0;
    for (int s = 0; s < 3; s++) {
        for (int i = 0; i < B * T; i++) x[i] = (int32_t)(tu_uniform(&rng) * cfg->vocab);
        for (int i = 0; i < B * T; i++) y[i] = i % T == T - 1 ? -1 : x[i + 1];
        float la = step(&ca, &a, x, y, B, T), lb = step(&cb, &b, x, y, B, T);
        CHECK(la == lb, "%s step %d: loss %.9g with recycling, %.9g without", name, s, (double)lb, (double)la);
        int bad = 0;
        for (int i = 0; i < a.m->n_params; i++)
            bad += memcmp(a.m->params[i]->grad, b.m->params[i]->grad, a.m->params[i]->n * sizeof(float)) != 0;
        for (int i = 0; i < a.nq; i++)
            bad += memcmp(a.wq[i]->scale->grad, b.wq[i]->scale->grad, a.wq[i]->scale->n * sizeof(float)) != 0;
        CHECK(!bad, "%s step %d: %d gradient tensors differ with recycling", name, s, bad);
        int held = 0;
        for (int i = 0; i < cb.n_nodes; i++) held += cb.nodes[i].out->grad != NULL;
        CHECK(!held, "%s step %d: %d node outputs still hold a gradient after backward", name, s, held);
        /* a small optimizer-like update so the next step differs */
        for (qmodel *q = &a; q; q = q == &a ? &b : NULL)
            for (int i = 0; i < q->m->n_params; i++)
                for (size_t k = 0; k < q->m->params[i]->n; k++) q->m->params[i]->data[k] -= 1e-2f * q->m->params[i]->grad[k];
        if (s == 0) mallocs_b = cb.arena.n_mallocs;
        used_a = qt_arena_used(&ca.arena);
        used_b = qt_arena_used(&cb.arena);
    }
    CHECK(cb.arena.n_mallocs == mallocs_b, "%s: the recycling arena grew after step 1 (%zu -> %zu chunks)", name,
          mallocs_b, cb.arena.n_mallocs);
    CHECK(used_b < used_a, "%s: arena %zu bytes with recycling, %zu without", name, used_b, used_a);
    printf("  %-28s loss and gradients identical; arena %zu -> %zu KB\n", name, used_a >> 10, used_b >> 10);
    qt_ctx_free(&ca);
    qt_ctx_free(&cb);
    drop(&a);
    drop(&b);
}

int main(void) {
    static const struct { const char *name; qt_arch arch; int tied, quant; } cases[] = {
        {"llama fp32", QT_ARCH_LLAMA, 0, 0},
        {"llama tied w4+a8", QT_ARCH_LLAMA, 1, 1},
        {"qwen2 tied w4+a8", QT_ARCH_QWEN2, 1, 1},
        {"qwen2 fp32", QT_ARCH_QWEN2, 0, 0},
        {"qwen3 w4+a8", QT_ARCH_QWEN3, 0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        qt_model_cfg cfg = {.arch = cases[i].arch, .dim = 64, .layers = 2, .heads = 4, .kv_heads = 2, .ffn = 96,
                            .ctx = 24, .vocab = 300, .tied = cases[i].tied, .qkv_bias = cases[i].arch == QT_ARCH_QWEN2,
                            .qk_norm = cases[i].arch == QT_ARCH_QWEN3, .head_dim = cases[i].arch == QT_ARCH_QWEN3 ? 32 : 0,
                            .rope_theta = 10000.0f, .norm_eps = 1e-5f};
        char err[256];
        CHECK(qt_model_cfg_check(&cfg, err, sizeof err) == 0, "%s", err);
        compare(cases[i].name, &cfg, cases[i].quant);
    }
    return tu_finish("test_recycle_grads");
}
