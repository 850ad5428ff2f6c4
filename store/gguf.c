/* GGUF v3 writer and reader; see store/gguf.h. */
#include "base/files.h"
#include "store/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_KV_KEY 65535u

static const size_t VSIZE[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char *qt_gguf_vtype_name(int v) {
    static const char *const N[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                    "bool", "string", "array", "u64", "i64", "f64"};
    return v >= 0 && v <= 12 ? N[v] : "unknown";
}

/* ------------------------------------------------------------ in memory */

qt_gguf *qt_gguf_new(void) {
    qt_gguf *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->version = QT_GGUF_VERSION;
    g->alignment = QT_GGUF_DEFAULT_ALIGNMENT;
    return g;
}

static void kv_clear(qt_gguf_kv *kv) {
    free(kv->key);
    free(kv->str);
    if (kv->strs)
        for (uint64_t i = 0; i < kv->n; i++) free(kv->strs[i]);
    free(kv->strs);
    free(kv->arr);
    memset(kv, 0, sizeof *kv);
}

void qt_gguf_free(qt_gguf *g) {
    if (!g) return;
    for (int i = 0; i < g->n_kv; i++) kv_clear(&g->kv[i]);
    free(g->kv);
    for (int i = 0; i < g->n_t; i++)
        if (g->t[i].owned) free(g->t[i].data);
    free(g->t);
    free(g->image);
    free(g);
}

static char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* a fresh (zeroed) KV for key: replaces an existing one of that key */
static qt_gguf_kv *kv_slot(qt_gguf *g, const char *key) {
    if (!key || !*key || strlen(key) > MAX_KV_KEY) return NULL;
    for (int i = 0; i < g->n_kv; i++)
        if (!strcmp(g->kv[i].key, key)) {
            kv_clear(&g->kv[i]);
            g->kv[i].key = xstrdup(key);
            return g->kv[i].key ? &g->kv[i] : NULL;
        }
    if (g->n_kv == g->cap_kv) {
        int cap = g->cap_kv ? 2 * g->cap_kv : 16;
        qt_gguf_kv *kv = realloc(g->kv, (size_t)cap * sizeof *kv);
        if (!kv) return NULL;
        g->kv = kv;
        g->cap_kv = cap;
    }
    qt_gguf_kv *kv = &g->kv[g->n_kv];
    memset(kv, 0, sizeof *kv);
    kv->key = xstrdup(key);
    if (!kv->key) return NULL;
    g->n_kv++;
    return kv;
}

int qt_gguf_set_u32(qt_gguf *g, const char *key, uint32_t v) {
    qt_gguf_kv *kv = kv_slot(g, key);
    if (!kv) return -1;
    kv->type = QT_GGUF_U32;
    kv->val.u = v;
    return 0;
}

int qt_gguf_set_i32(qt_gguf *g, const char *key, int32_t v) {
    qt_gguf_kv *kv = kv_slot(g, key);
    if (!kv) return -1;
    kv->type = QT_GGUF_I32;
    kv->val.i = v;
    return 0;
}

int qt_gguf_set_u64(qt_gguf *g, const char *key, uint64_t v) {
    qt_gguf_kv *kv = kv_slot(g, key);
    if (!kv) return -1;
    kv->type = QT_GGUF_U64;
    kv->val.u = v;
    return 0;
}

int qt_gguf_set_f32(qt_gguf *g, const char *key, float v) {
    qt_gguf_kv *kv = kv_slot(g, key);
    if (!kv) return -1;
    kv->type = QT_GGUF_F32;
    kv->val.f = v;
    return 0;
}

int qt_gguf_set_bool(qt_gguf *g, const char *key, int v) {
    qt_gguf_kv *kv = kv_slot(g, key);
    if (!kv) return -1;
    kv->type = QT_GGUF_BOOL;
    kv->val.u = v != 0;
    return 0;
}

int qt_gguf_set_str(qt_gguf *g, const char *key, const char *s) {
    qt_gguf_kv *kv = kv_slot(g, key);
    if (!kv) return -1;
    kv->type = QT_GGUF_STRING;
    kv->str = xstrdup(s);
    return kv->str ? 0 : -1;
}

int qt_gguf_set_arr(qt_gguf *g, const char *key, qt_gguf_vtype elem, const void *data, uint64_t n) {
    if ((int)elem < 0 || elem > QT_GGUF_F64 || elem == QT_GGUF_STRING || elem == QT_GGUF_ARRAY) return -1;
    qt_gguf_kv *kv = kv_slot(g, key);
    if (!kv) return -1;
    kv->type = QT_GGUF_ARRAY;
    kv->arr_type = elem;
    kv->n = n;
    size_t bytes = (size_t)n * VSIZE[elem];
    kv->arr = malloc(bytes ? bytes : 1);
    if (!kv->arr) return -1;
    if (bytes) memcpy(kv->arr, data, bytes);
    return 0;
}

int qt_gguf_set_arr_str(qt_gguf *g, const char *key, const char *const *s, uint64_t n) {
    qt_gguf_kv *kv = kv_slot(g, key);
    if (!kv) return -1;
    kv->type = QT_GGUF_ARRAY;
    kv->arr_type = QT_GGUF_STRING;
    kv->strs = calloc(n ? (size_t)n : 1, sizeof *kv->strs);
    if (!kv->strs) return -1;
    for (uint64_t i = 0; i < n; i++) {
        kv->strs[i] = xstrdup(s[i]);
        if (!kv->strs[i]) return -1;
        kv->n = i + 1;
    }
    return 0;
}

int qt_gguf_add_tensor(qt_gguf *g, const char *name, qt_ggml_type type, int n_dims, const uint64_t *ne,
                       const void *data, size_t nbytes, char *err, size_t errlen) {
    if (!name || !*name || strlen(name) > QT_GGUF_MAX_NAME) {
        snprintf(err, errlen, "gguf: tensor name \"%s\": expected 1..%d bytes", name ? name : "", QT_GGUF_MAX_NAME);
        return -1;
    }
    if (qt_gguf_tensor_find(g, name)) {
        snprintf(err, errlen, "gguf: tensor \"%s\" added twice", name);
        return -1;
    }
    if (!qt_ggml_type_name(type)) {
        snprintf(err, errlen, "gguf: tensor \"%s\": unknown ggml type %d", name, (int)type);
        return -1;
    }
    size_t want = qt_ggml_nbytes(type, n_dims, ne);
    if (!want || want != nbytes) {
        snprintf(err, errlen, "gguf: tensor \"%s\": %zu data bytes, but type %s and its shape need %zu "
                 "(ne[0] must be a multiple of %d)", name, nbytes, qt_ggml_type_name(type), want,
                 qt_ggml_block_size(type));
        return -1;
    }
    if (g->n_t == g->cap_t) {
        int cap = g->cap_t ? 2 * g->cap_t : 16;
        qt_gguf_tensor *t = realloc(g->t, (size_t)cap * sizeof *t);
        if (!t) {
            snprintf(err, errlen, "gguf: out of memory");
            return -1;
        }
        g->t = t;
        g->cap_t = cap;
    }
    qt_gguf_tensor *t = &g->t[g->n_t];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->type = type;
    t->n_dims = n_dims;
    for (int d = 0; d < n_dims; d++) t->ne[d] = ne[d];
    t->nbytes = nbytes;
    t->data = malloc(nbytes);
    if (!t->data) {
        snprintf(err, errlen, "gguf: out of memory for tensor \"%s\" (%zu bytes)", name, nbytes);
        return -1;
    }
    memcpy(t->data, data, nbytes);
    t->owned = 1;
    g->n_t++;
    return 0;
}

const qt_gguf_kv *qt_gguf_find(const qt_gguf *g, const char *key) {
    for (int i = 0; i < g->n_kv; i++)
        if (!strcmp(g->kv[i].key, key)) return &g->kv[i];
    return NULL;
}

const qt_gguf_tensor *qt_gguf_tensor_find(const qt_gguf *g, const char *name) {
    for (int i = 0; i < g->n_t; i++)
        if (!strcmp(g->t[i].name, name)) return &g->t[i];
    return NULL;
}

static const qt_gguf_kv *get_typed(const qt_gguf *g, const char *key, qt_gguf_vtype type, char *err, size_t errlen) {
    const qt_gguf_kv *kv = qt_gguf_find(g, key);
    if (!kv) {
        snprintf(err, errlen, "gguf: key \"%s\" is missing", key);
        return NULL;
    }
    if (kv->type != type) {
        snprintf(err, errlen, "gguf: key \"%s\": expected %s, found %s", key, qt_gguf_vtype_name(type),
                 qt_gguf_vtype_name(kv->type));
        return NULL;
    }
    return kv;
}

int qt_gguf_get_u32(const qt_gguf *g, const char *key, uint32_t *v, char *err, size_t errlen) {
    const qt_gguf_kv *kv = get_typed(g, key, QT_GGUF_U32, err, errlen);
    if (!kv) return -1;
    *v = (uint32_t)kv->val.u;
    return 0;
}

int qt_gguf_get_f32(const qt_gguf *g, const char *key, float *v, char *err, size_t errlen) {
    const qt_gguf_kv *kv = get_typed(g, key, QT_GGUF_F32, err, errlen);
    if (!kv) return -1;
    *v = (float)kv->val.f;
    return 0;
}

const char *qt_gguf_get_str(const qt_gguf *g, const char *key, char *err, size_t errlen) {
    const qt_gguf_kv *kv = get_typed(g, key, QT_GGUF_STRING, err, errlen);
    return kv ? kv->str : NULL;
}

/* ------------------------------------------------------------ writer */

typedef struct {
    FILE *f;
    int bad;
} wbuf;

static void w_bytes(wbuf *w, const void *p, size_t n) {
    if (!w->bad && n && fwrite(p, 1, n, w->f) != n) w->bad = 1;
}
static void w_u32(wbuf *w, uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    w_bytes(w, b, 4);
}
static void w_u64(wbuf *w, uint64_t v) {
    w_u32(w, (uint32_t)v);
    w_u32(w, (uint32_t)(v >> 32));
}
static void w_str(wbuf *w, const char *s) {
    size_t n = strlen(s);
    w_u64(w, n);
    w_bytes(w, s, n);
}

/* a scalar of type t from the KV's val (little endian) */
static void w_scalar(wbuf *w, qt_gguf_vtype t, const qt_gguf_kv *kv) {
    uint8_t b[8];
    switch (t) {
    case QT_GGUF_F32: {
        float f = (float)kv->val.f;
        memcpy(b, &f, 4);
        w_bytes(w, b, 4);
        return;
    }
    case QT_GGUF_F64: {
        double d = kv->val.f;
        memcpy(b, &d, 8);
        w_bytes(w, b, 8);
        return;
    }
    default: {
        uint64_t u = kv->val.u;
        for (size_t i = 0; i < VSIZE[t]; i++) b[i] = (uint8_t)(u >> (8 * i));
        w_bytes(w, b, VSIZE[t]);
    }
    }
}

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

/* Writes n zero bytes (padding of any alignment). */
static void w_zeros(wbuf *w, size_t n) {
    static const uint8_t zeros[256] = {0};
    while (n > 0) {
        size_t k = n < sizeof zeros ? n : sizeof zeros;
        w_bytes(w, zeros, k);
        n -= k;
    }
}

int qt_gguf_write(const qt_gguf *g, const char *path, char *err, size_t errlen) {
    const qt_gguf_kv *al = qt_gguf_find(g, "general.alignment");
    uint64_t align = al && al->type == QT_GGUF_U32 ? al->val.u : g->alignment ? g->alignment : 32;
    if (align == 0 || (align & (align - 1)) || align > QT_GGUF_MAX_ALIGNMENT) {
        snprintf(err, errlen, "%s: general.alignment %llu is not a power of two <= %d", path, (unsigned long long)align,
                 QT_GGUF_MAX_ALIGNMENT);
        return -1;
    }
    qt_afile out;
    if (qt_afile_open(&out, path, err, errlen)) return -1;
    wbuf w = {out.f, 0};
    w_bytes(&w, "GGUF", 4);
    w_u32(&w, QT_GGUF_VERSION);
    w_u64(&w, (uint64_t)g->n_t);
    w_u64(&w, (uint64_t)g->n_kv);
    for (int i = 0; i < g->n_kv; i++) {
        const qt_gguf_kv *kv = &g->kv[i];
        w_str(&w, kv->key);
        w_u32(&w, kv->type);
        if (kv->type == QT_GGUF_STRING) {
            w_str(&w, kv->str);
        } else if (kv->type == QT_GGUF_ARRAY) {
            w_u32(&w, kv->arr_type);
            w_u64(&w, kv->n);
            if (kv->arr_type == QT_GGUF_STRING)
                for (uint64_t j = 0; j < kv->n; j++) w_str(&w, kv->strs[j]);
            else
                w_bytes(&w, kv->arr, (size_t)kv->n * VSIZE[kv->arr_type]); /* host is little endian */
        } else {
            w_scalar(&w, kv->type, kv);
        }
    }
    uint64_t off = 0;
    for (int i = 0; i < g->n_t; i++) {
        const qt_gguf_tensor *t = &g->t[i];
        w_str(&w, t->name);
        w_u32(&w, (uint32_t)t->n_dims);
        for (int d = 0; d < t->n_dims; d++) w_u64(&w, t->ne[d]);
        w_u32(&w, (uint32_t)t->type);
        w_u64(&w, off);
        off = align_up(off + t->nbytes, align);
    }
    long pos = ftell(w.f);
    if (pos < 0) w.bad = 1;
    else w_zeros(&w, (size_t)(align_up((uint64_t)pos, align) - (uint64_t)pos));
    for (int i = 0; i < g->n_t; i++) {
        const qt_gguf_tensor *t = &g->t[i];
        w_bytes(&w, t->data, t->nbytes);
        if (i + 1 < g->n_t) w_zeros(&w, (size_t)(align_up(t->nbytes, align) - t->nbytes));
    }
    if (w.bad) {
        snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno ? errno : EIO));
        qt_afile_abort(&out);
        return -1;
    }
    return qt_afile_commit(&out, err, errlen);
}

/* ------------------------------------------------------------ reader */

typedef struct {
    const uint8_t *p;
    size_t pos, size;
    const char *path;
    char *err;
    size_t errlen;
    int bad;
} rbuf;

static void rfail(rbuf *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rfail(rbuf *r, const char *fmt, ...) {
    if (r->bad) return;
    r->bad = 1;
    int n = snprintf(r->err, r->errlen, "%s: ", r->path);
    if (n < 0 || (size_t)n >= r->errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err + n, r->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    /* names and keys come from the file: keep the message on one line */
    for (char *c = r->err; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
}

static size_t left(const rbuf *r) { return r->size - r->pos; }

static int need(rbuf *r, uint64_t n, const char *what) {
    if (r->bad) return -1;
    if (n > left(r)) {
        rfail(r, "truncated: %s needs %llu bytes at offset %zu, the file has %zu left", what, (unsigned long long)n,
              r->pos, left(r));
        return -1;
    }
    return 0;
}

static uint64_t r_le(rbuf *r, size_t n, const char *what) {
    if (need(r, n, what)) return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v |= (uint64_t)r->p[r->pos + i] << (8 * i);
    r->pos += n;
    return v;
}

/* a string: length checked against the file before allocating */
static char *r_str(rbuf *r, const char *what) {
    uint64_t n = r_le(r, 8, what);
    if (need(r, n, what)) return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s) {
        rfail(r, "out of memory reading %s", what);
        return NULL;
    }
    memcpy(s, r->p + r->pos, (size_t)n);
    s[n] = 0;
    r->pos += (size_t)n;
    return s;
}

static void r_scalar(rbuf *r, qt_gguf_vtype t, qt_gguf_kv *kv, const char *what) {
    uint64_t u = r_le(r, VSIZE[t], what);
    switch (t) {
    case QT_GGUF_I8: kv->val.i = (int8_t)u; break;
    case QT_GGUF_I16: kv->val.i = (int16_t)u; break;
    case QT_GGUF_I32: kv->val.i = (int32_t)u; break;
    case QT_GGUF_I64: kv->val.i = (int64_t)u; break;
    case QT_GGUF_F32: {
        uint32_t b = (uint32_t)u;
        float f;
        memcpy(&f, &b, 4);
        kv->val.f = f;
        break;
    }
    case QT_GGUF_F64: {
        double d;
        memcpy(&d, &u, 8);
        kv->val.f = d;
        break;
    }
    case QT_GGUF_BOOL:
        if (u > 1) rfail(r, "%s: bool value %llu", what, (unsigned long long)u);
        kv->val.u = u;
        break;
    default: kv->val.u = u;
    }
}

static int read_kv(rbuf *r, qt_gguf_kv *kv, int idx) {
    char what[128];
    snprintf(what, sizeof what, "key of KV %d", idx);
    kv->key = r_str(r, what);
    if (!kv->key) return -1;
    snprintf(what, sizeof what, "KV \"%.80s\"", kv->key);
    uint32_t t = (uint32_t)r_le(r, 4, what);
    if (r->bad) return -1;
    if (t > QT_GGUF_F64) {
        rfail(r, "%s: unknown value type %u", what, t);
        return -1;
    }
    kv->type = (qt_gguf_vtype)t;
    if (t == QT_GGUF_STRING) {
        kv->str = r_str(r, what);
    } else if (t == QT_GGUF_ARRAY) {
        uint32_t et = (uint32_t)r_le(r, 4, what);
        uint64_t n = r_le(r, 8, what);
        if (r->bad) return -1;
        if (et > QT_GGUF_F64 || et == QT_GGUF_ARRAY) {
            rfail(r, "%s: unsupported array element type %u", what, et);
            return -1;
        }
        kv->arr_type = (qt_gguf_vtype)et;
        if (et == QT_GGUF_STRING) {
            /* each string takes at least its 8-byte length */
            if (n > left(r) / 8) {
                rfail(r, "%s: declares %llu strings, more than the %zu bytes left can hold", what,
                      (unsigned long long)n, left(r));
                return -1;
            }
            kv->strs = calloc(n ? (size_t)n : 1, sizeof *kv->strs);
            if (!kv->strs) {
                rfail(r, "out of memory reading %s", what);
                return -1;
            }
            for (uint64_t i = 0; i < n && !r->bad; i++) {
                kv->strs[i] = r_str(r, what);
                if (kv->strs[i]) kv->n = i + 1;
            }
        } else {
            if (n > left(r) / VSIZE[et]) {
                rfail(r, "%s: declares %llu elements of %s, more than the %zu bytes left", what,
                      (unsigned long long)n, qt_gguf_vtype_name((int)et), left(r));
                return -1;
            }
            size_t bytes = (size_t)n * VSIZE[et];
            kv->arr = malloc(bytes ? bytes : 1);
            if (!kv->arr) {
                rfail(r, "out of memory reading %s", what);
                return -1;
            }
            memcpy(kv->arr, r->p + r->pos, bytes);
            r->pos += bytes;
            kv->n = n;
        }
    } else {
        r_scalar(r, kv->type, kv, what);
    }
    return r->bad ? -1 : 0;
}

qt_gguf *qt_gguf_read(const char *path, char *err, size_t errlen) {
    size_t size;
    int fd = qt_open_regular(path, &size, err, errlen);
    if (fd < 0) return NULL;
    if (size < 24) {
        snprintf(err, errlen, "%s: truncated: %zu bytes, a GGUF header needs 24", path, size);
        close(fd);
        return NULL;
    }
    uint8_t head[4];
    if (pread(fd, head, 4, 0) != 4 || memcmp(head, "GGUF", 4)) {
        snprintf(err, errlen, "%s: bad magic (expected \"GGUF\"): not a GGUF file", path);
        close(fd);
        return NULL;
    }
    qt_gguf *g = qt_gguf_new();
    if (!g) {
        snprintf(err, errlen, "%s: out of memory", path);
        close(fd);
        return NULL;
    }
    uint8_t *img = qt_read_image(fd, size, path, err, errlen);
    if (!img) {
        qt_gguf_free(g);
        return NULL;
    }
    g->image = img;
    rbuf r = {img, 4, size, path, err, errlen, 0};
    g->version = (uint32_t)r_le(&r, 4, "version");
    if (g->version != 2 && g->version != 3) {
        snprintf(err, errlen, "%s: GGUF version %u (expected 3, or 2)", path, g->version);
        qt_gguf_free(g);
        return NULL;
    }
    uint64_t n_t = r_le(&r, 8, "tensor count"), n_kv = r_le(&r, 8, "KV count");
    /* a KV needs >= 8 (key length) + 4 (type) + 1 bytes; a tensor info >= 8 + 4 + 8 + 4 + 8 */
    if (n_kv > left(&r) / 13 || n_t > left(&r) / 32 || n_t > 1u << 24 || n_kv > 1u << 24) {
        snprintf(err, errlen, "%s: declares %llu tensors and %llu KVs, more than its %zu bytes can hold", path,
                 (unsigned long long)n_t, (unsigned long long)n_kv, size);
        qt_gguf_free(g);
        return NULL;
    }
    g->kv = calloc(n_kv ? (size_t)n_kv : 1, sizeof *g->kv);
    g->cap_kv = (int)(n_kv ? n_kv : 1);
    g->t = calloc(n_t ? (size_t)n_t : 1, sizeof *g->t);
    g->cap_t = (int)(n_t ? n_t : 1);
    if (!g->kv || !g->t) {
        snprintf(err, errlen, "%s: out of memory", path);
        qt_gguf_free(g);
        return NULL;
    }
    for (uint64_t i = 0; i < n_kv && !r.bad; i++) {
        int rc = read_kv(&r, &g->kv[i], (int)i);
        g->n_kv = (int)i + 1;
        if (rc) break;
        for (uint64_t j = 0; j < i; j++)
            if (!strcmp(g->kv[j].key, g->kv[i].key)) rfail(&r, "KV \"%.80s\" appears twice", g->kv[i].key);
    }
    uint64_t align = QT_GGUF_DEFAULT_ALIGNMENT;
    const qt_gguf_kv *al = r.bad ? NULL : qt_gguf_find(g, "general.alignment");
    if (al) {
        if (al->type != QT_GGUF_U32 || al->val.u == 0 || (al->val.u & (al->val.u - 1)) || al->val.u > QT_GGUF_MAX_ALIGNMENT)
            rfail(&r, "general.alignment: expected a u32 power of two <= %d", QT_GGUF_MAX_ALIGNMENT);
        else
            align = al->val.u;
    }
    g->alignment = (uint32_t)align;
    for (uint64_t i = 0; i < n_t && !r.bad; i++) {
        qt_gguf_tensor *t = &g->t[i];
        char what[96];
        snprintf(what, sizeof what, "tensor info %llu", (unsigned long long)i);
        char *name = r_str(&r, what);
        if (!name) break;
        if (strlen(name) > QT_GGUF_MAX_NAME) {
            rfail(&r, "tensor name \"%.80s\" is longer than %d bytes", name, QT_GGUF_MAX_NAME);
            free(name);
            break;
        }
        snprintf(t->name, sizeof t->name, "%s", name);
        free(name);
        snprintf(what, sizeof what, "tensor \"%s\"", t->name);
        uint32_t nd = (uint32_t)r_le(&r, 4, what);
        if (r.bad) break;
        if (nd < 1 || nd > QT_GGUF_MAX_DIMS) {
            rfail(&r, "%s: %u dimensions (expected 1..%d)", what, nd, QT_GGUF_MAX_DIMS);
            break;
        }
        t->n_dims = (int)nd;
        for (uint32_t d = 0; d < nd; d++) t->ne[d] = r_le(&r, 8, what);
        uint32_t type = (uint32_t)r_le(&r, 4, what);
        t->offset = r_le(&r, 8, what);
        if (r.bad) break;
        if (!qt_ggml_type_name((int)type)) {
            rfail(&r, "%s: unknown ggml type %u", what, type);
            break;
        }
        t->type = (qt_ggml_type)type;
        t->nbytes = qt_ggml_nbytes((int)type, t->n_dims, t->ne);
        if (!t->nbytes) {
            rfail(&r, "%s: shape [%llu, ...] does not fit type %s (ne[0] a multiple of %d, all dims > 0)", what,
                  (unsigned long long)t->ne[0], qt_ggml_type_name((int)type), qt_ggml_block_size((int)type));
            break;
        }
        if (t->offset % align) {
            rfail(&r, "%s: data offset %llu is not a multiple of the alignment %llu", what,
                  (unsigned long long)t->offset, (unsigned long long)align);
            break;
        }
        for (uint64_t j = 0; j < i; j++)
            if (!strcmp(g->t[j].name, t->name)) rfail(&r, "tensor \"%s\" appears twice", t->name);
        g->n_t = (int)i + 1;
    }
    size_t data_start = (size_t)align_up(r.pos, align);
    for (int i = 0; i < g->n_t && !r.bad; i++) {
        qt_gguf_tensor *t = &g->t[i];
        if (data_start > size || t->offset > size - data_start || t->nbytes > size - data_start - t->offset) {
            rfail(&r, "truncated: tensor \"%s\" data [%llu, +%zu) lies beyond the end of the file", t->name,
                  (unsigned long long)t->offset, t->nbytes);
            break;
        }
        t->data = img + data_start + t->offset;
        t->owned = 0;
        for (int j = 0; j < i; j++) {
            const qt_gguf_tensor *u = &g->t[j];
            if (t->offset < u->offset + u->nbytes && u->offset < t->offset + t->nbytes)
                rfail(&r, "tensors \"%s\" and \"%s\" overlap", u->name, t->name);
        }
    }
    if (r.bad) {
        qt_gguf_free(g);
        return NULL;
    }
    return g;
}
