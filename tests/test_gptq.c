/* GPTQ: against the numpy reference of the same algorithm (tests/oracles/gptq_ref.py),
 * with and without act-order; the frozen quantized weight reproduces GPTQ's codes;
 * GPTQ's output error on correlated inputs is below RTN's; on a whole model,
 * running each block on cached hidden states gives bit for bit the weights and
 * scales of the reference path (a whole-model forward per group of Linears),
 * for MHA and GQA, and a model output error below RTN's. */
#include "qat/policy.h"
#include "qat/ptq/ptq.h"
#include "test_model_util.h"
#include "test_util.h"

enum { R = 48, C = 256, G = 32, BITS = 4, N = 1024, K = 24 };

static qt_quant_spec spec4(void) {
    qt_quant_spec s = {.bits = BITS, .group = G, .grid = QT_GRID_SYM, .learnable = 0, .fp16_scales = 1};
    return s;
}

/* correlated inputs: x = z·M + 0.05·noise, channel scales spread over 10x */
static void make_data(float *W, float *X, double *H, uint64_t *seed) {
    float *M = malloc((size_t)K * C * sizeof *M), *z = malloc(K * sizeof *z);
    tu_fill_normal(W, (size_t)R * C, 0.05f, seed);
    tu_fill_normal(M, (size_t)K * C, 1.0f, seed);
    for (int n = 0; n < N; n++) {
        tu_fill_normal(z, K, 1.0f, seed);
        for (int c = 0; c < C; c++) {
            double v = 0.05 * tu_normal(seed);
            for (int k = 0; k < K; k++) v += z[k] * M[(size_t)k * C + c];
            X[(size_t)n * C + c] = (float)(v * (0.3 + 3.0 * c / C));
        }
    }
    for (int i = 0; i < C; i++)
        for (int j = 0; j < C; j++) {
            double a = 0;
            for (int n = 0; n < N; n++) a += (double)X[(size_t)n * C + i] * X[(size_t)n * C + j];
            H[(size_t)i * C + j] = 2.0 * a / N;
        }
    free(M);
    free(z);
}

/* Σ over inputs of |x·(Ŵ - W)ᵀ|², through H: Σ_r Δw_r H Δw_rᵀ */
static double out_err(const float *Wq, const float *W, const double *H) {
    double tot = 0;
    double *d = malloc(C * sizeof *d);
    for (int r = 0; r < R; r++) {
        for (int c = 0; c < C; c++) d[c] = (double)Wq[(size_t)r * C + c] - W[(size_t)r * C + c];
        for (int i = 0; i < C; i++) {
            double a = 0;
            for (int j = 0; j < C; j++) a += H[(size_t)i * C + j] * d[j];
            tot += a * d[i];
        }
    }
    free(d);
    return tot;
}

static void write_bin(const char *path, const void *p, size_t bytes) {
    FILE *f = fopen(path, "wb");
    fwrite(p, 1, bytes, f);
    fclose(f);
}

int main(void) {
    uint64_t seed = 42;
    float *W = malloc((size_t)R * C * sizeof *W), *X = malloc((size_t)N * C * sizeof *X);
    double *H = malloc((size_t)C * C * sizeof *H);
    make_data(W, X, H, &seed);
    qt_quant_spec spec = spec4();
    char dir[512], wp[600], hp[600], op[600], args[2400], err[256];
    tu_tmpdir(dir, sizeof dir);
    snprintf(wp, sizeof wp, "%s/w.bin", dir);
    snprintf(hp, sizeof hp, "%s/h.bin", dir);
    snprintf(op, sizeof op, "%s/out.bin", dir);
    write_bin(wp, W, (size_t)R * C * sizeof *W);
    write_bin(hp, H, (size_t)C * C * sizeof *H);

    /* RTN (absmax) error for comparison */
    qt_tensor *wr = qt_param_new("rtn.weight", 2, (int[]){R, C});
    memcpy(wr->data, W, (size_t)R * C * sizeof *W);
    qt_quantizer *qr = qt_quantizer_new(&spec, wr, err, sizeof err);
    qt_quant_init_absmax(qr, wr);
    qt_qweight *fr = qt_freeze(wr, qr);
    float *Wrtn = malloc((size_t)R * C * sizeof *Wrtn);
    qt_qweight_dequant(fr, Wrtn);
    double e_rtn = out_err(Wrtn, W, H);

    for (int act_order = 0; act_order <= 1; act_order++) {
        qt_tensor *w = qt_param_new("lin.weight", 2, (int[]){R, C});
        memcpy(w->data, W, (size_t)R * C * sizeof *W);
        qt_quantizer *q = qt_quantizer_new(&spec, w, err, sizeof err);
        uint8_t *codes = malloc((size_t)R * C);
        qt_gptq_opts o = {.percdamp = 0.01, .act_order = act_order, .blocksize = 128};
        int rc = qt_gptq_weight(w, q, H, &o, 0, codes, err, sizeof err);
        CHECK(rc == 0, "gptq failed: %s", err);

        /* the frozen weight object reproduces the codes and the dequantized weights */
        qt_qweight *fz = qt_freeze(w, q);
        float *deq = malloc((size_t)R * C * sizeof *deq);
        qt_qweight_dequant(fz, deq);
        long code_diff = 0, deq_diff = 0;
        for (size_t i = 0; i < (size_t)R * C; i++) {
            code_diff += (uint8_t)(fz->codes_s8[i] + (1 << (BITS - 1))) != codes[i];
            deq_diff += deq[i] != w->data[i];
        }
        CHECK(code_diff == 0, "act_order %d: qt_freeze gives %ld codes different from GPTQ's", act_order, code_diff);
        CHECK(deq_diff == 0, "act_order %d: dequantized frozen weight differs in %ld places", act_order, deq_diff);

        /* numpy reference */
        snprintf(args, sizeof args, "%s %s %s %d %d %d %d 0.01 %d 128", wp, hp, op, R, C, G, BITS, act_order);
        rc = tu_run_oracle("tests/oracles/gptq_ref.py", args);
        CHECK(rc == 0, "oracle failed (%d)", rc);
        if (rc == 0) {
            float *Qref = malloc((size_t)R * C * sizeof *Qref);
            uint8_t *cref = malloc((size_t)R * C);
            FILE *f = fopen(op, "rb");
            size_t got = fread(Qref, sizeof *Qref, (size_t)R * C, f) + fread(cref, 1, (size_t)R * C, f);
            fclose(f);
            CHECK(got == 2 * (size_t)R * C, "short oracle output");
            long mism = 0;
            for (size_t i = 0; i < (size_t)R * C; i++) mism += cref[i] != codes[i];
            /* LAPACK vs numpy round-off may flip a code at an exact tie; allow 0.2% */
            CHECK(mism <= (long)R * C / 500, "act_order %d: %ld of %d codes differ from the numpy reference", act_order,
                  mism, R * C);
            double e_ref = out_err(Qref, W, H), e_c = out_err(w->data, W, H);
            CHECK(fabs(e_c - e_ref) <= 0.02 * e_ref, "act_order %d: output error %g vs reference %g", act_order, e_c,
                  e_ref);
            printf("act_order %d: %ld code mismatches vs numpy; output error gptq %.5g ref %.5g rtn %.5g\n", act_order,
                   mism, e_c, e_ref, e_rtn);
            free(Qref);
            free(cref);
        }
        /* GPTQ's output error on correlated inputs is well below RTN's */
        double e_g = out_err(w->data, W, H);
        CHECK(e_g < 0.8 * e_rtn, "act_order %d: gptq output error %g not below rtn %g", act_order, e_g, e_rtn);
        free(deq);
        free(codes);
        qt_qweight_free(fz);
        qt_quantizer_free(q);
        qt_param_free(w);
    }
    /* a Hessian that is not positive definite even after dampening is an error, not a crash */
    {
        qt_tensor *w = qt_param_new("bad.weight", 2, (int[]){R, C});
        memcpy(w->data, W, (size_t)R * C * sizeof *W);
        qt_quantizer *q = qt_quantizer_new(&spec, w, err, sizeof err);
        double *Hb = calloc((size_t)C * C, sizeof *Hb);
        for (int i = 0; i < C; i++) Hb[(size_t)i * C + i] = i == 3 ? -1.0 : 1.0;
        qt_gptq_opts o = {.percdamp = 0.0, .act_order = 0, .blocksize = 128};
        err[0] = 0;
        CHECK(qt_gptq_weight(w, q, Hb, &o, 0, NULL, err, sizeof err) == -1 && strstr(err, "bad.weight"),
              "indefinite H: got '%s'", err);
        free(Hb);
        qt_quantizer_free(q);
        qt_param_free(w);
    }
    /* whole model: cached block inputs == whole-model forwards, bit for bit */
    for (int kv = 4; kv >= 2; kv -= 2) {
        enum { T = 32, NTOK = 4096 };
        int32_t *pool = malloc(NTOK * sizeof *pool);
        for (int i = 0; i < NTOK; i++) pool[i] = (int32_t)(tu_uniform(&seed) * 64) + 32 * (i % 3);
        qt_model *ref = tm_outlier_model(kv, 21);
        qt_model *a = qt_model_clone(ref), *b = qt_model_clone(ref), *r = qt_model_clone(ref);
        qt_calib c;
        CHECK(qt_calib_from_tokens(pool, NTOK, 20, T, 3, &c, err, sizeof err) == 0, "%s", err);
        qt_quant_rules q = tm_wquant(3, 32, 1);
        qt_gptq_opts oc = {.percdamp = 0.01, .act_order = 1, .blocksize = 128}, on = oc;
        on.no_cache = 1;
        CHECK(qt_ptq_gptq(a, &q, &c, &oc, NULL, err, sizeof err) == 0, "gptq cached: %s", err);
        CHECK(qt_ptq_gptq(b, &q, &c, &on, NULL, err, sizeof err) == 0, "gptq reference: %s", err);
        CHECK(qt_ptq_rtn(r, &q, &c, NULL, err, sizeof err) == 0, "rtn: %s", err);
        long wdiff = 0, sdiff = 0;
        for (int p = 0; p < a->n_params; p++)
            for (size_t k = 0; k < a->params[p]->n; k++) wdiff += a->params[p]->data[k] != b->params[p]->data[k];
        for (int j = 0; j < a->n_linears; j++) {
            qt_quantizer *qa = a->linears[j]->wq, *qb = b->linears[j]->wq;
            CHECK((qa == NULL) == (qb == NULL), "kv %d: quantizer presence differs at %d", kv, j);
            if (qa && qb)
                for (size_t k = 0; k < qa->scale->n; k++) sdiff += qa->scale->data[k] != qb->scale->data[k];
        }
        CHECK(wdiff == 0 && sdiff == 0, "kv %d: cached GPTQ differs from the reference in %ld weights, %ld scales", kv,
              wdiff, sdiff);
        float *y0 = tm_logits(ref, c.tok, 4, T);
        qt_model *fa = qt_model_freeze(a), *fr = qt_model_freeze(r);
        float *ya = tm_logits(fa, c.tok, 4, T), *yr = tm_logits(fr, c.tok, 4, T);
        double ea = tm_mse(ya, y0, (size_t)4 * T * 256), er = tm_mse(yr, y0, (size_t)4 * T * 256);
        CHECK(ea < er, "kv %d: GPTQ W3 logit mse %g not below RTN %g", kv, ea, er);
        printf("model kv %d: cached vs reference: %ld weights, %ld scales differ; W3 logit mse gptq %.4g rtn %.4g\n", kv,
               wdiff, sdiff, ea, er);
        free(y0);
        free(ya);
        free(yr);
        qt_model_free(fa);
        qt_model_free(fr);
        qt_policy_detach(a);
        qt_policy_detach(b);
        qt_policy_detach(r);
        qt_model_free(a);
        qt_model_free(b);
        qt_model_free(r);
        qt_model_free(ref);
        qt_calib_free(&c);
        free(pool);
    }
    remove(wp);
    remove(hp);
    remove(op);
    remove(dir);
    qt_qweight_free(fr);
    qt_quantizer_free(qr);
    qt_param_free(wr);
    free(Wrtn);
    free(W);
    free(X);
    free(H);
    return tu_finish("test_gptq");
}
