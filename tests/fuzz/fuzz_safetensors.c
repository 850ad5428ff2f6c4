/* libFuzzer target: the safetensors reader (store/safetensors.c, qt_st_read).
 * Input: file bytes. Checks: never crashes or allocates more than the file
 * justifies (run.sh sets -malloc_limit_mb); a refusal has a one-line
 * message; an accepted file has tensors whose byte size is numel x dtype
 * size, float tensors convert, and writing it back and reading that gives
 * the same tensors and metadata. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "store/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[4096], path2[4200], err[1024];
    if (fuzz_write_tmp(data, size, ".safetensors", path, sizeof path)) return 0;
    qt_safetensors *st = qt_st_read(path, err, sizeof err);
    if (!st) {
        fuzz_check_msg(err, sizeof err);
        unlink(path);
        return 0;
    }
    for (int i = 0; i < st->n; i++) {
        const qt_st_tensor *t = &st->t[i];
        if (t->ndim < 0 || t->ndim > QT_ST_MAX_DIMS) abort();
        size_t n = 1;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0) abort();
            n *= (size_t)t->shape[d];
        }
        if (t->nbytes != n * qt_st_dtype_size(t->dtype)) {
            fprintf(stderr, "tensor %s: nbytes %zu, shape and dtype give %zu\n", t->name, t->nbytes,
                    n * qt_st_dtype_size(t->dtype));
            abort();
        }
        if (qt_st_find(st, t->name) == NULL) abort();
        if ((t->dtype == QT_ST_F32 || t->dtype == QT_ST_F16 || t->dtype == QT_ST_BF16) && n <= ((size_t)1 << 20)) {
            float *out = malloc((n ? n : 1) * sizeof *out);
            if (out && qt_st_to_f32(t, out, n, err, sizeof err)) {
                fprintf(stderr, "float tensor %s does not convert: %s\n", t->name, err);
                abort();
            }
            free(out);
        }
    }
    for (int i = 0; i < st->n_meta; i++)
        if (!qt_st_get_meta(st, st->meta_key[i])) abort();
    snprintf(path2, sizeof path2, "%s.rt", path);
    if (qt_st_write(st, path2, err, sizeof err) == 0) {
        qt_safetensors *s2 = qt_st_read(path2, err, sizeof err);
        if (!s2) {
            fprintf(stderr, "a re-written accepted file was refused: %s\n", err);
            abort();
        }
        if (s2->n != st->n || s2->n_meta != st->n_meta) abort();
        for (int i = 0; i < st->n; i++) {
            const qt_st_tensor *a = &st->t[i], *b = qt_st_find(s2, a->name);
            if (!b || b->dtype != a->dtype || b->nbytes != a->nbytes ||
                (a->nbytes && memcmp(a->data, b->data, a->nbytes))) {
                fprintf(stderr, "tensor %s differs after a round trip\n", a->name);
                abort();
            }
        }
        qt_st_free(s2);
        unlink(path2);
    } else {
        fuzz_check_msg(err, sizeof err);
    }
    qt_st_free(st);
    unlink(path);
    return 0;
}
