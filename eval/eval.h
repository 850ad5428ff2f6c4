/* qatc eval: perplexity / bits-per-byte, agreement with a reference model,
 * and exact-match suites. Every function runs the model in no-grad mode on the
 * given context (whose arena it resets). */
#ifndef QATC_EVAL_H
#define QATC_EVAL_H

#include "data/tokenizer.h"
#include "nn/model.h"

typedef struct qt_lm_score {
    double nll;      /* mean next-token NLL in nats */
    double bpb;      /* nll / ln 2: bits per token, which is bits per byte with the byte
                        tokenizer (else divide by the bytes per token of the text) */
    double ppl;      /* exp(nll) */
    double kl;       /* mean KL(ref ‖ model) per token, nats; 0 without a reference */
    double top1;     /* share of positions where argmax agrees with the reference */
    long n_scored;
} qt_lm_score;

/* Scores tokens[0..n) in consecutive windows of T+1 tokens (T predictions
 * each, windows of `batch` rows at a time; a last partial window counts when
 * it has ≥ 2 tokens). With ref non-NULL also KL(ref ‖ model) and top-1
 * agreement on the same positions. */
qt_lm_score qt_eval_lm(qt_ctx *ctx, qt_model *m, qt_model *ref, const int32_t *tokens, long n, int T, int batch);

/* Exact match of n items: prompt and answer are tokenized separately by tok
 * (NULL: bytes; BOS before the prompt when the tokenizer adds one, as
 * llama.cpp does), and an item counts when the model's greedy choice at every
 * answer position, given the prompt and the answer so far, is the answer's
 * token (equivalent to greedy decoding of the answer's length, computed with
 * one teacher-forced forward per item). Items longer than the model's ctx
 * keep their last ctx tokens. Returns the share in [0, 1]. */
double qt_eval_exact_match(qt_ctx *ctx, qt_model *m, const qd_tokenizer *tok, const char *const *prompts,
                           const char *const *answers, int n, int batch);
/* The same, item by item: item_ok[i] is 1 when item i counts, and
 * item_margin[i] its decision margin in logits: the smallest, over the answer
 * positions up to the first wrong one, of the gap between the answer token's
 * logit and the best other logit (the winner's lead over the answer token at a
 * wrong position). A perturbation of the logits smaller than half the margin
 * cannot change the item's outcome. Either array may be NULL. */
double qt_eval_exact_match_items(qt_ctx *ctx, qt_model *m, const qd_tokenizer *tok, const char *const *prompts,
                                 const char *const *answers, int n, int batch, int *item_ok, float *item_margin);

#endif
