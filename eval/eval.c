#include "eval/eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

static double row_lse(const float *z, int V) {
    float mx = z[0];
    for (int j = 1; j < V; j++) mx = z[j] > mx ? z[j] : mx;
    double s = 0.0;
    for (int j = 0; j < V; j++) s += exp((double)(z[j] - mx));
    return mx + log(s);
}

static int argmax(const float *z, int V) {
    int best = 0;
    for (int j = 1; j < V; j++)
        if (z[j] > z[best]) best = j;
    return best;
}

qt_lm_score qt_eval_lm(qt_ctx *ctx, qt_model *m, qt_model *ref, const int32_t *tokens, long n, int T, int batch) {
    qt_lm_score s = {0};
    int V = m->cfg.vocab;
    int32_t *x = malloc((size_t)batch * T * sizeof *x);
    double nll = 0.0, kl = 0.0;
    long agree = 0;
    qt_no_grad(ctx, 1);
    for (long start = 0; start + 1 < n;) {
        /* fill up to `batch` windows; all rows share one length Tw */
        long left = n - start - 1;
        int Tw = left >= T ? T : (int)left;
        int rows = 0;
        while (rows < batch && start + 1 < n && n - start - 1 >= Tw) {
            memcpy(x + (size_t)rows * Tw, tokens + start, (size_t)Tw * sizeof *x);
            rows++;
            start += Tw;
        }
        qt_ctx_reset(ctx);
        qt_tensor *z = qt_model_forward(ctx, m, x, rows, Tw);
        qt_tensor *zr = ref ? qt_model_forward(ctx, ref, x, rows, Tw) : NULL;
        for (int r = 0; r < rows; r++) {
            long base = start - (long)(rows - r) * Tw;
            for (int t = 0; t < Tw; t++) {
                const float *zt = z->data + ((size_t)r * Tw + t) * V;
                int target = tokens[base + t + 1];
                double lse = row_lse(zt, V);
                nll += lse - zt[target];
                if (zr) {
                    const float *rt = zr->data + ((size_t)r * Tw + t) * V;
                    double lr = row_lse(rt, V), k = 0.0;
                    for (int j = 0; j < V; j++) {
                        double lpr = rt[j] - lr;
                        k += exp(lpr) * (lpr - (zt[j] - lse));
                    }
                    kl += k;
                    agree += argmax(zt, V) == argmax(rt, V);
                }
                s.n_scored++;
            }
        }
    }
    qt_no_grad(ctx, -1);
    free(x);
    if (s.n_scored) {
        s.nll = nll / s.n_scored;
        s.bpb = s.nll / log(2.0);
        s.ppl = exp(s.nll);
        s.kl = ref ? kl / s.n_scored : 0.0;
        s.top1 = ref ? (double)agree / s.n_scored : 0.0;
    }
    return s;
}

/* the outcome's margin at one answer position (see qt_eval_exact_match_items) */
static float decision_gap(const float *z, int V, int target) {
    int best = argmax(z, V);
    if (best != target) return z[best] - z[target];
    float other = -INFINITY;
    for (int j = 0; j < V; j++)
        if (j != target && z[j] > other) other = z[j];
    return z[target] - other;
}

double qt_eval_exact_match(qt_ctx *ctx, qt_model *m, const char *const *prompts, const char *const *answers, int n,
                           int batch) {
    return qt_eval_exact_match_items(ctx, m, prompts, answers, n, batch, NULL, NULL);
}

double qt_eval_exact_match_items(qt_ctx *ctx, qt_model *m, const char *const *prompts, const char *const *answers,
                                 int n, int batch, int *item_ok, float *item_margin) {
    int V = m->cfg.vocab, ctxlen = m->cfg.ctx;
    int correct = 0;
    int32_t *x = malloc((size_t)batch * ctxlen * sizeof *x);
    int *ofs = malloc((size_t)batch * sizeof *ofs), *plen = malloc((size_t)batch * sizeof *plen);
    int *alen = malloc((size_t)batch * sizeof *alen);
    qt_no_grad(ctx, 1);
    for (int i0 = 0; i0 < n; i0 += batch) {
        int rows = n - i0 < batch ? n - i0 : batch, Tmax = 2;
        for (int r = 0; r < rows; r++) {
            int lp = (int)strlen(prompts[i0 + r]), la = (int)strlen(answers[i0 + r]);
            int len = lp + la - 1; /* the last answer byte is predicted, never fed */
            ofs[r] = len > ctxlen ? len - ctxlen : 0;
            plen[r] = lp;
            alen[r] = la;
            int used = len - ofs[r];
            if (used > Tmax) Tmax = used;
        }
        for (int r = 0; r < rows; r++) {
            const char *p = prompts[i0 + r], *a = answers[i0 + r];
            for (int t = 0; t < Tmax; t++) {
                int k = ofs[r] + t; /* index into prompt+answer */
                int c = k < plen[r] ? (unsigned char)p[k] : k < plen[r] + alen[r] ? (unsigned char)a[k - plen[r]] : 0;
                x[(size_t)r * Tmax + t] = c % V;
            }
        }
        qt_ctx_reset(ctx);
        qt_tensor *z = qt_model_forward(ctx, m, x, rows, Tmax);
        for (int r = 0; r < rows; r++) {
            int ok = alen[r] > 0;
            float margin = INFINITY;
            for (int j = 0; j < alen[r] && ok; j++) {
                int pos = plen[r] + j - 1 - ofs[r]; /* position whose logits predict answer byte j */
                if (pos < 0) { ok = 0; break; }
                const float *zr = z->data + ((size_t)r * Tmax + pos) * V;
                int target = (unsigned char)answers[i0 + r][j];
                ok = argmax(zr, V) == target;
                if (item_margin) {
                    float gap = decision_gap(zr, V, target);
                    if (gap < margin) margin = gap;
                }
            }
            correct += ok;
            if (item_ok) item_ok[i0 + r] = ok;
            if (item_margin) item_margin[i0 + r] = margin;
        }
    }
    qt_no_grad(ctx, -1);
    free(x);
    free(ofs);
    free(plen);
    free(alen);
    return n ? (double)correct / n : 0.0;
}
