/* qatc run/artifacts: a run's models in and out, as the config describes
 * them: a QAT model loaded from a checkpoint with its config, and the
 * config's export list written from the chosen QAT model. */
#ifndef QATC_RUN_ARTIFACTS_H
#define QATC_RUN_ARTIFACTS_H

#include <stddef.h>

#include "data/tokenizer.h"
#include "nn/model.h"
#include "qat/ptq/ptq.h"
#include "run/config.h"

/* A QAT model from a qatc checkpoint (qat.h5, base.h5, a stage checkpoint):
 * the config is read from config_path, or when NULL from the checkpoint's
 * stored effective config (into *cfg, which the caller frees with
 * qt_config_free). Weights are loaded; with quant = 1, or quant = -1 (auto)
 * and the checkpoint holds quantizer state ("param/<weight>.scale"), the
 * config's quant policy is attached (initialised from the loaded weights) and
 * the checkpoint's quantizer state loaded over it; quant = 0 (or auto on a
 * float checkpoint such as base.h5) gives the float model. NULL with a
 * message on error. */
qt_model *qt_load_qat(const char *ckpt, const char *config_path, int quant, qt_config *cfg, char *err,
                      size_t errlen);

/* The run's tokenizer (free with qd_tokenizer_free): the one place where the
 * config's tokenizer choice becomes a qd_tokenizer for the exporters (and
 * qat_export). Today every config uses the byte tokenizer; a config key naming
 * a tokenizer (qd_tokenizer_load spec) is to be plugged in here. NULL with a
 * message on error. */
qd_tokenizer *qt_run_tokenizer(const qt_config *cfg, char *err, size_t errlen);

/* What an imatrix export needs besides the QAT model. */
typedef struct qt_export_env {
    qt_model *base;  /* the FP32 base model (what llama-imatrix would run on), or NULL */
    /* calibration windows of cfg->calib holding at least ntokens tokens into
     * out, and a one-line description of the data into desc (the file's
     * imatrix.datasets); 0 or -1 with a message */
    int (*calib)(void *ctx, int ntokens, qt_calib *out, char *desc, size_t dlen, char *err, size_t errlen);
    void *ctx;
} qt_export_env;

/* Writes every entry of cfg->exports (format gguf | awq | hdf5 | hf | gptq |
 * compressed-tensors | imatrix, type, path relative to cfg->out_dir) from the
 * QAT model; every format but hdf5 and imatrix carries the run's tokenizer
 * (qt_run_tokenizer: GGUF metadata, or tokenizer.json copied). imatrix
 * entries are computed on env->base over env->calib's windows
 * (qt_export_imatrix_model); env may be NULL when there are none. Returns 0,
 * or -1 with a message naming the export entry. */
int qt_export_run(const qt_config *cfg, const qt_model *qat, const qt_export_env *env, char *err, size_t errlen);

/* llama.cpp's importance matrix of model m (a decoder; run in float, no
 * grad) over the calibration windows c, written to path as the imatrix GGUF
 * of llama-imatrix (qt_export_imatrix): every Linear under its GGUF tensor
 * name (qt_gguf_linear_name; the output layer too, as llama-imatrix
 * --process-output collects it), in_sum2 = Σ x² of the Linear's input per
 * column over the nseq·T tokens (qt_imatrix_stats, the sums behind
 * qt_imatrix_collect), counts = nseq·T, imatrix.chunk_size = T,
 * imatrix.chunk_count = nseq, imatrix.datasets = [dataset]. Columns are never
 * permuted by the GGUF export (only q/k rows, for NEOX families), so the
 * sums are in the exported tensors' column order. Returns 0, or -1 with a
 * message. */
int qt_export_imatrix_model(qt_model *m, const qt_calib *c, const char *dataset, const char *path, char *err,
                            size_t errlen);

#endif
