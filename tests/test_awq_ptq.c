/* AWQ: folding scales at every site keeps the FP32 function (to 1e-5), the GQA
 * v->o site is refused, the α search's chosen loss is ≤ its α = 0 loss (and
 * strictly below with outlier channels), and the whole-model AWQ leaves a
 * folded FP32 model with the original outputs and quantizers whose frozen
 * weights beat RTN on the calibration output error. */
#include "qat/policy.h"
#include "qat/ptq/ptq.h"
#include "test_model_util.h"
#include "test_util.h"


static qt_cfg_quant wquant(int bits, int group) {
    qt_cfg_quant q;
    memset(&q, 0, sizeof q);
    q.weights.bits = bits;
    q.weights.group = group;
    q.weights.grid = QT_CFG_GRID_SYM;
    q.weights.scale = QT_CFG_SCALE_FIXED;
    q.weights.init = QT_CFG_SINIT_ABSMAX;
    q.weights.fp16_scales = 1;
    q.activations.mode = QT_CFG_ACT_NONE;
    q.activations.bits = 8;
    static char *skip[] = {"tok_embeddings.weight", "output.weight"};
    q.skip.v = skip;
    q.skip.n = 2;
    return q;
}

int main(void) {
    enum { B = 2, T = 32, NTOK = 4096 };
    uint64_t seed = 5;
    int32_t *ids = malloc(B * T * sizeof *ids), *pool = malloc(NTOK * sizeof *pool);
    for (int i = 0; i < B * T; i++) ids[i] = (int32_t)(tu_uniform(&seed) * 256);
    for (int i = 0; i < NTOK; i++) pool[i] = (int32_t)(tu_uniform(&seed) * 64) + 32 * (i % 3);

    /* 1. folding random scales at every site keeps the outputs */
    {
        qt_model *m = tm_outlier_model(4, 1);
        float *y0 = tm_logits(m, ids, B, T);
        for (int i = 0; i < m->cfg.layers; i++)
            for (int site = 0; site < 4; site++) {
                int in = site == QT_FOLD_UP_DOWN ? m->cfg.ffn : m->cfg.dim;
                float *s = malloc((size_t)in * sizeof *s);
                for (int k = 0; k < in; k++) s[k] = (float)(0.25 + 3.0 * tu_uniform(&seed));
                CHECK(qt_fold_scales(m, i, (qt_fold_site)site, s) == 0, "fold layer %d site %d refused", i, site);
                free(s);
            }
        float *y1 = tm_logits(m, ids, B, T);
        double re = tu_rel_err(y1, y0, (size_t)B * T * 256);
        CHECK(re <= 1e-5, "folded model output differs: rel err %g", re);
        printf("fold: rel err %.3g\n", re);
        free(y0);
        free(y1);
        qt_model_free(m);
    }
    /* 2. GQA: v->o cannot be folded */
    {
        qt_model *m = tm_outlier_model(2, 2);
        qt_linear_layer *ls[3];
        float s[64];
        for (int k = 0; k < 64; k++) s[k] = 2.0f;
        CHECK(qt_fold_linears(m, 0, QT_FOLD_V_O, ls) == 0, "GQA v->o site offered");
        CHECK(qt_fold_scales(m, 0, QT_FOLD_V_O, s) == -1, "GQA v->o fold accepted");
        qt_model_free(m);
    }
    /* 3. α search on the q/k/v group */
    {
        qt_model *m = tm_outlier_model(4, 3);
        qt_calib c;
        char err[256];
        CHECK(qt_calib_from_tokens(pool, NTOK, 16, T, 9, &c, err, sizeof err) == 0, "%s", err);
        int want[32] = {0};
        qt_calib_stats st[32];
        memset(st, 0, sizeof st);
        want[0] = 1;  /* layers.0.attention.wq */
        CHECK(!strcmp(m->linears[0]->w->name, "layers.0.attention.wq.weight"), "linear order: %s", m->linears[0]->w->name);
        qt_calib_collect(m, &c, 4, want, 1, st, err, sizeof err);
        CHECK(st[0].n == 16L * T, "calibration rows %ld", st[0].n);
        qt_linear_layer *ls[3];
        int nl = qt_fold_linears(m, 0, QT_FOLD_ATTN_NORM, ls);
        qt_quant_spec sp[3];
        for (int k = 0; k < nl; k++) sp[k] = (qt_quant_spec){.bits = 3, .group = 32, .grid = QT_GRID_SYM, .fp16_scales = 1};
        float s[64];
        double losses[20];
        double alpha = qt_awq_search(ls, nl, sp, 0, &st[0], 20, s, losses);
        int k = (int)lrint(alpha * 20);
        for (int t = 0; t < 20; t++) CHECK(losses[k] <= losses[t], "alpha %.2f loss %g above alpha %.2f loss %g", alpha, losses[k], t / 20.0, losses[t]);
        CHECK(losses[k] <= losses[0], "chosen loss %g above alpha=0 loss %g", losses[k], losses[0]);
        CHECK(alpha > 0 && losses[k] < 0.98 * losses[0], "outlier channels: alpha %.2f loss %g vs alpha=0 %g", alpha,
              losses[k], losses[0]);
        printf("awq search: alpha %.2f loss %.4g, alpha 0 loss %.4g\n", alpha, losses[k], losses[0]);
        qt_calib_stats_free(st, 32);
        qt_calib_free(&c);
        qt_model_free(m);
    }
    /* 4. whole-model AWQ: folded FP32 outputs preserved; W3 output error below RTN */
    {
        qt_model *ref = tm_outlier_model(4, 4);
        qt_model *m = qt_model_clone(ref), *rtn = qt_model_clone(ref);
        qt_calib c;
        char err[256];
        qt_calib_from_tokens(pool, NTOK, 16, T, 11, &c, err, sizeof err);
        qt_cfg_quant q = wquant(3, 32);
        qt_awq_opts o = {.n_grid = 20, .clip = 1};
        CHECK(qt_ptq_awq(m, &q, &c, &o, NULL, err, sizeof err) == 0, "awq: %s", err);
        CHECK(qt_ptq_rtn(rtn, &q, &c, NULL, err, sizeof err) == 0, "rtn: %s", err);
        /* evaluate on calibration-like data */
        int32_t *ev = c.tok;
        float *y0 = tm_logits(ref, ev, 4, T);
        qt_model *fa = qt_model_freeze(m), *fr = qt_model_freeze(rtn);
        float *ya = tm_logits(fa, ev, 4, T), *yr = tm_logits(fr, ev, 4, T);
        double ea = tm_mse(ya, y0, (size_t)4 * T * 256), er = tm_mse(yr, y0, (size_t)4 * T * 256);
        CHECK(ea < er, "AWQ W3 logit mse %g not below RTN %g", ea, er);
        printf("awq W3 logit mse %.4g, rtn %.4g\n", ea, er);
        qt_policy_detach(m);
        float *yf = tm_logits(m, ids, B, T), *yref = tm_logits(ref, ids, B, T);
        double re = tu_rel_err(yf, yref, (size_t)B * T * 256);
        CHECK(re <= 1e-5, "AWQ-folded FP32 model output differs: rel err %g", re);
        free(y0);
        free(ya);
        free(yr);
        free(yf);
        free(yref);
        qt_model_free(fa);
        qt_model_free(fr);
        qt_policy_detach(rtn);
        qt_model_free(rtn);
        qt_model_free(m);
        qt_model_free(ref);
        qt_calib_free(&c);
    }
    free(ids);
    free(pool);
    return tu_finish("test_awq_ptq");
}
