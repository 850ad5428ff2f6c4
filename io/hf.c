/* Hugging Face layout of the decoder families: tensor names, the q/k rope
 * permutation and config.json (read and written). See io/export.h. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/files.h"
#include "io/export.h"

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
        {"attention.wq.bias", "self_attn.q_proj.bias"},
        {"attention.wk.bias", "self_attn.k_proj.bias"},
        {"attention.wv.bias", "self_attn.v_proj.bias"},
        {"attention.q_norm.weight", "self_attn.q_norm.weight"},
        {"attention.k_norm.weight", "self_attn.k_norm.weight"},
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

int qt_hf_rope_hd(const qt_model *m, const char *n) {
    static const char *const K[] = {".attention.wq.", ".attention.wk.", ".attention.q_norm.", ".attention.k_norm."};
    for (size_t i = 0; i < sizeof K / sizeof K[0]; i++)
        if (strstr(n, K[i])) return qt_model_head_dim(&m->cfg);
    return 0;
}

/* ------------------------------------------------------------ config.json */

/* a string from a file, for a one-line message: control bytes as '?', at most 80 bytes */
static const char *clean(const char *s, char *buf, size_t n) {
    size_t i = 0;
    for (; s && s[i] && i + 1 < n && i < 80; i++) buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    buf[i] = 0;
    return buf;
}

static const char *const HF_TYPES[] = {"llama", NULL, "mistral", "qwen2", "qwen3"};
static const char *const HF_CLASSES[] = {"LlamaForCausalLM", NULL, "MistralForCausalLM", "Qwen2ForCausalLM",
                                         "Qwen3ForCausalLM"};

static int json_int(const cJSON *j, const char *key, int def, int *out, const char *path, char *err, size_t errlen) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!v || cJSON_IsNull(v)) {
        if (def < 0) {
            snprintf(err, errlen, "%s: key \"%s\" is missing", path, key);
            return -1;
        }
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > (1 << 30) || floor(v->valuedouble) != v->valuedouble) {
        snprintf(err, errlen, "%s: key \"%s\": expected a positive integer", path, key);
        return -1;
    }
    *out = (int)v->valuedouble;
    return 0;
}

static int json_float(const cJSON *j, const char *key, double def, float *out, const char *path, char *err,
                      size_t errlen) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!v || cJSON_IsNull(v)) {
        *out = (float)def;
        return 0;
    }
    if (!cJSON_IsNumber(v) || !(v->valuedouble > 0) || !(v->valuedouble <= 3.0e38)) {
        snprintf(err, errlen, "%s: key \"%s\": expected a positive number", path, key);
        return -1;
    }
    *out = (float)v->valuedouble;
    return 0;
}

static int json_true(const cJSON *j, const char *key) { return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, key)); }

/* rope_scaling: null, or {"rope_type" (or "type"): "llama3", factor, low_freq_factor,
 * high_freq_factor, original_max_position_embeddings}; "default" is no scaling */
static int read_rope_scaling(const cJSON *j, qt_model_cfg *c, const char *path, char *err, size_t errlen) {
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(j, "rope_scaling");
    if (!rs || cJSON_IsNull(rs)) return 0;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
    if (!t) t = cJSON_GetObjectItemCaseSensitive(rs, "type");
    const char *type = cJSON_IsString(t) ? t->valuestring : NULL;
    if (type && !strcmp(type, "default")) return 0;
    if (!type || strcmp(type, "llama3")) {
        char b[96];
        snprintf(err, errlen, "%s: rope_scaling type %s%s%s is not supported (qatc implements \"llama3\")", path,
                 type ? "\"" : "", type ? clean(type, b, sizeof b) : "(missing)", type ? "\"" : "");
        return -1;
    }
    if (json_float(rs, "factor", -1, &c->rope_factor, path, err, errlen) ||
        json_float(rs, "low_freq_factor", -1, &c->rope_low_freq, path, err, errlen) ||
        json_float(rs, "high_freq_factor", -1, &c->rope_high_freq, path, err, errlen) ||
        json_int(rs, "original_max_position_embeddings", -1, &c->rope_orig_ctx, path, err, errlen))
        return -1;
    if (!(c->rope_factor > 0) || !(c->rope_low_freq > 0) || !(c->rope_high_freq > 0)) {
        snprintf(err, errlen, "%s: rope_scaling: factor, low_freq_factor and high_freq_factor are all required", path);
        return -1;
    }
    return 0;
}

/* an integer of the quantization_config in [lo, hi] (or -1 when allow_m1) */
static int qc_int(const cJSON *o, const char *key, int lo, int hi, int allow_m1, int *out, const char *path, char *err,
                  size_t errlen) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsNumber(v) && floor(v->valuedouble) == v->valuedouble &&
        ((v->valuedouble >= lo && v->valuedouble <= hi) || (allow_m1 && v->valuedouble == -1))) {
        *out = (int)v->valuedouble;
        return 0;
    }
    snprintf(err, errlen, "%s: quantization_config: \"%s\": expected an integer in [%d, %d]%s", path, key, lo, hi,
             allow_m1 ? " or -1" : "");
    return -1;
}

/* GPTQ: bits 2/3/4/8, group_size (or -1), checkpoint_format gptq (v1, the default) or gptq_v2 */
static int read_gptq_config(const cJSON *qc, qt_hf_quant *q, const char *path, char *err, size_t errlen) {
    if (qc_int(qc, "bits", 2, 8, 0, &q->bits, path, err, errlen) ||
        qc_int(qc, "group_size", 1, 1 << 30, 1, &q->group, path, err, errlen))
        return -1;
    if (q->bits == 5 || q->bits == 6 || q->bits == 7) {
        snprintf(err, errlen, "%s: quantization_config: GPTQ bits %d (expected 2, 3, 4 or 8)", path, q->bits);
        return -1;
    }
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(qc, "checkpoint_format");
    if (f && !cJSON_IsNull(f) && !(cJSON_IsString(f) && (!strcmp(f->valuestring, "gptq") ||
                                                         !strcmp(f->valuestring, "gptq_v2")))) {
        char b[96];
        snprintf(err, errlen, "%s: quantization_config: checkpoint_format %s is not supported (\"gptq\" or "
                 "\"gptq_v2\")", path, cJSON_IsString(f) ? clean(f->valuestring, b, sizeof b) : "(not a string)");
        return -1;
    }
    q->v2 = cJSON_IsString(f) && !strcmp(f->valuestring, "gptq_v2");
    q->sym = json_true(qc, "sym");
    q->kind = QT_HFQ_GPTQ;
    return 0;
}

/* compressed-tensors pack-quantized: one config group of int weights, no activation quantization */
static int read_ct_config(const cJSON *qc, qt_hf_quant *q, const char *path, char *err, size_t errlen) {
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(qc, "format");
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(qc, "config_groups");
    const cJSON *g0 = cJSON_IsObject(groups) ? groups->child : NULL;
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(g0, "weights");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(w, "type");
    const cJSON *strat = cJSON_GetObjectItemCaseSensitive(w, "strategy");
    const cJSON *gf = cJSON_GetObjectItemCaseSensitive(g0, "format");
    const char *why = NULL;
    if (!(cJSON_IsString(fmt) && !strcmp(fmt->valuestring, "pack-quantized")) &&
        !(cJSON_IsString(gf) && !strcmp(gf->valuestring, "pack-quantized")))
        why = "format is not \"pack-quantized\"";
    else if (!g0 || g0->next) why = "expected exactly one of config_groups";
    else if (!cJSON_IsObject(w)) why = "config_groups: no \"weights\" object";
    else if (!(cJSON_IsString(type) && !strcmp(type->valuestring, "int"))) why = "weights.type is not \"int\"";
    else if (!(cJSON_IsString(strat) && (!strcmp(strat->valuestring, "group") || !strcmp(strat->valuestring, "channel"))))
        why = "weights.strategy is not \"group\" or \"channel\"";
    else if (cJSON_GetObjectItemCaseSensitive(g0, "input_activations") &&
             !cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(g0, "input_activations")))
        why = "input_activations are quantized (import reads weight-only checkpoints)";
    if (why) {
        snprintf(err, errlen, "%s: quantization_config (compressed-tensors): %s", path, why);
        return -1;
    }
    if (qc_int(w, "num_bits", 1, 8, 0, &q->bits, path, err, errlen)) return -1;
    q->group = -1;
    if (!strcmp(strat->valuestring, "group") && qc_int(w, "group_size", 1, 1 << 30, 0, &q->group, path, err, errlen))
        return -1;
    const cJSON *sym = cJSON_GetObjectItemCaseSensitive(w, "symmetric");
    q->sym = !sym || cJSON_IsTrue(sym); /* QuantizationArgs' default is symmetric */
    q->kind = QT_HFQ_CT;
    return 0;
}

/* quantization_config: AutoAWQ GEMM 4-bit with zero points, GPTQ v1/v2, compressed-tensors pack-quantized */
static int read_quant_config(const cJSON *qc, qt_hf_quant *q, const char *path, char *err, size_t errlen) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(qc, "quant_method");
    if (cJSON_IsString(m) && !strcmp(m->valuestring, "gptq")) return read_gptq_config(qc, q, path, err, errlen);
    if (cJSON_IsString(m) && !strcmp(m->valuestring, "compressed-tensors")) return read_ct_config(qc, q, path, err, errlen);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(qc, "version");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(qc, "bits");
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(qc, "group_size");
    int ok = cJSON_IsString(m) && !strcmp(m->valuestring, "awq") && cJSON_IsString(v) &&
             (!strcmp(v->valuestring, "gemm") || !strcmp(v->valuestring, "GEMM")) && cJSON_IsNumber(b) &&
             b->valuedouble == 4 && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(qc, "zero_point")) &&
             cJSON_IsNumber(g) && (g->valuedouble == 32 || g->valuedouble == 64 || g->valuedouble == 128);
    if (!ok) {
        char qm[96];
        snprintf(err, errlen, "%s: quantization_config (quant_method %s) is not supported: import takes a float "
                 "(F32/F16/BF16) checkpoint, an AutoAWQ GEMM 4-bit one with zero points and group 32/64/128, GPTQ "
                 "or compressed-tensors pack-quantized", path,
                 cJSON_IsString(m) ? clean(m->valuestring, qm, sizeof qm) : "?");
        return -1;
    }
    q->kind = QT_HFQ_AWQ, q->bits = 4, q->group = (int)g->valuedouble, q->sym = 0;
    return 0;
}

int qt_hf_config_parse(const char *text, const char *path, qt_model_cfg *c, qt_hf_quant *q, char *err, size_t errlen) {
    cJSON *j = cJSON_Parse(text);
    if (!j || !cJSON_IsObject(j)) {
        snprintf(err, errlen, "%s: malformed JSON (expected a Hugging Face config.json object)", path);
        cJSON_Delete(j);
        return -1;
    }
    memset(c, 0, sizeof *c);
    memset(q, 0, sizeof *q);
    int rc = -1;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(j, "model_type");
    const char *type = cJSON_IsString(mt) ? mt->valuestring : NULL;
    int arch = -1;
    for (int a = 0; type && a < QT_N_ARCHS; a++)
        if (HF_TYPES[a] && !strcmp(type, HF_TYPES[a])) arch = a;
    if (arch < 0) {
        char b[96];
        snprintf(err, errlen, "%s: model_type %s%s%s is not supported (llama, mistral, qwen2, qwen3)", path,
                 type ? "\"" : "", type ? clean(type, b, sizeof b) : "(missing)", type ? "\"" : "");
        goto out;
    }
    c->arch = (qt_arch)arch;
    if (json_int(j, "hidden_size", -1, &c->dim, path, err, errlen) ||
        json_int(j, "num_hidden_layers", -1, &c->layers, path, err, errlen) ||
        json_int(j, "num_attention_heads", -1, &c->heads, path, err, errlen) ||
        json_int(j, "intermediate_size", -1, &c->ffn, path, err, errlen) ||
        json_int(j, "vocab_size", -1, &c->vocab, path, err, errlen) ||
        json_int(j, "num_key_value_heads", c->heads, &c->kv_heads, path, err, errlen) ||
        json_int(j, "max_position_embeddings", 2048, &c->ctx, path, err, errlen) ||
        json_float(j, "rms_norm_eps", 1e-6, &c->norm_eps, path, err, errlen) ||
        json_float(j, "rope_theta", 10000.0, &c->rope_theta, path, err, errlen) ||
        json_int(j, "head_dim", c->dim / c->heads, &c->head_dim, path, err, errlen) ||
        read_rope_scaling(j, c, path, err, errlen))
        goto out;
    if (c->head_dim * c->heads == c->dim) c->head_dim = 0; /* the default */
    c->tied = json_true(j, "tie_word_embeddings");
    c->qkv_bias = c->arch == QT_ARCH_QWEN2;
    c->qk_norm = c->arch == QT_ARCH_QWEN3;
    /* what changes the math and qatc does not implement is refused by name */
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(j, "hidden_act");
    if (act && !(cJSON_IsString(act) && !strcmp(act->valuestring, "silu"))) {
        char b[96];
        snprintf(err, errlen, "%s: hidden_act %s%s%s is not supported (qatc's feed-forward is SwiGLU: \"silu\")", path,
                 cJSON_IsString(act) ? "\"" : "", cJSON_IsString(act) ? clean(act->valuestring, b, sizeof b) : "(not a string)",
                 cJSON_IsString(act) ? "\"" : "");
        goto out;
    }
    if (json_true(j, "mlp_bias")) {
        snprintf(err, errlen, "%s: mlp_bias is true (not supported: qatc's feed-forward has no biases)", path);
        goto out;
    }
    if (c->arch != QT_ARCH_QWEN2 && json_true(j, "attention_bias")) {
        snprintf(err, errlen, "%s: attention_bias is true (not supported for %s)", path, HF_TYPES[c->arch]);
        goto out;
    }
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(j, "pretraining_tp");
    if (cJSON_IsNumber(pt) && pt->valuedouble > 1) {
        snprintf(err, errlen, "%s: pretraining_tp = %g (not supported; set it to 1: it only splits the matmuls)",
                 path, pt->valuedouble);
        goto out;
    }
    /* keys of other families' configs that change the math (neutral value allowed) */
    static const struct {
        const char *key;
        double neutral;
    } OTHER[] = {{"partial_rotary_factor", 1.0}, {"attn_logit_softcapping", 0}, {"final_logit_softcapping", 0},
                 {"query_pre_attn_scalar", 0},   {"embedding_multiplier", 1.0},  {"logits_scaling", 1.0},
                 {"residual_multiplier", 1.0},   {"attention_multiplier", 0},    {"clip_qkv", 0}};
    for (size_t i = 0; i < sizeof OTHER / sizeof OTHER[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, OTHER[i].key);
        if (!v || cJSON_IsNull(v) || (cJSON_IsNumber(v) && v->valuedouble == OTHER[i].neutral)) continue;
        snprintf(err, errlen, "%s: %s is set (it changes the math and qatc does not implement it)", path, OTHER[i].key);
        goto out;
    }
    const cJSON *qc = cJSON_GetObjectItemCaseSensitive(j, "quantization_config");
    if (qc && !cJSON_IsNull(qc) && read_quant_config(qc, q, path, err, errlen)) goto out;
    const cJSON *sw = cJSON_GetObjectItemCaseSensitive(j, "sliding_window");
    int use_sw = c->arch == QT_ARCH_MISTRAL || (c->arch == QT_ARCH_QWEN2 && json_true(j, "use_sliding_window"));
    if (use_sw && sw && json_int(j, "sliding_window", 0, &c->sliding_window, path, err, errlen)) goto out;
    /* within the window sliding-window attention is plain causal attention: the
     * imported context stops there (a longer model.ctx is refused) */
    c->max_ctx = c->ctx;
    if (c->sliding_window && c->ctx > c->sliding_window) c->ctx = c->sliding_window;
    rc = 0;
out:
    cJSON_Delete(j);
    return rc;
}

int qt_hf_config_read(const char *path, qt_model_cfg *c, qt_hf_quant *q, char *err, size_t errlen) {
    size_t n;
    char *text = NULL;
    if (qt_read_file(path, &text, &n, err, errlen)) return -1;
    int rc = qt_hf_config_parse(text, path, c, q, err, errlen);
    free(text);
    if (rc == 0) {
        char e[256];
        if (qt_model_cfg_check(c, e, sizeof e)) {
            snprintf(err, errlen, "%s: %s", path, e);
            return -1;
        }
    }
    return rc;
}

/* the shortest decimal that reads back as the float (1e-05, not 9.99999974737875e-06) */
static double short_num(float x) {
    char num[32];
    for (int p = 6; p < 9; p++) {
        snprintf(num, sizeof num, "%.*g", p, x);
        if ((float)strtod(num, NULL) == x) return strtod(num, NULL);
    }
    return x;
}

cJSON *qt_hf_config_json(const qt_model *m, const char *torch_dtype) {
    const qt_model_cfg *c = &m->cfg;
    if (!qt_arch_is_decoder(c->arch)) return NULL;
    cJSON *j = cJSON_CreateObject();
    cJSON *arch = cJSON_AddArrayToObject(j, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString(HF_CLASSES[c->arch]));
    cJSON_AddStringToObject(j, "model_type", HF_TYPES[c->arch]);
    cJSON_AddNumberToObject(j, "hidden_size", c->dim);
    cJSON_AddNumberToObject(j, "intermediate_size", c->ffn);
    cJSON_AddNumberToObject(j, "num_hidden_layers", c->layers);
    cJSON_AddNumberToObject(j, "num_attention_heads", c->heads);
    cJSON_AddNumberToObject(j, "num_key_value_heads", c->kv_heads);
    cJSON_AddNumberToObject(j, "head_dim", qt_model_head_dim(c));
    cJSON_AddNumberToObject(j, "max_position_embeddings", qt_model_max_ctx(c));
    cJSON_AddNumberToObject(j, "rms_norm_eps", short_num(c->norm_eps));
    cJSON_AddNumberToObject(j, "rope_theta", short_num(c->rope_theta));
    if (c->rope_factor > 0) {
        cJSON *rs = cJSON_AddObjectToObject(j, "rope_scaling");
        cJSON_AddStringToObject(rs, "rope_type", "llama3");
        cJSON_AddNumberToObject(rs, "factor", short_num(c->rope_factor));
        cJSON_AddNumberToObject(rs, "low_freq_factor", short_num(c->rope_low_freq));
        cJSON_AddNumberToObject(rs, "high_freq_factor", short_num(c->rope_high_freq));
        cJSON_AddNumberToObject(rs, "original_max_position_embeddings", c->rope_orig_ctx);
    } else {
        cJSON_AddNullToObject(j, "rope_scaling");
    }
    cJSON_AddNumberToObject(j, "vocab_size", c->vocab);
    cJSON_AddStringToObject(j, "hidden_act", "silu");
    cJSON_AddBoolToObject(j, "tie_word_embeddings", c->tied);
    if (c->arch != QT_ARCH_QWEN2) cJSON_AddBoolToObject(j, "attention_bias", 0);
    if (c->arch == QT_ARCH_LLAMA) cJSON_AddBoolToObject(j, "mlp_bias", 0);
    if (c->arch == QT_ARCH_MISTRAL || c->arch == QT_ARCH_QWEN2) {
        if (c->sliding_window) cJSON_AddNumberToObject(j, "sliding_window", c->sliding_window);
        else cJSON_AddNullToObject(j, "sliding_window");
    }
    if (c->arch == QT_ARCH_QWEN2) cJSON_AddBoolToObject(j, "use_sliding_window", c->sliding_window > 0);
    cJSON_AddStringToObject(j, "torch_dtype", torch_dtype);
    return j;
}

/* ------------------------------------------------------------ shard index */

void qt_hf_shards_free(qt_hf_shards *s) {
    for (int i = 0; i < s->n; i++) free(s->files[i]);
    free(s->files);
    s->files = NULL;
    s->n = 0;
}

int qt_hf_index_parse(const char *text, const char *path, qt_hf_shards *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    cJSON *j = cJSON_Parse(text);
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(j, "weight_map");
    int rc = -1;
    if (!cJSON_IsObject(wm)) {
        snprintf(err, errlen, "%s: %s", path, j ? "no \"weight_map\" object" : "malformed JSON");
        goto out;
    }
    for (const cJSON *x = wm->child; x; x = x->next) {
        const char *f = cJSON_IsString(x) ? x->valuestring : NULL;
        int ctl = 0;
        for (const char *q = f; q && *q; q++) ctl |= (unsigned char)*q < 0x20 || *q == 0x7f;
        if (!f || !f[0] || ctl || strchr(f, '/') || !strcmp(f, ".") || !strcmp(f, "..")) {
            char b[96];
            snprintf(err, errlen, "%s: weight_map[\"%s\"] is not a file name in the directory", path,
                     clean(x->string, b, sizeof b));
            goto out;
        }
        int k;
        for (k = 0; k < out->n; k++)
            if (!strcmp(out->files[k], f)) break;
        if (k < out->n) continue;
        if (out->n == 4096) {
            snprintf(err, errlen, "%s: more than 4096 shards", path);
            goto out;
        }
        char **nf = realloc(out->files, (size_t)(out->n + 1) * sizeof *nf);
        char *dup = strdup(f);
        if (!nf || !dup) {
            free(dup);
            if (nf) out->files = nf;
            snprintf(err, errlen, "%s: out of memory", path);
            goto out;
        }
        out->files = nf;
        out->files[out->n++] = dup;
    }
    if (!out->n) {
        snprintf(err, errlen, "%s: weight_map is empty", path);
        goto out;
    }
    rc = 0;
out:
    if (rc) qt_hf_shards_free(out);
    cJSON_Delete(j);
    return rc;
}
