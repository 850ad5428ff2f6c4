/* Config loader: a full config loads with the right values and defaults,
 * every kind of error gives one line naming the file and the key, the
 * effective-config JSON round trips, and docs/config.md matches the schema. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "run/config.h"
#include "test_util.h"
#include <sys/stat.h>
#include "run/plan.h"

static char g_dir[512];

static const char *write_file(const char *name, const char *text, char *path, size_t len) {
    snprintf(path, len, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(2); }
    fputs(text, f);
    fclose(f);
    return path;
}

/* Replaces every "@" in tmpl with the scratch directory. */
static char *expand(const char *tmpl) {
    size_t n = strlen(tmpl), d = strlen(g_dir), k = 0;
    char *s = malloc(n * (d + 1) + 1);
    for (size_t i = 0; i < n; i++) {
        if (tmpl[i] == '@') { memcpy(s + k, g_dir, d); k += d; }
        else s[k++] = tmpl[i];
    }
    s[k] = 0;
    return s;
}

/* Loads config text (with "@" = scratch dir) from file <name>; returns the rc. */
static int load_text(const char *name, const char *tmpl, qt_config *cfg, char *err, size_t errlen) {
    char path[1024];
    char *text = expand(tmpl);
    write_file(name, text, path, sizeof path);
    free(text);
    return qt_config_load(path, cfg, err, errlen);
}

/* The load must fail with exactly one line "<file>: <want>" (want with "@"
 * expanded). */
static void expect_error(const char *tmpl, const char *want_tmpl, int line) {
    qt_config cfg;
    char err[1024], path[1024];
    memset(err, 'x', sizeof err);
    int rc = load_text("bad.json", tmpl, &cfg, err, sizeof err);
    snprintf(path, sizeof path, "%s/bad.json", g_dir);
    char *want_rest = expand(want_tmpl);
    char want[2048];
    snprintf(want, sizeof want, "%s: %s", path, want_rest);
    free(want_rest);
    CHECK(rc == -1, "line %d: expected failure", line);
    CHECK(strcmp(err, want) == 0, "line %d:\n  got  %s\n  want %s", line, err, want);
    CHECK(strchr(err, '\n') == NULL, "line %d: message is more than one line", line);
    /* a failed load leaves nothing to free */
    CHECK(cfg.out_dir == NULL && cfg.ptq == NULL && cfg.data.train == NULL, "line %d: cfg not zeroed", line);
    qt_config_free(&cfg);
}

/* The load must fail with a message containing every needle. */
static void expect_error_has(const char *tmpl, const char *n1, const char *n2, int line) {
    qt_config cfg;
    char err[1024];
    int rc = load_text("bad.json", tmpl, &cfg, err, sizeof err);
    CHECK(rc == -1, "line %d: expected failure", line);
    CHECK(strstr(err, "bad.json: ") != NULL, "line %d: no file name in: %s", line, err);
    CHECK(strstr(err, n1) != NULL, "line %d: \"%s\" not in: %s", line, n1, err);
    CHECK(!n2 || strstr(err, n2) != NULL, "line %d: \"%s\" not in: %s", line, n2, err);
    CHECK(strchr(err, '\n') == NULL, "line %d: message is more than one line", line);
    qt_config_free(&cfg);
}

#define BASE_OK "\"out_dir\": \"@/run\", \"data\": {\"train\": [\"@/train.txt\"]}"

static const char *FULL =
    "{\n"
    "  \"seed\": 7, \"threads\": 4, \"out_dir\": \"@/run\",\n"
    "  \"model\": {\"arch\": \"llama\", \"dim\": 128, \"layers\": 2, \"heads\": 8, \"kv_heads\": 2,\n"
    "            \"ffn\": 352, \"ctx\": 128, \"rope_theta\": 500000, \"init\": \"@/base.h5\"},\n"
    "  \"data\": {\"train\": [\"@/train.txt\", {\"suite\": \"arith\"}, {\"suite\": \"recall\", \"weight\": 0.2},\n"
    "                     {\"jsonl\": \"@/qa.jsonl\", \"weight\": 0.5}, {\"file\": \"@/train.txt\", \"weight\": 2}],\n"
    "           \"val\": \"@/val.txt\", \"tokenizer\": \"byte\"},\n"
    "  \"quant\": {\"weights\": {\"bits\": 3, \"group\": 16, \"grid\": \"asym\", \"scale\": \"fixed\",\n"
    "                          \"init\": \"absmax\", \"fp16_scales\": false},\n"
    "            \"activations\": {\"bits\": 8, \"mode\": \"per_token_dynamic\"},\n"
    "            \"skip\": [\"tok_embeddings.weight\"],\n"
    "            \"override\": {\"layers.*.attention.wo\": {\"bits\": 8},\n"
    "                         \"output.weight\": {\"group\": 0, \"grid\": \"float_min\"}}},\n"
    "  \"ptq\": [{\"method\": \"rtn\"}, {\"method\": \"gptq\", \"calib_tokens\": 65536, \"act_order\": true},\n"
    "          {\"method\": \"smoothquant\", \"alpha\": 0.8}],\n"
    "  \"train\": {\"steps\": 2e3, \"batch\": 8, \"lr\": 2e-4, \"scale_lr\": 1e-3, \"schedule\": \"constant\",\n"
    "            \"warmup\": 100, \"distill\": {\"weight\": 1.5, \"temperature\": 2},\n"
    "            \"ckpt_every\": 0, \"eval_every\": 200},\n"
    "  \"eval\": {\"suites\": [\"text\", \"kl\", \"@/qa.jsonl\"], \"max_regression\": 0.05},\n"
    "  \"export\": [{\"format\": \"gguf\", \"type\": \"Q4_0\", \"requantize\": true, \"path\": \"model-q4_0.gguf\"},\n"
    "             {\"format\": \"hf\", \"path\": \"hf/\"}]\n"
    "}\n";

static int streq(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

static void check_full(const qt_config *c) {
    char p[1024];
    CHECK(c->seed == 7 && c->threads == 4, "seed %d threads %d", c->seed, c->threads);
    snprintf(p, sizeof p, "%s/run", g_dir);
    CHECK(streq(c->out_dir, p), "out_dir %s", c->out_dir);
    CHECK(c->model.arch == QT_ARCH_LLAMA && c->model.dim == 128 && c->model.layers == 2 &&
          c->model.heads == 8 && c->model.kv_heads == 2 && c->model.ffn == 352 && c->model.ctx == 128,
          "model shape");
    CHECK(c->model.vocab == 256 && c->model.rope_theta == 500000 && c->model.norm_eps == 1e-5, "model defaults");
    snprintf(p, sizeof p, "%s/base.h5", g_dir);
    CHECK(streq(c->model.init, p), "init %s", c->model.init);

    CHECK(c->data.n_train == 5, "n_train %d", c->data.n_train);
    if (c->data.n_train == 5) {
        const qt_cfg_source *s = c->data.train;
        snprintf(p, sizeof p, "%s/train.txt", g_dir);
        CHECK(s[0].kind == QT_CFG_SRC_FILE && streq(s[0].file, p) && s[0].weight == 1.0 && s[0].suite == -1,
              "train[0]");
        CHECK(s[1].kind == QT_CFG_SRC_SUITE && s[1].suite == QT_CFG_SUITE_ARITH && s[1].weight == 0.1 &&
              !s[1].file && !s[1].jsonl, "train[1] weight %g", s[1].weight);
        CHECK(s[2].kind == QT_CFG_SRC_SUITE && s[2].suite == QT_CFG_SUITE_RECALL && s[2].weight == 0.2, "train[2]");
        CHECK(s[3].kind == QT_CFG_SRC_JSONL && s[3].jsonl && s[3].weight == 0.5, "train[3]");
        CHECK(s[4].kind == QT_CFG_SRC_FILE && streq(s[4].file, p) && s[4].weight == 2.0, "train[4]");
    }
    CHECK(c->data.val != NULL && c->data.val_fraction == 0.05 && streq(c->data.tokenizer, "byte"), "data");
    snprintf(p, sizeof p, "%s/run/cache", g_dir);
    CHECK(streq(c->data.cache_dir, p), "cache_dir %s", c->data.cache_dir);

    CHECK(c->base.steps == 1000 && c->base.batch == 16 && c->base.lr == 1e-3 && c->base.weight_decay == 0.1 &&
          c->base.warmup == 50 && c->base.schedule == QT_SCHED_COSINE && c->base.clip == 1.0, "base defaults");

    const qt_cfg_wquant *w = &c->quant.weights;
    CHECK(w->bits == 3 && w->group == 16 && w->grid == QT_GRID_ASYM && w->scale == QT_CFG_SCALE_FIXED &&
          w->init == QT_INIT_ABSMAX && w->fp16_scales == 0, "quant.weights");
    CHECK(c->quant.activations.bits == 8 && c->quant.activations.mode == QT_ACT_PER_TOKEN, "act");
    CHECK(c->quant.skip.n == 1 && streq(c->quant.skip.v[0], "tok_embeddings.weight"), "skip");
    CHECK(c->quant.n_override == 2, "n_override %d", c->quant.n_override);
    if (c->quant.n_override == 2) {
        const qt_cfg_override *o = c->quant.override;
        CHECK(streq(o[0].pattern, "layers.*.attention.wo") && o[0].set == QT_CFG_WQ_BITS && o[0].w.bits == 8,
              "override[0] set %x", o[0].set);
        CHECK(streq(o[1].pattern, "output.weight") && o[1].set == (QT_CFG_WQ_GROUP | QT_CFG_WQ_GRID) &&
              o[1].w.group == 0 && o[1].w.grid == QT_GRID_FLOAT_MIN, "override[1] set %x", o[1].set);
    }

    CHECK(c->n_ptq == 3, "n_ptq %d", c->n_ptq);
    if (c->n_ptq == 3) {
        CHECK(c->ptq[0].method == QT_CFG_PTQ_RTN && c->ptq[0].calib_tokens == 32768 && c->ptq[0].act_order == 0,
              "ptq[0]");
        CHECK(c->ptq[1].method == QT_CFG_PTQ_GPTQ && c->ptq[1].calib_tokens == 65536 && c->ptq[1].act_order == 1 &&
              c->ptq[1].percdamp == 0.01, "ptq[1]");
        CHECK(c->ptq[2].method == QT_CFG_PTQ_SMOOTHQUANT && c->ptq[2].alpha == 0.8, "ptq[2]");
    }

    const qt_cfg_train *t = &c->train;
    CHECK(t->steps == 2000 && t->batch == 8 && t->lr == 2e-4 && t->scale_lr == 1e-3 && t->weight_decay == 0 &&
          t->schedule == QT_SCHED_CONSTANT && t->warmup == 100 && t->clip == 1.0, "train");
    CHECK(t->distill.weight == 1.5 && t->distill.temperature == 2 && t->ckpt_every == 0 && t->eval_every == 200 &&
          t->log_every == 10, "train 2");

    CHECK(c->eval.suites.n == 3 && streq(c->eval.suites.v[0], "text") && streq(c->eval.suites.v[1], "kl"),
          "eval.suites");
    CHECK(c->eval.samples == 200 && c->eval.val_tokens == 65536 && c->eval.max_regression == 0.05, "eval");

    CHECK(c->n_exports == 2, "n_exports %d", c->n_exports);
    if (c->n_exports == 2) {
        CHECK(c->exports[0].format == QT_CFG_EXPORT_GGUF && streq(c->exports[0].type, "Q4_0") &&
              streq(c->exports[0].path, "model-q4_0.gguf"), "export[0]");
        CHECK(c->exports[1].format == QT_CFG_EXPORT_HF && c->exports[1].type == NULL &&
              streq(c->exports[1].path, "hf/"), "export[1]");
    }
}

static void test_full_and_roundtrip(void) {
    qt_config cfg, again;
    char err[1024];
    int rc = load_text("full.json", FULL, &cfg, err, sizeof err);
    CHECK(rc == 0, "full config: %s", err);
    if (rc) return;
    check_full(&cfg);

    char *js = qt_config_to_json(&cfg);
    CHECK(js != NULL, "to_json");
    char path[1024];
    write_file("effective.json", js, path, sizeof path);
    rc = qt_config_load(path, &again, err, sizeof err);
    CHECK(rc == 0, "reload effective config: %s", err);
    if (rc == 0) {
        check_full(&again);
        char *js2 = qt_config_to_json(&again);
        CHECK(js2 && strcmp(js, js2) == 0, "effective config differs after a round trip:\n%s\n---\n%s", js, js2);
        free(js2);
        qt_config_free(&again);
    }
    /* the same text through qt_config_parse */
    rc = qt_config_parse(js, "mem", 0, &again, err, sizeof err);
    CHECK(rc == 0, "parse effective: %s", err);
    qt_config_free(&again);
    free(js);

    cJSON *o = qt_config_to_cjson(&cfg);
    CHECK(o != NULL, "to_cjson");
    cJSON_Delete(o);
    qt_config_free(&cfg);
    qt_config_free(&cfg);  /* idempotent */
}

static void test_minimal_defaults(void) {
    qt_config cfg;
    char err[1024];
    int rc = load_text("min.json", "{" BASE_OK "}", &cfg, err, sizeof err);
    CHECK(rc == 0, "minimal: %s", err);
    if (rc) return;
    CHECK(cfg.seed == 1 && cfg.threads == 2, "top defaults");
    CHECK(cfg.model.arch == QT_ARCH_LLAMA && cfg.model.dim == 256 && cfg.model.layers == 4 &&
          cfg.model.heads == 4 && cfg.model.kv_heads == 4 && cfg.model.ffn == 704 && cfg.model.ctx == 256 &&
          cfg.model.vocab == 256 && cfg.model.rope_theta == 10000 && cfg.model.init == NULL, "model defaults");
    CHECK(cfg.data.val == NULL && cfg.data.val_fraction == 0.05, "data defaults");
    CHECK(cfg.quant.weights.bits == 4 && cfg.quant.weights.group == 32 && cfg.quant.weights.grid == QT_GRID_SYM &&
          cfg.quant.weights.scale == QT_CFG_SCALE_LSQ && cfg.quant.weights.init == QT_INIT_MSE &&
          cfg.quant.weights.fp16_scales == 1, "quant.weights defaults");
    CHECK(cfg.quant.activations.bits == 8 && cfg.quant.activations.mode == QT_ACT_NONE, "act defaults");
    CHECK(cfg.quant.skip.n == 2 && streq(cfg.quant.skip.v[1], "output.weight"), "skip default");
    CHECK(cfg.quant.n_override == 0, "override default");
    CHECK(cfg.train.steps == 300 && cfg.train.batch == 16 && cfg.train.lr == 1e-4 && cfg.train.scale_lr == 1e-3 &&
          cfg.train.warmup == 20 && cfg.train.schedule == QT_SCHED_COSINE && cfg.train.distill.weight == 0 &&
          cfg.train.distill.temperature == 1 && cfg.train.ckpt_every == 100 && cfg.train.log_every == 10,
          "train defaults");
    CHECK(cfg.eval.suites.n == 4 && streq(cfg.eval.suites.v[3], "kl") && cfg.eval.samples == 200 &&
          cfg.eval.max_regression == 0.03, "eval defaults");
    CHECK(cfg.n_ptq == 1 && cfg.ptq[0].method == QT_CFG_PTQ_RTN, "ptq default");
    CHECK(cfg.n_exports == 0, "export default");
    CHECK(streq(qt_config_enum_name("model.arch", cfg.model.arch), "llama"), "enum name");
    CHECK(streq(qt_config_enum_name("ptq[].method", QT_CFG_PTQ_SMOOTHQUANT), "smoothquant"), "enum name ptq");
    CHECK(qt_config_enum_name("model.arch", 5) == NULL && qt_config_enum_name("nope", 0) == NULL, "enum name bad");
    qt_config_free(&cfg);

    /* model.arch mlp skips the attention-shape rules */
    rc = load_text("mlp.json", "{" BASE_OK ", \"model\": {\"arch\": \"mlp\", \"dim\": 100, \"heads\": 3, "
                   "\"ffn\": 200}, \"quant\": {\"weights\": {\"group\": 0}}}", &cfg, err, sizeof err);
    CHECK(rc == 0, "mlp: %s", err);
    qt_config_free(&cfg);

    /* no file checks when asked */
    rc = qt_config_parse("{\"out_dir\": \"r\", \"data\": {\"train\": [\"/nonexistent/x.txt\"]}, "
                         "\"model\": {\"init\": \"/nonexistent/y.h5\"}}", "mem", QT_CONFIG_NO_FILE_CHECKS,
                         &cfg, err, sizeof err);
    CHECK(rc == 0, "no file checks: %s", err);
    CHECK(streq(cfg.data.cache_dir, "r/cache"), "cache_dir %s", cfg.data.cache_dir);
    qt_config_free(&cfg);
}

static void test_errors(void) {
    /* unknown keys, with the nearest sibling suggested */
    expect_error("{" BASE_OK ", \"train\": {\"lrr\": 0.1}}",
                 "unknown key \"train.lrr\" (did you mean \"train.lr\"?)", __LINE__);
    expect_error("{" BASE_OK ", \"model\": {\"haeds\": 4}}",
                 "unknown key \"model.haeds\" (did you mean \"model.heads\"?)", __LINE__);
    expect_error("{" BASE_OK ", \"sede\": 3}", "unknown key \"sede\" (did you mean \"seed\"?)", __LINE__);
    expect_error_has("{" BASE_OK ", \"model\": {\"xyzzy\": 4}}", "unknown key \"model.xyzzy\" (known keys here: arch",
                     NULL, __LINE__);
    expect_error("{" BASE_OK ", \"seed\": 1, \"seed\": 2}", "duplicate key \"seed\"", __LINE__);

    /* wrong type */
    expect_error("{" BASE_OK ", \"train\": {\"lr\": \"fast\"}}",
                 "key \"train.lr\": expected a number > 0, got \"fast\"", __LINE__);
    expect_error("{" BASE_OK ", \"model\": {\"dim\": \"256\"}}",
                 "key \"model.dim\": expected an integer in [8, 16384], got \"256\"", __LINE__);
    expect_error("{" BASE_OK ", \"quant\": {\"weights\": {\"fp16_scales\": 1}}}",
                 "key \"quant.weights.fp16_scales\": expected true or false, got 1", __LINE__);
    expect_error("{" BASE_OK ", \"model\": [1]}", "key \"model\": expected an object, got an array", __LINE__);
    expect_error("{" BASE_OK ", \"quant\": {\"skip\": \"output.weight\"}}",
                 "key \"quant.skip\": expected an array of strings, got \"output.weight\"", __LINE__);
    expect_error("{\"out_dir\": null, \"data\": {\"train\": [\"@/train.txt\"]}}", "key \"out_dir\": expected a non-empty string, got null",
                 __LINE__);

    /* integer expected */
    expect_error("{" BASE_OK ", \"quant\": {\"weights\": {\"bits\": 4.5}}}",
                 "key \"quant.weights.bits\": expected an integer in [2, 8], got 4.5", __LINE__);

    /* out of range */
    expect_error("{" BASE_OK ", \"quant\": {\"weights\": {\"bits\": 9}}}",
                 "key \"quant.weights.bits\": expected an integer in [2, 8], got 9", __LINE__);
    expect_error("{" BASE_OK ", \"train\": {\"lr\": -1}}", "key \"train.lr\": expected a number > 0, got -1", __LINE__);
    expect_error("{\"out_dir\": \"x\", \"data\": {\"train\": [\"@/train.txt\"], \"val_fraction\": 0}}",
                 "key \"data.val_fraction\": expected a number in (0, 0.5], got 0", __LINE__);
    expect_error("{" BASE_OK ", \"seed\": 3e9}", "key \"seed\": expected an integer in [0, 2147483647], got 3000000000",
                 __LINE__);

    /* bad enum */
    expect_error("{" BASE_OK ", \"model\": {\"arch\": \"gpt\"}}",
                 "key \"model.arch\": expected one of \"llama\", \"mlp\", \"mistral\", \"qwen2\", \"qwen3\", got \"gpt\"", __LINE__);

    /* missing required keys */
    expect_error("{\"data\": {\"train\": [\"@/train.txt\"]}}", "missing required key \"out_dir\"", __LINE__);
    expect_error("{\"out_dir\": \"x\"}", "missing required key \"data.train\"", __LINE__);
    expect_error("{" BASE_OK ", \"ptq\": [{\"method\": \"rtn\"}, {\"alpha\": 0.5}]}",
                 "missing required key \"ptq[1].method\"", __LINE__);

    /* missing files */
    expect_error("{" BASE_OK ", \"model\": {\"init\": \"@/runs/base/ckpt.h5\"}}",
                 "key \"model.init\": file \"@/runs/base/ckpt.h5\" not found", __LINE__);
    expect_error("{\"out_dir\": \"x\", \"data\": {\"train\": [\"@/train.txt\", {\"file\": \"@/nope.txt\"}]}}",
                 "key \"data.train[1].file\": file \"@/nope.txt\" not found", __LINE__);
    expect_error("{" BASE_OK ", \"eval\": {\"suites\": [\"text\", \"@/missing.jsonl\"]}}",
                 "key \"eval.suites[1]\": file \"@/missing.jsonl\" not found", __LINE__);
    /* a directory is a Hugging Face checkpoint: without config.json it is refused by name */
    expect_error("{" BASE_OK ", \"model\": {\"init\": \"@\"}}",
                 "key \"model.init\": @: no config.json (expected a Hugging Face model directory)", __LINE__);
    expect_error("{\"out_dir\": \"x\", \"data\": {\"train\": [{\"file\": \"@\"}]}}",
                 "key \"data.train[0].file\": \"@\" is a directory, expected a file", __LINE__);
    {
        qt_config cfg;
        char err[1024], path[1024];
        snprintf(path, sizeof path, "%s/does_not_exist.json", g_dir);
        CHECK(qt_config_load(path, &cfg, err, sizeof err) == -1, "missing config file loads");
        CHECK(strstr(err, path) == err && strstr(err, "cannot open config: No such file"), "got %s", err);
    }

    /* malformed JSON: the message names the line */
    expect_error_has("{\n  \"out_dir\": \"x\",\n  \"seed\": 1,,\n  \"threads\": 2\n}\n",
                     "malformed JSON near line 3: ", "\"seed\": 1,,", __LINE__);
    expect_error_has("{\n  \"out_dir\": \"x\",\n  \"model\": {\"dim\": 256\n", "malformed JSON near line",
                     "unexpected end of input", __LINE__);
    expect_error_has("", "malformed JSON near line 1", NULL, __LINE__);
    expect_error("[1, 2]", "expected a JSON object at the top level, got an array", __LINE__);

    /* cross-field rules */
    expect_error("{" BASE_OK ", \"model\": {\"dim\": 250, \"heads\": 4}}",
                 "key \"model.dim\": expected a multiple of model.heads = 4 (or a model.head_dim), got 250", __LINE__);
    expect_error("{" BASE_OK ", \"model\": {\"heads\": 4, \"kv_heads\": 3}}",
                 "key \"model.kv_heads\": expected a divisor of model.heads = 4, got 3", __LINE__);
    expect_error("{" BASE_OK ", \"model\": {\"dim\": 12, \"heads\": 4, \"ffn\": 32}, \"quant\": {\"weights\": {\"group\": 4}}}",
                 "key \"model.head_dim\": expected an even head size (RoPE rotates pairs), got 3 (model.dim / model.heads)",
                 __LINE__);
    expect_error("{" BASE_OK ", \"quant\": {\"weights\": {\"group\": 48}}}",
                 "key \"quant.weights.group\": expected 0 or a divisor of model.dim = 256 and model.ffn = 704, got 48",
                 __LINE__);
    expect_error("{" BASE_OK ", \"model\": {\"ffn\": 720}}",
                 "key \"quant.weights.group\": expected 0 or a divisor of model.dim = 256 and model.ffn = 720, got 32",
                 __LINE__);
    expect_error("{" BASE_OK ", \"model\": {\"vocab\": 100}}",
                 "key \"model.vocab\": expected at least 256 with data.tokenizer \"byte\", got 100", __LINE__);

    /* bad items inside arrays and the override map */
    expect_error("{" BASE_OK ", \"ptq\": [{\"method\": \"rtn\"}, {\"method\": \"foo\"}]}",
                 "key \"ptq[1].method\": expected one of \"rtn\", \"gptq\", \"awq\", \"smoothquant\", \"llamacpp\", got \"foo\"",
                 __LINE__);
    expect_error("{" BASE_OK ", \"ptq\": [{\"method\": \"gptq\", \"percdamp\": 2}]}",
                 "key \"ptq[0].percdamp\": expected a number in [0, 1], got 2", __LINE__);
    expect_error("{" BASE_OK ", \"ptq\": [{\"method\": \"gptq\", \"act_ordr\": true}]}",
                 "unknown key \"ptq[0].act_ordr\" (did you mean \"ptq[0].act_order\"?)", __LINE__);
    expect_error("{" BASE_OK ", \"ptq\": [\"rtn\"]}", "key \"ptq[0]\": expected an object, got \"rtn\"", __LINE__);
    expect_error("{" BASE_OK ", \"export\": [{\"format\": \"gguf\"}]}", "missing required key \"export[0].path\"",
                 __LINE__);
    expect_error("{" BASE_OK ", \"quant\": {\"override\": {\"layers.*.attention.wo\": {\"bits\": 9}}}}",
                 "key \"quant.override[\"layers.*.attention.wo\"].bits\": expected an integer in [2, 8], got 9",
                 __LINE__);
    expect_error("{" BASE_OK ", \"quant\": {\"override\": {\"output.weight\": {\"bitz\": 8}}}}",
                 "unknown key \"quant.override[\"output.weight\"].bitz\" (did you mean "
                 "\"quant.override[\"output.weight\"].bits\"?)", __LINE__);
    expect_error("{" BASE_OK ", \"quant\": {\"override\": {\"output.weight\": 8}}}",
                 "key \"quant.override[\"output.weight\"]\": expected an object with keys of quant.weights, got 8",
                 __LINE__);
    expect_error("{" BASE_OK ", \"quant\": {\"override\": {\"layers.*.feed_forward.w2\": {\"group\": 48}}}}",
                 "key \"quant.override[\"layers.*.feed_forward.w2\"].group\": expected 0 or a divisor of "
                 "model.dim = 256 and model.ffn = 704, got 48", __LINE__);
    expect_error("{\"out_dir\": \"x\", \"data\": {\"train\": [{\"suite\": \"arith\", \"file\": \"@/train.txt\"}]}}",
                 "key \"data.train[0]\": expected exactly one of \"file\", \"suite\", \"jsonl\", got 2", __LINE__);
    expect_error("{\"out_dir\": \"x\", \"data\": {\"train\": [{\"weight\": 2}]}}",
                 "key \"data.train[0]\": expected exactly one of \"file\", \"suite\", \"jsonl\", got 0", __LINE__);
    expect_error("{\"out_dir\": \"x\", \"data\": {\"train\": [{\"suite\": \"poetry\"}]}}",
                 "key \"data.train[0].suite\": expected one of \"arith\", \"recall\", got \"poetry\"", __LINE__);
    expect_error("{\"out_dir\": \"x\", \"data\": {\"train\": [{\"suite\": \"arith\", \"weight\": 0}]}}",
                 "key \"data.train[0].weight\": expected a number > 0, got 0", __LINE__);
    expect_error("{\"out_dir\": \"x\", \"data\": {\"train\": []}}",
                 "key \"data.train\": expected a non-empty array of strings or objects, got an array", __LINE__);
    expect_error("{\"out_dir\": \"x\", \"data\": {\"train\": [3]}}",
                 "key \"data.train[0]\": expected a string or an object, got 3", __LINE__);
    expect_error("{" BASE_OK ", \"eval\": {\"suites\": [\"text\", \"poems\"]}}",
                 "key \"eval.suites[1]\": expected one of \"text\", \"arith\", \"recall\", \"kl\" or a path to a "
                 ".jsonl file, got \"poems\"", __LINE__);
    expect_error("{" BASE_OK ", \"quant\": {\"skip\": [\"a\", 2]}}",
                 "key \"quant.skip[1]\": expected a non-empty string, got 2", __LINE__);

    /* a short err buffer is truncated, never overrun */
    qt_config cfg;
    char small[16];
    memset(small, 'z', sizeof small);
    CHECK(load_text("bad.json", "{" BASE_OK ", \"seed\": -1}", &cfg, small, 12) == -1, "small buffer");
    CHECK(memchr(small, 0, 12) != NULL && small[12] == 'z', "small buffer overrun");
}

static void test_docs_match(void) {
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    CHECK(m != NULL, "open_memstream");
    if (!m) return;
    CHECK(qt_config_doc(m) == 0, "qt_config_doc");
    fclose(m);

    char path[1024];
    tu_src("docs/config.md", path, sizeof path);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL, "cannot open %s (regenerate: build/qat_config_doc > docs/config.md)", path);
    if (f) {
        char *file = malloc(len + 2);
        size_t n = fread(file, 1, len + 1, f);
        fclose(f);
        CHECK(n == len && memcmp(file, buf, len) == 0,
              "%s is stale: regenerate it with build/qat_config_doc > docs/config.md", path);
        free(file);
    }
    /* every schema key shows up in the docs */
    CHECK(strstr(buf, "| `quant.weights.bits` | integer | `4` | [2, 8] |") != NULL, "docs row for bits");
    CHECK(strstr(buf, "| `out_dir` | string | **required** |") != NULL, "docs row for out_dir");
    free(buf);
}

/* model.init = a Hugging Face directory: the shape, head size, tying, sliding
 * window and rope scaling come from its config.json; a key the config gives
 * must agree; model.ctx defaults to at most the window; the effective config
 * round-trips. */
static void test_foreign_init(void) {
    char p[1024];
    snprintf(p, sizeof p, "%s/hfdir", g_dir);
    if (mkdir(p, 0755)) { perror(p); exit(2); }
    write_file("hfdir/config.json",
               "{\"model_type\": \"qwen3\", \"hidden_size\": 64, \"intermediate_size\": 96, \"num_hidden_layers\": 2,"
               " \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"head_dim\": 32, \"vocab_size\": 256,"
               " \"max_position_embeddings\": 200, \"rms_norm_eps\": 1e-6, \"rope_theta\": 1000000,"
               " \"tie_word_embeddings\": true, \"hidden_act\": \"silu\"}", p, sizeof p);
    qt_config cfg;
    char err[1024];
    int rc = load_text("foreign.json", "{\"out_dir\": \"@/o\", \"model\": {\"init\": \"@/hfdir\"}, "
                       "\"data\": {\"train\": [\"@/train.txt\"]}}", &cfg, err, sizeof err);
    CHECK(rc == 0, "foreign init: %s", err);
    if (rc == 0) {
        const qt_cfg_model *m = &cfg.model;
        CHECK(m->arch == QT_ARCH_QWEN3 && m->dim == 64 && m->ffn == 96 && m->layers == 2 && m->heads == 4 &&
              m->kv_heads == 2 && m->head_dim == 32 && m->vocab == 256 && m->tied == 1 && m->max_ctx == 200 &&
              m->ctx == 200 && (float)m->rope_theta == 1e6f && (float)m->norm_eps == 1e-6f,
              "shape not taken from config.json: arch %d dim %d head_dim %d vocab %d tied %d ctx %d/%d", (int)m->arch,
              m->dim, m->head_dim, m->vocab, m->tied, m->ctx, m->max_ctx);
        qt_model_cfg mc = qt_plan_model_cfg(&cfg);
        CHECK(mc.qk_norm == 1 && mc.qkv_bias == 0 && qt_model_head_dim(&mc) == 32, "plan: model cfg of qwen3");
        char *j = qt_config_to_json(&cfg), path[1024];
        write_file("foreign_eff.json", j, path, sizeof path);
        qt_config c2;
        CHECK(qt_config_load(path, &c2, err, sizeof err) == 0, "effective config refused: %s", err);
        qt_config_free(&c2);
        free(j);
        qt_config_free(&cfg);
    }
    expect_error("{\"out_dir\": \"@/o\", \"model\": {\"init\": \"@/hfdir\", \"dim\": 128}, "
                 "\"data\": {\"train\": [\"@/train.txt\"]}}",
                 "key \"model.dim\": expected 64 (from model.init \"@/hfdir\"), got 128; leave it out to take the "
                 "checkpoint's", __LINE__);
    expect_error("{\"out_dir\": \"@/o\", \"model\": {\"init\": \"@/hfdir\", \"arch\": \"llama\"}, "
                 "\"data\": {\"train\": [\"@/train.txt\"]}}",
                 "key \"model.arch\": expected \"qwen3\" (from model.init \"@/hfdir\"), got 0; leave it out to take the "
                 "checkpoint's", __LINE__);
    expect_error("{\"out_dir\": \"@/o\", \"model\": {\"init\": \"@/hfdir\", \"ctx\": 256}, "
                 "\"data\": {\"train\": [\"@/train.txt\"]}}",
                 "key \"model.ctx\": expected at most model.max_ctx = 200 (the positions the model supports), got 256",
                 __LINE__);
    write_file("hfdir/config.json", "{\"model_type\": \"gemma2\"}", p, sizeof p);
    expect_error("{\"out_dir\": \"@/o\", \"model\": {\"init\": \"@/hfdir\"}, \"data\": {\"train\": [\"@/train.txt\"]}}",
                 "key \"model.init\": @/hfdir/config.json: model_type \"gemma2\" is not supported (llama, mistral, "
                 "qwen2, qwen3)", __LINE__);
}

int main(void) {
    tu_tmpdir(g_dir, sizeof g_dir);
    char p[1024];
    write_file("train.txt", "hello world\n", p, sizeof p);
    write_file("val.txt", "hello again\n", p, sizeof p);
    write_file("base.h5", "not really hdf5\n", p, sizeof p);
    write_file("qa.jsonl", "{\"prompt\": \"1+1=\", \"answer\": \"2\"}\n", p, sizeof p);

    test_full_and_roundtrip();
    test_minimal_defaults();
    test_errors();
    test_docs_match();
    test_foreign_init();
    return tu_finish("test_config");
}
