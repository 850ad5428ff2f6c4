/* Text files, split, HDF5 token files, mixture batcher; see dataset.h. */
#include "data/dataset.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- files */

void qd_tokens_free(qd_tokens *t) {
    if (!t) return;
    free(t->tok);
    t->tok = NULL;
    t->n = 0;
}

int qd_read_file(const char *path, char **data, size_t *len, char err[QD_ERR_LEN]) {
    *data = NULL;
    *len = 0;
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, QD_ERR_LEN, "%s: cannot open: %s (expected a readable file)", path,
                 strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, QD_ERR_LEN, "%s: not a regular file (expected a readable file)", path);
        return -1;
    }
    if (st.st_size == 0) {
        snprintf(err, QD_ERR_LEN, "%s: file is empty (expected some content)", path);
        return -1;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, QD_ERR_LEN, "%s: cannot open: %s (expected a readable file)", path,
                 strerror(errno));
        return -1;
    }
    size_t size = (size_t)st.st_size;
    char *buf = malloc(size + 1);
    if (!buf) {
        fclose(f);
        snprintf(err, QD_ERR_LEN, "%s: out of memory reading %zu bytes", path, size);
        return -1;
    }
    size_t got = fread(buf, 1, size, f);
    int rerr = ferror(f);
    fclose(f);
    if (got != size || rerr) {
        free(buf);
        snprintf(err, QD_ERR_LEN, "%s: read %zu of %zu bytes (file truncated or unreadable)",
                 path, got, size);
        return -1;
    }
    buf[size] = '\0';
    *data = buf;
    *len = size;
    return 0;
}

uint64_t qd_fnv1a64(const void *data, size_t n) {
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* ---------------------------------------------------------------- split */

qd_split_cfg qd_split_default(void) {
    qd_split_cfg c = {4096, 0.05, 1};
    return c;
}

static int check_split_cfg(const qd_split_cfg *cfg, char err[QD_ERR_LEN]) {
    if (cfg->chunk_bytes < 1) {
        snprintf(err, QD_ERR_LEN, "split: chunk_bytes is 0, expected >= 1");
        return -1;
    }
    if (!(cfg->val_fraction >= 0.0 && cfg->val_fraction < 1.0)) {
        snprintf(err, QD_ERR_LEN, "split: val_fraction is %g, expected a value in [0, 1)",
                 cfg->val_fraction);
        return -1;
    }
    return 0;
}

/* u_k in [0, 1) as a double (53 bits of the hash). */
static double split_u(uint64_t seed, size_t k) {
    return (double)(qrng_hash2(seed, (uint64_t)k) >> 11) * (1.0 / 9007199254740992.0);
}

int qd_split_plan(const char *text, size_t len, const qd_split_cfg *cfg, qd_chunk **chunks,
                  size_t *n_chunks, char err[QD_ERR_LEN]) {
    *chunks = NULL;
    *n_chunks = 0;
    if (check_split_cfg(cfg, err)) return -1;
    if (len == 0) {
        snprintf(err, QD_ERR_LEN, "split: text is empty, expected at least one byte");
        return -1;
    }
    size_t cap = len / cfg->chunk_bytes + 16, n = 0;
    qd_chunk *c = malloc(cap * sizeof *c);
    if (!c) {
        snprintf(err, QD_ERR_LEN, "split: out of memory");
        return -1;
    }
    size_t p = 0;
    while (p < len) {
        size_t end;
        if (len - p <= cfg->chunk_bytes) {
            end = len;
        } else {
            size_t lim = p + cfg->chunk_bytes; /* window text[p .. lim) */
            end = lim;                          /* hard cut unless a '\n' is found */
            for (size_t i = lim; i > p; i--) {
                if (text[i - 1] == '\n') {
                    end = i;
                    break;
                }
            }
        }
        if (n == cap) {
            cap *= 2;
            qd_chunk *nc = realloc(c, cap * sizeof *c);
            if (!nc) {
                free(c);
                snprintf(err, QD_ERR_LEN, "split: out of memory");
                return -1;
            }
            c = nc;
        }
        c[n].start = p;
        c[n].len = end - p;
        c[n].is_val = split_u(cfg->seed, n) < cfg->val_fraction;
        n++;
        p = end;
    }
    if (n >= 2 && cfg->val_fraction > 0.0) {
        size_t n_val = 0, i_min = 0, i_max = 0;
        double u_min = 2.0, u_max = -1.0;
        for (size_t k = 0; k < n; k++) {
            n_val += (size_t)c[k].is_val;
            double u = split_u(cfg->seed, k);
            if (u < u_min) u_min = u, i_min = k;
            if (u > u_max) u_max = u, i_max = k;
        }
        if (n_val == 0) c[i_min].is_val = 1;
        if (n_val == n) c[i_max].is_val = 0;
    }
    *chunks = c;
    *n_chunks = n;
    return 0;
}

int qd_split_text(const char *text, size_t len, const qd_split_cfg *cfg, qd_tokens *train,
                  qd_tokens *val, char err[QD_ERR_LEN]) {
    memset(train, 0, sizeof *train);
    memset(val, 0, sizeof *val);
    qd_chunk *c;
    size_t n;
    if (qd_split_plan(text, len, cfg, &c, &n, err)) return -1;
    size_t n_val = 0;
    for (size_t k = 0; k < n; k++)
        if (c[k].is_val) n_val += c[k].len;
    size_t n_train = len - n_val;
    train->tok = malloc((n_train ? n_train : 1) * sizeof(int32_t));
    val->tok = malloc((n_val ? n_val : 1) * sizeof(int32_t));
    if (!train->tok || !val->tok) {
        free(c);
        qd_tokens_free(train);
        qd_tokens_free(val);
        snprintf(err, QD_ERR_LEN, "split: out of memory for %zu tokens", len);
        return -1;
    }
    for (size_t k = 0; k < n; k++) {
        qd_tokens *dst = c[k].is_val ? val : train;
        qd_tok_encode(text + c[k].start, c[k].len, dst->tok + dst->n);
        dst->n += c[k].len;
    }
    free(c);
    return 0;
}

/* ---------------------------------------------------------------- HDF5 */

static int attr_write(hid_t obj, const char *name, hid_t type, const void *v) {
    hid_t sp = H5Screate(H5S_SCALAR);
    if (sp < 0) return -1;
    hid_t a = H5Acreate2(obj, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    int rc = -1;
    if (a >= 0) {
        rc = H5Awrite(a, type, v) < 0 ? -1 : 0;
        H5Aclose(a);
    }
    H5Sclose(sp);
    return rc;
}

/* Reads a scalar attribute if present; a missing one leaves *v unchanged. */
static void attr_read(hid_t obj, const char *name, hid_t type, void *v) {
    if (H5Aexists(obj, name) <= 0) return;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return;
    /* a single value only: an array attribute would overflow *v */
    hid_t sp = H5Aget_space(a);
    if (sp >= 0 && H5Sget_simple_extent_npoints(sp) == 1) H5Aread(a, type, v);
    if (sp >= 0) H5Sclose(sp);
    H5Aclose(a);
}

/* Closes f, an in-memory (core driver) HDF5 file, and writes its image to
 * path. Returns 0, or -1 with errno's text in why. The file is built in
 * memory because libhdf5 1.10 crashes at process exit after a failed write
 * to disk (disk full, `ulimit -f`); write(2) failing is an ordinary error. */
static int close_to_file(hid_t f, const char *path, char *why, size_t whylen) {
    snprintf(why, whylen, "HDF5 error");
    ssize_t n = H5Fflush(f, H5F_SCOPE_GLOBAL) < 0 ? -1 : H5Fget_file_image(f, NULL, 0);
    char *img = n > 0 ? malloc((size_t)n) : NULL;
    int ok = img && H5Fget_file_image(f, img, (size_t)n) == n;
    if (H5Fclose(f) < 0) ok = 0;
    if (!ok) {
        free(img);
        return -1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    size_t done = 0;
    while (fd >= 0 && done < (size_t)n) {
        ssize_t k = write(fd, img + done, (size_t)n - done);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        done += (size_t)k;
    }
    int e = errno;
    free(img);
    if (fd < 0 || done < (size_t)n) {
        if (fd >= 0) close(fd);
        snprintf(why, whylen, "%s", strerror(e));
        return -1;
    }
    if (close(fd) < 0) {
        snprintf(why, whylen, "%s", strerror(errno));
        return -1;
    }
    return 0;
}

int qd_tokens_save_h5(const char *path, const qd_tokens *t, const qd_token_meta *meta,
                      char err[QD_ERR_LEN]) {
    qd_token_meta zero;
    memset(&zero, 0, sizeof zero);
    if (!meta) meta = &zero;
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= sizeof tmp) {
        snprintf(err, QD_ERR_LEN, "%s: path too long", path);
        return -1;
    }
    int ok = 0, created = 0;
    char why[128] = "HDF5 error";
    hid_t f = -1, sp = -1, dcpl = -1, ds = -1;
    H5E_BEGIN_TRY {
        hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
        if (fapl >= 0 && H5Pset_fapl_core(fapl, (size_t)1 << 20, 0) >= 0)
            f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
        if (fapl >= 0) H5Pclose(fapl);
        created = f >= 0;
        if (f >= 0) {
            hsize_t dims[1] = {(hsize_t)t->n};
            sp = H5Screate_simple(1, dims, NULL);
            dcpl = H5Pcreate(H5P_DATASET_CREATE);
            if (sp >= 0 && dcpl >= 0 && t->n > 0) {
                hsize_t chunk[1] = {t->n < 65536 ? (hsize_t)t->n : 65536};
                H5Pset_chunk(dcpl, 1, chunk);
                if (H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0) {
                    H5Pset_shuffle(dcpl);
                    H5Pset_deflate(dcpl, 1);
                }
            }
            if (sp >= 0 && dcpl >= 0)
                ds = H5Dcreate2(f, "tokens", H5T_STD_I32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
            if (ds >= 0) {
                int32_t fmt = 1, vocab = QD_VOCAB;
                ok = (t->n == 0 ||
                      H5Dwrite(ds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, t->tok) >= 0) &&
                     attr_write(ds, "format_version", H5T_STD_I32LE, &fmt) == 0 &&
                     attr_write(ds, "vocab", H5T_STD_I32LE, &vocab) == 0 &&
                     attr_write(ds, "part", H5T_STD_I32LE, &meta->part) == 0 &&
                     attr_write(ds, "source_size", H5T_STD_U64LE, &meta->source_size) == 0 &&
                     attr_write(ds, "source_mtime_ns", H5T_STD_I64LE, &meta->source_mtime_ns) == 0 &&
                     attr_write(ds, "source_hash", H5T_STD_U64LE, &meta->source_hash) == 0 &&
                     attr_write(ds, "split_seed", H5T_STD_U64LE, &meta->split_seed) == 0 &&
                     attr_write(ds, "chunk_bytes", H5T_STD_U64LE, &meta->chunk_bytes) == 0 &&
                     attr_write(ds, "val_fraction", H5T_IEEE_F64LE, &meta->val_fraction) == 0;
            }
        }
        if (ds >= 0) H5Dclose(ds);
        if (dcpl >= 0) H5Pclose(dcpl);
        if (sp >= 0) H5Sclose(sp);
        if (f >= 0) {
            if (ok) ok = close_to_file(f, tmp, why, sizeof why) == 0;
            else H5Fclose(f);
        }
    } H5E_END_TRY;
    if (!created) {
        snprintf(err, QD_ERR_LEN, "%s: cannot create HDF5 file (is the directory writable?)", path);
        return -1;
    }
    if (!ok) {
        remove(tmp);
        snprintf(err, QD_ERR_LEN, "%s: failed writing %zu tokens to HDF5: %s", path, t->n, why);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        snprintf(err, QD_ERR_LEN, "%s: cannot rename the temporary file into place: %s", path,
                 strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}

int qd_tokens_load_h5(const char *path, qd_tokens *t, qd_token_meta *meta,
                      char err[QD_ERR_LEN]) {
    memset(t, 0, sizeof *t);
    if (meta) memset(meta, 0, sizeof *meta);
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, QD_ERR_LEN, "%s: cannot open: %s (expected an HDF5 token file)", path,
                 strerror(errno));
        return -1;
    }
    int rc = -1;
    hid_t f = -1, ds = -1, sp = -1;
    H5E_BEGIN_TRY {
        if (H5Fis_hdf5(path) <= 0) {
            snprintf(err, QD_ERR_LEN,
                     "%s: not an HDF5 file (truncated?); expected a token file with dataset "
                     "\"tokens\"", path);
            goto done;
        }
        f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
        if (f < 0) {
            snprintf(err, QD_ERR_LEN, "%s: cannot open as HDF5 (truncated or corrupt?)", path);
            goto done;
        }
        if (H5Lexists(f, "tokens", H5P_DEFAULT) <= 0 ||
            (ds = H5Dopen2(f, "tokens", H5P_DEFAULT)) < 0) {
            snprintf(err, QD_ERR_LEN, "%s: no dataset \"tokens\" (expected a qatc token file)",
                     path);
            goto done;
        }
        sp = H5Dget_space(ds);
        hsize_t dims[2] = {0, 0};
        int rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
        if (rank != 1) {
            snprintf(err, QD_ERR_LEN, "%s: dataset \"tokens\" has rank %d, expected 1", path,
                     rank);
            goto done;
        }
        H5Sget_simple_extent_dims(sp, dims, NULL);
        hid_t dt = H5Dget_type(ds);
        H5T_class_t cls = H5Tget_class(dt);
        H5Tclose(dt);
        if (cls != H5T_INTEGER) {
            snprintf(err, QD_ERR_LEN, "%s: dataset \"tokens\" is not an integer array", path);
            goto done;
        }
        /* refuse a declared length the file cannot hold before allocating for
         * it: stored (deflated) bytes bound the tokens (deflate expands at most
         * ~1032x; 4096x leaves room for the shuffle filter) */
        hsize_t stored = H5Dget_storage_size(ds);
        if (dims[0] > ((hsize_t)1 << 40) || dims[0] * sizeof(int32_t) > (stored + 4096) * 4096) {
            snprintf(err, QD_ERR_LEN,
                     "%s: dataset \"tokens\" declares %llu tokens but stores only %llu bytes (corrupt file?)",
                     path, (unsigned long long)dims[0], (unsigned long long)stored);
            goto done;
        }
        size_t n = (size_t)dims[0];
        t->tok = malloc((n ? n : 1) * sizeof(int32_t));
        if (!t->tok) {
            snprintf(err, QD_ERR_LEN, "%s: out of memory for %zu tokens", path, n);
            goto done;
        }
        if (n > 0 && H5Dread(ds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, t->tok) < 0) {
            snprintf(err, QD_ERR_LEN, "%s: cannot read %zu tokens (truncated or corrupt?)", path,
                     n);
            goto done;
        }
        for (size_t i = 0; i < n; i++) {
            if (t->tok[i] < 0 || t->tok[i] >= QD_VOCAB) {
                snprintf(err, QD_ERR_LEN, "%s: token %zu is %d, expected a byte token in [0, %d)",
                         path, i, (int)t->tok[i], QD_VOCAB);
                goto done;
            }
        }
        t->n = n;
        if (meta) {
            attr_read(ds, "part", H5T_NATIVE_INT32, &meta->part);
            attr_read(ds, "source_size", H5T_NATIVE_UINT64, &meta->source_size);
            attr_read(ds, "source_mtime_ns", H5T_NATIVE_INT64, &meta->source_mtime_ns);
            attr_read(ds, "source_hash", H5T_NATIVE_UINT64, &meta->source_hash);
            attr_read(ds, "split_seed", H5T_NATIVE_UINT64, &meta->split_seed);
            attr_read(ds, "chunk_bytes", H5T_NATIVE_UINT64, &meta->chunk_bytes);
            attr_read(ds, "val_fraction", H5T_NATIVE_DOUBLE, &meta->val_fraction);
        }
        rc = 0;
    done:
        if (sp >= 0) H5Sclose(sp);
        if (ds >= 0) H5Dclose(ds);
        if (f >= 0) H5Fclose(f);
    } H5E_END_TRY;
    if (rc != 0) qd_tokens_free(t);
    return rc;
}

/* ---------------------------------------------------------------- text */

void qd_text_free(qd_text_data *d) {
    if (!d) return;
    qd_tokens_free(&d->train);
    qd_tokens_free(&d->val);
}

static int meta_matches(const qd_token_meta *a, const qd_token_meta *b, int32_t part) {
    return a->part == part && a->source_size == b->source_size &&
           a->source_hash == b->source_hash && a->split_seed == b->split_seed &&
           a->chunk_bytes == b->chunk_bytes && a->val_fraction == b->val_fraction;
}

int qd_text_load(const char *path, const qd_split_cfg *cfg, const char *cache_prefix,
                 qd_text_data *out, char err[QD_ERR_LEN]) {
    memset(out, 0, sizeof *out);
    qd_split_cfg def = qd_split_default();
    if (!cfg) cfg = &def;
    if (check_split_cfg(cfg, err)) return -1;
    char *text;
    size_t len;
    if (qd_read_file(path, &text, &len, err)) return -1;
    struct stat st;
    qd_token_meta m;
    memset(&m, 0, sizeof m);
    if (stat(path, &st) == 0)
        m.source_mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    m.source_size = len;
    m.source_hash = qd_fnv1a64(text, len);
    m.split_seed = cfg->seed;
    m.chunk_bytes = cfg->chunk_bytes;
    m.val_fraction = cfg->val_fraction;
    m.part = QD_PART_ALL;
    out->meta = m;

    char ptrain[4096], pval[4096];
    if (cache_prefix) {
        if ((size_t)snprintf(ptrain, sizeof ptrain, "%s.train.h5", cache_prefix) >= sizeof ptrain ||
            (size_t)snprintf(pval, sizeof pval, "%s.val.h5", cache_prefix) >= sizeof pval) {
            free(text);
            snprintf(err, QD_ERR_LEN, "%s: cache prefix too long", cache_prefix);
            return -1;
        }
        qd_token_meta mt, mv;
        char e2[QD_ERR_LEN];
        if (qd_tokens_load_h5(ptrain, &out->train, &mt, e2) == 0 &&
            qd_tokens_load_h5(pval, &out->val, &mv, e2) == 0 &&
            meta_matches(&mt, &m, QD_PART_TRAIN) && meta_matches(&mv, &m, QD_PART_VAL) &&
            out->train.n + out->val.n == len) {
            out->from_cache = 1;
            free(text);
            return 0;
        }
        qd_text_free(out); /* stale or missing: rebuild */
    }
    int rc = qd_split_text(text, len, cfg, &out->train, &out->val, err);
    free(text);
    if (rc) {
        /* name the file: the split's own message does not know it */
        char e2[QD_ERR_LEN];
        snprintf(e2, sizeof e2, "%s: %s", path, err);
        memcpy(err, e2, QD_ERR_LEN);
        return -1;
    }
    if (cache_prefix) {
        qd_token_meta mt = m, mv = m;
        mt.part = QD_PART_TRAIN;
        mv.part = QD_PART_VAL;
        if (qd_tokens_save_h5(ptrain, &out->train, &mt, err) ||
            qd_tokens_save_h5(pval, &out->val, &mv, err)) {
            qd_text_free(out);
            return -1;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- windows */

size_t qd_tokens_n_windows(const qd_tokens *t, int T) {
    if (T <= 0 || t->n < (size_t)T + 1) return 0;
    return (t->n - 1) / (size_t)T;
}

void qd_tokens_window(const qd_tokens *t, size_t i, int T, int32_t *x, int32_t *y) {
    const int32_t *p = t->tok + i * (size_t)T;
    memcpy(x, p, (size_t)T * sizeof(int32_t));
    memcpy(y, p + 1, (size_t)T * sizeof(int32_t));
}

/* ---------------------------------------------------------------- mixture */

void qd_mix_init(qd_mix *m) { memset(m, 0, sizeof *m); }

void qd_mix_free(qd_mix *m) {
    if (!m) return;
    for (int i = 0; i < m->n_src; i++) {
        free(m->src[i].tok);
        free(m->src[i].starts);
    }
    free(m->src);
    memset(m, 0, sizeof *m);
}

int qd_mix_add(qd_mix *m, const char *name, const int32_t *tok, size_t n, const size_t *starts,
               size_t n_starts, double weight, char err[QD_ERR_LEN]) {
    if (!name) name = "?";
    if (n == 0) {
        snprintf(err, QD_ERR_LEN, "mixture: source \"%s\" is empty, expected tokens", name);
        return -1;
    }
    if (!(weight >= 0.0) || isinf(weight)) {
        snprintf(err, QD_ERR_LEN, "mixture: source \"%s\" has weight %g, expected >= 0", name,
                 weight);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (tok[i] < 0 || tok[i] >= QD_VOCAB) {
            snprintf(err, QD_ERR_LEN,
                     "mixture: source \"%s\" token %zu is %d, expected [0, %d)", name, i,
                     (int)tok[i], QD_VOCAB);
            return -1;
        }
    }
    if (starts) {
        if (n_starts == 0) {
            snprintf(err, QD_ERR_LEN, "mixture: source \"%s\" has an empty start list", name);
            return -1;
        }
        for (size_t i = 0; i < n_starts; i++) {
            if (starts[i] >= n || (i > 0 && starts[i] <= starts[i - 1])) {
                snprintf(err, QD_ERR_LEN,
                         "mixture: source \"%s\" start %zu is %zu, expected ascending and < %zu",
                         name, i, starts[i], n);
                return -1;
            }
        }
    }
    if (m->n_src == m->cap) {
        int cap = m->cap ? 2 * m->cap : 4;
        qd_source *ns = realloc(m->src, (size_t)cap * sizeof *ns);
        if (!ns) {
            snprintf(err, QD_ERR_LEN, "mixture: out of memory");
            return -1;
        }
        m->src = ns;
        m->cap = cap;
    }
    qd_source *s = &m->src[m->n_src];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->tok = malloc(n * sizeof(int32_t));
    s->starts = starts ? malloc(n_starts * sizeof(size_t)) : NULL;
    if (!s->tok || (starts && !s->starts)) {
        free(s->tok);
        free(s->starts);
        snprintf(err, QD_ERR_LEN, "mixture: out of memory copying \"%s\"", name);
        return -1;
    }
    memcpy(s->tok, tok, n * sizeof(int32_t));
    if (starts) memcpy(s->starts, starts, n_starts * sizeof(size_t));
    s->n = n;
    s->n_starts = starts ? n_starts : 0;
    s->weight = weight;
    m->n_src++;
    return 0;
}

/* Number of allowed starts s with s + T + 1 <= n (starts ascending). */
static size_t usable_starts(const qd_source *s, int T) {
    if (s->n < (size_t)T + 1) return 0;
    size_t maxs = s->n - (size_t)T - 1;
    if (!s->starts) return maxs + 1;
    size_t lo = 0, hi = s->n_starts; /* first index with starts[i] > maxs */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->starts[mid] <= maxs) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

int qd_mix_batch(const qd_mix *m, int B, int T, qrng *rng, int32_t *x, int32_t *y,
                 int *src_of_row, char err[QD_ERR_LEN]) {
    if (B <= 0 || T <= 0) {
        snprintf(err, QD_ERR_LEN, "batch: B=%d T=%d, expected both >= 1", B, T);
        return -1;
    }
    double total = 0.0;
    for (int i = 0; i < m->n_src; i++) {
        const qd_source *s = &m->src[i];
        if (s->weight <= 0.0) continue;
        if (usable_starts(s, T) == 0) {
            snprintf(err, QD_ERR_LEN,
                     "batch: source \"%s\" has %zu tokens%s, expected a window of T+1 = %d",
                     s->name, s->n, s->starts ? " (counting from its allowed starts)" : "",
                     T + 1);
            return -1;
        }
        total += s->weight;
    }
    if (!(total > 0.0)) {
        snprintf(err, QD_ERR_LEN, "batch: the mixture has no source with weight > 0");
        return -1;
    }
    for (int b = 0; b < B; b++) {
        double u = qrng_uniform_d(rng) * total, acc = 0.0;
        int pick = -1;
        for (int i = 0; i < m->n_src; i++) {
            if (m->src[i].weight <= 0.0) continue;
            pick = i; /* the last weighted source absorbs rounding at the top end */
            acc += m->src[i].weight;
            if (u < acc) break;
        }
        const qd_source *s = &m->src[pick];
        size_t k = (size_t)qrng_below(rng, usable_starts(s, T));
        size_t st = s->starts ? s->starts[k] : k;
        memcpy(x + (size_t)b * T, s->tok + st, (size_t)T * sizeof(int32_t));
        memcpy(y + (size_t)b * T, s->tok + st + 1, (size_t)T * sizeof(int32_t));
        if (src_of_row) src_of_row[b] = pick;
    }
    return 0;
}
