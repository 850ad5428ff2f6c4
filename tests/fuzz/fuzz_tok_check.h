/* Checks shared by the tokenizer fuzz targets (fuzz_tokenizer_json.c,
 * fuzz_tokenizer_gguf.c): an accepted tokenizer has a consistent GGUF view,
 * encodes fixed strings and the input itself (with and without special
 * tokens) into ids inside the vocabulary, and decodes them; a refusal or an
 * encode error has a one-line message. */
#ifndef QATC_FUZZ_TOK_CHECK_H
#define QATC_FUZZ_TOK_CHECK_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/tokenizer.h"
#include "fuzz_util.h"

static inline void fuzz_tok_encode(const qd_tokenizer *t, const char *s, size_t n) {
    char err[1024];
    for (int ps = 0; ps < 2; ps++) {
        qd_ids ids = {0};
        if (qd_tokenizer_encode(t, s, n, ps, &ids, err, sizeof err)) {
            fuzz_check_msg(err, sizeof err);
            qd_ids_free(&ids);
            continue;
        }
        for (size_t i = 0; i < ids.n; i++)
            if (ids.v[i] < 0 || ids.v[i] >= qd_tokenizer_vocab(t)) {
                fprintf(stderr, "id %d outside the vocabulary (%d)\n", ids.v[i], qd_tokenizer_vocab(t));
                abort();
            }
        char *txt;
        size_t len;
        if (qd_tokenizer_decode(t, ids.v, ids.n, &txt, &len, err, sizeof err)) {
            fprintf(stderr, "decode of encoded ids failed: %s\n", err);
            abort();
        }
        if (txt[len] != 0) abort();
        free(txt);
        qd_ids_free(&ids);
    }
}

static inline void fuzz_tok_check(const qd_tokenizer *t, const uint8_t *data, size_t size) {
    qd_vocab_view v;
    qd_tokenizer_vocab_view(t, &v);
    if (v.n != qd_tokenizer_vocab(t) || v.n <= 0 || !v.model || !v.tokens || !v.types) abort();
    for (int i = 0; i < v.n; i++)
        if (!v.tokens[i] || v.types[i] < QD_TT_NORMAL || v.types[i] > QD_TT_BYTE) abort();
    for (int i = 0; i < v.n_merges; i++)
        if (!v.merges || !v.merges[i]) abort();
    if (v.bos >= v.n || v.eos >= v.n || v.unk >= v.n || v.pad >= v.n) abort();
    static const char fixed[] = "Hello world <s></s><|im_start|> \t\n\n  123456 caf\xC3\xA9 e\xCC\x81 "
                                "\xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x98\x80\xE2\x80\x8D \xE2\x96\x81x \xFF\xC0 <0x41>";
    fuzz_tok_encode(t, fixed, sizeof fixed - 1);
    fuzz_tok_encode(t, (const char *)data, size > 4096 ? 4096 : size);
}

#endif
