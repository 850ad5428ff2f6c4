/* qatc store/h5store: a small checkpoint store over HDF5.
 *
 * A checkpoint holds named entries: float32 / int32 / int64 / uint64 arrays
 * (up to QT_H5_MAX_DIMS dims), int64 and double scalars, and UTF-8 strings.
 * Names are free text ("layers.0.attention.wq.weight", "opt.m.<param>",
 * "step", "config"); all entries share one namespace.
 *
 * File layout (readable with h5py / h5dump): every entry is a dataset in the
 * root group, named by its entry name with '%' -> "%25", '/' -> "%2F" and the
 * name "." -> "%2E". Arrays are chunked with a Fletcher-32 checksum, so a
 * flipped bit is an error on read, not a silently wrong weight. Scalars are
 * scalar datasets (H5T_STD_I64LE / H5T_IEEE_F64LE), strings scalar
 * fixed-length strings. The root carries the attributes format = "qatc-ckpt"
 * and version = QT_H5_VERSION.
 *
 * Bare files (qt_h5w_open_bare / qt_h5r_open_bare) hold the same kinds of
 * entries without that root header, for files with a layout of their own
 * such as the token cache (data/dataset.h): a deflated int32 array with
 * scalar numeric attributes on it.
 *
 * Integrity: every file starts with a 512-byte HDF5 user block holding
 * qatc's integrity header (length, CRC-32s; store/h5image.h). A reader reads
 * the whole file, verifies it and only then lets libhdf5 parse that very
 * buffer, so a truncated or corrupted file is refused in one line
 * ("PATH: truncated: N of M bytes", "PATH: checksum mismatch (corrupted
 * file)") before libhdf5 (not memory-safe on corrupt input) sees it, and a
 * file without the header is refused too. A reader holds the whole file in
 * memory while it is open.
 *
 * Atomicity: a writer builds the HDF5 image in memory (libhdf5 1.10 crashes at
 * exit after a failed file write, so it never writes files itself); commit
 * writes the image with write(2) to "<path>.tmp.<pid>", fsyncs it, renames it
 * over <path> and fsyncs the directory. Any failure (including disk full /
 * EFBIG) removes the temp file, so the previous checkpoint at <path> is never
 * touched; temp files left by killed processes are removed by the next write
 * of the same checkpoint. A checkpoint is held in memory while it is written. Float arrays holding NaN/Inf are
 * refused both when written and when read.
 *
 * Errors are one line naming the file (and the entry) and what was expected,
 * e.g. `ckpt.h5: dataset "w": expected shape [4, 16], found [16, 4]`. HDF5's
 * own error printing is silenced inside these calls (and restored after). */
#ifndef QATC_STORE_H5STORE_H
#define QATC_STORE_H5STORE_H

#include <stddef.h>
#include <stdint.h>

#include "autograd/tensor.h"

#define QT_H5_FORMAT "qatc-ckpt"
#define QT_H5_VERSION 1
#define QT_H5_MAX_DIMS 8
#define QT_H5_MAX_NAME 1024

/* What an entry holds. */
typedef enum {
    QT_H5_NONE = 0,   /* no such entry */
    QT_H5_F32,        /* float32 array */
    QT_H5_I32,        /* int32 array */
    QT_H5_I64,        /* int64 array */
    QT_H5_U64,        /* uint64 array */
    QT_H5_INT,        /* int64 scalar */
    QT_H5_DOUBLE,     /* double scalar */
    QT_H5_STRING,     /* string */
    QT_H5_OTHER       /* something this store does not write (group, float64 array, ...) */
} qt_h5_kind;

/* Short name of a kind ("float32 array", "string", ...). */
const char *qt_h5_kind_name(qt_h5_kind k);

/* ---- writer ---- */

typedef struct qt_h5w qt_h5w;

/* Starts a checkpoint that will appear at `path` on commit (data goes to
 * "<path>.tmp.<pid>"). Returns NULL with a message in err on failure
 * (e.g. the directory does not exist). */
qt_h5w *qt_h5w_open(const char *path, char *err, size_t errlen);

/* Like qt_h5w_open, but writes no root format / version attributes (a bare
 * file with its own layout, read back with qt_h5r_open_bare). */
qt_h5w *qt_h5w_open_bare(const char *path, char *err, size_t errlen);

/* The add functions below return 0, or -1 with a message in qt_h5w_error().
 * Errors are sticky: the first failure discards the temp file at once, every
 * later add returns -1 and commit reports that first error. A name may be
 * written once. */

/* Adds a float32 array of the given shape (ndim 1..QT_H5_MAX_DIMS, dims >= 0);
 * refuses NaN/Inf values. */
int qt_h5w_f32(qt_h5w *w, const char *name, int ndim, const int *shape, const float *data);
/* Adds an int32 array. */
int qt_h5w_i32(qt_h5w *w, const char *name, int ndim, const int *shape, const int32_t *data);
/* Adds a 1-D int32 array of n elements for large compressible data (token
 * streams): chunks of 65536 elements, byte shuffle + deflate level 1 (when
 * libhdf5 has deflate), no checksum. */
int qt_h5w_i32_deflate(qt_h5w *w, const char *name, size_t n, const int32_t *data);
/* Adds an int64 array. */
int qt_h5w_i64(qt_h5w *w, const char *name, int ndim, const int *shape, const int64_t *data);
/* Adds a uint64 array (e.g. RNG state words). */
int qt_h5w_u64(qt_h5w *w, const char *name, int ndim, const int *shape, const uint64_t *data);
/* Adds an int64 scalar (step counts, seeds). */
int qt_h5w_int(qt_h5w *w, const char *name, int64_t v);
/* Adds a double scalar (any value, NaN/Inf included). */
int qt_h5w_double(qt_h5w *w, const char *name, double v);
/* Adds a NUL-terminated string (e.g. the config JSON text). */
int qt_h5w_string(qt_h5w *w, const char *name, const char *text);

/* Add a scalar attribute attr (int32 / int64 / uint64 / float64 in the file)
 * to the already added entry `entry`. */
int qt_h5w_attr_i32(qt_h5w *w, const char *entry, const char *attr, int32_t v);
int qt_h5w_attr_i64(qt_h5w *w, const char *entry, const char *attr, int64_t v);
int qt_h5w_attr_u64(qt_h5w *w, const char *entry, const char *attr, uint64_t v);
int qt_h5w_attr_double(qt_h5w *w, const char *entry, const char *attr, double v);

/* Adds each params[i]->data under prefix + params[i]->name with its shape
 * (prefix may be NULL or ""). */
int qt_h5w_params(qt_h5w *w, const char *prefix, qt_tensor *const *params, int n);
/* Adds bufs[i] (a float buffer shaped like params[i], e.g. an AdamW moment)
 * under prefix + params[i]->name; NULL buffers are skipped. */
int qt_h5w_param_bufs(qt_h5w *w, const char *prefix, qt_tensor *const *params,
                      float *const *bufs, int n);

/* The first error of this writer ("" when none). */
const char *qt_h5w_error(const qt_h5w *w);

/* Makes the checkpoint durable and visible at its path (flush, close, fsync,
 * rename, fsync of the directory) and frees w. Returns 0, or -1 with a
 * message in err; on -1 the temp file is gone and the previous file at path
 * untouched (except when only the final directory fsync failed, which the
 * message says). */
int qt_h5w_commit(qt_h5w *w, char *err, size_t errlen);
/* Discards the checkpoint: closes and removes the temp file, frees w
 * (NULL is a no-op). The previous file at path is untouched. */
void qt_h5w_abort(qt_h5w *w);

/* ---- reader ---- */

typedef struct qt_h5r qt_h5r;

/* Reads and verifies a checkpoint (integrity header, see above), opens it
 * and indexes its entries. Returns NULL with a message in err for a missing
 * file, a file without qatc's integrity header, a truncated or corrupted
 * file, a wrong "format" attribute or a newer version. */
qt_h5r *qt_h5r_open(const char *path, char *err, size_t errlen);
/* Opens a bare file (qatc's integrity header, no format check; version 0)
 * and indexes its root entries. `what` names what the caller expects, for
 * the messages ("an HDF5 token file"); errors as for qt_h5r_open. */
qt_h5r *qt_h5r_open_bare(const char *path, const char *what, char *err, size_t errlen);
/* Closes the file and frees r (NULL is a no-op). */
void qt_h5r_close(qt_h5r *r);

/* The message of the reader's last failed call ("" when none). */
const char *qt_h5r_error(const qt_h5r *r);
/* The file's format version. */
int qt_h5r_version(const qt_h5r *r);
/* What the integrity check verified: the file's length in bytes and the
 * CRC-32 of its bytes after the header (store/h5image.h). */
void qt_h5r_verified(const qt_h5r *r, uint64_t *length, uint32_t *crc);

/* Number of entries. */
int qt_h5r_count(const qt_h5r *r);
/* Name of entry i (0 <= i < count), in byte order of names; NULL out of range. */
const char *qt_h5r_name(const qt_h5r *r, int i);
/* Kind of the named entry, QT_H5_NONE when absent. */
qt_h5_kind qt_h5r_kind(const qt_h5r *r, const char *name);
/* 1 if the entry exists, else 0. */
int qt_h5r_has(const qt_h5r *r, const char *name);
/* Rank of the named entry: 1..QT_H5_MAX_DIMS for arrays (of any element
 * type), 0 for scalars and other objects, -1 when absent. */
int qt_h5r_ndim(const qt_h5r *r, const char *name);
/* Shape of an array entry into ndim/shape[QT_H5_MAX_DIMS]. Returns 0 or -1
 * (absent, not an array). */
int qt_h5r_shape(qt_h5r *r, const char *name, int *ndim, int *shape);

/* The array reads below return 0, or -1 with a message in qt_h5r_error():
 * absent entry, other kind ("stored as int32 array, expected float32 array"),
 * shape other than the expected one (both shapes named), a checksum or I/O
 * error. out must hold the expected element count; its content is
 * unspecified after an error. */

/* Reads a float32 array of the expected shape; refuses NaN/Inf values. */
int qt_h5r_f32(qt_h5r *r, const char *name, int ndim, const int *shape, float *out);
/* Reads an int32 array of the expected shape. */
int qt_h5r_i32(qt_h5r *r, const char *name, int ndim, const int *shape, int32_t *out);
/* Reads a 1-D int32 array of any length into a new malloc'd buffer (*out,
 * *n elements; free it). A declared length the stored bytes cannot hold is
 * refused before allocating ("declares N elements but stores only M bytes"). */
int qt_h5r_i32_alloc(qt_h5r *r, const char *name, int32_t **out, size_t *n);
/* Reads an int64 array of the expected shape. */
int qt_h5r_i64(qt_h5r *r, const char *name, int ndim, const int *shape, int64_t *out);
/* Reads a uint64 array of the expected shape. */
int qt_h5r_u64(qt_h5r *r, const char *name, int ndim, const int *shape, uint64_t *out);
/* Reads an int64 scalar. Returns 0 or -1. */
int qt_h5r_int(qt_h5r *r, const char *name, int64_t *v);
/* Reads a double scalar. Returns 0 or -1. */
int qt_h5r_double(qt_h5r *r, const char *name, double *v);
/* Reads a string; returns a malloc'd copy (free it), or NULL on error. */
char *qt_h5r_string(qt_h5r *r, const char *name);

/* Read the scalar numeric attribute attr of entry, converted to the C type.
 * Return 0, or -1 (absent, not a single integer or float, unreadable) with v
 * untouched. */
int qt_h5r_attr_i32(qt_h5r *r, const char *entry, const char *attr, int32_t *v);
int qt_h5r_attr_i64(qt_h5r *r, const char *entry, const char *attr, int64_t *v);
int qt_h5r_attr_u64(qt_h5r *r, const char *entry, const char *attr, uint64_t *v);
int qt_h5r_attr_double(qt_h5r *r, const char *entry, const char *attr, double *v);

/* Loads prefix + params[i]->name into params[i]->data. Every name and shape
 * is checked before any data is read, so a missing entry or a shape mismatch
 * leaves all params untouched; a later read error (checksum, NaN) may leave
 * some loaded. Entries not named by params are ignored. Returns 0 or -1. */
int qt_h5r_params(qt_h5r *r, const char *prefix, qt_tensor *const *params, int n);
/* Loads prefix + params[i]->name into bufs[i] (shaped like params[i]);
 * NULL buffers are skipped. Same checking as qt_h5r_params. */
int qt_h5r_param_bufs(qt_h5r *r, const char *prefix, qt_tensor *const *params,
                      float *const *bufs, int n);

#endif
