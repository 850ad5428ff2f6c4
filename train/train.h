/* qatc train: the training loop shared by FP32 pre-training and QAT, with
 * AdamW parameter groups, optional distillation, periodic validation,
 * progress, metrics.jsonl and atomic, resumable HDF5 checkpoints. */
#ifndef QATC_TRAIN_TRAIN_H
#define QATC_TRAIN_TRAIN_H

#include <signal.h>
#include <stdio.h>

#include "data/dataset.h"
#include "nn/model.h"
#include "optim/optim.h"

typedef struct qt_train_spec {
    const char *stage;          /* "base" or "qat": names metrics and the RNG stream */
    int steps, batch, T;
    double lr, scale_lr, weight_decay, clip;
    qt_schedule_kind schedule;
    int warmup;
    double distill_weight, distill_temperature;
    int ckpt_every, eval_every, log_every;
    int val_tokens;             /* tokens scored by each periodic validation */
    const char *ckpt_path;      /* this stage's checkpoint */
    const char *config_json;    /* stored in every checkpoint */
    uint64_t seed;
} qt_train_spec;

typedef struct qt_train_env {
    qt_model *model;            /* trained in place (weights and attached quantizers) */
    qt_model *teacher;          /* FP32 model for distillation, or NULL */
    const qd_mix *mix;          /* training batches */
    const qd_tokens *val;       /* periodic validation */
    FILE *metrics;              /* metrics.jsonl, appended (may be NULL) */
    volatile sig_atomic_t *stop;/* set by SIGINT/SIGTERM: checkpoint and return 2 */
} qt_train_env;

/* Losses seen by a run: filled when non-NULL (for tests comparing runs). */
typedef struct qt_train_trace {
    float *loss;                /* [steps] training loss per step */
    int n;
} qt_train_trace;

/* Trains spec->steps steps. With resume and an existing checkpoint at
 * spec->ckpt_path, continues from it (weights, quantizer state, optimizer
 * moments, step, RNG) so that the losses equal those of an uninterrupted run.
 * Returns 0 when done, 2 when stopped by *env->stop (checkpoint written), -1
 * on error (message in err; a NaN/Inf loss names the step and leaves the
 * last checkpoint untouched). */
int qt_train_run(const qt_train_spec *spec, qt_train_env *env, int resume, qt_train_trace *trace, char *err,
                 size_t errlen);

#endif
