/* Import of GGUF files and Hugging Face Llama checkpoints into qatc models.
 * See io/export.h. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/export.h"
#include "store/gguf.h"
#include "store/h5store.h"
#include "qat/policy.h"
#include "store/safetensors.h"
#include "quant/ggml_blocks.h"
#include "quant/quant.h"

static int load_tensor(const qt_gguf *g, const char *path, const char *name, qt_tensor *dst, char *err,
                       size_t errlen) {
    const qt_gguf_tensor *t = qt_gguf_tensor_find(g, name);
    if (!t) {
        snprintf(err, errlen, "%s: tensor \"%s\" is missing", path, name);
        return -1;
    }
    /* ne is fastest first: a [rows, cols] tensor has ne = [cols, rows] */
    uint64_t want0 = (uint64_t)qt_cols(dst), want1 = dst->ndim == 1 ? 1 : (uint64_t)qt_rows(dst);
    uint64_t got1 = 1;
    for (int d = 1; d < t->n_dims; d++) got1 *= t->ne[d];
    if (t->ne[0] != want0 || got1 != want1) {
        snprintf(err, errlen, "%s: tensor \"%s\": expected ne [%llu, %llu], found [%llu, %llu]", path, name,
                 (unsigned long long)want0, (unsigned long long)want1, (unsigned long long)t->ne[0],
                 (unsigned long long)got1);
        return -1;
    }
    if (qt_ggml_dequantize(t->type, t->data, dst->data, dst->n)) {
        snprintf(err, errlen, "%s: tensor \"%s\": type %s is not supported (F32, F16, BF16, Q8_0, Q4_0, Q4_1)", path,
                 name, qt_ggml_type_name(t->type));
        return -1;
    }
    for (size_t i = 0; i < dst->n; i++)
        if (!isfinite(dst->data[i])) {
            snprintf(err, errlen, "%s: tensor \"%s\": value %zu is not finite", path, name, i);
            return -1;
        }
    return 0;
}

static int meta_u32(const qt_gguf *g, const char *path, const char *key, int required, uint32_t def, int *out,
                    char *err, size_t errlen) {
    uint32_t v = def;
    if (qt_gguf_find(g, key) || required) {
        char e[256];
        if (qt_gguf_get_u32(g, key, &v, e, sizeof e)) {
            snprintf(err, errlen, "%s: %s", path, e + strlen("gguf: "));
            return -1;
        }
    }
    if (v == 0 || v > (1u << 30)) {
        snprintf(err, errlen, "%s: key \"%s\" = %u is out of range", path, key, v);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* Linear l holds GGUF tensor t: its input rounded as llama.cpp does for t's type */
static void set_input_type(qt_linear_layer *l, const qt_gguf_tensor *t) {
    int vt = qt_ggml_vec_dot_type(t->type);
    float *mins = NULL;
    if (vt == QT_GGML_Q8_1) { /* the per-block mins, for llama.cpp's Q8_1 min term */
        size_t nb = t->nbytes / qt_ggml_type_size(t->type);
        mins = malloc(nb * sizeof *mins);
        if (!mins) qt_die("out of memory");
        qt_ggml_q4_1_mins(t->data, nb, mins);
    }
    qt_linear_set_input_type(l, vt, mins);
    free(mins);
}

qt_model *qt_import_gguf(const char *path, char *err, size_t errlen) {
    qt_gguf *g = qt_gguf_read(path, err, errlen);
    if (!g) return NULL;
    char e[256];
    const char *arch = qt_gguf_get_str(g, "general.architecture", e, sizeof e);
    qt_model_cfg c = {.arch = QT_ARCH_LLAMA};
    float eps = 0, theta = 10000.0f;
    int rope_dim = 0;
    qt_model *m = NULL;
    if (!arch || strcmp(arch, "llama")) {
        snprintf(err, errlen, "%s: general.architecture is %s%s%s (expected \"llama\")", path, arch ? "\"" : "",
                 arch ? arch : "missing", arch ? "\"" : "");
        goto fail;
    }
    if (meta_u32(g, path, "llama.embedding_length", 1, 0, &c.dim, err, errlen) ||
        meta_u32(g, path, "llama.block_count", 1, 0, &c.layers, err, errlen) ||
        meta_u32(g, path, "llama.feed_forward_length", 1, 0, &c.ffn, err, errlen) ||
        meta_u32(g, path, "llama.attention.head_count", 1, 0, &c.heads, err, errlen) ||
        meta_u32(g, path, "llama.context_length", 1, 0, &c.ctx, err, errlen))
        goto fail;
    if (meta_u32(g, path, "llama.attention.head_count_kv", 0, (uint32_t)c.heads, &c.kv_heads, err, errlen)) goto fail;
    if (qt_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &eps, e, sizeof e)) {
        snprintf(err, errlen, "%s: %s", path, e + strlen("gguf: "));
        goto fail;
    }
    if (qt_gguf_find(g, "llama.rope.freq_base") && qt_gguf_get_f32(g, "llama.rope.freq_base", &theta, e, sizeof e)) {
        snprintf(err, errlen, "%s: %s", path, e + strlen("gguf: "));
        goto fail;
    }
    c.norm_eps = eps;
    c.rope_theta = theta;
    const qt_gguf_tensor *emb = qt_gguf_tensor_find(g, "token_embd.weight");
    if (!emb || emb->n_dims != 2 || emb->ne[1] > (1u << 30)) {
        snprintf(err, errlen, "%s: tensor \"token_embd.weight\" is missing or not 2-D", path);
        goto fail;
    }
    c.vocab = (int)emb->ne[1];
    if (qt_model_cfg_check(&c, e, sizeof e)) {
        snprintf(err, errlen, "%s: %s", path, e);
        goto fail;
    }
    if (qt_gguf_find(g, "llama.rope.dimension_count")) {
        if (meta_u32(g, path, "llama.rope.dimension_count", 1, 0, &rope_dim, err, errlen)) goto fail;
        if (rope_dim != c.dim / c.heads) {
            snprintf(err, errlen, "%s: llama.rope.dimension_count = %d, but the head size is %d (partial rope is not "
                     "supported)", path, rope_dim, c.dim / c.heads);
            goto fail;
        }
    }
    m = qt_model_new(&c);
    char nm[96];
    if (load_tensor(g, path, "token_embd.weight", m->tok_emb, err, errlen)) goto fail;
    for (int i = 0; i < c.layers; i++) {
        qt_block *b = &m->blocks[i];
        struct {
            const char *n;
            qt_tensor *t;
            qt_linear_layer *l;
        } L[] = {{"attn_norm", b->attn_norm, NULL}, {"attn_q", NULL, &b->wq},      {"attn_k", NULL, &b->wk},
                 {"attn_v", NULL, &b->wv},          {"attn_output", NULL, &b->wo}, {"ffn_norm", b->ffn_norm, NULL},
                 {"ffn_gate", NULL, &b->w1},        {"ffn_down", NULL, &b->w2},    {"ffn_up", NULL, &b->w3}};
        for (size_t k = 0; k < sizeof L / sizeof L[0]; k++) {
            snprintf(nm, sizeof nm, "blk.%d.%s.weight", i, L[k].n);
            if (load_tensor(g, path, nm, L[k].l ? L[k].l->w : L[k].t, err, errlen)) goto fail;
            if (L[k].l) set_input_type(L[k].l, qt_gguf_tensor_find(g, nm));
        }
    }
    if (load_tensor(g, path, "output_norm.weight", m->norm, err, errlen)) goto fail;
    if (qt_gguf_tensor_find(g, "output.weight")) {
        if (load_tensor(g, path, "output.weight", m->output.w, err, errlen)) goto fail;
        set_input_type(&m->output, qt_gguf_tensor_find(g, "output.weight"));
    } else {
        /* tied to the embedding, as llama.cpp does (the mins of a Q4_1
         * embedding are not kept: its input is not rounded) */
        memcpy(m->output.w->data, m->tok_emb->data, m->tok_emb->n * sizeof(float));
        int vt = qt_ggml_vec_dot_type(qt_gguf_tensor_find(g, "token_embd.weight")->type);
        qt_linear_set_input_type(&m->output, vt == QT_GGML_Q8_1 ? QT_GGML_F32 : vt, NULL);
    }
    qt_gguf_free(g);
    return m;
fail:
    qt_model_free(m);
    qt_gguf_free(g);
    return NULL;
}

/* ------------------------------------------------------------ HF import */

static char *read_text(const char *path, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (n < 0 || n > (64L << 20)) {
        fclose(f);
        snprintf(err, errlen, "%s: not a small JSON file", path);
        return NULL;
    }
    char *s = malloc((size_t)n + 1);
    if (!s || fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        fclose(f);
        snprintf(err, errlen, "%s: read error", path);
        return NULL;
    }
    s[n] = 0;
    fclose(f);
    return s;
}

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

static double json_num(const cJSON *j, const char *key, double def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

qt_model *qt_import_hf(const char *path, char *err, size_t errlen) {
    char dir[4096], cfgp[4200], stp[4200];
    struct stat sb;
    if (stat(path, &sb) != 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    int single_file = !S_ISDIR(sb.st_mode);
    snprintf(dir, sizeof dir, "%s", path);
    if (single_file) {
        char *sl = strrchr(dir, '/');
        if (sl) *sl = 0;
        else snprintf(dir, sizeof dir, ".");
    }
    snprintf(cfgp, sizeof cfgp, "%s/config.json", dir);
    char *text = read_text(cfgp, err, errlen);
    if (!text) return NULL;
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!j) {
        snprintf(err, errlen, "%s: malformed JSON", cfgp);
        return NULL;
    }
    qt_model_cfg c = {.arch = QT_ARCH_LLAMA};
    qt_model *m = NULL;
    cJSON *index = NULL;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(j, "model_type");
    if (cJSON_IsString(mt) && strcmp(mt->valuestring, "llama") && strcmp(mt->valuestring, "mistral")) {
        snprintf(err, errlen, "%s: model_type \"%s\" (expected \"llama\")", cfgp, mt->valuestring);
        goto fail;
    }
    if (json_int(j, "hidden_size", -1, &c.dim, cfgp, err, errlen) ||
        json_int(j, "num_hidden_layers", -1, &c.layers, cfgp, err, errlen) ||
        json_int(j, "num_attention_heads", -1, &c.heads, cfgp, err, errlen) ||
        json_int(j, "intermediate_size", -1, &c.ffn, cfgp, err, errlen) ||
        json_int(j, "vocab_size", -1, &c.vocab, cfgp, err, errlen) ||
        json_int(j, "num_key_value_heads", c.heads, &c.kv_heads, cfgp, err, errlen) ||
        json_int(j, "max_position_embeddings", 2048, &c.ctx, cfgp, err, errlen))
        goto fail;
    c.norm_eps = (float)json_num(j, "rms_norm_eps", 1e-6);
    c.rope_theta = (float)json_num(j, "rope_theta", 10000.0);
    int hd_cfg = 0;
    if (json_int(j, "head_dim", c.dim / c.heads, &hd_cfg, cfgp, err, errlen)) goto fail;
    if (hd_cfg != c.dim / c.heads) {
        snprintf(err, errlen, "%s: head_dim %d differs from hidden_size / num_attention_heads = %d (not supported)",
                 cfgp, hd_cfg, c.dim / c.heads);
        goto fail;
    }
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(j, "rope_scaling");
    if (rs && !cJSON_IsNull(rs)) {
        snprintf(err, errlen, "%s: rope_scaling is set (not supported)", cfgp);
        goto fail;
    }
    const cJSON *qc = cJSON_GetObjectItemCaseSensitive(j, "quantization_config");
    if (qc && !cJSON_IsNull(qc)) {
        snprintf(err, errlen, "%s: quantization_config is set: import takes a float (F32/F16/BF16) checkpoint", cfgp);
        goto fail;
    }
    int tied = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "tie_word_embeddings"));
    char e[256];
    if (qt_model_cfg_check(&c, e, sizeof e)) {
        snprintf(err, errlen, "%s: %s", cfgp, e);
        goto fail;
    }
    /* which file holds each tensor */
    const char *files[64];
    int n_files = 0;
    char shard_paths[64][4200];
    if (single_file) {
        snprintf(shard_paths[0], sizeof shard_paths[0], "%s", path);
        n_files = 1;
    } else {
        snprintf(stp, sizeof stp, "%s/model.safetensors", dir);
        if (stat(stp, &sb) == 0) {
            snprintf(shard_paths[0], sizeof shard_paths[0], "%s", stp);
            n_files = 1;
        } else {
            snprintf(stp, sizeof stp, "%s/model.safetensors.index.json", dir);
            char *it = read_text(stp, err, errlen);
            if (!it) {
                snprintf(err, errlen, "%s: neither model.safetensors nor model.safetensors.index.json", dir);
                goto fail;
            }
            index = cJSON_Parse(it);
            free(it);
            const cJSON *wm = cJSON_GetObjectItemCaseSensitive(index, "weight_map");
            if (!cJSON_IsObject(wm)) {
                snprintf(err, errlen, "%s: no \"weight_map\" object", stp);
                goto fail;
            }
            for (const cJSON *x = wm->child; x; x = x->next) {
                if (!cJSON_IsString(x) || strchr(x->valuestring, '/')) {
                    snprintf(err, errlen, "%s: weight_map[\"%s\"] is not a file name", stp, x->string);
                    goto fail;
                }
                int k;
                char sp[4200];
                snprintf(sp, sizeof sp, "%s/%s", dir, x->valuestring);
                for (k = 0; k < n_files; k++)
                    if (!strcmp(shard_paths[k], sp)) break;
                if (k == n_files) {
                    if (n_files == 64) {
                        snprintf(err, errlen, "%s: more than 64 shards", stp);
                        goto fail;
                    }
                    snprintf(shard_paths[n_files++], sizeof shard_paths[0], "%s", sp);
                }
            }
        }
    }
    for (int k = 0; k < n_files; k++) files[k] = shard_paths[k];
    m = qt_model_new(&c);
    const int hd = c.dim / c.heads;
    int *loaded = calloc((size_t)m->n_params, sizeof *loaded);
    float *tmp = NULL;
    size_t tmp_n = 0;
    int rc = 0;
    for (int k = 0; k < n_files && rc == 0; k++) {
        qt_safetensors *st = qt_st_read(files[k], err, errlen);
        if (!st) {
            rc = -1;
            break;
        }
        for (int i = 0; i < m->n_params && rc == 0; i++) {
            qt_tensor *p = m->params[i];
            char hf[160];
            qt_hf_name(p->name, hf, sizeof hf);
            const qt_st_tensor *t = qt_st_find(st, hf);
            if (!t) continue;
            int64_t want[2] = {p->ndim == 1 ? p->shape[0] : p->shape[0], p->ndim == 2 ? p->shape[1] : 0};
            if (t->ndim != p->ndim || t->shape[0] != want[0] || (p->ndim == 2 && t->shape[1] != want[1])) {
                snprintf(err, errlen, "%s: tensor \"%s\": expected shape [%lld%s%lld], found %d dims [%lld, ...]",
                         files[k], hf, (long long)want[0], p->ndim == 2 ? ", " : "", p->ndim == 2 ? (long long)want[1] : 0LL,
                         t->ndim, t->ndim ? (long long)t->shape[0] : 0LL);
                rc = -1;
                break;
            }
            if (tmp_n < p->n) {
                free(tmp);
                tmp = malloc(p->n * sizeof *tmp);
                tmp_n = p->n;
            }
            char e2[256];
            if (qt_st_to_f32(t, tmp, p->n, e2, sizeof e2)) {
                snprintf(err, errlen, "%s: %s", files[k], e2);
                rc = -1;
                break;
            }
            int rope = (strstr(p->name, ".attention.wq.") || strstr(p->name, ".attention.wk.")) ? hd : 0;
            int rows = p->ndim == 1 ? 1 : p->shape[0], cols = p->ndim == 1 ? p->shape[0] : p->shape[1];
            for (int r = 0; r < rows; r++)
                /* HF row r holds our row qt_hf_rope_row(r) */
                memcpy(p->data + (size_t)(rope ? qt_hf_rope_row(r, rope) : r) * cols, tmp + (size_t)r * cols,
                       (size_t)cols * sizeof(float));
            for (size_t q = 0; q < p->n; q++)
                if (!isfinite(p->data[q])) {
                    snprintf(err, errlen, "%s: tensor \"%s\": value %zu is not finite", files[k], hf, q);
                    rc = -1;
                    break;
                }
            loaded[i] = 1;
        }
        qt_st_free(st);
    }
    free(tmp);
    for (int i = 0; i < m->n_params && rc == 0; i++) {
        if (loaded[i]) continue;
        if (m->params[i] == m->output.w && (tied || 1)) {
            const qt_tensor *emb = m->tok_emb;
            if (!loaded[0]) continue;
            memcpy(m->output.w->data, emb->data, emb->n * sizeof(float));
            if (!tied) fprintf(stderr, "qatc: warning: %s: lm_head.weight absent, tied to embed_tokens\n", path);
            continue;
        }
        char hf[160];
        qt_hf_name(m->params[i]->name, hf, sizeof hf);
        snprintf(err, errlen, "%s: tensor \"%s\" is missing", dir, hf);
        rc = -1;
    }
    free(loaded);
    if (rc) goto fail;
    cJSON_Delete(index);
    cJSON_Delete(j);
    return m;
fail:
    qt_model_free(m);
    cJSON_Delete(index);
    cJSON_Delete(j);
    return NULL;
}

qt_model *qt_import_model(const char *path, char *err, size_t errlen) {
    size_t n = strlen(path);
    if (n > 5 && !strcmp(path + n - 5, ".gguf")) {
        qt_model *m = qt_import_gguf(path, err, errlen);
        if (m) qt_model_clear_input_types(m);
        return m;
    }
    return qt_import_hf(path, err, errlen);
}
