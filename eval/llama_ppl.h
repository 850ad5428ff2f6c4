/* qatc eval/llama_ppl: scoring token ids the way llama.cpp's perplexity does,
 * on a deployed model: a qt_model whose Linears round their inputs as
 * llama.cpp does (qt_linear_layer's in_type), from a GGUF file
 * (qt_import_gguf) or a QAT model (qt_model_deploy). With every input type
 * F32 (non-faithful) the logits are those of the dequantized model, i.e. of
 * the fake-quant QAT model. */
#ifndef QATC_EVAL_LLAMA_PPL_H
#define QATC_EVAL_LLAMA_PPL_H

#include "nn/model.h"

/* Scores ids[0..n) with m (llama arch) as llama.cpp's perplexity:
 * consecutive chunks of N ids, each from an empty context, the first id of
 * each chunk not scored, a last partial chunk scored when it has >= 2 ids.
 * NLL per scored id in double, no grad. Returns 0 and fills *nll_mean and
 * *n_scored; -1 (message in err) when nothing can be scored or an id is
 * outside the vocabulary. */
int qt_deploy_score(qt_ctx *ctx, qt_model *m, const int32_t *ids, long n, int N, double *nll_mean, long *n_scored,
                    char *err, size_t errlen);

#endif
