/* Writes the binary seed files of the fuzz corpora (valid inputs the
 * targets start from): usage make_seeds CORPUS_DIR. run.sh builds and runs
 * it when a corpus directory is missing; the committed seeds came from it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/dataset.h"
#include "store/h5store.h"

static int ckpt_small(const char *path) {
    char err[1024];
    qt_h5w *w = qt_h5w_open(path, err, sizeof err);
    if (!w) return fprintf(stderr, "%s\n", err), -1;
    float wv[32], b[8], wq[64];
    for (int i = 0; i < 32; i++) wv[i] = (float)i * 0.25f - 4.0f;
    for (int i = 0; i < 8; i++) b[i] = (float)i;
    for (int i = 0; i < 64; i++) wq[i] = (float)(i % 7) - 3.0f;
    int32_t i32[6] = {1, -2, 3, -4, 5, -6};
    int64_t i64[3] = {1, -1, 1LL << 40};
    uint64_t u64[4] = {1, 2, 3, UINT64_MAX};
    int bad = qt_h5w_f32(w, "param/w", 2, (int[]){4, 8}, wv) || qt_h5w_f32(w, "param/b", 1, (int[]){8}, b) ||
              qt_h5w_f32(w, "param/layers.0.attention.wq.weight", 2, (int[]){8, 8}, wq) ||
              qt_h5w_i32(w, "codes", 2, (int[]){2, 3}, i32) || qt_h5w_i64(w, "i64", 1, (int[]){3}, i64) ||
              qt_h5w_u64(w, "rng", 1, (int[]){4}, u64) || qt_h5w_int(w, "step", 42) ||
              qt_h5w_double(w, "lr", 1e-3) || qt_h5w_string(w, "stage", "qat") ||
              qt_h5w_string(w, "config", "{\"seed\": 1}") ||
              qt_h5w_f32(w, "odd/name%with.dots", 3, (int[]){1, 2, 2}, b);
    if (bad) {
        fprintf(stderr, "%s\n", qt_h5w_error(w));
        qt_h5w_abort(w);
        return -1;
    }
    if (qt_h5w_commit(w, err, sizeof err)) return fprintf(stderr, "%s\n", err), -1;
    return 0;
}

static int ckpt_min(const char *path) {
    char err[1024];
    qt_h5w *w = qt_h5w_open(path, err, sizeof err);
    if (!w) return -1;
    if (qt_h5w_int(w, "step", 1)) {
        qt_h5w_abort(w);
        return -1;
    }
    return qt_h5w_commit(w, err, sizeof err);
}

static int tokens(const char *path, size_t n, int part) {
    qd_tokens t = {malloc(n * sizeof(int32_t) + 4), n, 0};
    for (size_t i = 0; i < n; i++) t.tok[i] = (int32_t)("the cat sat on the mat.\n"[i % 24]);
    qd_token_meta m = {n, 1, 0x1234, 1, 4096, 0.05, part};
    char err[256];
    int rc = qd_tokens_save_h5(path, &t, &m, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    qd_tokens_free(&t);
    return rc;
}

int main(int argc, char **argv) {
    if (argc != 2) return fprintf(stderr, "usage: make_seeds CORPUS_DIR\n"), 2;
    char p[4096];
    const char *d = argv[1];
#define P(sub, file) (snprintf(p, sizeof p, "%s/%s", d, sub), mkdir(p, 0755), \
                      snprintf(p, sizeof p, "%s/%s/%s", d, sub, file), p)
    int rc = ckpt_small(P("fuzz_h5store", "ckpt_small.h5")) || ckpt_min(P("fuzz_h5store", "ckpt_min.h5")) ||
             tokens(P("fuzz_tokens_h5", "tokens_100.h5"), 100, QD_PART_TRAIN) ||
             tokens(P("fuzz_tokens_h5", "tokens_0.h5"), 0, QD_PART_VAL);
    return rc ? 1 : 0;
}
