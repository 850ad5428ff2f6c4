/* qatc eval/faithful: a model as a deployment runtime (llama.cpp) holds it,
 * and scoring token ids the way llama.cpp's perplexity does.
 *
 * A qt_deploy is a plain float Llama model whose Linear weights are the
 * dequantized stored values (exactly what the exported file holds) plus, per
 * Linear, how the runtime rounds that matmul's input:
 *   F32   nothing (F32 weights)
 *   F16   each input value to the nearest fp16 (F16 weights)
 *   Q8_0  blocks of 32: d = fp16(amax/127), q = round(x·127/amax), x̂ = q·d
 *         (Q8_0 and Q4_0 weights; see qt_act_quant_q8_blocks)
 *   Q8_1  the same x̂, and for Q4_1 weights (ŵ = d·q + m per block) the min
 *         term uses s = fp16(d32·Σq) as llama.cpp's Q8_1 stores it:
 *         y = x̂·Ŵᵀ + Σ_blocks m·(s - fp16(d32)·Σq)
 * With every mode F32 (non-faithful) the logits are those of the dequantized
 * model, i.e. of the fake-quant QAT model. */
#ifndef QATC_EVAL_FAITHFUL_H
#define QATC_EVAL_FAITHFUL_H

#include "nn/model.h"

typedef enum { QT_RT_F32 = 0, QT_RT_F16 = 1, QT_RT_Q8_0 = 2, QT_RT_Q8_1 = 3 } qt_rt_act;

typedef struct qt_deploy {
    qt_model *m;        /* owned; no quantizers attached */
    qt_rt_act *act;     /* [m->n_linears] input rounding per Linear */
    float **mins;       /* [m->n_linears]: QT_RT_Q8_1 only, the weight's per-32-block
                           mins [rows, cols/32]; else NULL */
} qt_deploy;

/* A deploy model around m (taken over, freed with the deploy), all modes F32. */
qt_deploy *qt_deploy_wrap(qt_model *m);
/* Frees d, its model and arrays (NULL is fine). */
void qt_deploy_free(qt_deploy *d);
/* From a QAT model (Linear weights with quantizers): weights replaced by the
 * frozen dequantized codes. With faithful, each quantized Linear gets the
 * rounding llama.cpp applies to the GGUF type that holds its spec: SYM →
 * Q8_0 blocks; FLOAT_MIN with group 32 → Q8_1; other grids → Q8_0.
 * Unquantized Linears stay F32. */
qt_deploy *qt_deploy_from_qat(const qt_model *qat, int faithful);
/* Sets every mode to F32 (turns faithful rounding off). */
void qt_deploy_unfaithful(qt_deploy *d);

/* Logits [B, T, V] of ids [B·T] (no grad, positions from 0). llama arch only. */
qt_tensor *qt_deploy_forward(qt_ctx *ctx, const qt_deploy *d, const int32_t *ids, int B, int T);

/* Scores ids[0..n) as llama.cpp's perplexity: consecutive chunks of N ids,
 * each from an empty context, the first id of each chunk not scored, a last
 * partial chunk scored when it has >= 2 ids. NLL per scored id in double.
 * Returns 0 and fills *nll_mean and *n_scored; -1 (message in err) when
 * nothing can be scored or an id is outside the vocabulary. */
int qt_deploy_score(qt_ctx *ctx, const qt_deploy *d, const int32_t *ids, long n, int N, double *nll_mean,
                    long *n_scored, char *err, size_t errlen);

#endif
