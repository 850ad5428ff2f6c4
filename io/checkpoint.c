/* qatc checkpoints; see io/checkpoint.h. */
#include "io/checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qat/policy.h"

#define PARAM_PREFIX "param/"

int qt_ckpt_collect(const qt_model *m, qt_tensor ***out, int all) {
    int cap = m->n_params + 3 * m->n_linears;
    qt_tensor **p = malloc((size_t)cap * sizeof *p);
    if (!p) qt_die("out of memory");
    int n = 0;
    for (int i = 0; i < m->n_params; i++) p[n++] = m->params[i];
    n += qt_policy_params(m, p + n, cap - n, all);
    *out = p;
    return n;
}

int qt_ckpt_write_params(qt_h5w *w, qt_tensor *const *params, int n) {
    return qt_h5w_params(w, PARAM_PREFIX, params, n);
}

int qt_ckpt_read_params(qt_h5r *r, qt_tensor *const *params, int n, int n_required) {
    int rc = qt_h5r_params(r, PARAM_PREFIX, params, n_required);
    for (int i = n_required; rc == 0 && i < n; i++) {
        char name[256];
        snprintf(name, sizeof name, PARAM_PREFIX "%s", params[i]->name);
        if (qt_h5r_has(r, name)) rc = qt_h5r_params(r, PARAM_PREFIX, params + i, 1);
    }
    return rc;
}

int qt_ckpt_has_quant_state(const qt_h5r *r) {
    const size_t pl = strlen(PARAM_PREFIX);
    for (int i = 0; i < qt_h5r_count(r); i++) {
        const char *nm = qt_h5r_name(r, i);
        size_t n = strlen(nm);
        if (!strncmp(nm, PARAM_PREFIX, pl) && n > pl && !strcmp(nm + n - 6, ".scale")) return 1;
    }
    return 0;
}

int qt_model_save(const qt_model *m, const char *path, const char *config_json, char *err, size_t errlen) {
    qt_tensor **p;
    int n = qt_ckpt_collect(m, &p, 1);
    qt_h5w *w = qt_h5w_open(path, err, errlen);
    int rc = -1;
    if (w && qt_ckpt_write_params(w, p, n) == 0 && qt_h5w_string(w, "config", config_json ? config_json : "{}") == 0)
        rc = qt_h5w_commit(w, err, errlen);
    else if (w) {
        snprintf(err, errlen, "%s", qt_h5w_error(w));
        qt_h5w_abort(w);
    }
    free(p);
    return rc;
}

int qt_model_load(qt_model *m, const char *path, char *err, size_t errlen) {
    qt_h5r *r = qt_h5r_open(path, err, errlen);
    if (!r) return -1;
    qt_tensor **p;
    int n = qt_ckpt_collect(m, &p, 1);
    /* quantizer params are optional in the file: load those present */
    int rc = qt_ckpt_read_params(r, p, n, m->n_params);
    if (rc) snprintf(err, errlen, "%s", qt_h5r_error(r));
    free(p);
    qt_h5r_close(r);
    return rc;
}
