/* libFuzzer target: the GGUF reader (store/gguf.c, qt_gguf_read).
 * Input: file bytes. Checks: never crashes or allocates more than the file
 * justifies (run.sh sets -malloc_limit_mb); a refusal has a one-line
 * message; an accepted file has tensors whose byte size matches their type
 * and shape, typed getters agree with the KV types, and writing it back and
 * reading that gives the same KVs and tensor bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "store/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[4096], path2[4200], err[1024];
    if (fuzz_write_tmp(data, size, ".gguf", path, sizeof path)) return 0;
    qt_gguf *g = qt_gguf_read(path, err, sizeof err);
    if (!g) {
        fuzz_check_msg(err, sizeof err);
        unlink(path);
        return 0;
    }
    for (int i = 0; i < g->n_t; i++) {
        const qt_gguf_tensor *t = &g->t[i];
        if (t->n_dims < 0 || t->n_dims > QT_GGUF_MAX_DIMS) abort();
        if (t->nbytes != qt_ggml_nbytes(t->type, t->n_dims, t->ne)) {
            fprintf(stderr, "tensor %s: nbytes %zu, type and shape give %zu\n", t->name, t->nbytes,
                    qt_ggml_nbytes(t->type, t->n_dims, t->ne));
            abort();
        }
        if (t->nbytes && !t->data) abort();
        if (qt_gguf_tensor_find(g, t->name) == NULL) abort();
    }
    for (int i = 0; i < g->n_kv; i++) {
        const qt_gguf_kv *kv = &g->kv[i];
        if (!kv->key || qt_gguf_find(g, kv->key) == NULL) abort();
        uint32_t u;
        float f;
        char e2[512];
        if (qt_gguf_get_u32(g, kv->key, &u, e2, sizeof e2) == 0 && kv->type != QT_GGUF_U32) abort();
        if (qt_gguf_get_f32(g, kv->key, &f, e2, sizeof e2) == 0 && kv->type != QT_GGUF_F32) abort();
        const char *s = qt_gguf_get_str(g, kv->key, e2, sizeof e2);
        if (s && kv->type != QT_GGUF_STRING) abort();
    }
    /* round trip */
    snprintf(path2, sizeof path2, "%s.rt", path);
    if (qt_gguf_write(g, path2, err, sizeof err) == 0) {
        qt_gguf *h = qt_gguf_read(path2, err, sizeof err);
        if (!h) {
            fprintf(stderr, "a re-written accepted file was refused: %s\n", err);
            abort();
        }
        if (h->n_kv != g->n_kv || h->n_t != g->n_t) abort();
        for (int i = 0; i < g->n_t; i++)
            if (strcmp(h->t[i].name, g->t[i].name) || h->t[i].nbytes != g->t[i].nbytes ||
                (g->t[i].nbytes && memcmp(h->t[i].data, g->t[i].data, g->t[i].nbytes))) {
                fprintf(stderr, "tensor %s differs after a round trip\n", g->t[i].name);
                abort();
            }
        qt_gguf_free(h);
        unlink(path2);
    } else {
        fuzz_check_msg(err, sizeof err);
    }
    qt_gguf_free(g);
    unlink(path);
    return 0;
}
