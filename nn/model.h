/* qatc nn: Linear, a Llama-style decoder and a small MLP, built on the ops.
 *
 * Parameter names follow the Meta/llama.cpp layout and never change:
 *   tok_embeddings.weight [V, D]
 *   layers.N.attention_norm.weight [D]
 *   layers.N.attention.{wq,wk,wv,wo}.weight   (wq [H·hd, D], wk/wv [KV·hd, D], wo [D, H·hd])
 *   layers.N.ffn_norm.weight [D]
 *   layers.N.feed_forward.{w1,w2,w3}.weight  (w1 gate [F, D], w2 down [D, F], w3 up [F, D])
 *   norm.weight [D], output.weight [V, D] (absent when tied: the output Linear's weight is tok_embeddings.weight)
 * Family extras: layers.N.attention.{wq,wk,wv}.bias [rows] (qwen2),
 *   layers.N.attention.{q_norm,k_norm}.weight [hd] (qwen3, RMSNorm of each head before rope).
 * q/k rows (and their biases and q/k norm weights) are in llama.cpp's "llama" rope order
 * (adjacent pairs) for every family; io/ permutes from/to HF's half-split order.
 * The "mlp" arch: tok_embeddings.weight, mlp.fc1.weight [F, D], mlp.fc2.weight [D, F],
 * output.weight [V, D] (a next-byte model from the current byte only). */
#ifndef QATC_NN_MODEL_H
#define QATC_NN_MODEL_H

#include "autograd/tensor.h"
#include "quant/ggml_blocks.h"

struct qt_quantizer;
struct qt_actquant;

/* Decoder families are named after Hugging Face's model_type; all share the
 * one forward (RMSNorm, RoPE, GQA, SwiGLU) with these switches:
 *   llama    Llama 1/2/3, SmolLM (rope_scaling "llama3" through rope_factor)
 *   mistral  llama's math; a sliding window that ctx must not exceed
 *   qwen2    q/k/v biases (qkv_bias)
 *   qwen3    per-head RMSNorm of q and k before rope (qk_norm), head_dim free */
typedef enum { QT_ARCH_LLAMA = 0, QT_ARCH_MLP = 1, QT_ARCH_MISTRAL = 2, QT_ARCH_QWEN2 = 3, QT_ARCH_QWEN3 = 4 } qt_arch;
#define QT_N_ARCHS 5

typedef struct qt_model_cfg {
    qt_arch arch;
    int dim, layers, heads, kv_heads, ffn, ctx, vocab;
    float rope_theta, norm_eps;
    int head_dim;        /* size of one head; 0 = dim / heads */
    int max_ctx;         /* positions the model supports (exported); 0 = ctx; ctx (the windows qatc runs) <= it */
    int tied;            /* the output Linear's weight is tok_embeddings.weight */
    int qkv_bias;        /* q/k/v projections have biases (qwen2) */
    int qk_norm;         /* per-head q/k RMSNorm (qwen3) */
    int sliding_window;  /* 0 = none; else ctx must not exceed it (attention is then plain causal) */
    /* rope_scaling "llama3" (rope_factor 0 = none): frequency i is divided by
     *   1 when its wavelength 2π/f < orig/high, rope_factor when > orig/low,
     *   else 1 / ((1 - s)/rope_factor + s), s = (orig/wavelength - low)/(high - low)
     * (HF _compute_llama3_parameters; llama.cpp's rope_freqs.weight holds the divisors) */
    float rope_factor, rope_low_freq, rope_high_freq;
    int rope_orig_ctx;
} qt_model_cfg;

/* The name of an arch ("llama", "mlp", "mistral", "qwen2", "qwen3"). */
const char *qt_arch_name(qt_arch a);
/* 1 for the decoder families (every arch but mlp). */
int qt_arch_is_decoder(qt_arch a);
/* The positions the model supports: max_ctx, or ctx when 0. */
int qt_model_max_ctx(const qt_model_cfg *cfg);
/* The head size: cfg->head_dim, or dim / heads when 0. */
int qt_model_head_dim(const qt_model_cfg *cfg);
/* The llama3 rope frequency divisors [head_dim/2] of cfg into out (all 1 without rope_factor). */
void qt_model_rope_divisors(const qt_model_cfg *cfg, float *out);

struct qt_linear_layer;
/* Calibration hook: called by qt_linear_forward with the Linear and the input
 * x [..., in] its weight multiplies (after activation fake-quant). */
typedef void (*qt_linear_hook)(void *user, struct qt_linear_layer *l, const qt_tensor *x);

/* A Linear y = x·Wᵀ (+ b when b is set) whose weight may be fake-quantized (wq) and
 * whose input may be fake-quantized (aq) in the forward. hook (NULL = none,
 * no cost) observes the input for PTQ calibration; clones do not copy it.
 *
 * A deployed model (a GGUF file, or a QAT model's frozen form) also rounds
 * each Linear's input as llama.cpp does for the weight's ggml type:
 * in_type (a qt_ggml_type, see qt_ggml_vec_dot_type) is
 *   QT_GGML_F32   no rounding (the default)
 *   QT_GGML_F16   each input value to the nearest fp16
 *   QT_GGML_Q8_0  blocks of 32: d = fp16(amax/127), q = round(x·127/amax), x̂ = q·d
 *   QT_GGML_Q8_1  the same x̂, and for Q4_1 weights (ŵ = d·q + m per block)
 *                 the min term uses s = fp16(d32·Σq) as llama.cpp's Q8_1
 *                 stores it: y = x̂·Ŵᵀ + Σ_blocks m·(s - fp16(d32)·Σq), with
 *                 in_mins the weight's per-32-block mins [out, in/32]
 * The rounding is straight-through; the min term has no gradient. */
typedef struct qt_linear_layer {
    qt_tensor *w;
    qt_tensor *b;     /* bias [out] or NULL; never quantized */
    struct qt_quantizer *wq;
    struct qt_actquant *aq;
    qt_linear_hook hook;
    void *hook_user;
    int in_type;      /* deployment input rounding (qt_ggml_type); QT_GGML_F32 = none */
    float *in_mins;   /* QT_GGML_Q8_1 only: owned per-block weight mins; else NULL */
} qt_linear_layer;

typedef struct qt_block {
    qt_tensor *attn_norm, *ffn_norm;
    qt_tensor *q_norm, *k_norm;   /* [head_dim] when cfg.qk_norm, else NULL */
    qt_linear_layer wq, wk, wv, wo, w1, w2, w3;
} qt_block;

typedef struct qt_model {
    qt_model_cfg cfg;
    qt_tensor *tok_emb, *norm;
    qt_block *blocks;
    qt_linear_layer fc1, fc2;   /* mlp arch */
    qt_linear_layer output;       /* output.w == tok_emb when cfg.tied */
    float *rope_div;              /* [head_dim/2] llama3 divisors, NULL without rope scaling */
    qt_tensor **params;   /* every parameter, in a fixed order */
    int n_params;
    qt_linear_layer **linears;  /* every Linear (quantization candidates), same order */
    int n_linears;
} qt_model;

/* One Linear of a model config: its weight's name and shape [rows, cols]. */
typedef struct qt_linear_info {
    char name[64];
    int rows, cols;
} qt_linear_info;

/* The Linears a model of cfg has, in the order of qt_model.linears (per
 * block wq wk wv wo w1 w2 w3, or mlp fc1 fc2; the output last: named
 * "tok_embeddings.weight" when tied), without allocating a model. Writes at
 * most cap; returns the count (7·layers + 1 for decoders, 3 for mlp). */
int qt_model_linear_infos(const qt_model_cfg *cfg, qt_linear_info *out, int cap);
/* Checks a config; returns 0 or -1 with a one-line reason in err. */
int qt_model_cfg_check(const qt_model_cfg *cfg, char *err, size_t errlen);
/* Allocates a model (parameters zeroed); the cfg must pass qt_model_cfg_check. */
qt_model *qt_model_new(const qt_model_cfg *cfg);
/* A deep copy of m's parameters and input rounding (quantizer pointers are
 * shared, not copied). */
qt_model *qt_model_clone(const qt_model *m);
/* Frees the model, its parameters and input rounding (not attached quantizers). */
void qt_model_free(qt_model *m);
/* Sets Linear l's deployment input rounding (see qt_linear_layer): type
 * QT_GGML_F32, F16, Q8_0 or Q8_1; for Q8_1, mins (the weight's rows·cols/32
 * per-block mins) is copied; otherwise it is ignored. */
void qt_linear_set_input_type(qt_linear_layer *l, int type, const float *mins);
/* Turns every Linear's input rounding off (QT_GGML_F32). */
void qt_model_clear_input_types(qt_model *m);
/* Seeded init: N(0, 0.02) weights, residual outputs scaled by 1/sqrt(2·layers), norms 1. */
void qt_model_init(qt_model *m, uint64_t seed);
/* Finds a parameter by name, or NULL. */
qt_tensor *qt_model_param(const qt_model *m, const char *name);
/* Finds a Linear by its weight's name, or NULL. */
qt_linear_layer *qt_model_linear(const qt_model *m, const char *weight_name);
/* Number of weights in the model. */
size_t qt_model_numel(const qt_model *m);

/* Linear forward: applies aq to x and wq to W when attached, then the input
 * rounding of l->in_type; adds the bias. */
qt_tensor *qt_linear_forward(qt_ctx *ctx, qt_linear_layer *l, qt_tensor *x);
/* The weight a Linear multiplies: W fake-quantized by wq when attached, else W. */
qt_tensor *qt_linear_weight(qt_ctx *ctx, qt_linear_layer *l);
/* The input a Linear multiplies: x fake-quantized by aq when attached, seen
 * by the calibration hook. (qt_linear_apply = this, the matmul, the input
 * rounding of in_type and the bias.) */
qt_tensor *qt_linear_input(qt_ctx *ctx, qt_linear_layer *l, qt_tensor *x);
/* qt_linear_forward with the weight w already from qt_linear_weight. */
qt_tensor *qt_linear_apply(qt_ctx *ctx, qt_linear_layer *l, qt_tensor *w, qt_tensor *x);
/* Decoder block `layer` of m on x [B, T, D], positions from pos0. */
qt_tensor *qt_block_forward(qt_ctx *ctx, qt_model *m, int layer, qt_tensor *x, int pos0);
/* Logits [B, T, V] for ids [B·T]. ids must live until backward. */
qt_tensor *qt_model_forward(qt_ctx *ctx, qt_model *m, const int32_t *ids, int B, int T);
/* The final hidden states [B, T, D] (after the last norm) and, in *head_w, the
 * output weight [V, D] to multiply them by (fake-quantized once, shared with
 * the embedding when tied): logits = qt_linear_apply(ctx, &m->output, *head_w, h).
 * Training uses it with qt_linear_input and qt_linear_cross_entropy, so the
 * logits are never whole (the output Linear has no bias and, in training, no
 * deployment input rounding). */
qt_tensor *qt_model_hidden(qt_ctx *ctx, qt_model *m, const int32_t *ids, int B, int T, qt_tensor **head_w);

#endif
