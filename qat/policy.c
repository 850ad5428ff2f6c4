#include "qat/policy.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

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

int qt_policy_spec(const qt_quant_rules *q, const char *weight_name, qt_quant_spec *spec, qt_scale_init *init) {
    for (int i = 0; i < q->n_skip; i++)
        if (glob_match(q->skip[i], weight_name)) return 0;
    qt_quant_spec w = q->weights;
    qt_scale_init in = q->init;
    for (int i = 0; i < q->n_override; i++) {
        const qt_quant_override *o = &q->override[i];
        if (!glob_match(o->pattern, weight_name)) continue;
        if (o->set & QT_RULE_BITS) w.bits = o->spec.bits;
        if (o->set & QT_RULE_GROUP) w.group = o->spec.group;
        if (o->set & QT_RULE_GRID) w.grid = o->spec.grid;
        if (o->set & QT_RULE_LEARNABLE) w.learnable = o->spec.learnable;
        if (o->set & QT_RULE_INIT) in = o->init;
        if (o->set & QT_RULE_FP16_SCALES) w.fp16_scales = o->spec.fp16_scales;
    }
    *spec = w;
    if (init) *init = in;
    return 1;
}

static const char *grid_name(qt_grid g) { return g == QT_GRID_SYM ? "sym" : g == QT_GRID_ASYM ? "asym" : "float_min"; }

int qt_policy_apply(qt_model *m, const qt_quant_rules *q, FILE *log, char *err, size_t errlen) {
    for (int i = 0; i < q->n_override; i++) {
        int hits = 0;
        for (int j = 0; j < m->n_linears; j++) hits += glob_match(q->override[i].pattern, m->linears[j]->w->name);
        if (!hits) {
            snprintf(err, errlen, "quant.override: pattern \"%s\" matches no Linear weight (e.g. \"%s\")",
                     q->override[i].pattern, m->linears[0]->w->name);
            return -1;
        }
    }
    int n_quant = 0;
    if (log) fprintf(log, "quant plan:\n");
    for (int j = 0; j < m->n_linears; j++) {
        qt_linear_layer *l = m->linears[j];
        qt_quant_spec spec;
        qt_scale_init init = QT_INIT_ABSMAX;
        if (!qt_policy_spec(q, l->w->name, &spec, &init)) {
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
        if (log) {
            char g[32];
            if (spec.group > 0) snprintf(g, sizeof g, "g%d", spec.group);
            else snprintf(g, sizeof g, "%s", spec.group == 0 ? "per-channel" : "per-tensor");
            fprintf(log, "  %-36s W%d %s %s %s%s init %s%s\n", l->w->name, spec.bits, g, grid_name(spec.grid),
                    spec.learnable ? "lsq" : "fixed", spec.fp16_scales ? " fp16-scales" : "", init == QT_INIT_MSE ? "mse" : "absmax",
                    !l->aq ? "" : q->act_mode == QT_ACT_STATIC ? " A-static" : q->act_mode == QT_ACT_Q8_BLOCKS ? " A-q8_0-blocks" : " A-per-token");
        }
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

double qt_model_deploy_bytes(const qt_model *m, double *bits_per_weight) {
    double bits = 0.0;
    size_t n = 0;
    for (int i = 0; i < m->n_params; i++) {
        const qt_tensor *p = m->params[i];
        n += p->n;
        const qt_quantizer *wq = NULL;
        for (int j = 0; j < m->n_linears; j++)
            if (m->linears[j]->w == p) wq = m->linears[j]->wq;
        if (wq) {
            size_t groups = (size_t)wq->srows * wq->ngroups;
            int scale_bits = wq->spec.fp16_scales ? 16 : 32;
            int offset_bits = wq->spec.grid == QT_GRID_ASYM ? wq->spec.bits : wq->spec.grid == QT_GRID_FLOAT_MIN ? scale_bits : 0;
            bits += (double)p->n * wq->spec.bits + (double)groups * (scale_bits + offset_bits);
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
