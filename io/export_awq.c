/* AutoAWQ GEMM export (safetensors + config.json) from the frozen integers
 * of asym 4-bit quantizers. See io/export.h. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/export.h"
#include "store/safetensors.h"
#include "quant/quant.h"

static const int AWQ_ORDER[8] = {0, 2, 4, 6, 1, 3, 5, 7};

/* source row (ours) of output row o in HF order: permuted for q/k */
static int src_row(int o, int rope_hd) { return rope_hd ? qt_hf_rope_row(o, rope_hd) : o; }

/* AWQ asym 4-bit grid of a float weight (re-quantization), fp16 scales: the
 * quantizer's group when it is 32/64/128, else 128 */
static qt_qweight *awq_requant(const qt_tensor *w, const qt_quantizer *q, char *err, size_t errlen) {
    int group = q->spec.group;
    if (group != 32 && group != 64 && group != 128) group = 128;
    if (qt_cols(w) % group || qt_rows(w) % 8) {
        snprintf(err, errlen, "[%d, %d] cannot be re-quantized to AWQ group %d", qt_rows(w), qt_cols(w), group);
        return NULL;
    }
    qt_quant_spec spec = {.bits = 4, .group = group, .grid = QT_GRID_ASYM, .learnable = 0, .fp16_scales = 1};
    const int rows = qt_rows(w), cols = qt_cols(w);
    qt_qweight *qw = qt_qweight_new(&spec, rows, cols, err, errlen);
    if (!qw) return NULL;
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < qw->ngroups; k++) {
            const float *x = w->data + (size_t)r * cols + (size_t)k * group;
            float mn = x[0], mx = x[0];
            for (int i = 1; i < group; i++) {
                mn = fminf(mn, x[i]);
                mx = fmaxf(mx, x[i]);
            }
            float s = qt_f16_round(fmaxf((mx - mn) / 15.0f, 1e-5f));
            float z = fminf(fmaxf(-rintf(mn / s), 0.0f), 15.0f);
            size_t gi = (size_t)r * qw->ngroups + k;
            qw->scales[gi] = s;
            qw->zeros[gi] = (uint8_t)z;
            for (int i = 0; i < group; i++) {
                float q = fminf(fmaxf(rintf(x[i] / s) + z, 0.0f), 15.0f);
                qw->codes_u8[(size_t)r * cols + (size_t)k * group + i] = (uint8_t)q;
            }
        }
    return qw;
}

/* AWQ code and zero of a frozen weight: asym as is; sym (<= 4 bits) as
 * code c + 8 with zero 8, since (c + 8 - 8)·s = c·s exactly */
static unsigned awq_code(const qt_qweight *qw, size_t i) {
    return qw->spec.grid == QT_GRID_SYM ? (unsigned)(qw->codes_s8[i] + 8) : qw->codes_u8[i];
}
static unsigned awq_zero(const qt_qweight *qw, size_t gi) { return qw->spec.grid == QT_GRID_SYM ? 8u : qw->zeros[gi]; }

/* qweight [in, out/8], qzeros [in/g, out/8] (int32, AWQ order), scales fp16 [in/g, out] */
static int add_awq_linear(qt_safetensors *st, const char *base, const qt_qweight *qw, int rope_hd,
                          const qt_hf_qsum *sum, const void *ctx, char *err, size_t errlen) {
    (void)sum, (void)ctx;
    const int out = qw->rows, in = qw->cols, ng = qw->ngroups, oc = out / 8;
    int32_t *qweight = malloc((size_t)in * oc * sizeof *qweight);
    int32_t *qzeros = malloc((size_t)ng * oc * sizeof *qzeros);
    uint16_t *scales = malloc((size_t)ng * out * sizeof *scales);
    int rc = -1;
    if (!qweight || !qzeros || !scales) {
        snprintf(err, errlen, "awq export: out of memory for %s", base);
        goto done;
    }
    for (int i = 0; i < in; i++)
        for (int c = 0; c < oc; c++) {
            uint32_t p = 0;
            for (int k = 0; k < 8; k++) {
                int o = src_row(8 * c + AWQ_ORDER[k], rope_hd);
                p |= (uint32_t)(awq_code(qw, (size_t)o * in + i) & 15u) << (4 * k);
            }
            qweight[(size_t)i * oc + c] = (int32_t)p;
        }
    for (int g = 0; g < ng; g++) {
        for (int c = 0; c < oc; c++) {
            uint32_t p = 0;
            for (int k = 0; k < 8; k++) {
                int o = src_row(8 * c + AWQ_ORDER[k], rope_hd);
                p |= (uint32_t)(awq_zero(qw, (size_t)o * ng + g) & 15u) << (4 * k);
            }
            qzeros[(size_t)g * oc + c] = (int32_t)p;
        }
        for (int o = 0; o < out; o++) scales[(size_t)g * out + o] = qt_f32_to_f16(qw->scales[(size_t)src_row(o, rope_hd) * ng + g]);
    }
    char nm[160];
    int64_t sq[2] = {in, oc}, sz[2] = {ng, oc}, ss[2] = {ng, out};
    snprintf(nm, sizeof nm, "%s.qweight", base);
    rc = qt_st_add(st, nm, QT_ST_I32, 2, sq, qweight, (size_t)in * oc * 4, err, errlen);
    snprintf(nm, sizeof nm, "%s.qzeros", base);
    if (!rc) rc = qt_st_add(st, nm, QT_ST_I32, 2, sz, qzeros, (size_t)ng * oc * 4, err, errlen);
    snprintf(nm, sizeof nm, "%s.scales", base);
    if (!rc) rc = qt_st_add(st, nm, QT_ST_F16, 2, ss, scales, (size_t)ng * out * 2, err, errlen);
done:
    free(qweight);
    free(qzeros);
    free(scales);
    return rc;
}

/* why a frozen weight is not an AWQ GEMM weight, or 0 */
static int awq_mismatch(const qt_qweight *qw, const void *ctx, char *why, size_t len) {
    (void)ctx;
    qt_quant_spec s = qw->spec;
    s.fp16_scales = 1; /* the scales themselves are checked below */
    if (qt_export_spec_check("awq", &s, qw->rows, qw->cols, why, len)) return -1;
    size_t n = (size_t)qw->srows * qw->ngroups;
    for (size_t i = 0; i < n; i++)
        if (qt_f16_round(qw->scales[i]) != qw->scales[i]) {
            snprintf(why, len, "scale %zu = %.9g is not an fp16 value (train with quant.weights.fp16_scales = true)",
                     i, qw->scales[i]);
            return -1;
        }
    return 0;
}

static cJSON *awq_config(const qt_hf_qsum *sum, const void *ctx) {
    (void)ctx;
    cJSON *q = cJSON_CreateObject();
    cJSON_AddStringToObject(q, "quant_method", "awq");
    cJSON_AddBoolToObject(q, "zero_point", 1);
    cJSON_AddNumberToObject(q, "group_size", sum->group);
    cJSON_AddNumberToObject(q, "bits", 4);
    cJSON_AddStringToObject(q, "version", "gemm");
    cJSON_AddNullToObject(q, "modules_to_not_convert");
    return q;
}

int qt_export_awq(const qt_model *m, const qt_export_opts *o, const char *dir, char *err, size_t errlen) {
    static const qt_hf_qformat f = {.what = "awq export", .mismatch = awq_mismatch, .requant = awq_requant,
                                    .requant_what = "asym 4-bit", .add_linear = add_awq_linear,
                                    .quant_config = awq_config};
    return qt_hf_export_quant(m, o, dir, &f, err, errlen);
}
