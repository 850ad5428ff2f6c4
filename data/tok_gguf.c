/* Loads a tokenizer from a GGUF file's tokenizer.ggml.* keys (llama.cpp's
 * layout): model "gpt2" (byte-level BPE; tokenizer.ggml.pre picks the split
 * regex) or "llama" (SentencePiece-style BPE: merges when present, else
 * llama.cpp's score-ordered bigrams). See data/tok_impl.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "data/tok_impl.h"
#include "store/gguf.h"

#define FAIL(...)                                    \
    do {                                             \
        char m_[512];                                \
        snprintf(m_, sizeof m_, __VA_ARGS__);         \
        qk_one_line(m_);        \
        qt_set_err(err, errlen, "%s: %s", path, m_); \
        goto fail;                                   \
    } while (0)

static int is_int_type(int ty) {
    return ty == QT_GGUF_U8 || ty == QT_GGUF_I8 || ty == QT_GGUF_U16 || ty == QT_GGUF_I16 || ty == QT_GGUF_U32 ||
           ty == QT_GGUF_I32 || ty == QT_GGUF_U64 || ty == QT_GGUF_I64;
}

static int64_t int_val(const qt_gguf_kv *kv) {
    switch (kv->type) {
    case QT_GGUF_I8: case QT_GGUF_I16: case QT_GGUF_I32: case QT_GGUF_I64: return kv->val.i;
    default: return kv->val.u > (uint64_t)INT64_MAX ? -1 : (int64_t)kv->val.u;
    }
}

/* one split-regex pre-tokenizer + ByteLevel without regex, or GPT-2's ByteLevel */
static int set_pre(qd_tokenizer *t, const char *regex, char *e2, size_t e2len) {
    t->pre = calloc(2, sizeof *t->pre);
    if (!t->pre) return -1;
    if (regex) {
        t->pre[0].kind = QK_PRE_SPLIT;
        t->pre[0].behavior = QK_BEH_ISOLATED;
        t->pre[0].pattern = strdup(regex);
        if (!t->pre[0].pattern) return -1;
        t->n_pre = 1;
        if (qk_pre_compile(&t->pre[0], e2, e2len)) return -1;
    }
    qk_pre *b = &t->pre[t->n_pre++];
    b->kind = QK_PRE_BYTELEVEL;
    b->use_regex = !regex;
    return b->use_regex ? qk_pre_compile(b, e2, e2len) : 0;
}

static int add_norm(qd_tokenizer *t, qk_norm_kind k, const char *a, const char *b) {
    qk_norm *v = realloc(t->norm, (size_t)(t->n_norm + 1) * sizeof *v);
    if (!v) return -1;
    t->norm = v;
    qk_norm m = {k, a ? strdup(a) : NULL, b ? strdup(b) : NULL, a ? strlen(a) : 0, b ? strlen(b) : 0};
    v[t->n_norm++] = m;
    return (a && !m.a) || (b && !m.b) ? -1 : 0;
}

static const qt_gguf_kv *arr(const qt_gguf *g, const char *key, int elem, uint64_t n, const char *path, char *err,
                             size_t errlen, int *bad) {
    const qt_gguf_kv *kv = qt_gguf_find(g, key);
    *bad = 0;
    if (!kv) return NULL;
    if (kv->type != QT_GGUF_ARRAY || kv->arr_type != (qt_gguf_vtype)elem || (n != UINT64_MAX && kv->n != n)) {
        qt_set_err(err, errlen, "%s: %s: expected an array of %s%s", path, key, qt_gguf_vtype_name(elem),
                   n != UINT64_MAX ? " with one entry per token" : "");
        *bad = 1;
    }
    return kv;
}

static int get_id(const qt_gguf *g, const char *key, int vocab, int32_t *id, const char *path, char *err,
                  size_t errlen) {
    const qt_gguf_kv *kv = qt_gguf_find(g, key);
    if (!kv) return 0;
    if (!is_int_type(kv->type)) {
        qt_set_err(err, errlen, "%s: %s: expected an integer, got %s", path, key, qt_gguf_vtype_name(kv->type));
        return -1;
    }
    int64_t v = int_val(kv);
    if (v < 0 || v >= vocab) {
        qt_set_err(err, errlen, "%s: %s: %lld out of range [0, %d)", path, key, (long long)v, vocab);
        return -1;
    }
    *id = (int32_t)v;
    return 0;
}

static int get_flag(const qt_gguf *g, const char *key, int *v, const char *path, char *err, size_t errlen) {
    const qt_gguf_kv *kv = qt_gguf_find(g, key);
    if (!kv) return 0;
    if (kv->type != QT_GGUF_BOOL) {
        qt_set_err(err, errlen, "%s: %s: expected a bool, got %s", path, key, qt_gguf_vtype_name(kv->type));
        return -1;
    }
    *v = kv->val.u != 0;
    return 0;
}

qd_tokenizer *qk_load_gguf(const char *path, char *err, size_t errlen) {
    qt_gguf *g = qt_gguf_read(path, err, errlen);
    if (!g) return NULL;
    qd_tokenizer *t = qk_new(QD_TOK_BPE, path);
    char e2[300];
    int bad;
    if (!t) FAIL("out of memory");
    const qt_gguf_kv *mk = qt_gguf_find(g, "tokenizer.ggml.model");
    if (!mk) FAIL("tokenizer.ggml.model: missing (no tokenizer in this file)");
    if (mk->type != QT_GGUF_STRING) FAIL("tokenizer.ggml.model: expected a string");
    const char *model = mk->str;
    if (!strcmp(model, "gpt2")) {
        t->kind = QD_TOK_BPE;
        t->model_name = "gpt2";
    } else if (!strcmp(model, "llama")) {
        t->kind = QD_TOK_SPM;
        t->model_name = "llama";
    } else
        FAIL("tokenizer.ggml.model: \"%.40s\" tokenizers are not supported (qatc supports gpt2 and llama)", model);
    const qt_gguf_kv *tk = arr(g, "tokenizer.ggml.tokens", QT_GGUF_STRING, UINT64_MAX, path, err, errlen, &bad);
    if (bad) goto fail;
    if (!tk) FAIL("tokenizer.ggml.tokens: missing");
    if (tk->n == 0 || tk->n > (1u << 24)) FAIL("tokenizer.ggml.tokens: %llu tokens, expected 1 to %u",
                                               (unsigned long long)tk->n, 1u << 24);
    int n = (int)tk->n;
    if (qk_alloc_vocab(t, n)) FAIL("out of memory (%d tokens)", n);
    const qt_gguf_kv *ty = arr(g, "tokenizer.ggml.token_type", QT_GGUF_I32, tk->n, path, err, errlen, &bad);
    if (bad) goto fail;
    const qt_gguf_kv *sc = arr(g, "tokenizer.ggml.scores", QT_GGUF_F32, tk->n, path, err, errlen, &bad);
    if (bad) goto fail;
    const qt_gguf_kv *mg = arr(g, "tokenizer.ggml.merges", QT_GGUF_STRING, UINT64_MAX, path, err, errlen, &bad);
    if (bad) goto fail;
    int n_added = 0;
    for (int i = 0; i < n; i++) {
        t->tokens[i] = strdup(tk->strs[i] ? tk->strs[i] : "");
        if (!t->tokens[i]) FAIL("out of memory");
        t->tok_len[i] = (uint32_t)strlen(t->tokens[i]);
        if (ty) {
            int32_t v;
            memcpy(&v, (const char *)ty->arr + 4 * (size_t)i, 4);
            if (v < QD_TT_NORMAL || v > QD_TT_BYTE)
                FAIL("tokenizer.ggml.token_type[%d]: %d is not a token type (1..6)", i, (int)v);
            t->types[i] = v;
        }
        n_added += t->types[i] == QD_TT_CONTROL || t->types[i] == QD_TT_USER_DEFINED || t->types[i] == QD_TT_UNKNOWN;
    }
    if (sc) {
        t->scores = malloc((size_t)n * sizeof *t->scores);
        if (!t->scores) FAIL("out of memory");
        memcpy(t->scores, sc->arr, (size_t)n * sizeof *t->scores);
    }
    /* the model's vocabulary: tokens that are not added (control / user-defined / unknown) */
    char **hidden = calloc((size_t)n, sizeof *hidden);
    if (!hidden) FAIL("out of memory");
    t->added = calloc((size_t)n_added + 1, sizeof *t->added);
    if (!t->added) {
        free(hidden);
        FAIL("out of memory");
    }
    for (int i = 0; i < n; i++) {
        int32_t k = t->types[i];
        if (k != QD_TT_CONTROL && k != QD_TT_USER_DEFINED && k != QD_TT_UNKNOWN) continue;
        hidden[i] = t->tokens[i];
        t->tokens[i] = NULL;
    }
    int irc = qk_index_vocab(t);
    for (int i = 0; i < n; i++)
        if (hidden[i]) t->tokens[i] = hidden[i];
    free(hidden);
    if (irc) FAIL("out of memory");
    for (int i = 0; i < n; i++) {
        int32_t k = t->types[i];
        if ((k != QD_TT_CONTROL && k != QD_TT_USER_DEFINED && k != QD_TT_UNKNOWN) || !t->tok_len[i]) continue;
        qk_added a = {i, strdup(t->tokens[i]), t->tok_len[i], k != QD_TT_USER_DEFINED, 0, 0, 0, 0};
        if (!a.content) FAIL("out of memory");
        t->added[t->n_added++] = a;
    }
    if (mg) {
        if (qk_set_merges(t, (int)mg->n)) FAIL("out of memory (%llu merges)", (unsigned long long)mg->n);
        for (int r = 0; r < (int)mg->n; r++) {
            const char *s = mg->strs[r] ? mg->strs[r] : "";
            const char *sp = s[0] ? strchr(s + 1, ' ') : NULL;
            if (!sp || !sp[1]) FAIL("tokenizer.ggml.merges[%d]: expected \"a b\", got \"%.60s\"", r, s);
            size_t an = (size_t)(sp - s), bn = strlen(sp + 1);
            int32_t ia = qk_lookup(t, s, an), ib = qk_lookup(t, sp + 1, bn);
            if (ia < 0) FAIL("tokenizer.ggml.merges[%d]: token \"%.*s\" is not in tokenizer.ggml.tokens", r,
                             (int)(an > 60 ? 60 : an), s);
            if (ib < 0) FAIL("tokenizer.ggml.merges[%d]: token \"%.60s\" is not in tokenizer.ggml.tokens", r, sp + 1);
            char *m = malloc(an + bn + 2);
            if (!m) FAIL("out of memory");
            memcpy(m, s, an);
            memcpy(m + an, sp + 1, bn);
            int32_t ir = qk_lookup(t, m, an + bn);
            if (ir < 0) {
                free(m);
                FAIL("tokenizer.ggml.merges[%d]: the merged token \"%.30s%.30s\" is not in tokenizer.ggml.tokens", r,
                     s, sp + 1);
            }
            memcpy(m, s, an + 1 + bn + 1);
            t->merge_txt[r] = m;
            t->merge_a[r] = ia;
            t->merge_b[r] = ib;
            t->merge_res[r] = ir;
        }
    }
    if (get_id(g, "tokenizer.ggml.bos_token_id", n, &t->bos, path, err, errlen) ||
        get_id(g, "tokenizer.ggml.eos_token_id", n, &t->eos, path, err, errlen) ||
        get_id(g, "tokenizer.ggml.unknown_token_id", n, &t->unk, path, err, errlen) ||
        get_id(g, "tokenizer.ggml.padding_token_id", n, &t->pad, path, err, errlen) ||
        get_flag(g, "tokenizer.ggml.add_bos_token", &t->add_bos, path, err, errlen) ||
        get_flag(g, "tokenizer.ggml.add_eos_token", &t->add_eos, path, err, errlen))
        goto fail;
    if (t->kind == QD_TOK_BPE) {
        if (!mg) FAIL("tokenizer.ggml.merges: missing (a gpt2 tokenizer needs its merges)");
        const qt_gguf_kv *pk = qt_gguf_find(g, "tokenizer.ggml.pre");
        const char *pre = "default";
        if (pk && pk->type != QT_GGUF_STRING) FAIL("tokenizer.ggml.pre: expected a string");
        if (pk) pre = pk->str;
        const char *re;
        if (!strcmp(pre, "llama-bpe") || !strcmp(pre, "llama3") || !strcmp(pre, "llama-v3")) {
            re = QK_RE_LLAMA3;
            t->pre_name = "llama-bpe";
            t->ignore_merges = 1;
        } else if (!strcmp(pre, "qwen2")) {
            re = QK_RE_QWEN2;
            t->pre_name = "qwen2";
            if (add_norm(t, QK_NORM_NFC, NULL, NULL)) FAIL("out of memory");
        } else if (!strcmp(pre, "gpt2") || !strcmp(pre, "gpt-2") || !strcmp(pre, "default")) {
            re = NULL;
            t->pre_name = !strcmp(pre, "default") ? "default" : "gpt2";
        } else
            FAIL("tokenizer.ggml.pre: \"%.40s\" is not supported (qatc knows llama-bpe, qwen2, gpt2, default)", pre);
        if (set_pre(t, re, e2, sizeof e2)) FAIL("tokenizer.ggml.pre: %s", e2);
    } else {
        int add_space = 1;
        if (get_flag(g, "tokenizer.ggml.add_space_prefix", &add_space, path, err, errlen)) goto fail;
        if ((add_space && add_norm(t, QK_NORM_PREPEND, "\xE2\x96\x81", NULL)) ||
            add_norm(t, QK_NORM_REPLACE, " ", "\xE2\x96\x81"))
            FAIL("out of memory");
        t->dec_strip = add_space;
        t->byte_fallback = 1;
        t->fuse_unk = 1;
        if (!mg) {
            if (!sc) FAIL("tokenizer.ggml.scores: missing (a llama tokenizer needs scores or merges)");
            t->use_scores = 1;
        }
    }
    if (qk_finish(t, path, err, errlen)) goto fail;
    qt_gguf_free(g);
    return t;
fail:
    qt_gguf_free(g);
    qd_tokenizer_free(t);
    return NULL;
}
