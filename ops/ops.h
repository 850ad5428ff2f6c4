/* qatc ops: each function computes its forward into a new arena tensor and
 * records a node whose backward accumulates input gradients. Shapes are
 * checked; a mismatch aborts with a message naming the op and both shapes. */
#ifndef QATC_OPS_H
#define QATC_OPS_H

#include "autograd/tensor.h"

/* ---- matmul.c ---- */
/* C = op(A)·op(B) for 2-D A, B; op transposes when the flag is set (through
 * cblas flags, never by copying). A with more than 2 dims is read as
 * [rows, cols] with rows = product of leading dims (when trans_a = 0). */
qt_tensor *qt_matmul(qt_ctx *ctx, qt_tensor *a, qt_tensor *b, int trans_a, int trans_b);
/* Batched: A [B, M, K] (or [B, K, M] if trans_a), B [B, K, N] (or [B, N, K]). */
qt_tensor *qt_bmm(qt_ctx *ctx, qt_tensor *a, qt_tensor *b, int trans_a, int trans_b);
/* y = x·Wᵀ for x [..., in] and W [out, in] (a Linear without bias). */
qt_tensor *qt_linear(qt_ctx *ctx, qt_tensor *x, qt_tensor *w);

/* ---- elementwise.c ---- */
/* a + b, a - b, a * b: b has a's shape, or is a row vector of a's last dim
 * (broadcast over rows), or has one element. */
qt_tensor *qt_add(qt_ctx *ctx, qt_tensor *a, qt_tensor *b);
qt_tensor *qt_sub(qt_ctx *ctx, qt_tensor *a, qt_tensor *b);
qt_tensor *qt_mul(qt_ctx *ctx, qt_tensor *a, qt_tensor *b);
/* a * s for a constant s. */
qt_tensor *qt_scale(qt_ctx *ctx, qt_tensor *a, float s);

/* ---- reduce.c ---- */
/* Sum and mean of all elements (scalar [1]). */
qt_tensor *qt_sum(qt_ctx *ctx, qt_tensor *a);
qt_tensor *qt_mean(qt_ctx *ctx, qt_tensor *a);

/* ---- softmax.c ---- */
/* Softmax and log-softmax along the last dim. */
qt_tensor *qt_softmax(qt_ctx *ctx, qt_tensor *a);
qt_tensor *qt_log_softmax(qt_ctx *ctx, qt_tensor *a);

/* ---- norm.c ---- */
/* RMSNorm over the last dim: x / sqrt(mean(x²) + eps) · w. */
qt_tensor *qt_rmsnorm(qt_ctx *ctx, qt_tensor *x, qt_tensor *w, float eps);
/* LayerNorm over the last dim: (x - mean) / sqrt(var + eps) · w + b (b may be NULL). */
qt_tensor *qt_layernorm(qt_ctx *ctx, qt_tensor *x, qt_tensor *w, qt_tensor *b, float eps);

/* ---- rope.c ---- */
/* Rotary embedding on x [B, T, H·hd] with adjacent pairs (x[2i], x[2i+1]) of
 * each head rotated by (pos0 + t)·theta^(-2i/hd) / div[i], llama.cpp's "llama"
 * convention (div [hd/2]: llama.cpp's rope_freqs; NULL = all 1). */
qt_tensor *qt_rope(qt_ctx *ctx, qt_tensor *x, int n_heads, float theta, const float *div, int pos0);

/* ---- attention.c ---- */
/* Causal multi-head attention, one fused op: q [B, T, H·hd], k and v
 * [B, T, KV·hd] with H a multiple of KV (query head h reads kv head
 * h / (H/KV)); scale 1/sqrt(hd). Returns [B, T, H·hd]. */
qt_tensor *qt_attention(qt_ctx *ctx, qt_tensor *q, qt_tensor *k, qt_tensor *v, int n_heads, int n_kv_heads);

/* ---- embedding.c ---- */
/* Rows of weight [V, D] picked by ids[0..n): returns [n/T, T, D] (or [n, D] if T == 0).
 * ids must stay valid until backward. Aborts on an id outside [0, V). */
qt_tensor *qt_embedding(qt_ctx *ctx, qt_tensor *weight, const int32_t *ids, int n, int T);

/* ---- loss.c, lm_loss.c ---- */
/* Mean cross-entropy of logits [N, V] (any leading dims) against targets[N];
 * a negative target is ignored (not counted in the mean). Fused log-softmax. */
qt_tensor *qt_cross_entropy(qt_ctx *ctx, qt_tensor *logits, const int32_t *targets);
/* Mean over rows of KL(softmax(t/T) ‖ softmax(s/T)) · T², teacher logits t,
 * student logits s (same shape). Gradients flow to both if they require it. */
qt_tensor *qt_kl_div(qt_ctx *ctx, qt_tensor *teacher, qt_tensor *student, float temperature);
/* Fused LM head + loss, for large vocabularies (lm_loss.c): */
/* Mean cross-entropy of the logits x·Wᵀ (x [..., D] read as [N, D], W [V, D]) against targets[N]
 * (a negative target is ignored, as in qt_cross_entropy), computed over chunks of rows so that at most
 * chunk×V logits exist at a time; backward recomputes each chunk's logits from x and W and accumulates
 * dx and dW with cblas_sgemm. Equal to qt_cross_entropy(qt_linear(x, W), targets). Chunk rows:
 * min(scored rows, max(2^24 / V, 256)) (ops/lm_loss.h); with one chunk, backward reuses the
 * forward's logits. Only scored rows are multiplied. targets must stay valid until backward. */
qt_tensor *qt_linear_cross_entropy(qt_ctx *ctx, qt_tensor *x, qt_tensor *w, const int32_t *targets);
/* Mean over rows of KL(softmax(xt·Wtᵀ/T) ‖ softmax(xs·Wsᵀ/T))·T², chunked the same way; equal to
 * qt_kl_div(qt_linear(xt, wt), qt_linear(xs, ws), T). Gradients flow to every input that requires them
 * (usually only the student's xs and ws). Teacher and student may differ in D, not in N or V.
 * Chunk rows: min(N, max(2^24 / (2·V), 256)) (two logits blocks per row). */
qt_tensor *qt_linear_kl_div(qt_ctx *ctx, qt_tensor *xt, qt_tensor *wt, qt_tensor *xs, qt_tensor *ws, float temperature);

/* ---- activation.c ---- */
qt_tensor *qt_silu(qt_ctx *ctx, qt_tensor *a);
/* silu(gate) * up, one fused op. */
qt_tensor *qt_swiglu(qt_ctx *ctx, qt_tensor *gate, qt_tensor *up);
/* GELU, tanh approximation. */
qt_tensor *qt_gelu(qt_ctx *ctx, qt_tensor *a);
qt_tensor *qt_relu(qt_ctx *ctx, qt_tensor *a);

/* ---- shape.c ---- */
/* Same data, new shape (element count must match). */
qt_tensor *qt_reshape(qt_ctx *ctx, qt_tensor *a, int ndim, const int *shape);
/* Swaps dims d0 and d1 (copying into a contiguous result). */
qt_tensor *qt_transpose(qt_ctx *ctx, qt_tensor *a, int d0, int d1);

#endif
