/* qatc pipeline: what `qat_train config.json` runs. Stages: load or
 * pre-train the FP32 base and evaluate it; each PTQ method of `ptq` (rtn,
 * gptq, awq, smoothquant; calibration from `calib`) on the same base and
 * policy, frozen and evaluated; QAT from the FP32 base ("qat"), frozen and
 * evaluated; when train.init_from names a PTQ method, QAT again from that
 * PTQ result ("qat_from_ptq"); then the comparison report (eval/report.h)
 * and the gate on the last QAT model; then the exports (io/export.h) of it.
 *
 * Files under out_dir: base.h5 (FP32 base, final), base.ckpt.h5,
 * qat.ckpt.h5 and qat_from_ptq.ckpt.h5 (resumable stage checkpoints),
 * qat.h5 / qat_from_ptq.h5 (QAT weights and quantizer state, final),
 * metrics.jsonl, report.json, report.md, plots/ (SVG). */
#ifndef QATC_RUN_PIPELINE_H
#define QATC_RUN_PIPELINE_H

#include <signal.h>
#include <stdio.h>

#include "run/config.h"

/* Exit codes of qat_train. */
enum {
    QT_EXIT_OK = 0,
    QT_EXIT_ERROR = 1,        /* bad config, missing file, I/O error, NaN loss, ... */
    QT_EXIT_INTERRUPTED = 2,  /* SIGINT/SIGTERM: checkpoint written, rerun with --resume */
    QT_EXIT_REGRESSION = 3    /* the report was written, but a suite regressed past eval.max_regression */
};

/* Checks what needs the model's shapes (every quant.override matches a
 * Linear, every tensor's grid fits it: a type's block divides its row) and
 * prints the quantization plan to log (may be NULL). Returns 0, or -1 with
 * a one-line message. The model is never built. */
int qt_pipeline_check(const qt_config *cfg, FILE *log, char *err, size_t errlen);

/* Runs the pipeline for a validated config. config_path names the file in
 * messages; resume continues from the checkpoints in out_dir. stop is set
 * by signal handlers. Returns a QT_EXIT_* code; errors print one line. */
int qt_pipeline_run(const qt_config *cfg, const char *config_path, int resume, volatile sig_atomic_t *stop);

#endif
