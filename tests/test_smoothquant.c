/* SmoothQuant: the factors balance activation and weight ranges (α = 0.5:
 * max|x_j|/s_j = max|W_:,j|·s_j), folding keeps the FP32 outputs (to 1e-5),
 * and on a model with outlier activation channels W8A8 (static int8
 * activations) after smoothing is closer to FP32 than plain RTN W8A8. */
#include "qat/policy.h"
#include "qat/ptq/ptq.h"
#include "test_model_util.h"
#include "test_util.h"


int main(void) {
    enum { T = 32, NTOK = 4096 };
    uint64_t seed = 3;
    int32_t *pool = malloc(NTOK * sizeof *pool);
    for (int i = 0; i < NTOK; i++) pool[i] = (int32_t)(tu_uniform(&seed) * 96) + 32;
    char err[256];

    /* 1. balance property of the factors */
    {
        qt_model *m = tm_outlier_model(4, 1);
        qt_linear_layer *ls[3];
        int nl = qt_fold_linears(m, 0, QT_FOLD_ATTN_NORM, ls);
        float act[64], s[64];
        for (int k = 0; k < 64; k++) act[k] = (float)(0.1 + 10.0 * tu_uniform(&seed));
        act[5] = 0.0f;
        qt_smoothquant_factors(ls, nl, act, 0.5, s);
        for (int k = 0; k < 64; k++) {
            float wmax = 0;
            for (int i = 0; i < nl; i++)
                for (int r = 0; r < ls[i]->w->shape[0]; r++) {
                    float v = fabsf(ls[i]->w->data[(size_t)r * 64 + k]);
                    wmax = v > wmax ? v : wmax;
                }
            if (k == 5) {
                CHECK(s[k] == 1.0f, "silent channel: s %g, expected 1", s[k]);
                continue;
            }
            double a = act[k] / s[k], b = wmax * s[k];
            CHECK(fabs(a - b) <= 1e-4 * b, "channel %d: max|x|/s %g != max|W|·s %g", k, a, b);
        }
        qt_model_free(m);
    }
    /* 2, 3. whole model W8A8 static */
    {
        qt_model *ref = tm_outlier_model(4, 2);
        qt_model *sq = qt_model_clone(ref), *rtn = qt_model_clone(ref);
        qt_calib c;
        CHECK(qt_calib_from_tokens(pool, NTOK, 16, T, 4, &c, err, sizeof err) == 0, "%s", err);
        qt_quant_rules q;
        memset(&q, 0, sizeof q);
        q.weights = (qt_quant_spec){.bits = 8, .group = 0, .grid = QT_GRID_SYM, .learnable = 0, .fp16_scales = 1};
        q.init = QT_INIT_ABSMAX;
        q.act_mode = QT_ACT_STATIC;
        q.act_bits = 8;
        static const char *const skip[] = {"tok_embeddings.weight", "output.weight"};
        q.skip = skip;
        q.n_skip = 2;
        CHECK(qt_ptq_smoothquant(sq, &q, &c, 0.5, NULL, err, sizeof err) == 0, "smoothquant: %s", err);
        CHECK(qt_ptq_rtn(rtn, &q, &c, NULL, err, sizeof err) == 0, "rtn: %s", err);
        for (int j = 0; j < sq->n_linears; j++)
            if (sq->linears[j]->aq) CHECK(sq->linears[j]->aq->scale->data[0] > 0, "static act scale of %s not calibrated", sq->linears[j]->w->name);
        const int32_t *ev = c.tok + 8 * T;
        float *y0 = tm_logits(ref, ev, 4, T);
        qt_model *fs = qt_model_freeze(sq), *fr = qt_model_freeze(rtn);
        float *ys = tm_logits(fs, ev, 4, T), *yr = tm_logits(fr, ev, 4, T);
        double es = tm_mse(ys, y0, (size_t)4 * T * 256), er = tm_mse(yr, y0, (size_t)4 * T * 256);
        CHECK(es < er, "SmoothQuant W8A8 logit mse %g not below RTN W8A8 %g", es, er);
        printf("W8A8 static: smoothquant logit mse %.4g, rtn %.4g\n", es, er);
        qt_policy_detach(sq);
        float *yf = tm_logits(sq, ev, 4, T);
        double re = tu_rel_err(yf, y0, (size_t)4 * T * 256);
        CHECK(re <= 1e-5, "smoothed FP32 model output differs: rel err %g", re);
        printf("fold: rel err %.3g\n", re);
        free(y0);
        free(ys);
        free(yr);
        free(yf);
        qt_model_free(fs);
        qt_model_free(fr);
        qt_policy_detach(rtn);
        qt_model_free(rtn);
        qt_model_free(sq);
        qt_model_free(ref);
        qt_calib_free(&c);
    }
    free(pool);
    return tu_finish("test_smoothquant");
}
