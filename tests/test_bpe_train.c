/* data/bpe_train: the byte-level BPE trainer and the tokenizer.json it writes.
 *
 * On a built-in corpus (ASCII, multibyte UTF-8, digits, a special token) and
 * on the first 2 MB of data/brown.txt (when present):
 *   - the vocabulary has the requested size; two runs give byte-identical JSON;
 *   - every merge "a b" names tokens that exist before the token a+b, and the
 *     tokens appear in merge order (ids 256, 257, ...);
 *   - merge 0 is the most frequent adjacent byte pair of the corpus, counted
 *     by brute force over the test's own pre-tokenization (PCRE2 with the
 *     file's regex), and the merges equal those of a naive trainer in this
 *     file (all pair counts recomputed from scratch at every step, same
 *     tie-break: left token's bytes, then right token's, memcmp order);
 *   - Hugging Face's native tokenizers (npm @anush008/tokenizers, Rust) load
 *     the file, decode(encode(text)) == text, and its ids equal those of a
 *     straightforward BPE encoder written here (merges applied by rank within
 *     each pre-token, added tokens matched first) and, when data/tokenizer.h
 *     loads tokenizer.json files, qd_tokenizer_encode's. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <cjson/cJSON.h>
#include <pcre2.h>
#include <sys/stat.h>

#include "base/files.h"
#include "data/bpe_train.h"
#include "data/tokenizer.h"
#include "test_util.h"

/* ------------------------------------------------ a string -> int hash map */
typedef struct {
    char **k;
    size_t *kl;
    int *v;
    size_t cap, n;
} smap;

static uint64_t h64(const char *s, size_t n) {
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static size_t sm_find(const smap *m, const char *s, size_t n) {
    size_t j = h64(s, n) & (m->cap - 1);
    while (m->k[j] && !(m->kl[j] == n && !memcmp(m->k[j], s, n))) j = (j + 1) & (m->cap - 1);
    return j;
}

static int sm_get(const smap *m, const char *s, size_t n) {
    if (!m->cap) return -1;
    size_t j = sm_find(m, s, n);
    return m->k[j] ? m->v[j] : -1;
}

static void sm_put(smap *m, const char *s, size_t n, int v) {
    if (2 * (m->n + 1) > m->cap) {
        smap b = {0};
        b.cap = m->cap ? 2 * m->cap : 1024;
        b.k = calloc(b.cap, sizeof *b.k);
        b.kl = calloc(b.cap, sizeof *b.kl);
        b.v = calloc(b.cap, sizeof *b.v);
        for (size_t i = 0; i < m->cap; i++)
            if (m->k[i]) {
                size_t j = sm_find(&b, m->k[i], m->kl[i]);
                b.k[j] = m->k[i], b.kl[j] = m->kl[i], b.v[j] = m->v[i];
            }
        b.n = m->n;
        free(m->k), free(m->kl), free(m->v);
        *m = b;
    }
    size_t j = sm_find(m, s, n);
    if (!m->k[j]) {
        m->k[j] = malloc(n + 1);
        memcpy(m->k[j], s, n);
        m->k[j][n] = 0;
        m->kl[j] = n;
        m->n++;
    }
    m->v[j] = v;
}

static void sm_free(smap *m) {
    for (size_t i = 0; i < m->cap; i++) free(m->k[i]);
    free(m->k), free(m->kl), free(m->v);
    memset(m, 0, sizeof *m);
}

/* ------------------------------------------------ GPT-2 bytes_to_unicode, as in its encoder.py */
static int b2u[256], u2b[512];
static void init_byte_map(void) {
    int bs[256], cs[256], n = 0, extra = 0;
    for (int b = '!'; b <= '~'; b++) bs[n] = cs[n] = b, n++;
    for (int b = 0xA1; b <= 0xAC; b++) bs[n] = cs[n] = b, n++;
    for (int b = 0xAE; b <= 0xFF; b++) bs[n] = cs[n] = b, n++;
    for (int b = 0; b < 256; b++) {
        int in = 0;
        for (int i = 0; i < n && !in; i++) in = bs[i] == b;
        if (!in) bs[n] = b, cs[n] = 256 + extra++, n++;
    }
    for (int i = 0; i < 512; i++) u2b[i] = -1;
    for (int i = 0; i < 256; i++) b2u[bs[i]] = cs[i], u2b[cs[i]] = bs[i];
}

/* Byte-level form of s[0..n) into a new string. */
static char *to_unicode(const char *s, size_t n) {
    char *o = malloc(2 * n + 1), *p = o;
    for (size_t i = 0; i < n; i++) {
        int u = b2u[(unsigned char)s[i]];
        if (u < 0x80) *p++ = (char)u;
        else *p++ = (char)(0xC0 | (u >> 6)), *p++ = (char)(0x80 | (u & 0x3F));
    }
    *p = 0;
    return o;
}

/* Raw bytes of a byte-level string (in place, returns the length), or -1. */
static long from_unicode(char *s) {
    size_t o = 0;
    for (size_t i = 0; s[i];) {
        unsigned char c = (unsigned char)s[i];
        int u;
        if (c < 0x80) u = c, i++;
        else if ((c & 0xE0) == 0xC0 && s[i + 1]) u = ((c & 0x1F) << 6) | (s[i + 1] & 0x3F), i += 2;
        else return -1;
        if (u >= 512 || u2b[u] < 0) return -1;
        s[o++] = (char)u2b[u];
    }
    s[o] = 0;
    return (long)o;
}

/* ------------------------------------------------ pre-tokenization (PCRE2, the file's regex) */
typedef struct {
    const char **s;
    size_t *n;
    size_t cnt, cap;
} pieces;

static void pieces_push(pieces *p, const char *s, size_t n) {
    if (!n) return;
    if (p->cnt == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 1024;
        p->s = realloc(p->s, p->cap * sizeof *p->s);
        p->n = realloc(p->n, p->cap * sizeof *p->n);
    }
    p->s[p->cnt] = s, p->n[p->cnt++] = n;
}

/* Splits valid UTF-8 text[0..len) into pieces (matches and the gaps between). */
static void split(const char *regex, const char *text, size_t len, pieces *out) {
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)regex, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
    if (!re) {
        fprintf(stderr, "regex does not compile: %s\n", regex);
        exit(2);
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    size_t pos = 0;
    while (pos < len) {
        /* the UTF check (of the whole subject) once, not at every match */
        int rc = pcre2_match(re, (PCRE2_SPTR)text, len, pos, pos ? PCRE2_NO_UTF_CHECK : 0, md, NULL);
        CHECK(rc >= 0 || rc == PCRE2_ERROR_NOMATCH, "pcre2_match: error %d at byte %zu", rc, pos);
        if (rc < 0) {
            pieces_push(out, text + pos, len - pos);
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        pieces_push(out, text + pos, ov[0] - pos);
        pieces_push(out, text + ov[0], ov[1] - ov[0]);
        pos = ov[1] > pos ? ov[1] : pos + 1;
    }
    pcre2_match_data_free(md);
    pcre2_code_free(re);
}

/* Splits text on the special token sp (NULL: none), pre-tokenizes the rest. */
static void pretokenize(const char *regex, const char *sp, const char *text, size_t len, pieces *out) {
    size_t spn = sp ? strlen(sp) : 0, pos = 0;
    while (pos <= len) {
        size_t at = len;
        for (size_t i = pos; spn && i + spn <= len; i++)
            if (!memcmp(text + i, sp, spn)) {
                at = i;
                break;
            }
        split(regex, text + pos, at - pos, out);
        if (at == len) break;
        pieces_push(out, text + at, spn); /* the special token itself, as one piece */
        pos = at + spn;
    }
}

/* ------------------------------------------------ the tokenizer.json, read back */
typedef struct {
    cJSON *root;
    const char *regex;
    int n_vocab, n_merges, special_id;
    const char *special;
    char **tok;      /* [n_vocab] raw bytes (NUL-terminated; the corpora hold no NUL) */
    smap vocab;      /* byte-level form -> id */
    smap ranks;      /* "a b" -> rank */
    char **ml, **mr; /* [n_merges] raw bytes of each merge's parts */
} tjson;

static int tjson_read(tjson *t, const char *json) {
    memset(t, 0, sizeof *t);
    t->special_id = -1;
    t->root = cJSON_Parse(json);
    cJSON *model = cJSON_GetObjectItemCaseSensitive(t->root, "model");
    cJSON *voc = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    cJSON *mg = cJSON_GetObjectItemCaseSensitive(model, "merges");
    cJSON *pre = cJSON_GetObjectItemCaseSensitive(t->root, "pre_tokenizer");
    cJSON *seq = cJSON_GetObjectItemCaseSensitive(pre, "pretokenizers");
    cJSON *pat = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(seq, 0), "pattern");
    cJSON *re = cJSON_GetObjectItemCaseSensitive(pat, "Regex");
    CHECK(model && voc && mg && cJSON_IsString(re), "tokenizer.json lacks model.vocab, model.merges or the regex");
    if (!model || !voc || !mg || !cJSON_IsString(re)) return -1;
    t->regex = re->valuestring;
    t->n_vocab = cJSON_GetArraySize(voc);
    t->tok = calloc((size_t)t->n_vocab, sizeof *t->tok);
    int bad = 0;
    for (cJSON *e = voc->child; e; e = e->next) {
        int id = e->valueint;
        if (id < 0 || id >= t->n_vocab || t->tok[id]) {
            CHECK(0, "vocab id %d of \"%s\" out of range or repeated", id, e->string);
            bad = 1;
            continue;
        }
        sm_put(&t->vocab, e->string, strlen(e->string), id);
        t->tok[id] = strdup(e->string);
        if (from_unicode(t->tok[id]) < 0) {
            CHECK(0, "vocab entry \"%s\" is not in byte-level form", e->string);
            bad = 1;
        }
    }
    t->n_merges = cJSON_GetArraySize(mg);
    t->ml = calloc((size_t)t->n_merges + 1, sizeof *t->ml);
    t->mr = calloc((size_t)t->n_merges + 1, sizeof *t->mr);
    int r = 0;
    for (cJSON *e = mg->child; e; e = e->next, r++) {
        const char *s = e->valuestring, *sp = s ? strchr(s, ' ') : NULL;
        if (!sp || strchr(sp + 1, ' ')) {
            CHECK(0, "merge %d is not \"a b\"", r);
            bad = 1;
            continue;
        }
        sm_put(&t->ranks, s, strlen(s), r);
        t->ml[r] = strndup(s, (size_t)(sp - s));
        t->mr[r] = strdup(sp + 1);
        from_unicode(t->ml[r]);
        from_unicode(t->mr[r]);
    }
    cJSON *added = cJSON_GetObjectItemCaseSensitive(t->root, "added_tokens");
    if (cJSON_GetArraySize(added) > 0) {
        cJSON *a = cJSON_GetArrayItem(added, 0);
        t->special = cJSON_GetObjectItemCaseSensitive(a, "content")->valuestring;
        t->special_id = cJSON_GetObjectItemCaseSensitive(a, "id")->valueint;
    }
    return bad ? -1 : 0;
}

static void tjson_free(tjson *t) {
    for (int i = 0; i < t->n_vocab; i++) free(t->tok[i]);
    for (int r = 0; r < t->n_merges; r++) free(t->ml[r]), free(t->mr[r]);
    free(t->tok), free(t->ml), free(t->mr);
    sm_free(&t->vocab);
    sm_free(&t->ranks);
    cJSON_Delete(t->root);
}

/* Every merge's parts exist before the token it makes; new tokens come in
 * merge order after the 256 bytes. */
static void check_merge_order(const tjson *t) {
    int next = 256, bad = 0;
    for (int r = 0; r < t->n_merges && !bad; r++) {
        char *l = to_unicode(t->ml[r], strlen(t->ml[r])), *rt = to_unicode(t->mr[r], strlen(t->mr[r]));
        size_t nl = strlen(l), nr = strlen(rt);
        char *cat = malloc(nl + nr + 1);
        memcpy(cat, l, nl), memcpy(cat + nl, rt, nr + 1);
        int il = sm_get(&t->vocab, l, nl), ir = sm_get(&t->vocab, rt, nr), iz = sm_get(&t->vocab, cat, nl + nr);
        if (iz == next) next++;
        if (il < 0 || ir < 0 || iz < 0 || il >= iz || ir >= iz || iz >= next) {
            CHECK(0, "merge %d \"%s %s\": ids %d %d -> %d (next new id %d)", r, l, rt, il, ir, iz, next);
            bad = 1;
        }
        free(l), free(rt), free(cat);
    }
    CHECK(next == t->n_vocab, "the merges made %d tokens, the vocabulary holds %d", next, t->n_vocab);
    for (int b = 0; b < 256; b++) {
        char *u = to_unicode((const char *)&(unsigned char){(unsigned char)b}, 1);
        CHECK(sm_get(&t->vocab, u, strlen(u)) == b, "byte %d is not token %d", b, b);
        free(u);
    }
}

/* ------------------------------------------------ a naive trainer: pair counts from scratch every step */
typedef struct {
    char **tb;
    size_t *tl;
    int ntok;
} ntoks;

static int lex(const ntoks *v, int a, int b) {
    size_t n = v->tl[a] < v->tl[b] ? v->tl[a] : v->tl[b];
    int c = memcmp(v->tb[a], v->tb[b], n);
    return c ? c : (v->tl[a] < v->tl[b] ? -1 : v->tl[a] > v->tl[b]);
}

static int str_cmp(const void *x, const void *y) {
    const char *const *a = x, *const *b = y;
    return strcmp(*a, *b);
}

/* Checks the first max_merges merges of t (its corpus: pieces p, special
 * pieces excluded) against a naive trainer; also merge 0 against a plain
 * count of adjacent byte pairs over all pieces. */
static void check_naive(const tjson *t, const pieces *p, int max_merges) {
    /* distinct words and their counts */
    char **w = malloc(p->cnt * sizeof *w);
    size_t nw = 0;
    for (size_t i = 0; i < p->cnt; i++)
        if (!t->special || p->n[i] != strlen(t->special) || memcmp(p->s[i], t->special, p->n[i]))
            w[nw++] = strndup(p->s[i], p->n[i]);
    /* merge 0 by brute force over all pieces */
    static int64_t bc[256][256];
    memset(bc, 0, sizeof bc);
    for (size_t i = 0; i < nw; i++)
        for (size_t k = 0; w[i][k] && w[i][k + 1]; k++) bc[(unsigned char)w[i][k]][(unsigned char)w[i][k + 1]]++;
    int ba = 0, bb = 0;
    for (int a = 0; a < 256; a++)
        for (int b = 0; b < 256; b++)
            if (bc[a][b] > bc[ba][bb]) ba = a, bb = b;
    CHECK(t->n_merges > 0 && (unsigned char)t->ml[0][0] == ba && (unsigned char)t->mr[0][0] == bb && !t->ml[0][1] &&
              !t->mr[0][1],
          "merge 0 is \"%s\" + \"%s\", the most frequent pair is %d %d (%lld times)", t->n_merges ? t->ml[0] : "",
          t->n_merges ? t->mr[0] : "", ba, bb, (long long)bc[ba][bb]);
    qsort(w, nw, sizeof *w, str_cmp);
    size_t nd = 0;
    int64_t *cnt = calloc(nw + 1, sizeof *cnt);
    for (size_t i = 0; i < nw; i++) {
        if (nd && !strcmp(w[nd - 1], w[i])) {
            cnt[nd - 1]++;
            free(w[i]);
        } else {
            w[nd] = w[i];
            cnt[nd++] = 1;
        }
    }
    int **sym = malloc(nd * sizeof *sym), *len = malloc(nd * sizeof *len);
    for (size_t i = 0; i < nd; i++) {
        len[i] = (int)strlen(w[i]);
        sym[i] = malloc((size_t)(len[i] + 1) * sizeof **sym);
        for (int k = 0; k < len[i]; k++) sym[i][k] = (unsigned char)w[i][k];
    }
    ntoks v = {malloc((size_t)(256 + max_merges) * sizeof(char *)), malloc((size_t)(256 + max_merges) * sizeof(size_t)), 256};
    for (int b = 0; b < 256; b++) v.tb[b] = malloc(1), v.tb[b][0] = (char)b, v.tl[b] = 1;
    size_t cap = 1 << 18;
    uint64_t *key = malloc(cap * sizeof *key);
    int64_t *val = malloc(cap * sizeof *val);
    int n = max_merges < t->n_merges ? max_merges : t->n_merges;
    for (int r = 0; r < n; r++) {
        memset(val, 0, cap * sizeof *val);
        int best_a = -1, best_b = -1;
        int64_t best = 0;
        for (size_t i = 0; i < nd; i++)
            for (int k = 0; k + 1 < len[i]; k++) {
                uint64_t kk = (uint64_t)sym[i][k] << 32 | (uint32_t)sym[i][k + 1];
                size_t j = (size_t)((kk * 0x9E3779B97F4A7C15ULL) >> 46) & (cap - 1);
                while (val[j] && key[j] != kk) j = (j + 1) & (cap - 1);
                key[j] = kk;
                val[j] += cnt[i];
            }
        for (size_t j = 0; j < cap; j++) {
            if (!val[j]) continue;
            int a = (int)(key[j] >> 32), b = (int)(uint32_t)key[j];
            int take;
            if (best_a < 0 || val[j] != best) take = best_a < 0 || val[j] > best;
            else take = lex(&v, a, best_a) < 0 || (lex(&v, a, best_a) == 0 && lex(&v, b, best_b) < 0);
            if (take) best = val[j], best_a = a, best_b = b;
        }
        if (best_a < 0) break;
        size_t nz = v.tl[best_a] + v.tl[best_b];
        char *z = malloc(nz + 1);
        memcpy(z, v.tb[best_a], v.tl[best_a]), memcpy(z + v.tl[best_a], v.tb[best_b], v.tl[best_b]);
        z[nz] = 0;
        int ok = strlen(t->ml[r]) == v.tl[best_a] && !memcmp(t->ml[r], v.tb[best_a], v.tl[best_a]) &&
                 strlen(t->mr[r]) == v.tl[best_b] && !memcmp(t->mr[r], v.tb[best_b], v.tl[best_b]);
        if (!ok) {
            CHECK(0, "merge %d is \"%s\" + \"%s\", the naive trainer merges \"%.*s\" + \"%.*s\" (%lld times)", r, t->ml[r],
                  t->mr[r], (int)v.tl[best_a], v.tb[best_a], (int)v.tl[best_b], v.tb[best_b], (long long)best);
            free(z);
            break;
        }
        int id = -1;
        for (int i = 0; i < v.ntok && id < 0; i++)
            if (v.tl[i] == nz && !memcmp(v.tb[i], z, nz)) id = i;
        if (id < 0) {
            id = v.ntok++;
            v.tb[id] = z, v.tl[id] = nz;
        } else {
            free(z);
        }
        for (size_t i = 0; i < nd; i++) {
            int o = 0;
            for (int k = 0; k < len[i]; k++) {
                if (k + 1 < len[i] && sym[i][k] == best_a && sym[i][k + 1] == best_b) sym[i][o++] = id, k++;
                else sym[i][o++] = sym[i][k];
            }
            len[i] = o;
        }
    }
    for (int i = 0; i < v.ntok; i++) free(v.tb[i]);
    free(v.tb), free(v.tl), free(key), free(val);
    for (size_t i = 0; i < nd; i++) free(sym[i]), free(w[i]);
    free(sym), free(len), free(w), free(cnt);
}

/* ------------------------------------------------ a reference encoder: merges by rank per pre-token */
static void ref_encode(const tjson *t, const char *text, size_t len, qd_ids *out) {
    pieces p = {0};
    pretokenize(t->regex, t->special, text, len, &p);
    for (size_t i = 0; i < p.cnt; i++) {
        if (t->special && p.n[i] == strlen(t->special) && !memcmp(p.s[i], t->special, p.n[i])) {
            qd_ids_push(out, t->special_id, NULL, 0);
            continue;
        }
        /* symbols: byte-level strings, one per byte at first */
        int n = (int)p.n[i];
        char **s = malloc((size_t)n * sizeof *s);
        for (int k = 0; k < n; k++) s[k] = to_unicode(p.s[i] + k, 1);
        for (;;) {
            int best = -1, at = -1;
            for (int k = 0; k + 1 < n; k++) {
                size_t a = strlen(s[k]), b = strlen(s[k + 1]);
                char *key = malloc(a + b + 2);
                memcpy(key, s[k], a), key[a] = ' ', memcpy(key + a + 1, s[k + 1], b + 1);
                int r = sm_get(&t->ranks, key, a + b + 1);
                free(key);
                if (r >= 0 && (best < 0 || r < best)) best = r, at = k;
            }
            if (best < 0) break;
            size_t a = strlen(s[at]), b = strlen(s[at + 1]);
            s[at] = realloc(s[at], a + b + 1);
            memcpy(s[at] + a, s[at + 1], b + 1);
            free(s[at + 1]);
            memmove(s + at + 1, s + at + 2, (size_t)(n - at - 2) * sizeof *s);
            n--;
        }
        for (int k = 0; k < n; k++) {
            int id = sm_get(&t->vocab, s[k], strlen(s[k]));
            CHECK(id >= 0, "reference encoder: \"%s\" is not in the vocabulary", s[k]);
            qd_ids_push(out, id, NULL, 0);
            free(s[k]);
        }
        free(s);
    }
    free(p.s), free(p.n);
}

/* ------------------------------------------------ the Hugging Face oracle */
static int oracles_present(void) {
    char p[1024];
    struct stat st;
    return stat(tu_src("tests/oracles/node_modules/@anush008/tokenizers/package.json", p, sizeof p), &st) == 0 &&
           stat(tu_src("tests/oracles/node_modules/@anush008/tokenizers-linux-x64-gnu", p, sizeof p), &st) == 0 &&
           system("node --version >/dev/null 2>&1") == 0;
}

static void parse_ids(const char *s, qd_ids *out) {
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s) break;
        qd_ids_push(out, (int32_t)v, NULL, 0);
        s = end;
    }
}

static void check_ids(const char *what, const qd_ids *got, const qd_ids *want) {
    size_t i = 0;
    while (i < got->n && i < want->n && got->v[i] == want->v[i]) i++;
    CHECK(got->n == want->n && i == got->n, "%s: %zu ids vs %zu, first difference at %zu (%d vs %d)", what, got->n,
          want->n, i, i < got->n ? got->v[i] : -1, i < want->n ? want->v[i] : -1);
}

/* HF loads path, round-trips text and agrees with the reference encoder (and
 * with qd_tokenizer when it loads tokenizer.json files). */
static void check_encoders(const char *dir, const char *path, const tjson *t, const char *text, size_t len) {
    char tp[1200], dp[1200], cmd[4096], err[512];
    snprintf(tp, sizeof tp, "%s/text.txt", dir);
    snprintf(dp, sizeof dp, "%s/decoded.txt", dir);
    CHECK(!qt_write_file_atomic(tp, text, len, err, sizeof err), "%s", err);
    char script[1024];
    tu_src("tests/oracles/hf_roundtrip.mjs", script, sizeof script);
    snprintf(cmd, sizeof cmd, "ASAN_OPTIONS=detect_leaks=0 LD_PRELOAD= node %s %s %s %s", script, path, tp, dp);
    FILE *f = popen(cmd, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t got = f ? getline(&line, &cap, f) : -1;
    int rc = f ? pclose(f) : -1;
    CHECK(rc == 0 && got > 0, "Hugging Face tokenizers failed on %s (exit %d)", path, rc);
    qd_ids hf = {0}, ref = {0}, qd = {0};
    if (rc == 0 && got > 0) {
        parse_ids(line, &hf);
        char *dec = NULL;
        size_t dn = 0;
        CHECK(!qt_read_file(dp, &dec, &dn, err, sizeof err) || len == 0, "%s", err);
        CHECK(dec && dn == len && !memcmp(dec, text, len), "HF decode(encode(text)) != text (%zu vs %zu bytes)", dn, len);
        free(dec);
        ref_encode(t, text, len, &ref);
        check_ids("HF vs the reference encoder", &hf, &ref);
    }
    qd_tokenizer *tk = qd_tokenizer_load(path, err, sizeof err);
    if (!tk) {
        CHECK(strstr(err, "not supported by this build") != NULL, "qd_tokenizer_load: %s", err);
        printf("  (qd_tokenizer_load does not read tokenizer.json in this build: compared HF with the reference only)\n");
    } else {
        CHECK(qd_tokenizer_vocab(tk) == t->n_vocab + (t->special ? 1 : 0), "qd vocab %d", qd_tokenizer_vocab(tk));
        CHECK(!qd_tokenizer_encode(tk, text, len, 1, &qd, err, sizeof err), "%s", err);
        if (hf.n) check_ids("qd_tokenizer_encode vs HF", &qd, &hf);
        char *back = NULL;
        size_t bn = 0;
        CHECK(!qd_tokenizer_decode(tk, qd.v, qd.n, &back, &bn, err, sizeof err), "%s", err);
        CHECK(back && bn == len && !memcmp(back, text, len), "qd decode(encode(text)) != text");
        free(back);
        qd_tokenizer_free(tk);
    }
    free(line);
    qd_ids_free(&hf), qd_ids_free(&ref), qd_ids_free(&qd);
}

/* ------------------------------------------------ one corpus */
static void run_corpus(const char *name, const char *dir, const char *corpus, size_t len, int vocab, int naive_merges,
                       const char *probe, size_t probe_len) {
    const char *sp[] = {"<|endoftext|>"};
    char err[512], path[1200], path2[1200];
    printf("%s: %zu bytes, vocab %d\n", name, len, vocab);
    snprintf(path, sizeof path, "%s/%s.json", dir, name);
    snprintf(path2, sizeof path2, "%s/%s.2.json", dir, name);
    for (int run = 0; run < 2; run++) {
        qd_bpe_counter *c = qd_bpe_counter_new(QD_PRETOK_QWEN2, sp, 1, err, sizeof err);
        CHECK(c, "%s", err);
        if (!c) return;
        CHECK(!qd_bpe_counter_add(c, corpus, len, err, sizeof err), "%s", err);
        qd_bpe_model m;
        int rc = qd_bpe_train(c, vocab, &m, err, sizeof err);
        CHECK(!rc, "%s", err);
        qd_bpe_counter_free(c);
        if (rc) return;
        CHECK(m.n_tokens + m.n_special == vocab, "%d + %d tokens, asked for %d", m.n_tokens, m.n_special, vocab);
        CHECK(!qd_bpe_model_save(&m, run ? path2 : path, err, sizeof err), "%s", err);
        qd_bpe_model_free(&m);
    }
    char *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    CHECK(!qt_read_file(path, &a, &na, err, sizeof err), "%s", err);
    CHECK(!qt_read_file(path2, &b, &nb, err, sizeof err), "%s", err);
    CHECK(a && b && na == nb && !memcmp(a, b, na), "two runs wrote different files (%zu vs %zu bytes)", na, nb);
    free(b);
    if (!a) return;
    tjson t;
    if (!tjson_read(&t, a)) {
        CHECK(t.n_vocab + 1 == vocab, "tokenizer.json: %d vocab entries + 1 added token, asked for %d", t.n_vocab, vocab);
        CHECK(t.special && !strcmp(t.special, "<|endoftext|>") && t.special_id == vocab - 1, "added token %s id %d",
              t.special ? t.special : "(none)", t.special_id);
        check_merge_order(&t);
        pieces p = {0};
        pretokenize(t.regex, t.special, corpus, len, &p);
        check_naive(&t, &p, naive_merges);
        free(p.s), free(p.n);
        check_encoders(dir, path, &t, probe, probe_len);
    }
    tjson_free(&t);
    free(a);
}

static const char *small_corpus =
    "The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs!\n"
    "47+38=85 12+9=21 100-1=99 3.14159 2024-01-15\n"
    "Ünïcödé façade naïve café — “quotes” and ‘apostrophes’ ... 日本語のテキスト, Ελληνικά, русский.\n"
    "I'm sure you'll see it's THEY'RE and we've, he'd.<|endoftext|>Second document:\tTabs\tand   spaces   \n\n\n"
    "  indented line\r\nwindows line\r\nemoji 🙂🙂 end\n";

/* Bad arguments give one-line errors; invalid UTF-8 is counted, not refused. */
static void check_edges(void) {
    char err[512] = "";
    const char *dup[] = {"<s>", "<s>"}, *a[] = {"a"};
    CHECK(!qd_bpe_counter_new(QD_PRETOK_QWEN2, dup, 2, err, sizeof err) && strstr(err, "twice"), "repeated special: %s", err);
    qd_pretok p;
    CHECK(qd_pretok_parse("bert", &p, err, sizeof err) && strstr(err, "qwen2"), "bad preset: %s", err);
    qd_bpe_counter *c = qd_bpe_counter_new(QD_PRETOK_GPT2, NULL, 0, err, sizeof err);
    const char bad[] = "\xff\xfe abc \xc3 abc abc\xe2\x82 abd";
    CHECK(!qd_bpe_counter_add(c, bad, sizeof bad - 1, err, sizeof err), "invalid UTF-8: %s", err);
    qd_bpe_model m;
    CHECK(qd_bpe_train(c, 255, &m, err, sizeof err) && strstr(err, "below 256"), "vocab 255: %s", err);
    CHECK(!qd_bpe_train(c, 259, &m, err, sizeof err) && m.n_tokens == 259, "%s", err);
    qd_bpe_model_free(&m);
    qd_bpe_counter_free(c);
    c = qd_bpe_counter_new(QD_PRETOK_LLAMA3, a, 1, err, sizeof err);
    CHECK(!qd_bpe_counter_add(c, "banana", 6, err, sizeof err), "%s", err);
    CHECK(qd_bpe_train(c, 260, &m, err, sizeof err) && strstr(err, "ordinary token"), "special \"a\": %s", err);
    qd_bpe_counter_free(c);
}

int main(void) {
    init_byte_map();
    check_edges();
    if (!oracles_present()) {
        fprintf(stderr, "FAIL: node or the npm oracle @anush008/tokenizers is missing: run scripts/install_oracles.sh\n");
        return 1;
    }
    char dir[512];
    tu_tmpdir(dir, sizeof dir);
    /* the small corpus, repeated with variations so that counts differ */
    size_t sl = strlen(small_corpus), len = 0;
    char *corpus = malloc(sl * 12 + 256);
    for (int r = 0; r < 12; r++) {
        size_t cut = sl - (size_t)r * 7;
        while ((small_corpus[cut] & 0xC0) == 0x80) cut--; /* a whole UTF-8 character */
        memcpy(corpus + len, small_corpus, cut);
        len += cut;
        len += (size_t)sprintf(corpus + len, " %d%d words%d\n", r, r * 37, r % 3);
    }
    const char *probe = "The lazy fox: 47+38=85, naïve “café” 日本語 🙂<|endoftext|>I'M HERE\r\n  x\n\n";
    run_corpus("small", dir, corpus, len, 450, 100000, probe, strlen(probe));
    free(corpus);

    /* the first 2 MB of the Brown corpus, when present */
    char bp[1024], err[512];
    char *brown = NULL;
    size_t bn = 0;
    tu_src("data/brown.txt", bp, sizeof bp);
    if (qt_read_file(bp, &brown, &bn, err, sizeof err) == 0) {
        size_t cut = bn < (2u << 20) ? bn : (2u << 20);
        while (cut > 0 && brown[cut - 1] != '\n') cut--;
        size_t p0 = cut, p1 = bn < cut + 40000 ? bn : cut + 40000; /* held-out text for the encoders */
        while (p1 > p0 && brown[p1 - 1] != '\n') p1--;
        char *probe2 = malloc(p1 - p0 + strlen(probe) + 1);
        memcpy(probe2, brown + p0, p1 - p0);
        strcpy(probe2 + (p1 - p0), probe);
        run_corpus("brown2mb", dir, brown, cut, 1024, 100000, probe2, strlen(probe2));
        free(probe2);
        free(brown);
    } else {
        printf("brown: %s (skipped: scripts/fetch_brown.sh fetches it)\n", err);
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return tu_finish("test_bpe_train");
}
