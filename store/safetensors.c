/* safetensors writer and reader; see store/safetensors.h. */
#include "base/files.h"
#include "store/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/half.h"

static const char *const DT_NAME[QT_ST_NDTYPES] = {"BOOL", "U8", "I8", "I16", "U16", "F16", "BF16",
                                                   "I32", "U32", "F32", "F64", "I64", "U64"};
static const size_t DT_SIZE[QT_ST_NDTYPES] = {1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 8, 8, 8};

const char *qt_st_dtype_name(qt_st_dtype d) { return (int)d >= 0 && d < QT_ST_NDTYPES ? DT_NAME[d] : "?"; }
size_t qt_st_dtype_size(qt_st_dtype d) { return (int)d >= 0 && d < QT_ST_NDTYPES ? DT_SIZE[d] : 0; }

int qt_st_dtype_from_name(const char *name) {
    for (int i = 0; i < QT_ST_NDTYPES; i++)
        if (!strcmp(DT_NAME[i], name)) return i;
    return -1;
}

qt_safetensors *qt_st_new(void) { return calloc(1, sizeof(qt_safetensors)); }

void qt_st_free(qt_safetensors *st) {
    if (!st) return;
    for (int i = 0; i < st->n; i++) {
        free(st->t[i].name);
        if (st->t[i].owned) free(st->t[i].data);
    }
    free(st->t);
    for (int i = 0; i < st->n_meta; i++) {
        free(st->meta_key[i]);
        free(st->meta_val[i]);
    }
    free(st->meta_key);
    free(st->meta_val);
    free(st->image);
    free(st);
}

static char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

const qt_st_tensor *qt_st_find(const qt_safetensors *st, const char *name) {
    for (int i = 0; i < st->n; i++)
        if (!strcmp(st->t[i].name, name)) return &st->t[i];
    return NULL;
}

/* numel·size of a shape, 0 on overflow (a zero-sized tensor gives *ok = 1, 0) */
static int shape_bytes(qt_st_dtype d, int ndim, const int64_t *shape, uint64_t *bytes) {
    uint64_t b = DT_SIZE[d];
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return -1;
        if (shape[i] && b > UINT64_MAX / (uint64_t)shape[i]) return -1;
        b *= (uint64_t)shape[i];
    }
    *bytes = b;
    return 0;
}

static int grow(qt_safetensors *st) {
    if (st->n < st->cap) return 0;
    int cap = st->cap ? 2 * st->cap : 16;
    qt_st_tensor *t = realloc(st->t, (size_t)cap * sizeof *t);
    if (!t) return -1;
    st->t = t;
    st->cap = cap;
    return 0;
}

int qt_st_add(qt_safetensors *st, const char *name, qt_st_dtype dtype, int ndim, const int64_t *shape,
              const void *data, size_t nbytes, char *err, size_t errlen) {
    uint64_t want;
    if (!name || !*name || !strcmp(name, "__metadata__")) {
        snprintf(err, errlen, "safetensors: tensor name \"%s\" is not allowed", name ? name : "");
        return -1;
    }
    if ((int)dtype < 0 || dtype >= QT_ST_NDTYPES || ndim < 0 || ndim > QT_ST_MAX_DIMS ||
        shape_bytes(dtype, ndim, shape, &want) || want != nbytes) {
        snprintf(err, errlen, "safetensors: tensor \"%s\": %zu bytes do not match its dtype and shape", name, nbytes);
        return -1;
    }
    if (qt_st_find(st, name)) {
        snprintf(err, errlen, "safetensors: tensor \"%s\" added twice", name);
        return -1;
    }
    if (grow(st)) {
        snprintf(err, errlen, "safetensors: out of memory");
        return -1;
    }
    qt_st_tensor *t = &st->t[st->n];
    memset(t, 0, sizeof *t);
    t->name = xstrdup(name);
    t->data = malloc(nbytes ? nbytes : 1);
    if (!t->name || !t->data) {
        free(t->name);
        free(t->data);
        snprintf(err, errlen, "safetensors: out of memory for \"%s\"", name);
        return -1;
    }
    if (nbytes) memcpy(t->data, data, nbytes);
    t->owned = 1;
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->nbytes = nbytes;
    st->n++;
    return 0;
}

int qt_st_set_meta(qt_safetensors *st, const char *key, const char *value) {
    for (int i = 0; i < st->n_meta; i++)
        if (!strcmp(st->meta_key[i], key)) {
            char *v = xstrdup(value);
            if (!v) return -1;
            free(st->meta_val[i]);
            st->meta_val[i] = v;
            return 0;
        }
    char **k = realloc(st->meta_key, (size_t)(st->n_meta + 1) * sizeof *k);
    if (!k) return -1;
    st->meta_key = k;
    char **v = realloc(st->meta_val, (size_t)(st->n_meta + 1) * sizeof *v);
    if (!v) return -1;
    st->meta_val = v;
    st->meta_key[st->n_meta] = xstrdup(key);
    st->meta_val[st->n_meta] = xstrdup(value);
    if (!st->meta_key[st->n_meta] || !st->meta_val[st->n_meta]) return -1;
    st->n_meta++;
    return 0;
}

const char *qt_st_get_meta(const qt_safetensors *st, const char *key) {
    for (int i = 0; i < st->n_meta; i++)
        if (!strcmp(st->meta_key[i], key)) return st->meta_val[i];
    return NULL;
}

int qt_st_write(const qt_safetensors *st, const char *path, char *err, size_t errlen) {
    cJSON *h = cJSON_CreateObject();
    if (!h) goto oom;
    if (st->n_meta) {
        cJSON *m = cJSON_AddObjectToObject(h, "__metadata__");
        for (int i = 0; m && i < st->n_meta; i++) cJSON_AddStringToObject(m, st->meta_key[i], st->meta_val[i]);
    }
    uint64_t off = 0;
    for (int i = 0; i < st->n; i++) {
        const qt_st_tensor *t = &st->t[i];
        cJSON *o = cJSON_AddObjectToObject(h, t->name);
        if (!o) goto oom;
        cJSON_AddStringToObject(o, "dtype", DT_NAME[t->dtype]);
        cJSON *sh = cJSON_AddArrayToObject(o, "shape");
        for (int d = 0; sh && d < t->ndim; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[d]));
        cJSON *of = cJSON_AddArrayToObject(o, "data_offsets");
        if (of) {
            cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off));
            cJSON_AddItemToArray(of, cJSON_CreateNumber((double)(off + t->nbytes)));
        }
        off += t->nbytes;
    }
    char *js = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    h = NULL;
    if (!js) goto oom;
    size_t jl = strlen(js), pad = (8 - jl % 8) % 8;
    uint64_t N = jl + pad;
    qt_afile out;
    if (qt_afile_open(&out, path, err, errlen)) {
        free(js);
        return -1;
    }
    FILE *f = out.f;
    uint8_t nb[8];
    for (int i = 0; i < 8; i++) nb[i] = (uint8_t)(N >> (8 * i));
    int bad = fwrite(nb, 1, 8, f) != 8 || fwrite(js, 1, jl, f) != jl;
    for (size_t i = 0; i < pad && !bad; i++) bad = fputc(' ', f) == EOF;
    free(js);
    for (int i = 0; i < st->n && !bad; i++)
        if (st->t[i].nbytes) bad = fwrite(st->t[i].data, 1, st->t[i].nbytes, f) != st->t[i].nbytes;
    if (bad) {
        snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno ? errno : EIO));
        qt_afile_abort(&out);
        return -1;
    }
    return qt_afile_commit(&out, err, errlen);
oom:
    cJSON_Delete(h);
    snprintf(err, errlen, "%s: out of memory", path);
    return -1;
}

/* a JSON number that is a non-negative integer below 2^53 */
static int json_u64(const cJSON *n, uint64_t *v) {
    if (!cJSON_IsNumber(n)) return -1;
    double d = n->valuedouble;
    if (!(d >= 0) || d > 9007199254740992.0 || floor(d) != d) return -1;
    *v = (uint64_t)d;
    return 0;
}

static qt_safetensors *st_read(const char *path, char *err, size_t errlen);

qt_safetensors *qt_st_read(const char *path, char *err, size_t errlen) {
    qt_safetensors *st = st_read(path, err, errlen);
    /* tensor names come from the file: keep the message on one line */
    if (!st && err)
        for (char *c = err; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
    return st;
}

static qt_safetensors *st_read(const char *path, char *err, size_t errlen) {
    size_t size;
    int fd = qt_open_regular(path, &size, err, errlen);
    if (fd < 0) return NULL;
    uint8_t nb[8];
    if (size < 8 || pread(fd, nb, 8, 0) != 8) {
        snprintf(err, errlen, "%s: truncated: %zu bytes, the header length needs 8", path, size);
        close(fd);
        return NULL;
    }
    uint64_t N = 0;
    for (int i = 0; i < 8; i++) N |= (uint64_t)nb[i] << (8 * i);
    if (N > size - 8 || N > QT_ST_MAX_HEADER || N < 2) {
        snprintf(err, errlen, "%s: header length %llu does not fit the file (%zu bytes) or the %u-byte limit: "
                 "not a safetensors file, or truncated", path, (unsigned long long)N, size, QT_ST_MAX_HEADER);
        close(fd);
        return NULL;
    }
    qt_safetensors *st = qt_st_new();
    if (!st) {
        snprintf(err, errlen, "%s: out of memory", path);
        close(fd);
        return NULL;
    }
    uint8_t *img = qt_read_image(fd, size, path, err, errlen);
    if (!img) {
        qt_st_free(st);
        return NULL;
    }
    st->image = img;
    cJSON *h = cJSON_ParseWithLength((const char *)img + 8, (size_t)N);
    if (!h || !cJSON_IsObject(h)) {
        snprintf(err, errlen, "%s: header is not a JSON object: not a safetensors file", path);
        cJSON_Delete(h);
        qt_st_free(st);
        return NULL;
    }
    const uint64_t buf = size - 8 - N;
    const uint8_t *base = img + 8 + N;
    int bad = 0, count = cJSON_GetArraySize(h);
    st->t = calloc((size_t)(count > 0 ? count : 1), sizeof *st->t);
    st->cap = count > 0 ? count : 1;
    if (!st->t) bad = snprintf(err, errlen, "%s: out of memory", path) > 0;
    for (cJSON *e = h->child; e && !bad; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) {
            if (!cJSON_IsObject(e)) bad = snprintf(err, errlen, "%s: __metadata__ is not an object", path) > 0;
            for (cJSON *m = e->child; m && !bad; m = m->next) {
                if (!cJSON_IsString(m))
                    bad = snprintf(err, errlen, "%s: __metadata__.%s is not a string", path, m->string) > 0;
                else if (qt_st_set_meta(st, m->string, m->valuestring))
                    bad = snprintf(err, errlen, "%s: out of memory", path) > 0;
            }
            continue;
        }
        const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
        const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
        const cJSON *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
        int d = cJSON_IsString(dt) ? qt_st_dtype_from_name(dt->valuestring) : -1;
        if (!cJSON_IsObject(e) || d < 0 || !cJSON_IsArray(sh) || !cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2 ||
            cJSON_GetArraySize(sh) > QT_ST_MAX_DIMS) {
            bad = snprintf(err, errlen, "%s: tensor \"%s\": expected {dtype, shape (<= %d dims), data_offsets "
                           "[begin, end]} with a known dtype", path, e->string, QT_ST_MAX_DIMS) > 0;
            break;
        }
        qt_st_tensor *t = &st->t[st->n];
        memset(t, 0, sizeof *t);
        t->dtype = (qt_st_dtype)d;
        t->ndim = cJSON_GetArraySize(sh);
        for (int i = 0; i < t->ndim && !bad; i++) {
            uint64_t v = 0;
            if (json_u64(cJSON_GetArrayItem(sh, i), &v))
                bad = snprintf(err, errlen, "%s: tensor \"%s\": shape[%d] is not a non-negative integer", path,
                               e->string, i) > 0;
            t->shape[i] = (int64_t)v;
        }
        uint64_t b0 = 0, b1 = 0, want = 0;
        if (!bad && (json_u64(cJSON_GetArrayItem(of, 0), &b0) || json_u64(cJSON_GetArrayItem(of, 1), &b1) ||
                     b1 < b0 || b1 > buf)) {
            bad = snprintf(err, errlen, "%s: tensor \"%s\": data_offsets outside the %llu-byte data buffer "
                           "(truncated file?)", path, e->string, (unsigned long long)buf) > 0;
        }
        if (!bad && (shape_bytes(t->dtype, t->ndim, t->shape, &want) || want != b1 - b0))
            bad = snprintf(err, errlen, "%s: tensor \"%s\": data_offsets span %llu bytes, shape and dtype %s need "
                           "%llu", path, e->string, (unsigned long long)(b1 - b0), DT_NAME[t->dtype],
                           (unsigned long long)want) > 0;
        if (bad) break;
        t->name = xstrdup(e->string);
        if (!t->name) {
            bad = snprintf(err, errlen, "%s: out of memory", path) > 0;
            break;
        }
        t->data = (void *)(base + b0);
        t->nbytes = (size_t)(b1 - b0);
        st->n++;
        for (int j = 0; j + 1 < st->n && !bad; j++) {
            const qt_st_tensor *u = &st->t[j];
            uint64_t u0 = (uint64_t)((const uint8_t *)u->data - base), u1 = u0 + u->nbytes;
            if (t->nbytes && u->nbytes && b0 < u1 && u0 < b1)
                bad = snprintf(err, errlen, "%s: tensors \"%s\" and \"%s\" overlap", path, u->name, t->name) > 0;
            if (!strcmp(u->name, t->name))
                bad = snprintf(err, errlen, "%s: tensor \"%s\" appears twice", path, t->name) > 0;
        }
    }
    cJSON_Delete(h);
    if (bad) {
        qt_st_free(st);
        return NULL;
    }
    return st;
}

int qt_st_to_f32(const qt_st_tensor *t, float *out, size_t n, char *err, size_t errlen) {
    size_t es = DT_SIZE[t->dtype];
    if (t->nbytes / es != n) {
        snprintf(err, errlen, "tensor \"%s\": %zu elements, expected %zu", t->name, t->nbytes / es, n);
        return -1;
    }
    const uint8_t *p = t->data;
    switch (t->dtype) {
    case QT_ST_F32: memcpy(out, p, n * 4); return 0;
    case QT_ST_F16:
        for (size_t i = 0; i < n; i++) out[i] = qt_f16_to_f32((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
        return 0;
    case QT_ST_BF16:
        for (size_t i = 0; i < n; i++) out[i] = qt_bf16_to_f32((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
        return 0;
    default:
        snprintf(err, errlen, "tensor \"%s\": dtype %s (expected F32, F16 or BF16)", t->name, DT_NAME[t->dtype]);
        return -1;
    }
}
