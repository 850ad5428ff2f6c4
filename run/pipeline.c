#include "run/pipeline.h"

#include "base/files.h"

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
#include "eval/report.h"
#include "io/checkpoint.h"
#include "io/export.h"
#include "qat/policy.h"
#include "qat/ptq/ptq.h"
#include "run/artifacts.h"
#include "run/plan.h"
#include "store/h5store.h"
#include "train/train.h"

#define MAX_SUITES QT_REPORT_MAX_SUITES
#define MAX_METHODS 16

typedef struct {
    char name[64];
    qd_eval_set set;
    const char **prompts, **answers;
} eval_suite;

typedef qt_report_method method_result;

typedef struct {
    const qt_config *cfg;
    const char *cfg_path;
    char *cfg_json;
    qt_plan plan;
    qd_tokenizer *tok;  /* data.tokenizer: every text path */
    qd_mix mix;
    qd_mix textmix;   /* the text files only (calib.source "text") */
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

static void base_name(const char *path, char *out, size_t n) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    snprintf(out, n, "%s", b);
    char *dot = strrchr(out, '.');
    if (dot && dot != out) *dot = 0;
}

static int append_tokens(qd_tokens *dst, const qd_tokens *src) {
    int32_t *t = realloc(dst->tok, (dst->n + src->n) * sizeof *t);
    if (!t) return -1;
    memcpy(t + dst->n, src->tok, src->n * sizeof *t);
    dst->tok = t;
    dst->n += src->n;
    dst->bytes += src->bytes;
    return 0;
}

static int setup_data(run_state *rs, char *err, size_t errlen) {
    const qt_config *cfg = rs->cfg;
    char qerr[256];
    qd_split_cfg split = qd_split_default();
    split.val_fraction = cfg->data.val ? 0.0 : cfg->data.val_fraction;
    split.seed = (uint64_t)cfg->seed;
    split.tok = rs->tok;
    if (qt_mkdirs(cfg->data.cache_dir, err, errlen)) return -1;
    qd_mix_init(&rs->mix);
    qd_mix_init(&rs->textmix);
    rs->mix.vocab = rs->textmix.vocab = qd_tokenizer_vocab(rs->tok);
    for (int i = 0; i < cfg->data.n_train; i++) {
        const qt_cfg_source *src = &cfg->data.train[i];
        if (src->kind == QT_CFG_SRC_FILE) {
            char bn[256], prefix[1024];
            base_name(src->file, bn, sizeof bn);
            snprintf(prefix, sizeof prefix, "%s/%s", cfg->data.cache_dir, bn);
            qd_text_data td;
            if (qd_text_load(src->file, &split, prefix, &td, qerr, sizeof qerr) ||
                qd_mix_add(&rs->mix, bn, td.train.tok, td.train.n, NULL, 0, src->weight, qerr, sizeof qerr) ||
                qd_mix_add(&rs->textmix, bn, td.train.tok, td.train.n, NULL, 0, src->weight, qerr, sizeof qerr)) {
                snprintf(err, errlen, "%s", qerr);
                return -1;
            }
            if (!cfg->data.val) append_tokens(&rs->val, &td.val);
            fprintf(stderr, "data: %s: %zu train tokens, %zu val tokens%s\n", src->file, td.train.n, td.val.n,
                    td.from_cache ? " (cached)" : "");
            qd_text_free(&td);
        } else {
            qd_suite s;
            if (qt_plan_open_suite(cfg, &s, src->kind == QT_CFG_SRC_SUITE ? src->suite : -1, src->jsonl, qerr,
                                   sizeof qerr) ||
                qd_mix_add_suite(&rs->mix, &s, (uint64_t)cfg->seed, (size_t)1 << 20, src->weight, rs->tok, qerr,
                                 sizeof qerr)) {
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
        if (qd_text_load(cfg->data.val, &all, prefix, &td, qerr, sizeof qerr)) {
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
        memset(&es->set, 0, sizeof es->set);
        if (qt_plan_open_eval_suite(cfg, &s, name, qerr, sizeof qerr) ||
            qd_suite_eval_set(&s, (uint64_t)cfg->seed, (size_t)cfg->eval.samples, &es->set, qerr, sizeof qerr)) {
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
        r->val_bpb = s.bpb / qd_tokens_bytes_per_token(&rs->val); /* per byte of the text */
        r->val_ppl = s.ppl;
        r->kl = ref ? s.kl : 0.0;
        r->top1 = ref ? s.top1 : 1.0;
    }
    for (int i = 0; i < rs->n_suites; i++)
        r->acc[i] = qt_eval_exact_match(&rs->ectx, m, rs->tok, rs->suites[i].prompts, rs->suites[i].answers,
                                        (int)rs->suites[i].set.n, batch);
    fprintf(stderr, "eval %-12s val bpb %.4f ppl %.3f", r->name, r->val_bpb, r->val_ppl);
    for (int i = 0; i < rs->n_suites; i++) fprintf(stderr, "  %s %.3f", rs->suites[i].name, r->acc[i]);
    if (ref && rs->want_kl && rs->val.n >= 2) fprintf(stderr, "  kl %.4f top1 %.3f", r->kl, r->top1);
    fprintf(stderr, "\n");
}

/* Records a quantized method's result: its name, time since t0 (plus
 * extra_seconds), deployed size, and the evaluation of its frozen form. */
static void finish_method(run_state *rs, const char *name, qt_model *m, const qt_model *base, double t0,
                          double extra_seconds, method_result *r) {
    if (name) snprintf(r->name, sizeof r->name, "%s", name);
    r->seconds = now_s() - t0 + extra_seconds;
    if (r->bytes > 0) /* set by the method (llamacpp: no quantizers, the blocks' bytes) */
        r->bpw = 8.0 * r->bytes / (double)qt_model_numel(m);
    else
        r->bytes = qt_model_deploy_bytes(m, &r->bpw);
    qt_model *frozen = qt_model_freeze(m);
    eval_method(rs, frozen, (qt_model *)base, r);
    qt_model_free(frozen);
}

/* Drops metrics lines of `stage` with step > max_step (after a resume). */
static void trim_metrics(const char *path, const char *stage, long long max_step) {
    char *text = NULL;
    size_t len = 0;
    char qerr[256];
    if (qt_read_file(path, &text, &len, qerr, sizeof qerr)) return;
    qt_afile out;
    if (qt_afile_open(&out, path, qerr, sizeof qerr)) {
        free(text);
        return;
    }
    FILE *f = out.f;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "stage"), *sp = cJSON_GetObjectItemCaseSensitive(j, "step");
        int drop = cJSON_IsString(st) && !strcmp(st->valuestring, stage) && cJSON_IsNumber(sp) && sp->valuedouble > max_step;
        if (!drop) fprintf(f, "%s\n", line);
        cJSON_Delete(j);
    }
    qt_afile_commit(&out, qerr, sizeof qerr);
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

static int run_stage(run_state *rs, const char *stage, qt_model *m, qt_model *teacher, const char *ckpt, int resume,
                     volatile sig_atomic_t *stop, char *err, size_t errlen) {
    char mpath[1100];
    path_in(mpath, sizeof mpath, rs->cfg->out_dir, "metrics.jsonl");
    if (resume && access(ckpt, F_OK) == 0) {
        if (rs->metrics) fclose(rs->metrics);
        trim_metrics(mpath, stage, ckpt_step(ckpt));
        rs->metrics = fopen(mpath, "a");
    }
    qt_train_spec spec = qt_plan_train_spec(rs->cfg, stage, ckpt, rs->cfg_json);
    qt_train_env env = {.model = m, .teacher = teacher, .mix = &rs->mix, .val = rs->val.n >= 2 ? &rs->val : NULL,
                        .metrics = rs->metrics, .stop = stop};
    return qt_train_run(&spec, &env, resume, NULL, err, errlen);
}

static void free_state(run_state *rs) {
    qd_mix_free(&rs->mix);
    qd_mix_free(&rs->textmix);
    qd_tokens_free(&rs->val);
    for (int i = 0; i < rs->n_suites; i++) {
        qd_eval_set_free(&rs->suites[i].set);
        free(rs->suites[i].prompts);
        free(rs->suites[i].answers);
    }
    if (rs->metrics) fclose(rs->metrics);
    qt_ctx_free(&rs->ectx);
    free(rs->cfg_json);
    qt_plan_free(&rs->plan);
    qd_tokenizer_free(rs->tok);
}

/* Calibration windows of at least ntokens tokens (a PTQ method's, an imatrix
 * export's), from calib.source. */
static int make_calib(run_state *rs, int ntokens, qt_calib *c, char *src_desc, size_t dlen, long long *seed_out,
                      char *err, size_t errlen) {
    const qt_config *cfg = rs->cfg;
    int T = cfg->model.ctx, nseq = (ntokens + T - 1) / T;
    uint64_t seed = (uint64_t)(cfg->calib.seed ? cfg->calib.seed : cfg->seed);
    *seed_out = (long long)seed;
    if (cfg->calib.source == QT_CFG_CALIB_TRAIN) {
        snprintf(src_desc, dlen, "train");
        return qt_calib_from_mix(&rs->mix, nseq, T, seed, c, err, errlen);
    }
    if (cfg->calib.source == QT_CFG_CALIB_TEXT) {
        snprintf(src_desc, dlen, "text");
        if (rs->textmix.n_src == 0) {
            snprintf(err, errlen, "%s: key \"calib.source\": \"text\" needs a text file in data.train", rs->cfg_path);
            return -1;
        }
        return qt_calib_from_mix(&rs->textmix, nseq, T, seed, c, err, errlen);
    }
    snprintf(src_desc, dlen, "file:%s", cfg->calib.file);
    char *text = NULL;
    size_t len = 0;
    char qerr[256];
    if (qt_read_file(cfg->calib.file, &text, &len, qerr, sizeof qerr)) {
        snprintf(err, errlen, "%s", qerr);
        return -1;
    }
    qd_ids ids = {0};
    int rc = qd_tokenizer_encode(rs->tok, text, len, 0, &ids, err, errlen);
    free(text);
    if (rc == 0) rc = qt_calib_from_tokens(ids.v, ids.n, nseq, T, seed, c, err, errlen);
    if (rc) snprintf(err + strlen(err), errlen - strlen(err), " (calib.file %s)", cfg->calib.file);
    qd_ids_free(&ids);
    return rc;
}

/* qt_export_env's calibration windows: make_calib, described for imatrix.datasets */
static int export_calib(void *ctx, int ntokens, qt_calib *out, char *desc, size_t dlen, char *err, size_t errlen) {
    run_state *rs = ctx;
    char src[1100];
    long long seed = 0;
    if (make_calib(rs, ntokens, out, src, sizeof src, &seed, err, errlen)) return -1;
    if (rs->cfg->calib.source == QT_CFG_CALIB_FILE)
        snprintf(desc, dlen, "%s", rs->cfg->calib.file); /* llama-imatrix names its text file */
    else
        snprintf(desc, dlen, "qatc calib.source %s, seed %lld, %d windows of %d tokens", src, seed, out->nseq, out->T);
    return 0;
}

/* Runs one PTQ method on a clone of base; returns the quantized model (quantizers attached) or NULL. */
static qt_model *run_ptq(run_state *rs, const qt_model *base, const qt_cfg_ptq *p, method_result *r, char *err,
                         size_t errlen) {
    const qt_config *cfg = rs->cfg;
    qt_model *m = qt_model_clone(base);
    qt_calib c = {0};
    int rc = 0;
    if ((p->method != QT_CFG_PTQ_RTN && p->method != QT_CFG_PTQ_LLAMACPP) || (p->method == QT_CFG_PTQ_LLAMACPP && p->imatrix) ||
        cfg->quant.activations.mode == QT_ACT_STATIC) {
        char desc[1100];
        long long seed = 0;
        if (make_calib(rs, p->calib_tokens, &c, desc, sizeof desc, &seed, err, errlen)) { qt_model_free(m); return NULL; }
        r->calib_tokens = c.nseq * c.T;
        r->calib_sequences = c.nseq;
        r->calib_seed = seed;
        r->calib_source = cfg->calib.source == QT_CFG_CALIB_TRAIN ? "train" : cfg->calib.source == QT_CFG_CALIB_TEXT ? "text" : cfg->calib.file;
    }
    fprintf(stderr, "ptq: %s%s\n", r->name, c.nseq ? "" : " (no calibration)");
    switch (p->method) {
    case QT_CFG_PTQ_RTN:
        rc = qt_ptq_rtn(m, &rs->plan.quant, c.nseq ? &c : NULL, NULL, err, errlen);
        break;
    case QT_CFG_PTQ_GPTQ: {
        qt_gptq_opts o = qt_plan_gptq_opts(p);
        rc = qt_ptq_gptq(m, &rs->plan.quant, &c, &o, NULL, err, errlen);
        break;
    }
    case QT_CFG_PTQ_AWQ: {
        qt_awq_opts o = qt_plan_awq_opts(p);
        rc = qt_ptq_awq(m, &rs->plan.quant, &c, &o, stderr, err, errlen);
        break;
    }
    case QT_CFG_PTQ_SMOOTHQUANT:
        rc = qt_ptq_smoothquant(m, &rs->plan.quant, &c, p->alpha, stderr, err, errlen);
        break;
    case QT_CFG_PTQ_LLAMACPP: {
        float **imx = NULL;
        if (p->imatrix) {
            int *want = calloc((size_t)m->n_linears, sizeof *want);
            if (!want) qt_die("out of memory");
            for (int j = 0; j < m->n_linears; j++) want[j] = 1;
            imx = qt_imatrix_collect(m, &c, want, NULL, err, errlen);
            free(want);
            if (!imx) rc = -1;
        }
        if (!rc) rc = qt_ptq_llamacpp(m, &rs->plan.quant, imx, NULL, &r->bytes, err, errlen);
        qt_imatrix_free(imx, m->n_linears);
        break;
    }
    }
    qt_calib_free(&c);
    if (rc) {
        char tmp[1024];
        snprintf(tmp, sizeof tmp, "ptq %s: %s", r->name, err);
        snprintf(err, errlen, "%s", tmp);
        qt_policy_detach(m);
        qt_model_free(m);
        return NULL;
    }
    return m;
}

/* The FP32 base from model.init: a qatc checkpoint (.h5), or a real model
 * imported from GGUF (F32/F16), an HF safetensors file or directory; the
 * imported shapes must equal the config's model. */
static int import_base(qt_model *base, const char *path, char *err, size_t errlen) {
    size_t n = strlen(path);
    struct stat st;
    int foreign = (n > 5 && !strcmp(path + n - 5, ".gguf")) || (n > 12 && !strcmp(path + n - 12, ".safetensors")) ||
                  (stat(path, &st) == 0 && S_ISDIR(st.st_mode));
    if (!foreign) return qt_model_load(base, path, err, errlen);
    qt_model *im = qt_import_model(path, err, errlen);
    if (!im) return -1;
    int rc = 0;
    if (im->n_params != base->n_params) {
        snprintf(err, errlen, "%s: holds %d tensors, the config's model has %d (check model.dim/layers/heads/ffn/vocab)",
                 path, im->n_params, base->n_params);
        rc = -1;
    }
    for (int i = 0; rc == 0 && i < base->n_params; i++) {
        qt_tensor *a = base->params[i], *b = qt_model_param(im, a->name);
        char sa[64], sb[64];
        if (!b || !qt_same_shape(a, b)) {
            snprintf(err, errlen, "%s: tensor %s is %s, the config's model expects %s", path, a->name,
                     b ? qt_shape_str(b, sb, sizeof sb) : "missing", qt_shape_str(a, sa, sizeof sa));
            rc = -1;
        } else {
            memcpy(a->data, b->data, a->n * sizeof(float));
        }
    }
    qt_model_free(im);
    return rc;
}

int qt_pipeline_check(const qt_config *cfg, FILE *log, char *err, size_t errlen) {
    qt_model_cfg mc = qt_plan_model_cfg(cfg);
    if (qt_model_cfg_check(&mc, err, errlen)) return -1;
    qt_plan plan;
    qt_plan_init(&plan, cfg);
    int rc = qt_policy_check(&mc, &plan.quant, log, err, errlen);
    qt_plan_free(&plan);
    return rc;
}

int qt_pipeline_run(const qt_config *cfg, const char *config_path, int resume, volatile sig_atomic_t *stop) {
    char err[1024] = "";
    run_state rs = {.cfg = cfg, .cfg_path = config_path};
    qt_ctx_init(&rs.ectx, 16 << 20);
    qt_model *base = NULL, *qat = NULL, *ptq_init = NULL, *qat2 = NULL;
    cJSON *cjson_cfg = NULL;
    int rc = QT_EXIT_ERROR, lock_fd = -1;
    char base_path[1100], base_ckpt[1100], qat_ckpt[1100], qat_path[1100], mpath[1100], qat2_ckpt[1100], qat2_path[1100];
    path_in(base_path, sizeof base_path, cfg->out_dir, "base.h5");
    path_in(base_ckpt, sizeof base_ckpt, cfg->out_dir, "base.ckpt.h5");
    path_in(qat_ckpt, sizeof qat_ckpt, cfg->out_dir, "qat.ckpt.h5");
    path_in(qat_path, sizeof qat_path, cfg->out_dir, "qat.h5");
    path_in(qat2_ckpt, sizeof qat2_ckpt, cfg->out_dir, "qat_from_ptq.ckpt.h5");
    path_in(qat2_path, sizeof qat2_path, cfg->out_dir, "qat_from_ptq.h5");
    path_in(mpath, sizeof mpath, cfg->out_dir, "metrics.jsonl");
    if (qt_mkdirs(cfg->out_dir, err, sizeof err)) goto out;
    /* one run per out_dir: a second qat_train on it is refused until this one ends */
    if ((lock_fd = qt_dir_lock(cfg->out_dir, err, sizeof err)) < 0) goto out;
    if (!resume) {
        const char *existing[] = {base_path, base_ckpt, qat_ckpt, qat_path, qat2_ckpt, qat2_path};
        for (int i = 0; i < 6; i++)
            if (access(existing[i], F_OK) == 0) {
                snprintf(err, sizeof err,
                         "%s: out_dir \"%s\" already holds a run (%s); pass --resume to continue it, or choose another out_dir",
                         config_path, cfg->out_dir, existing[i]);
                goto out;
            }
    }
    rs.cfg_json = qt_config_to_json(cfg);
    qt_plan_init(&rs.plan, cfg);
    rs.metrics = fopen(mpath, resume ? "a" : "w");
    if (!rs.metrics) {
        snprintf(err, sizeof err, "cannot open %s: %s", mpath, strerror(errno));
        goto out;
    }
    rs.tok = qt_run_tokenizer(cfg, err, sizeof err);
    if (!rs.tok) goto out;
    if (setup_data(&rs, err, sizeof err)) goto out;

    qt_model_cfg mc = qt_plan_model_cfg(cfg);
    if (qt_model_cfg_check(&mc, err, sizeof err)) goto out;
    base = qt_model_new(&mc); /* the quant plan was checked when the config loaded (rule_quant_plan) */
    qt_model_init(base, (uint64_t)cfg->seed);
    fprintf(stderr, "model: %s, %zu parameters\n", qt_arch_name(cfg->model.arch), qt_model_numel(base));
    method_result res[MAX_METHODS];
    memset(res, 0, sizeof res);
    int nres = 0;
    double t0 = now_s();
    if (cfg->model.init) {
        if (import_base(base, cfg->model.init, err, sizeof err)) goto out;
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
    method_result *fp = &res[nres++];
    snprintf(fp->name, sizeof fp->name, "fp32");
    fp->seconds = now_s() - t0;
    fp->bytes = 4.0 * (double)qt_model_numel(base);
    fp->bpw = 32.0;
    eval_method(&rs, base, NULL, fp);

    /* PTQ baselines: each configured method on the same base, calibration data and policy */
    int plan_logged = 0, init_from = qt_config_init_from(cfg);
    double ptq_init_seconds = 0.0;
    for (int k = 0; k < cfg->n_ptq && nres < MAX_METHODS - 2; k++) { /* room for qat, qat_from_ptq */
        if (*stop) {
            fprintf(stderr, "[pipeline] interrupted between stages; finished stages are saved in %s; rerun with --resume\n",
                    cfg->out_dir);
            rc = QT_EXIT_INTERRUPTED;
            goto out;
        }
        const qt_cfg_ptq *p = &cfg->ptq[k];
        method_result *r = &res[nres];
        const char *mname = p->method == QT_CFG_PTQ_LLAMACPP && p->imatrix ? "llamacpp_imatrix"
                                                                           : qt_config_enum_name("ptq[].method", p->method);
        int dup = 0;
        for (int i = 0; i < nres; i++) dup += !strncmp(res[i].name, mname, strlen(mname));
        if (dup) snprintf(r->name, sizeof r->name, "%s_%d", mname, dup + 1);
        else snprintf(r->name, sizeof r->name, "%s", mname);
        if (!plan_logged) {   /* the effective plan, once */
            qt_model *tmp = qt_model_clone(base);
            if (qt_policy_apply(tmp, &rs.plan.quant, stderr, err, sizeof err)) { qt_model_free(tmp); goto out; }
            qt_policy_detach(tmp);
            qt_model_free(tmp);
            plan_logged = 1;
        }
        t0 = now_s();
        qt_model *pm = run_ptq(&rs, base, p, r, err, sizeof err);
        if (!pm) goto out;
        finish_method(&rs, NULL, pm, base, t0, 0.0, r);
        nres++;
        if (!ptq_init && k == init_from) {
            ptq_init = pm;   /* kept as the start of qat_from_ptq */
            ptq_init_seconds = r->seconds;
        } else {
            qt_policy_detach(pm);
            qt_model_free(pm);
        }
    }

    /* QAT from the FP32 base (RTN-initialised scales) */
    t0 = now_s();
    qat = qt_model_clone(base);
    if (qt_policy_apply(qat, &rs.plan.quant, plan_logged ? NULL : stderr, err, sizeof err)) goto out;
    int r = run_stage(&rs, "qat", qat, cfg->train.distill.weight > 0 ? base : NULL, qat_ckpt, resume, stop, err, sizeof err);
    if (r == 2) { rc = QT_EXIT_INTERRUPTED; goto out; }
    if (r) goto out;
    if (qt_model_save(qat, qat_path, rs.cfg_json, err, sizeof err)) goto out;
    finish_method(&rs, "qat", qat, base, t0, 0.0, &res[nres++]);
    qt_model *chosen = qat;

    /* QAT from a PTQ result (train.init_from): its folded weights and scales as the start */
    if (ptq_init) {
        t0 = now_s();
        qat2 = ptq_init;
        ptq_init = NULL;
        r = run_stage(&rs, "qat_from_ptq", qat2, cfg->train.distill.weight > 0 ? base : NULL, qat2_ckpt, resume, stop,
                      err, sizeof err);
        if (r == 2) { rc = QT_EXIT_INTERRUPTED; goto out; }
        if (r) goto out;
        if (qt_model_save(qat2, qat2_path, rs.cfg_json, err, sizeof err)) goto out;
        method_result *r2 = &res[nres++];
        snprintf(r2->init_from, sizeof r2->init_from, "%s", qt_config_enum_name("train.init_from", cfg->train.init_from));
        finish_method(&rs, "qat_from_ptq", qat2, base, t0, ptq_init_seconds, r2);
        chosen = qat2;
    }

    /* report: always written; the gate judges the last (chosen) QAT model */
    cjson_cfg = qt_config_to_cjson(cfg);
    qt_report rep = {.config = cjson_cfg, .quant_summary = rs.plan.quant_summary, .out_dir = cfg->out_dir, .n_suites = rs.n_suites, .has_text = rs.val.n >= 2,
                     .has_kl = rs.want_kl && rs.val.n >= 2,
                     .methods = res, .n_methods = nres, .gate_model = nres - 1,
                     .max_regression = cfg->eval.max_regression};
    for (int i = 0; i < rs.n_suites; i++) rep.suites[i] = rs.suites[i].name;
    if (qt_report_write(&rep, mpath, err, sizeof err)) goto out;
    fprintf(stderr, "report: %s/report.json, report.md, plots/\n", cfg->out_dir);

    /* ---- exports of the chosen QAT model (io/export.h) ---- */
    /* imatrix entries: the FP32 base over the calibration data (what llama-imatrix would see) */
    qt_export_env xenv = {.base = base, .calib = export_calib, .ctx = &rs};
    if (cfg->n_exports && qt_export_run(cfg, chosen, &xenv, err, sizeof err)) goto out;

    char gate_msg[2300];
    if (qt_report_gate(&rep, gate_msg, sizeof gate_msg)) {
        fprintf(stderr, "qatc: %s (see report.json \"gate\")\n", gate_msg);
        rc = QT_EXIT_REGRESSION;
    } else {
        fprintf(stderr, "%s\n", gate_msg);
        rc = QT_EXIT_OK;
    }
out:
    if (rc == QT_EXIT_ERROR && err[0]) fprintf(stderr, "qatc: %s\n", err);
    if (qat) qt_policy_detach(qat);
    qt_model_free(qat);
    if (qat2) qt_policy_detach(qat2);
    qt_model_free(qat2);
    if (ptq_init) qt_policy_detach(ptq_init);
    qt_model_free(ptq_init);
    qt_model_free(base);
    cJSON_Delete(cjson_cfg);
    free_state(&rs);
    if (lock_fd >= 0) close(lock_fd); /* the lock is released here (or by the kernel if we die) */
    return rc;
}
