/* A run's models in and out; see run/artifacts.h. */
#include "run/artifacts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/files.h"
#include "io/checkpoint.h"
#include "io/export.h"
#include "qat/policy.h"
#include "run/plan.h"
#include "store/h5store.h"

qt_model *qt_load_qat(const char *ckpt, const char *config_path, int quant, qt_config *cfg, char *err,
                      size_t errlen) {
    memset(cfg, 0, sizeof *cfg);
    char e[1024];
    int has_qstate = 0;
    if (config_path) {
        if (qt_config_load(config_path, cfg, e, sizeof e)) {
            snprintf(err, errlen, "%s", e);
            return NULL;
        }
        if (quant < 0) {
            qt_h5r *r = qt_h5r_open(ckpt, err, errlen);
            if (!r) {
                qt_config_free(cfg);
                return NULL;
            }
            has_qstate = qt_ckpt_has_quant_state(r);
            qt_h5r_close(r);
        }
    } else {
        qt_h5r *r = qt_h5r_open(ckpt, err, errlen);
        if (!r) return NULL;
        char *json = qt_h5r_string(r, "config");
        has_qstate = qt_ckpt_has_quant_state(r);
        if (!json) {
            snprintf(err, errlen, "%s: no stored config (%s); pass --config", ckpt, qt_h5r_error(r));
            qt_h5r_close(r);
            return NULL;
        }
        qt_h5r_close(r);
        char name[4200];
        snprintf(name, sizeof name, "%s (stored config)", ckpt);
        int rc = qt_config_parse(json, name, QT_CONFIG_NO_FILE_CHECKS, cfg, e, sizeof e);
        free(json);
        if (rc) {
            snprintf(err, errlen, "%s", e);
            return NULL;
        }
    }
    qt_model_cfg c = qt_plan_model_cfg(cfg);
    if (qt_model_cfg_check(&c, e, sizeof e)) {
        snprintf(err, errlen, "%s: %s", ckpt, e);
        qt_config_free(cfg);
        return NULL;
    }
    qt_model *m = qt_model_new(&c);
    int attach = quant > 0 || (quant < 0 && has_qstate);
    qt_plan plan;
    qt_plan_init(&plan, cfg);
    int bad = qt_model_load(m, ckpt, err, errlen) ||
              (attach && (qt_policy_apply(m, &plan.quant, NULL, err, errlen) || qt_model_load(m, ckpt, err, errlen)));
    qt_plan_free(&plan);
    if (bad) {
        qt_policy_detach(m);
        qt_model_free(m);
        qt_config_free(cfg);
        return NULL;
    }
    return m;
}

qd_tokenizer *qt_run_tokenizer(const qt_config *cfg, char *err, size_t errlen) {
    char e[1024];
    qd_tokenizer *t = qd_tokenizer_load(cfg->data.tokenizer ? cfg->data.tokenizer : "byte", e, sizeof e);
    if (!t) snprintf(err, errlen, "key \"data.tokenizer\": %s", e);
    return t;
}

int qt_export_imatrix_model(qt_model *m, const qt_calib *c, const char *dataset, const char *path, char *err,
                            size_t errlen) {
    const int n = m->n_linears;
    int *want = calloc((size_t)n, sizeof *want);
    qt_calib_stats *st = calloc((size_t)n, sizeof *st);
    qt_imatrix_entry *e = calloc((size_t)n, sizeof *e);
    char (*names)[64] = calloc((size_t)n, sizeof *names);
    if (!want || !st || !e || !names) qt_die("out of memory");
    int rc = 0;
    for (int j = 0; j < n; j++) want[j] = 1;
    for (int j = 0; rc == 0 && j < n; j++) {
        if (qt_gguf_linear_name(m, j, names[j], sizeof names[j])) {
            snprintf(err, errlen, "imatrix export: %s: %s has no GGUF tensor name (arch %s)", path, m->linears[j]->w->name,
                     qt_arch_name(m->cfg.arch));
            rc = -1;
        }
    }
    if (!rc) rc = qt_imatrix_stats(m, c, want, st, err, errlen);
    for (int j = 0; rc == 0 && j < n; j++)
        e[j] = (qt_imatrix_entry){.name = names[j], .in = st[j].in, .sq_sum = st[j].sq_sum, .count = st[j].n};
    const char *ds[1] = {dataset};
    if (!rc) rc = qt_export_imatrix(e, n, ds, 1, (uint32_t)c->nseq, (uint32_t)c->T, path, err, errlen);
    qt_calib_stats_free(st, n);
    free(st);
    free(e);
    free(names);
    free(want);
    return rc;
}

/* export entry x (imatrix): env's base over env's calibration windows */
static int export_imatrix(const qt_cfg_export *x, const qt_export_env *env, const char *path, char *err,
                          size_t errlen) {
    if (!env || !env->base || !env->calib) {
        snprintf(err, errlen, "imatrix export needs the FP32 base model and the calibration data (run it from qat_train)");
        return -1;
    }
    qt_calib c = {0};
    char desc[1200];
    if (env->calib(env->ctx, x->calib_tokens, &c, desc, sizeof desc, err, errlen)) return -1;
    int rc = qt_export_imatrix_model(env->base, &c, desc, path, err, errlen);
    qt_calib_free(&c);
    return rc;
}

int qt_export_run(const qt_config *cfg, const qt_model *qat, const qt_export_env *env, char *err, size_t errlen) {
    qd_tokenizer *tok = NULL;
    for (int i = 0; i < cfg->n_exports; i++) {
        const int f = cfg->exports[i].format;
        if (f == QT_CFG_EXPORT_HDF5 || f == QT_CFG_EXPORT_IMATRIX || tok) continue; /* the others carry the tokenizer */
        char e[1024];
        if (!(tok = qt_run_tokenizer(cfg, e, sizeof e))) {
            snprintf(err, errlen, "export[%d]: %s", i, e);
            return -1;
        }
    }
    int rc = 0;
    for (int i = 0; !rc && i < cfg->n_exports; i++) {
        const qt_cfg_export *x = &cfg->exports[i];
        char path[4096], e[1024];
        snprintf(path, sizeof path, "%s/%s", cfg->out_dir, x->path);
        if (qt_mkdirs_for(path, e, sizeof e)) {
            snprintf(err, errlen, "export[%d]: %s", i, e);
            rc = -1;
            break;
        }
        qt_export_opts o = {0};
        o.type = x->type;
        o.file_type = qt_preset_file_type(cfg->quant.preset);
        o.requantize = x->requantize;
        o.float_f16 = x->f16;
        o.name = "qatc";
        o.tokenizer = tok;
        const char *fmt = qt_config_enum_name("export[].format", (int)x->format);
        if (x->format == QT_CFG_EXPORT_GGUF) {
            rc = qt_export_gguf(qat, &o, path, e, sizeof e);
        } else if (x->format == QT_CFG_EXPORT_AWQ) {
            rc = qt_export_awq(qat, &o, path, e, sizeof e);
        } else if (x->format == QT_CFG_EXPORT_HF) {
            rc = qt_export_hf(qat, &o, path, e, sizeof e);
        } else if (x->format == QT_CFG_EXPORT_GPTQ) {
            o.checkpoint_format = qt_config_enum_name("export[].checkpoint_format", (int)x->checkpoint_format);
            rc = qt_export_gptq(qat, &o, path, e, sizeof e);
        } else if (x->format == QT_CFG_EXPORT_CT) {
            rc = qt_export_ct(qat, &o, path, e, sizeof e);
        } else if (x->format == QT_CFG_EXPORT_IMATRIX) {
            rc = export_imatrix(x, env, path, e, sizeof e);
        } else {
            char *json = qt_config_to_json(cfg);
            rc = qt_model_save(qat, path, json, e, sizeof e);
            free(json);
        }
        if (rc) snprintf(err, errlen, "export[%d] (%s, %s): %s", i, fmt ? fmt : "?", x->path, e);
    }
    qd_tokenizer_free(tok);
    return rc ? -1 : 0;
}
