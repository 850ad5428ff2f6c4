/* Small helpers shared by the C tests: checks that count failures, a seeded
 * RNG, a scratch directory and running the Python oracles. */
#ifndef QATC_TEST_UTIL_H
#define QATC_TEST_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tu_failures = 0;

#define CHECK(cond, ...)                                                         \
    do {                                                                         \
        if (!(cond)) {                                                           \
            tu_failures++;                                                       \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);      \
            fprintf(stderr, __VA_ARGS__);                                        \
            fputc('\n', stderr);                                                 \
        }                                                                        \
    } while (0)

/* Ends the test: prints a summary and returns the exit code. */
static inline int tu_finish(const char *name) {
    if (tu_failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, tu_failures);
        return 1;
    }
    printf("%s: ok\n", name);
    return 0;
}

/* xorshift64* uniform in [0,1) and standard normal. */
static inline double tu_uniform(uint64_t *s) {
    *s ^= *s >> 12; *s ^= *s << 25; *s ^= *s >> 27;
    return (double)((*s * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}
static inline double tu_normal(uint64_t *s) {
    double u1 = tu_uniform(s), u2 = tu_uniform(s);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
static inline void tu_fill_normal(float *x, size_t n, float stdv, uint64_t *s) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(tu_normal(s) * stdv);
}

/* Largest |a-b| divided by the largest |b| (or 1e-30). */
static inline double tu_rel_err(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > num || isnan(d)) num = isnan(d) ? INFINITY : d;
        if (fabs((double)b[i]) > den) den = fabs((double)b[i]);
    }
    return num / (den > 1e-30 ? den : 1e-30);
}

/* A fresh scratch directory under $TMPDIR (or /tmp); path written to buf. */
static inline const char *tu_tmpdir(char *buf, size_t len) {
    const char *base = getenv("TMPDIR");
    snprintf(buf, len, "%s/qatc_test_XXXXXX", base && *base ? base : "/tmp");
    extern char *mkdtemp(char *);
    if (!mkdtemp(buf)) { perror("mkdtemp"); exit(2); }
    return buf;
}

/* Path of a file in the source tree (QATC_SRC, default "."). */
static inline const char *tu_src(const char *rel, char *buf, size_t len) {
    const char *src = getenv("QATC_SRC");
    snprintf(buf, len, "%s/%s", src && *src ? src : ".", rel);
    return buf;
}

/* Runs an oracle script: $QATC_PYTHON $QATC_SRC/<script> <args>. Returns its exit code. */
static inline int tu_run_oracle(const char *script, const char *args) {
    const char *py = getenv("QATC_PYTHON");
    char path[1024], cmd[4096];
    tu_src(script, path, sizeof path);
    snprintf(cmd, sizeof cmd, "ASAN_OPTIONS=detect_leaks=0 LD_PRELOAD= %s %s %s", py && *py ? py : "/usr/bin/python3", path, args);
    int rc = system(cmd);
    return rc;
}

#endif
