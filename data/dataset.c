/* Text files, split, HDF5 token files, mixture batcher; see dataset.h. */
#include "data/dataset.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/err.h"
#include "base/files.h"
#include "store/h5store.h"

/* ---------------------------------------------------------------- files */

void qd_tokens_free(qd_tokens *t) {
    if (!t) return;
    free(t->tok);
    t->tok = NULL;
    t->n = 0;
}

uint64_t qd_fnv1a64(const void *data, size_t n) {
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* ---------------------------------------------------------------- split */

qd_split_cfg qd_split_default(void) {
    qd_split_cfg c = {4096, 0.05, 1, NULL};
    return c;
}

static int check_split_cfg(const qd_split_cfg *cfg, char *err, size_t errlen) {
    if (cfg->chunk_bytes < 1) {
        qt_set_err(err, errlen, "split: chunk_bytes is 0, expected >= 1");
        return -1;
    }
    if (!(cfg->val_fraction >= 0.0 && cfg->val_fraction < 1.0)) {
        qt_set_err(err, errlen, "split: val_fraction is %g, expected a value in [0, 1)",
                 cfg->val_fraction);
        return -1;
    }
    return 0;
}

/* u_k in [0, 1) as a double (53 bits of the hash). */
static double split_u(uint64_t seed, size_t k) {
    return (double)(qrng_hash2(seed, (uint64_t)k) >> 11) * (1.0 / 9007199254740992.0);
}

int qd_split_plan(const char *text, size_t len, const qd_split_cfg *cfg, qd_chunk **chunks,
                  size_t *n_chunks, char *err, size_t errlen) {
    *chunks = NULL;
    *n_chunks = 0;
    if (check_split_cfg(cfg, err, errlen)) return -1;
    if (len == 0) {
        qt_set_err(err, errlen, "split: text is empty, expected at least one byte");
        return -1;
    }
    size_t cap = len / cfg->chunk_bytes + 16, n = 0;
    qd_chunk *c = malloc(cap * sizeof *c);
    if (!c) {
        qt_set_err(err, errlen, "split: out of memory");
        return -1;
    }
    size_t p = 0;
    while (p < len) {
        size_t end;
        if (len - p <= cfg->chunk_bytes) {
            end = len;
        } else {
            size_t lim = p + cfg->chunk_bytes; /* window text[p .. lim) */
            end = lim;                          /* hard cut unless a '\n' is found */
            for (size_t i = lim; i > p; i--) {
                if (text[i - 1] == '\n') {
                    end = i;
                    break;
                }
            }
        }
        if (n == cap) {
            cap *= 2;
            qd_chunk *nc = realloc(c, cap * sizeof *c);
            if (!nc) {
                free(c);
                qt_set_err(err, errlen, "split: out of memory");
                return -1;
            }
            c = nc;
        }
        c[n].start = p;
        c[n].len = end - p;
        c[n].is_val = split_u(cfg->seed, n) < cfg->val_fraction;
        n++;
        p = end;
    }
    if (n >= 2 && cfg->val_fraction > 0.0) {
        size_t n_val = 0, i_min = 0, i_max = 0;
        double u_min = 2.0, u_max = -1.0;
        for (size_t k = 0; k < n; k++) {
            n_val += (size_t)c[k].is_val;
            double u = split_u(cfg->seed, k);
            if (u < u_min) u_min = u, i_min = k;
            if (u > u_max) u_max = u, i_max = k;
        }
        if (n_val == 0) c[i_min].is_val = 1;
        if (n_val == n) c[i_max].is_val = 0;
    }
    *chunks = c;
    *n_chunks = n;
    return 0;
}

/* Appends the tokens of one chunk to dst with tokenizer t. */
static int encode_chunk(const qd_tokenizer *t, const char *text, size_t len, qd_tokens *dst, size_t *cap, char *err,
                        size_t errlen) {
    qd_ids ids = {dst->tok, dst->n, *cap};
    int rc = qd_tokenizer_encode(t, text, len, 0, &ids, err, errlen);
    dst->tok = ids.v;
    dst->n = ids.n;
    *cap = ids.cap;
    dst->bytes += len;
    return rc;
}

int qd_split_text(const char *text, size_t len, const qd_split_cfg *cfg, qd_tokens *train,
                  qd_tokens *val, char *err, size_t errlen) {
    memset(train, 0, sizeof *train);
    memset(val, 0, sizeof *val);
    qd_chunk *c;
    size_t n;
    if (qd_split_plan(text, len, cfg, &c, &n, err, errlen)) return -1;
    if (cfg->tok && qd_tokenizer_kind(cfg->tok) != QD_TOK_BYTE) {
        size_t cap[2] = {0, 0};
        for (size_t k = 0; k < n; k++)
            if (encode_chunk(cfg->tok, text + c[k].start, c[k].len, c[k].is_val ? val : train, &cap[c[k].is_val],
                             err, errlen)) {
                free(c);
                qd_tokens_free(train);
                qd_tokens_free(val);
                return -1;
            }
        free(c);
        return 0;
    }
    size_t n_val = 0;
    for (size_t k = 0; k < n; k++)
        if (c[k].is_val) n_val += c[k].len;
    size_t n_train = len - n_val;
    train->tok = malloc((n_train ? n_train : 1) * sizeof(int32_t));
    val->tok = malloc((n_val ? n_val : 1) * sizeof(int32_t));
    if (!train->tok || !val->tok) {
        free(c);
        qd_tokens_free(train);
        qd_tokens_free(val);
        qt_set_err(err, errlen, "split: out of memory for %zu tokens", len);
        return -1;
    }
    for (size_t k = 0; k < n; k++) {
        qd_tokens *dst = c[k].is_val ? val : train;
        qd_tok_encode(text + c[k].start, c[k].len, dst->tok + dst->n);
        dst->n += c[k].len;
    }
    free(c);
    return 0;
}

double qd_tokens_bytes_per_token(const qd_tokens *t) {
    return t->bytes && t->n ? (double)t->bytes / (double)t->n : 1.0;
}

uint64_t qd_tokenizer_hash(const qd_tokenizer *t) {
    if (!t || qd_tokenizer_kind(t) == QD_TOK_BYTE) return 0;
    qd_vocab_view v;
    qd_tokenizer_vocab_view(t, &v);
    uint64_t h = 1469598103934665603ULL;
#define MIX(p, n) (h = h * 1099511628211ULL ^ qd_fnv1a64((p), (n)))
    int32_t head[8] = {(int32_t)qd_tokenizer_kind(t), v.n, v.n_merges, v.bos, v.eos, v.unk, v.add_bos, v.add_eos};
    MIX(head, sizeof head);
    if (v.model) MIX(v.model, strlen(v.model));
    if (v.pre) MIX(v.pre, strlen(v.pre));
    for (int i = 0; i < v.n; i++) {
        MIX(v.tokens[i], strlen(v.tokens[i]) + 1);
        if (v.types) MIX(&v.types[i], sizeof v.types[i]);
    }
    for (int i = 0; i < v.n_merges; i++) MIX(v.merges[i], strlen(v.merges[i]) + 1);
#undef MIX
    return h ? h : 1;
}

/* ---------------------------------------------------------------- HDF5 */

/* The token file is a bare store file (store/h5store.h): one deflated int32
 * array "tokens" carrying the provenance as scalar attributes. */
#define TOKENS "tokens"

int qd_tokens_save_h5(const char *path, const qd_tokens *t, const qd_token_meta *meta,
                      char *err, size_t errlen) {
    qd_token_meta zero;
    memset(&zero, 0, sizeof zero);
    if (!meta) meta = &zero;
    qt_h5w *w = qt_h5w_open_bare(path, err, errlen);
    if (!w) return -1;
    if (qt_h5w_i32_deflate(w, TOKENS, t->n, t->tok) ||
        qt_h5w_attr_i32(w, TOKENS, "format_version", 1) ||
        qt_h5w_attr_i32(w, TOKENS, "vocab", meta->vocab > 0 ? meta->vocab : QD_VOCAB) ||
        qt_h5w_attr_i32(w, TOKENS, "part", meta->part) ||
        qt_h5w_attr_u64(w, TOKENS, "source_size", meta->source_size) ||
        qt_h5w_attr_i64(w, TOKENS, "source_mtime_ns", meta->source_mtime_ns) ||
        qt_h5w_attr_u64(w, TOKENS, "source_hash", meta->source_hash) ||
        qt_h5w_attr_u64(w, TOKENS, "split_seed", meta->split_seed) ||
        qt_h5w_attr_u64(w, TOKENS, "chunk_bytes", meta->chunk_bytes) ||
        qt_h5w_attr_double(w, TOKENS, "val_fraction", meta->val_fraction) ||
        (meta->tokenizer_hash && (qt_h5w_attr_u64(w, TOKENS, "tokenizer_hash", meta->tokenizer_hash) ||
                                  qt_h5w_attr_u64(w, TOKENS, "text_bytes", meta->text_bytes)))) {
        qt_set_err(err, errlen, "%s", qt_h5w_error(w));
        qt_h5w_abort(w);
        return -1;
    }
    return qt_h5w_commit(w, err, errlen);
}

/* Checks that "tokens" is a 1-D int32 array; the message names the file. */
static int check_tokens_entry(const qt_h5r *r, const char *path, char *err, size_t errlen) {
    qt_h5_kind k = qt_h5r_kind(r, TOKENS);
    int rank = qt_h5r_ndim(r, TOKENS);
    if (k == QT_H5_NONE || (k == QT_H5_OTHER && rank == 0))
        qt_set_err(err, errlen, "%s: no dataset \"tokens\" (expected a qatc token file)", path);
    else if (rank != 1)
        qt_set_err(err, errlen, "%s: dataset \"tokens\" has rank %d, expected 1", path, rank);
    else if (k == QT_H5_I64 || k == QT_H5_U64)
        qt_set_err(err, errlen, "%s: dataset \"tokens\" is a %s, expected an int32 array", path,
                   qt_h5_kind_name(k));
    else if (k != QT_H5_I32)
        qt_set_err(err, errlen, "%s: dataset \"tokens\" is not an integer array (expected int32)", path);
    else
        return 0;
    return -1;
}

int qd_tokens_load_h5(const char *path, qd_tokens *t, qd_token_meta *meta, char *err,
                      size_t errlen) {
    memset(t, 0, sizeof *t);
    if (meta) memset(meta, 0, sizeof *meta);
    qt_h5r *r = qt_h5r_open_bare(path, "an HDF5 token file with dataset \"tokens\"", err, errlen);
    if (!r) return -1;
    int rc = -1;
    if (check_tokens_entry(r, path, err, errlen)) goto done;
    if (qt_h5r_i32_alloc(r, TOKENS, &t->tok, &t->n)) {
        qt_set_err(err, errlen, "%s", qt_h5r_error(r));
        goto done;
    }
    int32_t vocab = QD_VOCAB;
    if (qt_h5r_attr_i32(r, TOKENS, "vocab", &vocab) == 0 && vocab < 1) vocab = QD_VOCAB;
    for (size_t i = 0; i < t->n; i++) {
        if (t->tok[i] < 0 || t->tok[i] >= vocab) {
            if (vocab == QD_VOCAB)
                qt_set_err(err, errlen, "%s: token %zu is %d, expected a byte token in [0, %d)", path, i,
                           (int)t->tok[i], QD_VOCAB);
            else
                qt_set_err(err, errlen, "%s: token %zu is %d, expected a token in [0, %d) (attribute vocab)", path,
                           i, (int)t->tok[i], (int)vocab);
            goto done;
        }
    }
    /* provenance: a missing or malformed attribute leaves its field 0 */
    if (meta) {
        qt_h5r_attr_i32(r, TOKENS, "part", &meta->part);
        qt_h5r_attr_u64(r, TOKENS, "source_size", &meta->source_size);
        qt_h5r_attr_i64(r, TOKENS, "source_mtime_ns", &meta->source_mtime_ns);
        qt_h5r_attr_u64(r, TOKENS, "source_hash", &meta->source_hash);
        qt_h5r_attr_u64(r, TOKENS, "split_seed", &meta->split_seed);
        qt_h5r_attr_u64(r, TOKENS, "chunk_bytes", &meta->chunk_bytes);
        qt_h5r_attr_double(r, TOKENS, "val_fraction", &meta->val_fraction);
        qt_h5r_attr_u64(r, TOKENS, "tokenizer_hash", &meta->tokenizer_hash);
        meta->vocab = vocab;
    }
    uint64_t text_bytes = 0;
    qt_h5r_attr_u64(r, TOKENS, "text_bytes", &text_bytes);
    t->bytes = (size_t)text_bytes;
    if (meta) meta->text_bytes = text_bytes;
    rc = 0;
done:
    qt_h5r_close(r);
    if (rc != 0) qd_tokens_free(t);
    return rc;
}

/* ---------------------------------------------------------------- text */

void qd_text_free(qd_text_data *d) {
    if (!d) return;
    qd_tokens_free(&d->train);
    qd_tokens_free(&d->val);
}

static int meta_matches(const qd_token_meta *a, const qd_token_meta *b, int32_t part) {
    return a->part == part && a->source_size == b->source_size &&
           a->source_hash == b->source_hash && a->split_seed == b->split_seed &&
           a->chunk_bytes == b->chunk_bytes && a->val_fraction == b->val_fraction &&
           a->tokenizer_hash == b->tokenizer_hash;
}

int qd_text_load(const char *path, const qd_split_cfg *cfg, const char *cache_prefix,
                 qd_text_data *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    qd_split_cfg def = qd_split_default();
    if (!cfg) cfg = &def;
    if (check_split_cfg(cfg, err, errlen)) return -1;
    char *text;
    size_t len;
    if (qt_read_file(path, &text, &len, err, errlen)) return -1;
    struct stat st;
    qd_token_meta m;
    memset(&m, 0, sizeof m);
    if (stat(path, &st) == 0)
        m.source_mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    m.source_size = len;
    m.source_hash = qd_fnv1a64(text, len);
    m.split_seed = cfg->seed;
    m.chunk_bytes = cfg->chunk_bytes;
    m.val_fraction = cfg->val_fraction;
    m.part = QD_PART_ALL;
    m.vocab = cfg->tok ? qd_tokenizer_vocab(cfg->tok) : QD_VOCAB;
    m.tokenizer_hash = qd_tokenizer_hash(cfg->tok);
    out->meta = m;

    char ptrain[4096], pval[4096];
    if (cache_prefix) {
        if ((size_t)snprintf(ptrain, sizeof ptrain, "%s.train.h5", cache_prefix) >= sizeof ptrain ||
            (size_t)snprintf(pval, sizeof pval, "%s.val.h5", cache_prefix) >= sizeof pval) {
            free(text);
            qt_set_err(err, errlen, "%s: cache prefix too long", cache_prefix);
            return -1;
        }
        qd_token_meta mt, mv;
        char e2[256]; /* a cache that does not load is rebuilt, not an error */
        if (qd_tokens_load_h5(ptrain, &out->train, &mt, e2, sizeof e2) == 0 &&
            qd_tokens_load_h5(pval, &out->val, &mv, e2, sizeof e2) == 0 &&
            meta_matches(&mt, &m, QD_PART_TRAIN) && meta_matches(&mv, &m, QD_PART_VAL) &&
            (m.tokenizer_hash ? mt.text_bytes + mv.text_bytes == len : out->train.n + out->val.n == len)) {
            out->from_cache = 1;
            free(text);
            return 0;
        }
        qd_text_free(out); /* stale or missing: rebuild */
    }
    char e2[256];
    int rc = qd_split_text(text, len, cfg, &out->train, &out->val, e2, sizeof e2);
    free(text);
    if (rc) {
        /* name the file: the split's own message does not know it */
        qt_set_err(err, errlen, "%s: %s", path, e2);
        return -1;
    }
    if (cache_prefix) {
        qd_token_meta mt = m, mv = m;
        mt.part = QD_PART_TRAIN;
        mv.part = QD_PART_VAL;
        mt.text_bytes = out->train.bytes;
        mv.text_bytes = out->val.bytes;
        if (qd_tokens_save_h5(ptrain, &out->train, &mt, err, errlen) ||
            qd_tokens_save_h5(pval, &out->val, &mv, err, errlen)) {
            qd_text_free(out);
            return -1;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- windows */

size_t qd_tokens_n_windows(const qd_tokens *t, int T) {
    if (T <= 0 || t->n < (size_t)T + 1) return 0;
    return (t->n - 1) / (size_t)T;
}

void qd_tokens_window(const qd_tokens *t, size_t i, int T, int32_t *x, int32_t *y) {
    const int32_t *p = t->tok + i * (size_t)T;
    memcpy(x, p, (size_t)T * sizeof(int32_t));
    memcpy(y, p + 1, (size_t)T * sizeof(int32_t));
}

/* ---------------------------------------------------------------- mixture */

void qd_mix_init(qd_mix *m) {
    memset(m, 0, sizeof *m);
    m->vocab = QD_VOCAB;
}

void qd_mix_free(qd_mix *m) {
    if (!m) return;
    for (int i = 0; i < m->n_src; i++) {
        free(m->src[i].tok);
        free(m->src[i].starts);
    }
    free(m->src);
    memset(m, 0, sizeof *m);
}

int qd_mix_add(qd_mix *m, const char *name, const int32_t *tok, size_t n, const size_t *starts,
               size_t n_starts, double weight, char *err, size_t errlen) {
    if (!name) name = "?";
    if (n == 0) {
        qt_set_err(err, errlen, "mixture: source \"%s\" is empty, expected tokens", name);
        return -1;
    }
    if (!(weight >= 0.0) || isinf(weight)) {
        qt_set_err(err, errlen, "mixture: source \"%s\" has weight %g, expected >= 0", name,
                   weight);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (tok[i] < 0 || tok[i] >= m->vocab) {
            qt_set_err(err, errlen,
                       "mixture: source \"%s\" token %zu is %d, expected [0, %d)", name, i,
                     (int)tok[i], m->vocab);
            return -1;
        }
    }
    if (starts) {
        if (n_starts == 0) {
            qt_set_err(err, errlen, "mixture: source \"%s\" has an empty start list", name);
            return -1;
        }
        for (size_t i = 0; i < n_starts; i++) {
            if (starts[i] >= n || (i > 0 && starts[i] <= starts[i - 1])) {
                qt_set_err(err, errlen,
                           "mixture: source \"%s\" start %zu is %zu, expected ascending and < %zu",
                           name, i, starts[i], n);
                return -1;
            }
        }
    }
    if (m->n_src == m->cap) {
        int cap = m->cap ? 2 * m->cap : 4;
        qd_source *ns = realloc(m->src, (size_t)cap * sizeof *ns);
        if (!ns) {
            qt_set_err(err, errlen, "mixture: out of memory");
            return -1;
        }
        m->src = ns;
        m->cap = cap;
    }
    qd_source *s = &m->src[m->n_src];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->tok = malloc(n * sizeof(int32_t));
    s->starts = starts ? malloc(n_starts * sizeof(size_t)) : NULL;
    if (!s->tok || (starts && !s->starts)) {
        free(s->tok);
        free(s->starts);
        qt_set_err(err, errlen, "mixture: out of memory copying \"%s\"", name);
        return -1;
    }
    memcpy(s->tok, tok, n * sizeof(int32_t));
    if (starts) memcpy(s->starts, starts, n_starts * sizeof(size_t));
    s->n = n;
    s->n_starts = starts ? n_starts : 0;
    s->weight = weight;
    m->n_src++;
    return 0;
}

/* Number of allowed starts s with s + T + 1 <= n (starts ascending). */
static size_t usable_starts(const qd_source *s, int T) {
    if (s->n < (size_t)T + 1) return 0;
    size_t maxs = s->n - (size_t)T - 1;
    if (!s->starts) return maxs + 1;
    size_t lo = 0, hi = s->n_starts; /* first index with starts[i] > maxs */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->starts[mid] <= maxs) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

int qd_mix_batch(const qd_mix *m, int B, int T, qrng *rng, int32_t *x, int32_t *y,
                 int *src_of_row, char *err, size_t errlen) {
    if (B <= 0 || T <= 0) {
        qt_set_err(err, errlen, "batch: B=%d T=%d, expected both >= 1", B, T);
        return -1;
    }
    double total = 0.0;
    for (int i = 0; i < m->n_src; i++) {
        const qd_source *s = &m->src[i];
        if (s->weight <= 0.0) continue;
        if (usable_starts(s, T) == 0) {
            qt_set_err(err, errlen,
                       "batch: source \"%s\" has %zu tokens%s, expected a window of T+1 = %d",
                       s->name, s->n, s->starts ? " (counting from its allowed starts)" : "",
                       T + 1);
            return -1;
        }
        total += s->weight;
    }
    if (!(total > 0.0)) {
        qt_set_err(err, errlen, "batch: the mixture has no source with weight > 0");
        return -1;
    }
    for (int b = 0; b < B; b++) {
        double u = qrng_uniform_d(rng) * total, acc = 0.0;
        int pick = -1;
        for (int i = 0; i < m->n_src; i++) {
            if (m->src[i].weight <= 0.0) continue;
            pick = i; /* the last weighted source absorbs rounding at the top end */
            acc += m->src[i].weight;
            if (u < acc) break;
        }
        const qd_source *s = &m->src[pick];
        size_t k = (size_t)qrng_below(rng, usable_starts(s, T));
        size_t st = s->starts ? s->starts[k] : k;
        memcpy(x + (size_t)b * T, s->tok + st, (size_t)T * sizeof(int32_t));
        memcpy(y + (size_t)b * T, s->tok + st + 1, (size_t)T * sizeof(int32_t));
        if (src_of_row) src_of_row[b] = pick;
    }
    return 0;
}
