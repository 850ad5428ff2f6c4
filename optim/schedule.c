/* Learning-rate multipliers: constant and linear warmup + cosine decay. */
#include <math.h>
#include <string.h>

#include "optim/optim.h"

qt_schedule qt_schedule_make(qt_schedule_kind kind, int64_t warmup, int64_t total, double min_lr_ratio) {
    if (kind != QT_SCHED_CONSTANT && kind != QT_SCHED_COSINE) qt_die("schedule: unknown kind %d", (int)kind);
    if (warmup < 0) qt_die("schedule: warmup must be >= 0 (got %lld)", (long long)warmup);
    if (kind == QT_SCHED_COSINE && total < warmup)
        qt_die("schedule: total steps (%lld) must be >= warmup (%lld)", (long long)total, (long long)warmup);
    if (!(min_lr_ratio >= 0 && min_lr_ratio <= 1))
        qt_die("schedule: min_lr_ratio must be in [0, 1] (got %g)", min_lr_ratio);
    qt_schedule s = {kind, warmup, total, min_lr_ratio};
    return s;
}

double qt_schedule_mult(const qt_schedule *s, int64_t step) {
    if (step < 0) qt_die("schedule: step must be >= 0 (got %lld)", (long long)step);
    if (step < s->warmup) return (double)(step + 1) / (double)s->warmup;
    if (s->kind == QT_SCHED_CONSTANT) return 1.0;
    int64_t span = s->total - s->warmup;
    double progress = (double)(step - s->warmup) / (double)(span > 1 ? span : 1);
    if (progress > 1.0) progress = 1.0;
    if (progress < 0.0) progress = 0.0;
    const double pi = 3.14159265358979323846;
    return s->min_lr_ratio + (1.0 - s->min_lr_ratio) * 0.5 * (1.0 + cos(pi * progress));
}

int qt_schedule_kind_from_name(const char *name, qt_schedule_kind *kind) {
    if (!name) return -1;
    if (strcmp(name, "constant") == 0) {
        *kind = QT_SCHED_CONSTANT;
        return 0;
    }
    if (strcmp(name, "cosine") == 0) {
        *kind = QT_SCHED_COSINE;
        return 0;
    }
    return -1;
}
