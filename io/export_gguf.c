/* GGUF export of a QAT model from its frozen integers, and qt_export_run
 * (the config's export list). See io/export.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/export.h"
#include "qat/policy.h"

#include "base/files.h"
#include "data/tokenizer.h"
#include "store/gguf.h"
#include "quant/ggml_blocks.h"
#include "quant/quant.h"

/* ---------------------------------------------------------- tensors */

typedef struct {
    qt_gguf *g;
    const qt_export_opts *o;
    int type;          /* requested type; -1: each quantized Linear at the type that holds its spec */
    double type_weights[40]; /* weights written per ggml type (the file type of a per-tensor file) */
    int n_quant;       /* tensors written in a quantized type */
    int n_requant;
    char first_requant[320];
    char *err;
    size_t errlen;
    int perm_hd;       /* > 0: rows of the current tensor go out in HF's half-split rope order (NEOX archs) */
} ectx;

/* Adds a tensor; with e->perm_hd its rows (elements when 1-D) are written in
 * HF's order: output row r is our row qt_hf_rope_row(r, hd), whatever the type
 * (every ggml type stores a row as whole blocks). */
static int e_add(ectx *e, const char *name, int type, int nd, const uint64_t *ne, const void *data, size_t bytes) {
    if (e->perm_hd <= 0) return qt_gguf_add_tensor(e->g, name, type, nd, ne, data, bytes, e->err, e->errlen);
    size_t rows = nd == 1 ? ne[0] : ne[1], rb = bytes / rows;
    char *buf = malloc(bytes);
    if (!buf) {
        snprintf(e->err, e->errlen, "gguf export: out of memory for %s", name);
        return -1;
    }
    for (size_t r = 0; r < rows; r++) memcpy(buf + r * rb, (const char *)data + (size_t)qt_hf_rope_row((int)r, e->perm_hd) * rb, rb);
    int rc = qt_gguf_add_tensor(e->g, name, type, nd, ne, buf, bytes, e->err, e->errlen);
    free(buf);
    return rc;
}

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
        qt_ggml_quantize_ref(QT_GGML_F16, w, h, n);
        rc = e_add(e, name, QT_GGML_F16, nd, ne, h, n * 2);
        free(h);
    } else {
        rc = e_add(e, name, QT_GGML_F32, nd, ne, w, n * 4);
    }
    return rc;
}

static int add_requant(ectx *e, const char *name, const float *w, int rows, int cols, int type) {
    if (type == QT_GGML_F32 || type == QT_GGML_F16) return add_float(e, name, w, rows, cols, type == QT_GGML_F16);
    const int bs = qt_ggml_block_size(type);
    if (cols % bs) {
        snprintf(e->err, e->errlen, "gguf export: %s: rows of %d values cannot be %s blocks of %d", name, cols,
                 qt_ggml_type_name(type), bs);
        return -1;
    }
    size_t bsz = qt_ggml_type_size(type), nblk = (size_t)rows * cols / bs;
    uint8_t *buf = malloc(nblk * bsz);
    if (!buf) {
        snprintf(e->err, e->errlen, "gguf export: out of memory for %s", name);
        return -1;
    }
    qt_ggml_quantize_ref(type, w, buf, (size_t)rows * cols);
    uint64_t ne[2] = {(uint64_t)cols, (uint64_t)rows};
    int rc = e_add(e, name, type, 2, ne, buf, nblk * bsz);
    free(buf);
    e->n_quant++;
    e->type_weights[type] += (double)rows * cols;
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
    int rc = -1, want = e->type >= 0 ? e->type : qt_ggml_type_of_spec(&l->wq->spec);
    if (want < 0) {
        const qt_quant_spec *s = &l->wq->spec;
        snprintf(e->err, e->errlen, "gguf export: %s (%s): no GGUF type holds its grid (%d-bit %s, group %d%s); train "
                 "it with quant.weights.type or a quant.preset, or give the export a type (with requantize)", gname,
                 l->w->name, s->bits, qt_quant_grid_name(s->grid),
                 s->group, s->dq_bits ? ", quantized sub-scales" : "");
        return -1;
    }
    qt_qweight *qw = qt_freeze(l->w, l->wq);
    char why[256];
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
    if (cols % qt_ggml_block_size(want) == 0 && qt_ggml_quantize_qweight(qw, want, NULL, why, sizeof why) == 0) {
        size_t bytes = (size_t)rows * cols / qt_ggml_block_size(want) * qt_ggml_type_size(want);
        uint8_t *buf = malloc(bytes);
        if (!buf) {
            snprintf(e->err, e->errlen, "gguf export: out of memory for %s", gname);
            qt_qweight_free(qw);
            return -1;
        }
        qt_ggml_quantize_qweight(qw, want, buf, why, sizeof why);
        uint64_t ne[2] = {(uint64_t)cols, (uint64_t)rows};
        rc = e_add(e, gname, want, 2, ne, buf, bytes);
        free(buf);
        e->n_quant++;
        e->type_weights[want] += (double)rows * cols;
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

/* llama.cpp's general.file_type (LLAMA_FTYPE_MOSTLY_*) of a file whose
 * tensors are mostly of type t */
static int file_type_of(int t) {
    switch (t) {
    case QT_GGML_F32: return 0;
    case QT_GGML_F16: return 1;
    case QT_GGML_Q4_0: return 2;
    case QT_GGML_Q4_1: return 3;
    case QT_GGML_Q5_0: return 8;
    case QT_GGML_Q5_1: return 9;
    case QT_GGML_Q2_K: return 10;
    case QT_GGML_Q3_K: return 11; /* Q3_K_S */
    case QT_GGML_Q4_K: return 14; /* Q4_K_S */
    case QT_GGML_Q5_K: return 16; /* Q5_K_S */
    case QT_GGML_Q6_K: return 18;
    case QT_GGML_IQ4_NL: return 25;
    case QT_GGML_MXFP4: return 38; /* MXFP4_MOE, llama.cpp's only MXFP4 file type */
    default: return 7; /* Q8_0 */
    }
}

/* the file type: the options' (a preset's), else that of the type most
 * weights were written in (F32 when none is quantized) */
static int file_type(const ectx *e, const qt_export_opts *o) {
    if (o->file_type > 0) return o->file_type;
    int best = -1;
    for (int t = 0; t < 40; t++)
        if (e->type_weights[t] > 0 && (best < 0 || e->type_weights[t] > e->type_weights[best])) best = t;
    return best < 0 ? (e->type >= 0 ? file_type_of(e->type) : 0) : file_type_of(best);
}

/* llama.cpp's architecture for a family: mistral and SmolLM run as "llama" */
const char *qt_gguf_arch_of(qt_arch a) {
    switch (a) {
    case QT_ARCH_QWEN2: return "qwen2";
    case QT_ARCH_QWEN3: return "qwen3";
    default: return "llama";
    }
}

static int set_metadata(qt_gguf *g, const qt_model *m, const qt_export_opts *o, int ftype, int any_quant) {
    const qt_model_cfg *c = &m->cfg;
    const int hd = qt_model_head_dim(c);
    const char *arch = qt_gguf_arch_of(c->arch);
    char k[96];
#define KEY(s) (snprintf(k, sizeof k, "%s." s, arch), k)
    int bad = qt_gguf_set_str(g, "general.architecture", arch);
    bad |= qt_gguf_set_str(g, "general.name", o && o->name ? o->name : "qatc");
    if (any_quant) bad |= qt_gguf_set_u32(g, "general.quantization_version", 2);
    bad |= qt_gguf_set_u32(g, "general.file_type", (uint32_t)ftype);
    bad |= qt_gguf_set_u32(g, KEY("context_length"), (uint32_t)qt_model_max_ctx(c));
    bad |= qt_gguf_set_u32(g, KEY("embedding_length"), (uint32_t)c->dim);
    bad |= qt_gguf_set_u32(g, KEY("block_count"), (uint32_t)c->layers);
    bad |= qt_gguf_set_u32(g, KEY("feed_forward_length"), (uint32_t)c->ffn);
    bad |= qt_gguf_set_u32(g, KEY("attention.head_count"), (uint32_t)c->heads);
    bad |= qt_gguf_set_u32(g, KEY("attention.head_count_kv"), (uint32_t)c->kv_heads);
    if (hd * c->heads != c->dim) { /* a head size of its own (Qwen3, Mistral Nemo) */
        bad |= qt_gguf_set_u32(g, KEY("attention.key_length"), (uint32_t)hd);
        bad |= qt_gguf_set_u32(g, KEY("attention.value_length"), (uint32_t)hd);
    }
    bad |= qt_gguf_set_f32(g, KEY("attention.layer_norm_rms_epsilon"), c->norm_eps);
    bad |= qt_gguf_set_f32(g, KEY("rope.freq_base"), c->rope_theta);
    bad |= qt_gguf_set_u32(g, KEY("rope.dimension_count"), (uint32_t)hd);
    bad |= qt_gguf_set_u32(g, KEY("vocab_size"), (uint32_t)c->vocab);
#undef KEY
    return bad ? -1 : 0;
}

/* ---------------------------------------------------------- tokenizer */

/* tokenizer.ggml.* from the tokenizer's GGUF view (see io/export.h): the
 * model's vocabulary rows beyond the tokenizer's tokens become UNUSED
 * "<extra_N>" tokens. */
static int set_tokenizer(qt_gguf *g, const qt_model *m, const qd_tokenizer *t, const char *path, char *err,
                         size_t errlen) {
    qd_vocab_view v;
    qd_tokenizer_vocab_view(t, &v);
    const int V = m->cfg.vocab;
    if (v.n > V) {
        snprintf(err, errlen, "gguf export: %s: tokenizer %s has %d tokens, more than the model's %d vocabulary rows",
                 path, qd_tokenizer_source(t), v.n, V);
        return -1;
    }
    const char **tok = calloc((size_t)V, sizeof *tok);
    char **extra = calloc((size_t)V, sizeof *extra);
    float *scores = v.scores ? calloc((size_t)V, sizeof *scores) : NULL;
    int32_t *types = calloc((size_t)V, sizeof *types);
    int bad = !tok || !extra || !types || (v.scores && !scores);
    for (int i = 0; !bad && i < V; i++) {
        if (i < v.n) {
            tok[i] = v.tokens[i];
            types[i] = v.types ? v.types[i] : QD_TT_NORMAL;
            if (scores) scores[i] = v.scores[i];
            continue;
        }
        extra[i] = malloc(24);
        if (!extra[i]) {
            bad = 1;
            break;
        }
        snprintf(extra[i], 24, "<extra_%d>", i - v.n);
        tok[i] = extra[i];
        types[i] = QD_TT_UNUSED;
    }
    int eos = v.eos;
    if (eos < 0) { /* no EOS of its own: the token of "\n", when one token is all of it (see io/export.h) */
        qd_ids nl = {0};
        char e[128];
        if (qd_tokenizer_encode(t, "\n", 1, 0, &nl, e, sizeof e) == 0 && nl.n == 1) eos = nl.v[0];
        qd_ids_free(&nl);
    }
    if (!bad) {
        bad |= qt_gguf_set_str(g, "tokenizer.ggml.model", v.model);
        if (v.pre) bad |= qt_gguf_set_str(g, "tokenizer.ggml.pre", v.pre);
        bad |= qt_gguf_set_arr_str(g, "tokenizer.ggml.tokens", tok, (uint64_t)V);
        if (scores) bad |= qt_gguf_set_arr(g, "tokenizer.ggml.scores", QT_GGUF_F32, scores, (uint64_t)V);
        bad |= qt_gguf_set_arr(g, "tokenizer.ggml.token_type", QT_GGUF_I32, types, (uint64_t)V);
        /* llama.cpp refuses a "gpt2" vocabulary without the merges key; an empty array is fine */
        if (v.n_merges > 0 || !strcmp(v.model, "gpt2"))
            bad |= qt_gguf_set_arr_str(g, "tokenizer.ggml.merges", v.merges, (uint64_t)(v.n_merges > 0 ? v.n_merges : 0));
        if (v.bos >= 0) bad |= qt_gguf_set_u32(g, "tokenizer.ggml.bos_token_id", (uint32_t)v.bos);
        if (eos >= 0) bad |= qt_gguf_set_u32(g, "tokenizer.ggml.eos_token_id", (uint32_t)eos);
        if (v.unk >= 0) bad |= qt_gguf_set_u32(g, "tokenizer.ggml.unknown_token_id", (uint32_t)v.unk);
        if (v.pad >= 0) bad |= qt_gguf_set_u32(g, "tokenizer.ggml.padding_token_id", (uint32_t)v.pad);
        bad |= qt_gguf_set_bool(g, "tokenizer.ggml.add_bos_token", v.add_bos != 0);
        bad |= qt_gguf_set_bool(g, "tokenizer.ggml.add_eos_token", v.add_eos != 0);
        if (bad) snprintf(err, errlen, "gguf export: %s: out of memory writing the tokenizer", path);
    } else {
        snprintf(err, errlen, "gguf export: %s: out of memory for the tokenizer's %d tokens", path, V);
    }
    for (int i = 0; extra && i < V; i++) free(extra[i]);
    free(extra);
    free(tok);
    free(scores);
    free(types);
    return bad ? -1 : 0;
}

int qt_export_gguf_type_ok(int type) {
    return type == QT_GGML_F32 || type == QT_GGML_F16 || type == QT_GGML_Q8_0 || type == QT_GGML_Q4_0 ||
           type == QT_GGML_Q4_1 || type == QT_GGML_Q5_0 || type == QT_GGML_Q5_1 ||
           (type >= QT_GGML_Q2_K && type <= QT_GGML_Q6_K) || type == QT_GGML_IQ4_NL || type == QT_GGML_MXFP4;
}

int qt_export_gguf(const qt_model *m, const qt_export_opts *o, const char *path, char *err, size_t errlen) {
    static const qt_export_opts defaults = {0};
    if (!o) o = &defaults;
    if (!qt_arch_is_decoder(m->cfg.arch)) {
        snprintf(err, errlen, "gguf export: %s: the mlp arch has no GGUF form (llama, mistral, qwen2 and qwen3 do)", path);
        return -1;
    }
    if (m->rope_div && strcmp(qt_gguf_arch_of(m->cfg.arch), "llama")) { /* its loader would refuse the file */
        snprintf(err, errlen, "gguf export: %s: llama3 rope scaling (tensor rope_freqs.weight) has no GGUF form for "
                 "arch %s: llama.cpp reads it only for arch llama (families llama and mistral)", path,
                 qt_arch_name(m->cfg.arch));
        return -1;
    }
    int type = o->type ? qt_ggml_type_from_name(o->type) : -1;
    if (o->type && !qt_export_gguf_type_ok(type)) {
        snprintf(err, errlen, "gguf export: %s: type \"%s\": expected one of F32, F16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, "
                 "Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, MXFP4", path, o->type);
        return -1;
    }
    if (qt_model_check_finite(m, err, errlen)) return -1;
    qt_gguf *g = qt_gguf_new();
    if (!g) {
        snprintf(err, errlen, "gguf export: out of memory");
        return -1;
    }
    ectx e = {.g = g, .o = o, .type = type, .err = err, .errlen = errlen};
    const qt_model_cfg *c = &m->cfg;
    /* llama.cpp's qwen2/qwen3 rotate HF's halves (NEOX): q/k rows go out in HF order */
    const int neox_hd = c->arch == QT_ARCH_QWEN2 || c->arch == QT_ARCH_QWEN3 ? qt_model_head_dim(c) : 0;
    int rc = 0;
    if (c->tied) /* one tensor: token_embd at the output Linear's type */
        rc = add_linear(&e, "token_embd.weight", &m->output);
    else
        rc = add_float(&e, "token_embd.weight", m->tok_emb->data, c->vocab, c->dim, o->float_f16 || type == QT_GGML_F16);
    if (!rc && m->rope_div) {
        uint64_t ne[1] = {(uint64_t)(qt_model_head_dim(c) / 2)};
        rc = e_add(&e, "rope_freqs.weight", QT_GGML_F32, 1, ne, m->rope_div, ne[0] * sizeof(float));
    }
    char nm[96];
    for (int i = 0; rc == 0 && i < c->layers; i++) {
        const qt_block *b = &m->blocks[i];
#define NM(s) (snprintf(nm, sizeof nm, "blk.%d." s, i), nm)
        rc = add_float(&e, NM("attn_norm.weight"), b->attn_norm->data, 1, c->dim, 0);
        e.perm_hd = neox_hd;
        if (!rc) rc = add_linear(&e, NM("attn_q.weight"), &b->wq);
        if (!rc) rc = add_linear(&e, NM("attn_k.weight"), &b->wk);
        if (!rc && b->wq.b) rc = add_float(&e, NM("attn_q.bias"), b->wq.b->data, 1, (int)b->wq.b->n, 0);
        if (!rc && b->wk.b) rc = add_float(&e, NM("attn_k.bias"), b->wk.b->data, 1, (int)b->wk.b->n, 0);
        if (!rc && b->q_norm) rc = add_float(&e, NM("attn_q_norm.weight"), b->q_norm->data, 1, (int)b->q_norm->n, 0);
        if (!rc && b->k_norm) rc = add_float(&e, NM("attn_k_norm.weight"), b->k_norm->data, 1, (int)b->k_norm->n, 0);
        e.perm_hd = 0;
        if (!rc) rc = add_linear(&e, NM("attn_v.weight"), &b->wv);
        if (!rc && b->wv.b) rc = add_float(&e, NM("attn_v.bias"), b->wv.b->data, 1, (int)b->wv.b->n, 0);
        if (!rc) rc = add_linear(&e, NM("attn_output.weight"), &b->wo);
        if (!rc) rc = add_float(&e, NM("ffn_norm.weight"), b->ffn_norm->data, 1, c->dim, 0);
        if (!rc) rc = add_linear(&e, NM("ffn_gate.weight"), &b->w1);
        if (!rc) rc = add_linear(&e, NM("ffn_down.weight"), &b->w2);
        if (!rc) rc = add_linear(&e, NM("ffn_up.weight"), &b->w3);
#undef NM
    }
    if (!rc) rc = add_float(&e, "output_norm.weight", m->norm->data, 1, c->dim, 0);
    if (!rc && !c->tied) rc = add_linear(&e, "output.weight", &m->output);
    if (!rc && set_metadata(g, m, o, file_type(&e, o), e.n_quant > 0)) {
        snprintf(err, errlen, "gguf export: %s: out of memory writing metadata", path);
        rc = -1;
    }
    if (!rc) {
        qd_tokenizer *own = o->tokenizer ? NULL : qd_tokenizer_byte();
        const qd_tokenizer *t = o->tokenizer ? o->tokenizer : own;
        if (!t) {
            snprintf(err, errlen, "gguf export: %s: out of memory for the byte tokenizer", path);
            rc = -1;
        } else {
            rc = set_tokenizer(g, m, t, path, err, errlen);
        }
        qd_tokenizer_free(own);
    }
    if (!rc) rc = qt_gguf_write(g, path, err, errlen);
    if (!rc && e.n_requant)
        fprintf(stderr, "qatc: warning: gguf export: %s: %d tensor(s) re-quantized to %s from the float weights, "
                "losing the learned grid (first: %s)\n", path, e.n_requant, qt_ggml_type_name(type), e.first_requant);
    qt_gguf_free(g);
    return rc;
}

int qt_gguf_linear_name(const qt_model *m, int j, char *buf, size_t len) {
    static const char *const BLK[7] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_down", "ffn_up"};
    if (!qt_arch_is_decoder(m->cfg.arch) || j < 0 || j >= m->n_linears) return -1;
    if (m->linears[j] == &m->output) {
        snprintf(buf, len, "%s", m->cfg.tied ? "token_embd.weight" : "output.weight");
        return 0;
    }
    const int layer = j / 7, k = j % 7;
    const qt_block *b = &m->blocks[layer];
    const qt_linear_layer *mine[7] = {&b->wq, &b->wk, &b->wv, &b->wo, &b->w1, &b->w2, &b->w3};
    if (m->linears[j] != mine[k]) return -1; /* the order of qt_model.linears is per block wq..w3 */
    snprintf(buf, len, "blk.%d.%s.weight", layer, BLK[k]);
    return 0;
}
