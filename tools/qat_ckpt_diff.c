/* qat_ckpt_diff: compares two qatc HDF5 checkpoints entry by entry, bit for
 * bit, or checks that one checkpoint reads completely.
 *
 *   qat_ckpt_diff A.h5 B.h5 [--ignore NAME]...   exit 0 when both hold the same
 *       entries with the same kinds, shapes and bits (floats compared as bits,
 *       so -0 != +0), 1 when they differ (each difference on one line, the
 *       first 20 shown), 2 when a file cannot be read
 *   qat_ckpt_diff --check FILE                    reads every entry (checksums,
 *       NaN/Inf refusal); prints "FILE: ok, N entries, step S" and exits 0, or
 *       the error and exits 1
 *
 * Used by tests/cli/determinism.sh and tests/cli/crash_safety.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/h5store.h"

typedef struct {
    void *data;
    size_t bytes;
    int ndim, shape[QT_H5_MAX_DIMS];
} entry_val;

static size_t kind_size(qt_h5_kind k) {
    switch (k) {
    case QT_H5_F32:
    case QT_H5_I32: return 4;
    case QT_H5_I64:
    case QT_H5_U64: return 8;
    default: return 0;
    }
}

/* Reads entry name of r into v (malloc'd). Returns 0, or -1 with the reader's error. */
static int read_entry(qt_h5r *r, const char *name, entry_val *v) {
    memset(v, 0, sizeof *v);
    qt_h5_kind k = qt_h5r_kind(r, name);
    if (k == QT_H5_INT || k == QT_H5_DOUBLE) {
        v->data = malloc(8);
        v->bytes = 8;
        if (!v->data) return -1;
        return k == QT_H5_INT ? qt_h5r_int(r, name, v->data) : qt_h5r_double(r, name, v->data);
    }
    if (k == QT_H5_STRING) {
        char *s = qt_h5r_string(r, name);
        if (!s) return -1;
        v->data = s;
        v->bytes = strlen(s);
        return 0;
    }
    size_t es = kind_size(k);
    if (!es) return 0; /* QT_H5_OTHER: compared by kind only */
    if (qt_h5r_shape(r, name, &v->ndim, v->shape)) return -1;
    size_t n = 1;
    for (int i = 0; i < v->ndim; i++) {
        if (v->shape[i] && n > SIZE_MAX / 8 / (size_t)v->shape[i]) return -1;
        n *= (size_t)v->shape[i];
    }
    v->bytes = n * es;
    v->data = malloc(v->bytes ? v->bytes : 1);
    if (!v->data) return -1;
    switch (k) {
    case QT_H5_F32: return qt_h5r_f32(r, name, v->ndim, v->shape, v->data);
    case QT_H5_I32: return qt_h5r_i32(r, name, v->ndim, v->shape, v->data);
    case QT_H5_I64: return qt_h5r_i64(r, name, v->ndim, v->shape, v->data);
    default: return qt_h5r_u64(r, name, v->ndim, v->shape, v->data);
    }
}

static int check(const char *path) {
    char err[1024];
    qt_h5r *r = qt_h5r_open(path, err, sizeof err);
    if (!r) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int n = qt_h5r_count(r), rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        entry_val v;
        if (read_entry(r, qt_h5r_name(r, i), &v)) {
            fprintf(stderr, "%s\n", qt_h5r_error(r));
            rc = 1;
        }
        free(v.data);
    }
    int64_t step = -1;
    if (!rc && qt_h5r_has(r, "step")) qt_h5r_int(r, "step", &step);
    if (!rc) printf("%s: ok, %d entries, step %lld\n", path, n, (long long)step);
    qt_h5r_close(r);
    return rc;
}

static int ignored(const char *name, char **ign, int n_ign) {
    for (int i = 0; i < n_ign; i++)
        if (!strcmp(name, ign[i])) return 1;
    return 0;
}

static int diff(const char *pa, const char *pb, char **ign, int n_ign) {
    char err[1024];
    qt_h5r *a = qt_h5r_open(pa, err, sizeof err);
    if (!a) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    qt_h5r *b = qt_h5r_open(pb, err, sizeof err);
    if (!b) {
        fprintf(stderr, "%s\n", err);
        qt_h5r_close(a);
        return 2;
    }
    int ndiff = 0, rc = 0, compared = 0;
#define REPORT(...)                              \
    do {                                         \
        if (ndiff++ < 20) printf(__VA_ARGS__);   \
    } while (0)
    for (int i = 0; i < qt_h5r_count(b); i++) {
        const char *name = qt_h5r_name(b, i);
        if (!ignored(name, ign, n_ign) && !qt_h5r_has(a, name)) REPORT("only in %s: %s\n", pb, name);
    }
    for (int i = 0; i < qt_h5r_count(a) && rc == 0; i++) {
        const char *name = qt_h5r_name(a, i);
        if (ignored(name, ign, n_ign)) continue;
        if (!qt_h5r_has(b, name)) {
            REPORT("only in %s: %s\n", pa, name);
            continue;
        }
        qt_h5_kind ka = qt_h5r_kind(a, name), kb = qt_h5r_kind(b, name);
        if (ka != kb) {
            REPORT("%s: %s vs %s\n", name, qt_h5_kind_name(ka), qt_h5_kind_name(kb));
            continue;
        }
        entry_val va, vb;
        int ea = read_entry(a, name, &va), eb = read_entry(b, name, &vb);
        if (ea || eb) {
            fprintf(stderr, "%s\n", ea ? qt_h5r_error(a) : qt_h5r_error(b));
            rc = 2;
        } else if (va.ndim != vb.ndim || memcmp(va.shape, vb.shape, sizeof va.shape)) {
            REPORT("%s: shapes differ\n", name);
        } else if (va.bytes != vb.bytes || (va.bytes && memcmp(va.data, vb.data, va.bytes))) {
            size_t first = 0;
            while (first < va.bytes && first < vb.bytes && ((char *)va.data)[first] == ((char *)vb.data)[first])
                first++;
            if (ka == QT_H5_F32 && va.bytes == vb.bytes) {
                size_t j = first / 4, nd = 0;
                for (size_t k = 0; k < va.bytes / 4; k++) nd += ((uint32_t *)va.data)[k] != ((uint32_t *)vb.data)[k];
                REPORT("%s: %zu of %zu values differ, first at %zu: %.9g vs %.9g\n", name, nd, va.bytes / 4, j,
                       (double)((float *)va.data)[j], (double)((float *)vb.data)[j]);
            } else {
                REPORT("%s: differs (first differing byte %zu)\n", name, first);
            }
        }
        compared++;
        free(va.data);
        free(vb.data);
    }
    qt_h5r_close(a);
    qt_h5r_close(b);
    if (rc) return rc;
    if (ndiff) {
        if (ndiff > 20) printf("... %d differences in all\n", ndiff);
        return 1;
    }
    printf("identical: %d entries\n", compared);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--check")) return check(argv[2]);
    char *files[2];
    int nf = 0, n_ign = 0;
    char **ign = calloc((size_t)argc, sizeof *ign);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--ignore") && i + 1 < argc) ign[n_ign++] = argv[++i];
        else if (argv[i][0] != '-' && nf < 2) files[nf++] = argv[i];
        else nf = 3;
    }
    if (nf != 2) {
        fprintf(stderr, "usage: qat_ckpt_diff A.h5 B.h5 [--ignore NAME]... | qat_ckpt_diff --check FILE\n");
        free(ign);
        return 2;
    }
    int rc = diff(files[0], files[1], ign, n_ign);
    free(ign);
    return rc;
}
