/* Private to data/tok_*.c and data/tokenizer.c: the tokenizer object and the
 * pieces its pipeline is built from. The public interface is data/tokenizer.h.
 *
 * Pipeline (Hugging Face tokenizers' order, for BPE and SPM kinds):
 *   text ─ invalid UTF-8 → U+FFFD (maximal subparts, as Python/WHATWG decode)
 *        ─ added tokens with normalized=false matched whole (leftmost-longest)
 *        ─ each remaining segment: normalizers (NFC, Prepend, Replace)
 *        ─ added tokens with normalized=true matched in the normalized text
 *        ─ pre-tokenizers (Split regex, ByteLevel, Metaspace) → words
 *        ─ BPE on each word (merge ranks, or scores for GGUF "llama" files
 *          without merges), byte fallback, a per-word cache. */
#ifndef QATC_DATA_TOK_IMPL_H
#define QATC_DATA_TOK_IMPL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "data/tokenizer.h"

/* Makes room for one more element in a growable array (*v, n used, *cap
 * allocated, elem bytes each; doubling from 64). 0, or -1 on OOM. */
int qk_grow(void **v, size_t n, size_t *cap, size_t elem);

/* ---- growable byte buffer ---- */
typedef struct qk_buf {
    char *p;
    size_t n, cap;
} qk_buf;
int qk_buf_put(qk_buf *b, const void *s, size_t n); /* 0 or -1 on OOM */
void qk_buf_free(qk_buf *b);

/* ---- UTF-8 ---- */
/* Length of the well-formed UTF-8 sequence at s[0..n) (1..4) and its code
 * point in *cp, or 0 when s does not start one. */
int qk_utf8_next(const unsigned char *s, size_t n, uint32_t *cp);
/* Writes cp as UTF-8 to out (4 bytes max); returns the length. */
int qk_utf8_put(uint32_t cp, char *out);
/* Replaces every maximal ill-formed subpart of s[0..n) by U+FFFD. Returns 0
 * with *out = NULL when s is valid, or a new buffer in *out / *outn; -1 on OOM. */
int qk_utf8_sanitize(const char *s, size_t n, char **out, size_t *outn);
/* Replaces control characters (newlines...) in a message by '?': error
 * messages quote token texts and must stay one line. */
void qk_one_line(char *s);
/* Unicode White_Space (Rust's char::is_whitespace). */
int qk_is_space(uint32_t cp);
/* Letters, numbers or '_' (single_word boundaries). */
int qk_is_word(uint32_t cp);

/* GPT-2's byte-to-unicode map: the code point byte b is shown as, and the
 * inverse (-1 for code points that are no byte's). */
uint32_t qk_byte_cp(int b);
int qk_cp_byte(uint32_t cp);

/* ---- hash maps ---- */
/* String → id, keys borrowed from the tokenizer's token table. */
typedef struct qk_strmap {
    uint32_t *slot; /* id + 1, 0 empty */
    uint32_t mask;
} qk_strmap;
uint64_t qk_hash(const void *s, size_t n);

/* (a, b) → merge rank. */
typedef struct qk_pairmap {
    uint64_t *key; /* (a << 32 | b) + 1, 0 empty */
    int32_t *rank;
    uint64_t mask;
} qk_pairmap;

/* ---- pipeline pieces ---- */
typedef enum { QK_NORM_NFC, QK_NORM_PREPEND, QK_NORM_REPLACE } qk_norm_kind;
typedef struct qk_norm {
    qk_norm_kind kind;
    char *a, *b; /* PREPEND: a; REPLACE: a → b */
    size_t alen, blen;
} qk_norm;

typedef enum { QK_BEH_REMOVED, QK_BEH_ISOLATED, QK_BEH_MERGED_PREV, QK_BEH_MERGED_NEXT, QK_BEH_CONTIGUOUS } qk_behavior;
typedef enum { QK_PRE_SPLIT, QK_PRE_BYTELEVEL, QK_PRE_METASPACE } qk_pre_kind;
typedef enum { QK_PREPEND_ALWAYS, QK_PREPEND_FIRST, QK_PREPEND_NEVER } qk_prepend;
typedef struct qk_pre {
    qk_pre_kind kind;
    char *pattern;     /* SPLIT: regex text (or the literal for a String pattern) */
    int literal;       /* SPLIT: pattern is a String */
    void *code;        /* pcre2_code_8 * */
    int jit;
    qk_behavior behavior;
    int invert;
    int add_prefix_space, use_regex; /* BYTELEVEL (use_regex: GPT-2's regex in `code`) */
    qk_prepend prepend; /* METASPACE (replacement is always U+2581) */
    int split;         /* METASPACE */
} qk_pre;
/* Compiles p->pattern (literal or regex) with PCRE2_UTF|PCRE2_UCP, JIT when
 * available. 0, or -1 with the PCRE2 message in err. */
int qk_pre_compile(qk_pre *p, char *err, size_t errlen);
void qk_pre_free(qk_pre *p);

/* The known split regexes (llama.cpp pre-tokenizer names). */
extern const char *const QK_RE_GPT2, *const QK_RE_LLAMA3, *const QK_RE_QWEN2;

typedef struct qk_added {
    int32_t id;
    char *content; /* as matched: normalized by the normalizers when `normalized` */
    size_t len;
    int special, lstrip, rstrip, single_word, normalized;
} qk_added;

/* A cached word: its text and ids. */
typedef struct qk_cache_ent {
    char *key;
    uint32_t klen, n;
    uint64_t h;
    int32_t *ids;
} qk_cache_ent;

#define QK_DIRECT 0x400 /* code points below this have a direct char → id table */

struct qd_tokenizer {
    qd_tok_kind kind;
    int vocab;
    char *source;
    /* the vocabulary as GGUF stores it */
    char **tokens;
    uint32_t *tok_len;
    int32_t *types;
    float *scores;     /* SPM: see qk_spm_scores */
    char **merge_txt;  /* "a b" per rank */
    int n_merges;
    int32_t *merge_a, *merge_b, *merge_res;
    const char *model_name, *pre_name;
    int bos, eos, unk, pad, add_bos, add_eos;

    /* lookups */
    qk_strmap vmap;
    qk_pairmap pmap;
    int32_t direct[QK_DIRECT]; /* code point → id of its one-character token, -1 */
    int32_t byte_tok[256];     /* <0xNN> ids (byte fallback), -1 */

    /* model flags */
    int byte_fallback, fuse_unk, ignore_merges;
    int use_scores; /* GGUF "llama" without merges: llama.cpp's score-ordered SPM */

    /* pipeline */
    qk_norm *norm;
    int n_norm;
    qk_pre *pre;
    int n_pre;
    qk_added *added;
    int n_added;
    int has_norm_added; /* some added token has normalized = 1 */
    int32_t *added_of;  /* id → index in added, -1 */
    /* first byte → added indexes, longest first */
    int32_t *first_idx, first_off[257];

    /* decoding */
    char **dec;        /* per id: the bytes it decodes to */
    uint32_t *dec_len;
    int dec_strip;     /* strip one leading space of the output (SPM prefix) */

    /* word cache */
    pthread_mutex_t mu;
    int mu_init;
    qk_cache_ent *cache;
    uint32_t cache_mask, cache_n;
};

/* ---- construction helpers (tokenizer.c) ---- */
qd_tokenizer *qk_new(qd_tok_kind kind, const char *source);
/* Looks up a token text; -1 when absent. */
int32_t qk_lookup(const qd_tokenizer *t, const char *s, size_t n);
/* Sets t->vocab, allocates tokens/types (NULL texts), everything -1. */
int qk_alloc_vocab(qd_tokenizer *t, int n);
/* Builds vmap from t->tokens (first id wins on duplicate texts), the direct
 * and byte tables. 0 or -1 (OOM). */
int qk_index_vocab(qd_tokenizer *t);
/* Registers merge rank r = (a, b) → res. 0 or -1 (OOM). */
int qk_set_merges(qd_tokenizer *t, int n);
/* Finishes a loaded tokenizer: pair map, added-token index, decode table,
 * SPM scores, cache. path names the file in messages. */
int qk_finish(qd_tokenizer *t, const char *path, char *err, size_t errlen);

/* ---- normalizers (tok_norm.c) ---- */
/* Applies t's normalizers to s[0..n) into out (reset first). 0, or -1. */
int qk_normalize(const qd_tokenizer *t, const char *s, size_t n, qk_buf *out, char *err, size_t errlen);

/* ---- pre-tokenizers (tok_pretok.c) ---- */
/* Words of s[0..n) after t's pre-tokenizers (at_start: s begins the input,
 * for Metaspace's "first"). Each word is handed to fn; stops at its first
 * nonzero return. 0, or -1 with err. */
typedef int (*qk_word_fn)(void *ctx, const char *w, size_t n);
int qk_pretokenize(const qd_tokenizer *t, const char *s, size_t n, int at_start, qk_word_fn fn, void *ctx,
                   char *err, size_t errlen);

/* ---- BPE model (tok_bpe.c) ---- */
/* Appends the ids of one word. 0, or -1 with err. */
int qk_bpe_word(qd_tokenizer *t, const char *w, size_t n, qd_ids *out, char *err, size_t errlen);
void qk_cache_free(qd_tokenizer *t);

/* ---- loaders ---- */
qd_tokenizer *qk_load_json(const char *path, char *err, size_t errlen);
qd_tokenizer *qk_load_gguf(const char *path, char *err, size_t errlen);

#endif
