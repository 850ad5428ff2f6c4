/* Helpers shared by the qatc libFuzzer targets (tests/fuzz/fuzz_*.c).
 * Loaders that take a path get the input through a per-process temp file
 * (under $TMPDIR, default /tmp; run.sh points TMPDIR at a tmpfs when it can). */
#ifndef QATC_FUZZ_UTIL_H
#define QATC_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Writes data[0..n) to "$TMPDIR/qatc_fuzz_<pid><suffix>" and puts the path
 * in path[cap]. Returns 0, or -1 when the file cannot be written (the target
 * then skips the input). */
static inline int fuzz_write_tmp(const uint8_t *data, size_t n, const char *suffix, char *path, size_t cap) {
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    if ((size_t)snprintf(path, cap, "%s/qatc_fuzz_%ld%s", dir, (long)getpid(), suffix) >= cap) return -1;
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(data, 1, n, f) : 0;
    int bad = fclose(f) != 0 || w != n;
    return bad ? -1 : 0;
}

/* The error of a failed call: non-empty, no newline and NUL-terminated within cap. Aborts (a
 * fuzzer finding) otherwise, so multi-line or unterminated errors are caught. */
static inline void fuzz_check_msg(const char *msg, size_t cap) {
    size_t n = strnlen(msg, cap);
    if (n == 0) {
        fprintf(stderr, "failure without an error message\n");
        abort();
    }
    if (n == cap) {
        fprintf(stderr, "error message not NUL-terminated\n");
        abort();
    }
    /* QATC_FUZZ_ALLOW_MULTILINE=1 skips this check, to hunt deeper bugs
     * while a known multi-line message is being fixed */
    const char *lax = getenv("QATC_FUZZ_ALLOW_MULTILINE");
    if (memchr(msg, '\n', n) && !(lax && *lax == '1')) {
        fprintf(stderr, "error message spans lines: %s\n", msg);
        abort();
    }
}

/* Aborts when HDF5 objects (files, datasets, attributes, ...) are still open:
 * a loader must close every id it opened, on every error path. */
#ifdef H5_VERS_MAJOR
static inline void fuzz_check_h5_closed(const char *where) {
    ssize_t n = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
    if (n != 0) {
        fprintf(stderr, "%s left %zd HDF5 object(s) open\n", where, n);
        abort();
    }
}
#endif

#endif
