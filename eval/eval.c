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

/* Rows per forward so that one batch's logits [rows, T, V] stay within 2^25
 * floats (128 MiB): at real vocabularies (32k-152k) a full batch would not fit. */
static int rows_within(int batch, int T, int V) {
    long cap = (1L << 25) / ((long)T * V);
    return cap < 1 ? 1 : cap < batch ? (int)cap : batch;
}

qt_lm_score qt_eval_lm(qt_ctx *ctx, qt_model *m, qt_model *ref, const int32_t *tokens, long n, int T, int batch) {
    qt_lm_score s = {0};
    int V = m->cfg.vocab;
    batch = rows_within(batch, T, V);
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

/* The gap between the answer token's logit and the best other one (the
 * winner's lead over it when it is not the argmax). */
static float decision_gap(const float *z, int V, int target) {
    int best = argmax(z, V);
    if (best != target) return z[best] - z[target];
    float other = -INFINITY;
    for (int j = 0; j < V; j++)
        if (j != target && z[j] > other) other = z[j];
    return z[target] - other;
}

/* The ids of a prompt (BOS first when the tokenizer adds one) and of its
 * answer; bytes when tok is NULL. */
static int item_ids(const qd_tokenizer *tok, const char *prompt, const char *answer, qd_ids *p, qd_ids *a) {
    char e[256];
    if (!tok) {
        for (const char *c = prompt; *c; c++)
            if (qd_ids_push(p, (unsigned char)*c, e, sizeof e)) return -1;
        for (const char *c = answer; *c; c++)
            if (qd_ids_push(a, (unsigned char)*c, e, sizeof e)) return -1;
        return 0;
    }
    if (qd_tokenizer_add_bos(tok) && qd_tokenizer_bos(tok) >= 0 && qd_ids_push(p, qd_tokenizer_bos(tok), e, sizeof e))
        return -1;
    return qd_tokenizer_encode_pair(tok, prompt, strlen(prompt), answer, strlen(answer), p, a, e, sizeof e);
}

double qt_eval_exact_match(qt_ctx *ctx, qt_model *m, const qd_tokenizer *tok, const char *const *prompts,
                           const char *const *answers, int n, int batch) {
    return qt_eval_exact_match_items(ctx, m, tok, prompts, answers, n, batch, NULL, NULL);
}

double qt_eval_exact_match_items(qt_ctx *ctx, qt_model *m, const qd_tokenizer *tok, const char *const *prompts,
                                 const char *const *answers, int n, int batch, int *item_ok, float *item_margin) {
    int V = m->cfg.vocab, ctxlen = m->cfg.ctx;
    int correct = 0;
    batch = rows_within(batch, ctxlen, V);
    int32_t *x = malloc((size_t)batch * ctxlen * sizeof *x);
    int *ofs = malloc((size_t)batch * sizeof *ofs), *plen = malloc((size_t)batch * sizeof *plen);
    int *alen = malloc((size_t)batch * sizeof *alen);
    qd_ids *pid = calloc((size_t)batch, sizeof *pid), *aid = calloc((size_t)batch, sizeof *aid);
    if (!x || !ofs || !plen || !alen || !pid || !aid) qt_die("out of memory");
    qt_no_grad(ctx, 1);
    for (int i0 = 0; i0 < n; i0 += batch) {
        int rows = n - i0 < batch ? n - i0 : batch, Tmax = 2;
        for (int r = 0; r < rows; r++) {
            pid[r].n = aid[r].n = 0;
            if (item_ids(tok, prompts[i0 + r], answers[i0 + r], &pid[r], &aid[r])) qt_die("exact match: out of memory");
            int lp = (int)pid[r].n, la = (int)aid[r].n;
            int len = lp + la - 1; /* the last answer token is predicted, never fed */
            ofs[r] = len > ctxlen ? len - ctxlen : 0;
            plen[r] = lp;
            alen[r] = la;
            int used = len - ofs[r];
            if (used > Tmax) Tmax = used;
        }
        for (int r = 0; r < rows; r++) {
            for (int t = 0; t < Tmax; t++) {
                int k = ofs[r] + t; /* index into prompt+answer */
                int c = k < plen[r] ? pid[r].v[k] : k < plen[r] + alen[r] ? aid[r].v[k - plen[r]] : 0;
                x[(size_t)r * Tmax + t] = c % V;
            }
        }
        qt_ctx_reset(ctx);
        qt_tensor *z = qt_model_forward(ctx, m, x, rows, Tmax);
        for (int r = 0; r < rows; r++) {
            int ok = alen[r] > 0;
            float margin = INFINITY;
            for (int j = 0; j < alen[r] && ok; j++) {
                int pos = plen[r] + j - 1 - ofs[r]; /* position whose logits predict answer token j */
                if (pos < 0) { ok = 0; break; }
                const float *zr = z->data + ((size_t)r * Tmax + pos) * V;
                ok = argmax(zr, V) == aid[r].v[j];
                if (item_margin) {
                    float g = decision_gap(zr, V, aid[r].v[j]);
                    if (g < margin) margin = g;
                }
            }
            correct += ok;
            if (item_ok) item_ok[i0 + r] = ok;
            if (item_margin) item_margin[i0 + r] = margin;
        }
    }
    qt_no_grad(ctx, -1);
    for (int r = 0; r < batch; r++) {
        qd_ids_free(&pid[r]);
        qd_ids_free(&aid[r]);
    }
    free(pid);
    free(aid);
    free(x);
    free(ofs);
    free(plen);
    free(alen);
    return n ? (double)correct / n : 0.0;
}
