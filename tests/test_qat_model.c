/* The QAT path at model level:
 *  - policy: default spec, skip list, overrides (later wins, with and without
 *    ".weight"), an override matching nothing is an error naming the pattern;
 *  - freeze: the frozen model (dequantized integer codes) gives exactly the
 *    fake-quant model's logits, for every grid and with activation quant;
 *  - a short QAT run (LSQ scales + weights) brings the quantized model's val
 *    loss below the RTN-quantized model's (same spec, same init);
 *  - checkpoint round trip of weights and quantizer state. */
#include "data/suites.h"
#include "eval/eval.h"
#include "run/config.h"
#include "qat/policy.h"
#include "io/checkpoint.h"
#include "run/plan.h"
#include "train/train.h"
#include "test_util.h"

/* The config's quant rules (run/plan.c), kept for the test's lifetime. */
static const qt_quant_rules *rules_of(const qt_config *c) {
    static qt_plan plans[16];
    static int n;
    if (n == 16) exit(3);
    qt_plan_init(&plans[n], c);
    return &plans[n++].quant;
}

static qt_config cfg_from(const char *json) {
    qt_config c;
    char err[512];
    int rc = qt_config_parse(json, "test.json", QT_CONFIG_NO_FILE_CHECKS, &c, err, sizeof err);
    if (rc) {
        fprintf(stderr, "config: %s\n", err);
        exit(2);
    }
    return c;
}

#define MODEL_JSON "\"model\": {\"dim\": 32, \"layers\": 2, \"heads\": 4, \"kv_heads\": 2, \"ffn\": 64, \"ctx\": 32}"

static qt_model *tiny_model(const qt_config *c, uint64_t seed) {
    qt_model_cfg mc = {.arch = QT_ARCH_LLAMA, .dim = c->model.dim, .layers = c->model.layers, .heads = c->model.heads,
                       .kv_heads = c->model.kv_heads, .ffn = c->model.ffn, .ctx = c->model.ctx, .vocab = 256,
                       .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    qt_model *m = qt_model_new(&mc);
    qt_model_init(m, seed);
    return m;
}

static void test_policy(void) {
    qt_config c = cfg_from("{\"out_dir\": \"x\", \"data\": {\"train\": [\"t.txt\"]}, " MODEL_JSON ", "
                           "\"quant\": {\"weights\": {\"bits\": 4, \"group\": 16}, "
                           "\"skip\": [\"output.weight\", \"layers.1.feed_forward.*\"], "
                           "\"override\": {\"layers.*.attention.wo\": {\"bits\": 8}, "
                           "\"layers.0.attention.wo.weight\": {\"bits\": 6, \"grid\": \"asym\"}}}}");
    qt_model *m = tiny_model(&c, 1);
    char err[512] = "";
    CHECK(qt_policy_apply(m, rules_of(&c), NULL, err, sizeof err) == 0, "policy: %s", err);
    qt_linear_layer *wo0 = qt_model_linear(m, "layers.0.attention.wo.weight");
    qt_linear_layer *wo1 = qt_model_linear(m, "layers.1.attention.wo.weight");
    qt_linear_layer *wq0 = qt_model_linear(m, "layers.0.attention.wq.weight");
    qt_linear_layer *w1_1 = qt_model_linear(m, "layers.1.feed_forward.w1.weight");
    qt_linear_layer *out = qt_model_linear(m, "output.weight");
    CHECK(wq0->wq && wq0->wq->spec.bits == 4 && wq0->wq->spec.group == 16, "wq0 default spec");
    CHECK(wo1->wq && wo1->wq->spec.bits == 8 && wo1->wq->spec.grid == QT_GRID_SYM, "wo1 override to 8 bits");
    CHECK(wo0->wq && wo0->wq->spec.bits == 6 && wo0->wq->spec.grid == QT_GRID_ASYM, "wo0: later override wins");
    CHECK(!w1_1->wq, "skip glob keeps layers.1.feed_forward.w1 in float");
    CHECK(!out->wq, "output skipped");
    double bpw = 0;
    qt_model_deploy_bytes(m, &bpw);
    CHECK(bpw > 4.0 && bpw < 16.0, "bits per weight %.3f", bpw);
    qt_policy_detach(m);
    qt_model_free(m);
    qt_config_free(&c);

    /* a pattern matching nothing: refused by the policy, and by the config before any work */
    const char *typo = "{\"out_dir\": \"x\", \"data\": {\"train\": [\"t.txt\"]}, " MODEL_JSON ", "
                       "\"quant\": {\"override\": {\"layers.*.attn.wo\": {\"bits\": 8}}}}";
    CHECK(qt_config_parse(typo, "test.json", QT_CONFIG_NO_FILE_CHECKS, &c, err, sizeof err) != 0 &&
              strstr(err, "layers.*.attn.wo") != NULL, "config: a pattern matching nothing must fail: %s", err);
    c = cfg_from("{\"out_dir\": \"x\", \"data\": {\"train\": [\"t.txt\"]}, " MODEL_JSON "}");
    m = tiny_model(&c, 1);
    qt_quant_rules bad = *rules_of(&c);
    qt_quant_override o = {.pattern = "layers.*.attn.wo", .set = QT_RULE_BITS, .spec = {.bits = 8}};
    bad.override = &o;
    bad.n_override = 1;
    CHECK(qt_policy_apply(m, &bad, NULL, err, sizeof err) == -1, "a pattern matching nothing must fail");
    CHECK(strstr(err, "layers.*.attn.wo") != NULL, "message names the pattern: %s", err);
    qt_policy_detach(m);
    qt_model_free(m);
    qt_config_free(&c);
}

static void test_freeze(void) {
    const char *variants[] = {
        "\"weights\": {\"bits\": 4, \"group\": 16, \"grid\": \"sym\"}",
        "\"weights\": {\"bits\": 3, \"group\": 0, \"grid\": \"asym\"}",
        "\"weights\": {\"bits\": 4, \"group\": 32, \"grid\": \"float_min\", \"fp16_scales\": false}",
        "\"weights\": {\"bits\": 2, \"group\": 16}, \"activations\": {\"bits\": 8, \"mode\": \"per_token_dynamic\"}",
    };
    int32_t ids[2 * 32];
    for (int i = 0; i < 64; i++) ids[i] = (i * 37 + 11) % 256;
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        char json[1024];
        snprintf(json, sizeof json, "{\"out_dir\": \"x\", \"data\": {\"train\": [\"t.txt\"]}, " MODEL_JSON ", \"quant\": {%s}}",
                 variants[v]);
        qt_config c = cfg_from(json);
        qt_model *m = tiny_model(&c, 2 + v);
        char err[512];
        CHECK(qt_policy_apply(m, rules_of(&c), NULL, err, sizeof err) == 0, "%s", err);
        qt_ctx ctx;
        qt_ctx_init(&ctx, 1 << 20);
        qt_no_grad(&ctx, 1);
        qt_tensor *a = qt_model_forward(&ctx, m, ids, 2, 32);
        qt_model *f = qt_model_freeze(m);
        qt_tensor *b = qt_model_forward(&ctx, f, ids, 2, 32);
        CHECK(a->n == b->n && memcmp(a->data, b->data, a->n * sizeof(float)) == 0,
              "variant %zu: frozen logits differ from fake-quant logits (rel err %.3g)", v, tu_rel_err(b->data, a->data, a->n));
        /* and the frozen weights really are on the grid: not the float master weights */
        qt_linear_layer *l = qt_model_linear(m, "layers.0.attention.wq.weight");
        CHECK(memcmp(l->w->data, qt_model_linear(f, "layers.0.attention.wq.weight")->w->data, l->w->n * 4) != 0,
              "variant %zu: frozen weight equals the float weight", v);
        qt_model_free(f);
        qt_ctx_free(&ctx);
        qt_policy_detach(m);
        qt_model_free(m);
        qt_config_free(&c);
    }
}

static void test_qat_beats_rtn(void) {
    char dir[512];
    tu_tmpdir(dir, sizeof dir);
    qt_config c = cfg_from("{\"out_dir\": \"x\", \"data\": {\"train\": [\"t.txt\"]}, " MODEL_JSON ", "
                           "\"quant\": {\"weights\": {\"bits\": 2, \"group\": 16}}}");
    char err[512];
    /* data: the arith suite's stream, train and val from different seeds */
    qd_suite s;
    char qerr[256];
    CHECK(qd_suite_arith(&s, NULL, qerr, sizeof qerr) == 0, "%s", qerr);
    qd_mix mix;
    qd_mix_init(&mix);
    CHECK(qd_mix_add_suite(&mix, &s, 1, 200000, 1.0, NULL, qerr, sizeof qerr) == 0, "%s", qerr);
    char *vt;
    size_t vlen;
    CHECK(qd_suite_train_text(&s, 99, 20000, &vt, &vlen, NULL, NULL, qerr, sizeof qerr) == 0, "%s", qerr);
    qd_tokens val = {malloc(vlen * sizeof(int32_t)), vlen, 0};
    for (size_t i = 0; i < vlen; i++) val.tok[i] = (unsigned char)vt[i];
    free(vt);

    qt_model *base = tiny_model(&c, 5);
    char ck[600];
    snprintf(ck, sizeof ck, "%s/base.ckpt.h5", dir);
    qt_train_spec sp = {.stage = "base", .steps = 300, .batch = 8, .T = 32, .lr = 3e-3, .scale_lr = 1e-3,
                        .weight_decay = 0.0, .clip = 1.0, .schedule = QT_SCHED_COSINE, .warmup = 20,
                        .ckpt_every = 0, .log_every = 100, .val_tokens = 4096, .ckpt_path = ck, .seed = 1};
    qt_train_env env = {.model = base, .mix = &mix};
    CHECK(qt_train_run(&sp, &env, 0, NULL, err, sizeof err) == 0, "base: %s", err);
    qt_ctx ctx;
    qt_ctx_init(&ctx, 1 << 20);
    qt_lm_score fp = qt_eval_lm(&ctx, base, NULL, val.tok, (long)val.n, 32, 8);

    qt_model *rtn = qt_model_clone(base);
    CHECK(qt_policy_apply(rtn, rules_of(&c), NULL, err, sizeof err) == 0, "%s", err);
    qt_model *rf = qt_model_freeze(rtn);
    qt_lm_score r = qt_eval_lm(&ctx, rf, NULL, val.tok, (long)val.n, 32, 8);

    qt_model *qat = qt_model_clone(base);
    CHECK(qt_policy_apply(qat, rules_of(&c), NULL, err, sizeof err) == 0, "%s", err);
    snprintf(ck, sizeof ck, "%s/qat.ckpt.h5", dir);
    qt_train_spec sq = sp;
    sq.stage = "qat";
    sq.steps = 100;
    sq.lr = 1e-3;
    sq.warmup = 5;
    env.model = qat;
    CHECK(qt_train_run(&sq, &env, 0, NULL, err, sizeof err) == 0, "qat: %s", err);
    qt_model *qf = qt_model_freeze(qat);
    qt_lm_score q = qt_eval_lm(&ctx, qf, NULL, val.tok, (long)val.n, 32, 8);
    printf("val loss: fp32 %.4f  rtn W2 %.4f  qat W2 %.4f\n", fp.nll, r.nll, q.nll);
    CHECK(r.nll > fp.nll, "RTN at 2 bits should hurt (fp32 %.4f, rtn %.4f)", fp.nll, r.nll);
    CHECK(q.nll < r.nll, "QAT val loss %.4f not below RTN %.4f", q.nll, r.nll);

    /* checkpoint round trip of weights and quantizer state */
    char mp[600];
    snprintf(mp, sizeof mp, "%s/qat.h5", dir);
    CHECK(qt_model_save(qat, mp, "{}", err, sizeof err) == 0, "save: %s", err);
    qt_model *back = qt_model_clone(base);
    CHECK(qt_policy_apply(back, rules_of(&c), NULL, err, sizeof err) == 0, "%s", err);
    CHECK(qt_model_load(back, mp, err, sizeof err) == 0, "load: %s", err);
    qt_model *bf = qt_model_freeze(back);
    qt_lm_score q2 = qt_eval_lm(&ctx, bf, NULL, val.tok, (long)val.n, 32, 8);
    CHECK(q2.nll == q.nll, "reloaded QAT model scores %.6f, saved one %.6f", q2.nll, q.nll);

    qt_model_free(bf);
    qt_policy_detach(back);
    qt_model_free(back);
    qt_model_free(qf);
    qt_policy_detach(qat);
    qt_model_free(qat);
    qt_model_free(rf);
    qt_policy_detach(rtn);
    qt_model_free(rtn);
    qt_model_free(base);
    qt_ctx_free(&ctx);
    qd_tokens_free(&val);
    qd_mix_free(&mix);
    qd_suite_free(&s);
    qt_config_free(&c);
}

int main(void) {
    test_policy();
    test_freeze();
    test_qat_beats_rtn();
    return tu_finish("test_qat_model");
}
