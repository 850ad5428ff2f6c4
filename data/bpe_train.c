/* Byte-level BPE training; see data/bpe_train.h.
 *
 * Counting: pre-tokens go into an open-addressing hash map (bytes -> count).
 * Training works on the distinct pre-tokens as id sequences: pair counts live
 * in a hash map, each pair with the list of words it occurs in; a max-heap
 * with lazy entries picks the best pair (an entry whose count is stale is
 * pushed again with the current one); a merge rewrites only the words on the
 * pair's list and updates the counts of the neighbouring pairs in place. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "data/bpe_train.h"
#include "data/tok_impl.h"

#include <cjson/cJSON.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/files.h"

static const char *const pretok_names[] = {"qwen2", "llama3", "gpt2"};
static const char *const pretok_regexes[] = {
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
    "\\s+(?!\\S)|\\s+",
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
    "\\s+(?!\\S)|\\s+",
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
};

const char *qd_pretok_regex(qd_pretok p) { return pretok_regexes[p]; }

int qd_pretok_parse(const char *name, qd_pretok *p, char *err, size_t errlen) {
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, pretok_names[i])) {
            *p = (qd_pretok)i;
            return 0;
        }
    qt_set_err(err, errlen, "pre-tokenizer \"%s\": expected qwen2, llama3 or gpt2", name);
    return -1;
}

static uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

/* ---------------------------------------------------------------- counting */

typedef struct {
    uint64_t h, cnt; /* cnt 0: empty slot */
    size_t off, len; /* bytes in the arena */
} wslot;

struct qd_bpe_counter {
    qd_pretok pretok;
    pcre2_code *re;
    pcre2_match_data *md;
    char **specials;
    size_t *special_len;
    int n_special;
    char *arena;
    size_t arena_n, arena_cap;
    wslot *slots;
    size_t cap, n;
    uint64_t total;
};

void qd_bpe_counter_free(qd_bpe_counter *c) {
    if (!c) return;
    pcre2_match_data_free(c->md);
    pcre2_code_free(c->re);
    for (int k = 0; k < c->n_special; k++) free(c->specials[k]);
    free(c->specials);
    free(c->special_len);
    free(c->arena);
    free(c->slots);
    free(c);
}

qd_bpe_counter *qd_bpe_counter_new(qd_pretok p, const char *const *specials, int n_special, char *err,
                                   size_t errlen) {
    qd_bpe_counter *c = calloc(1, sizeof *c);
    if (!c) goto oom;
    c->pretok = p;
    int ec;
    PCRE2_SIZE eo;
    c->re = pcre2_compile((PCRE2_SPTR)pretok_regexes[p], PCRE2_ZERO_TERMINATED,
                          PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &ec, &eo, NULL);
    if (!c->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        qt_set_err(err, errlen, "pre-tokenizer %s: regex error at %zu: %s", pretok_names[p], (size_t)eo,
                   (const char *)msg);
        qd_bpe_counter_free(c);
        return NULL;
    }
    (void)pcre2_jit_compile(c->re, PCRE2_JIT_COMPLETE); /* interpreted matching when JIT is unavailable */
    c->md = pcre2_match_data_create_from_pattern(c->re, NULL);
    c->cap = 1024;
    c->slots = calloc(c->cap, sizeof *c->slots);
    if (!c->md || !c->slots) goto oom;
    if (n_special > 0) {
        c->specials = calloc((size_t)n_special, sizeof *c->specials);
        c->special_len = calloc((size_t)n_special, sizeof *c->special_len);
        if (!c->specials || !c->special_len) goto oom;
    }
    for (int k = 0; k < n_special; k++) {
        if (!specials[k] || !*specials[k]) {
            qt_set_err(err, errlen, "special token %d is empty", k + 1);
            qd_bpe_counter_free(c);
            return NULL;
        }
        for (int j = 0; j < k; j++)
            if (!strcmp(specials[j], specials[k])) {
                qt_set_err(err, errlen, "special token \"%s\" is given twice", specials[k]);
                qd_bpe_counter_free(c);
                return NULL;
            }
        c->specials[k] = strdup(specials[k]);
        if (!c->specials[k]) goto oom;
        c->special_len[k] = strlen(specials[k]);
        c->n_special = k + 1;
    }
    return c;
oom:
    qt_set_err(err, errlen, "bpe counter: out of memory");
    qd_bpe_counter_free(c);
    return NULL;
}

static int counter_grow(qd_bpe_counter *c) {
    size_t cap = 2 * c->cap;
    wslot *s = calloc(cap, sizeof *s);
    if (!s) return -1;
    for (size_t i = 0; i < c->cap; i++) {
        if (!c->slots[i].cnt) continue;
        size_t j = c->slots[i].h & (cap - 1);
        while (s[j].cnt) j = (j + 1) & (cap - 1);
        s[j] = c->slots[i];
    }
    free(c->slots);
    c->slots = s;
    c->cap = cap;
    return 0;
}

static int count_piece(qd_bpe_counter *c, const char *s, size_t n) {
    if (!n) return 0;
    uint64_t h = fnv1a(s, n);
    size_t j = h & (c->cap - 1);
    while (c->slots[j].cnt) {
        wslot *w = &c->slots[j];
        if (w->h == h && w->len == n && !memcmp(c->arena + w->off, s, n)) {
            w->cnt++;
            c->total++;
            return 0;
        }
        j = (j + 1) & (c->cap - 1);
    }
    if (c->arena_n + n > c->arena_cap) {
        size_t cap = c->arena_cap ? 2 * c->arena_cap : 1 << 16;
        while (cap < c->arena_n + n) cap *= 2;
        char *a = realloc(c->arena, cap);
        if (!a) return -1;
        c->arena = a;
        c->arena_cap = cap;
    }
    memcpy(c->arena + c->arena_n, s, n);
    c->slots[j] = (wslot){h, 1, c->arena_n, n};
    c->arena_n += n;
    c->n++;
    c->total++;
    if (2 * c->n > c->cap && counter_grow(c)) return -1;
    return 0;
}

/* Splits one segment (no special tokens inside) with the regex; the bytes
 * between matches (only invalid UTF-8 with these patterns) are pieces too. */
static int split_segment(qd_bpe_counter *c, const char *s, size_t n, char *err, size_t errlen) {
    size_t pos = 0;
    while (pos < n) {
        int rc = pcre2_match(c->re, (PCRE2_SPTR)s, n, pos, 0, c->md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) { /* only invalid UTF-8 is left */
            if (!count_piece(c, s + pos, n - pos)) return 0;
            qt_set_err(err, errlen, "bpe counter: out of memory");
            return -1;
        }
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            qt_set_err(err, errlen, "pre-tokenizer: match failed at byte %zu: %s", pos, (const char *)msg);
            return -1;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
        size_t a = ov[0], b = ov[1];
        if (b == a) b = a + 1; /* an empty match (not made by these patterns): take one byte */
        if (count_piece(c, s + pos, a - pos) || count_piece(c, s + a, b - a)) {
            qt_set_err(err, errlen, "bpe counter: out of memory");
            return -1;
        }
        pos = b;
    }
    return 0;
}

/* First occurrence of pat[0..m) in s[from..n), or n. */
static size_t find_bytes(const char *s, size_t n, size_t from, const char *pat, size_t m) {
    while (from + m <= n) {
        const char *p = memchr(s + from, pat[0], n - m + 1 - from);
        if (!p) break;
        size_t at = (size_t)(p - s);
        if (!memcmp(p, pat, m)) return at;
        from = at + 1;
    }
    return n;
}

int qd_bpe_counter_add(qd_bpe_counter *c, const char *text, size_t len, char *err, size_t errlen) {
    size_t pos = 0;
    size_t *next = c->n_special ? calloc((size_t)c->n_special, sizeof *next) : NULL;
    if (c->n_special && !next) {
        qt_set_err(err, errlen, "bpe counter: out of memory");
        return -1;
    }
    for (int k = 0; k < c->n_special; k++) next[k] = find_bytes(text, len, 0, c->specials[k], c->special_len[k]);
    int rc = 0;
    while (pos < len && !rc) {
        /* the earliest special at or after pos (the longest among those starting there) */
        size_t at = len, sl = 0;
        for (int k = 0; k < c->n_special; k++) {
            if (next[k] < pos) next[k] = find_bytes(text, len, pos, c->specials[k], c->special_len[k]);
            if (next[k] < at || (next[k] == at && at < len && c->special_len[k] > sl)) {
                at = next[k];
                sl = c->special_len[k];
            }
        }
        rc = split_segment(c, text + pos, at - pos, err, errlen);
        pos = at + sl;
    }
    free(next);
    return rc;
}

int qd_bpe_counter_add_file(qd_bpe_counter *c, const char *path, char *err, size_t errlen) {
    char *data;
    size_t len;
    if (qt_read_file(path, &data, &len, err, errlen)) return -1;
    char e[512];
    int rc = qd_bpe_counter_add(c, data, len, e, sizeof e);
    if (rc) qt_set_err(err, errlen, "%s: %s", path, e);
    free(data);
    return rc;
}

size_t qd_bpe_counter_distinct(const qd_bpe_counter *c) { return c->n; }
uint64_t qd_bpe_counter_total(const qd_bpe_counter *c) { return c->total; }

/* ---------------------------------------------------------------- training */

typedef struct {
    int32_t a, b;
    int64_t cnt;
    int32_t *w; /* words holding the pair (may repeat or be stale) */
    size_t nw, capw;
    int32_t stamp; /* last step that raised the count */
} pair_t;

typedef struct {
    int64_t cnt;
    int32_t p;
} hent;

typedef struct {
    /* tokens: raw bytes, and a map bytes -> id */
    char **tb;
    size_t *tl;
    int ntok, captok;
    int32_t *tmap; /* -1 empty */
    size_t tmcap;
    /* pairs and the map (a,b) -> pair index */
    pair_t *pr;
    int npr, cappr;
    uint64_t *pkey;
    int32_t *pidx; /* -1 empty */
    size_t pmcap;
    /* the lazy max-heap */
    hent *heap;
    size_t nh, caph;
    /* words */
    int32_t *sym;
    size_t *woff;
    int32_t *wlen, *wstamp;
    int64_t *wcnt;
    size_t nw;
    /* pairs raised in the current step */
    int32_t *touched;
    size_t ntouched, captouched;
    /* merges */
    int32_t *mg, *mid;
    int nm, capm;
} trainer;

static int bytes_cmp(const char *a, size_t na, const char *b, size_t nb) {
    int c = memcmp(a, b, na < nb ? na : nb);
    if (c) return c;
    return na < nb ? -1 : na > nb;
}

/* 1 when heap entry x is to be merged before y. */
static int better(const trainer *t, hent x, hent y) {
    if (x.cnt != y.cnt) return x.cnt > y.cnt;
    const pair_t *p = &t->pr[x.p], *q = &t->pr[y.p];
    int c = bytes_cmp(t->tb[p->a], t->tl[p->a], t->tb[q->a], t->tl[q->a]);
    if (!c) c = bytes_cmp(t->tb[p->b], t->tl[p->b], t->tb[q->b], t->tl[q->b]);
    return c < 0;
}

static int heap_push(trainer *t, int64_t cnt, int32_t p) {
    if (t->nh == t->caph) {
        size_t cap = t->caph ? 2 * t->caph : 4096;
        hent *h = realloc(t->heap, cap * sizeof *h);
        if (!h) return -1;
        t->heap = h;
        t->caph = cap;
    }
    size_t i = t->nh++;
    hent e = {cnt, p};
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!better(t, e, t->heap[up])) break;
        t->heap[i] = t->heap[up];
        i = up;
    }
    t->heap[i] = e;
    return 0;
}

static hent heap_pop(trainer *t) {
    hent top = t->heap[0], e = t->heap[--t->nh];
    size_t i = 0, n = t->nh;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        hent best = e;
        if (l < n && better(t, t->heap[l], best)) m = l, best = t->heap[l];
        if (r < n && better(t, t->heap[r], best)) m = r;
        if (m == i) break;
        t->heap[i] = t->heap[m];
        i = m;
    }
    if (n) t->heap[i] = e;
    return top;
}

static size_t tok_slot(const trainer *t, const char *s, size_t n) {
    size_t j = fnv1a(s, n) & (t->tmcap - 1);
    while (t->tmap[j] >= 0 && bytes_cmp(t->tb[t->tmap[j]], t->tl[t->tmap[j]], s, n)) j = (j + 1) & (t->tmcap - 1);
    return j;
}

/* Adds token s (ownership taken). Returns its id, or -1 on OOM. */
static int32_t tok_add(trainer *t, char *s, size_t n) {
    if (t->ntok == t->captok) {
        int cap = t->captok ? 2 * t->captok : 1024;
        char **tb = realloc(t->tb, (size_t)cap * sizeof *tb);
        if (tb) t->tb = tb;
        size_t *tl = realloc(t->tl, (size_t)cap * sizeof *tl);
        if (tl) t->tl = tl;
        if (!tb || !tl) return -1;
        t->captok = cap;
    }
    if (2 * ((size_t)t->ntok + 1) > t->tmcap) {
        size_t cap = t->tmcap ? 2 * t->tmcap : 4096;
        int32_t *m = malloc(cap * sizeof *m);
        if (!m) return -1;
        for (size_t j = 0; j < cap; j++) m[j] = -1;
        free(t->tmap);
        t->tmap = m;
        t->tmcap = cap;
        for (int i = 0; i < t->ntok; i++) t->tmap[tok_slot(t, t->tb[i], t->tl[i])] = i;
    }
    int32_t id = t->ntok++;
    t->tb[id] = s;
    t->tl[id] = n;
    t->tmap[tok_slot(t, s, n)] = id;
    return id;
}

static uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t)(uint32_t)a << 32 | (uint32_t)b; }

static size_t pair_slot(const trainer *t, uint64_t key) {
    size_t j = (size_t)((key * 0x9E3779B97F4A7C15ULL) >> 20) & (t->pmcap - 1);
    while (t->pidx[j] >= 0 && t->pkey[j] != key) j = (j + 1) & (t->pmcap - 1);
    return j;
}

/* The index of pair (a,b), created with count 0 when new; -1 on OOM. */
static int32_t pair_get(trainer *t, int32_t a, int32_t b) {
    uint64_t key = pair_key(a, b);
    size_t j = pair_slot(t, key);
    if (t->pidx[j] >= 0) return t->pidx[j];
    if (t->npr == t->cappr) {
        int cap = 2 * t->cappr;
        pair_t *pr = realloc(t->pr, (size_t)cap * sizeof *pr);
        if (!pr) return -1;
        t->pr = pr;
        t->cappr = cap;
    }
    int32_t p = t->npr++;
    t->pr[p] = (pair_t){a, b, 0, NULL, 0, 0, -1};
    t->pkey[j] = key;
    t->pidx[j] = p;
    if (2 * (size_t)t->npr > t->pmcap) {
        size_t cap = 2 * t->pmcap;
        uint64_t *k = malloc(cap * sizeof *k);
        int32_t *ix = malloc(cap * sizeof *ix);
        if (!k || !ix) {
            free(k);
            free(ix);
            return -1;
        }
        for (size_t i = 0; i < cap; i++) ix[i] = -1;
        free(t->pkey);
        free(t->pidx);
        t->pkey = k;
        t->pidx = ix;
        t->pmcap = cap;
        for (int32_t i = 0; i < t->npr; i++) {
            uint64_t kk = pair_key(t->pr[i].a, t->pr[i].b);
            size_t s = pair_slot(t, kk);
            t->pkey[s] = kk;
            t->pidx[s] = i;
        }
    }
    return p;
}

/* Appends x to the growable array *v (*n used, *cap allocated). 0 or -1 on OOM. */
static int push_i32(int32_t **v, size_t *n, size_t *cap, int32_t x) {
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 4;
        int32_t *nv = realloc(*v, c * sizeof *nv);
        if (!nv) return -1;
        *v = nv;
        *cap = c;
    }
    (*v)[(*n)++] = x;
    return 0;
}

/* Adds cnt occurrences of (a,b) in word w; records a raised pair in touched. */
static int pair_inc(trainer *t, int32_t a, int32_t b, int64_t cnt, int32_t w, int32_t step) {
    int32_t p = pair_get(t, a, b);
    if (p < 0) return -1;
    pair_t *q = &t->pr[p];
    q->cnt += cnt;
    if ((!q->nw || q->w[q->nw - 1] != w) && push_i32(&q->w, &q->nw, &q->capw, w)) return -1;
    if (q->stamp != step) {
        q->stamp = step;
        if (push_i32(&t->touched, &t->ntouched, &t->captouched, p)) return -1;
    }
    return 0;
}

static void pair_dec(trainer *t, int32_t a, int32_t b, int64_t cnt) {
    uint64_t key = pair_key(a, b);
    size_t j = pair_slot(t, key);
    if (t->pidx[j] >= 0) t->pr[t->pidx[j]].cnt -= cnt;
}

/* Rewrites every (a,b) in word w as z, left to right, updating neighbours. */
static int merge_word(trainer *t, int32_t w, int32_t a, int32_t b, int32_t z, int32_t step) {
    int32_t *s = t->sym + t->woff[w];
    int32_t n = t->wlen[w];
    int64_t cnt = t->wcnt[w];
    for (int32_t i = 0; i + 1 < n; i++) {
        if (s[i] != a || s[i + 1] != b) continue;
        if (i > 0) {
            pair_dec(t, s[i - 1], a, cnt);
            if (pair_inc(t, s[i - 1], z, cnt, w, step)) return -1;
        }
        if (i + 2 < n) {
            pair_dec(t, b, s[i + 2], cnt);
            if (pair_inc(t, z, s[i + 2], cnt, w, step)) return -1;
        }
        s[i] = z;
        memmove(s + i + 1, s + i + 2, (size_t)(n - i - 2) * sizeof *s);
        n--;
    }
    t->wlen[w] = n;
    return 0;
}

static void trainer_free(trainer *t) {
    if (t->tb)
        for (int i = 0; i < t->ntok; i++) free(t->tb[i]);
    free(t->tb);
    free(t->tl);
    free(t->tmap);
    if (t->pr)
        for (int i = 0; i < t->npr; i++) free(t->pr[i].w);
    free(t->pr);
    free(t->pkey);
    free(t->pidx);
    free(t->heap);
    free(t->sym);
    free(t->woff);
    free(t->wlen);
    free(t->wstamp);
    free(t->wcnt);
    free(t->touched);
    free(t->mg);
    free(t->mid);
}

static int trainer_init(trainer *t, const qd_bpe_counter *c) {
    for (int b = 0; b < 256; b++) {
        char *s = malloc(1);
        if (!s) return -1;
        s[0] = (char)b;
        if (tok_add(t, s, 1) < 0) {
            free(s);
            return -1;
        }
    }
    t->cappr = 1024;
    t->pr = malloc((size_t)t->cappr * sizeof *t->pr);
    t->pmcap = 4096;
    t->pkey = malloc(t->pmcap * sizeof *t->pkey);
    t->pidx = malloc(t->pmcap * sizeof *t->pidx);
    t->nw = c->n;
    t->sym = malloc((c->arena_n + 1) * sizeof *t->sym);
    t->woff = malloc((t->nw + 1) * sizeof *t->woff);
    t->wlen = malloc((t->nw + 1) * sizeof *t->wlen);
    t->wstamp = malloc((t->nw + 1) * sizeof *t->wstamp);
    t->wcnt = malloc((t->nw + 1) * sizeof *t->wcnt);
    if (!t->pr || !t->pkey || !t->pidx || !t->sym || !t->woff || !t->wlen || !t->wstamp || !t->wcnt) return -1;
    for (size_t j = 0; j < t->pmcap; j++) t->pidx[j] = -1;
    /* words in arena order (the order they were first seen) */
    size_t w = 0;
    for (size_t i = 0; i < c->cap; i++) {
        const wslot *ws = &c->slots[i];
        if (!ws->cnt) continue;
        t->woff[w] = ws->off;
        t->wlen[w] = (int32_t)ws->len;
        t->wcnt[w] = (int64_t)ws->cnt;
        t->wstamp[w] = -1;
        for (size_t k = 0; k < ws->len; k++) t->sym[ws->off + k] = (unsigned char)c->arena[ws->off + k];
        w++;
    }
    for (size_t k = 0; k < t->nw; k++) {
        const int32_t *s = t->sym + t->woff[k];
        for (int32_t i = 0; i + 1 < t->wlen[k]; i++)
            if (pair_inc(t, s[i], s[i + 1], t->wcnt[k], (int32_t)k, 0)) return -1;
    }
    for (int32_t p = 0; p < t->npr; p++)
        if (heap_push(t, t->pr[p].cnt, p)) return -1;
    return 0;
}

/* One merge of the best pair, or 0 when no pair is left (*done = 1). */
static int train_step(trainer *t, int32_t step, int *done) {
    for (;;) {
        if (!t->nh) {
            *done = 1;
            return 0;
        }
        hent top = heap_pop(t);
        int64_t cur = t->pr[top.p].cnt;
        if (cur <= 0) continue;
        if (top.cnt != cur) {
            if (heap_push(t, cur, top.p)) return -1;
            continue;
        }
        int32_t a = t->pr[top.p].a, b = t->pr[top.p].b;
        size_t n = t->tl[a] + t->tl[b];
        char *s = malloc(n);
        if (!s) return -1;
        memcpy(s, t->tb[a], t->tl[a]);
        memcpy(s + t->tl[a], t->tb[b], t->tl[b]);
        int32_t z = t->tmap[tok_slot(t, s, n)];
        if (z >= 0) {
            free(s); /* the merge yields an existing token: no new id */
        } else if ((z = tok_add(t, s, n)) < 0) {
            free(s);
            return -1;
        }
        if (t->nm == t->capm) {
            int cap = t->capm ? 2 * t->capm : 1024;
            int32_t *mg = realloc(t->mg, 2 * (size_t)cap * sizeof *mg);
            if (mg) t->mg = mg;
            int32_t *mid = realloc(t->mid, (size_t)cap * sizeof *mid);
            if (mid) t->mid = mid;
            if (!mg || !mid) return -1;
            t->capm = cap;
        }
        t->mg[2 * t->nm] = a;
        t->mg[2 * t->nm + 1] = b;
        t->mid[t->nm++] = z;
        /* take the word list: the pair's count ends at 0 */
        int32_t *wl = t->pr[top.p].w;
        size_t nwl = t->pr[top.p].nw;
        t->pr[top.p].w = NULL;
        t->pr[top.p].nw = t->pr[top.p].capw = 0;
        t->ntouched = 0;
        int rc = 0;
        for (size_t k = 0; k < nwl && !rc; k++) {
            int32_t w = wl[k];
            if (t->wstamp[w] == step) continue;
            t->wstamp[w] = step;
            rc = merge_word(t, w, a, b, z, step);
        }
        free(wl);
        if (rc) return -1;
        t->pr[top.p].cnt = 0;
        for (size_t k = 0; k < t->ntouched; k++) {
            int32_t p = t->touched[k];
            if (t->pr[p].cnt > 0 && heap_push(t, t->pr[p].cnt, p)) return -1;
        }
        return 0;
    }
}

void qd_bpe_model_free(qd_bpe_model *m) {
    if (m->bytes)
        for (int i = 0; i < m->n_tokens; i++) free(m->bytes[i]);
    free(m->bytes);
    free(m->n_bytes);
    free(m->merges);
    free(m->merge_id);
    if (m->specials)
        for (int k = 0; k < m->n_special; k++) free(m->specials[k]);
    free(m->specials);
    memset(m, 0, sizeof *m);
}

int qd_bpe_train(const qd_bpe_counter *c, int vocab, qd_bpe_model *m, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    if (vocab < 256 + c->n_special) {
        qt_set_err(err, errlen, "vocabulary size %d is below 256 byte tokens + %d special token(s)", vocab,
                   c->n_special);
        return -1;
    }
    trainer t;
    memset(&t, 0, sizeof t);
    int target = vocab - c->n_special, done = 0;
    if (trainer_init(&t, c)) goto oom;
    for (int32_t step = 1; t.ntok < target && !done; step++)
        if (train_step(&t, step, &done)) goto oom;
    for (int k = 0; k < c->n_special; k++) {
        int32_t id = t.tmap[tok_slot(&t, c->specials[k], c->special_len[k])];
        if (id >= 0) {
            qt_set_err(err, errlen, "special token \"%s\" is also ordinary token %d", c->specials[k], id);
            trainer_free(&t);
            return -1;
        }
    }
    m->pretok = c->pretok;
    m->n_tokens = t.ntok;
    m->bytes = t.tb;
    m->n_bytes = t.tl;
    m->n_merges = t.nm;
    m->merges = t.mg;
    m->merge_id = t.mid;
    t.tb = NULL;
    t.tl = NULL;
    t.mg = t.mid = NULL;
    t.ntok = 0;
    trainer_free(&t);
    if (c->n_special) {
        m->specials = calloc((size_t)c->n_special, sizeof *m->specials);
        if (!m->specials) goto oom_model;
        m->n_special = c->n_special;
        for (int k = 0; k < c->n_special; k++)
            if (!(m->specials[k] = strdup(c->specials[k]))) goto oom_model;
    }
    return 0;
oom:
    trainer_free(&t);
    qt_set_err(err, errlen, "bpe training: out of memory");
    return -1;
oom_model:
    qd_bpe_model_free(m);
    qt_set_err(err, errlen, "bpe training: out of memory");
    return -1;
}

/* ---------------------------------------------------------------- output */

/* The byte-level form of n raw bytes (GPT-2's byte-to-unicode map,
 * qk_byte_cp) as a new NUL-terminated string. */
static char *byte_level(const char *s, size_t n) {
    char *o = malloc(2 * n + 1), *p = o;
    if (!o) return NULL;
    for (size_t i = 0; i < n; i++) p += qk_utf8_put(qk_byte_cp((unsigned char)s[i]), p);
    *p = 0;
    return o;
}

static cJSON *byte_level_obj(const char *type, int trim_offsets) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", type);
    cJSON_AddBoolToObject(o, "add_prefix_space", 0);
    cJSON_AddBoolToObject(o, "trim_offsets", trim_offsets);
    cJSON_AddBoolToObject(o, "use_regex", 0);
    return o;
}

char *qd_bpe_model_json(const qd_bpe_model *m, char *err, size_t errlen) {
    char **forms = calloc((size_t)m->n_tokens + 1, sizeof *forms);
    cJSON *root = cJSON_CreateObject();
    char *out = NULL;
    if (!forms || !root) goto done;
    for (int i = 0; i < m->n_tokens; i++)
        if (!(forms[i] = byte_level(m->bytes[i], m->n_bytes[i]))) goto done;
    cJSON_AddStringToObject(root, "version", "1.0");
    cJSON_AddNullToObject(root, "truncation");
    cJSON_AddNullToObject(root, "padding");
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    for (int k = 0; k < m->n_special; k++) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "id", m->n_tokens + k);
        cJSON_AddStringToObject(a, "content", m->specials[k]);
        cJSON_AddBoolToObject(a, "single_word", 0);
        cJSON_AddBoolToObject(a, "lstrip", 0);
        cJSON_AddBoolToObject(a, "rstrip", 0);
        cJSON_AddBoolToObject(a, "normalized", 0);
        cJSON_AddBoolToObject(a, "special", 1);
        cJSON_AddItemToArray(added, a);
    }
    cJSON_AddNullToObject(root, "normalizer");
    cJSON *pre = cJSON_AddObjectToObject(root, "pre_tokenizer");
    cJSON_AddStringToObject(pre, "type", "Sequence");
    cJSON *seq = cJSON_AddArrayToObject(pre, "pretokenizers");
    cJSON *split = cJSON_CreateObject();
    cJSON_AddStringToObject(split, "type", "Split");
    cJSON *pat = cJSON_AddObjectToObject(split, "pattern");
    cJSON_AddStringToObject(pat, "Regex", pretok_regexes[m->pretok]);
    cJSON_AddStringToObject(split, "behavior", "Isolated");
    cJSON_AddBoolToObject(split, "invert", 0);
    cJSON_AddItemToArray(seq, split);
    cJSON_AddItemToArray(seq, byte_level_obj("ByteLevel", 1));
    cJSON_AddItemToObject(root, "post_processor", byte_level_obj("ByteLevel", 0));
    cJSON_AddItemToObject(root, "decoder", byte_level_obj("ByteLevel", 1));
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddNullToObject(model, "dropout");
    cJSON_AddNullToObject(model, "unk_token");
    cJSON_AddNullToObject(model, "continuing_subword_prefix");
    cJSON_AddNullToObject(model, "end_of_word_suffix");
    cJSON_AddBoolToObject(model, "fuse_unk", 0);
    cJSON_AddBoolToObject(model, "byte_fallback", 0);
    cJSON_AddBoolToObject(model, "ignore_merges", 0);
    cJSON *voc = cJSON_AddObjectToObject(model, "vocab");
    for (int i = 0; i < m->n_tokens; i++) cJSON_AddNumberToObject(voc, forms[i], i);
    cJSON *merges = cJSON_AddArrayToObject(model, "merges");
    for (int r = 0; r < m->n_merges; r++) {
        const char *l = forms[m->merges[2 * r]], *rt = forms[m->merges[2 * r + 1]];
        size_t nl = strlen(l), nr = strlen(rt);
        char *s = malloc(nl + nr + 2);
        if (!s) goto done;
        memcpy(s, l, nl);
        s[nl] = ' ';
        memcpy(s + nl + 1, rt, nr + 1);
        cJSON *str = cJSON_CreateString(s);
        free(s);
        if (!str) goto done;
        cJSON_AddItemToArray(merges, str);
    }
    out = cJSON_Print(root);
done:
    if (forms)
        for (int i = 0; i < m->n_tokens; i++) free(forms[i]);
    free(forms);
    cJSON_Delete(root);
    if (!out) qt_set_err(err, errlen, "tokenizer.json: out of memory");
    return out;
}

int qd_bpe_model_save(const qd_bpe_model *m, const char *path, char *err, size_t errlen) {
    char *json = qd_bpe_model_json(m, err, errlen);
    if (!json) return -1;
    size_t n = strlen(json);
    json[n] = '\n'; /* replaces the NUL: the file ends with a newline */
    int rc = qt_write_file_atomic(path, json, n + 1, err, errlen);
    free(json);
    return rc;
}
