/* qatc store/safetensors: a safetensors writer and reader.
 *
 * Layout: u64 little-endian N, N bytes of JSON header
 * {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]},
 *  ..., "__metadata__": {"key": "value", ...}}, then the byte buffer
 * (offsets relative to its start, row-major, little endian). The writer pads
 * the header with spaces to a multiple of 8 bytes and lays tensors out
 * contiguously in the order they were added.
 *
 * The reader checks the header length and every data_offsets pair against
 * the file size before allocating, that end - begin equals the shape's
 * element count times the dtype size, and that tensors do not overlap. */
#ifndef QATC_STORE_SAFETENSORS_H
#define QATC_STORE_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define QT_ST_MAX_DIMS 8
#define QT_ST_MAX_HEADER (100u << 20)  /* 100 MiB, as the reference implementation */

typedef enum {
    QT_ST_BOOL, QT_ST_U8, QT_ST_I8, QT_ST_I16, QT_ST_U16, QT_ST_F16, QT_ST_BF16, QT_ST_I32, QT_ST_U32,
    QT_ST_F32, QT_ST_F64, QT_ST_I64, QT_ST_U64, QT_ST_NDTYPES
} qt_st_dtype;

typedef struct qt_st_tensor {
    char *name;
    qt_st_dtype dtype;
    int ndim;
    int64_t shape[QT_ST_MAX_DIMS];
    size_t nbytes;
    void *data;      /* owned when `owned`, else points into the file image */
    int owned;
} qt_st_tensor;

typedef struct qt_safetensors {
    qt_st_tensor *t;
    int n, cap;
    char **meta_key, **meta_val;
    int n_meta;
    void *image;
} qt_safetensors;

/* dtype name ("F32") and byte size; qt_st_dtype_from_name returns -1 when unknown. */
const char *qt_st_dtype_name(qt_st_dtype d);
size_t qt_st_dtype_size(qt_st_dtype d);
int qt_st_dtype_from_name(const char *name);

/* An empty file. */
qt_safetensors *qt_st_new(void);
/* Frees everything (NULL is fine). */
void qt_st_free(qt_safetensors *st);
/* Adds a tensor (data copied; nbytes must equal numel·dtype size; unique
 * name). Returns 0, or -1 with a message in err. */
int qt_st_add(qt_safetensors *st, const char *name, qt_st_dtype dtype, int ndim, const int64_t *shape,
              const void *data, size_t nbytes, char *err, size_t errlen);
/* Adds (or replaces) a string entry of __metadata__. Returns 0 or -1. */
int qt_st_set_meta(qt_safetensors *st, const char *key, const char *value);
/* The metadata value of key, or NULL. */
const char *qt_st_get_meta(const qt_safetensors *st, const char *key);
/* Writes st to path atomically (temp file, fsync, rename). Returns 0 or -1. */
int qt_st_write(const qt_safetensors *st, const char *path, char *err, size_t errlen);
/* Reads a file; NULL with a one-line message naming the file (and tensor)
 * on a missing, truncated or malformed file. */
qt_safetensors *qt_st_read(const char *path, char *err, size_t errlen);
/* The tensor named name, or NULL. */
const qt_st_tensor *qt_st_find(const qt_safetensors *st, const char *name);
/* Converts a F32, F16 or BF16 tensor to n floats (n = its element count).
 * Returns 0, or -1 with a message for other dtypes or a count mismatch. */
int qt_st_to_f32(const qt_st_tensor *t, float *out, size_t n, char *err, size_t errlen);

#endif
