/* Normalizers: NFC (utf8proc), Prepend, Replace (a literal), in the order
 * tokenizer.json lists them (see data/tok_impl.h). */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "base/err.h"
#include "data/tok_impl.h"

static int nfc(const char *s, size_t n, qk_buf *out, char *err, size_t errlen) {
    size_t i = 0;
    while (i < n && (unsigned char)s[i] < 0x80) i++;
    if (i == n) return qk_buf_put(out, s, n) ? (qt_set_err(err, errlen, "tokenizer: out of memory"), -1) : 0;
    utf8proc_uint8_t *o = NULL;
    utf8proc_ssize_t k = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &o,
                                      (utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
    if (k < 0) {
        qt_set_err(err, errlen, "tokenizer: NFC: %s", utf8proc_errmsg(k));
        return -1;
    }
    int rc = qk_buf_put(out, o, (size_t)k);
    free(o);
    if (rc) qt_set_err(err, errlen, "tokenizer: out of memory");
    return rc;
}

/* First occurrence of a[0..an) in s[0..n), or NULL. */
static const char *find(const char *s, size_t n, const char *a, size_t an) {
    if (!an || an > n) return NULL;
    for (size_t i = 0; i + an <= n; i++) {
        const char *p = memchr(s + i, a[0], n - an + 1 - i);
        if (!p) return NULL;
        if (!memcmp(p, a, an)) return p;
        i = (size_t)(p - s);
    }
    return NULL;
}

static int replace(const qk_norm *m, const char *s, size_t n, qk_buf *out) {
    size_t i = 0;
    while (i < n) {
        const char *hit = find(s + i, n - i, m->a, m->alen);
        if (!hit) return qk_buf_put(out, s + i, n - i);
        if (qk_buf_put(out, s + i, (size_t)(hit - (s + i))) || qk_buf_put(out, m->b, m->blen)) return -1;
        i = (size_t)(hit - s) + m->alen;
    }
    return 0;
}

int qk_normalize(const qd_tokenizer *t, const char *s, size_t n, qk_buf *out, char *err, size_t errlen) {
    qk_buf tmp = {0};
    out->n = 0;
    if (qk_buf_put(out, s, n)) goto oom;
    for (int k = 0; k < t->n_norm; k++) {
        const qk_norm *m = &t->norm[k];
        tmp.n = 0;
        if (qk_buf_put(&tmp, "", 0)) goto oom;
        switch (m->kind) {
        case QK_NORM_NFC:
            if (nfc(out->p, out->n, &tmp, err, errlen)) {
                qk_buf_free(&tmp);
                return -1;
            }
            break;
        case QK_NORM_PREPEND:
            if (out->n && (qk_buf_put(&tmp, m->a, m->alen) || qk_buf_put(&tmp, out->p, out->n))) goto oom;
            if (!out->n) continue;
            break;
        case QK_NORM_REPLACE:
            if (replace(m, out->p, out->n, &tmp)) goto oom;
            break;
        }
        qk_buf x = *out;
        *out = tmp;
        tmp = x;
    }
    qk_buf_free(&tmp);
    return 0;
oom:
    qk_buf_free(&tmp);
    qt_set_err(err, errlen, "tokenizer: out of memory normalizing %zu bytes", n);
    return -1;
}
