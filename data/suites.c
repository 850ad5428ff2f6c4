/* Capability suites: arith, recall, user JSONL/TSV files; see suites.h. */
#include "data/suites.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/files.h"

/* ---------------------------------------------------------------- helpers */

static char *dup_n(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* A copy of answer that ends in '\n'. */
static char *dup_answer(const char *a) {
    size_t n = strlen(a);
    int add = n == 0 || a[n - 1] != '\n';
    char *p = malloc(n + (size_t)add + 1);
    if (p) {
        memcpy(p, a, n);
        if (add) p[n++] = '\n';
        p[n] = '\0';
    }
    return p;
}

void qd_eval_item_free(qd_eval_item *it) {
    if (!it) return;
    free(it->prompt);
    free(it->answer);
    it->prompt = it->answer = NULL;
}

void qd_eval_set_free(qd_eval_set *set) {
    if (!set) return;
    for (size_t i = 0; i < set->n; i++) qd_eval_item_free(&set->items[i]);
    free(set->items);
    memset(set, 0, sizeof *set);
}

/* Appends an item, taking ownership of its strings (freed on error). */
static int set_push_owned(qd_eval_set *set, qd_eval_item it, char *err, size_t errlen) {
    if (!it.prompt || !it.answer) {
        qd_eval_item_free(&it);
        qt_set_err(err, errlen, "suite: out of memory");
        return -1;
    }
    if (set->n == set->cap) {
        size_t cap = set->cap ? 2 * set->cap : 16;
        qd_eval_item *ni = realloc(set->items, cap * sizeof *ni);
        if (!ni) {
            qd_eval_item_free(&it);
            qt_set_err(err, errlen, "suite: out of memory");
            return -1;
        }
        set->items = ni;
        set->cap = cap;
    }
    set->items[set->n++] = it;
    return 0;
}

int qd_eval_set_add(qd_eval_set *set, const char *prompt, const char *answer,
                    char *err, size_t errlen) {
    qd_eval_item it = {dup_n(prompt, strlen(prompt)), dup_n(answer, strlen(answer))};
    return set_push_owned(set, it, err, errlen);
}

/* A growable byte buffer. */
typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static int sb_put(sbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->n + n + 1 > cap) cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) return -1;
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 0;
}

static int ndigits(long long v) {
    int d = 1;
    while (v >= 10) v /= 10, d++;
    return d;
}

/* ---------------------------------------------------------------- config */

qd_arith_cfg qd_arith_default(void) {
    qd_arith_cfg c = {1, 4, 0};
    return c;
}

qd_recall_cfg qd_recall_default(void) {
    qd_recall_cfg c = {200, 100, 1000};
    return c;
}

/* Bytes of the longest "kK=vV;" pair, "?kK=" query and "vV\n" answer. */
static void recall_max_lens(const qd_recall_cfg *c, int *pair, int *query, int *answer) {
    int kd = ndigits(c->n_keys - 1), vd = ndigits(c->n_values - 1);
    *pair = kd + vd + 4;
    *query = kd + 3;
    *answer = vd + 2;
}

int qd_suite_arith(qd_suite *s, const qd_arith_cfg *cfg, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    qd_arith_cfg c = cfg ? *cfg : qd_arith_default();
    if (c.min_digits < 1 || c.max_digits > 18 || c.min_digits > c.max_digits) {
        qt_set_err(err, errlen,
                   "suite arith: digits %d..%d, expected 1 <= min_digits <= max_digits <= 18",
                   c.min_digits, c.max_digits);
        return -1;
    }
    if (c.subtraction != 0 && c.subtraction != 1) {
        qt_set_err(err, errlen, "suite arith: subtraction is %d, expected 0 or 1",
                   c.subtraction);
        return -1;
    }
    snprintf(s->name, sizeof s->name, "arith");
    s->kind = QD_SUITE_ARITH;
    s->arith = c;
    return 0;
}

int qd_suite_recall(qd_suite *s, const qd_recall_cfg *cfg, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    qd_recall_cfg c = cfg ? *cfg : qd_recall_default();
    if (c.n_keys < 2 || c.n_keys > 1000000) {
        qt_set_err(err, errlen, "suite recall: n_keys is %d, expected 2..1000000", c.n_keys);
        return -1;
    }
    if (c.n_values < 1 || c.n_values > 1000000000) {
        qt_set_err(err, errlen, "suite recall: n_values is %d, expected 1..1000000000",
                   c.n_values);
        return -1;
    }
    int mp, mq, ma;
    recall_max_lens(&c, &mp, &mq, &ma);
    if (c.ctx_bytes < mp + mq + ma || c.ctx_bytes > 1000000) {
        qt_set_err(err, errlen,
                   "suite recall: ctx_bytes is %d, expected %d..1000000 (one pair, the query "
                   "and the answer must fit)",
                   c.ctx_bytes, mp + mq + ma);
        return -1;
    }
    snprintf(s->name, sizeof s->name, "recall");
    s->kind = QD_SUITE_RECALL;
    s->recall = c;
    return 0;
}

void qd_suite_free(qd_suite *s) {
    if (!s) return;
    qd_eval_set_free(&s->file);
}

/* ---------------------------------------------------------------- files */

/* Base name of path without its extension. */
static void base_name(const char *path, char *out, size_t cap) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    const char *dot = strrchr(b, '.');
    size_t n = dot && dot != b ? (size_t)(dot - b) : strlen(b);
    if (n >= cap) n = cap - 1;
    memcpy(out, b, n);
    out[n] = '\0';
}

static int is_blank(const char *s) {
    for (; *s; s++)
        if (!isspace((unsigned char)*s)) return 0;
    return 1;
}

static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

#define JSONL_SHAPE "{\"prompt\": \"...\", \"answer\": \"...\"}"

/* Parses one JSONL line into an item. */
static int parse_jsonl_line(const char *path, size_t lineno, const char *line, qd_eval_item *it,
                            char *err, size_t errlen) {
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithOpts(line, &end, 1);
    if (!j) {
        size_t col = end ? (size_t)(end - line) + 1 : 1;
        qt_set_err(err, errlen, "%s:%zu: malformed JSON near column %zu; expected %s", path,
                   lineno, col, JSONL_SHAPE);
        return -1;
    }
    int rc = -1;
    if (!cJSON_IsObject(j)) {
        qt_set_err(err, errlen, "%s:%zu: not a JSON object; expected %s", path, lineno,
                   JSONL_SHAPE);
        goto out;
    }
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "prompt");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "answer");
    if (!cJSON_IsString(p) || !cJSON_IsString(a)) {
        qt_set_err(err, errlen, "%s:%zu: missing or non-string \"%s\"; expected %s", path,
                   lineno, !cJSON_IsString(p) ? "prompt" : "answer", JSONL_SHAPE);
        goto out;
    }
    if (!p->valuestring[0] || !a->valuestring[0]) {
        qt_set_err(err, errlen, "%s:%zu: empty \"%s\"; expected a non-empty string", path,
                   lineno, !p->valuestring[0] ? "prompt" : "answer");
        goto out;
    }
    it->prompt = dup_n(p->valuestring, strlen(p->valuestring));
    it->answer = dup_answer(a->valuestring);
    rc = 0;
out:
    cJSON_Delete(j);
    return rc;
}

/* Parses one "prompt<TAB>answer" line into an item. */
static int parse_tsv_line(const char *path, size_t lineno, const char *line, qd_eval_item *it,
                          char *err, size_t errlen) {
    const char *tab = strchr(line, '\t');
    if (!tab) {
        qt_set_err(err, errlen, "%s:%zu: no TAB; expected \"prompt<TAB>answer\"", path,
                   lineno);
        return -1;
    }
    if (tab == line || !tab[1]) {
        qt_set_err(err, errlen, "%s:%zu: empty %s; expected \"prompt<TAB>answer\"", path,
                   lineno, tab == line ? "prompt" : "answer");
        return -1;
    }
    it->prompt = dup_n(line, (size_t)(tab - line));
    it->answer = dup_answer(tab + 1);
    return 0;
}

int qd_suite_load_file(qd_suite *s, const char *path, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    char *buf;
    size_t len;
    if (qt_read_file(path, &buf, &len, err, errlen)) return -1;
    int jsonl = ends_with(path, ".jsonl");
    size_t lineno = 0;
    char *line = buf;
    int rc = 0;
    while (line < buf + len) {
        lineno++;
        char *nl = memchr(line, '\n', (size_t)(buf + len - line));
        char *next = nl ? nl + 1 : buf + len;
        if (nl) *nl = '\0';
        size_t ll = strlen(line);
        if (ll > 0 && line[ll - 1] == '\r') line[--ll] = '\0';
        if (!is_blank(line)) {
            qd_eval_item it = {NULL, NULL};
            rc = jsonl ? parse_jsonl_line(path, lineno, line, &it, err, errlen)
                       : parse_tsv_line(path, lineno, line, &it, err, errlen);
            if (rc == 0) rc = set_push_owned(&s->file, it, err, errlen);
            if (rc) break;
        }
        line = next;
    }
    free(buf);
    if (rc == 0 && s->file.n == 0) {
        qt_set_err(err, errlen, "%s: no items; expected one %s per line", path,
                   jsonl ? JSONL_SHAPE : "\"prompt<TAB>answer\"");
        rc = -1;
    }
    if (rc) {
        qd_eval_set_free(&s->file);
        return -1;
    }
    base_name(path, s->name, sizeof s->name);
    s->kind = QD_SUITE_FILE;
    return 0;
}

int qd_suite_open(qd_suite *s, const char *name_or_path, char *err, size_t errlen) {
    if (strcmp(name_or_path, "arith") == 0) return qd_suite_arith(s, NULL, err, errlen);
    if (strcmp(name_or_path, "recall") == 0) return qd_suite_recall(s, NULL, err, errlen);
    return qd_suite_load_file(s, name_or_path, err, errlen);
}

/* ---------------------------------------------------------------- generators */

static long long draw_number(qrng *r, int digits) {
    if (digits == 1) return qrng_range(r, 0, 9);
    long long lo = 1;
    for (int i = 1; i < digits; i++) lo *= 10;
    return qrng_range(r, lo, lo * 10 - 1);
}

static int arith_sample(const qd_arith_cfg *c, qrng *r, qd_eval_item *out) {
    int da = (int)qrng_range(r, c->min_digits, c->max_digits);
    long long a = draw_number(r, da);
    int db = (int)qrng_range(r, c->min_digits, c->max_digits);
    long long b = draw_number(r, db);
    char op = '+';
    if (c->subtraction && qrng_below(r, 2) == 1) {
        op = '-';
        if (a < b) {
            long long t = a;
            a = b;
            b = t;
        }
    }
    long long res = op == '+' ? a + b : a - b;
    char p[64], ans[32];
    snprintf(p, sizeof p, "%lld%c%lld=", a, op, b);
    snprintf(ans, sizeof ans, "%lld\n", res);
    out->prompt = dup_n(p, strlen(p));
    out->answer = dup_n(ans, strlen(ans));
    return out->prompt && out->answer ? 0 : -1;
}

/* One recall item. Evaluation items hold as many pairs as ctx_bytes allows;
 * training items (train = 1) hold 1..that many, uniformly, so that a model
 * first learns to copy a value at all, then to pick it by its key. */
static int recall_sample(const qd_recall_cfg *c, qrng *r, int train, qd_eval_item *out) {
    int mp, mq, ma;
    recall_max_lens(c, &mp, &mq, &ma);
    size_t max_pairs = (size_t)c->ctx_bytes / 6 + 1; /* a pair takes >= 6 bytes */
    if (max_pairs > (size_t)c->n_keys) max_pairs = (size_t)c->n_keys;
    if (train) {
        size_t full = (size_t)(c->ctx_bytes - mq - ma) / (size_t)mp; /* pairs that always fit */
        if (full < 1) full = 1;
        if (full < max_pairs) max_pairs = 1 + (size_t)qrng_below(r, full);
    }
    int *keys = malloc(max_pairs * sizeof(int));
    int *vals = malloc(max_pairs * sizeof(int));
    sbuf b = {NULL, 0, 0};
    int rc = -1;
    if (!keys || !vals) goto out;
    size_t np = 0;
    while (np < max_pairs) {
        int k;
        for (;;) { /* distinct keys */
            k = (int)qrng_below(r, (uint64_t)c->n_keys);
            size_t i = 0;
            while (i < np && keys[i] != k) i++;
            if (i == np) break;
        }
        int v = (int)qrng_below(r, (uint64_t)c->n_values);
        char pair[48];
        int pl = snprintf(pair, sizeof pair, "k%d=v%d;", k, v);
        if ((int)b.n + pl + mq + ma > c->ctx_bytes) break;
        if (sb_put(&b, pair, (size_t)pl)) goto out;
        keys[np] = k;
        vals[np] = v;
        np++;
    }
    if (np == 0) goto out; /* impossible: qd_suite_recall checked that one pair fits */
    size_t q = (size_t)qrng_below(r, np);
    char query[32], ans[32];
    int ql = snprintf(query, sizeof query, "?k%d=", keys[q]);
    snprintf(ans, sizeof ans, "v%d\n", vals[q]);
    if (sb_put(&b, query, (size_t)ql)) goto out;
    out->prompt = b.p;
    b.p = NULL;
    out->answer = dup_n(ans, strlen(ans));
    rc = out->answer ? 0 : -1;
out:
    free(b.p);
    free(keys);
    free(vals);
    return rc;
}

static int suite_sample(const qd_suite *s, qrng *rng, int train, qd_eval_item *out, char *err,
                        size_t errlen) {
    out->prompt = out->answer = NULL;
    int rc;
    switch (s->kind) {
    case QD_SUITE_ARITH:
        rc = arith_sample(&s->arith, rng, out);
        break;
    case QD_SUITE_RECALL:
        rc = recall_sample(&s->recall, rng, train, out);
        break;
    case QD_SUITE_FILE:
        if (s->file.n == 0) {
            qt_set_err(err, errlen, "suite %s: has no items", s->name);
            return -1;
        }
        {
            const qd_eval_item *it = &s->file.items[qrng_below(rng, s->file.n)];
            out->prompt = dup_n(it->prompt, strlen(it->prompt));
            out->answer = dup_n(it->answer, strlen(it->answer));
            rc = out->prompt && out->answer ? 0 : -1;
        }
        break;
    default:
        qt_set_err(err, errlen, "suite \"%s\": unknown kind %d (not initialised?)", s->name,
                   s->kind);
        return -1;
    }
    if (rc) {
        qd_eval_item_free(out);
        qt_set_err(err, errlen, "suite %s: out of memory", s->name);
    }
    return rc;
}

int qd_suite_sample(const qd_suite *s, qrng *rng, qd_eval_item *out, char *err, size_t errlen) {
    return suite_sample(s, rng, 0, out, err, errlen);
}

int qd_suite_eval_set(const qd_suite *s, uint64_t seed, size_t n, qd_eval_set *out,
                      char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (s->kind == QD_SUITE_FILE) {
        size_t m = n == 0 || n > s->file.n ? s->file.n : n;
        for (size_t i = 0; i < m; i++) {
            if (qd_eval_set_add(out, s->file.items[i].prompt, s->file.items[i].answer, err, errlen)) {
                qd_eval_set_free(out);
                return -1;
            }
        }
        return 0;
    }
    qrng r;
    qrng_seed_stream(&r, seed, QD_STREAM_EVAL);
    for (size_t i = 0; i < n; i++) {
        qd_eval_item it;
        if (qd_suite_sample(s, &r, &it, err, errlen) || set_push_owned(out, it, err, errlen)) {
            qd_eval_set_free(out);
            return -1;
        }
    }
    return 0;
}

/* qd_suite_train_text, and with astarts non-NULL also the byte offset of
 * every item's answer (*astarts, n_starts entries). */
static int train_text(const qd_suite *s, uint64_t seed, size_t min_bytes, char **text, size_t *len, size_t **starts,
                      size_t **astarts, size_t *n_starts, char *err, size_t errlen) {
    *text = NULL;
    *len = 0;
    if (starts) *starts = NULL;
    if (astarts) *astarts = NULL;
    if (n_starts) *n_starts = 0;
    qrng r;
    qrng_seed_stream(&r, seed, QD_STREAM_TRAIN);
    sbuf b = {NULL, 0, 0};
    size_t *st = NULL, *ast = NULL, nst = 0, cst = 0;
    do {
        qd_eval_item it;
        if (suite_sample(s, &r, 1, &it, err, errlen)) goto fail;
        if (starts || astarts) {
            if (nst == cst) {
                cst = cst ? 2 * cst : 1024;
                size_t *ns = realloc(st, cst * sizeof *ns), *na = ns ? realloc(ast, cst * sizeof *na) : NULL;
                if (ns) st = ns;
                if (na) ast = na;
                if (!ns || !na) {
                    qd_eval_item_free(&it);
                    goto oom;
                }
            }
            st[nst] = b.n;
            ast[nst++] = b.n + strlen(it.prompt);
        }
        int e = sb_put(&b, it.prompt, strlen(it.prompt)) ||
                sb_put(&b, it.answer, strlen(it.answer));
        qd_eval_item_free(&it);
        if (e) goto oom;
    } while (b.n < min_bytes);
    *text = b.p;
    *len = b.n;
    if (starts) *starts = st;
    else free(st);
    if (astarts) *astarts = ast;
    else free(ast);
    if (n_starts) *n_starts = nst;
    return 0;
oom:
    qt_set_err(err, errlen, "suite %s: out of memory building %zu bytes of training text",
               s->name, min_bytes);
fail:
    free(b.p);
    free(st);
    free(ast);
    return -1;
}

int qd_suite_train_text(const qd_suite *s, uint64_t seed, size_t min_bytes, char **text,
                        size_t *len, size_t **starts, size_t *n_starts, char *err, size_t errlen) {
    return train_text(s, seed, min_bytes, text, len, starts, NULL, n_starts, err, errlen);
}

/* Tokens of the training text item by item, the prompt encoded on its own
 * and the answer as its continuation (qd_tokenizer_encode_pair; as
 * evaluation and llama.cpp's text path see them: the prompt is tokenized,
 * the answer generated after it), with BOS first when the
 * tokenizer adds one to prompts; tok_starts gets every item's token offset. */
static int encode_items(const qd_tokenizer *t, const char *text, size_t len, const size_t *starts,
                        const size_t *astarts, size_t n_starts, qd_ids *ids, size_t *tok_starts, char *err,
                        size_t errlen) {
    int bos = qd_tokenizer_add_bos(t) ? qd_tokenizer_bos(t) : -1;
    for (size_t i = 0; i < n_starts; i++) {
        size_t end = i + 1 < n_starts ? starts[i + 1] : len;
        tok_starts[i] = ids->n;
        if ((bos >= 0 && qd_ids_push(ids, bos, err, errlen)) ||
            qd_tokenizer_encode_pair(t, text + starts[i], astarts[i] - starts[i], text + astarts[i], end - astarts[i],
                                     ids, ids, err, errlen))
            return -1;
    }
    return 0;
}

int qd_mix_add_suite(qd_mix *m, const qd_suite *s, uint64_t seed, size_t min_bytes,
                     double weight, const qd_tokenizer *tok, char *err, size_t errlen) {
    char *text;
    size_t len, *starts, *astarts = NULL, n_starts;
    int bytes = !tok || qd_tokenizer_kind(tok) == QD_TOK_BYTE;
    if (train_text(s, seed, min_bytes, &text, &len, &starts, bytes ? NULL : &astarts, &n_starts, err, errlen))
        return -1;
    int rc;
    if (bytes) {
        int32_t *ids = NULL;
        rc = qd_tok_encode_alloc(text, len, &ids, err, errlen);
        if (rc == 0) rc = qd_mix_add(m, s->name, ids, len, starts, n_starts, weight, err, errlen);
        free(ids);
    } else {
        qd_ids ids = {0};
        size_t *tstarts = malloc((n_starts ? n_starts : 1) * sizeof *tstarts);
        rc = tstarts ? encode_items(tok, text, len, starts, astarts, n_starts, &ids, tstarts, err, errlen) : -1;
        if (!tstarts) qt_set_err(err, errlen, "suite %s: out of memory", s->name);
        if (rc == 0) rc = qd_mix_add(m, s->name, ids.v, ids.n, tstarts, n_starts, weight, err, errlen);
        qd_ids_free(&ids);
        free(tstarts);
    }
    free(text);
    free(starts);
    free(astarts);
    return rc;
}
