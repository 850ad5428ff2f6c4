/* Tokenizers behind one interface; see data/tokenizer.h. This file holds the
 * interface (dispatch, encode with added tokens, decode, the GGUF view), the
 * id array, the byte tokenizer and the shared construction helpers of
 * data/tok_impl.h. */
#include "data/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "data/tok_impl.h"

int qd_ids_push(qd_ids *a, int32_t id, char *err, size_t errlen) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 256;
        int32_t *v = realloc(a->v, cap * sizeof *v);
        if (!v) {
            qt_set_err(err, errlen, "tokenizer: out of memory (%zu ids)", cap);
            return -1;
        }
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = id;
    return 0;
}

void qd_ids_free(qd_ids *a) {
    free(a->v);
    memset(a, 0, sizeof *a);
}

/* ---- construction helpers ---- */
qd_tokenizer *qk_new(qd_tok_kind kind, const char *source) {
    qd_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->kind = kind;
    t->source = strdup(source);
    t->bos = t->eos = t->unk = t->pad = -1;
    for (int i = 0; i < QK_DIRECT; i++) t->direct[i] = -1;
    for (int i = 0; i < 256; i++) t->byte_tok[i] = -1;
    if (!t->source) {
        free(t);
        return NULL;
    }
    return t;
}

int qk_alloc_vocab(qd_tokenizer *t, int n) {
    t->vocab = n;
    t->tokens = calloc((size_t)n + 1, sizeof *t->tokens);
    t->tok_len = calloc((size_t)n + 1, sizeof *t->tok_len);
    t->types = calloc((size_t)n + 1, sizeof *t->types);
    t->added_of = malloc(((size_t)n + 1) * sizeof *t->added_of);
    if (!t->tokens || !t->tok_len || !t->types || !t->added_of) return -1;
    for (int i = 0; i < n; i++) {
        t->types[i] = QD_TT_NORMAL;
        t->added_of[i] = -1;
    }
    return 0;
}

int32_t qk_lookup(const qd_tokenizer *t, const char *s, size_t n) {
    if (!t->vmap.slot) return -1;
    for (uint64_t i = qk_hash(s, n);; i++) {
        uint32_t v = t->vmap.slot[i & t->vmap.mask];
        if (!v) return -1;
        uint32_t id = v - 1;
        if (t->tok_len[id] == n && !memcmp(t->tokens[id], s, n)) return (int32_t)id;
    }
}

int qk_index_vocab(qd_tokenizer *t) {
    uint32_t cap = 16;
    while (cap < 2u * (uint32_t)t->vocab + 2) cap *= 2;
    free(t->vmap.slot);
    t->vmap.slot = calloc(cap, sizeof *t->vmap.slot);
    if (!t->vmap.slot) return -1;
    t->vmap.mask = cap - 1;
    for (int id = 0; id < t->vocab; id++) {
        if (!t->tokens[id]) continue;
        uint64_t i = qk_hash(t->tokens[id], t->tok_len[id]);
        for (;; i++) {
            uint32_t *s = &t->vmap.slot[i & t->vmap.mask];
            if (!*s) {
                *s = (uint32_t)id + 1;
                break;
            }
            uint32_t o = *s - 1;
            if (t->tok_len[o] == t->tok_len[id] && !memcmp(t->tokens[o], t->tokens[id], t->tok_len[id])) break;
        }
    }
    for (uint32_t cp = 0; cp < QK_DIRECT; cp++) {
        char u[4];
        int k = qk_utf8_put(cp, u);
        t->direct[cp] = qk_lookup(t, u, (size_t)k);
    }
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->byte_tok[b] = qk_lookup(t, name, 6);
    }
    return 0;
}

int qk_set_merges(qd_tokenizer *t, int n) {
    t->n_merges = n;
    t->merge_a = malloc(((size_t)n + 1) * sizeof *t->merge_a);
    t->merge_b = malloc(((size_t)n + 1) * sizeof *t->merge_b);
    t->merge_res = malloc(((size_t)n + 1) * sizeof *t->merge_res);
    t->merge_txt = calloc((size_t)n + 1, sizeof *t->merge_txt);
    return t->merge_a && t->merge_b && t->merge_res && t->merge_txt ? 0 : -1;
}

static int build_pairs(qd_tokenizer *t) {
    uint64_t cap = 16;
    while (cap < 2 * (uint64_t)t->n_merges + 2) cap *= 2;
    t->pmap.key = calloc(cap, sizeof *t->pmap.key);
    t->pmap.rank = malloc(cap * sizeof *t->pmap.rank);
    if (!t->pmap.key || !t->pmap.rank) return -1;
    t->pmap.mask = cap - 1;
    for (int r = 0; r < t->n_merges; r++) {
        uint64_t k = (((uint64_t)(uint32_t)t->merge_a[r] << 32) | (uint32_t)t->merge_b[r]) + 1;
        uint64_t i = (k * 0x9E3779B97F4A7C15ULL) >> 20;
        for (;; i++) {
            i &= t->pmap.mask;
            if (!t->pmap.key[i] || t->pmap.key[i] == k) break;
        }
        t->pmap.key[i] = k;
        t->pmap.rank[i] = r; /* a later duplicate wins, as in HF */
    }
    return 0;
}

static int build_added(qd_tokenizer *t, char *err, size_t errlen) {
    qk_buf nb = {0};
    for (int i = 0; i < t->n_added; i++) {
        qk_added *a = &t->added[i];
        t->added_of[a->id] = i;
        if (a->normalized && t->n_norm) {
            if (qk_normalize(t, a->content, a->len, &nb, err, errlen)) {
                qk_buf_free(&nb);
                return -1;
            }
            char *c = malloc(nb.n + 1);
            if (!c) {
                qk_buf_free(&nb);
                return -1;
            }
            memcpy(c, nb.p, nb.n + 1);
            free(a->content);
            a->content = c;
            a->len = nb.n;
        }
        if (a->normalized) t->has_norm_added = 1;
    }
    qk_buf_free(&nb);
    t->first_idx = malloc(((size_t)t->n_added + 1) * sizeof *t->first_idx);
    if (!t->first_idx) return -1;
    int k = 0;
    for (int b = 0; b < 256; b++) {
        t->first_off[b] = k;
        for (int i = 0; i < t->n_added; i++)
            if (t->added[i].len && (unsigned char)t->added[i].content[0] == b) t->first_idx[k++] = i;
        /* longest first (leftmost-longest matching), then by id: insertion sort of a small bucket */
        for (int x = t->first_off[b] + 1; x < k; x++) {
            int32_t v = t->first_idx[x];
            int y = x;
            while (y > t->first_off[b]) {
                const qk_added *p = &t->added[t->first_idx[y - 1]], *q = &t->added[v];
                if (p->len > q->len || (p->len == q->len && p->id < q->id)) break;
                t->first_idx[y] = t->first_idx[y - 1];
                y--;
            }
            t->first_idx[y] = v;
        }
    }
    t->first_off[256] = k;
    return 0;
}

static int build_decode(qd_tokenizer *t) {
    t->dec = calloc((size_t)t->vocab + 1, sizeof *t->dec);
    t->dec_len = calloc((size_t)t->vocab + 1, sizeof *t->dec_len);
    if (!t->dec || !t->dec_len) return -1;
    for (int id = 0; id < t->vocab; id++) {
        const char *s = t->tokens[id];
        size_t n = t->tok_len[id];
        qk_buf b = {0};
        int raw = t->added_of[id] >= 0 || t->types[id] == QD_TT_CONTROL || t->types[id] == QD_TT_USER_DEFINED ||
                  t->types[id] == QD_TT_UNUSED;
        if (qk_buf_put(&b, "", 0)) return -1;
        if (raw) {
            if (qk_buf_put(&b, s, n)) goto oom;
        } else if (t->kind == QD_TOK_BPE) {
            for (size_t i = 0; i < n;) {
                uint32_t cp;
                int k = qk_utf8_next((const unsigned char *)s + i, n - i, &cp);
                if (!k) k = 1, cp = 0xFFFD;
                int byte = qk_cp_byte(cp);
                unsigned char c = (unsigned char)byte;
                if (byte >= 0 ? qk_buf_put(&b, &c, 1) : qk_buf_put(&b, s + i, (size_t)k)) goto oom;
                i += (size_t)k;
            }
        } else { /* SPM */
            unsigned v;
            if (n == 6 && sscanf(s, "<0x%2X>", &v) == 1 && t->byte_tok[v & 255] == id) {
                unsigned char c = (unsigned char)v;
                if (qk_buf_put(&b, &c, 1)) goto oom;
            } else {
                for (size_t i = 0; i < n;) {
                    if (i + 3 <= n && !memcmp(s + i, "\xE2\x96\x81", 3)) {
                        if (qk_buf_put(&b, " ", 1)) goto oom;
                        i += 3;
                    } else {
                        if (qk_buf_put(&b, s + i, 1)) goto oom;
                        i++;
                    }
                }
            }
        }
        t->dec[id] = b.p;
        t->dec_len[id] = (uint32_t)b.n;
        continue;
    oom:
        qk_buf_free(&b);
        return -1;
    }
    return 0;
}

/* SPM scores for the GGUF view (tokenizer.json BPE has none): a token made by
 * merges scores -(1 + the rank of the first merge making it), so llama.cpp's
 * highest-score-first bigrams follow HF's merge order; single characters,
 * bytes and added tokens score 0; other tokens -(1 + n_merges). */
static int build_scores(qd_tokenizer *t) {
    t->scores = malloc(((size_t)t->vocab + 1) * sizeof *t->scores);
    if (!t->scores) return -1;
    for (int id = 0; id < t->vocab; id++) {
        uint32_t cp;
        int one = t->tok_len[id] && qk_utf8_next((const unsigned char *)t->tokens[id], t->tok_len[id], &cp) ==
                                        (int)t->tok_len[id];
        int plain = t->types[id] == QD_TT_NORMAL && !one;
        t->scores[id] = plain ? -(float)(1 + t->n_merges) : 0.0f;
    }
    for (int r = t->n_merges - 1; r >= 0; r--) t->scores[t->merge_res[r]] = -(float)(1 + r);
    return 0;
}

int qk_finish(qd_tokenizer *t, const char *path, char *err, size_t errlen) {
    if ((t->n_merges && build_pairs(t)) || build_added(t, err, errlen) || build_decode(t) ||
        (t->kind == QD_TOK_SPM && !t->scores && build_scores(t))) {
        if (!err || !*err) qt_set_err(err, errlen, "%s: out of memory building the tokenizer", path);
        return -1;
    }
    if (pthread_mutex_init(&t->mu, NULL)) {
        qt_set_err(err, errlen, "%s: cannot create a mutex", path);
        return -1;
    }
    t->mu_init = 1;
    return 0;
}

/* ---- the byte tokenizer ---- */
qd_tokenizer *qd_tokenizer_byte(void) {
    qd_tokenizer *t = qk_new(QD_TOK_BYTE, "byte");
    if (!t) return NULL;
    if (qk_alloc_vocab(t, QD_VOCAB)) goto fail;
    for (int b = 0; b < QD_VOCAB; b++) {
        t->tokens[b] = calloc(1, 5);
        if (!t->tokens[b]) goto fail;
        t->tok_len[b] = (uint32_t)qk_utf8_put(qk_byte_cp(b), t->tokens[b]);
    }
    t->model_name = "gpt2";
    /* The pre-tokenizer only splits text into words before merges; with no
       merges every split gives the same byte tokens. "qwen2" because llama.cpp
       turns its detokenizer's clean-up of spaces off for it: with "default"
       or "gpt-2", llama_detokenize drops the space in " .", " ,", " ?", " !"
       and before "'" (tests/cli/llamacpp_text.sh checks both directions). */
    t->pre_name = "qwen2";
    return t;
fail:
    qd_tokenizer_free(t);
    return NULL;
}

static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcmp(s + n - k, suf);
}

qd_tokenizer *qd_tokenizer_load(const char *spec, char *err, size_t errlen) {
    if (err && errlen) err[0] = 0;
    if (!strcmp(spec, "byte")) {
        qd_tokenizer *t = qd_tokenizer_byte();
        if (!t) qt_set_err(err, errlen, "tokenizer: out of memory");
        return t;
    }
    if (ends_with(spec, ".gguf") || ends_with(spec, ".GGUF")) return qk_load_gguf(spec, err, errlen);
    return qk_load_json(spec, err, errlen);
}

void qd_tokenizer_free(qd_tokenizer *t) {
    if (!t) return;
    for (int i = 0; i < t->vocab; i++) {
        if (t->tokens) free(t->tokens[i]);
        if (t->dec) free(t->dec[i]);
    }
    for (int i = 0; i < t->n_merges && t->merge_txt; i++) free(t->merge_txt[i]);
    for (int i = 0; i < t->n_norm; i++) {
        free(t->norm[i].a);
        free(t->norm[i].b);
    }
    for (int i = 0; i < t->n_pre; i++) qk_pre_free(&t->pre[i]);
    for (int i = 0; i < t->n_added; i++) free(t->added[i].content);
    qk_cache_free(t);
    if (t->mu_init) pthread_mutex_destroy(&t->mu);
    free(t->tokens);
    free(t->tok_len);
    free(t->types);
    free(t->scores);
    free(t->merge_txt);
    free(t->merge_a);
    free(t->merge_b);
    free(t->merge_res);
    free(t->vmap.slot);
    free(t->pmap.key);
    free(t->pmap.rank);
    free(t->norm);
    free(t->pre);
    free(t->added);
    free(t->added_of);
    free(t->first_idx);
    free(t->dec);
    free(t->dec_len);
    free(t->source);
    free(t);
}

qd_tok_kind qd_tokenizer_kind(const qd_tokenizer *t) { return t->kind; }
int qd_tokenizer_vocab(const qd_tokenizer *t) { return t->vocab; }
int qd_tokenizer_bos(const qd_tokenizer *t) { return t->bos; }
int qd_tokenizer_eos(const qd_tokenizer *t) { return t->eos; }
int qd_tokenizer_add_bos(const qd_tokenizer *t) { return t->add_bos; }
int qd_tokenizer_add_eos(const qd_tokenizer *t) { return t->add_eos; }
const char *qd_tokenizer_source(const qd_tokenizer *t) { return t->source; }

/* ---- encode ---- */
typedef struct enc {
    qd_tokenizer *t;
    qd_ids *out;
    char *err;
    size_t errlen;
} enc;

static int word_cb(void *ctx, const char *w, size_t n) {
    enc *e = ctx;
    return qk_bpe_word(e->t, w, n, e->out, e->err, e->errlen);
}

/* Start of the whitespace run ending at s + n. */
static size_t space_run_start(const char *s, size_t n) {
    while (n > 0) {
        size_t k = n - 1;
        while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
        uint32_t cp;
        if (!qk_utf8_next((const unsigned char *)s + k, n - k, &cp) || !qk_is_space(cp)) break;
        n = k;
    }
    return n;
}

/* Length of the whitespace run at the start of s[0..n). */
static size_t space_run_len(const char *s, size_t n) {
    size_t i = 0;
    uint32_t cp;
    int k;
    while (i < n && (k = qk_utf8_next((const unsigned char *)s + i, n - i, &cp)) && qk_is_space(cp)) i += (size_t)k;
    return i;
}

static int last_is_word(const char *s, size_t n) {
    if (!n) return 0;
    size_t k = n - 1;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
    uint32_t cp;
    return qk_utf8_next((const unsigned char *)s + k, n - k, &cp) && qk_is_word(cp);
}

static int first_is_word(const char *s, size_t n) {
    uint32_t cp;
    return n && qk_utf8_next((const unsigned char *)s, n, &cp) && qk_is_word(cp);
}

static int encode_text(enc *e, const char *s, size_t n, int at_start, int parse_special, int pass);

/* Splits s by the added tokens of this pass (HF's AddedVocabulary::
 * find_matches: leftmost-longest, single_word, lstrip, rstrip); text between
 * them goes on through encode_text. */
static int split_added(enc *e, const char *s, size_t n, int at_start, int parse_special, int pass) {
    const qd_tokenizer *t = e->t;
    size_t start_off = 0, i = 0;
    while (i < n && t->n_added) {
        unsigned char c = (unsigned char)s[i];
        int hit = -1;
        for (int j = t->first_off[c]; j < t->first_off[c + 1]; j++) {
            const qk_added *a = &t->added[t->first_idx[j]];
            if (a->normalized != pass || (a->special && !parse_special)) continue;
            if (a->len <= n - i && !memcmp(s + i, a->content, a->len)) {
                hit = t->first_idx[j];
                break;
            }
        }
        if (hit < 0) {
            i++;
            continue;
        }
        const qk_added *a = &t->added[hit];
        size_t ms = i, me = i + a->len;
        if (a->single_word && (last_is_word(s, ms) || first_is_word(s + me, n - me))) {
            i = me;
            continue;
        }
        if (a->lstrip) {
            size_t ns = space_run_start(s, ms);
            ms = ns > start_off ? ns : start_off;
        }
        if (a->rstrip) me += space_run_len(s + me, n - me);
        if (ms > start_off && encode_text(e, s + start_off, ms - start_off, at_start && start_off == 0, parse_special,
                                          pass))
            return -1;
        if (qd_ids_push(e->out, a->id, e->err, e->errlen)) return -1;
        start_off = me;
        i = me;
    }
    if (start_off < n)
        return encode_text(e, s + start_off, n - start_off, at_start && start_off == 0, parse_special, pass);
    return 0;
}

/* pass 0: raw text between non-normalized added tokens → normalize → pass 1;
 * pass 1: normalized text between normalized added tokens → words. */
static int encode_text(enc *e, const char *s, size_t n, int at_start, int parse_special, int pass) {
    if (pass == 0) {
        qk_buf nb = {0};
        if (qk_normalize(e->t, s, n, &nb, e->err, e->errlen)) {
            qk_buf_free(&nb);
            return -1;
        }
        int rc = e->t->has_norm_added ? split_added(e, nb.p, nb.n, at_start, parse_special, 1)
                                      : qk_pretokenize(e->t, nb.p, nb.n, at_start, word_cb, e, e->err, e->errlen);
        qk_buf_free(&nb);
        return rc;
    }
    return qk_pretokenize(e->t, s, n, at_start, word_cb, e, e->err, e->errlen);
}

int qd_tokenizer_encode_pair(const qd_tokenizer *t, const char *prompt, size_t plen, const char *answer, size_t alen,
                             qd_ids *p, qd_ids *a, char *err, size_t errlen) {
    size_t p0 = p->n;
    if (qd_tokenizer_encode(t, prompt, plen, 0, p, err, errlen)) return -1;
    size_t np = p->n - p0;
    char *both = malloc(plen + alen + 1);
    qd_ids full = {0};
    int rc = both ? 0 : -1;
    if (!both) snprintf(err, errlen, "out of memory");
    if (rc == 0) {
        memcpy(both, prompt, plen);
        memcpy(both + plen, answer, alen);
        rc = qd_tokenizer_encode(t, both, plen + alen, 0, &full, err, errlen);
    }
    int prefix = rc == 0 && full.n >= np && (np == 0 || !memcmp(full.v, p->v + p0, np * sizeof *full.v));
    for (size_t i = np; prefix && rc == 0 && i < full.n; i++) rc = qd_ids_push(a, full.v[i], err, errlen);
    if (rc == 0 && !prefix) rc = qd_tokenizer_encode(t, answer, alen, 0, a, err, errlen);
    qd_ids_free(&full);
    free(both);
    return rc;
}

int qd_tokenizer_encode(const qd_tokenizer *t, const char *text, size_t len, int parse_special, qd_ids *out,
                        char *err, size_t errlen) {
    if (t->kind == QD_TOK_BYTE) {
        for (size_t i = 0; i < len; i++)
            if (qd_ids_push(out, (int32_t)(unsigned char)text[i], err, errlen)) return -1;
        return 0;
    }
    char *clean;
    size_t cn;
    if (qk_utf8_sanitize(text, len, &clean, &cn)) {
        qt_set_err(err, errlen, "tokenizer: out of memory (%zu bytes of text)", len);
        return -1;
    }
    /* the word cache is the only state encode changes (under t->mu) */
    enc e = {(qd_tokenizer *)t, out, err, errlen};
    size_t n0 = out->n;
    int rc = split_added(&e, clean ? clean : text, clean ? cn : len, 1, parse_special != 0, 0);
    free(clean);
    if (rc) out->n = n0;
    return rc;
}

/* ---- decode ---- */
int qd_tokenizer_decode(const qd_tokenizer *t, const int32_t *ids, size_t n, char **text, size_t *len, char *err,
                        size_t errlen) {
    *text = NULL;
    *len = 0;
    if (t->kind == QD_TOK_BYTE) {
        *text = malloc(n + 1);
        if (!*text) {
            qt_set_err(err, errlen, "tokenizer: out of memory decoding %zu ids", n);
            return -1;
        }
        if (qd_tok_decode(ids, n, *text, err, errlen)) {
            free(*text);
            *text = NULL;
            return -1;
        }
        *len = n;
        return 0;
    }
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->vocab) {
            qt_set_err(err, errlen, "%s: token %zu is %d, expected an id in [0, %d)", t->source, i, (int)ids[i],
                       t->vocab);
            return -1;
        }
        total += t->dec_len[ids[i]];
    }
    char *o = malloc(total + 1);
    if (!o) {
        qt_set_err(err, errlen, "tokenizer: out of memory decoding %zu ids", n);
        return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(o + k, t->dec[ids[i]], t->dec_len[ids[i]]);
        k += t->dec_len[ids[i]];
    }
    o[k] = 0;
    if (t->dec_strip && k && o[0] == ' ') memmove(o, o + 1, k--);
    *text = o;
    *len = k;
    return 0;
}

/* ---- the GGUF view ---- */
void qd_tokenizer_vocab_view(const qd_tokenizer *t, qd_vocab_view *v) {
    memset(v, 0, sizeof *v);
    v->model = t->model_name;
    v->pre = t->pre_name;
    v->n = t->vocab;
    v->tokens = (const char *const *)t->tokens;
    v->scores = t->scores;
    v->types = t->types;
    v->n_merges = t->n_merges;
    v->merges = t->n_merges ? (const char *const *)t->merge_txt : NULL;
    v->bos = t->bos;
    v->eos = t->eos;
    v->unk = t->unk;
    v->pad = t->pad;
    v->add_bos = t->add_bos;
    v->add_eos = t->add_eos;
}

/* ---- byte fast path ---- */
size_t qd_tok_encode(const void *bytes, size_t n, int32_t *out) {
    const unsigned char *b = bytes;
    for (size_t i = 0; i < n; i++) out[i] = (int32_t)b[i];
    return n;
}

int qd_tok_encode_alloc(const void *bytes, size_t n, int32_t **out, char *err, size_t errlen) {
    *out = malloc((n ? n : 1) * sizeof(int32_t));
    if (!*out) {
        qt_set_err(err, errlen, "tokenizer: out of memory encoding %zu bytes", n);
        return -1;
    }
    qd_tok_encode(bytes, n, *out);
    return 0;
}

int qd_tok_decode(const int32_t *tok, size_t n, char *out, char *err, size_t errlen) {
    for (size_t i = 0; i < n; i++) {
        if (tok[i] < 0 || tok[i] >= QD_VOCAB) {
            qt_set_err(err, errlen, "tokenizer: token %zu is %d, expected a byte token in [0, %d)", i, (int)tok[i],
                       QD_VOCAB);
            out[i] = '\0';
            return -1;
        }
        out[i] = (char)(unsigned char)tok[i];
    }
    out[n] = '\0';
    return 0;
}
