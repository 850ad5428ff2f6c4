/* qatc optim: AdamW and SGD+momentum over parameter groups, learning-rate
 * schedules, global-norm gradient clipping and a non-finite gradient check.
 *
 * Semantics follow PyTorch (torch.optim.AdamW, torch.optim.SGD with
 * dampening 0, torch.nn.utils.clip_grad_norm_) element for element; the
 * tests compare against torch step by step.
 *
 * Every buffer an optimizer needs (m, v, momentum) is allocated and zeroed by
 * its constructor; qt_optim_step allocates nothing. A parameter whose grad is
 * NULL is skipped by a step (its state and data are left untouched). The step
 * count t is one for the whole optimizer (torch keeps one per parameter; the
 * two agree whenever every parameter gets a gradient at every step). */
#ifndef QATC_OPTIM_H
#define QATC_OPTIM_H

#include <stdint.h>

#include "autograd/tensor.h"

/* ---- parameter groups and optimizers (optim.c) ---- */

/* A group: params[0..n_params) share one base lr and one weight decay
 * (e.g. weights with decay, quantizer scales with their own lr and none). */
typedef struct qt_param_group {
    qt_tensor **params;
    int n_params;
    double lr;
    double weight_decay;
} qt_param_group;

typedef enum { QT_OPTIM_SGD = 0, QT_OPTIM_ADAMW = 1 } qt_optim_kind;

/* The optimizer. The group list and the flat parameter list are copies owned
 * by the optimizer (the caller's arrays need not outlive the constructor);
 * the tensors themselves stay owned by the caller. Fields may be read; change
 * state only through the functions below. */
typedef struct qt_optim {
    qt_optim_kind kind;
    double beta1, beta2, eps;  /* AdamW */
    double momentum;           /* SGD */
    int nesterov;              /* SGD */
    int n_groups;
    qt_param_group *groups;    /* groups[g].params points into `params` */
    int n_params;
    qt_tensor **params;        /* all params, group by group, in order */
    int *group_of;             /* group index of each param */
    float **m;                 /* AdamW exp_avg, or SGD momentum buffer (NULL if momentum == 0) */
    float **v;                 /* AdamW exp_avg_sq; NULL for SGD */
    int64_t t;                 /* steps taken */
} qt_optim;

/* AdamW (torch.optim.AdamW, amsgrad off). For each param with a grad, at step
 * t (1-based) and lr = group.lr * lr_mult:
 *   p *= 1 - lr*wd;  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g*g;
 *   p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
 * torch's defaults are beta1 0.9, beta2 0.999, eps 1e-8. Aborts on bad
 * hyperparameters (betas outside [0,1), eps < 0, lr or wd < 0). */
qt_optim *qt_adamw_new(const qt_param_group *groups, int n_groups, double beta1, double beta2, double eps);

/* SGD with momentum (torch.optim.SGD, dampening 0). For each param with a grad:
 *   d = g + wd*p;  buf = momentum*buf + d;  d = nesterov ? d + momentum*buf : buf;
 *   p -= lr*d.   With momentum == 0 no buffer is kept and p -= lr*d. */
qt_optim *qt_sgd_new(const qt_param_group *groups, int n_groups, double momentum, int nesterov);

/* One update of every param from its ->grad, with lr_eff = group.lr * lr_mult
 * (lr_mult usually comes from qt_schedule_mult). Increments t first. Does not
 * zero the grads. Allocates nothing. */
void qt_optim_step(qt_optim *opt, double lr_mult);

/* Frees the optimizer and its state (not the params). NULL is a no-op. */
void qt_optim_free(qt_optim *opt);

/* ---- state access for checkpoints (optim.c) ---- */

/* Number of params across all groups. */
int qt_optim_num_params(const qt_optim *opt);
/* Param i (0 <= i < num_params), in group order; its ->n is the length of
 * its state buffers. Aborts on a bad index. */
qt_tensor *qt_optim_param(const qt_optim *opt, int i);
/* Name of param i (tensor->name). */
const char *qt_optim_param_name(const qt_optim *opt, int i);
/* First state buffer of param i (AdamW m, SGD momentum buffer), ->n floats,
 * writable for restore; NULL when the optimizer keeps none. */
float *qt_optim_state_m(const qt_optim *opt, int i);
/* Second state buffer of param i (AdamW v); NULL for SGD. */
float *qt_optim_state_v(const qt_optim *opt, int i);
/* Steps taken so far (the t used for bias correction is this + 1 next step). */
int64_t qt_optim_get_step(const qt_optim *opt);
/* Restores the step count (t >= 0). */
void qt_optim_set_step(qt_optim *opt, int64_t t);

/* ---- learning-rate schedules (schedule.c) ---- */

/* Both kinds share an optional linear warmup. With step the 0-based index of
 * the step about to be taken:
 *   step < warmup:  mult = (step + 1) / warmup
 *   constant:       mult = 1
 *   cosine:         progress = clamp((step - warmup) / max(1, total - warmup), 0, 1)
 *                   mult = min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + cos(pi * progress))
 * so cosine decays from 1 right after warmup to min_lr_ratio at step `total`
 * and stays there. This is torch's LambdaLR with that lambda, where the lr
 * used by the k-th optimizer step (k from 0) is base_lr * lambda(k). */
typedef enum { QT_SCHED_CONSTANT = 0, QT_SCHED_COSINE = 1 } qt_schedule_kind;

typedef struct qt_schedule {
    qt_schedule_kind kind;
    int64_t warmup;       /* warmup steps, >= 0 (0: none) */
    int64_t total;        /* total steps (cosine), >= warmup */
    double min_lr_ratio;  /* floor of the cosine, in [0, 1] */
} qt_schedule;

/* A schedule, checked: aborts on negative warmup, total < warmup (cosine) or
 * min_lr_ratio outside [0, 1]. */
qt_schedule qt_schedule_make(qt_schedule_kind kind, int64_t warmup, int64_t total, double min_lr_ratio);
/* The lr multiplier for 0-based step `step` (formula above). */
double qt_schedule_mult(const qt_schedule *s, int64_t step);
/* Parses "constant" or "cosine"; returns 0 and sets *kind, or -1 if unknown. */
int qt_schedule_kind_from_name(const char *name, qt_schedule_kind *kind);

/* ---- gradients (clip.c) ---- */

/* Global L2 norm of the grads of params[0..n) (those with a grad), summed in
 * double, as if concatenated into one vector. Allocates nothing. */
double qt_grad_norm(qt_tensor *const *params, int n);

/* torch.nn.utils.clip_grad_norm_ (norm_type 2): total = qt_grad_norm; if
 * total > max_norm every grad is scaled by max_norm / (total + 1e-6).
 * Returns total. A non-finite total leaves the grads untouched (check with
 * qt_grads_nonfinite and skip the step). */
double qt_clip_grad_norm(qt_tensor *const *params, int n, double max_norm);

/* 1 if any grad element of params[0..n) is NaN or +-Inf, else 0 (the NaN-loss
 * guard before a step). */
int qt_grads_nonfinite(qt_tensor *const *params, int n);

#endif
