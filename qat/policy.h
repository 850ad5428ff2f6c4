/* qatc quantization policy: which Linear gets which quantizer spec, from
 * plain rules (a default spec, skip globs, per-pattern overrides; run/plan.c
 * builds them from the config's quant section).
 *
 * Patterns are shell globs (fnmatch, '*' also crosses dots) matched against
 * the parameter name with and without its ".weight" suffix, so
 * "layers.*.attention.wo" and "layers.*.attention.wo.weight" both work.
 * Later overrides win. An override pattern that matches no Linear is an
 * error (a typo must not silently quantize at the default).
 *
 * Order for one Linear: skip globs → the default spec → with a preset, the
 * grid of the type llama.cpp's rules give this tensor (qat/preset.h) →
 * overrides in order. An override that sets a type (QT_RULE_TYPE) replaces
 * grid, bits, group and the sub-scale quantization; one that sets bits,
 * group or grid without a type describes a plain grid (no sub-scale
 * quantization). */
#ifndef QATC_QAT_POLICY_H
#define QATC_QAT_POLICY_H

#include <stdio.h>

#include "nn/model.h"
#include "qat/preset.h"
#include "quant/quant.h"

/* Bits of qt_quant_override.set: which fields an override gives. */
#define QT_RULE_BITS        (1u << 0)
#define QT_RULE_GROUP       (1u << 1)
#define QT_RULE_GRID        (1u << 2)
#define QT_RULE_LEARNABLE   (1u << 3)
#define QT_RULE_INIT        (1u << 4)
#define QT_RULE_FP16_SCALES (1u << 5)
#define QT_RULE_TYPE        (1u << 6) /* spec's grid, bits, group and dq_bits are a ggml type's */

/* A partial weight rule for the parameters matching a glob. */
typedef struct qt_quant_override {
    const char *pattern;     /* glob over parameter names */
    unsigned set;            /* QT_RULE_* bits; other fields are ignored */
    qt_quant_spec spec;
    qt_scale_init init;
} qt_quant_override;

/* Which Linear weights are quantized, how, and what their inputs get. The
 * strings and arrays are borrowed (the caller keeps them alive). */
typedef struct qt_quant_rules {
    qt_quant_spec weights;   /* default spec of a quantized Linear weight */
    qt_scale_init init;      /* default initialiser */
    const char *const *skip; /* globs of weights kept in float */
    int n_skip;
    const qt_quant_override *override; /* in order; later overrides win */
    int n_override;
    qt_act_mode act_mode;    /* QT_ACT_NONE: no activation quantizers */
    int act_bits;
    qt_preset preset;        /* QT_PRESET_NONE, or llama.cpp's per-tensor types of that preset */
    int imatrix;             /* an importance matrix is given (qt_ptq_llamacpp sets it): the preset's
                                imatrix rules apply (Q4_0: the first n/8 ffn_down at Q4_1) */
} qt_quant_rules;

/* The spec the rules give to the Linear weight `name` (row length cols) of a
 * model of cfg: returns 1 and fills spec and *init (may be NULL) when the
 * weight is quantized, 0 when skipped. */
int qt_policy_spec(const qt_quant_rules *q, const qt_model_cfg *cfg, const char *name, int cols, qt_quant_spec *spec,
                   qt_scale_init *init);
/* Checks the rules against a model of cfg without building it (every
 * override matches a Linear, every spec fits its weight) and prints the
 * plan to log (may be NULL): per Linear its spec and the ggml type that
 * holds it. Run it before any work. Returns 0, or -1 with a message naming
 * the tensor. */
int qt_policy_check(const qt_model_cfg *cfg, const qt_quant_rules *q, FILE *log, char *err, size_t errlen);
/* Attaches a quantizer (initialised by absmax or MSE search from the current
 * weights) to every quantized Linear of m, and an activation quantizer when
 * q->act_mode is not QT_ACT_NONE. Prints the plan to log (may be NULL).
 * Returns 0, or -1 with a message naming the tensor or pattern. */
int qt_policy_apply(qt_model *m, const qt_quant_rules *q, FILE *log, char *err, size_t errlen);
/* Frees and detaches every quantizer of m. */
void qt_policy_detach(qt_model *m);
/* Collects the quantizer parameters (scales, offsets, static act scales) of m
 * into out (capacity cap): the trainable ones only, or with all = 1 also the
 * fixed ones (checkpoints store all of them). Returns the count. */
int qt_policy_params(const qt_model *m, qt_tensor **out, int cap, int all);
/* Projects every quantizer parameter back into its domain (after a step). */
void qt_policy_clamp(qt_model *m);
/* Storage of the model as deployed: a quantized weight whose spec a ggml
 * type holds at that type's bytes (qt_ggml_nbytes: the GGUF file's), any
 * other at its bits plus one fp16 scale (and zero point / min) per group;
 * other 2-D weights as fp16; 1-D weights (norms) as fp32. Returns bytes;
 * *bits_per_weight gets 8·bytes / number of weights. */
double qt_model_deploy_bytes(const qt_model *m, double *bits_per_weight);

/* A copy of m for deployment-exact evaluation: each quantized Linear's weight
 * replaced by the dequantized frozen codes (qt_freeze), its weight quantizer
 * dropped and its activation quantizer kept. Its logits equal the fake-quant
 * model's bit for bit. Free with qt_model_free. */
qt_model *qt_model_freeze(const qt_model *m);

/* Before freezing or exporting: every parameter of m and every weight
 * quantizer's scale and offset is finite. Returns 0, or -1 with "tensor NAME:
 * value I is nan (weights must be finite ...)" naming the first bad index. */
int qt_model_check_finite(const qt_model *m, char *err, size_t errlen);
/* The model as llama.cpp runs the GGUF export of qat: each quantized
 * Linear's weight replaced by the dequantized frozen codes, every weight and
 * activation quantizer dropped. With faithful, each quantized Linear's input
 * is rounded as llama.cpp does for the GGUF type that holds its spec
 * (qt_ggml_spec_vec_dot_type: float_min with groups of 32 → Q8_1, other
 * grids → Q8_0); unquantized Linears and faithful = 0 leave inputs unrounded,
 * giving the logits of the fake-quant model without activation quantizers.
 * Evaluate it with qt_model_forward under no-grad; free with qt_model_free. */
qt_model *qt_model_deploy(const qt_model *qat, int faithful);

#endif
