/* llama.cpp's per-tensor type choice for its presets; see qat/preset.h. */
#include "qat/preset.h"

#include <stdio.h>
#include <string.h>

#include "quant/ggml_blocks.h"

static const struct {
    const char *name;
    int base;       /* ggml type of the tensors no rule changes */
    int file_type;  /* LLAMA_FTYPE_MOSTLY_* */
} PRESETS[QT_N_PRESETS] = {
    [QT_PRESET_NONE] = {NULL, -1, 0},
    [QT_PRESET_Q2_K] = {"Q2_K", QT_GGML_Q2_K, 10},
    [QT_PRESET_Q3_K_M] = {"Q3_K_M", QT_GGML_Q3_K, 12},
    [QT_PRESET_Q4_K_S] = {"Q4_K_S", QT_GGML_Q4_K, 14},
    [QT_PRESET_Q4_K_M] = {"Q4_K_M", QT_GGML_Q4_K, 15},
    [QT_PRESET_Q5_K_M] = {"Q5_K_M", QT_GGML_Q5_K, 17},
    [QT_PRESET_Q6_K] = {"Q6_K", QT_GGML_Q6_K, 18},
    [QT_PRESET_Q8_0] = {"Q8_0", QT_GGML_Q8_0, 7},
    [QT_PRESET_Q4_0] = {"Q4_0", QT_GGML_Q4_0, 2},
};

const char *qt_preset_name(qt_preset p) { return p > QT_PRESET_NONE && p < QT_N_PRESETS ? PRESETS[p].name : NULL; }

int qt_preset_base_type(qt_preset p) { return p > QT_PRESET_NONE && p < QT_N_PRESETS ? PRESETS[p].base : -1; }

int qt_preset_file_type(qt_preset p) { return p > QT_PRESET_NONE && p < QT_N_PRESETS ? PRESETS[p].file_type : 0; }

static int use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

/* name ends with suffix */
static int ends_with(const char *name, const char *suffix) {
    size_t n = strlen(name), k = strlen(suffix);
    return n >= k && !strcmp(name + n - k, suffix);
}

/* tensor_type_fallback: a type whose block does not divide the row */
static int fallback(int type, int cols) {
    if (cols % qt_ggml_block_size(type) == 0) return type;
    switch (type) {
    case QT_GGML_Q2_K:
    case QT_GGML_Q3_K: type = QT_GGML_Q4_0; break;
    case QT_GGML_Q4_K: type = QT_GGML_Q5_0; break;
    case QT_GGML_Q5_K: type = QT_GGML_Q5_1; break;
    case QT_GGML_Q6_K: type = QT_GGML_Q8_0; break;
    default: break;
    }
    return cols % qt_ggml_block_size(type) == 0 ? type : QT_GGML_F16;
}

int qt_preset_type(qt_preset p, const qt_preset_tensor *t, int imatrix) {
    if (p <= QT_PRESET_NONE || p >= QT_N_PRESETS) return -1;
    const int base = PRESETS[p].base, n = t->n_layers;
    int type = base, i = -1;
    if (sscanf(t->name, "layers.%d.", &i) != 1) i = -1;
    if (!strcmp(t->name, "output.weight") || (t->tied && !strcmp(t->name, "tok_embeddings.weight"))) {
        if (t->cols % qt_ggml_block_size(base)) type = QT_GGML_Q8_0;
        else if (base != QT_GGML_Q8_0) type = QT_GGML_Q6_K;
    } else if (i >= 0 && ends_with(t->name, ".attention.wv.weight")) {
        if (p == QT_PRESET_Q2_K) type = t->n_gqa >= 4 ? QT_GGML_Q4_K : QT_GGML_Q3_K;
        else if (p == QT_PRESET_Q3_K_M) type = i < 2 ? QT_GGML_Q5_K : QT_GGML_Q4_K;
        else if ((p == QT_PRESET_Q4_K_M || p == QT_PRESET_Q5_K_M) && use_more_bits(i, n)) type = QT_GGML_Q6_K;
        else if (p == QT_PRESET_Q4_K_S && i < 4) type = QT_GGML_Q5_K;
    } else if (i >= 0 && ends_with(t->name, ".feed_forward.w2.weight")) {
        if (p == QT_PRESET_Q2_K) type = QT_GGML_Q3_K;
        else if (p == QT_PRESET_Q3_K_M) type = i < n / 16 ? QT_GGML_Q5_K : QT_GGML_Q4_K;
        else if ((p == QT_PRESET_Q4_K_M || p == QT_PRESET_Q5_K_M) && use_more_bits(i, n)) type = QT_GGML_Q6_K;
        else if (p == QT_PRESET_Q4_K_S && i < n / 8) type = QT_GGML_Q5_K;
        else if (p == QT_PRESET_Q4_0 && imatrix && i < n / 8) type = QT_GGML_Q4_1;
    } else if (i >= 0 && ends_with(t->name, ".attention.wo.weight")) {
        if (p == QT_PRESET_Q2_K) type = QT_GGML_Q3_K;
        else if (p == QT_PRESET_Q3_K_M) type = QT_GGML_Q4_K;
    }
    return fallback(type, t->cols);
}
