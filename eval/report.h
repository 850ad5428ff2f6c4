/* qatc report: the PTQ-vs-QAT comparison written at the end of a run.
 *
 * Files under out_dir:
 *   report.json   {"qatc_version", "config" (effective), "methods": {name: {val_bpb,
 *                 val_ppl, suites {suite: exact match}, kl_vs_fp32, top1_vs_fp32, bytes,
 *                 bits_per_weight, seconds, [init_from], [calibration {source, tokens,
 *                 sequences, seed}]}}, "gate": {model, max_regression, regressions
 *                 [{suite, fp32, <model>}], passed}}
 *   report.md     the same as a table (one row per method), the gate verdict
 *                 and links to the plots
 *   plots/suite_<name>.svg   exact match per method (bar chart), one per suite
 *   plots/val_bpb.svg        val bits per byte per method (bar chart)
 *   plots/qat_loss.svg       QAT train loss and validation bits per byte by
 *                            step (from metrics.jsonl), FP32 and each PTQ
 *                            method's val bits per byte as horizontal lines
 * Gate: a suite regresses when fp32's exact match minus the gated model's
 * exceeds max_regression (absolute, in exact-match points). */
#ifndef QATC_EVAL_REPORT_H
#define QATC_EVAL_REPORT_H

#include <stddef.h>

typedef struct cJSON cJSON;

#define QT_REPORT_MAX_SUITES 32

typedef struct qt_report_method {
    char name[32];               /* "fp32", "rtn", "gptq", "awq", "smoothquant", "qat", "qat_from_ptq" */
    double val_bpb, val_ppl, kl, top1, bytes, bpw, seconds;
    double acc[QT_REPORT_MAX_SUITES];
    char init_from[32];          /* QAT from a PTQ result: that method; else "" */
    int calib_tokens;            /* > 0: the method used calibration data ... */
    int calib_sequences;
    const char *calib_source;    /* "train", "text", "file:<path>" */
    long long calib_seed;
} qt_report_method;

typedef struct qt_report {
    const cJSON *config;         /* effective config, copied into report.json (NULL: "config": null) */
    const char *quant_summary;   /* one line on the quantization for report.md (may be NULL) */
    const char *out_dir;
    const char *suites[QT_REPORT_MAX_SUITES];
    int n_suites;
    int has_text;                /* val_bpb / val_ppl were measured */
    int has_kl;                  /* kl / top1 were measured (suite "kl"); else null in report.json, "–" in report.md */
    const qt_report_method *methods;  /* methods[0] is fp32 */
    int n_methods;
    int gate_model;              /* index of the gated model in methods */
    double max_regression;
} qt_report;

/* Number of suites where the gated model regressed past max_regression vs
 * methods[0]; msg (may be NULL) gets one line naming them, e.g.
 * "gate: 1 suite(s) regressed by more than 0.050 vs fp32 in qat: arith 0.600 -> 0.400". */
int qt_report_gate(const qt_report *r, char *msg, size_t len);

/* Writes report.json (atomically), report.md and the SVG plots under
 * r->out_dir; metrics_path (may be NULL) is read for the QAT loss curve.
 * Returns 0, or -1 with a message naming the file. */
int qt_report_write(const qt_report *r, const char *metrics_path, char *err, size_t errlen);

#endif
