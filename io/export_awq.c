/* AutoAWQ GEMM export (safetensors + config.json) from the frozen integers
 * of asym 4-bit quantizers. See io/export.h. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/export.h"
#include "store/safetensors.h"
#include "quant/quant.h"

static const int AWQ_ORDER[8] = {0, 2, 4, 6, 1, 3, 5, 7};

const char *qt_hf_name(const char *n, char *buf, size_t len) {
    static const struct {
        const char *ours, *hf;
    } M[] = {
        {"attention_norm.weight", "input_layernorm.weight"},
        {"ffn_norm.weight", "post_attention_layernorm.weight"},
        {"attention.wq.weight", "self_attn.q_proj.weight"},
        {"attention.wk.weight", "self_attn.k_proj.weight"},
        {"attention.wv.weight", "self_attn.v_proj.weight"},
        {"attention.wo.weight", "self_attn.o_proj.weight"},
        {"feed_forward.w1.weight", "mlp.gate_proj.weight"},
        {"feed_forward.w2.weight", "mlp.down_proj.weight"},
        {"feed_forward.w3.weight", "mlp.up_proj.weight"},
    };
    if (!strcmp(n, "tok_embeddings.weight")) return snprintf(buf, len, "model.embed_tokens.weight"), buf;
    if (!strcmp(n, "norm.weight")) return snprintf(buf, len, "model.norm.weight"), buf;
    if (!strcmp(n, "output.weight")) return snprintf(buf, len, "lm_head.weight"), buf;
    int layer, k = 0;
    if (sscanf(n, "layers.%d.%n", &layer, &k) != 1 || k == 0) return NULL;
    for (size_t i = 0; i < sizeof M / sizeof M[0]; i++)
        if (!strcmp(n + k, M[i].ours)) return snprintf(buf, len, "model.layers.%d.%s", layer, M[i].hf), buf;
    return NULL;
}

int qt_hf_rope_row(int r, int hd) {
    int h = r / hd, w = r % hd, half = hd / 2;
    int j = w / half, i = w % half; /* HF row h·hd + j·hd/2 + i */
    return h * hd + 2 * i + j;
}

/* source row (ours) of output row o in HF order: permuted for q/k */
static int src_row(int o, int rope_hd) { return rope_hd ? qt_hf_rope_row(o, rope_hd) : o; }

static int add_f16(qt_safetensors *st, const char *name, const float *w, int rows, int cols, int rope_hd, char *err,
                   size_t errlen) {
    size_t n = (size_t)rows * cols;
    uint16_t *h = malloc((n ? n : 1) * sizeof *h);
    if (!h) {
        snprintf(err, errlen, "awq export: out of memory for %s", name);
        return -1;
    }
    for (int r = 0; r < rows; r++) {
        const float *src = w + (size_t)src_row(r, rope_hd) * cols;
        for (int c = 0; c < cols; c++) h[(size_t)r * cols + c] = qt_f32_to_f16(src[c]);
    }
    int64_t shape[2] = {rows, cols};
    int rc = qt_st_add(st, name, QT_ST_F16, rows == 1 ? 1 : 2, rows == 1 ? shape + 1 : shape, h, n * 2, err, errlen);
    free(h);
    return rc;
}

/* AWQ asym 4-bit grid of a float weight (re-quantization), fp16 scales */
static qt_qweight *awq_requant(const qt_tensor *w, int group, char *err, size_t errlen) {
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
static int add_awq_linear(qt_safetensors *st, const char *base, const qt_qweight *qw, int rope_hd, char *err,
                          size_t errlen) {
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
static int awq_mismatch(const qt_qweight *qw, char *why, size_t len) {
    const qt_quant_spec *s = &qw->spec;
    if (!((s->grid == QT_GRID_ASYM || s->grid == QT_GRID_SYM) && s->bits <= 4)) {
        snprintf(why, len, "%d-bit %s grid (AWQ holds asym <= 4-bit codes with an integer zero point, "
                 "or sym <= 4-bit codes as zero 8)", s->bits,
                 s->grid == QT_GRID_SYM ? "sym" : s->grid == QT_GRID_ASYM ? "asym" : "float_min");
        return -1;
    }
    if (s->group != 32 && s->group != 64 && s->group != 128) {
        snprintf(why, len, "group %d (AWQ GEMM groups are 32, 64 or 128)", s->group);
        return -1;
    }
    if (qw->rows % 8) {
        snprintf(why, len, "%d output rows (AWQ packs 8 outputs per int32)", qw->rows);
        return -1;
    }
    size_t n = (size_t)qw->srows * qw->ngroups;
    for (size_t i = 0; i < n; i++)
        if (qt_f16_round(qw->scales[i]) != qw->scales[i]) {
            snprintf(why, len, "scale %zu = %.9g is not an fp16 value (train with quant.weights.fp16_scales = true)",
                     i, qw->scales[i]);
            return -1;
        }
    return 0;
}

static int write_config(const qt_model *m, int group, const char *path, char *err, size_t errlen) {
    const qt_model_cfg *c = &m->cfg;
    cJSON *j = cJSON_CreateObject();
    cJSON *arch = cJSON_AddArrayToObject(j, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("LlamaForCausalLM"));
    cJSON_AddStringToObject(j, "model_type", "llama");
    cJSON_AddNumberToObject(j, "hidden_size", c->dim);
    cJSON_AddNumberToObject(j, "intermediate_size", c->ffn);
    cJSON_AddNumberToObject(j, "num_hidden_layers", c->layers);
    cJSON_AddNumberToObject(j, "num_attention_heads", c->heads);
    cJSON_AddNumberToObject(j, "num_key_value_heads", c->kv_heads);
    cJSON_AddNumberToObject(j, "head_dim", c->dim / c->heads);
    cJSON_AddNumberToObject(j, "max_position_embeddings", c->ctx);
    char num[32]; /* the shortest decimal of the float (1e-05, not 9.99999974737875e-06) */
    snprintf(num, sizeof num, "%.7g", c->norm_eps);
    cJSON_AddNumberToObject(j, "rms_norm_eps", strtod(num, NULL));
    snprintf(num, sizeof num, "%.7g", c->rope_theta);
    cJSON_AddNumberToObject(j, "rope_theta", strtod(num, NULL));
    cJSON_AddNumberToObject(j, "vocab_size", c->vocab);
    cJSON_AddStringToObject(j, "hidden_act", "silu");
    cJSON_AddBoolToObject(j, "tie_word_embeddings", 0);
    cJSON_AddBoolToObject(j, "attention_bias", 0);
    cJSON_AddBoolToObject(j, "mlp_bias", 0);
    cJSON_AddStringToObject(j, "torch_dtype", "float16");
    cJSON *q = cJSON_AddObjectToObject(j, "quantization_config");
    cJSON_AddStringToObject(q, "quant_method", "awq");
    cJSON_AddBoolToObject(q, "zero_point", 1);
    cJSON_AddNumberToObject(q, "group_size", group);
    cJSON_AddNumberToObject(q, "bits", 4);
    cJSON_AddStringToObject(q, "version", "gemm");
    cJSON_AddNullToObject(q, "modules_to_not_convert");
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    FILE *f = text ? fopen(path, "w") : NULL;
    int bad = !f || fputs(text, f) < 0 || fputc('\n', f) == EOF;
    if (f && fclose(f)) bad = 1;
    free(text);
    if (bad) {
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int qt_export_awq(const qt_model *m, const qt_export_opts *o, const char *dir, char *err, size_t errlen) {
    static const qt_export_opts defaults = {0};
    if (!o) o = &defaults;
    if (m->cfg.arch != QT_ARCH_LLAMA) {
        snprintf(err, errlen, "awq export: %s: only the llama arch maps to HF Llama (this model is mlp)", dir);
        return -1;
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "awq export: %s: cannot create the directory: %s", dir, strerror(errno));
        return -1;
    }
    const int hd = m->cfg.dim / m->cfg.heads;
    qt_safetensors *st = qt_st_new();
    int rc = st ? 0 : -1, group = 0, n_quant = 0, n_requant = 0;
    char first_requant[320] = "";
    if (!st) snprintf(err, errlen, "awq export: out of memory");
    for (int i = 0; rc == 0 && i < m->n_params; i++) {
        const qt_tensor *p = m->params[i];
        char hf[160];
        if (!qt_hf_name(p->name, hf, sizeof hf)) {
            snprintf(err, errlen, "awq export: %s has no HF Llama name", p->name);
            rc = -1;
            break;
        }
        const qt_linear_layer *l = qt_model_linear(m, p->name);
        int rope = (strstr(p->name, ".attention.wq.") || strstr(p->name, ".attention.wk.")) ? hd : 0;
        if (!l || !l->wq) {
            rc = add_f16(st, hf, p->data, p->ndim == 1 ? 1 : qt_rows(p), qt_cols(p), rope, err, errlen);
            continue;
        }
        qt_qweight *qw = qt_freeze(l->w, l->wq);
        char why[256];
        if (awq_mismatch(qw, why, sizeof why)) {
            qt_qweight_free(qw);
            if (!o->requantize) {
                snprintf(err, errlen, "awq export: %s (%s): AWQ GEMM cannot hold its spec exactly: %s; set "
                         "\"requantize\" to re-quantize it (losing the learned grid)", hf, p->name, why);
                rc = -1;
                break;
            }
            int g = l->wq->spec.group;
            if (g != 32 && g != 64 && g != 128) g = 128;
            if (qt_cols(p) % g || qt_rows(p) % 8) {
                snprintf(err, errlen, "awq export: %s (%s): [%d, %d] cannot be re-quantized to AWQ group %d", hf,
                         p->name, qt_rows(p), qt_cols(p), g);
                rc = -1;
                break;
            }
            if (!n_requant++) snprintf(first_requant, sizeof first_requant, "%s: %s", hf, why);
            qw = awq_requant(p, g, err, errlen);
            if (!qw) {
                rc = -1;
                break;
            }
        }
        if (group && qw->gsize != group) {
            snprintf(err, errlen, "awq export: %s (%s): group %d, but other layers use %d (AWQ has one group_size)",
                     hf, p->name, qw->gsize, group);
            qt_qweight_free(qw);
            rc = -1;
            break;
        }
        group = qw->gsize;
        size_t k = strlen(hf);
        hf[k - strlen(".weight")] = 0; /* module name */
        rc = add_awq_linear(st, hf, qw, rope, err, errlen);
        qt_qweight_free(qw);
        n_quant++;
    }
    if (rc == 0 && n_quant == 0) {
        snprintf(err, errlen, "awq export: %s: no Linear is quantized (AWQ needs asym 4-bit quantizers)", dir);
        rc = -1;
    }
    char path[4096];
    if (rc == 0) {
        qt_st_set_meta(st, "format", "pt");
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        rc = qt_st_write(st, path, err, errlen);
    }
    if (rc == 0) {
        snprintf(path, sizeof path, "%s/config.json", dir);
        rc = write_config(m, group, path, err, errlen);
    }
    if (rc == 0 && n_requant)
        fprintf(stderr, "qatc: warning: awq export: %s: %d tensor(s) re-quantized to asym 4-bit from the float "
                "weights, losing the learned grid (first: %s)\n", dir, n_requant, first_requant);
    qt_st_free(st);
    return rc;
}
