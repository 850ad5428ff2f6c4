/* GPTQ (AutoGPTQ v1 / GPTQModel v2) and compressed-tensors pack-quantized
 * exports from the frozen integers and fp16 scales of qatc's quantizers.
 * The layouts, and what was checked in the published sources, are in
 * io/export.h. Both pack the codes along the input dimension; the codes are
 * the unsigned ones (SYM q + 2^(b-1), else q) and a SYM layer's zero point
 * is 2^(b-1), so W = s·(code - zero) in both. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/half.h"
#include "io/export.h"
#include "quant/quant.h"

/* source row (ours) of output row o in HF order: permuted for q/k */
static int src_row(int o, int rope_hd) { return rope_hd ? qt_hf_rope_row(o, rope_hd) : o; }

/* unsigned code of element (r, i) */
static uint32_t code_u(const qt_qweight *qw, int r, int i) {
    size_t k = (size_t)r * qw->cols + i;
    return qw->spec.grid == QT_GRID_SYM ? (uint32_t)(qw->codes_s8[k] + (1 << (qw->spec.bits - 1))) : qw->codes_u8[k];
}
/* index of the scale (and zero) of row r, group g (per-tensor: one row) */
static size_t param_at(const qt_qweight *qw, int r, int g) {
    return (size_t)(qw->srows == qw->rows ? r : 0) * qw->ngroups + g;
}
static uint32_t zero_u(const qt_qweight *qw, int r, int g) {
    return qw->spec.grid == QT_GRID_SYM ? 1u << (qw->spec.bits - 1) : qw->zeros[param_at(qw, r, g)];
}
static uint16_t scale_h(const qt_qweight *qw, int r, int g) { return qt_f32_to_f16(qw->scales[param_at(qw, r, g)]); }

/* ORs the low `bits` bits of v into a little-endian stream of 32-bit words at bit pos */
static void put_bits(uint32_t *w, size_t pos, uint32_t v, int bits) {
    size_t k = pos / 32;
    unsigned off = pos % 32;
    v &= (1u << bits) - 1;
    w[k] |= v << off;
    if (off + (unsigned)bits > 32) w[k + 1] |= v >> (32 - off);
}

int qt_export_spec_check(const char *fmt, const qt_quant_spec *s, int rows, int cols, char *why, size_t len) {
    if (!strcmp(fmt, "awq")) {
        if (!((s->grid == QT_GRID_ASYM || s->grid == QT_GRID_SYM) && s->bits <= 4) || s->dq_bits) {
            snprintf(why, len, "%d-bit %s grid (AWQ holds asym <= 4-bit codes with an integer zero point, "
                     "or sym <= 4-bit codes as zero 8)", s->bits, s->dq_bits ? "K-type" : qt_quant_grid_name(s->grid));
            return -1;
        }
        if (s->group != 32 && s->group != 64 && s->group != 128) {
            snprintf(why, len, "group %d (AWQ GEMM groups are 32, 64 or 128)", s->group);
            return -1;
        }
        if (rows % 8) {
            snprintf(why, len, "%d output rows (AWQ packs 8 outputs per int32)", rows);
            return -1;
        }
        if (!s->fp16_scales) {
            snprintf(why, len, "fp32 scales (AWQ stores fp16 scales; train with quant.weights.fp16_scales = true)");
            return -1;
        }
        return 0;
    }
    const int gptq = !strcmp(fmt, "gptq");
    const char *name = gptq ? "GPTQ" : "compressed-tensors";
    if (s->grid != QT_GRID_SYM && s->grid != QT_GRID_ASYM) {
        snprintf(why, len, "%s grid (%s holds integer codes with an integer zero point: sym or asym)",
                 qt_quant_grid_name(s->grid), name);
        return -1;
    }
    if (gptq && s->bits != 2 && s->bits != 3 && s->bits != 4 && s->bits != 8) {
        snprintf(why, len, "%d-bit (GPTQ packs 2, 3, 4 or 8 bits)", s->bits);
        return -1;
    }
    if (!gptq && (s->bits < 1 || s->bits > 8)) {
        snprintf(why, len, "%d-bit (compressed-tensors packs 1..8 bits)", s->bits);
        return -1;
    }
    if (gptq && (rows % 32 || cols % 32)) {
        snprintf(why, len, "[%d, %d] (GPTQ packs 32 codes per bits words: out and in must be multiples of 32)", rows,
                 cols);
        return -1;
    }
    if (!s->fp16_scales) {
        snprintf(why, len, "fp32 scales (%s stores fp16 scales; train with quant.weights.fp16_scales = true)", name);
        return -1;
    }
    return 0;
}

typedef struct {
    int gptq, v2;
} fmt_ctx;

/* why a frozen weight is not exactly writable, or 0 */
static int mismatch(const qt_qweight *qw, const void *ctx, char *why, size_t len) {
    const fmt_ctx *f = ctx;
    if (qt_export_spec_check(f->gptq ? "gptq" : "compressed-tensors", &qw->spec, qw->rows, qw->cols, why, len))
        return -1;
    size_t n = (size_t)qw->srows * qw->ngroups;
    for (size_t i = 0; i < n; i++)
        if (qt_f16_round(qw->scales[i]) != qw->scales[i]) {
            snprintf(why, len, "scale %zu = %.9g is not an fp16 value", i, qw->scales[i]);
            return -1;
        }
    for (size_t i = 0; f->gptq && !f->v2 && qw->zeros && i < n; i++)
        if (qw->zeros[i] == 0) {
            snprintf(why, len, "zero point 0 (row %zu, group %zu): GPTQ v1 stores z - 1, which cannot hold 0; use "
                     "checkpoint_format \"gptq_v2\"", i / qw->ngroups, i % qw->ngroups);
            return -1;
        }
    return 0;
}

static int add(qt_safetensors *st, const char *module, const char *what, qt_st_dtype dt, int64_t d0, int64_t d1,
               const void *data, char *err, size_t errlen) {
    char nm[200];
    snprintf(nm, sizeof nm, "%s.%s", module, what);
    int64_t shape[2] = {d0, d1};
    size_t n = (size_t)d0 * (d1 ? (size_t)d1 : 1);
    return qt_st_add(st, nm, dt, d1 ? 2 : 1, shape, data, n * qt_st_dtype_size(dt), err, errlen);
}

/* ------------------------------------------------------------------ GPTQ */

/* qweight [in·b/32, out], qzeros [ng, out·b/32], scales fp16 [ng, out], g_idx [in] */
static int add_gptq_linear(qt_safetensors *st, const char *module, const qt_qweight *qw, int rope_hd,
                           const qt_hf_qsum *sum, const void *ctx, char *err, size_t errlen) {
    (void)sum;
    const fmt_ctx *f = ctx;
    const int out = qw->rows, in = qw->cols, ng = qw->ngroups, b = qw->spec.bits;
    const int wr = in / 32 * b, zc = out / 32 * b;
    uint32_t *qweight = calloc((size_t)wr * out, 4), *col = calloc((size_t)wr, 4);
    uint32_t *qzeros = calloc((size_t)ng * zc, 4);
    uint16_t *scales = malloc((size_t)ng * out * 2);
    int32_t *g_idx = malloc((size_t)in * 4);
    int rc = -1;
    if (!qweight || !col || !qzeros || !scales || !g_idx) {
        snprintf(err, errlen, "gptq export: out of memory for %s", module);
        goto done;
    }
    for (int o = 0; o < out; o++) {
        int r = src_row(o, rope_hd);
        memset(col, 0, (size_t)wr * 4);
        for (int i = 0; i < in; i++) put_bits(col, (size_t)b * i, code_u(qw, r, i), b);
        for (int w = 0; w < wr; w++) qweight[(size_t)w * out + o] = col[w];
        for (int g = 0; g < ng; g++) {
            uint32_t z = zero_u(qw, r, g) - (f->v2 ? 0u : 1u); /* v1: z - 1 (z = 0 refused) */
            put_bits(qzeros + (size_t)g * zc, (size_t)b * o, z, b);
            scales[(size_t)g * out + o] = scale_h(qw, r, g);
        }
    }
    for (int i = 0; i < in; i++) g_idx[i] = i / qw->gsize;
    rc = add(st, module, "qweight", QT_ST_I32, wr, out, qweight, err, errlen);
    if (!rc) rc = add(st, module, "qzeros", QT_ST_I32, ng, zc, qzeros, err, errlen);
    if (!rc) rc = add(st, module, "scales", QT_ST_F16, ng, out, scales, err, errlen);
    if (!rc) rc = add(st, module, "g_idx", QT_ST_I32, in, 0, g_idx, err, errlen);
done:
    free(qweight);
    free(col);
    free(qzeros);
    free(scales);
    free(g_idx);
    return rc;
}

static cJSON *gptq_config(const qt_hf_qsum *sum, const void *ctx) {
    const fmt_ctx *f = ctx;
    cJSON *q = cJSON_CreateObject();
    cJSON_AddNumberToObject(q, "bits", sum->bits);
    cJSON_AddNumberToObject(q, "group_size", sum->group);
    /* damping, sequential order and static groups describe how GPTQ PTQ was
     * run; a QAT model had none: AutoGPTQ's defaults (loaders only check them) */
    cJSON_AddNumberToObject(q, "damp_percent", 0.01);
    cJSON_AddBoolToObject(q, "desc_act", 0); /* qatc's groups are contiguous: g_idx = i / group_size */
    cJSON_AddBoolToObject(q, "static_groups", 0);
    cJSON_AddBoolToObject(q, "sym", sum->sym);
    cJSON_AddBoolToObject(q, "true_sequential", 1);
    cJSON_AddStringToObject(q, "quant_method", "gptq");
    cJSON_AddStringToObject(q, "checkpoint_format", f->v2 ? "gptq_v2" : "gptq");
    cJSON_AddStringToObject(q, "model_file_base_name", "model");
    return q;
}

/* quantize_config.json (AutoGPTQ / GPTQModel read it beside config.json) */
static int gptq_extra(const char *dir, const qt_hf_qsum *sum, const void *ctx, char *err, size_t errlen) {
    char path[4200];
    snprintf(path, sizeof path, "%s/quantize_config.json", dir);
    return qt_hf_write_json(gptq_config(sum, ctx), path, err, errlen);
}

int qt_export_gptq(const qt_model *m, const qt_export_opts *o, const char *dir, char *err, size_t errlen) {
    const char *cf = o && o->checkpoint_format ? o->checkpoint_format : "gptq";
    if (strcmp(cf, "gptq") && strcmp(cf, "gptq_v2")) {
        snprintf(err, errlen, "gptq export: %s: checkpoint_format \"%s\": expected \"gptq\" (v1) or \"gptq_v2\"", dir,
                 cf);
        return -1;
    }
    fmt_ctx c = {.gptq = 1, .v2 = !strcmp(cf, "gptq_v2")};
    qt_hf_qformat f = {.what = "gptq export", .one_bits = 1, .all_linears = 1, .mismatch = mismatch,
                       .add_linear = add_gptq_linear, .quant_config = gptq_config, .extra = gptq_extra, .ctx = &c};
    return qt_hf_export_quant(m, o, dir, &f, err, errlen);
}

/* ------------------------------------------------------- compressed-tensors */

/* weight_packed [out, ceil(in/pf)], weight_scale fp16 [out, ng], weight_zero_point
 * [ceil(out/pf), ng] (asym models), weight_shape int64 [2]; pf = 32 div bits */
static int add_ct_linear(qt_safetensors *st, const char *module, const qt_qweight *qw, int rope_hd,
                         const qt_hf_qsum *sum, const void *ctx, char *err, size_t errlen) {
    (void)ctx;
    const int out = qw->rows, in = qw->cols, ng = qw->ngroups, b = qw->spec.bits, pf = 32 / b;
    const int pw = (in + pf - 1) / pf, zr = (out + pf - 1) / pf;
    uint32_t *packed = calloc((size_t)out * pw, 4), *zp = sum->sym ? NULL : calloc((size_t)zr * ng, 4);
    uint16_t *scales = malloc((size_t)out * ng * 2);
    int rc = -1;
    if (!packed || !scales || (!sum->sym && !zp)) {
        snprintf(err, errlen, "compressed-tensors export: out of memory for %s", module);
        goto done;
    }
    for (int o = 0; o < out; o++) {
        int r = src_row(o, rope_hd);
        for (int i = 0; i < in; i++) packed[(size_t)o * pw + i / pf] |= code_u(qw, r, i) << (b * (i % pf));
        for (int g = 0; g < ng; g++) {
            scales[(size_t)o * ng + g] = scale_h(qw, r, g);
            if (zp) zp[(size_t)(o / pf) * ng + g] |= zero_u(qw, r, g) << (b * (o % pf));
        }
    }
    int64_t shape[2] = {out, in};
    rc = add(st, module, "weight_packed", QT_ST_I32, out, pw, packed, err, errlen);
    if (!rc) rc = add(st, module, "weight_scale", QT_ST_F16, out, ng, scales, err, errlen);
    if (!rc && zp) rc = add(st, module, "weight_zero_point", QT_ST_I32, zr, ng, zp, err, errlen);
    if (!rc) rc = add(st, module, "weight_shape", QT_ST_I64, 2, 0, shape, err, errlen);
done:
    free(packed);
    free(zp);
    free(scales);
    return rc;
}

static cJSON *ct_config(const qt_hf_qsum *sum, const void *ctx) {
    (void)ctx;
    cJSON *q = cJSON_CreateObject();
    cJSON_AddStringToObject(q, "quant_method", "compressed-tensors");
    cJSON_AddStringToObject(q, "format", "pack-quantized");
    cJSON_AddStringToObject(q, "quantization_status", "compressed");
    cJSON *g0 = cJSON_AddObjectToObject(cJSON_AddObjectToObject(q, "config_groups"), "group_0");
    cJSON_AddItemToObject(g0, "targets", cJSON_CreateStringArray((const char *[]){"Linear"}, 1));
    cJSON *w = cJSON_AddObjectToObject(g0, "weights");
    cJSON_AddNumberToObject(w, "num_bits", sum->bits);
    cJSON_AddStringToObject(w, "type", "int");
    cJSON_AddBoolToObject(w, "symmetric", sum->sym);
    cJSON_AddStringToObject(w, "strategy", sum->group > 0 ? "group" : "channel");
    if (sum->group > 0) cJSON_AddNumberToObject(w, "group_size", sum->group);
    else cJSON_AddNullToObject(w, "group_size");
    cJSON_AddBoolToObject(w, "dynamic", 0);
    cJSON_AddNullToObject(w, "actorder");
    cJSON_AddNullToObject(w, "block_structure");
    cJSON_AddStringToObject(w, "observer", "minmax");
    cJSON_AddItemToObject(w, "observer_kwargs", cJSON_CreateObject());
    cJSON_AddNullToObject(g0, "input_activations");
    cJSON_AddNullToObject(g0, "output_activations");
    cJSON_AddStringToObject(g0, "format", "pack-quantized");
    /* every Linear kept in float: lm_head and the skipped ones */
    cJSON *ig = cJSON_AddArrayToObject(q, "ignore");
    const qt_model *m = sum->model;
    for (int j = 0; j < m->n_linears; j++) {
        const qt_linear_layer *l = m->linears[j];
        char hf[160];
        if (l->wq || !qt_hf_name(l->w->name, hf, sizeof hf)) continue;
        if (l == &m->output) snprintf(hf, sizeof hf, "lm_head.weight"); /* tied: still the lm_head module */
        hf[strlen(hf) - strlen(".weight")] = 0;
        cJSON_AddItemToArray(ig, cJSON_CreateString(hf));
    }
    cJSON_AddNullToObject(q, "kv_cache_scheme");
    cJSON_AddNullToObject(q, "global_compression_ratio");
    cJSON_AddItemToObject(q, "sparsity_config", cJSON_CreateObject());
    return q;
}

int qt_export_ct(const qt_model *m, const qt_export_opts *o, const char *dir, char *err, size_t errlen) {
    static const fmt_ctx c = {.gptq = 0};
    static const qt_hf_qformat f = {.what = "compressed-tensors export", .one_bits = 1, .mismatch = mismatch,
                                    .add_linear = add_ct_linear, .quant_config = ct_config, .ctx = &c};
    return qt_hf_export_quant(m, o, dir, &f, err, errlen);
}
