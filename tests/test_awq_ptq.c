/* AWQ: folding scales at every site keeps the FP32 function (to 1e-5), the GQA
 * v->o site is refused, the α search's losses equal a numpy reference
 * (tests/oracles/awq_ref.py) and its chosen loss is ≤ every other candidate's,
 * α = 0 included (strictly below with outlier channels), and the whole-model AWQ leaves a
 * folded FP32 model with the original outputs and quantizers whose frozen
 * weights beat RTN on the calibration output error. */
#include "qat/policy.h"
#include "qat/ptq/ptq.h"
#include "test_model_util.h"
#include "test_util.h"


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
        double losses[40];
        int duo = -1;
        double alpha = qt_awq_search(ls, nl, sp, 0, &st[0], 20, s, losses, &duo);
        CHECK(duo == 0 || duo == 1, "duo flag %d", duo);
        int k = (int)lrint(alpha * 20) + 20 * duo;
        for (int t = 0; t < 40; t++)
            CHECK(losses[k] <= losses[t], "alpha %.2f%s loss %g above alpha %.2f%s loss %g", alpha, duo ? " duo" : "",
                  losses[k], (t % 20) / 20.0, t >= 20 ? " duo" : "", losses[t]);
        CHECK(losses[k] <= losses[0], "chosen loss %g above alpha=0 loss %g", losses[k], losses[0]);
        CHECK(alpha > 0 && losses[k] < 0.98 * losses[0], "outlier channels: alpha %.2f loss %g vs alpha=0 %g", alpha,
              losses[k], losses[0]);
        printf("awq search: alpha %.2f%s loss %.4g, alpha 0 loss %.4g\n", alpha, duo ? " duo" : "", losses[k], losses[0]);
        /* the numpy reference (tests/oracles/awq_ref.py) gives the same losses */
        {
            char dir[256], wp[300], ap[300], hp[300], op[300], args[1600];
            tu_tmpdir(dir, sizeof dir);
            snprintf(wp, sizeof wp, "%s/w.bin", dir);
            snprintf(ap, sizeof ap, "%s/a.bin", dir);
            snprintf(hp, sizeof hp, "%s/h.bin", dir);
            snprintf(op, sizeof op, "%s/out.bin", dir);
            int in = st[0].in, rows = 0;
            FILE *f = fopen(wp, "wb");
            for (int t = 0; t < nl; t++) {
                fwrite(ls[t]->w->data, sizeof(float), ls[t]->w->n, f);
                rows += ls[t]->w->shape[0];
            }
            fclose(f);
            double *am = malloc((size_t)in * sizeof *am);
            float *H = malloc((size_t)in * in * sizeof *H);
            for (int j = 0; j < in; j++) am[j] = st[0].abs_sum[j] / (double)st[0].n;
            for (size_t t = 0; t < (size_t)in * in; t++) H[t] = (float)(st[0].xtx[t] * (1.0 / (double)st[0].n));
            f = fopen(ap, "wb");
            fwrite(am, sizeof *am, (size_t)in, f);
            fclose(f);
            f = fopen(hp, "wb");
            fwrite(H, sizeof *H, (size_t)in * in, f);
            fclose(f);
            snprintf(args, sizeof args, "%s %s %s %s %d %d 32 3 20", wp, ap, hp, op, rows, in);
            int rc = tu_run_oracle("tests/oracles/awq_ref.py", args);
            CHECK(rc == 0, "awq oracle failed (%d)", rc);
            double ref[40];
            f = fopen(op, "rb");
            size_t got = f ? fread(ref, sizeof *ref, 40, f) : 0;
            if (f) fclose(f);
            CHECK(got == 40, "short awq oracle output (%zu)", got);
            double worst = 0.0;
            int ref_best = 0;
            for (int t = 0; t < 40 && got == 40; t++) {
                double rel = fabs(losses[t] - ref[t]) / ref[t];
                worst = rel > worst ? rel : worst;
                if (ref[t] < ref[ref_best]) ref_best = t;
            }
            /* float32 sums in another order may flip a rounding at a tie */
            CHECK(worst <= 1e-3, "awq losses differ from numpy by %g (relative)", worst);
            CHECK(got == 40 && losses[k] <= ref[ref_best] * (1 + 1e-3), "chosen loss %g, numpy's best %g (index %d)",
                  losses[k], ref[ref_best], ref_best);
            printf("awq search vs numpy: max rel diff %.2g, numpy best index %d, qatc %d\n", worst, ref_best, k);
            free(am);
            free(H);
            char cmd[400];
            snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
            CHECK(system(cmd) == 0, "cleanup");
        }
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
        qt_quant_rules q = tm_wquant(3, 32, 0);
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
