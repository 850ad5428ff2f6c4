/* qatc store/h5store: checkpoint store over HDF5 (see h5store.h). */
#include "store/h5store.h"

#include "base/err.h"
#include "base/files.h"
#include "store/h5image.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <hdf5.h>

#define ERR_LEN 768
#define ESC_CAP (3 * QT_H5_MAX_NAME + 1)

/* ---------------------------------------------------------------- helpers */


/* HDF5's automatic error printing is switched off for the duration of each
 * public call and restored afterwards, so other HDF5 users keep theirs. */
typedef struct {
    H5E_auto2_t fn;
    void *data;
    int ok;
} h5_quiet;

static void quiet_on(h5_quiet *q) {
    q->fn = NULL;
    q->data = NULL;
    q->ok = H5Eget_auto2(H5E_DEFAULT, &q->fn, &q->data) >= 0;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void quiet_off(h5_quiet *q) {
    if (q->ok) H5Eset_auto2(H5E_DEFAULT, q->fn, q->data);
}

typedef struct {
    char msg[320];
    int found;
} h5_detail;

static herr_t detail_cb(unsigned n, const H5E_error2_t *e, void *cd) {
    h5_detail *d = cd;
    (void)n;
    if (d->found || !e || !e->desc || !e->desc[0]) return 0;
    d->found = 1;
    /* Low-level I/O messages look like "file write failed: time = ...,
     * ..., error message = 'File too large', ..."; keep the gist. */
    const char *em = strstr(e->desc, "error message = '");
    if (em) {
        const char *colon = strchr(e->desc, ':');
        int head = colon ? (int)(colon - e->desc) : 0;
        em += strlen("error message = '");
        const char *end = strchr(em, '\'');
        int elen = end ? (int)(end - em) : (int)strlen(em);
        snprintf(d->msg, sizeof d->msg, "%.*s: %.*s", head > 120 ? 120 : head, e->desc,
                 elen > 150 ? 150 : elen, em);
    } else {
        snprintf(d->msg, sizeof d->msg, "%s", e->desc);
    }
    for (char *p = d->msg; *p; p++)
        if ((unsigned char)*p < 32) *p = ' ';
    return 0;
}

/* The innermost message of HDF5's current error stack (call right after a
 * failed HDF5 call), or "unknown HDF5 error". */
static const char *h5_detail_str(h5_detail *d) {
    d->found = 0;
    d->msg[0] = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, detail_cb, d);
    if (!d->msg[0]) snprintf(d->msg, sizeof d->msg, "unknown HDF5 error");
    return d->msg;
}

static char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

/* Entry name -> HDF5 link name: '%' -> %25, '/' -> %2F, "." -> %2E. */
static int escape_name(const char *name, char *out, size_t cap) {
    size_t n = strlen(name);
    if (n == 0 || n > QT_H5_MAX_NAME) return -1;
    if (strcmp(name, ".") == 0) {
        snprintf(out, cap, "%%2E");
        return 0;
    }
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (j + 4 > cap) return -1;
        if (name[i] == '%') { memcpy(out + j, "%25", 3); j += 3; }
        else if (name[i] == '/') { memcpy(out + j, "%2F", 3); j += 3; }
        else out[j++] = name[i];
    }
    out[j] = 0;
    return 0;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* HDF5 link name -> entry name (malformed escapes are kept literally). */
static char *unescape_name(const char *h5) {
    size_t n = strlen(h5);
    char *out = malloc(n + 1);
    if (!out) return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (h5[i] == '%' && i + 2 < n && (hi = hexval(h5[i + 1])) >= 0 && (lo = hexval(h5[i + 2])) >= 0) {
            out[j++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[j++] = h5[i];
        }
    }
    out[j] = 0;
    return out;
}

static const char *shape_str(int ndim, const hsize_t *d, char *buf, size_t len) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, len - o, "[");
    for (int i = 0; i < ndim && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, i ? ", %llu" : "%llu", (unsigned long long)d[i]);
    if (o < len) snprintf(buf + o, len - o, "]");
    return buf;
}

/* Validates a caller shape and converts it; returns the element count via n. */
static int shape_in(int ndim, const int *shape, hsize_t *dims, size_t *n) {
    if (ndim < 1 || ndim > QT_H5_MAX_DIMS || !shape) return -1;
    size_t c = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return -1;
        dims[i] = (hsize_t)shape[i];
        c *= (size_t)shape[i];
    }
    *n = c;
    return 0;
}

static const char *int_shape_str(int ndim, const int *shape, char *buf, size_t len) {
    size_t o = (size_t)snprintf(buf, len, "[");
    for (int i = 0; shape && i < ndim && i < QT_H5_MAX_DIMS && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, i ? ", %d" : "%d", shape[i]);
    if (o < len) snprintf(buf + o, len - o, "]");
    return buf;
}

const char *qt_h5_kind_name(qt_h5_kind k) {
    switch (k) {
    case QT_H5_NONE: return "nothing";
    case QT_H5_F32: return "float32 array";
    case QT_H5_I32: return "int32 array";
    case QT_H5_I64: return "int64 array";
    case QT_H5_U64: return "uint64 array";
    case QT_H5_INT: return "int64 scalar";
    case QT_H5_DOUBLE: return "double scalar";
    case QT_H5_STRING: return "string";
    case QT_H5_OTHER: return "unsupported object";
    }
    return "unknown";
}

static hid_t make_fapl(void) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return -1;
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
#if H5_VERSION_GE(1, 10, 7)
    /* Keep HDF5's file locks, but do not fail on filesystems without them. */
    H5Pset_file_locking(fapl, 1, 1);
#endif
    return fapl;
}

/* Reads a scalar string from an attribute (is_attr) or a dataset, fixed or
 * variable length. Returns a malloc'd string or NULL (HDF5 stack set). */
static char *read_h5_string(hid_t obj, int is_attr, h5_detail *d) {
    hid_t ftype = is_attr ? H5Aget_type(obj) : H5Dget_type(obj);
    if (ftype < 0) {
        h5_detail_str(d);
        return NULL;
    }
    char *res = NULL;
    if (H5Tget_class(ftype) != H5T_STRING) {
        snprintf(d->msg, sizeof d->msg, "not a string");
        H5Tclose(ftype);
        return NULL;
    }
    htri_t vl = H5Tis_variable_str(ftype);
    hid_t mtype = H5Tcopy(H5T_C_S1);
    hid_t space = is_attr ? H5Aget_space(obj) : H5Dget_space(obj);
    H5T_cset_t cset = H5Tget_cset(ftype);
    if (mtype < 0 || space < 0 || vl < 0 || cset < 0 || H5Tset_cset(mtype, cset) < 0) goto h5fail;
    if (H5Sget_simple_extent_npoints(space) != 1) {
        snprintf(d->msg, sizeof d->msg, "not a single string");
        goto done;
    }
    if (vl > 0) {
        char *p = NULL;
        if (H5Tset_size(mtype, H5T_VARIABLE) < 0) goto h5fail;
        herr_t rc = is_attr ? H5Aread(obj, mtype, &p) : H5Dread(obj, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, &p);
        if (rc < 0) goto h5fail;
        res = xstrdup(p ? p : "");
        H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, &p);
    } else {
        size_t sz = H5Tget_size(ftype);
        if (sz == 0 || H5Tset_size(mtype, sz) < 0 || H5Tset_strpad(mtype, H5T_STR_NULLPAD) < 0) goto h5fail;
        char *buf = calloc(sz + 1, 1);
        if (!buf) {
            snprintf(d->msg, sizeof d->msg, "out of memory");
            goto done;
        }
        herr_t rc = is_attr ? H5Aread(obj, mtype, buf) : H5Dread(obj, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
        if (rc < 0) {
            free(buf);
            goto h5fail;
        }
        buf[sz] = 0;
        res = buf;
    }
    goto done;
h5fail:
    h5_detail_str(d);
done:
    if (space >= 0) H5Sclose(space);
    if (mtype >= 0) H5Tclose(mtype);
    H5Tclose(ftype);
    return res;
}

/* A fixed-length, NUL-padded UTF-8 string type for text of length len. */
static hid_t string_type(size_t len) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return -1;
    if (H5Tset_size(t, len ? len : 1) < 0 || H5Tset_strpad(t, H5T_STR_NULLPAD) < 0 ||
        H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

/* ----------------------------------------------------------------- writer */

struct qt_h5w {
    hid_t file;      /* < 0 once closed */
    char *path;      /* final path */
    qt_afile out;    /* the temp file "<path>.tmp.<pid>" the image is written to */
    int failed;
    char err[ERR_LEN];
};

/* Closes (ignoring errors) and removes the temp file. */
static void w_discard(qt_h5w *w) {
    if (w->file >= 0) {
        H5Fclose(w->file);
        w->file = -1;
    }
    if (w->out.f) qt_afile_abort(&w->out);
}

static int w_fail(qt_h5w *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int w_fail(qt_h5w *w, const char *fmt, ...) {
    if (!w->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->err, sizeof w->err, fmt, ap);
        va_end(ap);
        for (char *p = w->err; *p; p++)
            if (*p == '\n' || *p == '\r' || *p == '\t') *p = ' ';
        w->failed = 1;
    }
    w_discard(w);
    return -1;
}

static void w_free(qt_h5w *w) {
    if (w->out.f) qt_afile_abort(&w->out);
    free(w->path);
    free(w);
}

static int write_attr_string(hid_t file, const char *name, const char *text, h5_detail *d) {
    hid_t t = string_type(strlen(text));
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = (t >= 0 && sp >= 0) ? H5Acreate2(file, name, t, sp, H5P_DEFAULT, H5P_DEFAULT) : -1;
    herr_t rc = a >= 0 ? H5Awrite(a, t, text) : -1;
    if (a >= 0 && H5Aclose(a) < 0) rc = -1;
    if (rc < 0) h5_detail_str(d);
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    return rc < 0 ? -1 : 0;
}

static int write_attr_int(hid_t file, const char *name, int64_t v, h5_detail *d) {
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = sp >= 0 ? H5Acreate2(file, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT) : -1;
    herr_t rc = a >= 0 ? H5Awrite(a, H5T_NATIVE_INT64, &v) : -1;
    if (a >= 0 && H5Aclose(a) < 0) rc = -1;
    if (rc < 0) h5_detail_str(d);
    if (sp >= 0) H5Sclose(sp);
    return rc < 0 ? -1 : 0;
}

/* Opens a writer; header: write the root format / version attributes. */
static qt_h5w *w_open(const char *path, int header, char *err, size_t errlen) {
    if (!path || !*path) {
        qt_set_err(err, errlen, "checkpoint writer: empty path");
        return NULL;
    }
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        qt_set_err(err, errlen, "%s: is a directory, expected a checkpoint file path", path);
        return NULL;
    }
    qt_h5w *w = calloc(1, sizeof *w);
    if (!w || !(w->path = xstrdup(path))) {
        qt_set_err(err, errlen, "%s: out of memory", path);
        if (w) w_free(w);
        return NULL;
    }
    w->file = -1;
    /* Create the temp file ourselves first: a clean errno message for a
     * missing directory or a permission problem. */
    if (qt_afile_open(&w->out, path, err, errlen)) {
        w_free(w);
        return NULL;
    }

    h5_quiet q;
    quiet_on(&q);
    h5_detail d;
    hid_t fapl = make_fapl();
    /* The file is built in memory (core driver, no backing store) and
     * commit writes its image to the temp file with plain write(2). With a
     * driver that writes to disk, a failed write (disk full, EFBIG past
     * `ulimit -f`) leaves libhdf5 1.10 with a half-closed file that crashes
     * the process at exit (H5F__close_cb from H5_term_library); in memory,
     * closing never fails. Cost: the checkpoint is held in memory (twice,
     * briefly, at commit). */
    if (fapl >= 0 && H5Pset_fapl_core(fapl, (size_t)1 << 20, 0) < 0) {
        H5Pclose(fapl);
        fapl = -1;
    }
    /* a user block for qatc's integrity header (store/h5image.h), filled at commit */
    hid_t fcpl = qt_h5image_fcpl();
    w->file = fapl >= 0 && fcpl >= 0 ? H5Fcreate(w->out.tmp, H5F_ACC_TRUNC, fcpl, fapl) : -1;
    if (w->file < 0) h5_detail_str(&d);
    if (fapl >= 0) H5Pclose(fapl);
    if (fcpl >= 0) H5Pclose(fcpl);
    if (w->file < 0) {
        qt_set_err(err, errlen, "%s: cannot create HDF5 file %s: %s", path, w->out.tmp, d.msg);
        w_discard(w);
        w_free(w);
        quiet_off(&q);
        return NULL;
    }
    if (header && (write_attr_string(w->file, "format", QT_H5_FORMAT, &d) < 0 ||
                   write_attr_int(w->file, "version", QT_H5_VERSION, &d) < 0)) {
        qt_set_err(err, errlen, "%s: cannot write header attributes: %s", path, d.msg);
        w_discard(w);
        w_free(w);
        quiet_off(&q);
        return NULL;
    }
    quiet_off(&q);
    return w;
}

qt_h5w *qt_h5w_open(const char *path, char *err, size_t errlen) { return w_open(path, 1, err, errlen); }

qt_h5w *qt_h5w_open_bare(const char *path, char *err, size_t errlen) { return w_open(path, 0, err, errlen); }

const char *qt_h5w_error(const qt_h5w *w) { return w ? w->err : "no writer"; }

/* Common entry checks; fills the escaped name. Call inside quiet_on. */
static int w_begin(qt_h5w *w, const char *name, char *h5name) {
    if (w->failed) return -1;
    if (!name || escape_name(name, h5name, ESC_CAP) < 0)
        return w_fail(w, "%s: invalid entry name \"%.64s\" (expected 1..%d bytes)", w->path, name ? name : "(null)",
                      QT_H5_MAX_NAME);
    htri_t ex = H5Lexists(w->file, h5name, H5P_DEFAULT);
    if (ex != 0) {
        h5_detail d;
        if (ex > 0) return w_fail(w, "%s: entry \"%s\" written twice", w->path, name);
        return w_fail(w, "%s: entry \"%s\": %s", w->path, name, h5_detail_str(&d));
    }
    return 0;
}

/* Chunk dims: the whole array, cut down from the first dim to <= target elements. */
static void chunk_dims(int ndim, const hsize_t *dims, hsize_t target, hsize_t *chunk) {
    for (int i = 0; i < ndim; i++) chunk[i] = dims[i];
    for (int i = 0; i < ndim; i++) {
        hsize_t inner = 1;
        for (int j = i + 1; j < ndim; j++) inner *= chunk[j];
        if (chunk[i] * inner <= target) break;
        hsize_t c = inner >= target ? 1 : target / inner;
        chunk[i] = c < 1 ? 1 : c;
        if (chunk[i] * inner <= target) break;
    }
}

/* Creates a dataset with obj time tracking off (files are reproducible). */
static hid_t create_dset(hid_t file, const char *h5name, hid_t ftype, hid_t space, hid_t dcpl_in,
                         h5_detail *d) {
    hid_t dcpl = dcpl_in >= 0 ? dcpl_in : H5Pcreate(H5P_DATASET_CREATE);
    if (dcpl < 0) {
        h5_detail_str(d);
        return -1;
    }
    H5Pset_obj_track_times(dcpl, 0);
    hid_t ds = H5Dcreate2(file, h5name, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (ds < 0) h5_detail_str(d);
    if (dcpl_in < 0) H5Pclose(dcpl);
    return ds;
}

/* How an array entry is stored. */
typedef struct {
    hid_t ftype, mtype;
    size_t esize;
    int finite;  /* refuse NaN/Inf (float32) */
    int deflate; /* 64 Ki-element chunks, shuffle + deflate level 1, no checksum */
} arr_type;

/* Adds an array of shape[ndim], or (shape NULL) a 1-D array of n1 elements. */
static int w_array(qt_h5w *w, const char *name, int ndim, const int *shape, size_t n1, const arr_type *t,
                   const void *data) {
    if (!w) return -1;
    h5_quiet q;
    quiet_on(&q);
    h5_detail d;
    char h5name[ESC_CAP];
    int rc = -1;
    hid_t space = -1, dcpl = -1, ds = -1;
    if (w_begin(w, name, h5name) < 0) goto out;
    hsize_t dims[QT_H5_MAX_DIMS] = {n1};
    size_t n = n1;
    if (!shape) ndim = 1;
    else if (shape_in(ndim, shape, dims, &n) < 0) {
        char sb[160];
        w_fail(w, "%s: entry \"%s\": invalid shape %s (expected 1..%d dims, each >= 0)", w->path, name,
               int_shape_str(ndim, shape, sb, sizeof sb), QT_H5_MAX_DIMS);
        goto out;
    }
    if (n > 0 && !data) {
        w_fail(w, "%s: entry \"%s\": NULL data", w->path, name);
        goto out;
    }
    if (t->finite) {
        const float *f = data;
        for (size_t i = 0; i < n; i++)
            if (!isfinite(f[i])) {
                w_fail(w, "%s: dataset \"%s\": refusing to write non-finite value %g at index %zu", w->path, name,
                       (double)f[i], i);
                goto out;
            }
    }
    space = H5Screate_simple(ndim, dims, NULL);
    if (space < 0) goto h5err;
    if (n > 0) {
        hsize_t chunk[QT_H5_MAX_DIMS];
        chunk_dims(ndim, dims, t->deflate ? 65536 : ((hsize_t)16 << 20) / t->esize, chunk);
        dcpl = H5Pcreate(H5P_DATASET_CREATE);
        if (dcpl < 0 || H5Pset_chunk(dcpl, ndim, chunk) < 0) goto h5err;
        if (t->deflate ? H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0 &&
                             (H5Pset_shuffle(dcpl) < 0 || H5Pset_deflate(dcpl, 1) < 0)
                       : H5Pset_fletcher32(dcpl) < 0)
            goto h5err;
    }
    ds = create_dset(w->file, h5name, t->ftype, space, dcpl, &d);
    if (ds < 0) goto failed;
    if (n > 0 && H5Dwrite(ds, t->mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) goto h5err;
    herr_t c = H5Dclose(ds);
    ds = -1;
    if (c < 0) goto h5err;
    rc = 0;
    goto out;
h5err:
    h5_detail_str(&d);
failed:
    w_fail(w, "%s: writing dataset \"%s\" failed: %s", w->path, name, d.msg);
out:
    if (ds >= 0) H5Dclose(ds);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (space >= 0) H5Sclose(space);
    quiet_off(&q);
    return rc;
}

int qt_h5w_f32(qt_h5w *w, const char *name, int ndim, const int *shape, const float *data) {
    const arr_type t = {H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 4, 1, 0};
    return w_array(w, name, ndim, shape, 0, &t, data);
}

int qt_h5w_i32(qt_h5w *w, const char *name, int ndim, const int *shape, const int32_t *data) {
    const arr_type t = {H5T_STD_I32LE, H5T_NATIVE_INT32, 4, 0, 0};
    return w_array(w, name, ndim, shape, 0, &t, data);
}

int qt_h5w_i32_deflate(qt_h5w *w, const char *name, size_t n, const int32_t *data) {
    const arr_type t = {H5T_STD_I32LE, H5T_NATIVE_INT32, 4, 0, 1};
    return w_array(w, name, 1, NULL, n, &t, data);
}

int qt_h5w_i64(qt_h5w *w, const char *name, int ndim, const int *shape, const int64_t *data) {
    const arr_type t = {H5T_STD_I64LE, H5T_NATIVE_INT64, 8, 0, 0};
    return w_array(w, name, ndim, shape, 0, &t, data);
}

int qt_h5w_u64(qt_h5w *w, const char *name, int ndim, const int *shape, const uint64_t *data) {
    const arr_type t = {H5T_STD_U64LE, H5T_NATIVE_UINT64, 8, 0, 0};
    return w_array(w, name, ndim, shape, 0, &t, data);
}

/* A scalar dataset of ftype written from mem (mtype). */
static int w_scalar(qt_h5w *w, const char *name, hid_t ftype, hid_t mtype, const void *mem, const char *what) {
    if (!w) return -1;
    h5_quiet q;
    quiet_on(&q);
    h5_detail d;
    char h5name[ESC_CAP];
    int rc = -1;
    hid_t space = -1, ds = -1;
    if (w_begin(w, name, h5name) < 0) goto out;
    space = H5Screate(H5S_SCALAR);
    if (space < 0) goto h5err;
    ds = create_dset(w->file, h5name, ftype, space, -1, &d);
    if (ds < 0) goto failed;
    if (H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, mem) < 0) goto h5err;
    herr_t c = H5Dclose(ds);
    ds = -1;
    if (c < 0) goto h5err;
    rc = 0;
    goto out;
h5err:
    h5_detail_str(&d);
failed:
    w_fail(w, "%s: writing %s \"%s\" failed: %s", w->path, what, name, d.msg);
out:
    if (ds >= 0) H5Dclose(ds);
    if (space >= 0) H5Sclose(space);
    quiet_off(&q);
    return rc;
}

int qt_h5w_int(qt_h5w *w, const char *name, int64_t v) {
    return w_scalar(w, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v, "scalar");
}

int qt_h5w_double(qt_h5w *w, const char *name, double v) {
    return w_scalar(w, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v, "scalar");
}

int qt_h5w_string(qt_h5w *w, const char *name, const char *text) {
    if (!w) return -1;
    if (!text) {
        if (w->failed) return -1;
        return w_fail(w, "%s: string \"%s\": NULL text", w->path, name ? name : "(null)");
    }
    h5_quiet q;
    quiet_on(&q);
    hid_t t = string_type(strlen(text));
    quiet_off(&q);
    if (t < 0) {
        if (w->failed) return -1;
        return w_fail(w, "%s: string \"%s\": cannot make a string type", w->path, name ? name : "(null)");
    }
    int rc = w_scalar(w, name, t, t, text, "string");
    H5Tclose(t);
    return rc;
}

/* A scalar attribute of ftype, written from v (mtype), on the entry `entry`. */
static int w_attr(qt_h5w *w, const char *entry, const char *attr, hid_t ftype, hid_t mtype, const void *v) {
    if (!w || w->failed) return -1;
    h5_quiet q;
    quiet_on(&q);
    h5_detail d;
    char h5name[ESC_CAP];
    int found = entry && attr && escape_name(entry, h5name, ESC_CAP) == 0 &&
                H5Lexists(w->file, h5name, H5P_DEFAULT) > 0;
    hid_t obj = found ? H5Oopen(w->file, h5name, H5P_DEFAULT) : -1;
    hid_t sp = obj >= 0 ? H5Screate(H5S_SCALAR) : -1;
    hid_t a = sp >= 0 ? H5Acreate2(obj, attr, ftype, sp, H5P_DEFAULT, H5P_DEFAULT) : -1;
    herr_t rc = a >= 0 ? H5Awrite(a, mtype, v) : -1;
    if (a >= 0 && H5Aclose(a) < 0) rc = -1;
    if (rc < 0) h5_detail_str(&d);
    if (sp >= 0) H5Sclose(sp);
    if (obj >= 0) H5Oclose(obj);
    if (!found)
        w_fail(w, "%s: attribute \"%s\": no entry \"%s\" to attach it to", w->path, attr ? attr : "(null)",
               entry ? entry : "(null)");
    else if (rc < 0)
        w_fail(w, "%s: entry \"%s\": writing attribute \"%s\" failed: %s", w->path, entry, attr, d.msg);
    quiet_off(&q);
    return (!found || rc < 0) ? -1 : 0;
}

int qt_h5w_attr_i32(qt_h5w *w, const char *entry, const char *attr, int32_t v) {
    return w_attr(w, entry, attr, H5T_STD_I32LE, H5T_NATIVE_INT32, &v);
}

int qt_h5w_attr_i64(qt_h5w *w, const char *entry, const char *attr, int64_t v) {
    return w_attr(w, entry, attr, H5T_STD_I64LE, H5T_NATIVE_INT64, &v);
}

int qt_h5w_attr_u64(qt_h5w *w, const char *entry, const char *attr, uint64_t v) {
    return w_attr(w, entry, attr, H5T_STD_U64LE, H5T_NATIVE_UINT64, &v);
}

int qt_h5w_attr_double(qt_h5w *w, const char *entry, const char *attr, double v) {
    return w_attr(w, entry, attr, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
}

static int full_name(const char *prefix, const char *name, char *buf, size_t len) {
    int k = snprintf(buf, len, "%s%s", prefix ? prefix : "", name);
    return (k < 0 || (size_t)k >= len) ? -1 : 0;
}

int qt_h5w_param_bufs(qt_h5w *w, const char *prefix, qt_tensor *const *params, float *const *bufs, int n) {
    if (!w) return -1;
    if (w->failed) return -1;
    if (n < 0 || (n > 0 && !params)) return w_fail(w, "%s: invalid parameter list", w->path);
    for (int i = 0; i < n; i++) {
        const qt_tensor *t = params[i];
        if (!t) return w_fail(w, "%s: parameter %d is NULL", w->path, i);
        const float *data = bufs ? bufs[i] : t->data;
        if (!data) continue;
        char nm[QT_H5_MAX_NAME + 2];
        if (full_name(prefix, t->name, nm, sizeof nm) < 0)
            return w_fail(w, "%s: entry name \"%.64s...\" too long", w->path, t->name);
        if (qt_h5w_f32(w, nm, t->ndim, t->shape, data) < 0) return -1;
    }
    return 0;
}

int qt_h5w_params(qt_h5w *w, const char *prefix, qt_tensor *const *params, int n) {
    if (!w) return -1;
    if (w->failed) return -1;
    for (int i = 0; i < n && params; i++)
        if (params[i] && !params[i]->data)
            return w_fail(w, "%s: parameter \"%s\" has no data", w->path, params[i]->name);
    return qt_h5w_param_bufs(w, prefix, params, NULL, n);
}

int qt_h5w_commit(qt_h5w *w, char *err, size_t errlen) {
    if (!w) {
        qt_set_err(err, errlen, "checkpoint commit: no writer");
        return -1;
    }
    h5_quiet q;
    quiet_on(&q);
    h5_detail d;
    int rc = -1;
    if (w->failed) goto fail;
    if (H5Fflush(w->file, H5F_SCOPE_GLOBAL) < 0) {
        w_fail(w, "%s: flushing %s failed: %s", w->path, w->out.tmp, h5_detail_str(&d));
        goto fail;
    }
    /* The in-memory image goes to the temp file, then into place
     * atomically. libhdf5's image leaves out the user block (its superblock
     * counts it): the image goes after the block, which then gets qatc's
     * integrity header (length and checksums of the finished file). */
    ssize_t hsz = H5Fget_file_image(w->file, NULL, 0);
    ssize_t isz = hsz > 0 ? hsz + QT_H5IMAGE_BLOCK : 0;
    unsigned char *img = isz > 0 ? malloc((size_t)isz) : NULL;
    if (!img || H5Fget_file_image(w->file, img + QT_H5IMAGE_BLOCK, (size_t)hsz) != hsz ||
        memcmp(img + QT_H5IMAGE_BLOCK, "\x89HDF\r\n\x1a\n", 8) != 0 || qt_h5image_seal(img, (size_t)isz) < 0) {
        w_fail(w, "%s: %s", w->path, img ? "cannot get the file image" : "out of memory for the file image");
        free(img);
        goto fail;
    }
    herr_t c = H5Fclose(w->file);
    w->file = -1;
    if (c < 0) {
        free(img);
        w_fail(w, "%s: closing %s failed: %s", w->path, w->out.tmp, h5_detail_str(&d));
        goto fail;
    }
    size_t put = fwrite(img, 1, (size_t)isz, w->out.f);
    int e = errno;
    free(img);
    if (put < (size_t)isz) {
        w_fail(w, "%s: writing %s failed after %zu of %zd bytes: %s", w->path, w->out.tmp, put, isz, strerror(e));
        goto fail;
    }
    if (qt_afile_commit(&w->out, err, errlen)) goto done;
    rc = 0;
    goto done;
fail:
    w_discard(w);
    qt_set_err(err, errlen, "%s", w->err);
done:
    quiet_off(&q);
    w_free(w);
    return rc;
}

void qt_h5w_abort(qt_h5w *w) {
    if (!w) return;
    h5_quiet q;
    quiet_on(&q);
    w_discard(w);
    quiet_off(&q);
    w_free(w);
}

/* ----------------------------------------------------------------- reader */

typedef struct {
    char *name;      /* entry name */
    char *h5name;    /* link name in the file */
    qt_h5_kind kind;
    int ndim;
    hsize_t dims[QT_H5_MAX_DIMS];
} r_entry;

struct qt_h5r {
    hid_t file;
    unsigned char *img; /* the verified file, parsed by libhdf5 in place */
    size_t img_n;
    qt_h5image_info info;
    char *path;
    int version;
    r_entry *e;
    int n;
    char err[ERR_LEN];
};

static int r_fail(qt_h5r *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int r_fail(qt_h5r *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof r->err, fmt, ap);
    va_end(ap);
    for (char *p = r->err; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t') *p = ' ';
    return -1;
}

void qt_h5r_close(qt_h5r *r) {
    if (!r) return;
    if (r->file >= 0) {
        h5_quiet q;
        quiet_on(&q);
        H5Fclose(r->file);
        quiet_off(&q);
    }
    for (int i = 0; i < r->n; i++) {
        free(r->e[i].name);
        free(r->e[i].h5name);
    }
    free(r->e);
    free(r->img); /* after H5Fclose (strong close degree): libhdf5 is done with it */
    free(r->path);
    free(r);
}

static int entry_cmp(const void *a, const void *b) {
    return strcmp(((const r_entry *)a)->name, ((const r_entry *)b)->name);
}

/* Kind and shape of a dataset. */
static void classify(hid_t ds, r_entry *e) {
    e->kind = QT_H5_OTHER;
    e->ndim = 0;
    hid_t sp = H5Dget_space(ds), t = H5Dget_type(ds);
    if (sp < 0 || t < 0) goto out;
    H5S_class_t sc = H5Sget_simple_extent_type(sp);
    H5T_class_t tc = H5Tget_class(t);
    size_t sz = H5Tget_size(t);
    if (sc == H5S_SCALAR) {
        if (tc == H5T_STRING) e->kind = QT_H5_STRING;
        else if (tc == H5T_INTEGER) e->kind = QT_H5_INT;
        else if (tc == H5T_FLOAT) e->kind = QT_H5_DOUBLE;
    } else if (sc == H5S_SIMPLE) {
        int nd = H5Sget_simple_extent_ndims(sp);
        if (nd < 1 || nd > QT_H5_MAX_DIMS) goto out;
        if (H5Sget_simple_extent_dims(sp, e->dims, NULL) < 0) goto out;
        e->ndim = nd;
        H5T_sign_t sg = tc == H5T_INTEGER ? H5Tget_sign(t) : H5T_SGN_ERROR;
        if (tc == H5T_FLOAT && sz == 4) e->kind = QT_H5_F32;
        else if (tc == H5T_INTEGER && sz == 4 && sg == H5T_SGN_2) e->kind = QT_H5_I32;
        else if (tc == H5T_INTEGER && sz == 8 && sg == H5T_SGN_2) e->kind = QT_H5_I64;
        else if (tc == H5T_INTEGER && sz == 8 && sg == H5T_SGN_NONE) e->kind = QT_H5_U64;
    }
out:
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
}

/* Builds the sorted entry index. Call inside quiet_on. */
static int r_index(qt_h5r *r, char *err, size_t errlen) {
    h5_detail d;
    H5G_info_t gi;
    if (H5Gget_info(r->file, &gi) < 0) {
        qt_set_err(err, errlen, "%s: cannot read the root group (corrupt file?): %s", r->path, h5_detail_str(&d));
        return -1;
    }
    if (gi.nlinks > (hsize_t)1 << 24) {
        qt_set_err(err, errlen, "%s: %llu entries, expected at most %d", r->path, (unsigned long long)gi.nlinks, 1 << 24);
        return -1;
    }
    int n = (int)gi.nlinks;
    r->e = calloc(n ? (size_t)n : 1, sizeof *r->e);
    if (!r->e) {
        qt_set_err(err, errlen, "%s: out of memory", r->path);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        r_entry *e = &r->e[i];
        ssize_t len = H5Lget_name_by_idx(r->file, ".", H5_INDEX_NAME, H5_ITER_INC, (hsize_t)i, NULL, 0, H5P_DEFAULT);
        if (len < 0) {
            qt_set_err(err, errlen, "%s: cannot read entry name %d (corrupt file?): %s", r->path, i, h5_detail_str(&d));
            return -1;
        }
        e->h5name = malloc((size_t)len + 1);
        if (!e->h5name) {
            qt_set_err(err, errlen, "%s: out of memory", r->path);
            return -1;
        }
        H5Lget_name_by_idx(r->file, ".", H5_INDEX_NAME, H5_ITER_INC, (hsize_t)i, e->h5name, (size_t)len + 1,
                           H5P_DEFAULT);
        r->n = i + 1;
        e->name = unescape_name(e->h5name);
        if (!e->name) {
            qt_set_err(err, errlen, "%s: out of memory", r->path);
            return -1;
        }
        hid_t obj = H5Oopen(r->file, e->h5name, H5P_DEFAULT);
        if (obj < 0) {
            qt_set_err(err, errlen, "%s: entry \"%s\": cannot open object (corrupt file?): %s", r->path, e->name,
                    h5_detail_str(&d));
            return -1;
        }
        if (H5Iget_type(obj) == H5I_DATASET) classify(obj, e);
        else e->kind = QT_H5_OTHER;
        H5Oclose(obj);
    }
    qsort(r->e, (size_t)r->n, sizeof *r->e, entry_cmp);
    return 0;
}

static int r_header(qt_h5r *r, char *err, size_t errlen) {
    h5_detail d;
    htri_t ex = H5Aexists(r->file, "format");
    if (ex <= 0) {
        if (ex < 0) qt_set_err(err, errlen, "%s: cannot read attributes (corrupt file?): %s", r->path, h5_detail_str(&d));
        else qt_set_err(err, errlen, "%s: not a qatc checkpoint: no \"format\" attribute (expected \"%s\")", r->path,
                     QT_H5_FORMAT);
        return -1;
    }
    hid_t a = H5Aopen(r->file, "format", H5P_DEFAULT);
    char *fmt = a >= 0 ? read_h5_string(a, 1, &d) : NULL;
    if (a >= 0) H5Aclose(a);
    if (!fmt || strcmp(fmt, QT_H5_FORMAT) != 0) {
        if (fmt)
            qt_set_err(err, errlen, "%s: not a qatc checkpoint: format is \"%.64s\", expected \"%s\"", r->path, fmt,
                    QT_H5_FORMAT);
        else
            qt_set_err(err, errlen, "%s: cannot read the \"format\" attribute (expected the string \"%s\"): %s",
                    r->path, QT_H5_FORMAT, d.msg);
        free(fmt);
        return -1;
    }
    free(fmt);
    int64_t v = 0;
    ex = H5Aexists(r->file, "version");
    a = ex > 0 ? H5Aopen(r->file, "version", H5P_DEFAULT) : -1;
    hid_t at = a >= 0 ? H5Aget_type(a) : -1, as = a >= 0 ? H5Aget_space(a) : -1;
    /* one integer only: reading an array attribute into v would overflow it */
    int ok = at >= 0 && as >= 0 && H5Tget_class(at) == H5T_INTEGER && H5Sget_simple_extent_npoints(as) == 1 &&
             H5Aread(a, H5T_NATIVE_INT64, &v) >= 0;
    if (as >= 0) H5Sclose(as);
    if (at >= 0) H5Tclose(at);
    if (a >= 0) H5Aclose(a);
    if (!ok) {
        qt_set_err(err, errlen, "%s: checkpoint has no integer \"version\" attribute", r->path);
        return -1;
    }
    if (v < 1 || v > QT_H5_VERSION) {
        qt_set_err(err, errlen, "%s: checkpoint version %lld, this build reads versions 1..%d", r->path, (long long)v,
                QT_H5_VERSION);
        return -1;
    }
    r->version = (int)v;
    return 0;
}

/* Opens path; what (NULL for a checkpoint, whose header is then checked)
 * names what a bare file was expected to be. */
static qt_h5r *r_open(const char *path, const char *what, char *err, size_t errlen) {
    if (!path || !*path) {
        qt_set_err(err, errlen, "%s reader: empty path", what ? "HDF5" : "checkpoint");
        return NULL;
    }
    struct stat st;
    int fd = -1;
    if (stat(path, &st) < 0 || (!S_ISDIR(st.st_mode) && (fd = open(path, O_RDONLY)) < 0)) {
        if (what) qt_set_err(err, errlen, "%s: cannot open: %s (expected %s)", path, strerror(errno), what);
        else qt_set_err(err, errlen, "%s: cannot open checkpoint: %s", path, strerror(errno));
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        qt_set_err(err, errlen, "%s: is a directory, expected %s", path, what ? what : "an HDF5 checkpoint file");
        return NULL;
    }
    close(fd);

    qt_h5r *r = calloc(1, sizeof *r);
    if (r) r->file = -1;
    if (!r || !(r->path = xstrdup(path))) {
        qt_set_err(err, errlen, "%s: out of memory", path);
        qt_h5r_close(r);
        return NULL;
    }
    /* The bytes are read and verified (length, checksums) before libhdf5
     * sees them, and libhdf5 parses exactly that buffer: libhdf5 1.10 is
     * not memory-safe on corrupt files (store/h5image.h). */
    r->img = qt_h5image_read(path, what ? what : "a qatc checkpoint", &r->img_n, &r->info, err, errlen);
    if (!r->img) {
        qt_h5r_close(r);
        return NULL;
    }
    h5_quiet q;
    quiet_on(&q);
    h5_detail d;
    r->file = qt_h5image_open(r->img, r->img_n);
    if (r->file < 0) {
        qt_set_err(err, errlen, "%s: verified file does not open as HDF5: %s", path, h5_detail_str(&d));
        goto fail;
    }
    if ((!what && r_header(r, err, errlen) < 0) || r_index(r, err, errlen) < 0) goto fail;
    quiet_off(&q);
    return r;
fail:
    quiet_off(&q);
    qt_h5r_close(r);
    return NULL;
}

qt_h5r *qt_h5r_open(const char *path, char *err, size_t errlen) { return r_open(path, NULL, err, errlen); }

qt_h5r *qt_h5r_open_bare(const char *path, const char *what, char *err, size_t errlen) {
    return r_open(path, what ? what : "an HDF5 file", err, errlen);
}

const char *qt_h5r_error(const qt_h5r *r) { return r ? r->err : "no reader"; }
int qt_h5r_version(const qt_h5r *r) { return r ? r->version : 0; }

void qt_h5r_verified(const qt_h5r *r, uint64_t *length, uint32_t *crc) {
    if (length) *length = r ? r->info.length : 0;
    if (crc) *crc = r ? r->info.crc : 0;
}
int qt_h5r_count(const qt_h5r *r) { return r ? r->n : 0; }

const char *qt_h5r_name(const qt_h5r *r, int i) {
    return (r && i >= 0 && i < r->n) ? r->e[i].name : NULL;
}

static r_entry *r_find(const qt_h5r *r, const char *name) {
    if (!r || !name) return NULL;
    r_entry key;
    key.name = (char *)name;
    return bsearch(&key, r->e, (size_t)r->n, sizeof *r->e, entry_cmp);
}

qt_h5_kind qt_h5r_kind(const qt_h5r *r, const char *name) {
    r_entry *e = r_find(r, name);
    return e ? e->kind : QT_H5_NONE;
}

int qt_h5r_has(const qt_h5r *r, const char *name) { return r_find(r, name) != NULL; }

int qt_h5r_ndim(const qt_h5r *r, const char *name) {
    r_entry *e = r_find(r, name);
    return e ? e->ndim : -1;
}

int qt_h5r_shape(qt_h5r *r, const char *name, int *ndim, int *shape) {
    if (!r) return -1;
    r_entry *e = r_find(r, name);
    if (!e) return r_fail(r, "%s: no entry \"%s\"", r->path, name ? name : "(null)");
    if (e->ndim < 1) return r_fail(r, "%s: entry \"%s\" is a %s, not an array", r->path, name, qt_h5_kind_name(e->kind));
    for (int i = 0; i < e->ndim; i++)
        if (e->dims[i] > (hsize_t)2147483647)
            return r_fail(r, "%s: dataset \"%s\": dim %d is too large for an int", r->path, name, i);
    if (ndim) *ndim = e->ndim;
    if (shape)
        for (int i = 0; i < e->ndim; i++) shape[i] = (int)e->dims[i];
    return 0;
}

/* Finds name and checks its kind and (for arrays) the expected shape. */
static r_entry *r_check(qt_h5r *r, const char *name, qt_h5_kind want, int ndim, const int *shape) {
    char sb[200], fb[200];
    if (!name) {
        r_fail(r, "%s: NULL entry name", r->path);
        return NULL;
    }
    int is_array = want == QT_H5_F32 || want == QT_H5_I32 || want == QT_H5_I64 || want == QT_H5_U64;
    hsize_t dims[QT_H5_MAX_DIMS];
    size_t n;
    if (is_array && shape_in(ndim, shape, dims, &n) < 0) {
        r_fail(r, "%s: dataset \"%s\": invalid expected shape %s", r->path, name,
               int_shape_str(ndim, shape, sb, sizeof sb));
        return NULL;
    }
    r_entry *e = r_find(r, name);
    if (!e) {
        if (is_array)
            r_fail(r, "%s: no dataset \"%s\" (expected a %s of shape %s)", r->path, name, qt_h5_kind_name(want),
                   shape_str(ndim, dims, sb, sizeof sb));
        else
            r_fail(r, "%s: no entry \"%s\" (expected a %s)", r->path, name, qt_h5_kind_name(want));
        return NULL;
    }
    if (e->kind != want) {
        r_fail(r, "%s: entry \"%s\": stored as %s, expected %s", r->path, name, qt_h5_kind_name(e->kind),
               qt_h5_kind_name(want));
        return NULL;
    }
    if (is_array) {
        int same = e->ndim == ndim;
        for (int i = 0; same && i < ndim; i++) same = e->dims[i] == dims[i];
        if (!same) {
            r_fail(r, "%s: dataset \"%s\": expected shape %s, found %s", r->path, name,
                   shape_str(ndim, dims, sb, sizeof sb), shape_str(e->ndim, e->dims, fb, sizeof fb));
            return NULL;
        }
    }
    return e;
}

static size_t entry_numel(const r_entry *e) {
    size_t n = 1;
    for (int i = 0; i < e->ndim; i++) n *= (size_t)e->dims[i];
    return n;
}

/* Reads a checked entry into out with memory type mtype. Call inside quiet_on. */
static int r_read(qt_h5r *r, const r_entry *e, hid_t mtype, void *out) {
    h5_detail d;
    if (e->ndim > 0 && entry_numel(e) == 0) return 0;
    if (!out) return r_fail(r, "%s: dataset \"%s\": NULL output buffer", r->path, e->name);
    hid_t ds = H5Dopen2(r->file, e->h5name, H5P_DEFAULT);
    herr_t rc = ds >= 0 ? H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) : -1;
    if (rc < 0) {
        r_fail(r, "%s: dataset \"%s\": read failed (corrupt file?): %s", r->path, e->name, h5_detail_str(&d));
        if (ds >= 0) H5Dclose(ds);
        return -1;
    }
    H5Dclose(ds);
    return 0;
}

static int check_finite(qt_h5r *r, const r_entry *e, const float *x) {
    size_t n = entry_numel(e), bad = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) {
            if (!bad) first = i;
            bad++;
        }
    if (bad)
        return r_fail(r, "%s: dataset \"%s\": %zu non-finite value(s), first %g at index %zu; refusing to load",
                      r->path, e->name, bad, (double)x[first], first);
    return 0;
}

static int r_array(qt_h5r *r, const char *name, qt_h5_kind want, hid_t mtype, int ndim, const int *shape,
                   void *out) {
    if (!r) return -1;
    r_entry *e = r_check(r, name, want, ndim, shape);
    if (!e) return -1;
    h5_quiet q;
    quiet_on(&q);
    int rc = r_read(r, e, mtype, out);
    quiet_off(&q);
    if (rc == 0 && want == QT_H5_F32) rc = check_finite(r, e, out);
    return rc;
}

int qt_h5r_f32(qt_h5r *r, const char *name, int ndim, const int *shape, float *out) {
    return r_array(r, name, QT_H5_F32, H5T_NATIVE_FLOAT, ndim, shape, out);
}

int qt_h5r_i32(qt_h5r *r, const char *name, int ndim, const int *shape, int32_t *out) {
    return r_array(r, name, QT_H5_I32, H5T_NATIVE_INT32, ndim, shape, out);
}

int qt_h5r_i64(qt_h5r *r, const char *name, int ndim, const int *shape, int64_t *out) {
    return r_array(r, name, QT_H5_I64, H5T_NATIVE_INT64, ndim, shape, out);
}

int qt_h5r_u64(qt_h5r *r, const char *name, int ndim, const int *shape, uint64_t *out) {
    return r_array(r, name, QT_H5_U64, H5T_NATIVE_UINT64, ndim, shape, out);
}

int qt_h5r_i32_alloc(qt_h5r *r, const char *name, int32_t **out, size_t *n) {
    *out = NULL;
    *n = 0;
    if (!r) return -1;
    r_entry *e = r_find(r, name);
    if (!e) return r_fail(r, "%s: no dataset \"%s\" (expected a 1-D int32 array)", r->path, name ? name : "(null)");
    if (e->kind != QT_H5_I32 || e->ndim != 1)
        return r_fail(r, "%s: entry \"%s\": stored as %s of rank %d, expected a 1-D int32 array", r->path, name,
                      qt_h5_kind_name(e->kind), e->ndim);
    h5_quiet q;
    quiet_on(&q);
    hid_t ds = H5Dopen2(r->file, e->h5name, H5P_DEFAULT);
    hsize_t stored = ds >= 0 ? H5Dget_storage_size(ds) : 0;
    if (ds >= 0) H5Dclose(ds);
    quiet_off(&q);
    /* refuse a declared length the file cannot hold before allocating for it:
     * stored (deflated) bytes bound the elements (deflate expands at most
     * ~1032x; 4096x leaves room for the shuffle filter) */
    if (e->dims[0] > ((hsize_t)1 << 40) || e->dims[0] * sizeof(int32_t) > (stored + 4096) * 4096)
        return r_fail(r, "%s: dataset \"%s\" declares %llu elements but stores only %llu bytes (corrupt file?)",
                      r->path, name, (unsigned long long)e->dims[0], (unsigned long long)stored);
    size_t cnt = (size_t)e->dims[0];
    int32_t *buf = malloc((cnt ? cnt : 1) * sizeof *buf);
    if (!buf) return r_fail(r, "%s: dataset \"%s\": out of memory for %zu elements", r->path, name, cnt);
    quiet_on(&q);
    int rc = r_read(r, e, H5T_NATIVE_INT32, buf);
    quiet_off(&q);
    if (rc) {
        free(buf);
        return -1;
    }
    *out = buf;
    *n = cnt;
    return 0;
}

/* Reads the single-number attribute attr of entry as mtype into v (vsize bytes). */
static int r_attr(qt_h5r *r, const char *entry, const char *attr, hid_t mtype, void *v, size_t vsize) {
    if (!r) return -1;
    r_entry *e = r_find(r, entry);
    if (!e || !attr)
        return r_fail(r, "%s: no entry \"%s\" (expected attribute \"%s\" on it)", r->path, entry ? entry : "(null)",
                      attr ? attr : "(null)");
    h5_quiet q;
    quiet_on(&q);
    h5_detail d;
    unsigned char tmp[16];
    int rc = -1;
    hid_t obj = H5Oopen(r->file, e->h5name, H5P_DEFAULT);
    htri_t ex = obj >= 0 ? H5Aexists(obj, attr) : -1;
    hid_t a = ex > 0 ? H5Aopen(obj, attr, H5P_DEFAULT) : -1;
    hid_t sp = a >= 0 ? H5Aget_space(a) : -1, t = a >= 0 ? H5Aget_type(a) : -1;
    H5T_class_t tc = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    if (ex == 0)
        r_fail(r, "%s: entry \"%s\": no attribute \"%s\"", r->path, entry, attr);
    else if (sp < 0 || t < 0)
        r_fail(r, "%s: entry \"%s\": cannot open attribute \"%s\" (corrupt file?): %s", r->path, entry, attr,
               h5_detail_str(&d));
    else if (H5Sget_simple_extent_npoints(sp) != 1 || (tc != H5T_INTEGER && tc != H5T_FLOAT))
        r_fail(r, "%s: entry \"%s\": attribute \"%s\" is not a single number", r->path, entry, attr);
    else if (H5Aread(a, mtype, tmp) < 0)
        r_fail(r, "%s: entry \"%s\": reading attribute \"%s\" failed: %s", r->path, entry, attr, h5_detail_str(&d));
    else
        rc = 0;
    if (rc == 0) memcpy(v, tmp, vsize);
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    if (a >= 0) H5Aclose(a);
    if (obj >= 0) H5Oclose(obj);
    quiet_off(&q);
    return rc;
}

int qt_h5r_attr_i32(qt_h5r *r, const char *entry, const char *attr, int32_t *v) {
    return r_attr(r, entry, attr, H5T_NATIVE_INT32, v, sizeof *v);
}

int qt_h5r_attr_i64(qt_h5r *r, const char *entry, const char *attr, int64_t *v) {
    return r_attr(r, entry, attr, H5T_NATIVE_INT64, v, sizeof *v);
}

int qt_h5r_attr_u64(qt_h5r *r, const char *entry, const char *attr, uint64_t *v) {
    return r_attr(r, entry, attr, H5T_NATIVE_UINT64, v, sizeof *v);
}

int qt_h5r_attr_double(qt_h5r *r, const char *entry, const char *attr, double *v) {
    return r_attr(r, entry, attr, H5T_NATIVE_DOUBLE, v, sizeof *v);
}

/* Reads the scalar entry `name` of kind `kind` as memory type `mtype` into v. */
static int r_scalar(qt_h5r *r, const char *name, qt_h5_kind kind, hid_t mtype, void *v) {
    if (!r) return -1;
    r_entry *e = r_check(r, name, kind, 0, NULL);
    if (!e) return -1;
    h5_quiet q;
    quiet_on(&q);
    int rc = r_read(r, e, mtype, v);
    quiet_off(&q);
    return rc;
}

int qt_h5r_int(qt_h5r *r, const char *name, int64_t *v) { return r_scalar(r, name, QT_H5_INT, H5T_NATIVE_INT64, v); }

int qt_h5r_double(qt_h5r *r, const char *name, double *v) {
    return r_scalar(r, name, QT_H5_DOUBLE, H5T_NATIVE_DOUBLE, v);
}

char *qt_h5r_string(qt_h5r *r, const char *name) {
    if (!r) return NULL;
    r_entry *e = r_check(r, name, QT_H5_STRING, 0, NULL);
    if (!e) return NULL;
    h5_quiet q;
    quiet_on(&q);
    h5_detail d;
    hid_t ds = H5Dopen2(r->file, e->h5name, H5P_DEFAULT);
    if (ds < 0) h5_detail_str(&d);
    char *s = ds >= 0 ? read_h5_string(ds, 0, &d) : NULL;
    if (!s) r_fail(r, "%s: string \"%s\": read failed (corrupt file?): %s", r->path, name, d.msg);
    if (ds >= 0) H5Dclose(ds);
    quiet_off(&q);
    return s;
}

int qt_h5r_param_bufs(qt_h5r *r, const char *prefix, qt_tensor *const *params, float *const *bufs, int n) {
    if (!r) return -1;
    if (n < 0 || (n > 0 && !params)) return r_fail(r, "%s: invalid parameter list", r->path);
    char nm[QT_H5_MAX_NAME + 2];
    /* Pass 1: every name and shape, before any data is touched. */
    for (int i = 0; i < n; i++) {
        const qt_tensor *t = params[i];
        if (!t) return r_fail(r, "%s: parameter %d is NULL", r->path, i);
        if (!(bufs ? bufs[i] : t->data)) continue;
        if (full_name(prefix, t->name, nm, sizeof nm) < 0)
            return r_fail(r, "%s: entry name \"%.64s...\" too long", r->path, t->name);
        if (!r_check(r, nm, QT_H5_F32, t->ndim, t->shape)) return -1;
    }
    for (int i = 0; i < n; i++) {
        const qt_tensor *t = params[i];
        float *out = bufs ? bufs[i] : t->data;
        if (!out) continue;
        full_name(prefix, t->name, nm, sizeof nm);
        if (qt_h5r_f32(r, nm, t->ndim, t->shape, out) < 0) return -1;
    }
    return 0;
}

int qt_h5r_params(qt_h5r *r, const char *prefix, qt_tensor *const *params, int n) {
    if (!r) return -1;
    for (int i = 0; i < n && params; i++)
        if (params[i] && !params[i]->data)
            return r_fail(r, "%s: parameter \"%s\" has no data buffer", r->path, params[i]->name);
    return qt_h5r_param_bufs(r, prefix, params, NULL, n);
}
