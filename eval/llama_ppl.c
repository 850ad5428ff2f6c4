/* llama.cpp-perplexity scoring: see eval/llama_ppl.h. */
#include "eval/llama_ppl.h"

#include <math.h>
#include <stdio.h>

/* Σ over t in [1, len) of -log softmax(z[t-1])[ids[t]], in double */
static double chunk_nll(const float *z, const int32_t *ids, int len, int V) {
    double s = 0.0;
    for (int t = 1; t < len; t++) {
        const float *zt = z + (size_t)(t - 1) * V;
        double mx = zt[0];
        for (int v = 1; v < V; v++) mx = zt[v] > mx ? zt[v] : mx;
        double e = 0.0;
        for (int v = 0; v < V; v++) e += exp((double)zt[v] - mx);
        s += mx + log(e) - (double)zt[ids[t]];
    }
    return s;
}

int qt_deploy_score(qt_ctx *ctx, qt_model *m, const int32_t *ids, long n, int N, double *nll_mean, long *n_scored,
                    char *err, size_t errlen) {
    const int V = m->cfg.vocab;
    if (!qt_arch_is_decoder(m->cfg.arch)) {
        snprintf(err, errlen, "score: only the llama arch is supported (this model is mlp)");
        return -1;
    }
    if (N < 2) {
        snprintf(err, errlen, "score: chunk length %d (expected >= 2)", N);
        return -1;
    }
    for (long i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= V) {
            snprintf(err, errlen, "score: token %ld is %d, outside the vocabulary [0, %d)", i, (int)ids[i], V);
            return -1;
        }
    long full = n / N, rest = n % N, cnt = 0;
    double sum = 0.0;
    const int batch = 4;
    qt_no_grad(ctx, 1);
    for (long c0 = 0; c0 < full; c0 += batch) {
        int B = (int)(full - c0 < batch ? full - c0 : batch);
        qt_ctx_reset(ctx);
        qt_tensor *z = qt_model_forward(ctx, m, ids + c0 * N, B, N);
        for (int b = 0; b < B; b++) sum += chunk_nll(z->data + (size_t)b * N * V, ids + (c0 + b) * N, N, V);
        cnt += (long)B * (N - 1);
    }
    if (rest >= 2) {
        qt_ctx_reset(ctx);
        qt_tensor *z = qt_model_forward(ctx, m, ids + full * N, 1, (int)rest);
        sum += chunk_nll(z->data, ids + full * N, (int)rest, V);
        cnt += rest - 1;
    }
    qt_no_grad(ctx, -1);
    qt_ctx_reset(ctx);
    if (!cnt) {
        snprintf(err, errlen, "score: %ld token ids give nothing to score (need at least 2)", n);
        return -1;
    }
    *nll_mean = sum / (double)cnt;
    *n_scored = cnt;
    return 0;
}
