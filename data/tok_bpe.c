/* The BPE model on one pre-tokenized word: characters to ids (byte fallback,
 * unk), merges by rank through a binary heap (Hugging Face's Word::merge_all:
 * lowest rank first, leftmost on ties, O(n log n)), or, for GGUF "llama"
 * files without merges, llama.cpp's SentencePiece bigrams by token score;
 * and the per-word cache (see data/tok_impl.h). */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "data/tok_impl.h"

#define CACHE_MAX_WORD 128
#define CACHE_CAP (1u << 16)

typedef struct sym {
    int32_t id, prev, next;
    uint32_t start, len; /* bytes of the word; len 0: merged away */
} sym;

typedef struct hent {
    double key;
    int32_t pos, id, size;
} hent;

typedef struct heap {
    hent *v;
    size_t n, cap;
} heap;

static int h_less(const hent *a, const hent *b) { return a->key < b->key || (a->key == b->key && a->pos < b->pos); }

static int h_push(heap *h, hent e) {
    if (qk_grow((void **)&h->v, h->n, &h->cap, sizeof *h->v)) return -1;
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!h_less(&e, &h->v[p])) break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = e;
    return 0;
}

static hent h_pop(heap *h) {
    hent top = h->v[0], e = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && h_less(&h->v[c + 1], &h->v[c])) c++;
        if (!h_less(&h->v[c], &e)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n) h->v[i] = e;
    return top;
}

/* rank of (a, b), or -1 */
static int32_t pair_rank(const qd_tokenizer *t, int32_t a, int32_t b) {
    if (!t->pmap.key || a < 0 || b < 0) return -1;
    uint64_t k = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    uint64_t i = (k * 0x9E3779B97F4A7C15ULL) >> 20;
    for (;; i++) {
        i &= t->pmap.mask;
        if (!t->pmap.key[i]) return -1;
        if (t->pmap.key[i] == k) return t->pmap.rank[i];
    }
}

static int32_t char_id(const qd_tokenizer *t, uint32_t cp, const char *s, size_t k) {
    if (cp < QK_DIRECT) return t->direct[cp];
    return qk_lookup(t, s, k);
}

typedef struct syms {
    sym *v;
    size_t n, cap;
} syms;

static int s_push(syms *s, int32_t id, uint32_t start, uint32_t len) {
    if (qk_grow((void **)&s->v, s->n, &s->cap, sizeof *s->v)) return -1;
    s->v[s->n] = (sym){id, (int32_t)s->n - 1, (int32_t)s->n + 1, start, len};
    s->n++;
    return 0;
}

/* Characters to symbols (HF's BPE::merge_word, first half). */
static int initial_symbols(const qd_tokenizer *t, const char *w, size_t n, syms *S, char *err, size_t errlen) {
    const unsigned char *u = (const unsigned char *)w;
    int pending_unk = 0; /* the last symbol is an unk that may be fused */
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = qk_utf8_next(u + i, n - i, &cp);
        if (!k) { /* cannot happen after sanitizing; be safe */
            k = 1;
            cp = 0xFFFD;
        }
        int32_t id = t->use_scores ? 0 : char_id(t, cp, w + i, (size_t)k);
        if (id >= 0) {
            if (s_push(S, id, (uint32_t)i, (uint32_t)k)) goto oom;
            pending_unk = 0;
        } else {
            int ok = t->byte_fallback;
            for (int b = 0; ok && b < k; b++) ok = t->byte_tok[u[i + b]] >= 0;
            if (ok) {
                for (int b = 0; b < k; b++)
                    if (s_push(S, t->byte_tok[u[i + b]], (uint32_t)(i + (size_t)b), 1)) goto oom;
                pending_unk = 0;
            } else if (t->unk >= 0) {
                if (pending_unk && t->fuse_unk) {
                    S->v[S->n - 1].len += (uint32_t)k;
                } else {
                    if (s_push(S, t->unk, (uint32_t)i, (uint32_t)k)) goto oom;
                    pending_unk = 1;
                }
            } else {
                qt_set_err(err, errlen, "%s: no token for character U+%04X and no unk token", t->source, (unsigned)cp);
                return -1;
            }
        }
        i += (size_t)k;
    }
    if (S->n) S->v[S->n - 1].next = -1;
    return 0;
oom:
    qt_set_err(err, errlen, "tokenizer: out of memory");
    return -1;
}

static int merge_ranks(const qd_tokenizer *t, syms *S, heap *H) {
    sym *v = S->v;
    for (size_t i = 0; i + 1 < S->n; i++) {
        int32_t r = pair_rank(t, v[i].id, v[i + 1].id);
        if (r >= 0 && h_push(H, (hent){(double)r, (int32_t)i, t->merge_res[r], 0})) return -1;
    }
    while (H->n) {
        hent top = h_pop(H);
        sym *L = &v[top.pos];
        if (!L->len || L->next < 0) continue;
        sym *R = &v[L->next];
        int32_t r = pair_rank(t, L->id, R->id);
        if (r < 0 || t->merge_res[r] != top.id) continue;
        L->id = top.id;
        L->len += R->len;
        R->len = 0;
        L->next = R->next;
        if (L->next >= 0) v[L->next].prev = top.pos;
        if (L->prev >= 0) {
            int32_t q = pair_rank(t, v[L->prev].id, L->id);
            if (q >= 0 && h_push(H, (hent){(double)q, L->prev, t->merge_res[q], 0})) return -1;
        }
        if (L->next >= 0) {
            int32_t q = pair_rank(t, L->id, v[L->next].id);
            if (q >= 0 && h_push(H, (hent){(double)q, top.pos, t->merge_res[q], 0})) return -1;
        }
    }
    return 0;
}

/* llama.cpp's SPM: bigram of (pos, right) if its text is a token: highest score first. */
static int try_bigram(const qd_tokenizer *t, const char *w, const sym *v, int32_t l, int32_t r, heap *H) {
    if (l < 0 || r < 0) return 0;
    uint32_t len = v[l].len + v[r].len;
    int32_t id = qk_lookup(t, w + v[l].start, len);
    if (id < 0) return 0;
    double sc = t->scores ? (double)t->scores[id] : 0.0;
    return h_push(H, (hent){-sc, l, r, (int32_t)len});
}

static int merge_scores(const qd_tokenizer *t, const char *w, syms *S, heap *H) {
    sym *v = S->v;
    for (size_t i = 0; i + 1 < S->n; i++)
        if (try_bigram(t, w, v, (int32_t)i, (int32_t)i + 1, H)) return -1;
    while (H->n) {
        hent top = h_pop(H);
        sym *L = &v[top.pos], *R = &v[top.id];
        if (!L->len || !R->len || L->len + R->len != (uint32_t)top.size || L->next != top.id) continue;
        L->len += R->len;
        R->len = 0;
        L->next = R->next;
        if (L->next >= 0) v[L->next].prev = top.pos;
        if (try_bigram(t, w, v, L->prev, top.pos, H) || try_bigram(t, w, v, top.pos, L->next, H)) return -1;
    }
    return 0;
}

/* ---- cache ---- */
void qk_cache_free(qd_tokenizer *t) {
    if (t->cache)
        for (uint32_t i = 0; i <= t->cache_mask; i++) {
            free(t->cache[i].key);
            free(t->cache[i].ids);
        }
    free(t->cache);
    t->cache = NULL;
    t->cache_n = 0;
}

/* 1 when found (ids appended), 0 when not, -1 on OOM; call under t->mu. */
static int cache_get(qd_tokenizer *t, const char *w, size_t n, uint64_t h, qd_ids *out, char *err, size_t errlen) {
    if (!t->cache) return 0;
    for (uint32_t i = (uint32_t)h;; i++) {
        qk_cache_ent *e = &t->cache[i & t->cache_mask];
        if (!e->key) return 0;
        if (e->h == h && e->klen == n && !memcmp(e->key, w, n)) {
            for (uint32_t j = 0; j < e->n; j++)
                if (qd_ids_push(out, e->ids[j], err, errlen)) return -1;
            return 1;
        }
    }
}

static void cache_put(qd_tokenizer *t, const char *w, size_t n, uint64_t h, const int32_t *ids, size_t k) {
    if (!t->cache || t->cache_n >= CACHE_CAP / 4 * 3) {
        qk_cache_free(t);
        t->cache = calloc(CACHE_CAP, sizeof *t->cache);
        if (!t->cache) return;
        t->cache_mask = CACHE_CAP - 1;
    }
    uint32_t i = (uint32_t)h;
    while (t->cache[i & t->cache_mask].key) {
        qk_cache_ent *e = &t->cache[i & t->cache_mask];
        if (e->h == h && e->klen == n && !memcmp(e->key, w, n)) return;
        i++;
    }
    qk_cache_ent *e = &t->cache[i & t->cache_mask];
    char *key = malloc(n ? n : 1);
    int32_t *v = malloc((k ? k : 1) * sizeof *v);
    if (!key || !v) {
        free(key);
        free(v);
        return;
    }
    memcpy(key, w, n);
    memcpy(v, ids, k * sizeof *v);
    *e = (qk_cache_ent){key, (uint32_t)n, (uint32_t)k, h, v};
    t->cache_n++;
}

int qk_bpe_word(qd_tokenizer *t, const char *w, size_t n, qd_ids *out, char *err, size_t errlen) {
    if (!n) return 0;
    int cacheable = n <= CACHE_MAX_WORD;
    uint64_t h = 0;
    if (cacheable) {
        h = qk_hash(w, n);
        pthread_mutex_lock(&t->mu);
        int rc = cache_get(t, w, n, h, out, err, errlen);
        pthread_mutex_unlock(&t->mu);
        if (rc) return rc < 0 ? -1 : 0;
    }
    size_t n0 = out->n;
    if (t->ignore_merges && !t->use_scores) {
        int32_t id = qk_lookup(t, w, n);
        if (id >= 0) {
            if (qd_ids_push(out, id, err, errlen)) return -1;
            goto cache;
        }
    }
    syms S = {0};
    heap H = {0};
    int rc = initial_symbols(t, w, n, &S, err, errlen);
    if (!rc) {
        rc = t->use_scores ? merge_scores(t, w, &S, &H) : merge_ranks(t, &S, &H);
        if (rc) qt_set_err(err, errlen, "tokenizer: out of memory merging a word of %zu bytes", n);
    }
    for (int32_t i = S.n ? 0 : -1; !rc && i >= 0; i = S.v[i].next) {
        sym *s = &S.v[i];
        if (!t->use_scores) {
            rc = qd_ids_push(out, s->id, err, errlen);
            continue;
        }
        int32_t id = qk_lookup(t, w + s->start, s->len);
        if (id >= 0) {
            rc = qd_ids_push(out, id, err, errlen);
            continue;
        }
        for (uint32_t b = 0; !rc && b < s->len; b++) {
            int32_t bt = t->byte_tok[(unsigned char)w[s->start + b]];
            if (bt < 0) bt = t->unk;
            if (bt < 0) {
                qt_set_err(err, errlen, "%s: no token for byte 0x%02X and no unk token", t->source,
                           (unsigned char)w[s->start + b]);
                rc = -1;
            } else
                rc = qd_ids_push(out, bt, err, errlen);
        }
    }
    free(S.v);
    free(H.v);
    if (rc) return -1;
cache:
    if (cacheable) {
        pthread_mutex_lock(&t->mu);
        cache_put(t, w, n, h, out->v + n0, out->n - n0);
        pthread_mutex_unlock(&t->mu);
    }
    return 0;
}
