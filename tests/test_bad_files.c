/* Hostile input files, for every loader that reads files from strangers:
 * checkpoints (qt_h5r_open / qt_model_load), HDF5 token caches
 * (qd_tokens_load_h5), configs (qt_config_load), user suites
 * (qd_suite_load_file), text files (qd_text_load), GGUF (qt_gguf_read) and
 * safetensors (qt_st_read): a GGUF claiming 2^60 tensors or KVs or a 2^62-byte
 * key, a safetensors header length of 2^60 or past the file, tensor offsets
 * past the file, a truncated JSON header.
 *
 * Each bad file (zero-length, truncated at many points, wrong magic, a
 * non-qatc HDF5 file, array attributes where a scalar is expected, huge
 * declared sizes, NaN/Inf weights, a checkpoint of another model shape, ...)
 * must be refused with a non-empty one-line error naming the file (and the
 * tensor/key when there is one), never crash (the ASan build runs this too),
 * and leave no HDF5 object open. Huge declared sizes must be refused before
 * any allocation of that size: the process runs under RLIMIT_DATA = 1 GiB
 * (non-sanitized builds), so an attempt to allocate for 2^40 tokens fails
 * the test instead of passing by luck.
 *
 * `test_bad_files --write-corpus DIR` also writes the hostile HDF5 files into
 * DIR/fuzz_h5store and DIR/fuzz_tokens_h5 (the fuzz seed corpora). */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <math.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hdf5.h>

#include "autograd/tensor.h"
#include "data/dataset.h"
#include "data/suites.h"
#include "run/config.h"
#include "io/checkpoint.h"
#include "store/gguf.h"
#include "store/h5image.h"
#include "store/h5store.h"
#include "store/safetensors.h"
#include "nn/model.h"
#include "test_util.h"
#include "train/train.h"

typedef struct {
    char dir[512];
} ctx_t;

static const char *tpath(const ctx_t *c, const char *name, char *buf, size_t len) {
    snprintf(buf, len, "%s/%s", c->dir, name);
    return buf;
}

static int write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(data, 1, n, f) : 0;
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

static int write_str(const char *path, const char *s) { return write_bytes(path, s, strlen(s)); }

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)len + 1);
    *n = fread(b, 1, (size_t)len, f);
    b[*n] = 0;
    fclose(f);
    return b;
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* A refusal message: non-empty, one line, names the file (its base name). */
#define CHECK_MSG(msg, path, ...)                                                                          \
    do {                                                                                                   \
        CHECK((msg)[0] != 0, "empty error for %s", base_name(path));                                       \
        CHECK(strchr((msg), '\n') == NULL, "multi-line error: %s", (msg));                                 \
        CHECK(strstr((msg), base_name(path)) != NULL, "error does not name %s: %s", base_name(path), (msg)); \
        const char *kw_[] = {__VA_ARGS__, NULL};                                                           \
        for (int k_ = 0; kw_[k_]; k_++)                                                                    \
            CHECK(strstr((msg), kw_[k_]) != NULL, "error lacks \"%s\": %s", kw_[k_], (msg));               \
    } while (0)

static void check_no_open_h5(const char *what) {
    ssize_t n = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
    CHECK(n == 0, "%s left %zd HDF5 object(s) open", what, n);
}

/* ---- raw HDF5 builders (what qatc's own writers would never produce) ---- */

/* A new HDF5 file with qatc's user block; h5_close seals it (integrity
 * header, store/h5image.h) so that the content, not the checksum, is what
 * the readers refuse. */
static hid_t h5_new(const char *path) {
    hid_t fcpl = qt_h5image_fcpl();
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
    H5Pclose(fcpl);
    return f;
}

static void h5_close(hid_t f, const char *path) {
    char err[512];
    H5Fclose(f);
    CHECK(qt_h5image_seal_file(path, err, sizeof err) == 0, "seal: %s", err);
}

static void attr_str(hid_t obj, const char *name, const char *v) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(v) + 1);
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, v);
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
}

/* An attribute holding n values of type t (n == 0: scalar). */
static void attr_n(hid_t obj, const char *name, hid_t t, hsize_t n, const void *v) {
    hid_t s = n ? H5Screate_simple(1, &n, NULL) : H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, v);
    H5Aclose(a);
    H5Sclose(s);
}

static void qatc_header(hid_t f, const char *format, int64_t version) {
    attr_str(f, "format", format);
    attr_n(f, "version", H5T_STD_I64LE, 0, &version);
}

/* A dataset of ndim dims (chunked when chunk != NULL, no data written). */
static hid_t dset_empty(hid_t f, const char *name, hid_t t, int ndim, const hsize_t *dims, const hsize_t *chunk) {
    hid_t s = H5Screate_simple(ndim, dims, NULL), p = H5Pcreate(H5P_DATASET_CREATE);
    if (chunk) H5Pset_chunk(p, ndim, chunk);
    hid_t d = H5Dcreate2(f, name, t, s, H5P_DEFAULT, p, H5P_DEFAULT);
    H5Pclose(p);
    H5Sclose(s);
    return d;
}

static void dset_write(hid_t f, const char *name, hid_t ft, hid_t mt, int ndim, const hsize_t *dims, const void *v) {
    hid_t d = dset_empty(f, name, ft, ndim, dims, NULL);
    H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(d);
}

/* ---- checkpoints ---- */

static qt_model_cfg tiny_cfg(int dim) {
    qt_model_cfg m = {.arch = QT_ARCH_LLAMA, .dim = dim, .layers = 1, .heads = 2, .kv_heads = 2, .ffn = 2 * dim, .ctx = 16, .vocab = 256, .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    return m;
}

static void fill_model(qt_model *m, float v) {
    for (int i = 0; i < m->n_params; i++)
        for (size_t j = 0; j < m->params[i]->n; j++) m->params[i]->data[j] = v + (float)(j % 7) * 0.01f;
}

/* A refused checkpoint: qt_h5r_open, or a read, or qt_model_load fails with
 * a good message and the model is untouched. */
static void expect_ckpt_refused(const char *path, const char *kw) {
    char err[1024] = "";
    qt_h5r *r = qt_h5r_open(path, err, sizeof err);
    if (r) {
        /* openable: a model load must still refuse it */
        qt_h5r_close(r);
    } else {
        CHECK_MSG(err, path, kw);
    }
    check_no_open_h5(path);
    qt_model_cfg mc = tiny_cfg(16);
    qt_model *m = qt_model_new(&mc);
    fill_model(m, 0.5f);
    err[0] = 0;
    int rc = qt_model_load(m, path, err, sizeof err);
    CHECK(rc != 0, "%s was loaded into a model", base_name(path));
    if (rc) CHECK_MSG(err, path, kw);
    check_no_open_h5(path);
    qt_model_free(m);
}

static void test_checkpoints(const ctx_t *c, const char *corpus) {
    char p[1024], good[1024], err[1024];
    /* a valid model checkpoint to start from */
    qt_model_cfg mc = tiny_cfg(16);
    qt_model *m = qt_model_new(&mc);
    fill_model(m, 0.25f);
    tpath(c, "good.h5", good, sizeof good);
    CHECK(qt_model_save(m, good, "{}", err, sizeof err) == 0, "save: %s", err);
    qt_model *m2 = qt_model_new(&mc);
    CHECK(qt_model_load(m2, good, err, sizeof err) == 0, "valid checkpoint refused: %s", err);
    qt_model_free(m2);
    size_t n = 0;
    char *bytes = slurp(good, &n);
    CHECK(bytes && n > 1000, "checkpoint has %zu bytes", n);

    /* zero-length and wrong magic */
    write_bytes(tpath(c, "empty.h5", p, sizeof p), "", 0);
    expect_ckpt_refused(p, "lacks qatc's integrity header");
    write_bytes(tpath(c, "text.h5", p, sizeof p), "hello, this is not HDF5\n", 24);
    expect_ckpt_refused(p, "lacks qatc's integrity header");
    write_bytes(tpath(c, "png.h5", p, sizeof p), "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16);
    expect_ckpt_refused(p, "lacks qatc's integrity header");
    /* truncated at many points: every cut is refused, never a crash */
    for (int k = 1; k < 16 && bytes; k++) {
        size_t cut = n * (size_t)k / 16;
        char name[64];
        snprintf(name, sizeof name, "trunc%02d.h5", k);
        write_bytes(tpath(c, name, p, sizeof p), bytes, cut);
        expect_ckpt_refused(p, "truncated: ");
    }
    /* a flipped byte anywhere: the file's checksum refuses it before libhdf5
     * parses anything; never loads silently different data */
    if (bytes) {
        for (size_t off = n / 4; off < n; off += n / 5) {
            char *b2 = malloc(n);
            memcpy(b2, bytes, n);
            b2[off] ^= 0x5a;
            write_bytes(tpath(c, "flip.h5", p, sizeof p), b2, n);
            qt_model *m3 = qt_model_new(&mc);
            int rc = qt_model_load(m3, p, err, sizeof err);
            if (rc == 0) { /* the flip hit unused bytes: the weights must be the saved ones */
                for (int i = 0; i < m->n_params; i++)
                    CHECK(memcmp(m->params[i]->data, m3->params[i]->data, m->params[i]->n * 4) == 0,
                          "flip at %zu loaded different weights for %s", off, m->params[i]->name);
            } else {
                CHECK_MSG(err, p, "checksum mismatch (corrupted file)");
            }
            CHECK(rc != 0, "flip at %zu was not refused", off);
            check_no_open_h5("flip");
            qt_model_free(m3);
            free(b2);
        }
    }
    free(bytes);

    /* an HDF5 file without qatc's integrity header (not written by qatc) */
    hid_t f = H5Fcreate(tpath(c, "unsealed.h5", p, sizeof p), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(f);
    expect_ckpt_refused(p, "lacks qatc's integrity header");
    /* an HDF5 file that is not a qatc checkpoint */
    f = h5_new(tpath(c, "foreign.h5", p, sizeof p));
    float ones[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    dset_write(f, "weights", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, (hsize_t[]){8}, ones);
    h5_close(f, p);
    expect_ckpt_refused(p, "not a qatc checkpoint");
    f = h5_new(tpath(c, "otherformat.h5", p, sizeof p));
    qatc_header(f, "safetensors", 1);
    h5_close(f, p);
    expect_ckpt_refused(p, "not a qatc checkpoint");
    f = h5_new(tpath(c, "newer.h5", p, sizeof p));
    qatc_header(f, QT_H5_FORMAT, QT_H5_VERSION + 1);
    h5_close(f, p);
    expect_ckpt_refused(p, "version");

    /* array attributes where one value is expected (once a stack overflow) */
    f = h5_new(tpath(c, "array_version.h5", p, sizeof p));
    attr_str(f, "format", QT_H5_FORMAT);
    int64_t many[4096];
    for (int i = 0; i < 4096; i++) many[i] = 1;
    attr_n(f, "version", H5T_STD_I64LE, 4096, many);
    h5_close(f, p);
    expect_ckpt_refused(p, "version");
    if (corpus) {
        char q[1024];
        snprintf(q, sizeof q, "%s/fuzz_h5store/regress-array-version.h5", corpus);
        size_t k;
        char *b = slurp(p, &k);
        write_bytes(q, b, k);
        free(b);
    }

    /* huge declared sizes: no data behind them, refused without allocating */
    f = h5_new(tpath(c, "huge.h5", p, sizeof p));
    qatc_header(f, QT_H5_FORMAT, 1);
    hsize_t huge[2] = {(hsize_t)1 << 40, (hsize_t)1 << 20}, ch[2] = {16, 16};
    H5Dclose(dset_empty(f, "param%2Ftok_embeddings.weight", H5T_IEEE_F32LE, 2, huge, ch));
    hsize_t big1[1] = {(hsize_t)1 << 62}, ch1[1] = {1024};
    H5Dclose(dset_empty(f, "param%2Fnorm.weight", H5T_IEEE_F32LE, 1, big1, ch1));
    h5_close(f, p);
    expect_ckpt_refused(p, "expected shape");
    {
        qt_h5r *r = qt_h5r_open(p, err, sizeof err);
        CHECK(r != NULL, "huge.h5 (valid HDF5) did not open: %s", err);
        int nd = 0, sh[QT_H5_MAX_DIMS];
        if (r) {
            CHECK(qt_h5r_shape(r, "param/norm.weight", &nd, sh) != 0, "a 2^62 dim was reported as an int shape");
            CHECK_MSG(qt_h5r_error(r), p, "norm.weight");
            float small[4];
            CHECK(qt_h5r_f32(r, "param/norm.weight", 1, (int[]){4}, small) != 0, "read of a 2^62 dataset into 4");
            CHECK_MSG(qt_h5r_error(r), p, "norm.weight", "expected shape");
            qt_h5r_close(r);
        }
        check_no_open_h5("huge");
    }
    if (corpus) {
        char q[1024];
        snprintf(q, sizeof q, "%s/fuzz_h5store/regress-huge-dims.h5", corpus);
        size_t k;
        char *b = slurp(p, &k);
        write_bytes(q, b, k);
        free(b);
    }

    /* NaN / Inf weights (qt_h5w refuses to write them: build the file raw) */
    for (int inf = 0; inf < 2; inf++) {
        qt_h5w *w = qt_h5w_open(tpath(c, inf ? "inf.h5" : "nan.h5", p, sizeof p), err, sizeof err);
        for (int i = 0; w && i < m->n_params; i++) {
            qt_tensor *t = m->params[i];
            char name[200];
            snprintf(name, sizeof name, "param/%s", t->name);
            if (i == 1) continue; /* written below with a bad value */
            qt_h5w_f32(w, name, t->ndim, t->shape, t->data);
        }
        CHECK(w && qt_h5w_string(w, "config", "{}") == 0, "writer");
        CHECK(qt_h5w_commit(w, err, sizeof err) == 0, "commit: %s", err);
        f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
        qt_tensor *t = m->params[1];
        float *bad = malloc(t->n * sizeof *bad);
        memcpy(bad, t->data, t->n * sizeof *bad);
        bad[t->n / 2] = inf ? -INFINITY : NAN;
        hsize_t dims[4];
        for (int d = 0; d < t->ndim; d++) dims[d] = (hsize_t)t->shape[d];
        char h5name[200];
        snprintf(h5name, sizeof h5name, "param%%2F%s", t->name);
        dset_write(f, h5name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, t->ndim, dims, bad);
        free(bad);
        h5_close(f, p);
        qt_model *m3 = qt_model_new(&mc);
        int rc = qt_model_load(m3, p, err, sizeof err);
        CHECK(rc != 0, "%s weights were loaded", inf ? "Inf" : "NaN");
        if (rc) CHECK_MSG(err, p, t->name, "non-finite");
        check_no_open_h5("nan");
        qt_model_free(m3);
    }

    /* a checkpoint of another shape (config says dim 32, file has dim 16):
     * refused naming the tensor and both shapes; the model is untouched */
    qt_model_cfg mc32 = tiny_cfg(32);
    qt_model *big = qt_model_new(&mc32);
    fill_model(big, 0.75f);
    int rc = qt_model_load(big, good, err, sizeof err);
    CHECK(rc != 0, "a dim-16 checkpoint was loaded into a dim-32 model");
    if (rc) CHECK_MSG(err, good, "expected shape", "found", "[");
    int untouched = 1;
    for (int i = 0; i < big->n_params; i++)
        for (size_t j = 0; j < big->params[i]->n; j++)
            untouched &= big->params[i]->data[j] == 0.75f + (float)(j % 7) * 0.01f;
    CHECK(untouched, "a refused load changed the model's weights");
    qt_model_free(big);
    /* and another depth: a missing tensor is named */
    qt_model_cfg deep = tiny_cfg(16);
    deep.layers = 2;
    qt_model *md = qt_model_new(&deep);
    rc = qt_model_load(md, good, err, sizeof err);
    CHECK(rc != 0, "a 1-layer checkpoint was loaded into a 2-layer model");
    if (rc) CHECK_MSG(err, good, "layers.1.");
    qt_model_free(md);
    check_no_open_h5("shape mismatch");
    qt_model_free(m);
}

/* ---- token caches ---- */

static void expect_tokens_refused(const char *path, const char *kw) {
    qd_tokens t;
    qd_token_meta meta;
    char err[256] = "";
    int rc = qd_tokens_load_h5(path, &t, &meta, err, sizeof err);
    CHECK(rc != 0, "%s was accepted as a token file", base_name(path));
    if (rc) CHECK_MSG(err, path, kw);
    CHECK(t.tok == NULL && t.n == 0, "a refused token file left tokens behind");
    qd_tokens_free(&t);
    check_no_open_h5(path);
}

static void copy_to_corpus(const char *corpus, const char *sub, const char *name, const char *p) {
    if (!corpus) return;
    char q[1024];
    snprintf(q, sizeof q, "%s/%s/%s", corpus, sub, name);
    size_t k;
    char *b = slurp(p, &k);
    if (b) write_bytes(q, b, k);
    free(b);
}

static void test_tokens(const ctx_t *c, const char *corpus) {
    char p[1024], err[256];
    write_bytes(tpath(c, "t_empty.h5", p, sizeof p), "", 0);
    expect_tokens_refused(p, "HDF5");
    write_bytes(tpath(c, "t_text.h5", p, sizeof p), "tokens: 1 2 3\n", 14);
    expect_tokens_refused(p, "lacks qatc's integrity header");

    /* a valid file, then truncated */
    int32_t tok[300];
    for (int i = 0; i < 300; i++) tok[i] = "the cat sat on the mat\n"[i % 23];
    qd_tokens t = {tok, 300, 0};
    CHECK(qd_tokens_save_h5(tpath(c, "t_good.h5", p, sizeof p), &t, NULL, err, sizeof err) == 0, "save: %s", err);
    size_t n;
    char *bytes = slurp(p, &n);
    for (int k = 1; k < 12 && bytes; k++) {
        char name[64];
        snprintf(name, sizeof name, "t_trunc%02d.h5", k);
        write_bytes(tpath(c, name, p, sizeof p), bytes, n * (size_t)k / 12);
        expect_tokens_refused(p, name);
    }
    free(bytes);

    hid_t f = h5_new(tpath(c, "t_missing.h5", p, sizeof p));
    h5_close(f, p);
    expect_tokens_refused(p, "no dataset \"tokens\"");

    f = h5_new(tpath(c, "t_rank2.h5", p, sizeof p));
    int32_t z[12] = {0};
    dset_write(f, "tokens", H5T_STD_I32LE, H5T_NATIVE_INT32, 2, (hsize_t[]){3, 4}, z);
    h5_close(f, p);
    expect_tokens_refused(p, "rank 2");

    f = h5_new(tpath(c, "t_float.h5", p, sizeof p));
    float fl[4] = {1, 2, 3, 4};
    dset_write(f, "tokens", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, (hsize_t[]){4}, fl);
    h5_close(f, p);
    expect_tokens_refused(p, "not an integer array");

    f = h5_new(tpath(c, "t_range.h5", p, sizeof p));
    int32_t out[4] = {1, 2, 300, 4};
    dset_write(f, "tokens", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, (hsize_t[]){4}, out);
    h5_close(f, p);
    expect_tokens_refused(p, "300");

    /* 2^40 tokens declared, nothing stored: refused before allocating 4 TiB */
    f = h5_new(tpath(c, "t_huge.h5", p, sizeof p));
    hsize_t huge[1] = {(hsize_t)1 << 40}, ch[1] = {65536};
    H5Dclose(dset_empty(f, "tokens", H5T_STD_I32LE, 1, huge, ch));
    h5_close(f, p);
    expect_tokens_refused(p, "declares");
    copy_to_corpus(corpus, "fuzz_tokens_h5", "regress-huge-dims.h5", p);
    /* 2^34 tokens: below the hard cap, still far more than the file holds */
    f = h5_new(tpath(c, "t_big.h5", p, sizeof p));
    hsize_t big[1] = {(hsize_t)1 << 34};
    H5Dclose(dset_empty(f, "tokens", H5T_STD_I32LE, 1, big, ch));
    h5_close(f, p);
    expect_tokens_refused(p, "declares");

    /* provenance attributes stored as arrays (once a heap/stack overflow of
     * the meta struct): the tokens load, the array attributes are ignored */
    f = h5_new(tpath(c, "t_arrayattr.h5", p, sizeof p));
    dset_write(f, "tokens", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, (hsize_t[]){4}, (int32_t[]){1, 2, 3, 4});
    hid_t d = H5Dopen2(f, "tokens", H5P_DEFAULT);
    int32_t parts[4096];
    double vf[4096];
    for (int i = 0; i < 4096; i++) parts[i] = 7, vf[i] = 0.5;
    attr_n(d, "part", H5T_STD_I32LE, 4096, parts);
    attr_n(d, "val_fraction", H5T_IEEE_F64LE, 4096, vf);
    H5Dclose(d);
    h5_close(f, p);
    {
        qd_tokens t2;
        qd_token_meta meta;
        int rc = qd_tokens_load_h5(p, &t2, &meta, err, sizeof err);
        CHECK(rc == 0 && t2.n == 4, "array attributes: rc %d n %zu: %s", rc, t2.n, err);
        CHECK(meta.part == 0 && meta.val_fraction == 0.0, "array attributes were read into the meta");
        qd_tokens_free(&t2);
        check_no_open_h5("array attributes");
    }
    copy_to_corpus(corpus, "fuzz_tokens_h5", "regress-array-attr.h5", p);
}

/* ---- configs ---- */

static void expect_config_refused(const char *path, const char *kw) {
    qt_config cfg;
    char err[1024] = "";
    int rc = qt_config_load(path, &cfg, err, sizeof err);
    CHECK(rc != 0, "%s was accepted as a config", base_name(path));
    if (rc) CHECK_MSG(err, path, kw);
    qt_config_free(&cfg);
}

static void test_configs(const ctx_t *c) {
    char p[1024], src[1024];
    write_str(tpath(c, "c_empty.json", p, sizeof p), "");
    expect_config_refused(p, "JSON");
    static const char elf[] = "\x7f" "ELF\x02\x01\x01\0\0\0";
    write_bytes(tpath(c, "c_bin.json", p, sizeof p), elf, sizeof elf - 1);
    expect_config_refused(p, "JSON");
    static const char nul[] = "{\"out_dir\": \"a\0b\"}";
    write_bytes(tpath(c, "c_nul.json", p, sizeof p), nul, sizeof nul - 1);
    expect_config_refused(p, "NUL");
    size_t n;
    char *qs = slurp(tu_src("examples/quickstart.json", src, sizeof src), &n);
    CHECK(qs != NULL, "cannot read %s", src);
    for (int k = 1; qs && k < 10; k++) {
        char name[64];
        snprintf(name, sizeof name, "c_trunc%d.json", k);
        write_bytes(tpath(c, name, p, sizeof p), qs, n * (size_t)k / 10);
        expect_config_refused(p, "JSON");
    }
    free(qs);
    /* nesting deep enough to overflow a recursive parser's stack */
    size_t depth = 200000;
    char *deep = malloc(2 * depth + 1);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[2 * depth] = 0;
    write_bytes(tpath(c, "c_deep.json", p, sizeof p), deep, 2 * depth);
    expect_config_refused(p, "JSON");
    free(deep);
    /* a control character in a key: the message stays on one line */
    write_str(tpath(c, "c_ctrl.json", p, sizeof p), "{\"out_\n\tdir\": \"x\"}");
    expect_config_refused(p, "unknown key");
    /* huge numbers, negative sizes, a NaN-like literal */
    char txt[1024], js[4096];
    write_str(tpath(c, "c_train.txt", txt, sizeof txt), "some text\n");
    const char *vals[][3] = {{"c_huge.json", "\"model\": {\"dim\": 1e300}", "model.dim"},
                             {"c_big.json", "\"model\": {\"ctx\": 4294967304}", "model.ctx"},
                             {"c_neg.json", "\"train\": {\"batch\": -8}", "train.batch"},
                             {"c_frac.json", "\"train\": {\"steps\": 2.5}", "train.steps"},
                             {"c_nan.json", "\"train\": {\"lr\": NaN}", "JSON"}};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        snprintf(js, sizeof js, "{\"out_dir\": \"%s/o\", \"data\": {\"train\": [\"%s\"]}, %s}", c->dir, txt,
                 vals[i][1]);
        write_str(tpath(c, vals[i][0], p, sizeof p), js);
        expect_config_refused(p, vals[i][2]);
    }
}

/* ---- suites and text ---- */

static void expect_suite_refused(const char *path, const char *kw) {
    qd_suite s;
    memset(&s, 0, sizeof s);
    char err[256] = "";
    int rc = qd_suite_load_file(&s, path, err, sizeof err);
    CHECK(rc != 0, "%s was accepted as a suite", base_name(path));
    if (rc) CHECK_MSG(err, path, kw);
    else qd_suite_free(&s);
}

static void test_suites_text(const ctx_t *c) {
    char p[1024];
    write_str(tpath(c, "s_empty.jsonl", p, sizeof p), "");
    expect_suite_refused(p, "s_empty");
    const char *bad[][2] = {
        {"s_trunc.jsonl", "{\"prompt\": \"1+1=\", \"answer\": \"2\"}\n{\"prompt\": \"2+2=\", \"ans"},
        {"s_type.jsonl", "{\"prompt\": 5, \"answer\": \"2\"}\n"},
        {"s_noans.jsonl", "{\"prompt\": \"x\"}\n"},
        {"s_array.jsonl", "[\"x\", \"y\"]\n"},
        {"s_bin.jsonl", "\x89PNG\r\n\x1a\n"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_bytes(tpath(c, bad[i][0], p, sizeof p), bad[i][1], strlen(bad[i][1]));
        expect_suite_refused(p, ":");
    }
    /* an error on line 2 names the line */
    write_str(tpath(c, "s_line2.jsonl", p, sizeof p), "{\"prompt\": \"a\", \"answer\": \"b\"}\n{\"prompt\": 1}\n");
    expect_suite_refused(p, ":2");

    qd_text_data d;
    memset(&d, 0, sizeof d);
    char err[256] = "";
    write_bytes(tpath(c, "x_empty.txt", p, sizeof p), "", 0);
    int rc = qd_text_load(p, NULL, NULL, &d, err, sizeof err);
    CHECK(rc != 0, "an empty text file was accepted");
    if (rc) CHECK_MSG(err, p, "empty");
    qd_text_free(&d);
    rc = qd_text_load(c->dir, NULL, NULL, &d, err, sizeof err);
    CHECK(rc != 0, "a directory was accepted as a text file");
    if (rc) CHECK_MSG(err, c->dir, "");
    qd_text_free(&d);
}

/* ---- GGUF and safetensors (store/gguf.c, store/safetensors.c) ---- */

static void le64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void expect_gguf_refused(const char *path, const char *kw) {
    char err[1024] = "";
    qt_gguf *g = qt_gguf_read(path, err, sizeof err);
    CHECK(g == NULL, "%s was accepted as GGUF", base_name(path));
    if (!g) CHECK_MSG(err, path, kw);
    qt_gguf_free(g);
}

static void expect_st_refused(const char *path, const char *kw) {
    char err[1024] = "";
    qt_safetensors *st = qt_st_read(path, err, sizeof err);
    CHECK(st == NULL, "%s was accepted as safetensors", base_name(path));
    if (!st) CHECK_MSG(err, path, kw);
    qt_st_free(st);
}

static void test_gguf_safetensors(const ctx_t *c) {
    char p[1024];
    unsigned char h[64];
    write_bytes(tpath(c, "g_empty.gguf", p, sizeof p), "", 0);
    expect_gguf_refused(p, "g_empty");
    write_str(tpath(c, "g_magic.gguf", p, sizeof p), "GGML\3\0\0\0 this is not gguf at all.....");
    expect_gguf_refused(p, "g_magic");
    /* GGUF v3 header: magic, version, n_tensors, n_kv */
    memcpy(h, "GGUF", 4);
    h[4] = 3, h[5] = h[6] = h[7] = 0;
    le64(h + 8, (uint64_t)1 << 60); /* 2^60 tensors */
    le64(h + 16, 0);
    write_bytes(tpath(c, "g_tensors.gguf", p, sizeof p), h, 24);
    expect_gguf_refused(p, "g_tensors");
    le64(h + 8, 0);
    le64(h + 16, (uint64_t)1 << 60); /* 2^60 KVs */
    write_bytes(tpath(c, "g_kvs.gguf", p, sizeof p), h, 24);
    expect_gguf_refused(p, "g_kvs");
    le64(h + 16, 1);
    le64(h + 24, (uint64_t)1 << 62); /* a key of 2^62 bytes */
    memcpy(h + 32, "general.", 8);
    write_bytes(tpath(c, "g_keylen.gguf", p, sizeof p), h, 40);
    expect_gguf_refused(p, "g_keylen");
    write_bytes(tpath(c, "g_trunc.gguf", p, sizeof p), h, 10);
    expect_gguf_refused(p, "g_trunc");

    write_bytes(tpath(c, "s_empty.safetensors", p, sizeof p), "", 0);
    expect_st_refused(p, "s_empty");
    le64(h, (uint64_t)1 << 60); /* header length 2^60 */
    memcpy(h + 8, "{}", 2);
    write_bytes(tpath(c, "s_hdrlen.safetensors", p, sizeof p), h, 10);
    expect_st_refused(p, "s_hdrlen");
    le64(h, 100); /* header length past the end of the file */
    write_bytes(tpath(c, "s_past.safetensors", p, sizeof p), h, 10);
    expect_st_refused(p, "s_past");
    const char *js = "{\"w\": {\"dtype\": \"F32\", \"shape\": [1048576, 1048576], \"data_offsets\": [0, 4398046511104]}}";
    size_t jl = strlen(js);
    unsigned char *b = malloc(8 + jl + 16);
    le64(b, jl);
    memcpy(b + 8, js, jl);
    memset(b + 8 + jl, 0, 16);
    write_bytes(tpath(c, "s_offsets.safetensors", p, sizeof p), b, 8 + jl + 16);
    expect_st_refused(p, "s_offsets");
    js = "{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}";
    jl = strlen(js);
    le64(b, jl);
    memcpy(b + 8, js, jl);
    write_bytes(tpath(c, "s_json.safetensors", p, sizeof p), b, 8 + jl + 16);
    expect_st_refused(p, "s_json");
    free(b);
}

/* A writer killed mid-checkpoint leaves "<path>.tmp.<pid>": the next commit
 * of that path removes such files of dead processes (not of live ones). */
static void test_stale_tmp(const ctx_t *c) {
    char p[1024], dead[1100], live[1100], err[1024];
    tpath(c, "stale.h5", p, sizeof p);
    pid_t child = fork();
    if (child == 0) _exit(0);
    int st;
    waitpid(child, &st, 0);
    snprintf(dead, sizeof dead, "%s.tmp.%ld", p, (long)child);
    snprintf(live, sizeof live, "%s.tmp.%ld", p, (long)getppid());
    write_str(dead, "partial checkpoint of a killed writer");
    write_str(live, "checkpoint being written by a live process");
    qt_h5w *w = qt_h5w_open(p, err, sizeof err);
    CHECK(w && qt_h5w_int(w, "step", 1) == 0 && qt_h5w_commit(w, err, sizeof err) == 0, "commit: %s", err);
    CHECK(access(dead, F_OK) != 0, "the temp file of a dead writer was not removed");
    CHECK(access(live, F_OK) == 0, "the temp file of a live process was removed");
    unlink(live);
}

/* Disk full while writing a checkpoint or a token cache: in a child with
 * RLIMIT_FSIZE = 64 KiB (SIGXFSZ ignored, as qat_train does), both writers
 * fail with a message naming the file and the OS error, leave no temp file,
 * and the child then exits normally, running libhdf5's exit handlers (which
 * once crashed on the half-closed file a failed HDF5 write leaves). */
static void test_disk_full(const ctx_t *c) {
    char ck[1024], tk[1024];
    tpath(c, "full.h5", ck, sizeof ck);
    tpath(c, "full.tokens.h5", tk, sizeof tk);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {64 << 10, 64 << 10};
        if (setrlimit(RLIMIT_FSIZE, &rl)) _exit(10);
        int code = 0;
        char err[1024];
        size_t n = 1 << 18;
        float *big = calloc(n, sizeof *big);
        qt_h5w *w = qt_h5w_open(ck, err, sizeof err);
        if (!w) code = 11;
        else if (qt_h5w_f32(w, "w", 1, (int[]){(int)n}, big) == 0 && qt_h5w_commit(w, err, sizeof err) == 0)
            code = 12; /* written past the limit? */
        else if (!strstr(err, "full.h5") || !strstr(err, "too large")) code = 13;
        qd_tokens t = {calloc(n, sizeof(int32_t)), n, 0};
        uint64_t x = 88172645463325252ull; /* incompressible byte tokens */
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            t.tok[i] = (int32_t)(x & 255);
        }
        char terr[256];
        if (!code && qd_tokens_save_h5(tk, &t, NULL, terr, sizeof terr) == 0) code = 14;
        else if (!code && (!strstr(terr, "full.tokens.h5") || !strstr(terr, "too large"))) code = 15;
        if (code) fprintf(stderr, "disk full child: code %d: %s | %s\n", code, err, code >= 14 ? terr : "");
        free(t.tok);
        free(big);
        exit(code); /* exit(), not _exit(): libhdf5's atexit handlers run */
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "disk-full child: %s %d",
          WIFSIGNALED(st) ? "killed by signal" : "exit code", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
    DIR *d = opendir(c->dir);
    struct dirent *e;
    int tmps = 0;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, "full") && strstr(e->d_name, ".tmp")) tmps++;
    if (d) closedir(d);
    CHECK(tmps == 0, "%d temp file(s) left after a disk-full write", tmps);
    CHECK(access(ck, F_OK) != 0 && access(tk, F_OK) != 0, "a failed write left a file in place");
}

int main(int argc, char **argv) {
    const char *corpus = NULL;
    if (argc == 3 && !strcmp(argv[1], "--write-corpus")) corpus = argv[2];
#if !defined(__SANITIZE_ADDRESS__)
    /* a huge allocation attempt fails instead of succeeding lazily */
    struct rlimit rl = {(rlim_t)1 << 30, (rlim_t)1 << 30};
    setrlimit(RLIMIT_DATA, &rl);
#endif
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    ctx_t c;
    tu_tmpdir(c.dir, sizeof c.dir);
    test_checkpoints(&c, corpus);
    test_tokens(&c, corpus);
    test_configs(&c);
    test_suites_text(&c);
    test_gguf_safetensors(&c);
    test_stale_tmp(&c);
    test_disk_full(&c);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", c.dir);
    if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", c.dir);
    return tu_finish("test_bad_files");
}
