/* Tokenizers behind one interface; see data/tokenizer.h. This file holds the
 * interface, the id array and the byte tokenizer. */
#include "data/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

struct qd_tokenizer {
    qd_tok_kind kind;
    int vocab;
    char *source;
    /* the vocabulary as GGUF stores it */
    char **tokens;
    int32_t *types;
};

int qd_ids_push(qd_ids *a, int32_t id, char *err, size_t errlen) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 256;
        int32_t *v = realloc(a->v, cap * sizeof *v);
        if (!v) {
            qt_set_err(err, errlen, "tokenizer: out of memory (%zu ids)", cap);
            return -1;
        }
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = id;
    return 0;
}

void qd_ids_free(qd_ids *a) {
    free(a->v);
    memset(a, 0, sizeof *a);
}

/* GPT-2's byte-to-unicode map: printable Latin-1 bytes map to themselves,
 * the others to U+0100 + k in byte order. Writes the UTF-8 of byte b's
 * character to out (3 bytes at most + NUL). */
static void byte_char(int b, char *out) {
    int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    int cp = b;
    if (!printable) {
        int k = 0;
        for (int c = 0; c < b; c++)
            if (!((c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF))) k++;
        cp = 0x100 + k;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = 0;
    } else {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        out[2] = 0;
    }
}

qd_tokenizer *qd_tokenizer_byte(void) {
    qd_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->kind = QD_TOK_BYTE;
    t->vocab = QD_VOCAB;
    t->source = strdup("byte");
    t->tokens = calloc(QD_VOCAB, sizeof *t->tokens);
    t->types = calloc(QD_VOCAB, sizeof *t->types);
    if (!t->source || !t->tokens || !t->types) {
        qd_tokenizer_free(t);
        return NULL;
    }
    for (int b = 0; b < QD_VOCAB; b++) {
        t->tokens[b] = malloc(4);
        if (!t->tokens[b]) {
            qd_tokenizer_free(t);
            return NULL;
        }
        byte_char(b, t->tokens[b]);
        t->types[b] = QD_TT_NORMAL;
    }
    return t;
}

qd_tokenizer *qd_tokenizer_load(const char *spec, char *err, size_t errlen) {
    if (!strcmp(spec, "byte")) {
        qd_tokenizer *t = qd_tokenizer_byte();
        if (!t) qt_set_err(err, errlen, "tokenizer: out of memory");
        return t;
    }
    qt_set_err(err, errlen, "%s: tokenizer files are not supported by this build (expected \"byte\")", spec);
    return NULL;
}

void qd_tokenizer_free(qd_tokenizer *t) {
    if (!t) return;
    if (t->tokens)
        for (int i = 0; i < t->vocab; i++) free(t->tokens[i]);
    free(t->tokens);
    free(t->types);
    free(t->source);
    free(t);
}

qd_tok_kind qd_tokenizer_kind(const qd_tokenizer *t) { return t->kind; }
int qd_tokenizer_vocab(const qd_tokenizer *t) { return t->vocab; }
int qd_tokenizer_bos(const qd_tokenizer *t) { return t->kind == QD_TOK_BYTE ? -1 : -1; }
int qd_tokenizer_eos(const qd_tokenizer *t) { return t->kind == QD_TOK_BYTE ? -1 : -1; }
int qd_tokenizer_add_bos(const qd_tokenizer *t) { return t->kind == QD_TOK_BYTE ? 0 : 0; }
const char *qd_tokenizer_source(const qd_tokenizer *t) { return t->source; }

int qd_tokenizer_encode(const qd_tokenizer *t, const char *text, size_t len, int parse_special, qd_ids *out,
                        char *err, size_t errlen) {
    (void)t;
    (void)parse_special;
    for (size_t i = 0; i < len; i++)
        if (qd_ids_push(out, (int32_t)(unsigned char)text[i], err, errlen)) return -1;
    return 0;
}

int qd_tokenizer_decode(const qd_tokenizer *t, const int32_t *ids, size_t n, char **text, size_t *len, char *err,
                        size_t errlen) {
    (void)t;
    *text = malloc(n + 1);
    *len = 0;
    if (!*text) {
        qt_set_err(err, errlen, "tokenizer: out of memory decoding %zu ids", n);
        return -1;
    }
    if (qd_tok_decode(ids, n, *text, err, errlen)) {
        free(*text);
        *text = NULL;
        return -1;
    }
    *len = n;
    return 0;
}

void qd_tokenizer_vocab_view(const qd_tokenizer *t, qd_vocab_view *v) {
    memset(v, 0, sizeof *v);
    v->model = "gpt2";
    /* The pre-tokenizer only splits text into words before merges; with no
       merges every split gives the same byte tokens. "qwen2" because llama.cpp
       turns its detokenizer's clean-up of spaces off for it: with "default"
       or "gpt-2", llama_detokenize drops the space in " .", " ,", " ?", " !"
       and before "'" (tests/cli/llamacpp_text.sh checks both directions). */
    v->pre = "qwen2";
    v->n = t->vocab;
    v->tokens = (const char *const *)t->tokens;
    v->types = t->types;
    v->bos = v->eos = v->unk = v->pad = -1;
}

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
            qt_set_err(err, errlen, "tokenizer: token %zu is %d, expected a byte token in [0, %d)", i, (int)tok[i],
                       QD_VOCAB);
            out[i] = '\0';
            return -1;
        }
        out[i] = (char)(unsigned char)tok[i];
    }
    out[n] = '\0';
    return 0;
}
