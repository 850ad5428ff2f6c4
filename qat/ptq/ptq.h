/* qatc PTQ: post-training quantization baselines on the same model, spec and
 * quantized-weight object as QAT.
 *
 * Every method ends the same way: the model's quantized Linears carry a
 * qt_quantizer (attached by qt_policy_apply) whose scale/offset hold the
 * method's chosen per-group parameters, and their FP32 weights are such that
 * qt_freeze(w, wq) gives the method's codes. So qt_model_freeze, the eval and
 * the exporters consume a PTQ model unchanged, and QAT can start from it.
 *
 *   RTN          the policy's initialiser (absmax or MSE clipping search).
 *   GPTQ         Frantar et al. 2022: per Linear H = 2/N Σ x xᵀ from the
 *                calibration inputs the Linear sees in the partly quantized
 *                model (Linears processed in model order, those sharing an
 *                input together: q/k/v, o, w1/w3, w2), percdamp·mean(diag H)
 *                added to the diagonal, the upper Cholesky factor of H⁻¹ by
 *                LAPACK (double), columns quantized one by one with error
 *                feedback in lazy blocks of 128. Group parameters are found by
 *                the policy's initialiser when the column opens a group, on
 *                the current (error-updated) weights; with act_order (columns
 *                by descending diag H) they are found up front on the
 *                original weights ("static groups"), so groups stay contiguous
 *                in the original column order and the layout is unchanged.
 *                The weight becomes the dequantized result. Llama blocks run
 *                on cached hidden states of the calibration set (one block
 *                forward per group, not a whole-model forward; bit-identical).
 *   AWQ          Lin et al. 2023: s = mean|x|^α per input channel, or
 *                AutoAWQ's duo scaling mean|x|^α / wmean^(1-α) (normalised by
 *                sqrt(max s · min s)); α on a grid of n_grid values in [0, 1),
 *                both forms, the one minimising the output MSE of the Linears
 *                sharing the input (computed exactly from XᵀX, each candidate
 *                quantized with the policy's initialiser) wins; s folded into
 *                the preceding op (RMSNorm weight before q/k/v and w1/w3, the
 *                rows of wv before wo when kv_heads == heads, the rows of w3
 *                before w2); then a per-group clipping search minimising the
 *                output error (wq, wk keep the policy initialiser).
 *   SmoothQuant  Xiao et al. 2022, for W8A8: s_j = max|x_j|^α / max|W_:,j|^(1-α)
 *                folded at the same places as AWQ, then RTN; static activation
 *                scales are calibrated on the calibration set.
 *   llama.cpp   what `llama-quantize` writes from the same FP32 weights: each
 *                quantized Linear at the ggml type that holds its spec (the
 *                preset's mixture), quantized by ggml_quantize_chunk's
 *                algorithm (quant/ggml_blocks.h, bit for bit), with or without
 *                an importance matrix: per input column the mean of x² over
 *                the calibration tokens (llama-imatrix's in_sum2 / counts).
 *                The weights become the decoded blocks and no quantizer is
 *                attached: the result is a float model computing what
 *                llama.cpp's file computes.
 * All folds are exact in real arithmetic: the FP32 model computes the same
 * function (tests/test_awq_ptq.c, tests/test_smoothquant.c). */
#ifndef QATC_QAT_PTQ_H
#define QATC_QAT_PTQ_H

#include <stdint.h>
#include <stdio.h>

#include "data/dataset.h"
#include "nn/model.h"
#include "qat/policy.h"
#include "quant/quant.h"

/* ---- calibration data (calib.c) ---- */
typedef struct qt_calib {
    int32_t *tok;   /* nseq·T token ids, sequence i at tok + i·T */
    int nseq, T;
} qt_calib;

/* nseq random windows of T tokens from the mixture (deterministic in seed). */
int qt_calib_from_mix(const qd_mix *mix, int nseq, int T, uint64_t seed, qt_calib *out, char *err, size_t errlen);
/* nseq random windows of T tokens from a token array (n >= T + 1). */
int qt_calib_from_tokens(const int32_t *tok, size_t n, int nseq, int T, uint64_t seed, qt_calib *out, char *err,
                         size_t errlen);
/* Frees the tokens and zeroes c. */
void qt_calib_free(qt_calib *c);

/* Input statistics of one Linear over the calibration set. */
typedef struct qt_calib_stats {
    int in;           /* input features */
    long n;           /* rows (tokens) seen */
    double *xtx;      /* [in·in] Σ x xᵀ (symmetric, full), or NULL when not asked */
    double *abs_sum;  /* [in] Σ |x_j| */
    double *sq_sum;   /* [in] Σ x_j² (llama.cpp's importance matrix: in_sum2) */
    float *abs_max;   /* [in] max |x_j| */
} qt_calib_stats;

/* Runs m (no grad) over the calibration sequences, `batch` sequences per
 * forward, and fills stats[j] for every Linear j of m->linears with want[j]
 * != 0 (stats has m->n_linears entries; XᵀX only with want_xtx). Linears that
 * read the same input tensor share one XᵀX computation. Hooks are removed on
 * return. Returns 0, or -1 with a message. */
int qt_calib_collect(qt_model *m, const qt_calib *c, int batch, const int *want, int want_xtx, qt_calib_stats *stats,
                     char *err, size_t errlen);
/* Cached hidden states for block-by-block calibration (llama only): a new
 * malloc'd [nseq·T·dim] array holding the token embeddings of the calibration
 * set, or NULL (other arch, or out of memory). */
float *qt_calib_hidden_new(qt_model *m, const qt_calib *c, int batch);
/* qt_calib_collect restricted to block `layer`, run on the cached hidden
 * states x (its input); only Linears of that block can be wanted. The stats
 * equal those of a whole-model forward whose earlier blocks produced x. */
int qt_calib_collect_block(qt_model *m, const qt_calib *c, int batch, int layer, float *x, const int *want,
                           int want_xtx, qt_calib_stats *stats);
/* Replaces x by the output of block `layer` on it (the next block's input);
 * layer -1 writes the token embeddings of the calibration set. */
void qt_calib_hidden_advance(qt_model *m, const qt_calib *c, int batch, int layer, float *x);
/* Frees the arrays of n stats. */
void qt_calib_stats_free(qt_calib_stats *stats, int n);
/* Sets every static activation quantizer of m to max|x|/Qp over the
 * calibration set (inputs measured with activation quantization off). */
int qt_calib_act_scales(qt_model *m, const qt_calib *c, int batch, char *err, size_t errlen);

/* ---- llama.cpp's own quantization (llamacpp.c) ---- */
/* The sums behind an importance matrix: qt_calib_collect of m (no XᵀX) over
 * the calibration set for the Linears in want; st[j].sq_sum is llama-imatrix's
 * in_sum2 (Σ x² per input column, in double) and st[j].n its count (tokens).
 * Free with qt_calib_stats_free. Returns 0, or -1 with a message. */
int qt_imatrix_stats(qt_model *m, const qt_calib *c, const int *want, qt_calib_stats *st, char *err, size_t errlen);
/* The importance matrix of every Linear of m over the calibration set: a
 * malloc'd array of m->n_linears pointers, entry j the [in] means of Linear
 * j's inputs (NULL for Linears not in want), computed as llama-quantize does
 * from an imatrix file: float(in_sum2) / float(count), in float, so that the
 * PTQ llamacpp result equals llama-quantize --imatrix with the file
 * qt_imatrix_export writes. Free with qt_imatrix_free. Returns NULL with a
 * message on failure. */
float **qt_imatrix_collect(qt_model *m, const qt_calib *c, const int *want, long *tokens, char *err, size_t errlen);
/* Frees an importance matrix of n Linears. */
void qt_imatrix_free(float **imx, int n);
/* llama.cpp's quantization of m in place (see the top): every Linear the
 * rules quantize gets the blocks of the ggml type holding its spec, from
 * its FP32 weights, with imatrix (may be NULL; from qt_imatrix_collect) as
 * llama-quantize --imatrix uses it; the weights become the decoded values.
 * *bytes gets the deployed size (those blocks, 2-D floats as fp16, 1-D as
 * fp32). Logs the types to log (may be NULL). Returns 0, or -1 naming a
 * tensor no type holds. */
int qt_ptq_llamacpp(qt_model *m, const qt_quant_rules *qc, float *const *imatrix, FILE *log, double *bytes,
                    char *err, size_t errlen);
/* The blocks llama-quantize writes for Linear j of m (what qt_ptq_llamacpp
 * decodes into its weights): its ggml type under the rules (with imatrix,
 * may be NULL, the preset's importance-matrix rules apply) in *type, and
 * rows·cols/block·type_size bytes in a new *blocks (caller frees; *nbytes).
 * Returns 1, 0 when the rules keep the weight in float, or -1 naming it. */
int qt_ptq_llamacpp_blocks(const qt_model *m, const qt_quant_rules *qc, int j, const float *imatrix, int *type,
                           uint8_t **blocks, size_t *nbytes, char *err, size_t errlen);

/* ---- GPTQ (gptq.c) ---- */
typedef struct qt_gptq_opts {
    double percdamp;  /* dampening as a fraction of mean(diag H), e.g. 0.01 */
    int act_order;    /* 1: columns by descending diag H (static groups) */
    int blocksize;    /* lazy batch size; <= 0 means 128 */
    int no_cache;     /* 1: a whole-model forward per group of Linears instead of
                         running each block on cached hidden states (same result,
                         O(layers²) forwards; the reference path for tests) */
} qt_gptq_opts;

/* GPTQ of one weight w [rows, cols] given H [cols·cols] (row-major, double,
 * any positive multiple of Σ x xᵀ; not modified). q must be a quantizer for w;
 * init_mse picks the group-parameter finder (MSE search or absmax). On return
 * q's scale/offset hold the chosen parameters and w the dequantized weights
 * (so qt_freeze(w, q) reproduces the codes); codes (may be NULL) receives the
 * rows·cols unsigned codes. Returns 0, or -1 when H is not positive definite
 * after dampening. */
int qt_gptq_weight(qt_tensor *w, qt_quantizer *q, const double *H, const qt_gptq_opts *o, int init_mse,
                   uint8_t *codes, char *err, size_t errlen);

/* GPTQ of a whole model: attaches the policy's quantizers, then quantizes
 * every quantized Linear in model order from calibration inputs that pass
 * through the already-quantized Linears. Logs one line per Linear to log
 * (may be NULL). Returns 0, or -1 with a message. */
int qt_ptq_gptq(qt_model *m, const qt_quant_rules *qc, const qt_calib *c, const qt_gptq_opts *o, FILE *log, char *err,
                size_t errlen);

/* ---- RTN (rtn.c) ---- */
/* Attaches the policy's quantizers (absmax or MSE init) and, for static
 * activation quantizers, calibrates their scales on c (may be NULL). */
int qt_ptq_rtn(qt_model *m, const qt_quant_rules *qc, const qt_calib *c, FILE *log, char *err, size_t errlen);

/* ---- folding (awq.c) ---- */
/* Divides the preceding op by s and multiplies the columns of the Linears
 * that read its output by s, for input group `site` of block `layer`:
 * QT_FOLD_ATTN_NORM (q/k/v), QT_FOLD_V_O (wo; needs kv_heads == heads),
 * QT_FOLD_FFN_NORM (w1/w3), QT_FOLD_UP_DOWN (w2). s has the Linears' input
 * size. Returns 0, or -1 when the site cannot be folded in this model. */
typedef enum { QT_FOLD_ATTN_NORM = 0, QT_FOLD_V_O = 1, QT_FOLD_FFN_NORM = 2, QT_FOLD_UP_DOWN = 3 } qt_fold_site;
int qt_fold_scales(qt_model *m, int layer, qt_fold_site site, const float *s);
/* The Linears reading the input of a fold site (up to 3; returns the count). */
int qt_fold_linears(qt_model *m, int layer, qt_fold_site site, qt_linear_layer **out);

/* ---- AWQ (awq.c) ---- */
typedef struct qt_awq_opts {
    int n_grid;   /* α grid size (α = k/n_grid, k = 0..n_grid-1); <= 0 means 20 */
    int clip;     /* 1: per-group clipping search on the output error */
} qt_awq_opts;

/* α search for Linears ls[0..n) reading one input with statistics st (xtx and
 * abs_sum): for each α = k/n_grid two scalings are tried, s = mean|x|^α and
 * AutoAWQ's duo scaling s = mean|x|^α / wmean^(1-α) (wmean: per input channel,
 * the mean of |w| / its group's max|w|); W·diag(s) is fake-quantized with a
 * fresh quantizer of its spec (init absmax or MSE as init_mse says), scaled
 * back by 1/s, and the output MSE Σ_l tr(ΔW_l XᵀX ΔW_lᵀ)/(N·Σ rows) is
 * recorded in losses[k] (x only) and losses[n_grid + k] (duo); losses may be
 * NULL, else 2·n_grid entries. α = 0 without duo is plain RTN (s = 1). Writes
 * the best s to s_out [in] and whether it is a duo scaling to *duo (may be
 * NULL); returns its α. */
double qt_awq_search(qt_linear_layer *const *ls, int n, const qt_quant_spec *specs, int init_mse,
                     const qt_calib_stats *st, int n_grid, float *s_out, double *losses, int *duo);
/* AWQ of a whole model (see the top of this file). */
int qt_ptq_awq(qt_model *m, const qt_quant_rules *qc, const qt_calib *c, const qt_awq_opts *o, FILE *log, char *err,
               size_t errlen);

/* ---- SmoothQuant (smoothquant.c) ---- */
/* The SmoothQuant factors for Linears ls[0..n) reading one input with
 * per-channel max |x| act_max [in]: s_j = act_max_j^α / max_l max_r |W_l[r,j]|^(1-α),
 * clamped to >= 1e-5 (channels with no signal get 1). */
void qt_smoothquant_factors(qt_linear_layer *const *ls, int n, const float *act_max, double alpha, float *s_out);
/* SmoothQuant of a whole model: smoothing folded at every fold site, then RTN
 * by the policy, static activation scales calibrated on c. */
int qt_ptq_smoothquant(qt_model *m, const qt_quant_rules *qc, const qt_calib *c, double alpha, FILE *log, char *err,
                       size_t errlen);

#endif
