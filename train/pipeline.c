#include "train/pipeline.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "data/suites.h"
#include "eval/eval.h"
#include "io/h5store.h"
#include "qat/policy.h"
#include "train/train.h"

#define MAX_SUITES 32

typedef struct {
    char name[64];
    qd_eval_set set;
    const char **prompts, **answers;
} eval_suite;

typedef struct {
    const char *name;
    double val_bpb, val_ppl, kl, top1, bytes, bpw, seconds;
    int has_ref;
    double acc[MAX_SUITES];
} method_result;

typedef struct {
    const qt_config *cfg;
    const char *cfg_path;
    char *cfg_json;
    qd_mix mix;
    qd_tokens val;
    eval_suite suites[MAX_SUITES];
    int n_suites;
    int want_text, want_kl;
    FILE *metrics;
    qt_ctx ectx;
} run_state;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void path_in(char *buf, size_t n, const char *dir, const char *file) { snprintf(buf, n, "%s/%s", dir, file); }

static int mkdirs(const char *path, char *err, size_t errlen) {
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) && errno != EEXIST) goto fail;
        *p = '/';
    }
    if (mkdir(tmp, 0755) && errno != EEXIST) goto fail;
    return 0;
fail:
    snprintf(err, errlen, "cannot create directory %s: %s", tmp, strerror(errno));
    return -1;
}

static void base_name(const char *path, char *out, size_t n) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    snprintf(out, n, "%s", b);
    char *dot = strrchr(out, '.');
    if (dot && dot != out) *dot = 0;
}

static qd_recall_cfg recall_cfg(const qt_config *cfg) {
    qd_recall_cfg r = qd_recall_default();
    if (r.ctx_bytes > cfg->model.ctx) r.ctx_bytes = cfg->model.ctx;
    return r;
}

static int open_suite(const qt_config *cfg, qd_suite *s, int builtin, const char *path, char *err) {
    memset(s, 0, sizeof *s);
    if (builtin == QT_CFG_SUITE_ARITH) return qd_suite_arith(s, NULL, err);
    if (builtin == QT_CFG_SUITE_RECALL) {
        qd_recall_cfg rc = recall_cfg(cfg);
        return qd_suite_recall(s, &rc, err);
    }
    return qd_suite_load_file(s, path, err);
}

static int append_tokens(qd_tokens *dst, const qd_tokens *src) {
    int32_t *t = realloc(dst->tok, (dst->n + src->n) * sizeof *t);
    if (!t) return -1;
    memcpy(t + dst->n, src->tok, src->n * sizeof *t);
    dst->tok = t;
    dst->n += src->n;
    return 0;
}

static int setup_data(run_state *rs, char *err, size_t errlen) {
    const qt_config *cfg = rs->cfg;
    char qerr[QD_ERR_LEN];
    qd_split_cfg split = qd_split_default();
    split.val_fraction = cfg->data.val ? 0.0 : cfg->data.val_fraction;
    split.seed = (uint64_t)cfg->seed;
    if (mkdirs(cfg->data.cache_dir, err, errlen)) return -1;
    qd_mix_init(&rs->mix);
    for (int i = 0; i < cfg->data.n_train; i++) {
        const qt_cfg_source *src = &cfg->data.train[i];
        if (src->kind == QT_CFG_SRC_FILE) {
            char bn[256], prefix[1024];
            base_name(src->file, bn, sizeof bn);
            snprintf(prefix, sizeof prefix, "%s/%s", cfg->data.cache_dir, bn);
            qd_text_data td;
            if (qd_text_load(src->file, &split, prefix, &td, qerr) ||
                qd_mix_add(&rs->mix, bn, td.train.tok, td.train.n, NULL, 0, src->weight, qerr)) {
                snprintf(err, errlen, "%s", qerr);
                return -1;
            }
            if (!cfg->data.val) append_tokens(&rs->val, &td.val);
            fprintf(stderr, "data: %s: %zu train tokens, %zu val tokens%s\n", src->file, td.train.n, td.val.n,
                    td.from_cache ? " (cached)" : "");
            qd_text_free(&td);
        } else {
            qd_suite s;
            if (open_suite(cfg, &s, src->kind == QT_CFG_SRC_SUITE ? src->suite : -1, src->jsonl, qerr) ||
                qd_mix_add_suite(&rs->mix, &s, (uint64_t)cfg->seed, (size_t)1 << 20, src->weight, qerr)) {
                snprintf(err, errlen, "%s", qerr);
                qd_suite_free(&s);
                return -1;
            }
            fprintf(stderr, "data: suite %s (weight %g)\n", s.name, src->weight);
            qd_suite_free(&s);
        }
    }
    if (cfg->data.val) {
        qd_split_cfg all = split;
        all.val_fraction = 0.0;
        qd_text_data td;
        char bn[256], prefix[1024];
        base_name(cfg->data.val, bn, sizeof bn);
        snprintf(prefix, sizeof prefix, "%s/val-%s", cfg->data.cache_dir, bn);
        if (qd_text_load(cfg->data.val, &all, prefix, &td, qerr)) {
            snprintf(err, errlen, "%s", qerr);
            return -1;
        }
        append_tokens(&rs->val, &td.train);
        qd_text_free(&td);
    }
    for (int i = 0; i < cfg->eval.suites.n; i++) {
        const char *name = cfg->eval.suites.v[i];
        if (!strcmp(name, "text")) { rs->want_text = 1; continue; }
        if (!strcmp(name, "kl")) { rs->want_kl = 1; continue; }
        if (rs->n_suites == MAX_SUITES) {
            snprintf(err, errlen, "%s: key \"eval.suites\": at most %d suites", rs->cfg_path, MAX_SUITES);
            return -1;
        }
        eval_suite *es = &rs->suites[rs->n_suites];
        qd_suite s;
        int builtin = !strcmp(name, "arith") ? QT_CFG_SUITE_ARITH : !strcmp(name, "recall") ? QT_CFG_SUITE_RECALL : -1;
        memset(&es->set, 0, sizeof es->set);
        if (open_suite(cfg, &s, builtin, name, qerr) ||
            qd_suite_eval_set(&s, (uint64_t)cfg->seed, (size_t)cfg->eval.samples, &es->set, qerr)) {
            snprintf(err, errlen, "%s", qerr);
            qd_suite_free(&s);
            return -1;
        }
        snprintf(es->name, sizeof es->name, "%s", s.name);
        qd_suite_free(&s);
        es->prompts = malloc(es->set.n * sizeof *es->prompts);
        es->answers = malloc(es->set.n * sizeof *es->answers);
        for (size_t k = 0; k < es->set.n; k++) {
            es->prompts[k] = es->set.items[k].prompt;
            es->answers[k] = es->set.items[k].answer;
        }
        rs->n_suites++;
    }
    if ((rs->want_text || rs->want_kl) && rs->val.n < 2) {
        snprintf(err, errlen, "%s: no validation text (set data.val or a data.val_fraction that leaves some text)",
                 rs->cfg_path);
        return -1;
    }
    return 0;
}

static void eval_method(run_state *rs, qt_model *m, qt_model *ref, method_result *r) {
    const qt_config *cfg = rs->cfg;
    int batch = cfg->train.batch;
    if (rs->val.n >= 2) {
        long n = (long)rs->val.n < cfg->eval.val_tokens ? (long)rs->val.n : cfg->eval.val_tokens;
        qt_lm_score s = qt_eval_lm(&rs->ectx, m, rs->want_kl ? ref : NULL, rs->val.tok, n, cfg->model.ctx, batch);
        r->val_bpb = s.bpb;
        r->val_ppl = s.ppl;
        r->kl = ref ? s.kl : 0.0;
        r->top1 = ref ? s.top1 : 1.0;
        r->has_ref = ref != NULL && rs->want_kl;
    }
    for (int i = 0; i < rs->n_suites; i++)
        r->acc[i] = qt_eval_exact_match(&rs->ectx, m, rs->suites[i].prompts, rs->suites[i].answers,
                                        (int)rs->suites[i].set.n, batch);
    fprintf(stderr, "eval %-5s val bpb %.4f ppl %.3f", r->name, r->val_bpb, r->val_ppl);
    for (int i = 0; i < rs->n_suites; i++) fprintf(stderr, "  %s %.3f", rs->suites[i].name, r->acc[i]);
    if (r->has_ref) fprintf(stderr, "  kl %.4f top1 %.3f", r->kl, r->top1);
    fprintf(stderr, "\n");
}

/* Drops metrics lines of `stage` with step > max_step (after a resume). */
static void trim_metrics(const char *path, const char *stage, long long max_step) {
    char *text = NULL;
    size_t len = 0;
    char qerr[QD_ERR_LEN];
    if (qd_read_file(path, &text, &len, qerr)) return;
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.trim", path);
    FILE *f = fopen(tmp, "w");
    if (!f) { free(text); return; }
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "stage"), *sp = cJSON_GetObjectItemCaseSensitive(j, "step");
        int drop = cJSON_IsString(st) && !strcmp(st->valuestring, stage) && cJSON_IsNumber(sp) && sp->valuedouble > max_step;
        if (!drop) fprintf(f, "%s\n", line);
        cJSON_Delete(j);
    }
    fclose(f);
    rename(tmp, path);
    free(text);
}

static long long ckpt_step(const char *path) {
    char e[256];
    qt_h5r *r = qt_h5r_open(path, e, sizeof e);
    int64_t s = -1;
    if (r) qt_h5r_int(r, "step", &s);
    qt_h5r_close(r);
    return s;
}

static qt_train_spec make_spec(const run_state *rs, const char *stage, const char *ckpt) {
    const qt_config *c = rs->cfg;
    int base = !strcmp(stage, "base");
    qt_train_spec s = {
        .stage = stage,
        .steps = base ? c->base.steps : c->train.steps,
        .batch = base ? c->base.batch : c->train.batch,
        .T = c->model.ctx,
        .lr = base ? c->base.lr : c->train.lr,
        .scale_lr = c->train.scale_lr,
        .weight_decay = base ? c->base.weight_decay : c->train.weight_decay,
        .clip = base ? c->base.clip : c->train.clip,
        .schedule = (base ? c->base.schedule : c->train.schedule) == QT_CFG_SCHED_COSINE ? QT_SCHED_COSINE : QT_SCHED_CONSTANT,
        .warmup = base ? c->base.warmup : c->train.warmup,
        .distill_weight = base ? 0.0 : c->train.distill.weight,
        .distill_temperature = c->train.distill.temperature,
        .ckpt_every = c->train.ckpt_every,
        .eval_every = c->train.eval_every,
        .log_every = c->train.log_every,
        .val_tokens = c->eval.val_tokens,
        .ckpt_path = ckpt,
        .config_json = rs->cfg_json,
        .seed = (uint64_t)c->seed,
    };
    return s;
}

static int run_stage(run_state *rs, const char *stage, qt_model *m, qt_model *teacher, const char *ckpt, int resume,
                     volatile sig_atomic_t *stop, char *err, size_t errlen) {
    char mpath[1100];
    path_in(mpath, sizeof mpath, rs->cfg->out_dir, "metrics.jsonl");
    if (resume && access(ckpt, F_OK) == 0) {
        if (rs->metrics) fclose(rs->metrics);
        trim_metrics(mpath, stage, ckpt_step(ckpt));
        rs->metrics = fopen(mpath, "a");
    }
    qt_train_spec spec = make_spec(rs, stage, ckpt);
    qt_train_env env = {.model = m, .teacher = teacher, .mix = &rs->mix, .val = rs->val.n >= 2 ? &rs->val : NULL,
                        .metrics = rs->metrics, .stop = stop};
    return qt_train_run(&spec, &env, resume, NULL, err, errlen);
}

static cJSON *method_json(const run_state *rs, const method_result *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "val_bpb", r->val_bpb);
    cJSON_AddNumberToObject(o, "val_ppl", r->val_ppl);
    cJSON *s = cJSON_AddObjectToObject(o, "suites");
    for (int i = 0; i < rs->n_suites; i++) cJSON_AddNumberToObject(s, rs->suites[i].name, r->acc[i]);
    cJSON_AddNumberToObject(o, "kl_vs_fp32", r->kl);
    cJSON_AddNumberToObject(o, "top1_vs_fp32", r->top1);
    cJSON_AddNumberToObject(o, "bytes", r->bytes);
    cJSON_AddNumberToObject(o, "bits_per_weight", r->bpw);
    cJSON_AddNumberToObject(o, "seconds", r->seconds);
    return o;
}

static int write_report(run_state *rs, const method_result *res, int n, int *regressed, char *err, size_t errlen) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "qatc_version", QATC_VERSION);
    cJSON_AddItemToObject(root, "config", qt_config_to_cjson(rs->cfg));
    cJSON *methods = cJSON_AddObjectToObject(root, "methods");
    for (int i = 0; i < n; i++) cJSON_AddItemToObject(methods, res[i].name, method_json(rs, &res[i]));
    /* gate: the chosen model (qat, the last row) against fp32 (the first), per suite */
    cJSON *gate = cJSON_AddObjectToObject(root, "gate");
    cJSON_AddStringToObject(gate, "model", res[n - 1].name);
    cJSON_AddNumberToObject(gate, "max_regression", rs->cfg->eval.max_regression);
    cJSON *regs = cJSON_AddArrayToObject(gate, "regressions");
    *regressed = 0;
    for (int i = 0; i < rs->n_suites; i++) {
        double drop = res[0].acc[i] - res[n - 1].acc[i];
        if (drop > rs->cfg->eval.max_regression) {
            cJSON *r = cJSON_CreateObject();
            cJSON_AddStringToObject(r, "suite", rs->suites[i].name);
            cJSON_AddNumberToObject(r, "fp32", res[0].acc[i]);
            cJSON_AddNumberToObject(r, res[n - 1].name, res[n - 1].acc[i]);
            cJSON_AddItemToArray(regs, r);
            (*regressed)++;
        }
    }
    cJSON_AddBoolToObject(gate, "passed", *regressed == 0);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    char path[1100], tmp[1200];
    path_in(path, sizeof path, rs->cfg->out_dir, "report.json");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    int ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    if (f) ok = (fflush(f) == 0) & (fsync(fileno(f)) == 0) & (fclose(f) == 0) & ok;
    free(text);
    if (!ok || rename(tmp, path)) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    fprintf(stderr, "report: %s\n", path);
    return 0;
}

static void free_state(run_state *rs) {
    qd_mix_free(&rs->mix);
    qd_tokens_free(&rs->val);
    for (int i = 0; i < rs->n_suites; i++) {
        qd_eval_set_free(&rs->suites[i].set);
        free(rs->suites[i].prompts);
        free(rs->suites[i].answers);
    }
    if (rs->metrics) fclose(rs->metrics);
    qt_ctx_free(&rs->ectx);
    free(rs->cfg_json);
}

static qt_model_cfg model_cfg(const qt_config *c) {
    qt_model_cfg m = {.arch = c->model.arch == QT_CFG_ARCH_MLP ? QT_ARCH_MLP : QT_ARCH_LLAMA,
                      .dim = c->model.dim, .layers = c->model.layers, .heads = c->model.heads,
                      .kv_heads = c->model.kv_heads, .ffn = c->model.ffn, .ctx = c->model.ctx,
                      .vocab = c->model.vocab, .rope_theta = (float)c->model.rope_theta,
                      .norm_eps = (float)c->model.norm_eps};
    return m;
}

int qt_pipeline_run(const qt_config *cfg, const char *config_path, int resume, volatile sig_atomic_t *stop) {
    char err[1024] = "";
    run_state rs = {.cfg = cfg, .cfg_path = config_path};
    qt_ctx_init(&rs.ectx, 16 << 20);
    qt_model *base = NULL, *qat = NULL, *frozen = NULL;
    int rc = QT_EXIT_ERROR;
    char base_path[1100], base_ckpt[1100], qat_ckpt[1100], qat_path[1100], mpath[1100];
    path_in(base_path, sizeof base_path, cfg->out_dir, "base.h5");
    path_in(base_ckpt, sizeof base_ckpt, cfg->out_dir, "base.ckpt.h5");
    path_in(qat_ckpt, sizeof qat_ckpt, cfg->out_dir, "qat.ckpt.h5");
    path_in(qat_path, sizeof qat_path, cfg->out_dir, "qat.h5");
    path_in(mpath, sizeof mpath, cfg->out_dir, "metrics.jsonl");
    if (mkdirs(cfg->out_dir, err, sizeof err)) goto out;
    if (!resume) {
        const char *existing[] = {base_path, base_ckpt, qat_ckpt, qat_path};
        for (int i = 0; i < 4; i++)
            if (access(existing[i], F_OK) == 0) {
                snprintf(err, sizeof err,
                         "%s: out_dir \"%s\" already holds a run (%s); pass --resume to continue it, or choose another out_dir",
                         config_path, cfg->out_dir, existing[i]);
                goto out;
            }
    }
    rs.cfg_json = qt_config_to_json(cfg);
    rs.metrics = fopen(mpath, resume ? "a" : "w");
    if (!rs.metrics) {
        snprintf(err, sizeof err, "cannot open %s: %s", mpath, strerror(errno));
        goto out;
    }
    if (setup_data(&rs, err, sizeof err)) goto out;

    qt_model_cfg mc = model_cfg(cfg);
    if (qt_model_cfg_check(&mc, err, sizeof err)) goto out;
    base = qt_model_new(&mc);
    qt_model_init(base, (uint64_t)cfg->seed);
    fprintf(stderr, "model: %s, %zu parameters\n", cfg->model.arch == QT_CFG_ARCH_MLP ? "mlp" : "llama", qt_model_numel(base));
    method_result res[3];
    memset(res, 0, sizeof res);
    double t0 = now_s();
    if (cfg->model.init) {
        if (qt_model_load(base, cfg->model.init, err, sizeof err)) goto out;
        fprintf(stderr, "base: loaded %s\n", cfg->model.init);
    } else if (resume && access(base_path, F_OK) == 0) {
        if (qt_model_load(base, base_path, err, sizeof err)) goto out;
        fprintf(stderr, "base: loaded %s (resume)\n", base_path);
    } else {
        int r = run_stage(&rs, "base", base, NULL, base_ckpt, resume, stop, err, sizeof err);
        if (r == 2) { rc = QT_EXIT_INTERRUPTED; goto out; }
        if (r) goto out;
        if (qt_model_save(base, base_path, rs.cfg_json, err, sizeof err)) goto out;
    }
    res[0] = (method_result){.name = "fp32", .seconds = now_s() - t0};
    res[0].bytes = 4.0 * (double)qt_model_numel(base);
    res[0].bpw = 32.0;
    eval_method(&rs, base, NULL, &res[0]);

    /* RTN: the base quantized by the same policy and initialiser, no training */
    t0 = now_s();
    qt_model *rtn_q = qt_model_clone(base);
    if (qt_policy_apply(rtn_q, &cfg->quant, stderr, err, sizeof err)) { qt_model_free(rtn_q); goto out; }
    frozen = qt_model_freeze(rtn_q);
    res[1] = (method_result){.name = "rtn"};
    res[1].bytes = qt_model_deploy_bytes(rtn_q, &res[1].bpw);
    res[1].seconds = now_s() - t0;
    eval_method(&rs, frozen, base, &res[1]);
    qt_model_free(frozen);
    frozen = NULL;
    qt_policy_detach(rtn_q);
    qt_model_free(rtn_q);

    /* QAT */
    t0 = now_s();
    qat = qt_model_clone(base);
    if (qt_policy_apply(qat, &cfg->quant, NULL, err, sizeof err)) goto out;
    int r = run_stage(&rs, "qat", qat, cfg->train.distill.weight > 0 ? base : NULL, qat_ckpt, resume, stop, err, sizeof err);
    if (r == 2) { rc = QT_EXIT_INTERRUPTED; goto out; }
    if (r) goto out;
    if (qt_model_save(qat, qat_path, rs.cfg_json, err, sizeof err)) goto out;
    res[2] = (method_result){.name = "qat", .seconds = now_s() - t0};
    res[2].bytes = qt_model_deploy_bytes(qat, &res[2].bpw);
    frozen = qt_model_freeze(qat);
    eval_method(&rs, frozen, base, &res[2]);

    int regressed = 0;
    if (write_report(&rs, res, 3, &regressed, err, sizeof err)) goto out;
    if (regressed) {
        fprintf(stderr, "qatc: gate: %d suite(s) regressed by more than %.3f vs fp32 (see report.json \"gate\"):",
                regressed, cfg->eval.max_regression);
        for (int i = 0; i < rs.n_suites; i++)
            if (res[0].acc[i] - res[2].acc[i] > cfg->eval.max_regression)
                fprintf(stderr, " %s %.3f -> %.3f", rs.suites[i].name, res[0].acc[i], res[2].acc[i]);
        fprintf(stderr, "\n");
        rc = QT_EXIT_REGRESSION;
    } else {
        rc = QT_EXIT_OK;
    }
out:
    if (rc == QT_EXIT_ERROR && err[0]) fprintf(stderr, "qatc: %s\n", err);
    qt_model_free(frozen);
    if (qat) qt_policy_detach(qat);
    qt_model_free(qat);
    qt_model_free(base);
    free_state(&rs);
    return rc;
}
