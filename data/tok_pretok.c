/* Pre-tokenizers: Split (a PCRE2 regex or literal, HF's five delimiter
 * behaviours, invert), ByteLevel (prefix space, GPT-2's regex, the
 * byte-to-unicode map) and Metaspace (U+2581, prepend scheme, split), applied
 * in order as Hugging Face tokenizers does (see data/tok_impl.h). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "data/tok_impl.h"

const char *const QK_RE_GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const char *const QK_RE_LLAMA3 =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
    "\\s+(?!\\S)|\\s+";
const char *const QK_RE_QWEN2 =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
    "\\s+(?!\\S)|\\s+";

int qk_pre_compile(qk_pre *p, char *err, size_t errlen) {
    const char *pat = p->kind == QK_PRE_BYTELEVEL ? QK_RE_GPT2 : p->pattern;
    int ec;
    PCRE2_SIZE eo;
    /* the pattern comes from a file: PCRE2 checks that it is valid UTF-8 (with
       PCRE2_NO_UTF_CHECK an invalid one is undefined behaviour: a fuzzed
       tokenizer.json crashed pcre2_compile); subjects are sanitized before
       matching and skip the check there */
    uint32_t opt = PCRE2_UTF | PCRE2_UCP | (p->literal ? PCRE2_LITERAL : 0);
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, opt, &ec, &eo, NULL);
    if (!c) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(ec, msg, sizeof msg);
        qt_set_err(err, errlen, "regex at offset %zu: %s", (size_t)eo, (const char *)msg);
        return -1;
    }
    p->code = c;
    p->jit = pcre2_jit_compile(c, PCRE2_JIT_COMPLETE) == 0;
    return 0;
}

void qk_pre_free(qk_pre *p) {
    if (p->code) pcre2_code_free((pcre2_code *)p->code);
    free(p->pattern);
    memset(p, 0, sizeof *p);
}

/* ---- pieces ---- */
typedef struct piece {
    size_t off, len;
    int at_start;
} piece;
typedef struct plist {
    piece *v;
    size_t n, cap;
} plist;

static int pl_push(plist *l, size_t off, size_t len, int at_start) {
    if (!len) return 0;
    if (qk_grow((void **)&l->v, l->n, &l->cap, sizeof *l->v)) return -1;
    l->v[l->n++] = (piece){off, len, at_start};
    return 0;
}

/* matches as (start, end, is_match) covering a piece */
typedef struct span {
    size_t a, b;
    int m;
} span;
typedef struct slist {
    span *v;
    size_t n, cap;
} slist;

static int sl_push(slist *l, size_t a, size_t b, int m) {
    if (qk_grow((void **)&l->v, l->n, &l->cap, sizeof *l->v)) return -1;
    l->v[l->n++] = (span){a, b, m};
    return 0;
}

/* Matches of p in s[0..n) as a covering list of spans (HF's find_matches). */
static int find_matches(const qk_pre *p, pcre2_match_data *md, const char *s, size_t n, slist *out, char *err,
                        size_t errlen) {
    out->n = 0;
    size_t start = 0, prev = 0;
    const pcre2_code *code = p->code;
    while (start <= n) {
        int rc = p->jit ? pcre2_jit_match(code, (PCRE2_SPTR)s, n, start, 0, md, NULL) : PCRE2_ERROR_JIT_STACKLIMIT;
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
            rc = pcre2_match(code, (PCRE2_SPTR)s, n, start, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(rc, msg, sizeof msg);
            qt_set_err(err, errlen, "tokenizer: pre-tokenizer regex: %s", (const char *)msg);
            return -1;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        if (ms > prev && sl_push(out, prev, ms, 0)) goto oom;
        if (me > ms) {
            if (sl_push(out, ms, me, 1)) goto oom;
            prev = me;
            start = me;
        } else {
            prev = ms;
            if (ms >= n) break;
            uint32_t cp;
            int k = qk_utf8_next((const unsigned char *)s + ms, n - ms, &cp);
            start = ms + (size_t)(k ? k : 1);
        }
    }
    if (prev < n && sl_push(out, prev, n, 0)) goto oom;
    return 0;
oom:
    qt_set_err(err, errlen, "tokenizer: out of memory pre-tokenizing");
    return -1;
}

/* Splits spans by behaviour (HF's SplitDelimiterBehavior) into out pieces at
 * base offset `base` of the text. */
static int apply_behavior(qk_behavior beh, int invert, slist *sp, size_t base, int at_start, plist *out) {
    size_t n0 = out->n;
    if (invert)
        for (size_t i = 0; i < sp->n; i++) sp->v[i].m = !sp->v[i].m;
    /* merge in place per behaviour into a temporary span list (reuse sp) */
    size_t k = 0;
    int prev_m = 0;
    switch (beh) {
    case QK_BEH_REMOVED:
        for (size_t i = 0; i < sp->n; i++)
            if (!sp->v[i].m) sp->v[k++] = sp->v[i];
        break;
    case QK_BEH_ISOLATED:
        k = sp->n;
        break;
    case QK_BEH_MERGED_PREV:
        for (size_t i = 0; i < sp->n; i++) {
            span s = sp->v[i];
            if (s.m && !prev_m && k > 0) sp->v[k - 1].b = s.b;
            else sp->v[k++] = s;
            prev_m = s.m;
        }
        break;
    case QK_BEH_MERGED_NEXT:
        /* right to left: a match joins the piece after it */
        k = sp->n;
        {
            size_t w = sp->n; /* write from the end */
            for (size_t i = sp->n; i-- > 0;) {
                span s = sp->v[i];
                if (s.m && !prev_m && w < sp->n) sp->v[w].a = s.a;
                else sp->v[--w] = s;
                prev_m = s.m;
            }
            memmove(sp->v, sp->v + w, (sp->n - w) * sizeof *sp->v);
            k = sp->n - w;
        }
        break;
    case QK_BEH_CONTIGUOUS:
        for (size_t i = 0; i < sp->n; i++) {
            span s = sp->v[i];
            if (s.m == prev_m && k > 0) sp->v[k - 1].b = s.b;
            else sp->v[k++] = s;
            prev_m = s.m;
        }
        break;
    }
    for (size_t i = 0; i < k; i++)
        if (pl_push(out, base + sp->v[i].a, sp->v[i].b - sp->v[i].a, at_start && sp->v[i].a == 0)) {
            out->n = n0;
            return -1;
        }
    return 0;
}

/* Occurrences of U+2581 in s as spans (Metaspace split). */
static int find_meta(const char *s, size_t n, slist *out) {
    out->n = 0;
    size_t prev = 0;
    for (size_t i = 0; i + 3 <= n;) {
        if (!memcmp(s + i, "\xE2\x96\x81", 3)) {
            if (i > prev && sl_push(out, prev, i, 0)) return -1;
            if (sl_push(out, i, i + 3, 1)) return -1;
            i += 3;
            prev = i;
        } else
            i++;
    }
    if (prev < n && sl_push(out, prev, n, 0)) return -1;
    return 0;
}

int qk_pretokenize(const qd_tokenizer *t, const char *s, size_t n, int at_start, qk_word_fn fn, void *ctx,
                   char *err, size_t errlen) {
    if (!n) return 0;
    if (!t->n_pre) return fn(ctx, s, n);
    int rc = -1;
    qk_buf tb[2] = {{0}, {0}};
    plist pl[2] = {{0}, {0}};
    slist sp = {0};
    pcre2_match_data *md = NULL;
    int cur = 0;
    if (qk_buf_put(&tb[0], s, n) || pl_push(&pl[0], 0, n, at_start)) goto oom;
    for (int k = 0; k < t->n_pre; k++) {
        const qk_pre *p = &t->pre[k];
        qk_buf *it = &tb[cur], *ot = &tb[!cur];
        plist *ip = &pl[cur], *op = &pl[!cur];
        op->n = 0;
        ot->n = 0;
        if (p->code) {
            if (md) pcre2_match_data_free(md);
            md = pcre2_match_data_create_from_pattern((const pcre2_code *)p->code, NULL);
            if (!md) goto oom;
        }
        if (p->kind == QK_PRE_SPLIT) {
            /* same text, finer pieces */
            for (size_t i = 0; i < ip->n; i++) {
                piece q = ip->v[i];
                if (find_matches(p, md, it->p + q.off, q.len, &sp, err, errlen)) goto done;
                if (apply_behavior(p->behavior, p->invert, &sp, q.off, q.at_start, op)) goto oom;
            }
            piece *tv = ip->v;
            size_t tc = ip->cap;
            *ip = *op;
            op->v = tv;
            op->cap = tc;
            op->n = 0;
            continue;
        }
        for (size_t i = 0; i < ip->n; i++) {
            piece q = ip->v[i];
            const char *qs = it->p + q.off;
            size_t base = ot->n;
            if (p->kind == QK_PRE_BYTELEVEL) {
                /* prefix space, then GPT-2's regex (use_regex), then the byte map */
                qk_buf raw = {0};
                if ((p->add_prefix_space && qs[0] != ' ' && qk_buf_put(&raw, " ", 1)) || qk_buf_put(&raw, qs, q.len)) {
                    qk_buf_free(&raw);
                    goto oom;
                }
                sp.n = 0;
                if (p->use_regex) {
                    if (find_matches(p, md, raw.p, raw.n, &sp, err, errlen)) {
                        qk_buf_free(&raw);
                        goto done;
                    }
                } else if (sl_push(&sp, 0, raw.n, 1)) {
                    qk_buf_free(&raw);
                    goto oom;
                }
                for (size_t j = 0; j < sp.n; j++) {
                    size_t a = ot->n;
                    for (size_t c = sp.v[j].a; c < sp.v[j].b; c++) {
                        char u[4];
                        int m = qk_utf8_put(qk_byte_cp((unsigned char)raw.p[c]), u);
                        if (qk_buf_put(ot, u, (size_t)m)) {
                            qk_buf_free(&raw);
                            goto oom;
                        }
                    }
                    if (pl_push(op, a, ot->n - a, q.at_start && sp.v[j].a == 0)) {
                        qk_buf_free(&raw);
                        goto oom;
                    }
                }
                qk_buf_free(&raw);
            } else { /* METASPACE */
                int pre = 0;
                if (p->prepend == QK_PREPEND_ALWAYS || (p->prepend == QK_PREPEND_FIRST && q.at_start))
                    pre = !(q.len >= 3 && !memcmp(qs, "\xE2\x96\x81", 3)) && !(qs[0] == ' ');
                /* a leading ' ' becomes U+2581 and counts as "starts with the replacement" */
                if (pre && qk_buf_put(ot, "\xE2\x96\x81", 3)) goto oom;
                for (size_t c = 0; c < q.len; c++)
                    if (qs[c] == ' ' ? qk_buf_put(ot, "\xE2\x96\x81", 3) : qk_buf_put(ot, qs + c, 1)) goto oom;
                if (p->split) {
                    if (find_meta(ot->p + base, ot->n - base, &sp)) goto oom;
                    if (apply_behavior(QK_BEH_MERGED_NEXT, 0, &sp, base, q.at_start, op)) goto oom;
                } else if (pl_push(op, base, ot->n - base, q.at_start))
                    goto oom;
            }
        }
        cur = !cur;
    }
    for (size_t i = 0; i < pl[cur].n; i++) {
        piece q = pl[cur].v[i];
        if (fn(ctx, tb[cur].p + q.off, q.len)) goto done;
    }
    rc = 0;
    goto done;
oom:
    qt_set_err(err, errlen, "tokenizer: out of memory pre-tokenizing %zu bytes", n);
done:
    if (md) pcre2_match_data_free(md);
    qk_buf_free(&tb[0]);
    qk_buf_free(&tb[1]);
    free(pl[0].v);
    free(pl[1].v);
    free(sp.v);
    return rc;
}
