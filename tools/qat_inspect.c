/* qat_inspect: prints a GGUF, safetensors (or AWQ directory) or qatc HDF5
 * file's metadata, tensors, types, shapes, sizes and bits per weight; for a
 * qatc HDF5 file also whether it verifies (integrity header, checksums).
 * usage: qat_inspect FILE|DIR   (exit 0, or 1 with one line on stderr) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/gguf.h"
#include "store/h5store.h"
#include "store/safetensors.h"

static void print_kv(const qt_gguf_kv *kv) {
    printf("  %-44s %-7s ", kv->key, qt_gguf_vtype_name(kv->type));
    switch (kv->type) {
    case QT_GGUF_STRING: printf("\"%.120s\"", kv->str); break;
    case QT_GGUF_F32:
    case QT_GGUF_F64: printf("%.9g", kv->val.f); break;
    case QT_GGUF_I8:
    case QT_GGUF_I16:
    case QT_GGUF_I32:
    case QT_GGUF_I64: printf("%lld", (long long)kv->val.i); break;
    case QT_GGUF_BOOL: printf("%s", kv->val.u ? "true" : "false"); break;
    case QT_GGUF_ARRAY:
        printf("%s[%llu]", qt_gguf_vtype_name(kv->arr_type), (unsigned long long)kv->n);
        if (kv->arr_type == QT_GGUF_STRING && kv->n)
            printf(" \"%.40s\" ... \"%.40s\"", kv->strs[0], kv->strs[kv->n - 1]);
        break;
    default: printf("%llu", (unsigned long long)kv->val.u);
    }
    printf("\n");
}

static int inspect_gguf(const char *path) {
    char err[1024];
    qt_gguf *g = qt_gguf_read(path, err, sizeof err);
    if (!g) {
        fprintf(stderr, "qat_inspect: %s\n", err);
        return 1;
    }
    printf("%s: GGUF v%u, %d metadata keys, %d tensors, alignment %u\nmetadata:\n", path, g->version, g->n_kv, g->n_t,
           g->alignment);
    for (int i = 0; i < g->n_kv; i++) print_kv(&g->kv[i]);
    printf("tensors:\n  %-32s %-6s %-22s %12s %8s\n", "name", "type", "ne (fastest first)", "bytes", "bits/w");
    double bytes = 0, n = 0;
    for (int i = 0; i < g->n_t; i++) {
        const qt_gguf_tensor *t = &g->t[i];
        char shape[64] = "";
        size_t o = 0;
        uint64_t cnt = 1;
        for (int d = 0; d < t->n_dims; d++) {
            o += (size_t)snprintf(shape + o, sizeof shape - o, "%s%llu", d ? ", " : "[", (unsigned long long)t->ne[d]);
            cnt *= t->ne[d];
        }
        snprintf(shape + o, sizeof shape - o, "]");
        printf("  %-32s %-6s %-22s %12zu %8.3f\n", t->name, qt_ggml_type_name(t->type), shape, t->nbytes,
               8.0 * t->nbytes / (double)cnt);
        bytes += t->nbytes;
        n += (double)cnt;
    }
    printf("total: %.0f weights, %.0f bytes, %.3f bits per weight\n", n, bytes, n ? 8 * bytes / n : 0);
    qt_gguf_free(g);
    return 0;
}

static int inspect_st(const char *path) {
    char err[1024];
    qt_safetensors *st = qt_st_read(path, err, sizeof err);
    if (!st) {
        fprintf(stderr, "qat_inspect: %s\n", err);
        return 1;
    }
    printf("%s: safetensors, %d tensors\n", path, st->n);
    if (st->n_meta) printf("metadata:\n");
    for (int i = 0; i < st->n_meta; i++) printf("  %-30s \"%.120s\"\n", st->meta_key[i], st->meta_val[i]);
    printf("tensors:\n  %-52s %-5s %-16s %12s\n", "name", "dtype", "shape", "bytes");
    double bytes = 0, weights = 0;
    for (int i = 0; i < st->n; i++) {
        const qt_st_tensor *t = &st->t[i];
        char shape[96] = "[";
        size_t o = 1;
        double cnt = 1;
        for (int d = 0; d < t->ndim; d++) {
            o += (size_t)snprintf(shape + o, sizeof shape - o, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
            cnt *= (double)t->shape[d];
        }
        snprintf(shape + o, sizeof shape - o, "]");
        printf("  %-52s %-5s %-16s %12zu\n", t->name, qt_st_dtype_name(t->dtype), shape, t->nbytes);
        bytes += (double)t->nbytes;
        /* weights represented: a packed 4-bit qweight int32 holds 8 */
        size_t nl = strlen(t->name);
        if (nl > 8 && !strcmp(t->name + nl - 8, ".qweight")) weights += cnt * 8;
        else if (!(nl > 7 && !strcmp(t->name + nl - 7, ".qzeros")) && !(nl > 7 && !strcmp(t->name + nl - 7, ".scales")))
            weights += cnt;
    }
    printf("total: %.0f weights, %.0f bytes, %.3f bits per weight\n", weights, bytes, weights ? 8 * bytes / weights : 0);
    qt_st_free(st);
    return 0;
}

/* A qatc HDF5 file: checkpoint, or (bare) token cache. The reader verifies
 * the integrity header first, so a corrupted file is refused here. */
static int inspect_h5(const char *path) {
    char err[1024], err2[1024];
    qt_h5r *r = qt_h5r_open(path, err, sizeof err);
    const char *kind = "checkpoint";
    if (!r) {
        /* not a checkpoint: maybe a token cache (data/dataset.h) */
        qt_h5r *b = qt_h5r_open_bare(path, "a qatc HDF5 file", err2, sizeof err2);
        if (b && qt_h5r_has(b, "tokens")) {
            r = b;
            kind = "token file";
        } else {
            qt_h5r_close(b);
            fprintf(stderr, "qat_inspect: %s\n", err);
            return 1;
        }
    }
    int n = qt_h5r_count(r);
    uint64_t length = 0;
    uint32_t crc = 0;
    qt_h5r_verified(r, &length, &crc);
    printf("%s: qatc HDF5 %s v%d, %d entries\nintegrity: verified (%llu bytes, CRC-32 0x%08x)\n  %-52s %-14s %s\n",
           path, kind, qt_h5r_version(r), n, (unsigned long long)length, (unsigned)crc, "name", "kind", "shape");
    double weights = 0;
    for (int i = 0; i < n; i++) {
        const char *name = qt_h5r_name(r, i);
        qt_h5_kind k = qt_h5r_kind(r, name);
        int nd = 0, sh[QT_H5_MAX_DIMS];
        char shape[96] = "";
        if (qt_h5r_shape(r, name, &nd, sh) == 0) {
            size_t o = 0;
            double cnt = 1;
            for (int d = 0; d < nd; d++) {
                o += (size_t)snprintf(shape + o, sizeof shape - o, "%s%d", d ? ", " : "[", sh[d]);
                cnt *= sh[d];
            }
            snprintf(shape + o, sizeof shape - o, "]");
            if (k == QT_H5_F32 && !strncmp(name, "param/", 6)) weights += cnt;
        }
        printf("  %-52s %-14s %s\n", name, qt_h5_kind_name(k), shape);
    }
    printf("total: %.0f float32 parameters (32 bits per weight as stored)\n", weights);
    qt_h5r_close(r);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fprintf(argc == 2 ? stdout : stderr, "usage: qat_inspect FILE.gguf|FILE.safetensors|FILE.h5|AWQ_DIR\n");
        return argc == 2 ? 0 : 1;
    }
    const char *path = argv[1];
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "qat_inspect: %s: cannot open\n", path);
        return 1;
    }
    if (S_ISDIR(sb.st_mode)) {
        char p[4200];
        snprintf(p, sizeof p, "%s/config.json", path);
        FILE *f = fopen(p, "r");
        if (f) {
            printf("%s:\n", p);
            char line[512];
            while (fgets(line, sizeof line, f)) printf("  %s", line);
            fclose(f);
        }
        snprintf(p, sizeof p, "%s/model.safetensors", path);
        return inspect_st(p);
    }
    unsigned char head[8] = {0};
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(head, 1, 8, f) : 0;
    if (f) fclose(f);
    if (got >= 4 && !memcmp(head, "GGUF", 4)) return inspect_gguf(path);
    size_t pl = strlen(path);
    if ((got == 8 && (!memcmp(head, "\x89QATCH5\n", 8) || !memcmp(head, "\x89HDF\r\n\x1a\n", 8))) ||
        (pl > 3 && !strcmp(path + pl - 3, ".h5")))
        return inspect_h5(path);
    if (got == 8) return inspect_st(path);
    fprintf(stderr, "qat_inspect: %s: not a GGUF, safetensors or HDF5 file\n", path);
    return 1;
}
