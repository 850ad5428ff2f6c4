/* Loads a Hugging Face tokenizer.json (BPE model: byte-level or
 * SentencePiece-style) and the tokenizer_config.json beside it (see
 * data/tok_impl.h). Everything not implemented is refused by name. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/files.h"
#include "data/tok_impl.h"

typedef struct ld {
    qd_tokenizer *t;
    const char *path;
    char *err;
    size_t errlen;
    int n_model; /* ids [0, n_model) come from model.vocab */
} ld;

#define FAIL(L, ...)                                   \
    do {                                               \
        char m_[512];                                  \
        snprintf(m_, sizeof m_, __VA_ARGS__);         \
        qk_one_line(m_);          \
        qt_set_err((L)->err, (L)->errlen, "%s: %s", (L)->path, m_); \
        return -1;                                     \
    } while (0)

static const cJSON *get(const cJSON *o, const char *k) { return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL; }
static int is_null(const cJSON *x) { return !x || cJSON_IsNull(x); }

/* bool field with default; -1 (message) when present and not a bool */
static int get_bool(ld *L, const cJSON *o, const char *k, int def, const char *field, int *v) {
    const cJSON *x = get(o, k);
    if (is_null(x)) {
        *v = def;
        return 0;
    }
    if (!cJSON_IsBool(x)) FAIL(L, "%s.%s: expected true or false", field, k);
    *v = cJSON_IsTrue(x);
    return 0;
}

static const char *type_of(const cJSON *o) {
    const cJSON *ty = get(o, "type");
    return cJSON_IsString(ty) ? ty->valuestring : NULL;
}

/* ---- normalizer ---- */
static int add_norm(ld *L, qk_norm m) {
    qk_norm *v = realloc(L->t->norm, (size_t)(L->t->n_norm + 1) * sizeof *v);
    if (!v) FAIL(L, "out of memory");
    L->t->norm = v;
    v[L->t->n_norm++] = m;
    return 0;
}

static int parse_norm(ld *L, const cJSON *o, const char *field) {
    if (is_null(o)) return 0;
    const char *ty = type_of(o);
    if (!ty) FAIL(L, "%s.type: missing", field);
    char sub[256];
    if (!strcmp(ty, "Sequence")) {
        const cJSON *a = get(o, "normalizers");
        if (!cJSON_IsArray(a)) FAIL(L, "%s.normalizers: expected an array", field);
        int i = 0;
        for (const cJSON *x = a->child; x; x = x->next, i++) {
            snprintf(sub, sizeof sub, "%s.normalizers[%d]", field, i);
            if (parse_norm(L, x, sub)) return -1;
        }
        return 0;
    }
    if (!strcmp(ty, "NFC")) return add_norm(L, (qk_norm){QK_NORM_NFC, NULL, NULL, 0, 0});
    if (!strcmp(ty, "Prepend")) {
        const cJSON *p = get(o, "prepend");
        if (!cJSON_IsString(p)) FAIL(L, "%s.prepend: expected a string", field);
        char *a = strdup(p->valuestring);
        if (!a || add_norm(L, (qk_norm){QK_NORM_PREPEND, a, NULL, strlen(a), 0})) {
            free(a);
            FAIL(L, "out of memory");
        }
        return 0;
    }
    if (!strcmp(ty, "Replace")) {
        const cJSON *p = get(o, "pattern"), *c = get(o, "content");
        const cJSON *ps = get(p, "String");
        if (get(p, "Regex")) FAIL(L, "%s.pattern: a Regex Replace normalizer is not supported", field);
        if (!cJSON_IsString(ps) || !ps->valuestring[0]) FAIL(L, "%s.pattern.String: expected a non-empty string", field);
        if (!cJSON_IsString(c)) FAIL(L, "%s.content: expected a string", field);
        char *a = strdup(ps->valuestring), *b = strdup(c->valuestring);
        if (!a || !b || add_norm(L, (qk_norm){QK_NORM_REPLACE, a, b, strlen(a), strlen(b)})) {
            free(a);
            free(b);
            FAIL(L, "out of memory");
        }
        return 0;
    }
    FAIL(L, "%s.type: normalizer \"%s\" is not supported (qatc implements NFC, Prepend, Replace, Sequence)", field, ty);
}

/* ---- pre-tokenizer ---- */
static int add_pre(ld *L, qk_pre p, const char *field) {
    char e2[300];
    if ((p.kind == QK_PRE_SPLIT || (p.kind == QK_PRE_BYTELEVEL && p.use_regex)) && qk_pre_compile(&p, e2, sizeof e2)) {
        qk_pre_free(&p);
        FAIL(L, "%s.pattern: %s", field, e2);
    }
    qk_pre *v = realloc(L->t->pre, (size_t)(L->t->n_pre + 1) * sizeof *v);
    if (!v) {
        qk_pre_free(&p);
        FAIL(L, "out of memory");
    }
    L->t->pre = v;
    v[L->t->n_pre++] = p;
    return 0;
}

static int parse_pre(ld *L, const cJSON *o, const char *field) {
    if (is_null(o)) return 0;
    const char *ty = type_of(o);
    if (!ty) FAIL(L, "%s.type: missing", field);
    char sub[256];
    if (!strcmp(ty, "Sequence")) {
        const cJSON *a = get(o, "pretokenizers");
        if (!cJSON_IsArray(a)) FAIL(L, "%s.pretokenizers: expected an array", field);
        int i = 0;
        for (const cJSON *x = a->child; x; x = x->next, i++) {
            snprintf(sub, sizeof sub, "%s.pretokenizers[%d]", field, i);
            if (parse_pre(L, x, sub)) return -1;
        }
        return 0;
    }
    qk_pre p;
    memset(&p, 0, sizeof p);
    if (!strcmp(ty, "Split")) {
        p.kind = QK_PRE_SPLIT;
        const cJSON *pat = get(o, "pattern"), *re = get(pat, "Regex"), *st = get(pat, "String");
        if (cJSON_IsString(re)) p.pattern = strdup(re->valuestring);
        else if (cJSON_IsString(st) && st->valuestring[0]) {
            p.pattern = strdup(st->valuestring);
            p.literal = 1;
        } else
            FAIL(L, "%s.pattern: expected {\"Regex\": ...} or {\"String\": ...}", field);
        if (!p.pattern) FAIL(L, "out of memory");
        const cJSON *b = get(o, "behavior");
        const char *bs = cJSON_IsString(b) ? b->valuestring : "";
        static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
        int k = 0;
        while (k < 5 && strcmp(bs, names[k])) k++;
        if (k == 5) {
            free(p.pattern);
            FAIL(L, "%s.behavior: expected Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous", field);
        }
        p.behavior = (qk_behavior)k;
        if (get_bool(L, o, "invert", 0, field, &p.invert)) {
            free(p.pattern);
            return -1;
        }
        return add_pre(L, p, field);
    }
    if (!strcmp(ty, "ByteLevel")) {
        p.kind = QK_PRE_BYTELEVEL;
        if (get_bool(L, o, "add_prefix_space", 1, field, &p.add_prefix_space) ||
            get_bool(L, o, "use_regex", 1, field, &p.use_regex))
            return -1;
        return add_pre(L, p, field);
    }
    if (!strcmp(ty, "Metaspace")) {
        p.kind = QK_PRE_METASPACE;
        const cJSON *r = get(o, "replacement"), *ps = get(o, "prepend_scheme");
        if (!is_null(r) && (!cJSON_IsString(r) || strcmp(r->valuestring, "\xE2\x96\x81")))
            FAIL(L, "%s.replacement: only U+2581 is supported", field);
        if (cJSON_IsString(ps)) {
            if (!strcmp(ps->valuestring, "always")) p.prepend = QK_PREPEND_ALWAYS;
            else if (!strcmp(ps->valuestring, "first")) p.prepend = QK_PREPEND_FIRST;
            else if (!strcmp(ps->valuestring, "never")) p.prepend = QK_PREPEND_NEVER;
            else FAIL(L, "%s.prepend_scheme: expected always, first or never", field);
        } else {
            int aps = 1;
            if (get_bool(L, o, "add_prefix_space", 1, field, &aps)) return -1;
            p.prepend = aps ? QK_PREPEND_ALWAYS : QK_PREPEND_NEVER;
        }
        if (get_bool(L, o, "split", 1, field, &p.split)) return -1;
        return add_pre(L, p, field);
    }
    FAIL(L, "%s.type: pre-tokenizer \"%s\" is not supported (qatc implements Split, ByteLevel, Metaspace, Sequence)",
         field, ty);
}

/* decoder: does it strip the prefix space (SPM)? */
static int decoder_strips(const cJSON *o) {
    const char *ty = type_of(o);
    if (!ty) return 0;
    if (!strcmp(ty, "Sequence")) {
        const cJSON *a = get(o, "decoders");
        for (const cJSON *x = cJSON_IsArray(a) ? a->child : NULL; x; x = x->next)
            if (decoder_strips(x)) return 1;
        return 0;
    }
    if (!strcmp(ty, "Strip")) {
        const cJSON *c = get(o, "content"), *s = get(o, "start");
        return cJSON_IsString(c) && !strcmp(c->valuestring, " ") && cJSON_IsNumber(s) && s->valuedouble >= 1;
    }
    if (!strcmp(ty, "Metaspace")) {
        const cJSON *ps = get(o, "prepend_scheme"), *aps = get(o, "add_prefix_space");
        if (cJSON_IsString(ps)) return strcmp(ps->valuestring, "never") != 0;
        return !cJSON_IsFalse(aps);
    }
    return 0;
}

/* post-processor: the SpecialToken first / last in TemplateProcessing's single */
static void template_tokens(const cJSON *o, const char **first, const char **last) {
    const char *ty = type_of(o);
    if (!ty) return;
    if (!strcmp(ty, "Sequence")) {
        const cJSON *a = get(o, "processors");
        for (const cJSON *x = cJSON_IsArray(a) ? a->child : NULL; x; x = x->next) template_tokens(x, first, last);
        return;
    }
    if (strcmp(ty, "TemplateProcessing")) return;
    const cJSON *s = get(o, "single");
    if (!cJSON_IsArray(s) || !s->child) return;
    const cJSON *f = get(get(s->child, "SpecialToken"), "id");
    const cJSON *l = NULL;
    for (const cJSON *x = s->child; x; x = x->next) l = x;
    const cJSON *li = l != s->child ? get(get(l, "SpecialToken"), "id") : NULL;
    if (cJSON_IsString(f)) *first = f->valuestring;
    if (cJSON_IsString(li)) *last = li->valuestring;
}

/* id of a token text (added tokens first), -1 */
static int32_t find_token(const qd_tokenizer *t, const char *s) {
    for (int i = 0; i < t->n_added; i++)
        if (!strcmp(t->added[i].content, s)) return t->added[i].id;
    return qk_lookup(t, s, strlen(s));
}

/* ---- the model ---- */
static int parse_vocab(ld *L, const cJSON *vocab, const cJSON *added) {
    qd_tokenizer *t = L->t;
    int n = cJSON_GetArraySize(vocab), na = cJSON_IsArray(added) ? cJSON_GetArraySize(added) : 0;
    if (!is_null(added) && !cJSON_IsArray(added)) FAIL(L, "added_tokens: expected an array");
    L->n_model = n;
    /* the vocabulary size: model ids and added ids */
    int total = n, i = 0;
    for (const cJSON *x = na ? added->child : NULL; x; x = x->next, i++) {
        const cJSON *id = get(x, "id"), *c = get(x, "content");
        if (!cJSON_IsNumber(id)) FAIL(L, "added_tokens[%d].id: expected an integer", i);
        if (!(id->valuedouble >= 0 && id->valuedouble < (double)n + na))
            FAIL(L, "added_tokens[%d].id: %.0f out of range [0, %d)", i, id->valuedouble, n + na);
        if (id->valuedouble != (double)(int)id->valuedouble) FAIL(L, "added_tokens[%d].id: expected an integer", i);
        if (!cJSON_IsString(c) || !c->valuestring[0]) FAIL(L, "added_tokens[%d].content: expected a non-empty string", i);
        if ((int)id->valuedouble + 1 > total) total = (int)id->valuedouble + 1;
    }
    if (qk_alloc_vocab(t, total)) FAIL(L, "out of memory (%d tokens)", total);
    for (const cJSON *x = vocab->child; x; x = x->next) {
        if (!cJSON_IsNumber(x)) FAIL(L, "model.vocab[\"%.60s\"]: expected an integer id", x->string);
        if (!(x->valuedouble >= 0 && x->valuedouble < n))
            FAIL(L, "model.vocab[\"%.60s\"]: id %.0f out of range [0, %d)", x->string, x->valuedouble, n);
        if (x->valuedouble != (double)(int)x->valuedouble)
            FAIL(L, "model.vocab[\"%.60s\"]: expected an integer id", x->string);
        int id = (int)x->valuedouble;
        if (t->tokens[id]) FAIL(L, "model.vocab: id %d given to both \"%.60s\" and \"%.60s\"", id, t->tokens[id], x->string);
        t->tokens[id] = strdup(x->string);
        if (!t->tokens[id]) FAIL(L, "out of memory");
        t->tok_len[id] = (uint32_t)strlen(x->string);
    }
    if (qk_index_vocab(t)) FAIL(L, "out of memory");
    t->added = calloc((size_t)na + 1, sizeof *t->added);
    if (!t->added) FAIL(L, "out of memory");
    i = 0;
    for (const cJSON *x = na ? added->child : NULL; x; x = x->next, i++) {
        int id = (int)get(x, "id")->valuedouble;
        const char *c = get(x, "content")->valuestring;
        char field[64];
        snprintf(field, sizeof field, "added_tokens[%d]", i);
        qk_added a = {id, NULL, strlen(c), 0, 0, 0, 0, 0};
        if (get_bool(L, x, "special", 0, field, &a.special) || get_bool(L, x, "lstrip", 0, field, &a.lstrip) ||
            get_bool(L, x, "rstrip", 0, field, &a.rstrip) || get_bool(L, x, "single_word", 0, field, &a.single_word) ||
            get_bool(L, x, "normalized", !a.special, field, &a.normalized))
            return -1;
        if (t->added_of[id] >= 0) FAIL(L, "%s.id: %d is already added token \"%.60s\"", field, id, t->tokens[id]);
        if (t->tokens[id] && strcmp(t->tokens[id], c))
            FAIL(L, "%s.id: %d is \"%.60s\" in model.vocab, not \"%.60s\"", field, id, t->tokens[id], c);
        if (!t->tokens[id]) {
            t->tokens[id] = strdup(c);
            t->tok_len[id] = (uint32_t)a.len;
        }
        a.content = strdup(c);
        if (!a.content || !t->tokens[id]) {
            free(a.content);
            FAIL(L, "out of memory");
        }
        t->types[id] = a.special ? QD_TT_CONTROL : QD_TT_USER_DEFINED;
        t->added_of[id] = t->n_added;
        t->added[t->n_added++] = a;
    }
    for (int id = 0; id < total; id++) {
        if (t->tokens[id]) continue;
        char pad[32];
        snprintf(pad, sizeof pad, "[PAD%d]", id);
        t->tokens[id] = strdup(pad);
        if (!t->tokens[id]) FAIL(L, "out of memory");
        t->tok_len[id] = (uint32_t)strlen(pad);
        t->types[id] = QD_TT_UNUSED;
    }
    for (int k = 0; k < t->n_added; k++) t->added_of[t->added[k].id] = -1; /* qk_finish rebuilds it */
    return 0;
}

static int parse_merges(ld *L, const cJSON *m) {
    qd_tokenizer *t = L->t;
    if (!cJSON_IsArray(m)) FAIL(L, "model.merges: expected an array");
    int n = cJSON_GetArraySize(m);
    if (qk_set_merges(t, n)) FAIL(L, "out of memory (%d merges)", n);
    int r = 0;
    char *tmp = NULL;
    for (const cJSON *x = m->child; x; x = x->next, r++) {
        const char *a, *b;
        size_t an, bn;
        if (cJSON_IsString(x)) {
            const char *s = x->valuestring, *sp = strchr(s, ' ');
            if (!sp || strchr(sp + 1, ' ') || sp == s || !sp[1])
                FAIL(L, "model.merges[%d]: expected \"a b\" (two tokens and one space), got \"%.60s\"", r, s);
            a = s;
            an = (size_t)(sp - s);
            b = sp + 1;
            bn = strlen(b);
        } else if (cJSON_IsArray(x) && cJSON_GetArraySize(x) == 2 && cJSON_IsString(x->child) &&
                   cJSON_IsString(x->child->next)) {
            a = x->child->valuestring;
            an = strlen(a);
            b = x->child->next->valuestring;
            bn = strlen(b);
        } else
            FAIL(L, "model.merges[%d]: expected \"a b\" or [\"a\", \"b\"]", r);
        int32_t ia = qk_lookup(t, a, an), ib = qk_lookup(t, b, bn);
        if (ia < 0 || ia >= L->n_model) FAIL(L, "model.merges[%d]: token \"%.*s\" is not in model.vocab", r, (int)(an > 60 ? 60 : an), a);
        if (ib < 0 || ib >= L->n_model) FAIL(L, "model.merges[%d]: token \"%.*s\" is not in model.vocab", r, (int)(bn > 60 ? 60 : bn), b);
        tmp = malloc(an + bn + 2);
        if (!tmp) FAIL(L, "out of memory");
        memcpy(tmp, a, an);
        memcpy(tmp + an, b, bn);
        int32_t ir = qk_lookup(t, tmp, an + bn);
        if (ir < 0 || ir >= L->n_model) {
            free(tmp);
            FAIL(L, "model.merges[%d]: the merged token \"%.*s%.*s\" is not in model.vocab", r, (int)(an > 30 ? 30 : an),
                 a, (int)(bn > 30 ? 30 : bn), b);
        }
        tmp[an] = ' ';
        memcpy(tmp + an + 1, b, bn);
        tmp[an + 1 + bn] = 0;
        t->merge_txt[r] = tmp;
        t->merge_a[r] = ia;
        t->merge_b[r] = ib;
        t->merge_res[r] = ir;
    }
    return 0;
}

static int token_field(ld *L, const cJSON *cfg, const char *k, const char *cfgpath, int32_t *id) {
    const cJSON *x = get(cfg, k);
    if (is_null(x)) return 0;
    const cJSON *c = cJSON_IsObject(x) ? get(x, "content") : x;
    if (!cJSON_IsString(c)) {
        qt_set_err(L->err, L->errlen, "%s: %s: expected a string or {\"content\": ...}", cfgpath, k);
        return -1;
    }
    *id = find_token(L->t, c->valuestring);
    if (*id < 0) {
        qt_set_err(L->err, L->errlen, "%s: %s: \"%.60s\" is not a token of %s", cfgpath, k, c->valuestring, L->path);
        if (L->err) qk_one_line(L->err);
        return -1;
    }
    return 0;
}

/* tokenizer_config.json beside the file: bos/eos/pad/unk tokens, add_bos/add_eos. */
static int parse_config(ld *L, int *has_add_bos, int *has_add_eos) {
    const char *slash = strrchr(L->path, '/');
    size_t dn = slash ? (size_t)(slash - L->path) + 1 : 0;
    char *cp = malloc(dn + 32);
    if (!cp) FAIL(L, "out of memory");
    memcpy(cp, L->path, dn);
    strcpy(cp + dn, "tokenizer_config.json");
    FILE *f = fopen(cp, "rb");
    if (!f) {
        free(cp);
        return 0;
    }
    fclose(f);
    char *data;
    size_t len;
    int rc = -1;
    cJSON *cfg = NULL;
    if (qt_read_file(cp, &data, &len, L->err, L->errlen)) goto done;
    cfg = cJSON_ParseWithLength(data, len);
    free(data);
    if (!cJSON_IsObject(cfg)) {
        qt_set_err(L->err, L->errlen, "%s: malformed JSON (expected an object)", cp);
        goto done;
    }
    qd_tokenizer *t = L->t;
    if (token_field(L, cfg, "bos_token", cp, &t->bos) || token_field(L, cfg, "eos_token", cp, &t->eos) ||
        token_field(L, cfg, "pad_token", cp, &t->pad) || token_field(L, cfg, "unk_token", cp, &t->unk))
        goto done;
    const cJSON *ab = get(cfg, "add_bos_token"), *ae = get(cfg, "add_eos_token");
    if (cJSON_IsBool(ab)) {
        *has_add_bos = 1;
        t->add_bos = cJSON_IsTrue(ab);
    }
    if (cJSON_IsBool(ae)) {
        *has_add_eos = 1;
        t->add_eos = cJSON_IsTrue(ae);
    }
    rc = 0;
done:
    cJSON_Delete(cfg);
    free(cp);
    return rc;
}

static int load(ld *L, const cJSON *root) {
    qd_tokenizer *t = L->t;
    if (!cJSON_IsObject(root)) FAIL(L, "malformed JSON (expected an object)");
    const cJSON *model = get(root, "model");
    if (!cJSON_IsObject(model)) FAIL(L, "model: missing or not an object");
    const char *ty = type_of(model);
    const cJSON *vocab = get(model, "vocab");
    if (!ty) ty = get(model, "merges") ? "BPE" : cJSON_IsArray(vocab) ? "Unigram" : "(none)";
    if (strcmp(ty, "BPE"))
        FAIL(L, "model.type: \"%s\" tokenizers are not supported (qatc supports BPE: byte-level or SentencePiece-style)",
             ty);
    const cJSON *dr = get(model, "dropout");
    if (!is_null(dr) && !(cJSON_IsNumber(dr) && dr->valuedouble == 0)) FAIL(L, "model.dropout: BPE dropout is not supported");
    static const char *affix[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int k = 0; k < 2; k++) {
        const cJSON *x = get(model, affix[k]);
        if (!is_null(x) && !(cJSON_IsString(x) && !x->valuestring[0])) FAIL(L, "model.%s: not supported", affix[k]);
    }
    if (!cJSON_IsObject(vocab)) FAIL(L, "model.vocab: missing or not an object");
    if (parse_vocab(L, vocab, get(root, "added_tokens"))) return -1;
    if (parse_merges(L, get(model, "merges"))) return -1;
    if (get_bool(L, model, "byte_fallback", 0, "model", &t->byte_fallback) ||
        get_bool(L, model, "fuse_unk", 0, "model", &t->fuse_unk) ||
        get_bool(L, model, "ignore_merges", 0, "model", &t->ignore_merges))
        return -1;
    const cJSON *unk = get(model, "unk_token");
    if (!is_null(unk)) {
        if (!cJSON_IsString(unk)) FAIL(L, "model.unk_token: expected a string");
        t->unk = find_token(t, unk->valuestring);
        if (t->unk < 0) FAIL(L, "model.unk_token: \"%.60s\" is not in model.vocab", unk->valuestring);
    }
    if (parse_norm(L, get(root, "normalizer"), "normalizer") || parse_pre(L, get(root, "pre_tokenizer"), "pre_tokenizer"))
        return -1;
    /* the kind */
    int bytelevel = 0, meta = 0, split_kind = 0; /* 1 llama3, 2 qwen2, 3 other */
    for (int k = 0; k < t->n_pre; k++) {
        const qk_pre *p = &t->pre[k];
        if (p->kind == QK_PRE_BYTELEVEL) bytelevel = 1 + p->use_regex;
        if (p->kind == QK_PRE_METASPACE) meta = 1;
        if (p->kind == QK_PRE_SPLIT)
            split_kind = !strcmp(p->pattern, QK_RE_LLAMA3) ? 1 : !strcmp(p->pattern, QK_RE_QWEN2) ? 2 : 3;
    }
    int spm_norm = 0;
    for (int k = 0; k < t->n_norm; k++)
        if (t->norm[k].kind != QK_NORM_NFC && t->norm[k].b && !strcmp(t->norm[k].b, "\xE2\x96\x81")) spm_norm = 1;
    if (bytelevel) {
        t->kind = QD_TOK_BPE;
        t->model_name = "gpt2";
        t->pre_name = split_kind == 1 ? "llama-bpe" : split_kind == 2 ? "qwen2" : (!split_kind && bytelevel == 2) ? "gpt2" : NULL;
    } else if (t->byte_fallback || meta || spm_norm) {
        t->kind = QD_TOK_SPM;
        t->model_name = "llama";
        t->dec_strip = decoder_strips(get(root, "decoder"));
        for (int b = 0; b < 256; b++)
            if (t->byte_tok[b] >= 0 && t->types[t->byte_tok[b]] == QD_TT_NORMAL) t->types[t->byte_tok[b]] = QD_TT_BYTE;
    } else
        FAIL(L, "pre_tokenizer: a BPE model without a ByteLevel pre-tokenizer, Metaspace or byte_fallback is not supported");
    /* special tokens: tokenizer_config.json, else the post-processor's template */
    int has_ab = 0, has_ae = 0;
    if (parse_config(L, &has_ab, &has_ae)) return -1;
    const char *first = NULL, *last = NULL;
    template_tokens(get(root, "post_processor"), &first, &last);
    int32_t fid = first ? find_token(t, first) : -1, lid = last ? find_token(t, last) : -1;
    if (!has_ab) t->add_bos = fid >= 0;
    if (!has_ae) t->add_eos = lid >= 0;
    if (t->bos < 0 && fid >= 0) t->bos = fid;
    if (t->eos < 0 && lid >= 0) t->eos = lid;
    return qk_finish(t, L->path, L->err, L->errlen);
}

qd_tokenizer *qk_load_json(const char *path, char *err, size_t errlen) {
    char *data;
    size_t len;
    if (qt_read_file(path, &data, &len, err, errlen)) return NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(data, len, &end, 0);
    if (!root) {
        size_t at = end && end >= data && end <= data + len ? (size_t)(end - data) : 0;
        qt_set_err(err, errlen, "%s: malformed JSON near byte %zu", path, at);
        free(data);
        return NULL;
    }
    free(data);
    ld L = {qk_new(QD_TOK_BPE, path), path, err, errlen, 0};
    if (!L.t) {
        cJSON_Delete(root);
        qt_set_err(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    int rc = load(&L, root);
    cJSON_Delete(root);
    if (rc) {
        qd_tokenizer_free(L.t);
        return NULL;
    }
    return L.t;
}
