/* qatc quantization policy: which Linear gets which quantizer spec, from the
 * config's quant section (a default spec, skip globs, per-pattern overrides).
 *
 * Patterns are shell globs (fnmatch, '*' also crosses dots) matched against
 * the parameter name with and without its ".weight" suffix, so
 * "layers.*.attention.wo" and "layers.*.attention.wo.weight" both work.
 * Later overrides win. An override pattern that matches no Linear is an
 * error (a typo must not silently quantize at the default). */
#ifndef QATC_QAT_POLICY_H
#define QATC_QAT_POLICY_H

#include <stdio.h>

#include "run/config.h"
#include "nn/model.h"
#include "quant/quant.h"

/* The spec a config gives to one Linear weight: returns 1 and fills spec and
 * *init_mse when the weight is quantized, 0 when skipped. */
int qt_policy_spec(const qt_cfg_quant *q, const char *weight_name, qt_quant_spec *spec, int *init_mse);
/* Attaches a quantizer (initialised by absmax or MSE search from the current
 * weights) to every quantized Linear of m, and an activation quantizer when
 * quant.activations.mode is not "none". Prints the plan to log (may be NULL).
 * Returns 0, or -1 with a message naming the tensor or pattern. */
int qt_policy_apply(qt_model *m, const qt_cfg_quant *q, FILE *log, char *err, size_t errlen);
/* Frees and detaches every quantizer of m. */
void qt_policy_detach(qt_model *m);
/* Collects the quantizer parameters (scales, offsets, static act scales) of m
 * into out (capacity cap): the trainable ones only, or with all = 1 also the
 * fixed ones (checkpoints store all of them). Returns the count. */
int qt_policy_params(const qt_model *m, qt_tensor **out, int cap, int all);
/* Projects every quantizer parameter back into its domain (after a step). */
void qt_policy_clamp(qt_model *m);
/* Storage of the model as deployed: quantized weights at their bits plus one
 * fp16 scale (and zero point / min) per group; other 2-D weights as fp16;
 * 1-D weights (norms) as fp32. Returns bytes; *bits_per_weight gets
 * 8·bytes / number of weights. */
double qt_model_deploy_bytes(const qt_model *m, double *bits_per_weight);

/* A copy of m for deployment-exact evaluation: each quantized Linear's weight
 * replaced by the dequantized frozen codes (qt_freeze), its weight quantizer
 * dropped and its activation quantizer kept. Its logits equal the fake-quant
 * model's bit for bit. Free with qt_model_free. */
qt_model *qt_model_freeze(const qt_model *m);
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
