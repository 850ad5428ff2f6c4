/* Byte tokenizer; see tokenizer.h. */
#include "data/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/err.h"

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
            qt_set_err(err, errlen,
                       "tokenizer: token %zu is %d, expected a byte token in [0, %d)", i,
                     (int)tok[i], QD_VOCAB);
            out[i] = '\0';
            return -1;
        }
        out[i] = (char)(unsigned char)tok[i];
    }
    out[n] = '\0';
    return 0;
}
