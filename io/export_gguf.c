/* GGUF export of a QAT model from its frozen integers, and qt_export_run
 * (the config's export list). See io/export.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/export.h"

#include "base/files.h"
#include "store/gguf.h"
#include "quant/quant.h"

/* ---------------------------------------------------------- block writers */

static void put_f16(uint8_t *p, float v) {
    uint16_t h = qt_f32_to_f16(v);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

/* llama.cpp's reference quantizers (quantize_row_*_ref), for re-quantization */
static void requant_q8_0(const float *x, uint8_t *blk) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    put_f16(blk, d);
    for (int j = 0; j < 32; j++) blk[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
}

static void requant_q4_0(const float *x, uint8_t *blk) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; j++)
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    float d = max / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    put_f16(blk, d);
    for (int j = 0; j < 16; j++) {
        int a = (int)(int8_t)(x[j] * id + 8.5f), b = (int)(int8_t)(x[16 + j] * id + 8.5f);
        a = a < 15 ? a : 15;
        b = b < 15 ? b : 15;
        blk[2 + j] = (uint8_t)(a | (b << 4));
    }
}

static void requant_q4_1(const float *x, uint8_t *blk) {
    float mn = x[0], mx = x[0];
    for (int j = 1; j < 32; j++) {
        mn = fminf(mn, x[j]);
        mx = fmaxf(mx, x[j]);
    }
    float d = (mx - mn) / 15.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    put_f16(blk, d);
    put_f16(blk + 2, mn);
    for (int j = 0; j < 16; j++) {
        int a = (int)(int8_t)((x[j] - mn) * id + 0.5f), b = (int)(int8_t)((x[16 + j] - mn) * id + 0.5f);
        a = a < 15 ? a : 15;
        b = b < 15 ? b : 15;
        blk[2 + j] = (uint8_t)(a | (b << 4));
    }
}

/* The natural ggml type of a spec: the one that holds it exactly with the
 * same codes (sym 8 → Q8_0, sym 4 → Q4_0, float_min 4 → Q4_1), or -1. */
static int natural_type(const qt_quant_spec *s) {
    if (s->group != 32) return -1;
    if (s->grid == QT_GRID_SYM && s->bits == 8) return QT_GGML_Q8_0;
    if (s->grid == QT_GRID_SYM && s->bits <= 4) return QT_GGML_Q4_0;
    if (s->grid == QT_GRID_FLOAT_MIN && s->bits <= 4) return QT_GGML_Q4_1;
    return -1;
}

static const char *grid_name(qt_grid g) {
    return g == QT_GRID_SYM ? "sym" : g == QT_GRID_ASYM ? "asym (integer zero)" : "float_min";
}

/* 1 if v is an fp16 value */
static int is_f16(float v) { return qt_f16_round(v) == v; }

/* Blocks of `type` (Q8_0, Q4_0, Q4_1) holding qw exactly, rows·cols/32 of
 * them into out (NULL: only check). Holds: Q8_0 ← sym <= 8 bits, asym <= 7
 * bits (code q - z); Q4_0 ← sym <= 4 bits; Q4_1 ← float_min <= 4 bits,
 * asym <= 4 bits (m = -z·s), sym <= 4 bits (code c + 8, m = -8·s); groups of
 * 32 along the row; every scale (and min) an fp16 value. Returns 0, or -1
 * with the reason in why. */
static int qweight_blocks(const qt_qweight *qw, int type, uint8_t *out, char *why, size_t len) {
    const qt_quant_spec *s = &qw->spec;
    if (s->group != 32) {
        snprintf(why, len, "group %d (%s blocks hold groups of 32 along the row)",
                 s->group, qt_ggml_type_name(type));
        return -1;
    }
    int ok = type == QT_GGML_Q8_0 ? (s->grid == QT_GRID_SYM && s->bits <= 8) || (s->grid == QT_GRID_ASYM && s->bits <= 7)
           : type == QT_GGML_Q4_0 ? s->grid == QT_GRID_SYM && s->bits <= 4
           : s->bits <= 4;
    if (!ok) {
        snprintf(why, len, "%d-bit %s grid (%s holds %s)", s->bits, grid_name(s->grid), qt_ggml_type_name(type),
                 type == QT_GGML_Q8_0 ? "sym <= 8-bit and asym <= 7-bit codes"
                 : type == QT_GGML_Q4_0 ? "sym <= 4-bit codes (levels -8..7)"
                                        : "4-bit codes with a float min");
        return -1;
    }
    const int nb = qw->cols / 32;
    const size_t ng = (size_t)qw->rows * nb, bsz = qt_ggml_type_size(type);
    for (size_t gi = 0; gi < ng; gi++) {
        float d = qw->scales[gi], m = 0.0f;
        if (type == QT_GGML_Q4_1)
            m = s->grid == QT_GRID_FLOAT_MIN ? qw->mins[gi]
              : s->grid == QT_GRID_ASYM ? -(float)qw->zeros[gi] * d : -8.0f * d;
        if (!is_f16(d) || !is_f16(m)) {
            snprintf(why, len, "%s of row %zu, group %zu = %.9g is not an fp16 value (train with "
                     "quant.weights.fp16_scales = true)", is_f16(d) ? "min" : "scale", gi / nb, gi % nb,
                     is_f16(d) ? m : d);
            return -1;
        }
        if (!out) continue;
        const size_t o = gi * 32; /* groups are contiguous: group gi covers codes [32·gi, 32·gi + 32) */
        uint8_t *blk = out + gi * bsz;
        put_f16(blk, d);
        int c[32];
        for (int j = 0; j < 32; j++)
            c[j] = s->grid == QT_GRID_SYM ? qw->codes_s8[o + j] : (int)qw->codes_u8[o + j];
        if (type == QT_GGML_Q8_0) {
            for (int j = 0; j < 32; j++)
                blk[2 + j] = (uint8_t)(int8_t)(s->grid == QT_GRID_ASYM ? c[j] - (int)qw->zeros[gi] : c[j]);
        } else if (type == QT_GGML_Q4_0) {
            for (int j = 0; j < 16; j++) blk[2 + j] = (uint8_t)((c[j] + 8) | ((c[j + 16] + 8) << 4));
        } else {
            put_f16(blk + 2, m);
            int add = s->grid == QT_GRID_SYM ? 8 : 0;
            for (int j = 0; j < 16; j++) blk[4 + j] = (uint8_t)((c[j] + add) | ((c[j + 16] + add) << 4));
        }
    }
    return 0;
}

/* ---------------------------------------------------------- tensors */

typedef struct {
    qt_gguf *g;
    const qt_export_opts *o;
    int type;          /* requested type */
    int n_quant;       /* tensors written in a quantized type */
    int n_requant;
    char first_requant[320];
    char *err;
    size_t errlen;
} ectx;

static int add_float(ectx *e, const char *name, const float *w, int rows, int cols, int f16) {
    uint64_t ne[2] = {(uint64_t)cols, (uint64_t)rows};
    int nd = rows > 1 || cols == 0 ? 2 : 1;
    if (nd == 1) ne[0] = (uint64_t)cols;
    size_t n = (size_t)rows * cols;
    int rc;
    if (f16) {
        uint16_t *h = malloc(n * sizeof *h);
        if (!h) {
            snprintf(e->err, e->errlen, "gguf export: out of memory for %s", name);
            return -1;
        }
        for (size_t i = 0; i < n; i++) h[i] = qt_f32_to_f16(w[i]);
        rc = qt_gguf_add_tensor(e->g, name, QT_GGML_F16, nd, ne, h, n * 2, e->err, e->errlen);
        free(h);
    } else {
        rc = qt_gguf_add_tensor(e->g, name, QT_GGML_F32, nd, ne, w, n * 4, e->err, e->errlen);
    }
    return rc;
}

static int add_requant(ectx *e, const char *name, const float *w, int rows, int cols, int type) {
    if (type == QT_GGML_F32 || type == QT_GGML_F16) return add_float(e, name, w, rows, cols, type == QT_GGML_F16);
    if (cols % 32) {
        snprintf(e->err, e->errlen, "gguf export: %s: rows of %d values cannot be %s blocks of 32", name, cols,
                 qt_ggml_type_name(type));
        return -1;
    }
    size_t bsz = qt_ggml_type_size(type), nblk = (size_t)rows * cols / 32;
    uint8_t *buf = malloc(nblk * bsz);
    if (!buf) {
        snprintf(e->err, e->errlen, "gguf export: out of memory for %s", name);
        return -1;
    }
    for (size_t b = 0; b < nblk; b++) {
        const float *x = w + b * 32;
        if (type == QT_GGML_Q8_0) requant_q8_0(x, buf + b * bsz);
        else if (type == QT_GGML_Q4_0) requant_q4_0(x, buf + b * bsz);
        else requant_q4_1(x, buf + b * bsz);
    }
    uint64_t ne[2] = {(uint64_t)cols, (uint64_t)rows};
    int rc = qt_gguf_add_tensor(e->g, name, type, 2, ne, buf, nblk * bsz, e->err, e->errlen);
    free(buf);
    e->n_quant++;
    return rc;
}

/* a Linear: quantized → its exact type (or F32/F16 dequantized); float → F32/F16 */
static int add_linear(ectx *e, const char *gname, const qt_linear_layer *l) {
    const int rows = qt_rows(l->w), cols = qt_cols(l->w);
    if (!l->wq) {
        int t = e->type;
        if (t == QT_GGML_F16 || e->o->float_f16) return add_float(e, gname, l->w->data, rows, cols, 1);
        return add_float(e, gname, l->w->data, rows, cols, 0);
    }
    qt_qweight *qw = qt_freeze(l->w, l->wq);
    char why[256];
    int rc = -1, want = e->type;
    if (want == QT_GGML_F32 || want == QT_GGML_F16) {
        float *dq = malloc((size_t)rows * cols * sizeof *dq);
        if (!dq) {
            snprintf(e->err, e->errlen, "gguf export: out of memory for %s", gname);
            qt_qweight_free(qw);
            return -1;
        }
        qt_qweight_dequant(qw, dq);
        if (want == QT_GGML_F16 && !e->o->requantize) {
            for (size_t i = 0; i < (size_t)rows * cols; i++)
                if (qt_f16_round(dq[i]) != dq[i]) {
                    snprintf(e->err, e->errlen, "gguf export: %s (%s): dequantized weight %zu = %.9g is not an fp16 "
                             "value, so type F16 cannot hold it exactly (use F32, or requantize)", gname,
                             l->w->name, i, dq[i]);
                    free(dq);
                    qt_qweight_free(qw);
                    return -1;
                }
        }
        rc = add_float(e, gname, dq, rows, cols, want == QT_GGML_F16);
        free(dq);
        qt_qweight_free(qw);
        return rc;
    }
    if (qweight_blocks(qw, want, NULL, why, sizeof why) == 0) {
        size_t bytes = (size_t)rows * cols / 32 * qt_ggml_type_size(want);
        uint8_t *buf = malloc(bytes);
        if (!buf) {
            snprintf(e->err, e->errlen, "gguf export: out of memory for %s", gname);
            qt_qweight_free(qw);
            return -1;
        }
        qweight_blocks(qw, want, buf, why, sizeof why);
        uint64_t ne[2] = {(uint64_t)cols, (uint64_t)rows};
        rc = qt_gguf_add_tensor(e->g, gname, want, 2, ne, buf, bytes, e->err, e->errlen);
        free(buf);
        e->n_quant++;
        qt_qweight_free(qw);
        return rc;
    }
    qt_qweight_free(qw);
    if (!e->o->requantize) {
        snprintf(e->err, e->errlen, "gguf export: %s (%s): type %s cannot hold its spec exactly: %s; set "
                 "\"requantize\" to re-quantize it (losing the learned grid)", gname, l->w->name,
                 qt_ggml_type_name(want), why);
        return -1;
    }
    if (!e->n_requant++)
        snprintf(e->first_requant, sizeof e->first_requant, "%s: %s", gname, why);
    return add_requant(e, gname, l->w->data, rows, cols, want);
}

/* the derived type: the natural type of the first quantized Linear (Q4_0
 * when it has none), F32 when nothing is quantized */
static int derive_type(const qt_model *m) {
    for (int j = 0; j < m->n_linears; j++) {
        if (!m->linears[j]->wq) continue;
        int t = natural_type(&m->linears[j]->wq->spec);
        return t >= 0 ? t : QT_GGML_Q4_0;
    }
    return QT_GGML_F32;
}

static int file_type_of(int t) {
    switch (t) {
    case QT_GGML_F32: return 0;
    case QT_GGML_F16: return 1;
    case QT_GGML_Q4_0: return 2;
    case QT_GGML_Q4_1: return 3;
    default: return 7; /* Q8_0 */
    }
}

static int set_metadata(qt_gguf *g, const qt_model *m, const qt_export_opts *o, int type, int any_quant) {
    const qt_model_cfg *c = &m->cfg;
    const int hd = c->dim / c->heads;
    int bad = qt_gguf_set_str(g, "general.architecture", "llama");
    bad |= qt_gguf_set_str(g, "general.name", o && o->name ? o->name : "qatc");
    if (any_quant) bad |= qt_gguf_set_u32(g, "general.quantization_version", 2);
    bad |= qt_gguf_set_u32(g, "general.file_type", (uint32_t)file_type_of(type));
    bad |= qt_gguf_set_u32(g, "llama.context_length", (uint32_t)c->ctx);
    bad |= qt_gguf_set_u32(g, "llama.embedding_length", (uint32_t)c->dim);
    bad |= qt_gguf_set_u32(g, "llama.block_count", (uint32_t)c->layers);
    bad |= qt_gguf_set_u32(g, "llama.feed_forward_length", (uint32_t)c->ffn);
    bad |= qt_gguf_set_u32(g, "llama.attention.head_count", (uint32_t)c->heads);
    bad |= qt_gguf_set_u32(g, "llama.attention.head_count_kv", (uint32_t)c->kv_heads);
    bad |= qt_gguf_set_f32(g, "llama.attention.layer_norm_rms_epsilon", c->norm_eps);
    bad |= qt_gguf_set_f32(g, "llama.rope.freq_base", c->rope_theta);
    bad |= qt_gguf_set_u32(g, "llama.rope.dimension_count", (uint32_t)hd);
    bad |= qt_gguf_set_u32(g, "llama.vocab_size", (uint32_t)c->vocab);
    /* byte-level vocabulary: <0x00> .. <0xFF> as BYTE tokens, then unused extras */
    const int V = c->vocab;
    char **tok = calloc((size_t)V, sizeof *tok);
    float *scores = calloc((size_t)V, sizeof *scores);
    int32_t *types = calloc((size_t)V, sizeof *types);
    if (!tok || !scores || !types) bad = 1;
    for (int i = 0; !bad && i < V; i++) {
        tok[i] = malloc(16);
        if (!tok[i]) {
            bad = 1;
            break;
        }
        if (i < 256) snprintf(tok[i], 16, "<0x%02X>", i);
        else snprintf(tok[i], 16, "<extra_%d>", i - 256);
        types[i] = i < 256 ? 6 : 5;
    }
    if (!bad) {
        bad |= qt_gguf_set_str(g, "tokenizer.ggml.model", "llama");
        bad |= qt_gguf_set_arr_str(g, "tokenizer.ggml.tokens", (const char *const *)tok, (uint64_t)V);
        bad |= qt_gguf_set_arr(g, "tokenizer.ggml.scores", QT_GGUF_F32, scores, (uint64_t)V);
        bad |= qt_gguf_set_arr(g, "tokenizer.ggml.token_type", QT_GGUF_I32, types, (uint64_t)V);
        bad |= qt_gguf_set_bool(g, "tokenizer.ggml.add_bos_token", 0);
        bad |= qt_gguf_set_bool(g, "tokenizer.ggml.add_eos_token", 0);
    }
    if (tok)
        for (int i = 0; i < V; i++) free(tok[i]);
    free(tok);
    free(scores);
    free(types);
    return bad ? -1 : 0;
}

int qt_export_gguf(const qt_model *m, const qt_export_opts *o, const char *path, char *err, size_t errlen) {
    static const qt_export_opts defaults = {0};
    if (!o) o = &defaults;
    if (m->cfg.arch != QT_ARCH_LLAMA) {
        snprintf(err, errlen, "gguf export: %s: only the llama arch maps to GGUF (this model is mlp)", path);
        return -1;
    }
    int type = o->type ? qt_ggml_type_from_name(o->type) : derive_type(m);
    if (type != QT_GGML_F32 && type != QT_GGML_F16 && type != QT_GGML_Q8_0 && type != QT_GGML_Q4_0 &&
        type != QT_GGML_Q4_1) {
        snprintf(err, errlen, "gguf export: %s: type \"%s\": expected one of F32, F16, Q8_0, Q4_0, Q4_1", path,
                 o->type ? o->type : "?");
        return -1;
    }
    qt_gguf *g = qt_gguf_new();
    if (!g) {
        snprintf(err, errlen, "gguf export: out of memory");
        return -1;
    }
    ectx e = {g, o, type, 0, 0, "", err, errlen};
    const qt_model_cfg *c = &m->cfg;
    int rc = add_float(&e, "token_embd.weight", m->tok_emb->data, c->vocab, c->dim, o->float_f16 || type == QT_GGML_F16);
    char nm[96];
    for (int i = 0; rc == 0 && i < c->layers; i++) {
        const qt_block *b = &m->blocks[i];
#define NM(s) (snprintf(nm, sizeof nm, "blk.%d." s, i), nm)
        rc = add_float(&e, NM("attn_norm.weight"), b->attn_norm->data, 1, c->dim, 0);
        if (!rc) rc = add_linear(&e, NM("attn_q.weight"), &b->wq);
        if (!rc) rc = add_linear(&e, NM("attn_k.weight"), &b->wk);
        if (!rc) rc = add_linear(&e, NM("attn_v.weight"), &b->wv);
        if (!rc) rc = add_linear(&e, NM("attn_output.weight"), &b->wo);
        if (!rc) rc = add_float(&e, NM("ffn_norm.weight"), b->ffn_norm->data, 1, c->dim, 0);
        if (!rc) rc = add_linear(&e, NM("ffn_gate.weight"), &b->w1);
        if (!rc) rc = add_linear(&e, NM("ffn_down.weight"), &b->w2);
        if (!rc) rc = add_linear(&e, NM("ffn_up.weight"), &b->w3);
#undef NM
    }
    if (!rc) rc = add_float(&e, "output_norm.weight", m->norm->data, 1, c->dim, 0);
    if (!rc) rc = add_linear(&e, "output.weight", &m->output);
    if (!rc && set_metadata(g, m, o, type, e.n_quant > 0)) {
        snprintf(err, errlen, "gguf export: %s: out of memory writing metadata", path);
        rc = -1;
    }
    if (!rc) rc = qt_gguf_write(g, path, err, errlen);
    if (!rc && e.n_requant)
        fprintf(stderr, "qatc: warning: gguf export: %s: %d tensor(s) re-quantized to %s from the float weights, "
                "losing the learned grid (first: %s)\n", path, e.n_requant, qt_ggml_type_name(type), e.first_requant);
    qt_gguf_free(g);
    return rc;
}
