/* eval/: qt_eval_lm scores every next-token transition exactly once
 * (n_scored = n - 1, windows of T plus a last partial one) with the same NLL
 * as qt_cross_entropy on those windows; KL against itself is 0 and top-1
 * agreement 1. qt_eval_exact_match: a bigram model trained on the rule
 * next = (5·t + 3) mod 16 gets 1.0 on answers that follow the rule and 0.0 on
 * answers whose last byte breaks it, with items longer than ctx truncated. */
#include "eval/eval.h"
#include "ops/ops.h"
#include "optim/optim.h"
#include "test_util.h"

static int next_of(int t) { return (5 * t + 3) % 16; }

int main(void) {
    const int V = 256, T = 16;
    qt_model_cfg cfg = {.arch = QT_ARCH_MLP, .dim = 32, .ffn = 64, .ctx = T, .vocab = V};
    qt_model *m = qt_model_new(&cfg);
    qt_model_init(m, 11);
    qt_param_group g = {.params = m->params, .n_params = m->n_params, .lr = 1e-2, .weight_decay = 0.0};
    qt_optim *opt = qt_adamw_new(&g, 1, 0.9, 0.999, 1e-8);
    qt_ctx ctx;
    qt_ctx_init(&ctx, 1 << 20);
    int32_t x[8 * 16], y[8 * 16];
    uint64_t rng = 5;
    for (int step = 0; step < 300; step++) {
        for (int b = 0; b < 8; b++) {
            int t = (int)(tu_uniform(&rng) * 16);
            for (int i = 0; i < T; i++) {
                x[b * T + i] = '0' + t; /* bytes '0'..'?' */
                t = next_of(t);
                y[b * T + i] = '0' + t;
            }
        }
        qt_ctx_reset(&ctx);
        qt_zero_grad(m->params, m->n_params);
        qt_tensor *loss = qt_cross_entropy(&ctx, qt_model_forward(&ctx, m, x, 8, T), y);
        qt_backward(&ctx, loss, NULL);
        qt_optim_step(opt, 1.0);
    }

    /* ---- qt_eval_lm against qt_cross_entropy on the same windows */
    int32_t tok[100];
    for (int i = 0; i < 100; i++) tok[i] = (int32_t)(tu_uniform(&rng) * V);
    qt_lm_score s = qt_eval_lm(&ctx, m, m, tok, 100, T, 3);
    CHECK(s.n_scored == 99, "n_scored %ld, expected 99", s.n_scored);
    double total = 0.0;
    long count = 0;
    qt_no_grad(&ctx, 1);
    for (long start = 0; start + 1 < 100; start += T) {
        int len = 100 - 1 - start < T ? (int)(100 - 1 - start) : T;
        qt_ctx_reset(&ctx);
        qt_tensor *z = qt_model_forward(&ctx, m, tok + start, 1, len);
        qt_tensor *l = qt_cross_entropy(&ctx, z, tok + start + 1);
        total += (double)l->data[0] * len;
        count += len;
    }
    qt_no_grad(&ctx, -1);
    CHECK(count == 99, "reference scored %ld", count);
    CHECK(fabs(s.nll - total / count) < 1e-5 * fabs(s.nll), "eval nll %.7f vs cross-entropy %.7f", s.nll, total / count);
    CHECK(fabs(s.bpb - s.nll / log(2.0)) < 1e-12 && fabs(s.ppl - exp(s.nll)) < 1e-9 * s.ppl, "bpb/ppl derived wrongly");
    CHECK(fabs(s.kl) < 1e-6 && s.top1 == 1.0, "self-comparison: kl %.3g top1 %.3f", s.kl, s.top1);

    /* ---- exact match */
    enum { N = 12 };
    char pbuf[N][64], abuf[N][8], wbuf[N][8];
    const char *prompts[N], *answers[N], *wrong[N];
    for (int i = 0; i < N; i++) {
        int t = i % 16, plen = 3 + i * 2; /* the longest prompts exceed ctx = 16 */
        for (int k = 0; k < plen; k++) {
            pbuf[i][k] = (char)('0' + t);
            t = next_of(t);
        }
        pbuf[i][plen] = 0;
        abuf[i][0] = (char)('0' + t);
        abuf[i][1] = (char)('0' + next_of(t));
        abuf[i][2] = 0;
        memcpy(wbuf[i], abuf[i], 3);
        wbuf[i][1] = (char)('0' + (next_of(t) + 1) % 16);
        prompts[i] = pbuf[i];
        answers[i] = abuf[i];
        wrong[i] = wbuf[i];
    }
    double acc = qt_eval_exact_match(&ctx, m, NULL, prompts, answers, N, 5);
    double bad = qt_eval_exact_match(&ctx, m, NULL, prompts, wrong, N, 5);
    CHECK(acc == 1.0, "accuracy on rule-following answers %.3f, expected 1", acc);
    CHECK(bad == 0.0, "accuracy on answers breaking the rule %.3f, expected 0", bad);

    qt_ctx_free(&ctx);
    qt_optim_free(opt);
    qt_model_free(m);
    return tu_finish("test_eval");
}
