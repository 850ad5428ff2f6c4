/* safetensors writer/reader: round trip (tensors, dtypes, shapes, metadata;
 * write(read(f)) == f byte for byte), F16/BF16 → F32 conversion, and refusal
 * of corrupt files (every truncation, header length beyond the file or huge,
 * offsets outside the buffer, size not matching shape × dtype, overlap, bad
 * JSON, unknown dtype) with a message naming the file. */
#include <stdlib.h>
#include <string.h>

#include "store/safetensors.h"
#include "quant/quant.h"
#include "test_util.h"

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n + 1);
    if (fread(b, 1, *n, f) != *n) *n = 0;
    fclose(f);
    return b;
}

static void spit(const char *path, const void *b, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, n, f);
    fclose(f);
}

static void refused(const char *path, const char *want, const char *what) {
    char err[512] = "";
    qt_safetensors *st = qt_st_read(path, err, sizeof err);
    CHECK(!st, "%s: accepted", what);
    CHECK(strstr(err, want) && strstr(err, path), "%s: message \"%s\" lacks \"%s\" or the file", what, err, want);
    qt_st_free(st);
}

/* a file with the given JSON header and a data buffer of n bytes */
static void craft(const char *path, const char *json, size_t n) {
    size_t jl = strlen(json);
    unsigned char *b = calloc(8 + jl + n, 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)jl >> (8 * i));
    memcpy(b + 8, json, jl);
    spit(path, b, 8 + jl + n);
    free(b);
}

int main(void) {
    char dir[512], p1[600], p2[600], pc[600], err[512];
    tu_tmpdir(dir, sizeof dir);
    snprintf(p1, sizeof p1, "%s/a.safetensors", dir);
    snprintf(p2, sizeof p2, "%s/b.safetensors", dir);
    snprintf(pc, sizeof pc, "%s/c.safetensors", dir);
    uint64_t s = 1;
    float w[6 * 5];
    tu_fill_normal(w, 30, 1.0f, &s);
    uint16_t h[7], bf[3] = {0x3f80, 0xc000, 0x0000}; /* bf16 1, -2, 0 */
    for (int i = 0; i < 7; i++) h[i] = qt_f32_to_f16((float)i - 3.5f);
    int32_t iv[4] = {1, -2, 3, 2147483647};
    qt_safetensors *st = qt_st_new();
    CHECK(qt_st_add(st, "w", QT_ST_F32, 2, (int64_t[]){6, 5}, w, sizeof w, err, sizeof err) == 0, "%s", err);
    CHECK(qt_st_add(st, "h", QT_ST_F16, 1, (int64_t[]){7}, h, sizeof h, err, sizeof err) == 0, "%s", err);
    CHECK(qt_st_add(st, "b", QT_ST_BF16, 3, (int64_t[]){1, 3, 1}, bf, sizeof bf, err, sizeof err) == 0, "%s", err);
    CHECK(qt_st_add(st, "i", QT_ST_I32, 2, (int64_t[]){2, 2}, iv, sizeof iv, err, sizeof err) == 0, "%s", err);
    CHECK(qt_st_add(st, "scalar", QT_ST_I32, 0, NULL, iv, 4, err, sizeof err) == 0, "%s", err);
    CHECK(qt_st_add(st, "empty", QT_ST_F32, 2, (int64_t[]){0, 4}, NULL, 0, err, sizeof err) == 0, "%s", err);
    CHECK(qt_st_add(st, "x", QT_ST_F32, 1, (int64_t[]){3}, w, 8, err, sizeof err) == -1, "size mismatch accepted");
    CHECK(qt_st_add(st, "w", QT_ST_F32, 1, (int64_t[]){1}, w, 4, err, sizeof err) == -1, "duplicate accepted");
    qt_st_set_meta(st, "format", "pt");
    qt_st_set_meta(st, "note", "a \"quoted\" value");
    CHECK(qt_st_write(st, p1, err, sizeof err) == 0, "%s", err);
    qt_safetensors *r = qt_st_read(p1, err, sizeof err);
    CHECK(r != NULL, "%s", err);
    if (r) {
        CHECK(r->n == st->n, "tensor count %d, expected %d", r->n, st->n);
        for (int i = 0; i < st->n; i++) {
            const qt_st_tensor *a = &st->t[i], *b = qt_st_find(r, a->name);
            CHECK(b && b->dtype == a->dtype && b->ndim == a->ndim && b->nbytes == a->nbytes &&
                  !memcmp(a->data, b->data, a->nbytes) && !memcmp(a->shape, b->shape, sizeof(int64_t) * a->ndim),
                  "tensor %s changed", a->name);
        }
        CHECK(qt_st_get_meta(r, "note") && !strcmp(qt_st_get_meta(r, "note"), "a \"quoted\" value"), "metadata");
        float f[7];
        CHECK(qt_st_to_f32(qt_st_find(r, "h"), f, 7, err, sizeof err) == 0 && f[0] == -3.5f && f[6] == 2.5f, "f16");
        CHECK(qt_st_to_f32(qt_st_find(r, "b"), f, 3, err, sizeof err) == 0 && f[0] == 1.0f && f[1] == -2.0f &&
              f[2] == 0.0f, "bf16");
        CHECK(qt_st_to_f32(qt_st_find(r, "i"), f, 4, err, sizeof err) == -1 && strstr(err, "I32"), "i32 to f32");
        CHECK(qt_st_write(r, p2, err, sizeof err) == 0, "%s", err);
        size_t n1, n2;
        unsigned char *b1 = slurp(p1, &n1), *b2 = slurp(p2, &n2);
        CHECK(n1 == n2 && !memcmp(b1, b2, n1), "write(read(f)) differs from f");
        uint64_t N = 0;
        for (int i = 0; i < 8; i++) N |= (uint64_t)b1[i] << (8 * i);
        CHECK(N % 8 == 0, "header length %llu not padded to 8", (unsigned long long)N);
        /* every truncation is refused */
        for (size_t cut = 0; cut < n1; cut += (cut < 16 ? 1 : 37)) {
            spit(pc, b1, cut);
            char e2[512] = "";
            qt_safetensors *t = qt_st_read(pc, e2, sizeof e2);
            CHECK(!t, "truncated at %zu of %zu accepted", cut, n1);
            qt_st_free(t);
        }
        unsigned char *c = malloc(n1);
        memcpy(c, b1, n1);
        c[7] = 0x7f; /* header length 2^62-ish */
        spit(pc, c, n1);
        refused(pc, "header length", "huge header length");
        memcpy(c, b1, n1);
        c[8] = '[';
        spit(pc, c, n1);
        refused(pc, "not a JSON object", "bad JSON");
        free(c);
        free(b1);
        free(b2);
    }
    qt_st_free(r);
    qt_st_free(st);
    craft(pc, "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8);
    refused(pc, "outside", "offsets beyond the buffer");
    craft(pc, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],\"data_offsets\":[0,16]}}", 16);
    refused(pc, "need", "shape far larger than its bytes");
    craft(pc, "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", 16);
    refused(pc, "need 12", "span not matching the shape");
    craft(pc, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
              "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16);
    refused(pc, "overlap", "overlapping tensors");
    craft(pc, "{\"a\":{\"dtype\":\"Q4\",\"shape\":[4],\"data_offsets\":[0,2]}}", 2);
    refused(pc, "known dtype", "unknown dtype");
    craft(pc, "{\"a\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}", 16);
    refused(pc, "shape[0]", "negative dim");
    refused("/nonexistent/a.safetensors", "cannot open", "missing file");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) fprintf(stderr, "cleanup failed\n");
    return tu_finish("test_safetensors");
}
