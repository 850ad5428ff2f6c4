/* Config -> plain specs for the layers below; see run/plan.h. */
#include "run/plan.h"

#include "quant/ggml_blocks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static qt_quant_spec spec_of(const qt_cfg_wquant *w) {
    qt_quant_spec s = {.bits = w->bits, .group = w->group, .grid = w->grid,
                       .learnable = w->scale == QT_CFG_SCALE_LSQ, .fp16_scales = w->fp16_scales};
    if (w->type) qt_ggml_spec_of_type(qt_ggml_type_from_name(qt_config_enum_name("quant.weights.type", w->type)), &s);
    return s;
}

void qt_plan_init(qt_plan *p, const qt_config *cfg) {
    memset(p, 0, sizeof *p);
    const qt_cfg_quant *q = &cfg->quant;
    p->quant.weights = spec_of(&q->weights);
    p->quant.init = q->weights.init;
    p->quant.skip = (const char *const *)q->skip.v;
    p->quant.n_skip = q->skip.n;
    if (q->n_override) {
        p->overrides = calloc((size_t)q->n_override, sizeof *p->overrides);
        if (!p->overrides) qt_die("out of memory");
    }
    for (int i = 0; i < q->n_override; i++) {
        const qt_cfg_override *o = &q->override[i];
        qt_quant_override *r = &p->overrides[i];
        r->pattern = o->pattern;
        r->spec = spec_of(&o->w);
        r->init = o->w.init;
        r->set = o->set;
    }
    p->quant.override = p->overrides;
    p->quant.n_override = q->n_override;
    p->quant.act_mode = q->activations.mode;
    p->quant.act_bits = q->activations.bits;
    p->quant.preset = q->preset;
    if (q->preset)
        snprintf(p->quant_summary, sizeof p->quant_summary, "Weights: llama.cpp preset %s; activations %s",
                 qt_preset_name(q->preset), qt_config_enum_name("quant.activations.mode", q->activations.mode));
    else if (q->weights.type)
        snprintf(p->quant_summary, sizeof p->quant_summary, "Weights %s (W%d, group %d, %s grid); activations %s",
                 qt_config_enum_name("quant.weights.type", q->weights.type), q->weights.bits, q->weights.group,
                 qt_config_enum_name("quant.weights.grid", q->weights.grid),
                 qt_config_enum_name("quant.activations.mode", q->activations.mode));
    else
        snprintf(p->quant_summary, sizeof p->quant_summary, "Weights W%d, group %d, %s grid; activations %s",
                 q->weights.bits, q->weights.group, qt_config_enum_name("quant.weights.grid", q->weights.grid),
                 qt_config_enum_name("quant.activations.mode", q->activations.mode));
}

void qt_plan_free(qt_plan *p) {
    free(p->overrides);
    memset(p, 0, sizeof *p);
}

qt_model_cfg qt_plan_model_cfg(const qt_config *cfg) {
    const qt_cfg_model *c = &cfg->model;
    qt_model_cfg m = {.arch = c->arch, .dim = c->dim, .layers = c->layers, .heads = c->heads,
                      .kv_heads = c->kv_heads, .ffn = c->ffn, .ctx = c->ctx, .vocab = c->vocab,
                      .rope_theta = (float)c->rope_theta, .norm_eps = (float)c->norm_eps,
                      .head_dim = c->head_dim * c->heads == c->dim ? 0 : c->head_dim, .max_ctx = c->max_ctx,
                      .tied = c->tied, .sliding_window = c->sliding_window,
                      .qkv_bias = c->arch == QT_ARCH_QWEN2, .qk_norm = c->arch == QT_ARCH_QWEN3,
                      .rope_factor = (float)c->rope.factor, .rope_low_freq = (float)c->rope.low_freq,
                      .rope_high_freq = (float)c->rope.high_freq, .rope_orig_ctx = c->rope.orig_ctx};
    return m;
}

qt_train_spec qt_plan_train_spec(const qt_config *c, const char *stage, const char *ckpt_path,
                                 const char *config_json) {
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
        .schedule = base ? c->base.schedule : c->train.schedule,
        .warmup = base ? c->base.warmup : c->train.warmup,
        .distill_weight = base ? 0.0 : c->train.distill.weight,
        .distill_temperature = c->train.distill.temperature,
        .ckpt_every = c->train.ckpt_every,
        .eval_every = c->train.eval_every,
        .log_every = c->train.log_every,
        .val_tokens = c->eval.val_tokens,
        .ckpt_path = ckpt_path,
        .config_json = config_json,
        .seed = (uint64_t)c->seed,
    };
    return s;
}

qt_gptq_opts qt_plan_gptq_opts(const qt_cfg_ptq *p) {
    qt_gptq_opts o = {.percdamp = p->percdamp, .act_order = p->act_order, .blocksize = 128};
    return o;
}

qt_awq_opts qt_plan_awq_opts(const qt_cfg_ptq *p) {
    (void)p;
    qt_awq_opts o = {.n_grid = 20, .clip = 1};
    return o;
}

static qd_recall_cfg recall_cfg(const qt_config *cfg) {
    qd_recall_cfg r = qd_recall_default();
    r.ctx_bytes = cfg->suites.recall.ctx_bytes ? cfg->suites.recall.ctx_bytes
                                               : (r.ctx_bytes > cfg->model.ctx ? cfg->model.ctx : r.ctx_bytes);
    r.n_keys = cfg->suites.recall.keys;
    r.n_values = cfg->suites.recall.values;
    return r;
}

int qt_plan_open_suite(const qt_config *cfg, qd_suite *s, int builtin, const char *path, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    if (builtin == QT_CFG_SUITE_ARITH) {
        qd_arith_cfg ac = {.min_digits = cfg->suites.arith.min_digits, .max_digits = cfg->suites.arith.max_digits,
                           .subtraction = cfg->suites.arith.subtraction};
        return qd_suite_arith(s, &ac, err, errlen);
    }
    if (builtin == QT_CFG_SUITE_RECALL) {
        qd_recall_cfg rc = recall_cfg(cfg);
        return qd_suite_recall(s, &rc, err, errlen);
    }
    return qd_suite_load_file(s, path, err, errlen);
}

int qt_plan_open_eval_suite(const qt_config *cfg, qd_suite *s, const char *name, char *err, size_t errlen) {
    int builtin = !strcmp(name, "arith") ? QT_CFG_SUITE_ARITH : !strcmp(name, "recall") ? QT_CFG_SUITE_RECALL : -1;
    return qt_plan_open_suite(cfg, s, builtin, name, err, errlen);
}
