/* qatc nn: Linear, a Llama-style decoder and a small MLP, built on the ops.
 *
 * Parameter names follow the Meta/llama.cpp layout and never change:
 *   tok_embeddings.weight [V, D]
 *   layers.N.attention_norm.weight [D]
 *   layers.N.attention.{wq,wk,wv,wo}.weight   (wq [H·hd, D], wk/wv [KV·hd, D], wo [D, H·hd])
 *   layers.N.ffn_norm.weight [D]
 *   layers.N.feed_forward.{w1,w2,w3}.weight  (w1 gate [F, D], w2 down [D, F], w3 up [F, D])
 *   norm.weight [D], output.weight [V, D]
 * The "mlp" arch: tok_embeddings.weight, mlp.fc1.weight [F, D], mlp.fc2.weight [D, F],
 * output.weight [V, D] (a next-byte model from the current byte only). */
#ifndef QATC_NN_MODEL_H
#define QATC_NN_MODEL_H

#include "autograd/tensor.h"

struct qt_quantizer;
struct qt_actquant;

typedef enum { QT_ARCH_LLAMA = 0, QT_ARCH_MLP = 1 } qt_arch;

typedef struct qt_model_cfg {
    qt_arch arch;
    int dim, layers, heads, kv_heads, ffn, ctx, vocab;
    float rope_theta, norm_eps;
} qt_model_cfg;

struct qt_linear_layer;
/* Calibration hook: called by qt_linear_forward with the Linear and the input
 * x [..., in] its weight multiplies (after activation fake-quant). */
typedef void (*qt_linear_hook)(void *user, struct qt_linear_layer *l, const qt_tensor *x);

/* A bias-free Linear y = x·Wᵀ whose weight may be fake-quantized (wq) and
 * whose input may be fake-quantized (aq) in the forward. hook (NULL = none,
 * no cost) observes the input for PTQ calibration; clones do not copy it. */
typedef struct qt_linear_layer {
    qt_tensor *w;
    struct qt_quantizer *wq;
    struct qt_actquant *aq;
    qt_linear_hook hook;
    void *hook_user;
} qt_linear_layer;

typedef struct qt_block {
    qt_tensor *attn_norm, *ffn_norm;
    qt_linear_layer wq, wk, wv, wo, w1, w2, w3;
} qt_block;

typedef struct qt_model {
    qt_model_cfg cfg;
    qt_tensor *tok_emb, *norm;
    qt_block *blocks;
    qt_linear_layer fc1, fc2;   /* mlp arch */
    qt_linear_layer output;
    qt_tensor **params;   /* every parameter, in a fixed order */
    int n_params;
    qt_linear_layer **linears;  /* every Linear (quantization candidates), same order */
    int n_linears;
} qt_model;

/* Checks a config; returns 0 or -1 with a one-line reason in err. */
int qt_model_cfg_check(const qt_model_cfg *cfg, char *err, size_t errlen);
/* Allocates a model (parameters zeroed); the cfg must pass qt_model_cfg_check. */
qt_model *qt_model_new(const qt_model_cfg *cfg);
/* A deep copy of m's parameters (quantizer pointers are shared, not copied). */
qt_model *qt_model_clone(const qt_model *m);
/* Frees the model and its parameters (not attached quantizers). */
void qt_model_free(qt_model *m);
/* Seeded init: N(0, 0.02) weights, residual outputs scaled by 1/sqrt(2·layers), norms 1. */
void qt_model_init(qt_model *m, uint64_t seed);
/* Finds a parameter by name, or NULL. */
qt_tensor *qt_model_param(const qt_model *m, const char *name);
/* Finds a Linear by its weight's name, or NULL. */
qt_linear_layer *qt_model_linear(const qt_model *m, const char *weight_name);
/* Number of weights in the model. */
size_t qt_model_numel(const qt_model *m);

/* Linear forward: applies aq to x and wq to W when attached. */
qt_tensor *qt_linear_forward(qt_ctx *ctx, qt_linear_layer *l, qt_tensor *x);
/* One decoder block on x [B, T, D], positions from pos0. */
qt_tensor *qt_block_forward(qt_ctx *ctx, const qt_model_cfg *cfg, qt_block *blk, qt_tensor *x, int pos0);
/* Logits [B, T, V] for ids [B·T]. ids must live until backward. */
qt_tensor *qt_model_forward(qt_ctx *ctx, qt_model *m, const int32_t *ids, int B, int T);

#endif
