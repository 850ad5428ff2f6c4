/* qatc run/plan: what a config asks of the layers below, in their own terms
 * (model shape, quantization rules, each stage's training spec, each PTQ
 * method's options). Nothing below run/ includes the config. */
#ifndef QATC_RUN_PLAN_H
#define QATC_RUN_PLAN_H

#include "data/suites.h"
#include "nn/model.h"
#include "qat/policy.h"
#include "qat/ptq/ptq.h"
#include "run/config.h"
#include "train/train.h"

/* The quantization rules of a config. quant borrows the config's strings
 * (keep the config alive); overrides is owned. */
typedef struct qt_plan {
    qt_quant_rules quant;
    qt_quant_override *overrides;
    char quant_summary[160];  /* e.g. "Weights W4, group 32, sym grid; activations none" */
} qt_plan;

/* Fills p from cfg (a validated config). */
void qt_plan_init(qt_plan *p, const qt_config *cfg);
/* Frees what p owns. */
void qt_plan_free(qt_plan *p);

/* The model shape of section model. */
qt_model_cfg qt_plan_model_cfg(const qt_config *cfg);
/* The training spec of stage "base" (section base) or a QAT stage (section
 * train); ckpt_path and config_json are borrowed. */
qt_train_spec qt_plan_train_spec(const qt_config *cfg, const char *stage, const char *ckpt_path,
                                 const char *config_json);
/* Options of one PTQ entry. */
qt_gptq_opts qt_plan_gptq_opts(const qt_cfg_ptq *p);
qt_awq_opts qt_plan_awq_opts(const qt_cfg_ptq *p);
/* A capability suite as the config describes it: builtin QT_CFG_SUITE_ARITH
 * or QT_CFG_SUITE_RECALL with the suites.* parameters, or (builtin < 0) the
 * file at path. Returns 0, or -1 with a message (free with qd_suite_free). */
int qt_plan_open_suite(const qt_config *cfg, qd_suite *s, int builtin, const char *path, char *err, size_t errlen);
/* The suite of an eval.suites entry: "arith", "recall" or a file path. */
int qt_plan_open_eval_suite(const qt_config *cfg, qd_suite *s, const char *name, char *err, size_t errlen);

#endif
