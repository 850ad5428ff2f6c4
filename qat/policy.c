#include "qat/policy.h"

#include <fnmatch.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/ggml_blocks.h"

/* 1 if pattern matches name, or name without a trailing ".weight" */
static int glob_match(const char *pattern, const char *name) {
    if (fnmatch(pattern, name, 0) == 0) return 1;
    size_t n = strlen(name);
    if (n > 7 && !strcmp(name + n - 7, ".weight")) {
        char base[128];
        snprintf(base, sizeof base, "%.*s", (int)(n - 7), name);
        return fnmatch(pattern, base, 0) == 0;
    }
    return 0;
}

int qt_policy_spec(const qt_quant_rules *q, const qt_model_cfg *c, const char *name, int cols, qt_quant_spec *spec,
                   qt_scale_init *init) {
    for (int i = 0; i < q->n_skip; i++)
        if (glob_match(q->skip[i], name)) return 0;
    qt_quant_spec s = q->weights;
    qt_scale_init in = q->init;
    if (q->preset != QT_PRESET_NONE) {
        qt_preset_tensor t = {name, cols, c->layers, c->kv_heads > 0 ? c->heads / c->kv_heads : 1, c->tied};
        int type = qt_preset_type(q->preset, &t, q->imatrix);
        if (type == QT_GGML_F16) return 0; /* llama.cpp keeps such a row in F16: no block fits it */
        qt_ggml_spec_of_type(type, &s);
    }
    for (int i = 0; i < q->n_override; i++) {
        const qt_quant_override *o = &q->override[i];
        if (!glob_match(o->pattern, name)) continue;
        if (o->set & QT_RULE_TYPE) {
            s.bits = o->spec.bits;
            s.group = o->spec.group;
            s.grid = o->spec.grid;
            s.dq_bits = o->spec.dq_bits;
            s.fp16_scales = 1;
        } else if (o->set & (QT_RULE_BITS | QT_RULE_GROUP | QT_RULE_GRID)) {
            s.dq_bits = 0;
        }
        if (o->set & QT_RULE_BITS) s.bits = o->spec.bits;
        if (o->set & QT_RULE_GROUP) s.group = o->spec.group;
        if (o->set & QT_RULE_GRID) s.grid = o->spec.grid;
        if (o->set & QT_RULE_LEARNABLE) s.learnable = o->spec.learnable;
        if (o->set & QT_RULE_INIT) in = o->init;
        if (o->set & QT_RULE_FP16_SCALES) s.fp16_scales = o->spec.fp16_scales;
    }
    *spec = s;
    if (init) *init = in;
    return 1;
}


static int check_overrides(const qt_linear_info *L, int n, const qt_quant_rules *q, char *err, size_t errlen) {
    for (int i = 0; i < q->n_override; i++) {
        int hits = 0;
        for (int j = 0; j < n; j++) hits += glob_match(q->override[i].pattern, L[j].name);
        if (!hits) {
            snprintf(err, errlen, "quant.override: pattern \"%s\" matches no Linear weight (e.g. \"%s\")",
                     q->override[i].pattern, L[0].name);
            return -1;
        }
    }
    return 0;
}

static qt_linear_info *linear_infos(const qt_model_cfg *c, int *n) {
    *n = qt_model_linear_infos(c, NULL, 0);
    qt_linear_info *L = malloc((size_t)*n * sizeof *L);
    if (!L) qt_die("out of memory");
    qt_model_linear_infos(c, L, *n);
    return L;
}

static void plan_line(FILE *log, const char *name, const qt_quant_spec *spec, qt_scale_init init, const qt_quant_rules *q,
                      int act) {
    char g[32], t[32] = "", sub[32] = "";
    if (spec->dq_bits) snprintf(sub, sizeof sub, " %d-bit-subscales", spec->dq_bits);
    if (spec->group > 0) snprintf(g, sizeof g, "g%d", spec->group);
    else snprintf(g, sizeof g, "%s", spec->group == 0 ? "per-channel" : "per-tensor");
    int type = qt_ggml_type_of_spec(spec);
    if (type >= 0) snprintf(t, sizeof t, "%s ", qt_ggml_type_name(type));
    fprintf(log, "  %-36s %sW%d %s %s%s %s%s init %s%s\n", name, t, spec->bits, g, qt_quant_grid_name(spec->grid),
            sub,
            spec->learnable ? "lsq" : "fixed", spec->fp16_scales && spec->grid != QT_GRID_MXFP4 ? " fp16-scales" : "",
            init == QT_INIT_MSE ? "mse" : "absmax",
            !act ? "" : q->act_mode == QT_ACT_STATIC ? " A-static" : q->act_mode == QT_ACT_Q8_BLOCKS ? " A-q8_0-blocks" : " A-per-token");
}

int qt_policy_check(const qt_model_cfg *c, const qt_quant_rules *q, FILE *log, char *err, size_t errlen) {
    int n, n_quant = 0, rc = 0;
    qt_linear_info *L = linear_infos(c, &n);
    if (check_overrides(L, n, q, err, errlen)) rc = -1;
    if (!rc && log)
        fprintf(log, "quant plan%s%s%s:\n", q->preset ? " (preset " : "", q->preset ? qt_preset_name(q->preset) : "", q->preset ? ")" : "");
    for (int j = 0; !rc && j < n; j++) {
        qt_quant_spec spec;
        qt_scale_init init = QT_INIT_ABSMAX;
        if (!qt_policy_spec(q, c, L[j].name, L[j].cols, &spec, &init)) {
            if (log) fprintf(log, "  %-36s float\n", L[j].name);
            continue;
        }
        char e[256];
        if (qt_quant_spec_check(&spec, L[j].rows, L[j].cols, e, sizeof e)) {
            snprintf(err, errlen, "quant: %s: %s", L[j].name, e);
            rc = -1;
            break;
        }
        n_quant++;
        if (log) plan_line(log, L[j].name, &spec, init, q, q->act_mode != QT_ACT_NONE);
    }
    if (!rc && log) fprintf(log, "quant plan: %d of %d Linear weights quantized\n", n_quant, n);
    free(L);
    return rc;
}

int qt_policy_apply(qt_model *m, const qt_quant_rules *q, FILE *log, char *err, size_t errlen) {
    if (qt_policy_check(&m->cfg, q, NULL, err, errlen)) return -1;
    int n_quant = 0;
    if (log) fprintf(log, "quant plan%s%s%s:\n", q->preset ? " (preset " : "", q->preset ? qt_preset_name(q->preset) : "", q->preset ? ")" : "");
    for (int j = 0; j < m->n_linears; j++) {
        qt_linear_layer *l = m->linears[j];
        qt_quant_spec spec;
        qt_scale_init init = QT_INIT_ABSMAX;
        if (!qt_policy_spec(q, &m->cfg, l->w->name, qt_cols(l->w), &spec, &init)) {
            if (log) fprintf(log, "  %-36s float\n", l->w->name);
            continue;
        }
        char e[256];
        l->wq = qt_quantizer_new(&spec, l->w, e, sizeof e);
        if (!l->wq) {
            snprintf(err, errlen, "quant: %s: %s", l->w->name, e);
            return -1;
        }
        if (init == QT_INIT_MSE)
            qt_quant_init_mse(l->wq, l->w, 0, 0.0f);
        else
            qt_quant_init_absmax(l->wq, l->w);
        if (q->act_mode != QT_ACT_NONE) {
            char an[128];
            snprintf(an, sizeof an, "%s.act", l->w->name);
            l->aq = qt_actquant_new(an, q->act_bits, q->act_mode, 0.0f);
        }
        n_quant++;
        if (log) plan_line(log, l->w->name, &spec, init, q, l->aq != NULL);
    }
    double bpw = 0.0;
    double bytes = qt_model_deploy_bytes(m, &bpw);
    if (log) fprintf(log, "quant plan: %d of %d Linear weights quantized; %.2f MB, %.3f bits per weight\n", n_quant,
                     m->n_linears, bytes / 1e6, bpw);
    return 0;
}

void qt_policy_detach(qt_model *m) {
    for (int j = 0; j < m->n_linears; j++) {
        qt_quantizer_free(m->linears[j]->wq);
        qt_actquant_free(m->linears[j]->aq);
        m->linears[j]->wq = NULL;
        m->linears[j]->aq = NULL;
    }
}

int qt_policy_params(const qt_model *m, qt_tensor **out, int cap, int all) {
    int n = 0;
    for (int j = 0; j < m->n_linears; j++) {
        qt_linear_layer *l = m->linears[j];
        qt_tensor *cand[3] = {l->wq ? l->wq->scale : NULL, l->wq ? l->wq->offset : NULL, l->aq ? l->aq->scale : NULL};
        for (int k = 0; k < 3; k++)
            if (cand[k] && (all || cand[k]->requires_grad) && n < cap) out[n++] = cand[k];
    }
    return n;
}

void qt_policy_clamp(qt_model *m) {
    for (int j = 0; j < m->n_linears; j++) {
        if (m->linears[j]->wq) qt_quantizer_clamp(m->linears[j]->wq);
        if (m->linears[j]->aq) qt_actquant_clamp(m->linears[j]->aq);
    }
}

static int wq_cols(const qt_quantizer *wq) { return wq ? wq->cols : 0; }

double qt_model_deploy_bytes(const qt_model *m, double *bits_per_weight) {
    double bits = 0.0;
    size_t n = 0;
    for (int i = 0; i < m->n_params; i++) {
        const qt_tensor *p = m->params[i];
        n += p->n;
        const qt_quantizer *wq = NULL;
        for (int j = 0; j < m->n_linears; j++)
            if (m->linears[j]->w == p) wq = m->linears[j]->wq;
        int type = wq ? qt_ggml_type_of_spec(&wq->spec) : -1;
        uint64_t ne[2] = {(uint64_t)wq_cols(wq), (uint64_t)(wq ? wq->rows : 0)};
        if (type >= 0 && qt_ggml_nbytes(type, 2, ne)) {
            bits += 8.0 * (double)qt_ggml_nbytes(type, 2, ne);
        } else if (wq) {
            size_t groups = (size_t)wq->srows * wq->ngroups;
            int scale_bits = wq->spec.dq_bits ? wq->spec.dq_bits : wq->spec.grid == QT_GRID_MXFP4 ? 8
                           : wq->spec.fp16_scales ? 16 : 32;
            int offset_bits = wq->spec.grid == QT_GRID_ASYM ? wq->spec.bits : wq->spec.grid == QT_GRID_FLOAT_MIN ? scale_bits : 0;
            bits += (double)p->n * wq->spec.bits + (double)groups * (scale_bits + offset_bits);
            if (wq->spec.dq_bits) /* fp16 d (and dmin) per super-block */
                bits += (double)(p->n / QT_SUPERBLOCK) * (wq->spec.grid == QT_GRID_FLOAT_MIN ? 32 : 16);
        } else {
            bits += (double)p->n * (p->ndim == 1 ? 32 : 16);
        }
    }
    if (bits_per_weight) *bits_per_weight = n ? bits / n : 0.0;
    return bits / 8.0;
}

/* A copy of m with every quantized Linear's weight replaced by its dequantized
 * frozen codes and its weight quantizer dropped; with deploy also every
 * activation quantizer dropped and, with faithful, each quantized Linear's
 * input rounded as llama.cpp does for the GGUF type holding its spec. */
static qt_model *frozen_copy(const qt_model *m, int deploy, int faithful) {
    qt_model *f = qt_model_clone(m);
    for (int j = 0; j < m->n_linears; j++) {
        const qt_linear_layer *l = m->linears[j];
        qt_linear_layer *fl = f->linears[j];
        fl->wq = NULL;
        if (deploy) fl->aq = NULL;
        if (!l->wq) continue;
        qt_qweight *qw = qt_freeze(l->w, l->wq);
        qt_qweight_dequant(qw, fl->w->data);
        if (deploy && faithful) qt_linear_set_input_type(fl, qt_ggml_spec_vec_dot_type(&qw->spec), qw->mins);
        qt_qweight_free(qw);
    }
    return f;
}

qt_model *qt_model_freeze(const qt_model *m) { return frozen_copy(m, 0, 0); }

qt_model *qt_model_deploy(const qt_model *qat, int faithful) { return frozen_copy(qat, 1, faithful); }

/* the first non-finite value of t: its index, or -1 */
static long first_bad(const qt_tensor *t) {
    for (size_t i = 0; i < t->n; i++)
        if (!isfinite(t->data[i])) return (long)i;
    return -1;
}

int qt_model_check_finite(const qt_model *m, char *err, size_t errlen) {
    for (int i = 0; i < m->n_params; i++) {
        long k = first_bad(m->params[i]);
        if (k >= 0) {
            snprintf(err, errlen, "tensor %s: value %ld is %g (weights must be finite; nothing was frozen or written)",
                     m->params[i]->name, k, (double)m->params[i]->data[k]);
            return -1;
        }
    }
    for (int j = 0; j < m->n_linears; j++) {
        const qt_quantizer *q = m->linears[j]->wq;
        const qt_tensor *qs[2] = {q ? q->scale : NULL, q ? q->offset : NULL};
        for (int t = 0; t < 2; t++) {
            long k = qs[t] ? first_bad(qs[t]) : -1;
            if (k >= 0) {
                snprintf(err, errlen, "tensor %s (quantizer of %s): value %ld is %g (must be finite; nothing was frozen "
                         "or written)", qs[t]->name, m->linears[j]->w->name, k, (double)qs[t]->data[k]);
                return -1;
            }
        }
    }
    return 0;
}
