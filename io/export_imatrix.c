/* llama.cpp's importance-matrix GGUF file from plain sums (see io/export.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/export.h"
#include "store/gguf.h"

static int by_name(const void *a, const void *b) {
    return strcmp(((const qt_imatrix_entry *)a)->name, ((const qt_imatrix_entry *)b)->name);
}

int qt_export_imatrix(const qt_imatrix_entry *e, int n, const char *const *datasets, int n_datasets,
                      uint32_t chunk_count, uint32_t chunk_size, const char *path, char *err, size_t errlen) {
    if (n < 1) {
        snprintf(err, errlen, "imatrix export: %s: no entries (llama-quantize refuses an empty imatrix)", path);
        return -1;
    }
    qt_imatrix_entry *s = malloc((size_t)n * sizeof *s);
    qt_gguf *g = qt_gguf_new();
    float *buf = NULL;
    int rc = 0, max_in = 0;
    if (!s || !g) {
        snprintf(err, errlen, "imatrix export: %s: out of memory", path);
        rc = -1;
        goto out;
    }
    memcpy(s, e, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, by_name); /* llama-imatrix writes its entries in name order */
    for (int i = 0; i < n; i++) {
        if (s[i].in < 1 || s[i].count < 0 || strlen(s[i].name) + sizeof ".in_sum2" - 1 > QT_GGUF_MAX_NAME ||
            (i && !strcmp(s[i].name, s[i - 1].name))) {
            snprintf(err, errlen, "imatrix export: %s: entry %s: %s", path, s[i].name,
                     s[i].in < 1 || s[i].count < 0 ? "no columns or a negative count"
                     : i && !strcmp(s[i].name, s[i - 1].name) ? "named twice" : "name too long for GGUF");
            rc = -1;
            goto out;
        }
        if (s[i].in > max_in) max_in = s[i].in;
    }
    if (qt_gguf_set_str(g, "general.type", "imatrix") ||
        qt_gguf_set_arr_str(g, "imatrix.datasets", datasets, (uint64_t)n_datasets) ||
        qt_gguf_set_u32(g, "imatrix.chunk_count", chunk_count) || qt_gguf_set_u32(g, "imatrix.chunk_size", chunk_size) ||
        !(buf = malloc((size_t)max_in * sizeof *buf))) {
        snprintf(err, errlen, "imatrix export: %s: out of memory", path);
        rc = -1;
        goto out;
    }
    for (int i = 0; rc == 0 && i < n; i++) {
        char name[QT_GGUF_MAX_NAME + 1];
        const uint64_t ne_sum[2] = {(uint64_t)s[i].in, 1}, ne_cnt[2] = {1, 1};
        for (int k = 0; k < s[i].in; k++) buf[k] = (float)s[i].sq_sum[k];
        const float cnt = (float)s[i].count;
        snprintf(name, sizeof name, "%s.in_sum2", s[i].name);
        rc = qt_gguf_add_tensor(g, name, QT_GGML_F32, 2, ne_sum, buf, (size_t)s[i].in * sizeof *buf, err, errlen);
        snprintf(name, sizeof name, "%s.counts", s[i].name);
        if (!rc) rc = qt_gguf_add_tensor(g, name, QT_GGML_F32, 2, ne_cnt, &cnt, sizeof cnt, err, errlen);
    }
    if (!rc) rc = qt_gguf_write(g, path, err, errlen);
out:
    free(buf);
    free(s);
    qt_gguf_free(g);
    return rc;
}
