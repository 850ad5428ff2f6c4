/* optim: AdamW and SGD(+momentum, nesterov, weight decay) step by step against
 * torch.optim, checkpoint-style state save/restore through the accessors,
 * warmup+cosine against torch's LambdaLR, clip_grad_norm_ against torch, the
 * non-finite gradient detector, and that steps allocate nothing. */
#include <float.h>
#include <hdf5.h>
#include <unistd.h>

#include "optim/optim.h"
#include "test_util.h"

#define TOL 1e-6
#define MAXP 8
#define MAXG 4

/* ---- HDF5 helpers (abort the test on a missing object: the oracle is broken) ---- */

static double attr_d(hid_t f, const char *obj, const char *name) {
    double v = 0;
    hid_t a = H5Aopen_by_name(f, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Aread(a, H5T_NATIVE_DOUBLE, &v) < 0) { fprintf(stderr, "attr %s/%s\n", obj, name); exit(2); }
    H5Aclose(a);
    return v;
}

static void attr_dv(hid_t f, const char *obj, const char *name, double *out, int n) {
    hid_t a = H5Aopen_by_name(f, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) { fprintf(stderr, "attr %s/%s\n", obj, name); exit(2); }
    hid_t sp = H5Aget_space(a);
    if (H5Sget_simple_extent_npoints(sp) != n || H5Aread(a, H5T_NATIVE_DOUBLE, out) < 0) {
        fprintf(stderr, "attr %s/%s: expected %d values\n", obj, name, n);
        exit(2);
    }
    H5Sclose(sp);
    H5Aclose(a);
}

static void attr_str(hid_t f, const char *obj, const char *name, char *buf, size_t len) {
    hid_t a = H5Aopen_by_name(f, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) { fprintf(stderr, "attr %s/%s\n", obj, name); exit(2); }
    hid_t ft = H5Aget_type(a);
    hid_t mt = H5Tcopy(H5T_C_S1);
    if (H5Tis_variable_str(ft) > 0) {
        char *s = NULL;
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ft));
        if (H5Aread(a, mt, &s) < 0) exit(2);
        snprintf(buf, len, "%s", s);
        H5free_memory(s);
    } else {
        size_t sz = H5Tget_size(ft);
        char *s = calloc(sz + 1, 1);
        H5Tset_size(mt, sz);
        if (H5Aread(a, mt, s) < 0) exit(2);
        snprintf(buf, len, "%s", s);
        free(s);
    }
    H5Tclose(mt);
    H5Tclose(ft);
    H5Aclose(a);
}

/* Reads a dataset of exactly n elements (float or double memory type). */
static void read_ds(hid_t f, const char *path, hid_t memtype, void *out, size_t n) {
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
    if (d < 0) { fprintf(stderr, "dataset %s missing\n", path); exit(2); }
    hid_t sp = H5Dget_space(d);
    hssize_t np = H5Sget_simple_extent_npoints(sp);
    if (np != (hssize_t)n) { fprintf(stderr, "dataset %s: %lld elements, expected %zu\n", path, (long long)np, n); exit(2); }
    if (H5Dread(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0) exit(2);
    H5Sclose(sp);
    H5Dclose(d);
}

static size_t ds_numel(hid_t f, const char *path) {
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
    if (d < 0) { fprintf(stderr, "dataset %s missing\n", path); exit(2); }
    hid_t sp = H5Dget_space(d);
    hssize_t np = H5Sget_simple_extent_npoints(sp);
    H5Sclose(sp);
    H5Dclose(d);
    return (size_t)np;
}

/* ---- one optimizer case from the oracle file ---- */

typedef struct {
    char name[32], optim[16], sched[16];
    int steps, n_params, n_groups, nesterov, has_m, has_v;
    double lr[MAXG], wd[MAXG], beta1, beta2, eps, momentum, min_ratio;
    int64_t warmup, total;
    double *lr_mult;                    /* [steps] torch's lr / base lr */
    int group[MAXP];
    size_t n[MAXP];
    float *init[MAXP], *grads[MAXP], *after[MAXP], *m[MAXP], *v[MAXP];
} opt_case;

static void load_case(hid_t f, const char *name, opt_case *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    attr_str(f, name, "optim", c->optim, sizeof c->optim);
    attr_str(f, name, "sched", c->sched, sizeof c->sched);
    c->steps = (int)attr_d(f, name, "steps");
    c->n_params = (int)attr_d(f, name, "n_params");
    c->n_groups = (int)attr_d(f, name, "n_groups");
    if (c->n_params > MAXP || c->n_groups > MAXG || c->steps <= 0) { fprintf(stderr, "bad case %s\n", name); exit(2); }
    attr_dv(f, name, "group_lr", c->lr, c->n_groups);
    attr_dv(f, name, "group_wd", c->wd, c->n_groups);
    c->beta1 = attr_d(f, name, "beta1");
    c->beta2 = attr_d(f, name, "beta2");
    c->eps = attr_d(f, name, "eps");
    c->momentum = attr_d(f, name, "momentum");
    c->nesterov = (int)attr_d(f, name, "nesterov");
    c->min_ratio = attr_d(f, name, "min_ratio");
    c->warmup = (int64_t)attr_d(f, name, "warmup");
    c->total = (int64_t)attr_d(f, name, "total");
    char path[128];
    c->lr_mult = malloc((size_t)c->steps * sizeof(double));
    snprintf(path, sizeof path, "%s/lr_mult", name);
    read_ds(f, path, H5T_NATIVE_DOUBLE, c->lr_mult, (size_t)c->steps);
    int is_adamw = strcmp(c->optim, "adamw") == 0;
    c->has_m = is_adamw || c->momentum != 0;
    c->has_v = is_adamw;
    for (int i = 0; i < c->n_params; i++) {
        char obj[64];
        snprintf(obj, sizeof obj, "%s/p%d", name, i);
        c->group[i] = (int)attr_d(f, obj, "group");
        snprintf(path, sizeof path, "%s/init", obj);
        size_t n = c->n[i] = ds_numel(f, path);
        size_t ns = n * (size_t)c->steps;
        c->init[i] = malloc(n * sizeof(float));
        c->grads[i] = malloc(ns * sizeof(float));
        c->after[i] = malloc(ns * sizeof(float));
        read_ds(f, path, H5T_NATIVE_FLOAT, c->init[i], n);
        snprintf(path, sizeof path, "%s/grads", obj);
        read_ds(f, path, H5T_NATIVE_FLOAT, c->grads[i], ns);
        snprintf(path, sizeof path, "%s/after", obj);
        read_ds(f, path, H5T_NATIVE_FLOAT, c->after[i], ns);
        if (c->has_m) {
            c->m[i] = malloc(n * sizeof(float));
            snprintf(path, sizeof path, "%s/m", obj);
            read_ds(f, path, H5T_NATIVE_FLOAT, c->m[i], n);
        }
        if (c->has_v) {
            c->v[i] = malloc(n * sizeof(float));
            snprintf(path, sizeof path, "%s/v", obj);
            read_ds(f, path, H5T_NATIVE_FLOAT, c->v[i], n);
        }
    }
}

static void free_case(opt_case *c) {
    free(c->lr_mult);
    for (int i = 0; i < c->n_params; i++) {
        free(c->init[i]);
        free(c->grads[i]);
        free(c->after[i]);
        free(c->m[i]);
        free(c->v[i]);
    }
}

static qt_optim *make_opt(const opt_case *c, qt_tensor **params) {
    qt_tensor *lists[MAXG][MAXP];
    qt_param_group groups[MAXG];
    for (int g = 0; g < c->n_groups; g++) {
        int k = 0;
        for (int i = 0; i < c->n_params; i++)
            if (c->group[i] == g) lists[g][k++] = params[i];
        groups[g] = (qt_param_group){lists[g], k, c->lr[g], c->wd[g]};
    }
    /* lists go out of scope here: the optimizer must have copied them */
    if (strcmp(c->optim, "adamw") == 0) return qt_adamw_new(groups, c->n_groups, c->beta1, c->beta2, c->eps);
    return qt_sgd_new(groups, c->n_groups, c->momentum, c->nesterov);
}

/* Runs case c from its initial params. If split_at > 0, the optimizer is
 * replaced after split_at steps by a fresh one whose state is restored through
 * the checkpoint accessors (as io/checkpoint would). lr_skew multiplies the
 * schedule's lr (1 = exact); returns the worst relative error over all steps. */
static double run_case(const opt_case *c, int split_at, double lr_skew, int check) {
    qt_tensor *params[MAXP];
    float *before[MAXP];
    for (int i = 0; i < c->n_params; i++) {
        before[i] = malloc(c->n[i] * sizeof(float));
        char nm[64];
        snprintf(nm, sizeof nm, "%s.p%d", c->name, i);
        int shape[1] = {(int)c->n[i]};
        params[i] = qt_param_new(nm, 1, shape);
        memcpy(params[i]->data, c->init[i], c->n[i] * sizeof(float));
    }
    qt_schedule_kind kind;
    if (qt_schedule_kind_from_name(c->sched, &kind) != 0) { fprintf(stderr, "bad sched %s\n", c->sched); exit(2); }
    qt_schedule sch = qt_schedule_make(kind, c->warmup, c->total, c->min_ratio);
    qt_optim *opt = make_opt(c, params);

    if (check) {
        CHECK(qt_optim_num_params(opt) == c->n_params, "%s: %d params", c->name, qt_optim_num_params(opt));
        /* params are listed group by group, in order */
        int k = 0;
        for (int g = 0; g < c->n_groups; g++)
            for (int i = 0; i < c->n_params; i++)
                if (c->group[i] == g) {
                    CHECK(qt_optim_param(opt, k) == params[i], "%s: param order at %d", c->name, k);
                    CHECK(strcmp(qt_optim_param_name(opt, k), params[i]->name) == 0, "%s: name %d", c->name, k);
                    k++;
                }
        for (int i = 0; i < c->n_params; i++) {
            CHECK((qt_optim_state_m(opt, i) != NULL) == c->has_m, "%s: m presence", c->name);
            CHECK((qt_optim_state_v(opt, i) != NULL) == c->has_v, "%s: v presence", c->name);
        }
        CHECK(qt_optim_get_step(opt) == 0, "%s: initial step", c->name);
    }

    /* pointers that must not change: a step allocates nothing */
    float *m0[MAXP], *v0[MAXP], *d0[MAXP], *g0[MAXP];
    void *arrays0[5] = {opt->params, opt->groups, opt->group_of, opt->m, opt->v};
    for (int i = 0; i < c->n_params; i++) {
        m0[i] = opt->m[i];
        v0[i] = opt->v[i];
        d0[i] = params[i]->data;
        g0[i] = params[i]->grad;
    }

    double worst = 0;
    for (int s = 0; s < c->steps; s++) {
        if (split_at > 0 && s == split_at) {
            qt_optim *fresh = make_opt(c, params);
            for (int k = 0; k < qt_optim_num_params(opt); k++) {
                size_t n = qt_optim_param(opt, k)->n;
                CHECK(qt_optim_param(fresh, k) == qt_optim_param(opt, k), "%s: restore order", c->name);
                if (qt_optim_state_m(opt, k)) memcpy(qt_optim_state_m(fresh, k), qt_optim_state_m(opt, k), n * sizeof(float));
                if (qt_optim_state_v(opt, k)) memcpy(qt_optim_state_v(fresh, k), qt_optim_state_v(opt, k), n * sizeof(float));
            }
            qt_optim_set_step(fresh, qt_optim_get_step(opt));
            qt_optim_free(opt);
            opt = fresh;
        }
        double mult = qt_schedule_mult(&sch, s);
        if (check)
            CHECK(fabs(mult - c->lr_mult[s]) <= 1e-12, "%s: step %d lr mult %.15g, torch %.15g", c->name, s, mult,
                  c->lr_mult[s]);
        for (int i = 0; i < c->n_params; i++) {
            memcpy(params[i]->grad, c->grads[i] + (size_t)s * c->n[i], c->n[i] * sizeof(float));
            memcpy(before[i], params[i]->data, c->n[i] * sizeof(float));
        }
        qt_optim_step(opt, mult * lr_skew);
        for (int i = 0; i < c->n_params; i++) {
            const float *ref = c->after[i] + (size_t)s * c->n[i];
            double e = tu_rel_err(params[i]->data, ref, c->n[i]);
            if (e > worst) worst = e;
            if (check) {
                CHECK(e <= TOL, "%s split %d: step %d param %d rel err %.3g", c->name, split_at, s, i, e);
                /* the step really moved the param, by far more than the tolerance
                 * (or not at all where the schedule's lr is 0) */
                const float *prev = s ? ref - c->n[i] : c->init[i];
                if (c->lr_mult[s] > 0)
                    CHECK(tu_rel_err(prev, ref, c->n[i]) > 100 * TOL, "%s: step %d param %d barely moves", c->name, s, i);
                else
                    CHECK(memcmp(before[i], params[i]->data, c->n[i] * sizeof(float)) == 0 &&
                              memcmp(prev, ref, c->n[i] * sizeof(float)) == 0,
                          "%s: step %d lr 0 but param %d moved", c->name, s, i);
            }
        }
        if (check && split_at == 0) {
            CHECK(qt_optim_get_step(opt) == s + 1, "%s: step count %lld", c->name, (long long)qt_optim_get_step(opt));
            void *arrays[5] = {opt->params, opt->groups, opt->group_of, opt->m, opt->v};
            CHECK(memcmp(arrays, arrays0, sizeof arrays) == 0, "%s: optimizer arrays moved", c->name);
            for (int i = 0; i < c->n_params; i++) {
                CHECK(opt->m[i] == m0[i] && opt->v[i] == v0[i], "%s: state buffer %d reallocated", c->name, i);
                CHECK(params[i]->data == d0[i] && params[i]->grad == g0[i], "%s: param %d buffers moved", c->name, i);
            }
        }
    }
    if (check) {
        /* final optimizer state equals torch's (what a checkpoint would save) */
        for (int k = 0; k < qt_optim_num_params(opt); k++) {
            qt_tensor *p = qt_optim_param(opt, k);
            int i = 0;
            while (params[i] != p) i++;
            if (c->has_m) {
                double e = tu_rel_err(qt_optim_state_m(opt, k), c->m[i], p->n);
                CHECK(e <= TOL, "%s: final m of param %d rel err %.3g", c->name, i, e);
            }
            if (c->has_v) {
                double e = tu_rel_err(qt_optim_state_v(opt, k), c->v[i], p->n);
                CHECK(e <= TOL, "%s: final v of param %d rel err %.3g", c->name, i, e);
            }
        }
    }
    qt_optim_free(opt);
    for (int i = 0; i < c->n_params; i++) {
        qt_param_free(params[i]);
        free(before[i]);
    }
    return worst;
}

static void test_optimizers(hid_t f) {
    static const char *cases[] = {"adamw", "adamw_const", "sgd", "sgd_nesterov", "sgd_plain"};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        opt_case c;
        load_case(f, cases[k], &c);
        run_case(&c, 0, 1.0, 1);
        run_case(&c, 5, 1.0, 1);
        /* the comparison can tell a 0.1% lr error apart */
        double e = run_case(&c, 0, 1.001, 0);
        CHECK(e > TOL, "%s: a 0.1%% lr error goes unnoticed (worst rel err %.3g)", c.name, e);
        free_case(&c);
    }
}

/* ---- clip_grad_norm_ ---- */

static void test_clip(hid_t f) {
    static const char *cases[] = {"clip_0", "clip_1"};
    for (int k = 0; k < 2; k++) {
        const char *name = cases[k];
        int np = (int)attr_d(f, name, "n_params");
        double max_norm = attr_d(f, name, "max_norm"), ref_norm = attr_d(f, name, "norm");
        qt_tensor *params[MAXP + 1];
        float *before[MAXP], *clipped[MAXP];
        for (int i = 0; i < np; i++) {
            char path[64];
            snprintf(path, sizeof path, "%s/p%d/grad", name, i);
            int shape[1] = {(int)ds_numel(f, path)};
            params[i] = qt_param_new("g", 1, shape);
            size_t n = params[i]->n;
            before[i] = malloc(n * sizeof(float));
            clipped[i] = malloc(n * sizeof(float));
            read_ds(f, path, H5T_NATIVE_FLOAT, before[i], n);
            snprintf(path, sizeof path, "%s/p%d/clipped", name, i);
            read_ds(f, path, H5T_NATIVE_FLOAT, clipped[i], n);
            memcpy(params[i]->grad, before[i], n * sizeof(float));
        }
        /* a param without a grad is skipped, as torch skips grad None */
        int shape1[1] = {3};
        params[np] = qt_param_new("nograd", 1, shape1);
        free(params[np]->grad);
        params[np]->grad = NULL;

        double gn = qt_grad_norm(params, np + 1);
        CHECK(fabs(gn - ref_norm) <= TOL * ref_norm, "%s: grad norm %.9g, torch %.9g", name, gn, ref_norm);
        double norm = qt_clip_grad_norm(params, np + 1, max_norm);
        CHECK(fabs(norm - ref_norm) <= TOL * ref_norm, "%s: returned norm %.9g, torch %.9g", name, norm, ref_norm);
        int should_clip = ref_norm > max_norm;
        for (int i = 0; i < np; i++) {
            double e = tu_rel_err(params[i]->grad, clipped[i], params[i]->n);
            CHECK(e <= TOL, "%s: clipped grad %d rel err %.3g", name, i, e);
            if (!should_clip)
                CHECK(memcmp(params[i]->grad, before[i], params[i]->n * sizeof(float)) == 0, "%s: unclipped grad %d changed",
                      name, i);
        }
        if (should_clip) {
            double after = qt_grad_norm(params, np + 1);
            CHECK(fabs(after - max_norm) <= 1e-5 * max_norm, "%s: norm after clipping %.9g, want %.9g", name, after, max_norm);
        }
        for (int i = 0; i <= np; i++) qt_param_free(params[i]);
        for (int i = 0; i < np; i++) {
            free(before[i]);
            free(clipped[i]);
        }
    }
}

/* ---- schedules ---- */

static void test_schedule(hid_t f) {
    static const char *cases[] = {"sched_0", "sched_1", "sched_2"};
    for (int k = 0; k < 3; k++) {
        const char *name = cases[k];
        char path[64];
        snprintf(path, sizeof path, "%s/lr", name);
        size_t n = ds_numel(f, path);
        double *lr = malloc(n * sizeof(double));
        read_ds(f, path, H5T_NATIVE_DOUBLE, lr, n);
        qt_schedule s = qt_schedule_make(QT_SCHED_COSINE, (int64_t)attr_d(f, name, "warmup"), (int64_t)attr_d(f, name, "total"),
                                         attr_d(f, name, "min_ratio"));
        for (size_t i = 0; i < n; i++) {
            double m = qt_schedule_mult(&s, (int64_t)i);
            CHECK(fabs(m - lr[i]) <= 1e-12, "%s: step %zu mult %.15g, LambdaLR %.15g", name, i, m, lr[i]);
        }
        free(lr);
    }
    /* hand-computed points: warmup 4, total 24, floor 0.2 */
    qt_schedule c = qt_schedule_make(QT_SCHED_COSINE, 4, 24, 0.2);
    CHECK(fabs(qt_schedule_mult(&c, 0) - 0.25) < 1e-15, "first warmup step");
    CHECK(fabs(qt_schedule_mult(&c, 1) - 0.5) < 1e-15, "second warmup step");
    CHECK(fabs(qt_schedule_mult(&c, 3) - 1.0) < 1e-15, "last warmup step");
    CHECK(fabs(qt_schedule_mult(&c, 4) - 1.0) < 1e-15, "first cosine step");
    CHECK(fabs(qt_schedule_mult(&c, 14) - 0.6) < 1e-12, "cosine midpoint %.15g", qt_schedule_mult(&c, 14));
    CHECK(fabs(qt_schedule_mult(&c, 24) - 0.2) < 1e-15, "end of cosine");
    CHECK(fabs(qt_schedule_mult(&c, 100000) - 0.2) < 1e-15, "past the end");
    for (int s = 5; s <= 30; s++)
        CHECK(qt_schedule_mult(&c, s) <= qt_schedule_mult(&c, s - 1), "cosine not monotone at %d", s);
    qt_schedule k0 = qt_schedule_make(QT_SCHED_CONSTANT, 0, 0, 0.0);
    qt_schedule k2 = qt_schedule_make(QT_SCHED_CONSTANT, 2, 0, 0.0);
    for (int s = 0; s < 50; s++) CHECK(qt_schedule_mult(&k0, s) == 1.0, "constant at %d", s);
    CHECK(qt_schedule_mult(&k2, 0) == 0.5 && qt_schedule_mult(&k2, 1) == 1.0 && qt_schedule_mult(&k2, 7) == 1.0,
          "constant with warmup");
    qt_schedule_kind kind = QT_SCHED_CONSTANT;
    CHECK(qt_schedule_kind_from_name("cosine", &kind) == 0 && kind == QT_SCHED_COSINE, "parse cosine");
    CHECK(qt_schedule_kind_from_name("constant", &kind) == 0 && kind == QT_SCHED_CONSTANT, "parse constant");
    CHECK(qt_schedule_kind_from_name("linear", &kind) == -1, "unknown schedule accepted");
}

/* ---- non-finite detector, NULL grads, large (parallel) tensors ---- */

static void test_nonfinite(void) {
    int shape_big[1] = {100003}, shape_small[1] = {17};
    qt_tensor *p[3] = {qt_param_new("a", 1, shape_small), qt_param_new("b", 1, shape_big), qt_param_new("c", 1, shape_small)};
    uint64_t seed = 42;
    for (int i = 0; i < 3; i++) tu_fill_normal(p[i]->grad, p[i]->n, 1.0f, &seed);
    free(p[2]->grad);
    p[2]->grad = NULL;  /* no gradient reached it */
    CHECK(qt_grads_nonfinite(p, 3) == 0, "finite grads reported non-finite");
    p[1]->grad[5] = FLT_MAX;
    p[0]->grad[3] = -FLT_MAX;
    CHECK(qt_grads_nonfinite(p, 3) == 0, "FLT_MAX reported non-finite");
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    const size_t where[3] = {0, 77777, 100002};
    for (int b = 0; b < 3; b++)
        for (int w = 0; w < 3; w++) {
            float keep = p[1]->grad[where[w]];
            p[1]->grad[where[w]] = bad[b];
            CHECK(qt_grads_nonfinite(p, 3) == 1, "bad value %d at %zu not found", b, where[w]);
            CHECK(qt_grads_nonfinite(p + 2, 1) == 0, "param without grad reported non-finite");
            p[1]->grad[where[w]] = keep;
        }
    /* clipping with a NaN grad returns a NaN norm and leaves the grads alone */
    p[0]->grad[16] = NAN;
    float g5 = p[1]->grad[6];
    double norm = qt_clip_grad_norm(p, 3, 1.0);
    CHECK(isnan(norm), "norm with a NaN grad is %g", norm);
    CHECK(p[1]->grad[6] == g5, "grads scaled by a NaN norm");
    for (int i = 0; i < 3; i++) qt_param_free(p[i]);
}

/* One big tensor (parallel path) and the same numbers in small tensors
 * (serial path) must give bit-identical AdamW/SGD updates; the big tensor's
 * norm matches a serial double sum. Also a param with grad NULL is skipped. */
static void test_parallel_and_skip(void) {
    enum { N = 100003, CH = 1000 };
    int nch = (N + CH - 1) / CH;
    for (int kind = 0; kind < 2; kind++) {
        int shape[1] = {N};
        qt_tensor *big = qt_param_new("big", 1, shape);
        qt_tensor **small = malloc((size_t)(nch + 1) * sizeof *small);
        uint64_t seed = 7;
        tu_fill_normal(big->data, N, 1.0f, &seed);
        for (int c = 0; c < nch; c++) {
            int len[1] = {c == nch - 1 ? N - c * CH : CH};
            small[c] = qt_param_new("s", 1, len);
            memcpy(small[c]->data, big->data + (size_t)c * CH, (size_t)len[0] * sizeof(float));
        }
        int one[1] = {5};
        small[nch] = qt_param_new("frozen", 1, one);
        for (int i = 0; i < 5; i++) small[nch]->data[i] = (float)i;
        free(small[nch]->grad);
        small[nch]->grad = NULL;

        qt_param_group gb = {&big, 1, 1e-2, 0.1}, gs = {small, nch + 1, 1e-2, 0.1};
        qt_optim *ob = kind ? qt_sgd_new(&gb, 1, 0.9, 1) : qt_adamw_new(&gb, 1, 0.9, 0.999, 1e-8);
        qt_optim *os = kind ? qt_sgd_new(&gs, 1, 0.9, 1) : qt_adamw_new(&gs, 1, 0.9, 0.999, 1e-8);
        for (int step = 0; step < 3; step++) {
            tu_fill_normal(big->grad, N, 0.5f, &seed);
            for (int c = 0; c < nch; c++) memcpy(small[c]->grad, big->grad + (size_t)c * CH, small[c]->n * sizeof(float));
            qt_optim_step(ob, 0.7);
            qt_optim_step(os, 0.7);
        }
        int same = 1;
        for (int c = 0; c < nch; c++)
            same &= memcmp(small[c]->data, big->data + (size_t)c * CH, small[c]->n * sizeof(float)) == 0;
        CHECK(same, "%s: parallel and serial updates differ", kind ? "sgd" : "adamw");
        int frozen_ok = 1;
        for (int i = 0; i < 5; i++) frozen_ok &= small[nch]->data[i] == (float)i && qt_optim_state_m(os, nch)[i] == 0.0f;
        CHECK(frozen_ok, "%s: a param without grad was updated", kind ? "sgd" : "adamw");

        double ref = 0;
        for (size_t i = 0; i < N; i++) ref += (double)big->grad[i] * big->grad[i];
        ref = sqrt(ref);
        double gn = qt_grad_norm(&big, 1);
        CHECK(fabs(gn - ref) <= 1e-12 * ref, "big grad norm %.17g, serial %.17g", gn, ref);
        double gs_norm = qt_grad_norm(small, nch + 1);
        CHECK(fabs(gs_norm - ref) <= 1e-12 * ref, "chunked grad norm %.17g, serial %.17g", gs_norm, ref);

        qt_optim_free(ob);
        qt_optim_free(os);
        qt_param_free(big);
        for (int c = 0; c <= nch; c++) qt_param_free(small[c]);
        free(small);
    }
}

int main(void) {
    char dir[512], h5path[600];
    tu_tmpdir(dir, sizeof dir);
    snprintf(h5path, sizeof h5path, "%s/optim.h5", dir);
    int rc = tu_run_oracle("tests/oracles/optim_ref.py", h5path);
    if (rc != 0) {
        fprintf(stderr, "oracle failed (%d)\n", rc);
        return 1;
    }
    hid_t f = H5Fopen(h5path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        fprintf(stderr, "cannot open %s\n", h5path);
        return 1;
    }
    test_optimizers(f);
    test_clip(f);
    test_schedule(f);
    H5Fclose(f);
    test_nonfinite();
    test_parallel_and_skip();
    remove(h5path);
    rmdir(dir);
    return tu_finish("test_optim");
}
