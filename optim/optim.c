/* Optimizers: construction (all state allocated here), the AdamW and SGD
 * update kernels, and the state accessors used by checkpoints. */
#include "optim/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Below this many elements a param is updated by one thread. */
#define OPTIM_PAR_MIN 32768

static void *optim_calloc(size_t count, size_t size) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) qt_die("optim: out of memory allocating %zu x %zu bytes", count, size);
    return p;
}

/* 64-byte aligned, zeroed float buffer. */
static float *state_alloc(size_t n) {
    void *p = NULL;
    size_t bytes = (n ? n : 1) * sizeof(float);
    if (posix_memalign(&p, 64, bytes) != 0) qt_die("optim: out of memory allocating %zu bytes of state", bytes);
    memset(p, 0, bytes);
    return p;
}

static qt_optim *optim_new(qt_optim_kind kind, const qt_param_group *groups, int n_groups, int want_m, int want_v) {
    if (!groups || n_groups <= 0) qt_die("optim: need at least one parameter group (got %d)", n_groups);
    int total = 0;
    for (int g = 0; g < n_groups; g++) {
        const qt_param_group *gr = &groups[g];
        if (gr->n_params < 0 || (gr->n_params > 0 && !gr->params))
            qt_die("optim: group %d has %d params and params=%p", g, gr->n_params, (void *)gr->params);
        if (!(gr->lr >= 0) || !isfinite(gr->lr)) qt_die("optim: group %d: lr must be finite and >= 0 (got %g)", g, gr->lr);
        if (!(gr->weight_decay >= 0) || !isfinite(gr->weight_decay))
            qt_die("optim: group %d: weight_decay must be finite and >= 0 (got %g)", g, gr->weight_decay);
        total += gr->n_params;
    }
    qt_optim *o = optim_calloc(1, sizeof *o);
    o->kind = kind;
    o->n_groups = n_groups;
    o->groups = optim_calloc((size_t)n_groups, sizeof *o->groups);
    o->n_params = total;
    o->params = optim_calloc((size_t)total, sizeof *o->params);
    o->group_of = optim_calloc((size_t)total, sizeof *o->group_of);
    o->m = optim_calloc((size_t)total, sizeof *o->m);
    o->v = optim_calloc((size_t)total, sizeof *o->v);
    int k = 0;
    for (int g = 0; g < n_groups; g++) {
        o->groups[g] = groups[g];
        o->groups[g].params = o->params + k;
        for (int j = 0; j < groups[g].n_params; j++, k++) {
            qt_tensor *t = groups[g].params[j];
            if (!t || !t->data) qt_die("optim: group %d param %d is NULL or has no data", g, j);
            for (int q = 0; q < k; q++)
                if (o->params[q] == t) qt_die("optim: param '%s' appears more than once in the parameter groups", t->name);
            o->params[k] = t;
            o->group_of[k] = g;
            if (want_m) o->m[k] = state_alloc(t->n);
            if (want_v) o->v[k] = state_alloc(t->n);
        }
    }
    return o;
}

qt_optim *qt_adamw_new(const qt_param_group *groups, int n_groups, double beta1, double beta2, double eps) {
    if (!(beta1 >= 0 && beta1 < 1)) qt_die("adamw: beta1 must be in [0, 1) (got %g)", beta1);
    if (!(beta2 >= 0 && beta2 < 1)) qt_die("adamw: beta2 must be in [0, 1) (got %g)", beta2);
    if (!(eps >= 0) || !isfinite(eps)) qt_die("adamw: eps must be finite and >= 0 (got %g)", eps);
    qt_optim *o = optim_new(QT_OPTIM_ADAMW, groups, n_groups, 1, 1);
    o->beta1 = beta1;
    o->beta2 = beta2;
    o->eps = eps;
    return o;
}

qt_optim *qt_sgd_new(const qt_param_group *groups, int n_groups, double momentum, int nesterov) {
    if (!(momentum >= 0) || !isfinite(momentum)) qt_die("sgd: momentum must be finite and >= 0 (got %g)", momentum);
    if (nesterov && momentum <= 0) qt_die("sgd: nesterov needs momentum > 0");
    qt_optim *o = optim_new(QT_OPTIM_SGD, groups, n_groups, momentum != 0, 0);
    o->momentum = momentum;
    o->nesterov = nesterov != 0;
    return o;
}

void qt_optim_free(qt_optim *o) {
    if (!o) return;
    for (int i = 0; i < o->n_params; i++) {
        free(o->m[i]);
        free(o->v[i]);
    }
    free(o->m);
    free(o->v);
    free(o->group_of);
    free(o->params);
    free(o->groups);
    free(o);
}

/* One AdamW update of n elements, in torch's order of float operations:
 * p *= decay; m = m*b1 + omb1*g; v = v*b2 + omb2*g*g;
 * p += neg_step * m / (sqrt(v)/bc2_sqrt + eps). */
static void adamw_kernel(float *restrict p, const float *restrict g, float *restrict m, float *restrict v, size_t n,
                         float decay, float b1, float omb1, float b2, float omb2, float neg_step, float bc2_sqrt,
                         float eps) {
#pragma omp parallel for simd schedule(static) if (n > OPTIM_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float gi = g[i];
        float pi = p[i] * decay;
        float mi = m[i] * b1 + omb1 * gi;
        float vi = v[i] * b2 + omb2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi + neg_step * (mi / (sqrtf(vi) / bc2_sqrt + eps));
    }
}

/* One SGD update of n elements (buf may be NULL when momentum == 0). */
static void sgd_kernel(float *restrict p, const float *restrict g, float *restrict buf, size_t n, float neg_lr,
                       float wd, float mom, int nesterov) {
    if (!buf) {
#pragma omp parallel for simd schedule(static) if (n > OPTIM_PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            float d = wd != 0.0f ? g[i] + wd * p[i] : g[i];
            p[i] = p[i] + neg_lr * d;
        }
        return;
    }
#pragma omp parallel for simd schedule(static) if (n > OPTIM_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float d = wd != 0.0f ? g[i] + wd * p[i] : g[i];
        float b = buf[i] * mom + d;
        buf[i] = b;
        float u = nesterov ? d + mom * b : b;
        p[i] = p[i] + neg_lr * u;
    }
}

void qt_optim_step(qt_optim *o, double lr_mult) {
    if (!(lr_mult >= 0) || !isfinite(lr_mult)) qt_die("optim: lr multiplier must be finite and >= 0 (got %g)", lr_mult);
    o->t++;
    const double t = (double)o->t;
    /* AdamW bias corrections, in double as torch computes them in Python. */
    const double bc1 = 1.0 - pow(o->beta1, t);
    const double bc2_sqrt = sqrt(1.0 - pow(o->beta2, t));
    for (int i = 0; i < o->n_params; i++) {
        qt_tensor *p = o->params[i];
        if (!p->grad) continue;
        const qt_param_group *gr = &o->groups[o->group_of[i]];
        const double lr = gr->lr * lr_mult;
        if (o->kind == QT_OPTIM_ADAMW) {
            adamw_kernel(p->data, p->grad, o->m[i], o->v[i], p->n, (float)(1.0 - lr * gr->weight_decay),
                         (float)o->beta1, (float)(1.0 - o->beta1), (float)o->beta2, (float)(1.0 - o->beta2),
                         (float)(-(lr / bc1)), (float)bc2_sqrt, (float)o->eps);
        } else {
            sgd_kernel(p->data, p->grad, o->m[i], p->n, (float)(-lr), (float)gr->weight_decay, (float)o->momentum,
                       o->nesterov);
        }
    }
}

static void check_index(const qt_optim *o, int i) {
    if (i < 0 || i >= o->n_params) qt_die("optim: param index %d out of range [0, %d)", i, o->n_params);
}

int qt_optim_num_params(const qt_optim *o) { return o->n_params; }

qt_tensor *qt_optim_param(const qt_optim *o, int i) {
    check_index(o, i);
    return o->params[i];
}

const char *qt_optim_param_name(const qt_optim *o, int i) {
    check_index(o, i);
    return o->params[i]->name;
}

float *qt_optim_state_m(const qt_optim *o, int i) {
    check_index(o, i);
    return o->m[i];
}

float *qt_optim_state_v(const qt_optim *o, int i) {
    check_index(o, i);
    return o->v[i];
}

int64_t qt_optim_get_step(const qt_optim *o) { return o->t; }

void qt_optim_set_step(qt_optim *o, int64_t t) {
    if (t < 0) qt_die("optim: step count must be >= 0 (got %lld)", (long long)t);
    o->t = t;
}
