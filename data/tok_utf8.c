/* UTF-8 decoding and repair, character classes, GPT-2's byte-to-unicode map,
 * the byte buffer and the string hash (see data/tok_impl.h). */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "data/tok_impl.h"

int qk_grow(void **v, size_t n, size_t *cap, size_t elem) {
    if (n < *cap) return 0;
    size_t c = *cap ? 2 * *cap : 64;
    void *p = realloc(*v, c * elem);
    if (!p) return -1;
    *v = p;
    *cap = c;
    return 0;
}

int qk_buf_put(qk_buf *b, const void *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return -1;
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}

void qk_buf_free(qk_buf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* Unicode's table 3-7 of well-formed byte sequences. */
int qk_utf8_next(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    int len;
    unsigned lo = 0x80, hi = 0xBF;
    uint32_t v;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        v = c & 0x0F;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        v = c & 0x07;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (n < (size_t)len) return 0;
    for (int i = 1; i < len; i++) {
        unsigned d = s[i];
        if (d < lo || d > hi) return 0;
        lo = 0x80;
        hi = 0xBF;
        v = (v << 6) | (d & 0x3F);
    }
    *cp = v;
    return len;
}

int qk_utf8_put(uint32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the maximal subpart at s (the longest prefix of a well-formed
 * sequence, at least 1 byte). */
static size_t bad_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    int len;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 1;
    size_t i = 1;
    for (; i < (size_t)len && i < n; i++) {
        if (s[i] < lo || s[i] > hi) break;
        lo = 0x80;
        hi = 0xBF;
    }
    return i;
}

int qk_utf8_sanitize(const char *s, size_t n, char **out, size_t *outn) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    uint32_t cp;
    *out = NULL;
    *outn = 0;
    while (i < n) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        int k = qk_utf8_next(u + i, n - i, &cp);
        if (!k) break;
        i += (size_t)k;
    }
    if (i == n) return 0;
    qk_buf b = {0};
    if (qk_buf_put(&b, s, i)) return -1;
    while (i < n) {
        int k = qk_utf8_next(u + i, n - i, &cp);
        if (k) {
            if (qk_buf_put(&b, s + i, (size_t)k)) goto oom;
            i += (size_t)k;
        } else {
            if (qk_buf_put(&b, "\xEF\xBF\xBD", 3)) goto oom;
            i += bad_len(u + i, n - i);
        }
    }
    *out = b.p;
    *outn = b.n;
    return 0;
oom:
    qk_buf_free(&b);
    return -1;
}

void qk_one_line(char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 32 || *s == 127) *s = '?';
}

int qk_is_space(uint32_t cp) {
    return (cp >= 9 && cp <= 13) || cp == 32 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}

int qk_is_word(uint32_t cp) {
    if (cp == '_') return 1;
    if (cp < 0x80) return (cp >= '0' && cp <= '9') || ((cp | 32) >= 'a' && (cp | 32) <= 'z');
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) ||
           (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO);
}

static int printable(int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); }

uint32_t qk_byte_cp(int b) {
    if (printable(b)) return (uint32_t)b;
    int k = 0;
    for (int c = 0; c < b; c++) k += !printable(c);
    return 0x100u + (uint32_t)k;
}

int qk_cp_byte(uint32_t cp) {
    if (cp < 0x100) return printable((int)cp) ? (int)cp : -1;
    if (cp >= 0x100 + 68) return -1; /* 68 non-printable bytes */
    int k = (int)(cp - 0x100);
    for (int b = 0; b < 256; b++)
        if (!printable(b) && k-- == 0) return b;
    return -1;
}

uint64_t qk_hash(const void *s, size_t n) {
    const unsigned char *p = s;
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 29;
    h *= 0x9E3779B97F4A7C15ULL;
    return h ^ (h >> 32);
}
