/* store/h5store: round trips, error messages for bad files and shapes, NaN
 * refusal, checksum errors, atomic commit / abort, and a write that fails on
 * RLIMIT_FSIZE leaving the previous checkpoint intact. */
#include <dirent.h>
#include <fcntl.h>
#include <float.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hdf5.h>

#include "autograd/tensor.h"
#include "store/h5image.h"
#include "store/h5store.h"
#include "test_util.h"

static char g_dir[512];

static const char *tpath(const char *name, char *buf, size_t len) {
    snprintf(buf, len, "%s/%s", g_dir, name);
    return buf;
}

static int has(const char *hay, const char *needle) { return hay && strstr(hay, needle) != NULL; }

/* Number of directory entries whose name contains ".tmp.". */
static int count_tmp(void) {
    DIR *d = opendir(g_dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    if (d) closedir(d);
    return n;
}

static long file_size(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static int copy_file(const char *src, const char *dst, long limit) {
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    int rc = -1;
    if (in && out) {
        char buf[4096];
        long done = 0;
        size_t k;
        while ((limit < 0 || done < limit) && (k = fread(buf, 1, sizeof buf, in)) > 0) {
            if (limit >= 0 && done + (long)k > limit) k = (size_t)(limit - done);
            fwrite(buf, 1, k, out);
            done += (long)k;
        }
        rc = 0;
    }
    if (in) fclose(in);
    if (out && fclose(out) != 0) rc = -1;
    return rc;
}

/* A small checkpoint: "w" [3, 5] = base + i, "step" = step. */
static int write_small(const char *path, float base, int64_t step) {
    char err[512];
    float w[15];
    for (int i = 0; i < 15; i++) w[i] = base + (float)i;
    qt_h5w *wr = qt_h5w_open(path, err, sizeof err);
    if (!wr) {
        fprintf(stderr, "open: %s\n", err);
        return -1;
    }
    qt_h5w_f32(wr, "w", 2, (int[]){3, 5}, w);
    qt_h5w_int(wr, "step", step);
    qt_h5w_string(wr, "config", "{\"seed\": 1}");
    if (qt_h5w_commit(wr, err, sizeof err) < 0) {
        fprintf(stderr, "commit: %s\n", err);
        return -1;
    }
    return 0;
}

/* 1 if path holds the small checkpoint written with (base, step). */
static int check_small(const char *path, float base, int64_t step) {
    char err[512];
    qt_h5r *r = qt_h5r_open(path, err, sizeof err);
    if (!r) {
        fprintf(stderr, "check_small: %s\n", err);
        return 0;
    }
    float w[15];
    int64_t s = -1;
    int ok = qt_h5r_f32(r, "w", 2, (int[]){3, 5}, w) == 0 && qt_h5r_int(r, "step", &s) == 0 && s == step;
    for (int i = 0; ok && i < 15; i++) ok = w[i] == base + (float)i;
    if (!ok) fprintf(stderr, "check_small: %s\n", qt_h5r_error(r));
    qt_h5r_close(r);
    return ok;
}

static void test_roundtrip(void) {
    char path[600], err[512];
    tpath("rt.h5", path, sizeof path);
    uint64_t seed = 42;
    enum { R = 37, C = 129 };
    static float f[R * C], g[R * C];
    tu_fill_normal(f, R * C, 1.0f, &seed);
    f[0] = -0.0f;
    f[1] = FLT_MIN / 8;  /* subnormal */
    f[2] = FLT_MAX;
    f[3] = -FLT_MAX;
    f[4] = FLT_TRUE_MIN;
    int32_t iv[6] = {0, -1, 2147483647, -2147483647 - 1, 7, 42};
    int64_t lv[3] = {INT64_MIN, -1, INT64_MAX};
    uint64_t uv[4] = {0x9E3779B97F4A7C15ULL, 0xFFFFFFFFFFFFFFFFULL, 0, 1};
    float f4[2 * 3 * 2 * 2];
    for (int i = 0; i < 24; i++) f4[i] = (float)i * 0.25f - 3.0f;
    const char *config = "{\"model\": {\"dim\": 256}, \"note\": \"h\xc3\xa9llo \xe2\x9c\x93 \\\"q\\\"\"}";
    const char *odd[] = {"layers.0.attention.wq.weight", "opt.m.layers.0.attention.wq.weight", "a/b", "100%",
                         ".", "..", "%2F"};
    enum { NODD = sizeof odd / sizeof odd[0] };

    qt_h5w *w = qt_h5w_open(path, err, sizeof err);
    CHECK(w != NULL, "%s", err);
    if (!w) return;
    CHECK(qt_h5w_f32(w, "big", 2, (int[]){R, C}, f) == 0, "%s", qt_h5w_error(w));
    CHECK(qt_h5w_f32(w, "four_d", 4, (int[]){2, 3, 2, 2}, f4) == 0, "%s", qt_h5w_error(w));
    CHECK(qt_h5w_f32(w, "empty", 2, (int[]){0, 5}, NULL) == 0, "%s", qt_h5w_error(w));
    CHECK(qt_h5w_i32(w, "ints", 2, (int[]){2, 3}, iv) == 0, "%s", qt_h5w_error(w));
    CHECK(qt_h5w_i64(w, "longs", 1, (int[]){3}, lv) == 0, "%s", qt_h5w_error(w));
    CHECK(qt_h5w_u64(w, "rng.state", 1, (int[]){4}, uv) == 0, "%s", qt_h5w_error(w));
    CHECK(qt_h5w_int(w, "step", 123456789012LL) == 0, "%s", qt_h5w_error(w));
    CHECK(qt_h5w_int(w, "neg", INT64_MIN) == 0, "%s", qt_h5w_error(w));
    CHECK(qt_h5w_double(w, "lr", 3.0e-4) == 0, "%s", qt_h5w_error(w));
    CHECK(qt_h5w_double(w, "best", -INFINITY) == 0, "%s", qt_h5w_error(w));
    CHECK(qt_h5w_string(w, "config", config) == 0, "%s", qt_h5w_error(w));
    CHECK(qt_h5w_string(w, "blank", "") == 0, "%s", qt_h5w_error(w));
    for (int i = 0; i < NODD; i++) {
        float v[2] = {(float)i, -(float)i};
        CHECK(qt_h5w_f32(w, odd[i], 1, (int[]){2}, v) == 0, "%s: %s", odd[i], qt_h5w_error(w));
    }
    CHECK(qt_h5w_commit(w, err, sizeof err) == 0, "%s", err);
    CHECK(count_tmp() == 0, "temp file left after commit");

    qt_h5r *r = qt_h5r_open(path, err, sizeof err);
    CHECK(r != NULL, "%s", err);
    if (!r) return;
    CHECK(qt_h5r_version(r) == QT_H5_VERSION, "version %d", qt_h5r_version(r));
    CHECK(qt_h5r_count(r) == 12 + NODD, "count %d", qt_h5r_count(r));
    for (int i = 1; i < qt_h5r_count(r); i++)
        CHECK(strcmp(qt_h5r_name(r, i - 1), qt_h5r_name(r, i)) < 0, "names not sorted at %d", i);
    CHECK(qt_h5r_name(r, -1) == NULL && qt_h5r_name(r, qt_h5r_count(r)) == NULL, "out of range name");

    memset(g, 0xAB, sizeof g);
    CHECK(qt_h5r_f32(r, "big", 2, (int[]){R, C}, g) == 0, "%s", qt_h5r_error(r));
    CHECK(memcmp(f, g, sizeof f) == 0, "floats not bit-exact");
    float g4[24];
    CHECK(qt_h5r_f32(r, "four_d", 4, (int[]){2, 3, 2, 2}, g4) == 0, "%s", qt_h5r_error(r));
    CHECK(memcmp(f4, g4, sizeof f4) == 0, "4-D floats differ");
    CHECK(qt_h5r_f32(r, "empty", 2, (int[]){0, 5}, NULL) == 0, "%s", qt_h5r_error(r));
    int32_t iv2[6];
    CHECK(qt_h5r_i32(r, "ints", 2, (int[]){2, 3}, iv2) == 0 && memcmp(iv, iv2, sizeof iv) == 0, "ints: %s",
          qt_h5r_error(r));
    int64_t lv2[3];
    CHECK(qt_h5r_i64(r, "longs", 1, (int[]){3}, lv2) == 0 && memcmp(lv, lv2, sizeof lv) == 0, "longs: %s",
          qt_h5r_error(r));
    uint64_t uv2[4];
    CHECK(qt_h5r_u64(r, "rng.state", 1, (int[]){4}, uv2) == 0 && memcmp(uv, uv2, sizeof uv) == 0, "u64: %s",
          qt_h5r_error(r));
    int64_t s = 0;
    CHECK(qt_h5r_int(r, "step", &s) == 0 && s == 123456789012LL, "step %lld", (long long)s);
    CHECK(qt_h5r_int(r, "neg", &s) == 0 && s == INT64_MIN, "neg %lld", (long long)s);
    double dv = 0;
    CHECK(qt_h5r_double(r, "lr", &dv) == 0 && dv == 3.0e-4, "lr %g", dv);
    CHECK(qt_h5r_double(r, "best", &dv) == 0 && isinf(dv) && dv < 0, "best %g", dv);
    char *cs = qt_h5r_string(r, "config");
    CHECK(cs && strcmp(cs, config) == 0, "config '%s'", cs ? cs : "(null)");
    free(cs);
    cs = qt_h5r_string(r, "blank");
    CHECK(cs && cs[0] == 0, "blank '%s'", cs ? cs : "(null)");
    free(cs);
    for (int i = 0; i < NODD; i++) {
        float v[2] = {-1, -1};
        CHECK(qt_h5r_has(r, odd[i]), "has %s", odd[i]);
        CHECK(qt_h5r_f32(r, odd[i], 1, (int[]){2}, v) == 0 && v[0] == (float)i && v[1] == -(float)i, "%s: %s",
              odd[i], qt_h5r_error(r));
    }

    /* kinds, shapes, existence */
    CHECK(qt_h5r_kind(r, "big") == QT_H5_F32, "kind big");
    CHECK(qt_h5r_kind(r, "ints") == QT_H5_I32, "kind ints");
    CHECK(qt_h5r_kind(r, "longs") == QT_H5_I64, "kind longs");
    CHECK(qt_h5r_kind(r, "rng.state") == QT_H5_U64, "kind rng");
    CHECK(qt_h5r_kind(r, "step") == QT_H5_INT, "kind step");
    CHECK(qt_h5r_kind(r, "lr") == QT_H5_DOUBLE, "kind lr");
    CHECK(qt_h5r_kind(r, "config") == QT_H5_STRING, "kind config");
    CHECK(qt_h5r_kind(r, "nope") == QT_H5_NONE && !qt_h5r_has(r, "nope"), "absent");
    CHECK(!qt_h5r_has(r, "a%2Fb"), "escaped form must not be visible");
    int nd = 0, sh[QT_H5_MAX_DIMS] = {0};
    CHECK(qt_h5r_shape(r, "four_d", &nd, sh) == 0 && nd == 4 && sh[0] == 2 && sh[1] == 3 && sh[2] == 2 && sh[3] == 2,
          "shape four_d");
    CHECK(qt_h5r_shape(r, "step", &nd, sh) < 0, "shape of a scalar must fail");

    /* wrong kind / missing entries */
    CHECK(qt_h5r_f32(r, "ints", 2, (int[]){2, 3}, g) < 0 && has(qt_h5r_error(r), "\"ints\"") &&
              has(qt_h5r_error(r), "int32 array") && has(qt_h5r_error(r), "float32 array"),
          "kind mismatch: %s", qt_h5r_error(r));
    CHECK(qt_h5r_int(r, "lr", &s) < 0 && has(qt_h5r_error(r), "\"lr\""), "int of double: %s", qt_h5r_error(r));
    CHECK(qt_h5r_string(r, "step") == NULL && has(qt_h5r_error(r), "\"step\""), "string of int");
    CHECK(qt_h5r_f32(r, "missing.weight", 1, (int[]){2}, g) < 0 && has(qt_h5r_error(r), "missing.weight") &&
              has(qt_h5r_error(r), path),
          "missing: %s", qt_h5r_error(r));
    qt_h5r_close(r);
}

static void test_params(void) {
    char path[600], err[512];
    tpath("params.h5", path, sizeof path);
    qt_tensor *p[3], *q[3];
    int shp[3][2] = {{4, 16}, {16, 4}, {7, 1}};
    const char *names[3] = {"layers.0.attention.wq.weight", "layers.0.attention.wk.weight", "norm.weight"};
    uint64_t seed = 7;
    for (int i = 0; i < 3; i++) {
        p[i] = qt_param_new(names[i], 2, shp[i]);
        q[i] = qt_param_new(names[i], 2, shp[i]);
        tu_fill_normal(p[i]->data, p[i]->n, 0.5f, &seed);
    }
    float *m[3], *m2[3];
    for (int i = 0; i < 3; i++) {
        m[i] = malloc(p[i]->n * sizeof(float));
        m2[i] = calloc(p[i]->n, sizeof(float));
        tu_fill_normal(m[i], p[i]->n, 1e-3f, &seed);
    }
    float *m_skip[3] = {m[0], NULL, m[2]};

    qt_h5w *w = qt_h5w_open(path, err, sizeof err);
    CHECK(w != NULL, "%s", err);
    if (!w) return;
    CHECK(qt_h5w_params(w, NULL, p, 3) == 0, "%s", qt_h5w_error(w));
    CHECK(qt_h5w_params(w, "teacher.", p, 3) == 0, "%s", qt_h5w_error(w));
    CHECK(qt_h5w_param_bufs(w, "opt.m.", p, m_skip, 3) == 0, "%s", qt_h5w_error(w));
    CHECK(qt_h5w_commit(w, err, sizeof err) == 0, "%s", err);

    qt_h5r *r = qt_h5r_open(path, err, sizeof err);
    CHECK(r != NULL, "%s", err);
    if (!r) return;
    CHECK(qt_h5r_count(r) == 8, "count %d", qt_h5r_count(r));
    CHECK(qt_h5r_has(r, "opt.m.layers.0.attention.wq.weight") && !qt_h5r_has(r, "opt.m.layers.0.attention.wk.weight"),
          "opt.m names");
    CHECK(qt_h5r_params(r, NULL, q, 3) == 0, "%s", qt_h5r_error(r));
    for (int i = 0; i < 3; i++) CHECK(memcmp(p[i]->data, q[i]->data, p[i]->n * 4) == 0, "param %d differs", i);
    for (int i = 0; i < 3; i++) memset(q[i]->data, 0, q[i]->n * 4);
    CHECK(qt_h5r_params(r, "teacher.", q, 3) == 0, "%s", qt_h5r_error(r));
    for (int i = 0; i < 3; i++) CHECK(memcmp(p[i]->data, q[i]->data, p[i]->n * 4) == 0, "teacher %d differs", i);
    float *m2_skip[3] = {m2[0], NULL, m2[2]};
    CHECK(qt_h5r_param_bufs(r, "opt.m.", q, m2_skip, 3) == 0, "%s", qt_h5r_error(r));
    CHECK(memcmp(m[0], m2[0], p[0]->n * 4) == 0 && memcmp(m[2], m2[2], p[2]->n * 4) == 0, "moments differ");
    CHECK(qt_h5r_param_bufs(r, "opt.m.", q, m2, 3) < 0 && has(qt_h5r_error(r), "opt.m.layers.0.attention.wk.weight"),
          "missing moment: %s", qt_h5r_error(r));

    /* Shape mismatch: names the dataset and both shapes, touches nothing. */
    qt_tensor *bad[2];
    bad[0] = qt_param_new("norm.weight", 2, (int[]){7, 1});
    bad[1] = qt_param_new("layers.0.attention.wq.weight", 2, (int[]){16, 4});
    for (size_t i = 0; i < bad[0]->n; i++) bad[0]->data[i] = 99.0f;
    CHECK(qt_h5r_params(r, NULL, bad, 2) < 0, "shape mismatch accepted");
    char e[512];
    snprintf(e, sizeof e, "%s", qt_h5r_error(r));
    CHECK(has(e, "\"layers.0.attention.wq.weight\"") && has(e, "expected shape [16, 4]") && has(e, "found [4, 16]") &&
              has(e, path),
          "message: %s", e);
    CHECK(bad[0]->data[0] == 99.0f, "an earlier param was loaded before the shape check failed");
    int one[1] = {64};
    CHECK(qt_h5r_f32(r, "norm.weight", 1, one, m2[0]) < 0 && has(qt_h5r_error(r), "[64]") &&
              has(qt_h5r_error(r), "[7, 1]"),
          "rank mismatch: %s", qt_h5r_error(r));
    qt_h5r_close(r);
    printf("shape mismatch: %s\n", e);

    for (int i = 0; i < 3; i++) {
        qt_param_free(p[i]);
        qt_param_free(q[i]);
        free(m[i]);
        free(m2[i]);
    }
    qt_param_free(bad[0]);
    qt_param_free(bad[1]);
}

static void test_bad_files(void) {
    char path[600], bad[600], err[512];
    tpath("good.h5", path, sizeof path);
    CHECK(write_small(path, 1.0f, 5) == 0, "write");

    /* missing */
    tpath("does_not_exist.h5", bad, sizeof bad);
    err[0] = 0;
    CHECK(qt_h5r_open(bad, err, sizeof err) == NULL, "missing file opened");
    CHECK(has(err, bad) && has(err, "No such file"), "missing: %s", err);
    printf("missing: %s\n", err);

    /* text file */
    tpath("notes.txt", bad, sizeof bad);
    FILE *f = fopen(bad, "w");
    fputs("this is not an HDF5 file, just some text that is long enough to look like something\n", f);
    fclose(f);
    err[0] = 0;
    CHECK(qt_h5r_open(bad, err, sizeof err) == NULL, "text file opened");
    CHECK(has(err, bad) && has(err, "lacks qatc's integrity header"), "text: %s", err);
    printf("text: %s\n", err);

    /* empty file */
    tpath("empty.h5", bad, sizeof bad);
    f = fopen(bad, "w");
    fclose(f);
    err[0] = 0;
    CHECK(qt_h5r_open(bad, err, sizeof err) == NULL, "empty file opened");
    CHECK(has(err, bad) && has(err, "lacks qatc's integrity header"), "empty: %s", err);

    /* directory */
    err[0] = 0;
    CHECK(qt_h5r_open(g_dir, err, sizeof err) == NULL && has(err, "directory"), "dir: %s", err);

    /* truncated to half, and by a few bytes */
    long sz = file_size(path);
    CHECK(sz > 1000, "size %ld", sz);
    long cuts[3] = {sz / 2, sz - 16, 100};
    for (int k = 0; k < 3; k++) {
        tpath("trunc.h5", bad, sizeof bad);
        CHECK(copy_file(path, bad, cuts[k]) == 0 && file_size(bad) == cuts[k], "copy");
        err[0] = 0;
        qt_h5r *r = qt_h5r_open(bad, err, sizeof err);
        if (r) {
            /* If HDF5 accepts the header, reading must still fail cleanly. */
            float w[15];
            int rc = qt_h5r_f32(r, "w", 2, (int[]){3, 5}, w);
            CHECK(rc < 0 && has(qt_h5r_error(r), bad), "truncated at %ld read fine", cuts[k]);
            qt_h5r_close(r);
        } else {
            CHECK(has(err, bad) && err[0], "truncated: %s", err);
        }
        printf("truncated to %ld of %ld bytes: %s\n", cuts[k], sz, r ? "read error" : err);
    }

    /* an HDF5 file written by someone else (no integrity header) */
    tpath("foreign.h5", bad, sizeof bad);
    hid_t fid = H5Fcreate(bad, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(fid);
    err[0] = 0;
    CHECK(qt_h5r_open(bad, err, sizeof err) == NULL && has(err, "lacks qatc's integrity header") &&
              has(err, "an HDF5 file") && has(err, bad),
          "no integrity header: %s", err);
    printf("no integrity header: %s\n", err);

    /* sealed HDF5 files that are not qatc checkpoints */
    hid_t fcpl = qt_h5image_fcpl();
    fid = H5Fcreate(bad, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
    H5Fclose(fid);
    CHECK(qt_h5image_seal_file(bad, err, sizeof err) == 0, "seal: %s", err);
    err[0] = 0;
    CHECK(qt_h5r_open(bad, err, sizeof err) == NULL && has(err, "not a qatc checkpoint") && has(err, "\"format\""),
          "no format: %s", err);
    printf("no format: %s\n", err);
    fid = H5Fcreate(bad, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
    H5Pclose(fcpl);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, 5);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(fid, "format", t, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, "gguf!");
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    H5Fclose(fid);
    CHECK(qt_h5image_seal_file(bad, err, sizeof err) == 0, "seal: %s", err);
    err[0] = 0;
    CHECK(qt_h5r_open(bad, err, sizeof err) == NULL && has(err, "\"gguf!\"") && has(err, QT_H5_FORMAT),
          "wrong format: %s", err);
    printf("wrong format: %s\n", err);

    /* writer into a missing directory */
    tpath("no/such/dir/ckpt.h5", bad, sizeof bad);
    err[0] = 0;
    CHECK(qt_h5w_open(bad, err, sizeof err) == NULL && has(err, bad) && has(err, "No such file"), "writer: %s", err);

    /* HDF5's automatic error printing is left as it was. */
    H5E_auto2_t fn0 = NULL, fn1 = NULL;
    void *d0 = NULL, *d1 = NULL;
    H5Eget_auto2(H5E_DEFAULT, &fn0, &d0);
    tpath("notes.txt", bad, sizeof bad);
    qt_h5r_close(qt_h5r_open(bad, err, sizeof err));
    H5Eget_auto2(H5E_DEFAULT, &fn1, &d1);
    CHECK(fn0 == fn1 && d0 == d1, "HDF5 auto error handler not restored");
}

static void test_nonfinite(void) {
    char path[600], err[512];
    tpath("nan.h5", path, sizeof path);
    CHECK(write_small(path, 2.0f, 9) == 0, "write");

    /* The writer refuses NaN, and the previous checkpoint survives. */
    qt_h5w *w = qt_h5w_open(path, err, sizeof err);
    CHECK(w != NULL, "%s", err);
    if (w) {
        float v[3] = {1, NAN, 2};
        CHECK(qt_h5w_f32(w, "w", 1, (int[]){3}, v) < 0, "NaN written");
        CHECK(has(qt_h5w_error(w), "\"w\"") && has(qt_h5w_error(w), "non-finite"), "%s", qt_h5w_error(w));
        CHECK(qt_h5w_int(w, "step", 1) < 0, "error not sticky");
        err[0] = 0;
        CHECK(qt_h5w_commit(w, err, sizeof err) < 0 && has(err, "non-finite"), "commit: %s", err);
    }
    CHECK(count_tmp() == 0, "temp left");
    CHECK(check_small(path, 2.0f, 9), "previous checkpoint damaged");

    /* Put NaN / Inf into the file behind the store's back: the reader refuses. */
    float vals[15];
    for (int i = 0; i < 15; i++) vals[i] = (float)i;
    float bads[2] = {NAN, -INFINITY};
    for (int k = 0; k < 2; k++) {
        vals[7] = bads[k];
        hid_t fid = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
        hid_t ds = H5Dopen2(fid, "w", H5P_DEFAULT);
        CHECK(H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, vals) >= 0, "raw write");
        H5Dclose(ds);
        H5Fclose(fid);
        /* changed behind the header's back: refused as corrupted ... */
        CHECK(qt_h5r_open(path, err, sizeof err) == NULL && has(err, "checksum mismatch"), "unsealed: %s", err);
        /* ... and once resealed, the NaN check refuses it */
        CHECK(qt_h5image_seal_file(path, err, sizeof err) == 0, "seal: %s", err);
        qt_h5r *r = qt_h5r_open(path, err, sizeof err);
        CHECK(r != NULL, "%s", err);
        if (!r) continue;
        float out[15];
        CHECK(qt_h5r_f32(r, "w", 2, (int[]){3, 5}, out) < 0, "non-finite accepted");
        const char *e = qt_h5r_error(r);
        CHECK(has(e, "\"w\"") && has(e, "non-finite") && has(e, "index 7") && has(e, path), "message: %s", e);
        printf("non-finite: %s\n", e);
        qt_h5r_close(r);
    }
}

/* Flips one byte inside a float array's data: the file's checksum refuses
 * it at open; resealed (so that the integrity header no longer protects it),
 * the array's Fletcher-32 checksum catches it on read. */
static void test_bitflip(void) {
    char path[600], err[512];
    tpath("flip.h5", path, sizeof path);
    enum { N = 4096 };
    static float v[N], out[N];
    for (int i = 0; i < N; i++) v[i] = 1000.0f + (float)i;
    qt_h5w *w = qt_h5w_open(path, err, sizeof err);
    CHECK(w && qt_h5w_f32(w, "v", 1, (int[]){N}, v) == 0 && qt_h5w_commit(w, err, sizeof err) == 0, "%s", err);
    long sz = file_size(path);
    unsigned char *buf = malloc((size_t)sz);
    FILE *f = fopen(path, "rb");
    CHECK(f && fread(buf, 1, (size_t)sz, f) == (size_t)sz, "read file");
    if (f) fclose(f);
    long at = -1;
    for (long i = 0; i + 16 <= sz; i++)
        if (memcmp(buf + i, v, 16) == 0) { at = i; break; }
    CHECK(at >= 0, "array bytes not found in file");
    if (at >= 0) {
        buf[at + 4 * (N / 2) + 1] ^= 0x10;
        f = fopen(path, "r+b");
        fwrite(buf, 1, (size_t)sz, f);
        fclose(f);
        err[0] = 0;
        CHECK(qt_h5r_open(path, err, sizeof err) == NULL && has(err, path) &&
                  has(err, "checksum mismatch (corrupted file)"),
              "flip not refused at open: %s", err);
        printf("bit flip (open): %s\n", err);
        CHECK(qt_h5image_seal_file(path, err, sizeof err) == 0, "seal: %s", err);
        qt_h5r *r = qt_h5r_open(path, err, sizeof err);
        CHECK(r != NULL, "%s", err);
        if (r) {
            CHECK(qt_h5r_f32(r, "v", 1, (int[]){N}, out) < 0, "flipped bit not detected");
            CHECK(has(qt_h5r_error(r), "\"v\"") && has(qt_h5r_error(r), path), "%s", qt_h5r_error(r));
            printf("bit flip: %s\n", qt_h5r_error(r));
            qt_h5r_close(r);
        }
    }
    free(buf);
}

/* The integrity header itself: every kind of damage has its own message. */
static void test_integrity(void) {
    char path[600], bad[600], err[512];
    tpath("sealed.h5", path, sizeof path);
    CHECK(write_small(path, 3.0f, 7) == 0, "write");
    long sz = file_size(path);
    unsigned char *buf = malloc((size_t)sz + 1);
    FILE *f = fopen(path, "rb");
    CHECK(f && fread(buf, 1, (size_t)sz, f) == (size_t)sz, "read file");
    if (f) fclose(f);
    qt_h5image_info info;
    CHECK(qt_h5image_verify(buf, (size_t)sz, path, NULL, &info, err, sizeof err) == 0, "verify: %s", err);
    CHECK(info.length == (uint64_t)sz && info.version == QT_H5IMAGE_VERSION, "info");
    qt_h5r *r = qt_h5r_open(path, err, sizeof err);
    uint64_t len = 0;
    uint32_t crc = 0;
    qt_h5r_verified(r, &len, &crc);
    CHECK(r && len == (uint64_t)sz && crc == info.crc, "qt_h5r_verified");
    qt_h5r_close(r);
    CHECK(!memcmp(buf + QT_H5IMAGE_BLOCK, "\x89HDF\r\n\x1a\n", 8), "HDF5 superblock not at byte 512");
    tpath("damaged.h5", bad, sizeof bad);
    struct {
        long off;      /* byte to change (-1: none) */
        long len;      /* bytes written */
        const char *kw;
    } cases[] = {
        {-1, sz - 1, "truncated: "},
        {-1, sz + 1, "data appended"},
        {-1, 20, "shorter than qatc's 32-byte integrity header"},
        {0, sz, "lacks qatc's integrity header"},
        {9, sz, "integrity header is damaged"},    /* version */
        {17, sz, "integrity header is damaged"},   /* length */
        {25, sz, "integrity header is damaged"},   /* its own checksum fields: both */
        {100, sz, "checksum mismatch (corrupted file)"}, /* zero padding of the user block */
        {512, sz, "checksum mismatch (corrupted file)"}, /* HDF5 signature */
        {sz - 1, sz, "checksum mismatch (corrupted file)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char *b = malloc((size_t)sz + 1);
        memcpy(b, buf, (size_t)sz);
        b[sz] = 0;
        if (cases[i].off >= 0) b[cases[i].off] ^= 0x21;
        if (cases[i].off == 25) b[29] ^= 0x40;
        f = fopen(bad, "wb");
        fwrite(b, 1, (size_t)cases[i].len, f);
        fclose(f);
        err[0] = 0;
        CHECK(qt_h5r_open(bad, err, sizeof err) == NULL && has(err, bad) && has(err, cases[i].kw) && !strchr(err, '\n'),
              "case %zu (%s): %s", i, cases[i].kw, err);
        printf("integrity %zu: %s\n", i, err);
        free(b);
    }
    char want[128];
    snprintf(want, sizeof want, "truncated: %ld of %ld bytes", sz - 1, sz);
    f = fopen(bad, "wb");
    fwrite(buf, 1, (size_t)sz - 1, f);
    fclose(f);
    CHECK(qt_h5r_open(bad, err, sizeof err) == NULL && has(err, want), "%s", err);
    free(buf);
}

static void test_atomic(void) {
    char path[600], err[512], tmp[700];
    tpath("ckpt.h5", path, sizeof path);
    CHECK(write_small(path, 10.0f, 100) == 0, "write 1");
    CHECK(count_tmp() == 0, "temp left after commit");
    CHECK(check_small(path, 10.0f, 100), "first");

    /* The temp file exists while writing and the old file is untouched. */
    qt_h5w *w = qt_h5w_open(path, err, sizeof err);
    CHECK(w != NULL, "%s", err);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    CHECK(access(tmp, F_OK) == 0, "no temp file while writing");
    float v[15] = {0};
    qt_h5w_f32(w, "w", 2, (int[]){3, 5}, v);
    CHECK(check_small(path, 10.0f, 100), "old file changed during write");
    qt_h5w_abort(w);
    CHECK(access(tmp, F_OK) != 0 && count_tmp() == 0, "temp left after abort");
    CHECK(check_small(path, 10.0f, 100), "abort damaged the previous checkpoint");

    /* A sticky error (duplicate name) makes commit fail; old file intact. */
    w = qt_h5w_open(path, err, sizeof err);
    CHECK(qt_h5w_f32(w, "w", 2, (int[]){3, 5}, v) == 0, "%s", qt_h5w_error(w));
    CHECK(qt_h5w_f32(w, "w", 2, (int[]){3, 5}, v) < 0 && has(qt_h5w_error(w), "\"w\" written twice"), "%s",
          qt_h5w_error(w));
    CHECK(qt_h5w_f32(w, "", 1, (int[]){1}, v) < 0, "empty name");
    CHECK(qt_h5w_commit(w, err, sizeof err) < 0 && has(err, "written twice"), "commit: %s", err);
    CHECK(count_tmp() == 0, "temp left after failed commit");
    CHECK(check_small(path, 10.0f, 100), "failed commit damaged the previous checkpoint");

    /* Bad shapes are errors too. */
    w = qt_h5w_open(path, err, sizeof err);
    CHECK(qt_h5w_f32(w, "x", 0, (int[]){1}, v) < 0 && has(qt_h5w_error(w), "\"x\""), "%s", qt_h5w_error(w));
    qt_h5w_abort(w);
    w = qt_h5w_open(path, err, sizeof err);
    CHECK(qt_h5w_f32(w, "x", 2, (int[]){3, -1}, v) < 0 && has(qt_h5w_error(w), "[3, -1]"), "%s",
          qt_h5w_error(w));
    qt_h5w_abort(w);

    /* A successful commit replaces it. */
    CHECK(write_small(path, 20.0f, 200) == 0, "write 2");
    CHECK(check_small(path, 20.0f, 200), "second");
    CHECK(count_tmp() == 0, "temp left");
    qt_h5w_abort(NULL);
    qt_h5r_close(NULL);
}

/* A child process with a small RLIMIT_FSIZE tries to overwrite the checkpoint
 * with a bigger one: the write fails with EFBIG, the error is reported, the
 * temp file is removed and the previous checkpoint still loads. */
static void test_fsize_limit(void) {
    char path[600];
    tpath("limited.h5", path, sizeof path);
    CHECK(write_small(path, 5.0f, 50) == 0, "write");
    int fds[2];
    CHECK(pipe(fds) == 0, "pipe");
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        close(fds[0]);
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl;
        getrlimit(RLIMIT_FSIZE, &rl);
        rl.rlim_cur = 256 * 1024;
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(3);
        char err[512] = "";
        int code = 0;
        qt_h5w *w = qt_h5w_open(path, err, sizeof err);
        if (!w) code = 4;
        else {
            enum { N = 1 << 20 };
            float *big = malloc(N * sizeof(float));
            for (int i = 0; i < N; i++) big[i] = (float)i;
            int rc1 = qt_h5w_f32(w, "w", 1, (int[]){N}, big);
            int rc2 = qt_h5w_int(w, "step", 51);
            int rc3 = qt_h5w_commit(w, err, sizeof err);
            free(big);
            if (!(rc1 < 0 || rc2 < 0 || rc3 < 0)) code = 5;        /* no error at all */
            else if (rc3 == 0) code = 6;                              /* error but committed */
        }
        char tmp[700];
        snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
        if (code == 0 && access(tmp, F_OK) == 0) code = 7;
        ssize_t wr = write(fds[1], err, strlen(err) + 1);
        (void)wr;
        close(fds[1]);
        _exit(code);
    }
    close(fds[1]);
    char msg[512] = "";
    size_t got = 0;
    ssize_t k;
    while (got < sizeof msg - 1 && (k = read(fds[0], msg + got, sizeof msg - 1 - got)) > 0) got += (size_t)k;
    msg[got] = 0;
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d (exit %d), message: %s", status,
          WIFEXITED(status) ? WEXITSTATUS(status) : -1, msg);
    CHECK(has(msg, path), "message does not name the file: %s", msg);
    printf("RLIMIT_FSIZE: %s\n", msg);
    CHECK(count_tmp() == 0, "temp left");
    CHECK(check_small(path, 5.0f, 50), "previous checkpoint damaged by the failed write");
}

int main(void) {
    tu_tmpdir(g_dir, sizeof g_dir);
    test_roundtrip();
    test_params();
    test_bad_files();
    test_nonfinite();
    test_bitflip();
    test_integrity();
    test_atomic();
    test_fsize_limit();
    if (!tu_failures) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    } else {
        fprintf(stderr, "files kept in %s\n", g_dir);
    }
    return tu_finish("test_ckpt");
}
