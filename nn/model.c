#include "nn/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "quant/quant.h"

const char *qt_arch_name(qt_arch a) {
    static const char *const names[QT_N_ARCHS] = {"llama", "mlp", "mistral", "qwen2", "qwen3"};
    return (unsigned)a < QT_N_ARCHS ? names[a] : "?";
}

int qt_arch_is_decoder(qt_arch a) { return a != QT_ARCH_MLP; }

int qt_model_max_ctx(const qt_model_cfg *c) { return c->max_ctx > 0 ? c->max_ctx : c->ctx; }

int qt_model_head_dim(const qt_model_cfg *c) { return c->head_dim > 0 ? c->head_dim : c->heads > 0 ? c->dim / c->heads : 0; }

void qt_model_rope_divisors(const qt_model_cfg *c, float *out) {
    int hd = qt_model_head_dim(c), half = hd / 2;
    for (int i = 0; i < half; i++) {
        out[i] = 1.0f;
        if (!(c->rope_factor > 0.0f)) continue;
        double freq = pow((double)c->rope_theta, -2.0 * i / hd), wavelen = 6.283185307179586 / freq;
        double orig = c->rope_orig_ctx, lo = c->rope_low_freq, hi = c->rope_high_freq, f = c->rope_factor;
        if (wavelen < orig / hi) continue;
        if (wavelen > orig / lo) {
            out[i] = (float)f;
        } else {
            double sm = (orig / wavelen - lo) / (hi - lo);
            out[i] = (float)(1.0 / ((1.0 - sm) / f + sm));
        }
    }
}

int qt_model_cfg_check(const qt_model_cfg *c, char *err, size_t errlen) {
#define BAD(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)
    if ((unsigned)c->arch >= QT_N_ARCHS) BAD("model: unknown arch %d", (int)c->arch);
    if (c->dim <= 0 || c->vocab <= 0 || c->ffn <= 0 || c->ctx <= 0) BAD("model: dim, vocab, ffn and ctx must be > 0");
    if (qt_arch_is_decoder(c->arch)) {
        if (c->layers <= 0 || c->heads <= 0 || c->kv_heads <= 0) BAD("model: layers, heads and kv_heads must be > 0");
        if (c->head_dim < 0) BAD("model: head_dim %d must be >= 0", c->head_dim);
        if (!c->head_dim && c->dim % c->heads) BAD("model: dim %d is not a multiple of heads %d", c->dim, c->heads);
        if (c->heads % c->kv_heads) BAD("model: heads %d is not a multiple of kv_heads %d", c->heads, c->kv_heads);
        if (qt_model_head_dim(c) % 2) BAD("model: head dim %d must be even for rope", qt_model_head_dim(c));
        if (!(c->rope_theta > 0.0f) || !(c->norm_eps > 0.0f)) BAD("model: rope_theta and norm_eps must be > 0");
        if (c->max_ctx && c->ctx > c->max_ctx) BAD("model: ctx %d exceeds the %d positions the model supports", c->ctx, c->max_ctx);
        if (c->sliding_window < 0) BAD("model: sliding_window %d must be >= 0", c->sliding_window);
        if (c->sliding_window > 0 && c->ctx > c->sliding_window)
            BAD("model: ctx %d exceeds the sliding window %d (qatc computes plain causal attention, which equals "
                "sliding-window attention only within the window; lower model.ctx)", c->ctx, c->sliding_window);
        if (c->rope_factor != 0.0f &&
            !(c->rope_factor >= 1.0f && c->rope_low_freq > 0.0f && c->rope_high_freq > c->rope_low_freq &&
              c->rope_orig_ctx > 0))
            BAD("model: rope scaling needs factor >= 1, 0 < low_freq_factor < high_freq_factor and "
                "original_max_position_embeddings > 0");
    } else if (c->qkv_bias || c->qk_norm || c->tied || c->rope_factor != 0.0f) {
        BAD("model: arch mlp has no attention, rope or tied embedding options");
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

static void add_linear(qt_model *m, int cap, qt_linear_layer *l, const char *name, int out, int in, int bias) {
    l->w = add_param(m, cap, name, 2, (int[]){out, in});
    l->b = NULL;
    if (bias) {
        char bn[96];
        snprintf(bn, sizeof bn, "%.*s.bias", (int)(strlen(name) - strlen(".weight")), name);
        l->b = add_param(m, cap, bn, 1, (int[]){out});
    }
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
    int dec = qt_arch_is_decoder(cfg->arch), L = dec ? cfg->layers : 0;
    int cap = 3 + 14 * L + 4;
    m->params = calloc((size_t)cap, sizeof *m->params);
    m->linears = calloc((size_t)(7 * L + 3), sizeof *m->linears);
    int D = cfg->dim, V = cfg->vocab;
    m->tok_emb = add_param(m, cap, "tok_embeddings.weight", 2, (int[]){V, D});
    /* the Linears' names and shapes: qt_model_linear_infos, in its order */
    const int nli = qt_model_linear_infos(cfg, NULL, 0);
    qt_linear_info *li = malloc((size_t)nli * sizeof *li);
    if (!li) qt_die("out of memory");
    qt_model_linear_infos(cfg, li, nli);
    int k = 0;
#define LINEAR(slot, bias) (add_linear(m, cap, (slot), li[k].name, li[k].rows, li[k].cols, (bias)), k++)
    char name[96];
    if (dec) {
        int hd = qt_model_head_dim(cfg), qb = cfg->qkv_bias;
        m->blocks = calloc((size_t)L, sizeof *m->blocks);
        for (int i = 0; i < L; i++) {
            qt_block *b = &m->blocks[i];
#define NM(s) (snprintf(name, sizeof name, "layers.%d." s, i), name)
            b->attn_norm = add_param(m, cap, NM("attention_norm.weight"), 1, (int[]){D});
            LINEAR(&b->wq, qb);
            LINEAR(&b->wk, qb);
            LINEAR(&b->wv, qb);
            LINEAR(&b->wo, 0);
            if (cfg->qk_norm) {
                b->q_norm = add_param(m, cap, NM("attention.q_norm.weight"), 1, (int[]){hd});
                b->k_norm = add_param(m, cap, NM("attention.k_norm.weight"), 1, (int[]){hd});
            }
            b->ffn_norm = add_param(m, cap, NM("ffn_norm.weight"), 1, (int[]){D});
            LINEAR(&b->w1, 0);
            LINEAR(&b->w2, 0);
            LINEAR(&b->w3, 0);
#undef NM
        }
        m->norm = add_param(m, cap, "norm.weight", 1, (int[]){D});
        if (cfg->rope_factor > 0.0f) {
            m->rope_div = malloc((size_t)(hd / 2) * sizeof *m->rope_div);
            if (!m->rope_div) qt_die("out of memory");
            qt_model_rope_divisors(cfg, m->rope_div);
        }
    } else {
        LINEAR(&m->fc1, 0);
        LINEAR(&m->fc2, 0);
    }
    if (cfg->tied) { /* one matrix: the output Linear multiplies by the embedding */
        memset(&m->output, 0, sizeof m->output);
        m->output.w = m->tok_emb;
        m->output.in_type = QT_GGML_F32;
        m->linears[m->n_linears++] = &m->output;
    } else {
        LINEAR(&m->output, 0);
    }
#undef LINEAR
    free(li);
    return m;
}

int qt_model_linear_infos(const qt_model_cfg *c, qt_linear_info *out, int cap) {
    static const char *const K[] = {"attention.wq", "attention.wk", "attention.wv", "attention.wo",
                                    "feed_forward.w1", "feed_forward.w2", "feed_forward.w3"};
    int n = 0;
#define PUT(r, cl, ...) (n < cap ? (snprintf(out[n].name, sizeof out[n].name, __VA_ARGS__), out[n].rows = (r), \
                                    out[n].cols = (cl), 0) : 0, n++)
    if (qt_arch_is_decoder(c->arch)) {
        const int hd = qt_model_head_dim(c), q = c->heads * hd, kv = c->kv_heads * hd;
        const int rows[] = {q, kv, kv, c->dim, c->ffn, c->dim, c->ffn};
        const int cols[] = {c->dim, c->dim, c->dim, q, c->dim, c->ffn, c->dim};
        for (int l = 0; l < c->layers; l++)
            for (int k = 0; k < 7; k++) PUT(rows[k], cols[k], "layers.%d.%s.weight", l, K[k]);
    } else {
        PUT(c->ffn, c->dim, "mlp.fc1.weight");
        PUT(c->dim, c->ffn, "mlp.fc2.weight");
    }
    PUT(c->vocab, c->dim, "%s", c->tied ? "tok_embeddings.weight" : "output.weight");
#undef PUT
    return n;
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
    free(m->rope_div);
    free(m);
}

void qt_linear_set_input_type(qt_linear_layer *l, int type, const float *mins) {
    if (type != QT_GGML_F32 && type != QT_GGML_F16 && type != QT_GGML_Q8_0 && type != QT_GGML_Q8_1 &&
        type != QT_GGML_Q8_K)
        qt_die("linear %s: input type %d is not F32, F16, Q8_0, Q8_1 or Q8_K", l->w->name, type);
    if (type == QT_GGML_Q8_K && qt_cols(l->w) % 256)
        qt_die("linear %s: Q8_K input rounding needs rows of a multiple of 256", l->w->name);
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
        if (t->ndim == 1) { /* norms 1, biases 0 */
            float v = strstr(t->name, ".bias") ? 0.0f : 1.0f;
            for (size_t j = 0; j < t->n; j++) t->data[j] = v;
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

qt_tensor *qt_linear_weight(qt_ctx *ctx, qt_linear_layer *l) { return l->wq ? qt_fake_quant(ctx, l->w, l->wq) : l->w; }

qt_tensor *qt_linear_input(qt_ctx *ctx, qt_linear_layer *l, qt_tensor *x) {
    if (l->aq) x = qt_act_quant(ctx, x, l->aq);
    if (l->hook) l->hook(l->hook_user, l, x);
    return x;
}

qt_tensor *qt_linear_apply(qt_ctx *ctx, qt_linear_layer *l, qt_tensor *w, qt_tensor *x) {
    x = qt_linear_input(ctx, l, x);
    qt_tensor *y;
    if (l->in_type == QT_GGML_F32) {
        y = qt_linear(ctx, x, w);
    } else {
        float *corr = NULL;
        y = qt_linear(ctx, qt_act_round_ggml(ctx, x, l->in_type, &corr), w);
        if (corr) /* y [rows, out] += corr [rows, nb] · minsᵀ */
            qt_ggml_q8_1_add_min_term(y->data, corr, l->in_mins, qt_rows(x), qt_rows(w), qt_cols(w) / 32);
    }
    return l->b ? qt_add(ctx, y, l->b) : y;
}

qt_tensor *qt_linear_forward(qt_ctx *ctx, qt_linear_layer *l, qt_tensor *x) {
    return qt_linear_apply(ctx, l, qt_linear_weight(ctx, l), x);
}

/* RMSNorm of each head of x [B, T, H·hd] with weight [hd] */
static qt_tensor *head_norm(qt_ctx *ctx, qt_tensor *x, qt_tensor *w, int heads, float eps) {
    int B = x->shape[0], T = x->shape[1], hd = x->shape[2] / heads;
    qt_tensor *y = qt_rmsnorm(ctx, qt_reshape(ctx, x, 4, (int[]){B, T, heads, hd}), w, eps);
    return qt_reshape(ctx, y, 3, (int[]){B, T, heads * hd});
}

qt_tensor *qt_block_forward(qt_ctx *ctx, qt_model *m, int layer, qt_tensor *x, int pos0) {
    const qt_model_cfg *cfg = &m->cfg;
    qt_block *blk = &m->blocks[layer];
    qt_tensor *h = qt_rmsnorm(ctx, x, blk->attn_norm, cfg->norm_eps);
    qt_tensor *q = qt_linear_forward(ctx, &blk->wq, h), *k = qt_linear_forward(ctx, &blk->wk, h);
    if (cfg->qk_norm) {
        q = head_norm(ctx, q, blk->q_norm, cfg->heads, cfg->norm_eps);
        k = head_norm(ctx, k, blk->k_norm, cfg->kv_heads, cfg->norm_eps);
    }
    q = qt_rope(ctx, q, cfg->heads, cfg->rope_theta, m->rope_div, pos0);
    k = qt_rope(ctx, k, cfg->kv_heads, cfg->rope_theta, m->rope_div, pos0);
    qt_tensor *v = qt_linear_forward(ctx, &blk->wv, h);
    qt_tensor *a = qt_attention(ctx, q, k, v, cfg->heads, cfg->kv_heads);
    x = qt_add(ctx, x, qt_linear_forward(ctx, &blk->wo, a));
    h = qt_rmsnorm(ctx, x, blk->ffn_norm, cfg->norm_eps);
    qt_tensor *g = qt_swiglu(ctx, qt_linear_forward(ctx, &blk->w1, h), qt_linear_forward(ctx, &blk->w3, h));
    return qt_add(ctx, x, qt_linear_forward(ctx, &blk->w2, g));
}

qt_tensor *qt_model_hidden(qt_ctx *ctx, qt_model *m, const int32_t *ids, int B, int T, qt_tensor **head_w) {
    qt_tensor *hw = qt_linear_weight(ctx, &m->output);
    /* tied: the embedding reads the same (fake-quantized) matrix, as llama.cpp
     * reads token_embd rows from the one quantized tensor */
    qt_tensor *x = qt_embedding(ctx, m->cfg.tied ? hw : m->tok_emb, ids, B * T, T);
    if (qt_arch_is_decoder(m->cfg.arch)) {
        for (int i = 0; i < m->cfg.layers; i++) x = qt_block_forward(ctx, m, i, x, 0);
        x = qt_rmsnorm(ctx, x, m->norm, m->cfg.norm_eps);
    } else {
        x = qt_linear_forward(ctx, &m->fc2, qt_gelu(ctx, qt_linear_forward(ctx, &m->fc1, x)));
    }
    *head_w = hw;
    return x;
}

qt_tensor *qt_model_forward(qt_ctx *ctx, qt_model *m, const int32_t *ids, int B, int T) {
    qt_tensor *hw;
    qt_tensor *x = qt_model_hidden(ctx, m, ids, B, T, &hw);
    return qt_linear_apply(ctx, &m->output, hw, x);
}
