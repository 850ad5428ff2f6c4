/* The checks fuzz_h5store and fuzz_h5_struct run on a checkpoint file:
 * qt_h5r_open, then every listed entry read by its own kind and shape, a
 * wrong shape refused, and the parameter loader. */
#ifndef QATC_FUZZ_H5_CHECKS_H
#define QATC_FUZZ_H5_CHECKS_H

#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/tensor.h"
#include "fuzz_util.h"
#include "store/h5store.h"

#define MAX_READ ((size_t)1 << 22)

static void read_entry(qt_h5r *r, const char *name) {
    qt_h5_kind k = qt_h5r_kind(r, name);
    if (k == QT_H5_NONE) {
        fprintf(stderr, "listed entry \"%s\" has no kind\n", name);
        abort();
    }
    int rc = 0;
    if (k == QT_H5_INT) {
        int64_t v;
        rc = qt_h5r_int(r, name, &v);
    } else if (k == QT_H5_DOUBLE) {
        double v;
        rc = qt_h5r_double(r, name, &v);
    } else if (k == QT_H5_STRING) {
        char *s = qt_h5r_string(r, name);
        rc = s ? 0 : -1;
        free(s);
    } else if (k == QT_H5_F32 || k == QT_H5_I32 || k == QT_H5_I64 || k == QT_H5_U64) {
        int ndim = 0, shape[QT_H5_MAX_DIMS];
        if (qt_h5r_shape(r, name, &ndim, shape)) { /* e.g. a dimension beyond INT_MAX */
            fuzz_check_msg(qt_h5r_error(r), 4096);
            return;
        }
        size_t n = 1;
        for (int d = 0; d < ndim; d++) {
            if (shape[d] < 0) abort();
            n = shape[d] && n > MAX_READ / (size_t)shape[d] ? MAX_READ + 1 : n * (size_t)shape[d];
        }
        if (n > MAX_READ) return;
        void *buf = malloc((n ? n : 1) * 8);
        if (!buf) return;
        if (k == QT_H5_F32) {
            rc = qt_h5r_f32(r, name, ndim, shape, buf);
            for (size_t i = 0; rc == 0 && i < n; i++)
                if (!isfinite(((float *)buf)[i])) {
                    fprintf(stderr, "f32 read of \"%s\" returned a non-finite value\n", name);
                    abort();
                }
        } else if (k == QT_H5_I32) rc = qt_h5r_i32(r, name, ndim, shape, buf);
        else if (k == QT_H5_I64) rc = qt_h5r_i64(r, name, ndim, shape, buf);
        else rc = qt_h5r_u64(r, name, ndim, shape, buf);
        /* a wrong expected shape must be refused, not read */
        if (ndim >= 1 && qt_h5r_f32(r, name, 1, (int[]){shape[0] + 1}, buf) == 0) {
            fprintf(stderr, "\"%s\" read with a wrong shape\n", name);
            abort();
        }
        free(buf);
    }
    if (rc) fuzz_check_msg(qt_h5r_error(r), 4096);
}

/* Returns 1 when the file opened, else 0 with the refusal in err[cap]. */
static int check_ckpt_file(const char *path, char *err, size_t cap) {
    qt_h5r *r = qt_h5r_open(path, err, cap);
    if (!r) {
        fuzz_check_msg(err, cap);
        fuzz_check_h5_closed("qt_h5r_open");
        return 0;
    }
    int n = qt_h5r_count(r);
    for (int i = 0; i < n && i < 4096; i++) {
        const char *name = qt_h5r_name(r, i);
        if (!name) abort();
        read_entry(r, name);
    }
    /* the parameter loader, as a model would call it */
    qt_tensor *p[3] = {qt_param_new("w", 2, (int[]){4, 8}), qt_param_new("b", 1, (int[]){8}),
                       qt_param_new("layers.0.attention.wq.weight", 2, (int[]){8, 8})};
    if (qt_h5r_params(r, "param/", p, 3) == 0) {
        for (int i = 0; i < 3; i++)
            for (size_t j = 0; j < p[i]->n; j++)
                if (!isfinite(p[i]->data[j])) abort();
    } else {
        fuzz_check_msg(qt_h5r_error(r), 4096);
    }
    for (int i = 0; i < 3; i++) qt_param_free(p[i]);
    qt_h5r_close(r);
    fuzz_check_h5_closed("qt_h5r");
    return 1;
}

#endif
