#include "nn/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "quant/quant.h"

int qt_model_cfg_check(const qt_model_cfg *c, char *err, size_t errlen) {
#define BAD(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)
    if (c->dim <= 0 || c->vocab <= 0 || c->ffn <= 0 || c->ctx <= 0) BAD("model: dim, vocab, ffn and ctx must be > 0");
    if (c->arch == QT_ARCH_LLAMA) {
        if (c->layers <= 0 || c->heads <= 0 || c->kv_heads <= 0) BAD("model: layers, heads and kv_heads must be > 0");
        if (c->dim % c->heads) BAD("model: dim %d is not a multiple of heads %d", c->dim, c->heads);
        if (c->heads % c->kv_heads) BAD("model: heads %d is not a multiple of kv_heads %d", c->heads, c->kv_heads);
        if ((c->dim / c->heads) % 2) BAD("model: head dim %d must be even for rope", c->dim / c->heads);
        if (!(c->rope_theta > 0.0f) || !(c->norm_eps > 0.0f)) BAD("model: rope_theta and norm_eps must be > 0");
    }
    return 0;
#undef BAD
}

static qt_tensor *add_param(qt_model *m, int cap, const char *name, int ndim, const int *shape) {
    if (m->n_params >= cap) { fprintf(stderr, "qatc: internal: parameter table full\n"); abort(); }
    qt_tensor *t = qt_param_new(name, ndim, shape);
    m->params[m->n_params++] = t;
    return t;
}

static void add_linear(qt_model *m, int cap, qt_linear_layer *l, const char *name, int out, int in) {
    l->w = add_param(m, cap, name, 2, (int[]){out, in});
    l->wq = NULL;
    l->aq = NULL;
    l->hook = NULL;
    l->hook_user = NULL;
    l->in_type = QT_GGML_F32;
    l->in_mins = NULL;
    m->linears[m->n_linears++] = l;
}

qt_model *qt_model_new(const qt_model_cfg *cfg) {
    qt_model *m = calloc(1, sizeof *m);
    m->cfg = *cfg;
    int L = cfg->arch == QT_ARCH_LLAMA ? cfg->layers : 0;
    int cap = 3 + 9 * L + 4;
    m->params = calloc((size_t)cap, sizeof *m->params);
    m->linears = calloc((size_t)(7 * L + 3), sizeof *m->linears);
    int D = cfg->dim, V = cfg->vocab, F = cfg->ffn;
    m->tok_emb = add_param(m, cap, "tok_embeddings.weight", 2, (int[]){V, D});
    char name[96];
    if (cfg->arch == QT_ARCH_LLAMA) {
        int hd = D / cfg->heads, qd = cfg->heads * hd, kvd = cfg->kv_heads * hd;
        m->blocks = calloc((size_t)L, sizeof *m->blocks);
        for (int i = 0; i < L; i++) {
            qt_block *b = &m->blocks[i];
#define NM(s) (snprintf(name, sizeof name, "layers.%d." s, i), name)
            b->attn_norm = add_param(m, cap, NM("attention_norm.weight"), 1, (int[]){D});
            add_linear(m, cap, &b->wq, NM("attention.wq.weight"), qd, D);
            add_linear(m, cap, &b->wk, NM("attention.wk.weight"), kvd, D);
            add_linear(m, cap, &b->wv, NM("attention.wv.weight"), kvd, D);
            add_linear(m, cap, &b->wo, NM("attention.wo.weight"), D, qd);
            b->ffn_norm = add_param(m, cap, NM("ffn_norm.weight"), 1, (int[]){D});
            add_linear(m, cap, &b->w1, NM("feed_forward.w1.weight"), F, D);
            add_linear(m, cap, &b->w2, NM("feed_forward.w2.weight"), D, F);
            add_linear(m, cap, &b->w3, NM("feed_forward.w3.weight"), F, D);
#undef NM
        }
        m->norm = add_param(m, cap, "norm.weight", 1, (int[]){D});
    } else {
        add_linear(m, cap, &m->fc1, "mlp.fc1.weight", F, D);
        add_linear(m, cap, &m->fc2, "mlp.fc2.weight", D, F);
    }
    add_linear(m, cap, &m->output, "output.weight", V, D);
    return m;
}

qt_model *qt_model_clone(const qt_model *m) {
    qt_model *c = qt_model_new(&m->cfg);
    for (int i = 0; i < m->n_params; i++) memcpy(c->params[i]->data, m->params[i]->data, m->params[i]->n * sizeof(float));
    for (int j = 0; j < m->n_linears; j++) {
        c->linears[j]->wq = m->linears[j]->wq;
        c->linears[j]->aq = m->linears[j]->aq;
        qt_linear_set_input_type(c->linears[j], m->linears[j]->in_type, m->linears[j]->in_mins);
    }
    return c;
}

void qt_model_free(qt_model *m) {
    if (!m) return;
    qt_model_clear_input_types(m);
    for (int i = 0; i < m->n_params; i++) qt_param_free(m->params[i]);
    free(m->params);
    free(m->linears);
    free(m->blocks);
    free(m);
}

void qt_linear_set_input_type(qt_linear_layer *l, int type, const float *mins) {
    if (type != QT_GGML_F32 && type != QT_GGML_F16 && type != QT_GGML_Q8_0 && type != QT_GGML_Q8_1)
        qt_die("linear %s: input type %d is not F32, F16, Q8_0 or Q8_1", l->w->name, type);
    free(l->in_mins);
    l->in_mins = NULL;
    l->in_type = type;
    if (type != QT_GGML_Q8_1) return;
    size_t n = l->w->n / 32;
    if (!mins || qt_cols(l->w) % 32) qt_die("linear %s: Q8_1 input rounding needs rows of a multiple of 32 and their mins", l->w->name);
    l->in_mins = malloc(n * sizeof(float));
    if (!l->in_mins) qt_die("out of memory");
    memcpy(l->in_mins, mins, n * sizeof(float));
}

void qt_model_clear_input_types(qt_model *m) {
    for (int j = 0; j < m->n_linears; j++) qt_linear_set_input_type(m->linears[j], QT_GGML_F32, NULL);
}

/* splitmix64 → N(0,1) by Box-Muller; local so init does not depend on the data RNG */
static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static double normal(uint64_t *s) {
    double u1 = ((splitmix(s) >> 11) + 1.0) / 9007199254740993.0, u2 = (splitmix(s) >> 11) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void qt_model_init(qt_model *m, uint64_t seed) {
    uint64_t s = seed * 0x2545F4914F6CDD1DULL + 1;
    float resid = 0.02f / sqrtf(2.0f * (float)(m->cfg.layers > 0 ? m->cfg.layers : 1));
    for (int i = 0; i < m->n_params; i++) {
        qt_tensor *t = m->params[i];
        if (t->ndim == 1) {
            for (size_t j = 0; j < t->n; j++) t->data[j] = 1.0f;
            continue;
        }
        float stdv = (strstr(t->name, ".wo.") || strstr(t->name, ".w2.") || strstr(t->name, "fc2")) ? resid : 0.02f;
        for (size_t j = 0; j < t->n; j++) t->data[j] = (float)(normal(&s) * stdv);
    }
}

qt_tensor *qt_model_param(const qt_model *m, const char *name) {
    for (int i = 0; i < m->n_params; i++)
        if (!strcmp(m->params[i]->name, name)) return m->params[i];
    return NULL;
}

qt_linear_layer *qt_model_linear(const qt_model *m, const char *weight_name) {
    for (int i = 0; i < m->n_linears; i++)
        if (!strcmp(m->linears[i]->w->name, weight_name)) return m->linears[i];
    return NULL;
}

size_t qt_model_numel(const qt_model *m) {
    size_t n = 0;
    for (int i = 0; i < m->n_params; i++) n += m->params[i]->n;
    return n;
}

qt_tensor *qt_linear_forward(qt_ctx *ctx, qt_linear_layer *l, qt_tensor *x) {
    qt_tensor *w = l->wq ? qt_fake_quant(ctx, l->w, l->wq) : l->w;
    if (l->aq) x = qt_act_quant(ctx, x, l->aq);
    if (l->hook) l->hook(l->hook_user, l, x);
    if (l->in_type == QT_GGML_F32) return qt_linear(ctx, x, w);
    float *corr = NULL;
    qt_tensor *y = qt_linear(ctx, qt_act_round_ggml(ctx, x, l->in_type, &corr), w);
    if (corr) /* y [rows, out] += corr [rows, nb] · minsᵀ */
        qt_ggml_q8_1_add_min_term(y->data, corr, l->in_mins, qt_rows(x), qt_rows(w), qt_cols(w) / 32);
    return y;
}

qt_tensor *qt_block_forward(qt_ctx *ctx, const qt_model_cfg *cfg, qt_block *blk, qt_tensor *x, int pos0) {
    qt_tensor *h = qt_rmsnorm(ctx, x, blk->attn_norm, cfg->norm_eps);
    qt_tensor *q = qt_rope(ctx, qt_linear_forward(ctx, &blk->wq, h), cfg->heads, cfg->rope_theta, pos0);
    qt_tensor *k = qt_rope(ctx, qt_linear_forward(ctx, &blk->wk, h), cfg->kv_heads, cfg->rope_theta, pos0);
    qt_tensor *v = qt_linear_forward(ctx, &blk->wv, h);
    qt_tensor *a = qt_attention(ctx, q, k, v, cfg->heads, cfg->kv_heads);
    x = qt_add(ctx, x, qt_linear_forward(ctx, &blk->wo, a));
    h = qt_rmsnorm(ctx, x, blk->ffn_norm, cfg->norm_eps);
    qt_tensor *g = qt_swiglu(ctx, qt_linear_forward(ctx, &blk->w1, h), qt_linear_forward(ctx, &blk->w3, h));
    return qt_add(ctx, x, qt_linear_forward(ctx, &blk->w2, g));
}

qt_tensor *qt_model_forward(qt_ctx *ctx, qt_model *m, const int32_t *ids, int B, int T) {
    qt_tensor *x = qt_embedding(ctx, m->tok_emb, ids, B * T, T);
    if (m->cfg.arch == QT_ARCH_LLAMA) {
        for (int i = 0; i < m->cfg.layers; i++) x = qt_block_forward(ctx, &m->cfg, &m->blocks[i], x, 0);
        x = qt_rmsnorm(ctx, x, m->norm, m->cfg.norm_eps);
    } else {
        x = qt_linear_forward(ctx, &m->fc2, qt_gelu(ctx, qt_linear_forward(ctx, &m->fc1, x)));
    }
    return qt_linear_forward(ctx, &m->output, x);
}
