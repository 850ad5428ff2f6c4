/* qatc store/gguf: a GGUF v3 writer and reader (llama.cpp's model file).
 *
 * Layout (little endian): magic "GGUF", u32 version 3, u64 tensor count,
 * u64 KV count, the KVs (string key, u32 value type, value), the tensor infos
 * (string name, u32 n_dims, u64 ne[n_dims] fastest dimension first, u32 ggml
 * type, u64 offset), zero padding to general.alignment (32 when absent), then
 * the tensor data, each tensor at a multiple of the alignment. Strings are a
 * u64 length and the bytes (no NUL).
 *
 * A qt_gguf is the whole file in memory: KVs in order and tensors with their
 * data. The reader checks every declared count and length against the bytes
 * left in the file before allocating anything, so a truncated or hostile file
 * is refused with a one-line message naming the file, the KV or tensor, and
 * what was expected. */
#ifndef QATC_STORE_GGUF_H
#define QATC_STORE_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "quant/ggml_blocks.h" /* ggml type ids and sizes */

#define QT_GGUF_VERSION 3
#define QT_GGUF_DEFAULT_ALIGNMENT 32
/* Largest general.alignment read or written (a bigger one only pads the file). */
#define QT_GGUF_MAX_ALIGNMENT 65536
#define QT_GGUF_MAX_DIMS QT_GGML_MAX_DIMS
#define QT_GGUF_MAX_NAME 64

/* KV value types. */
typedef enum {
    QT_GGUF_U8 = 0, QT_GGUF_I8 = 1, QT_GGUF_U16 = 2, QT_GGUF_I16 = 3, QT_GGUF_U32 = 4, QT_GGUF_I32 = 5,
    QT_GGUF_F32 = 6, QT_GGUF_BOOL = 7, QT_GGUF_STRING = 8, QT_GGUF_ARRAY = 9, QT_GGUF_U64 = 10,
    QT_GGUF_I64 = 11, QT_GGUF_F64 = 12
} qt_gguf_vtype;

/* One KV. Scalars live in `val` (integers widened, f32/f64 as double);
 * strings in `str`; arrays have arr_type, n elements and either `strs`
 * (string arrays) or `arr` (n·size raw little-endian elements). */
typedef struct qt_gguf_kv {
    char *key;
    qt_gguf_vtype type;
    union {
        uint64_t u;
        int64_t i;
        double f;
    } val;
    char *str;
    qt_gguf_vtype arr_type;
    uint64_t n;
    char **strs;
    void *arr;
} qt_gguf_kv;

/* One tensor: name, ggml type, ne (fastest first), data (nbytes, owned). */
typedef struct qt_gguf_tensor {
    char name[QT_GGUF_MAX_NAME + 1];
    qt_ggml_type type;
    int n_dims;
    uint64_t ne[QT_GGUF_MAX_DIMS];
    uint64_t offset;   /* relative to the data section (set by read / write) */
    size_t nbytes;
    void *data;        /* owned when `owned`, else points into the file image */
    int owned;
} qt_gguf_tensor;

typedef struct qt_gguf {
    uint32_t version;
    uint32_t alignment;
    qt_gguf_kv *kv;
    int n_kv, cap_kv;
    qt_gguf_tensor *t;
    int n_t, cap_t;
    void *image;       /* the file as read (tensor data points into it) */
} qt_gguf;

/* Name of a KV value type ("u32", "string", ...). */
const char *qt_gguf_vtype_name(int vtype);

/* An empty file (version 3, alignment 32). */
qt_gguf *qt_gguf_new(void);
/* Frees everything (NULL is fine). */
void qt_gguf_free(qt_gguf *g);

/* Setters add a KV (or replace one of the same key). Return 0, or -1 on an
 * empty key or out of memory. */
int qt_gguf_set_u32(qt_gguf *g, const char *key, uint32_t v);
int qt_gguf_set_i32(qt_gguf *g, const char *key, int32_t v);
int qt_gguf_set_u64(qt_gguf *g, const char *key, uint64_t v);
int qt_gguf_set_f32(qt_gguf *g, const char *key, float v);
int qt_gguf_set_bool(qt_gguf *g, const char *key, int v);
int qt_gguf_set_str(qt_gguf *g, const char *key, const char *s);
/* An array of n numbers of type elem (not STRING/ARRAY), copied from data. */
int qt_gguf_set_arr(qt_gguf *g, const char *key, qt_gguf_vtype elem, const void *data, uint64_t n);
/* An array of n strings. */
int qt_gguf_set_arr_str(qt_gguf *g, const char *key, const char *const *s, uint64_t n);

/* Adds a tensor (data copied; nbytes must equal the size its type and ne
 * give, ne[0] a multiple of the block size, name <= 64 bytes, unique).
 * Returns 0, or -1 with a message in err. */
int qt_gguf_add_tensor(qt_gguf *g, const char *name, qt_ggml_type type, int n_dims, const uint64_t *ne,
                       const void *data, size_t nbytes, char *err, size_t errlen);

/* Writes g to path atomically (temp file, fsync, rename). Returns 0, or -1
 * with a message in err (the previous file at path is untouched). */
int qt_gguf_write(const qt_gguf *g, const char *path, char *err, size_t errlen);
/* Reads a whole GGUF file (v2 or v3). Returns NULL with a one-line message in
 * err on a missing, truncated or malformed file (bad magic, version, a count
 * or length larger than the file, unknown tensor type, overlapping or
 * out-of-file tensor data, ...). */
qt_gguf *qt_gguf_read(const char *path, char *err, size_t errlen);

/* The KV named key, or NULL. */
const qt_gguf_kv *qt_gguf_find(const qt_gguf *g, const char *key);
/* Strictly typed getters: return 0, or -1 with a message in err naming the key
 * when absent or of another type. */
int qt_gguf_get_u32(const qt_gguf *g, const char *key, uint32_t *v, char *err, size_t errlen);
int qt_gguf_get_f32(const qt_gguf *g, const char *key, float *v, char *err, size_t errlen);
const char *qt_gguf_get_str(const qt_gguf *g, const char *key, char *err, size_t errlen);
/* The tensor named name, or NULL. */
const qt_gguf_tensor *qt_gguf_tensor_find(const qt_gguf *g, const char *name);

#endif
