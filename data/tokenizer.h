/* qatc data/tokenizer: one interface over the tokenizers qatc supports.
 *
 * Kinds:
 *   QD_TOK_BYTE  vocabulary 256, token = byte value: any byte string
 *                round-trips and no token is unknown (qatc's own models).
 *   QD_TOK_BPE   byte-level BPE (GPT-2 / Llama-3 / Qwen2 / Qwen3): the
 *                normalizer (NFC when tokenizer.json asks), the
 *                pre-tokenizer split regexes (PCRE2, Unicode properties),
 *                GPT-2's byte-to-unicode map, merges applied by rank.
 *   QD_TOK_SPM   SentencePiece-style BPE (Llama-2 / Mistral / TinyLlama):
 *                spaces as U+2581 (Prepend/Replace normalizers or the
 *                Metaspace pre-tokenizer), a prefix space, merges by rank
 *                (or scores, GGUF), byte fallback to <0xNN> tokens.
 * Added/special tokens (BOS, EOS, control tokens, user-defined added
 * tokens) are matched whole in the text (when parse_special) and never
 * split.
 *
 * Sources: "byte"; a Hugging Face tokenizer.json (tokenizer_config.json
 * beside it, when present, gives bos/eos/pad tokens and add_bos_token /
 * add_eos_token; without them the post-processor's TemplateProcessing
 * decides); a GGUF file's tokenizer.ggml.* keys (model "gpt2" with merges and
 * tokenizer.ggml.pre in llama-bpe / llama3 / qwen2 / gpt2 / default, or
 * "llama" with merges, else llama.cpp's score-ordered bigrams). Unsupported
 * kinds (Unigram, WordPiece, WordLevel, unknown normalizers or
 * pre-tokenizers, ...) are refused in one line naming the file and the field.
 * Encoding equals Hugging Face tokenizers' (tests/test_tokenizer.c checks it
 * against the Rust crate on Llama-3, Qwen3 and Mistral/Llama-2 files).
 *
 * Decisions:
 * - Invalid UTF-8 (BPE and SPM kinds): each maximal ill-formed subpart becomes
 *   U+FFFD before anything else (Python's errors="replace", WHATWG; llama.cpp
 *   substitutes U+FFFD too), so decode(encode(x)) gives the repaired text.
 *   The byte tokenizer keeps every byte.
 * - parse_special = 0 turns off added tokens marked special (CONTROL) only;
 *   non-special added tokens (USER_DEFINED, e.g. Qwen's <tool_call>) are still
 *   matched whole, as in HF (encode_special_tokens) and llama.cpp.
 * - SPM: the prefix U+2581 is prepended to every text segment between added
 *   tokens (HF's Prepend normalizer); decode turns U+2581 into a space,
 *   <0xNN> into raw bytes, and strips one leading space of the whole output.
 *   So decode(encode(x)) == x for text without special tokens, except that a
 *   literal U+2581 comes back as a space. Byte-level BPE: decode(encode(x))
 *   == x (NFC(x) when the tokenizer normalizes with NFC, as Qwen's does).
 * - SPM scores in the GGUF view (tokenizer.json BPE has none; gguf-py's
 *   LlamaHfVocab, which convert_hf_to_gguf.py uses for tokenizer.json-only
 *   Llama vocabularies, writes -1000 for every token, leaving llama.cpp's SPM
 *   bigram order to position alone): a token made by merges
 *   scores -(1 + the rank of the first merge making it), single characters,
 *   bytes and added tokens 0, other tokens -(1 + n_merges). llama.cpp's
 *   highest-score-first bigrams then follow HF's merge order (the test checks
 *   it by loading such a GGUF without merges).
 * - Encoding is thread-safe: the per-word cache, the only state encode
 *   changes, sits behind a mutex. */
#ifndef QATC_DATA_TOKENIZER_H
#define QATC_DATA_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#define QD_VOCAB 256 /* the byte tokenizer's vocabulary */

typedef enum { QD_TOK_BYTE = 0, QD_TOK_BPE = 1, QD_TOK_SPM = 2 } qd_tok_kind;

/* Token types as GGUF's tokenizer.ggml.token_type stores them (llama.cpp's
 * llama_token_type). */
typedef enum {
    QD_TT_NORMAL = 1, QD_TT_UNKNOWN = 2, QD_TT_CONTROL = 3, QD_TT_USER_DEFINED = 4, QD_TT_UNUSED = 5,
    QD_TT_BYTE = 6
} qd_token_type;

typedef struct qd_tokenizer qd_tokenizer;

/* A growable id array (owned; free with qd_ids_free). */
typedef struct qd_ids {
    int32_t *v;
    size_t n, cap;
} qd_ids;
/* Appends one id. Returns 0, or -1 on OOM (err filled). */
int qd_ids_push(qd_ids *a, int32_t id, char *err, size_t errlen);
/* Frees the array and zeroes it. */
void qd_ids_free(qd_ids *a);

/* ---- construction ---- */
/* The byte tokenizer (never fails; free with qd_tokenizer_free). */
qd_tokenizer *qd_tokenizer_byte(void);
/* A tokenizer from spec: "byte", a path to a tokenizer.json, or a path to a
 * .gguf file. NULL with a one-line message naming the file and the field
 * (malformed JSON, unknown kind, merges naming unknown tokens, ...). */
qd_tokenizer *qd_tokenizer_load(const char *spec, char *err, size_t errlen);
/* Frees t (NULL is fine). */
void qd_tokenizer_free(qd_tokenizer *t);

/* ---- properties ---- */
qd_tok_kind qd_tokenizer_kind(const qd_tokenizer *t);
/* Number of token ids (the model's embedding rows must equal it). */
int qd_tokenizer_vocab(const qd_tokenizer *t);
/* BOS / EOS ids, or -1 when the tokenizer has none. */
int qd_tokenizer_bos(const qd_tokenizer *t);
int qd_tokenizer_eos(const qd_tokenizer *t);
/* 1 when a prompt is to start with BOS (tokenizer_config.json's
 * add_bos_token, GGUF's tokenizer.ggml.add_bos_token), else 0. */
int qd_tokenizer_add_bos(const qd_tokenizer *t);
/* 1 when a prompt is to end with EOS (add_eos_token), else 0. */
int qd_tokenizer_add_eos(const qd_tokenizer *t);
/* Where it came from ("byte" or the path), for messages and reports. */
const char *qd_tokenizer_source(const qd_tokenizer *t);

/* ---- encode / decode ---- */
/* Appends the ids of a prompt to p and of its answer, as the continuation
 * a runtime generates after the prompt, to a: the answer's ids are those
 * that follow the prompt's in the encoding of prompt + answer (so a
 * SentencePiece dummy prefix "▁" is not put before the answer, which llama.cpp
 * would print as a space); when that encoding does not start with the
 * prompt's ids (a merge across the boundary), the answer is encoded alone.
 * Returns 0, or -1 with a message. */
int qd_tokenizer_encode_pair(const qd_tokenizer *t, const char *prompt, size_t plen, const char *answer, size_t alen,
                             qd_ids *p, qd_ids *a, char *err, size_t errlen);
/* Appends the ids of len bytes of text to out (no BOS/EOS). With
 * parse_special, added/special token strings in the text become their ids;
 * without, special ones are ordinary text (non-special added tokens are
 * still matched, see above). Returns 0, or -1 with a message. */
int qd_tokenizer_encode(const qd_tokenizer *t, const char *text, size_t len, int parse_special, qd_ids *out,
                        char *err, size_t errlen);
/* The text of ids[0..n) as a new NUL-terminated buffer (*text, *len bytes
 * before the NUL). Special tokens are rendered as their text; byte tokens as
 * raw bytes (the result may be invalid UTF-8 for a partial sequence). Returns 0, or
 * -1 when an id is outside [0, vocab) (err names its position and value). */
int qd_tokenizer_decode(const qd_tokenizer *t, const int32_t *ids, size_t n, char **text, size_t *len, char *err,
                        size_t errlen);

/* ---- the vocabulary as GGUF stores it (tokenizer.ggml.*) ---- */
typedef struct qd_vocab_view {
    const char *model;          /* tokenizer.ggml.model: "gpt2" (byte-level BPE and the byte
                                   tokenizer) or "llama" (SentencePiece) */
    const char *pre;            /* tokenizer.ggml.pre (llama.cpp's pre-tokenizer name), or NULL */
    int n;                      /* tokens */
    const char *const *tokens;  /* [n] token texts as llama.cpp expects them (byte-level BPE:
                                   GPT-2 byte-to-unicode form; SPM: with U+2581, <0xNN>) */
    const float *scores;        /* [n] or NULL */
    const int32_t *types;       /* [n] qd_token_type */
    int n_merges;
    const char *const *merges;  /* [n_merges] "a b" in rank order, or NULL */
    int bos, eos, unk, pad;     /* -1 when absent */
    int add_bos, add_eos;
} qd_vocab_view;
/* Fills v with views into t (valid while t lives). */
void qd_tokenizer_vocab_view(const qd_tokenizer *t, qd_vocab_view *v);

/* ---- byte fast path (QD_TOK_BYTE) ---- */
/* Encodes n bytes into n tokens (out holds n int32). Returns n. */
size_t qd_tok_encode(const void *bytes, size_t n, int32_t *out);
/* Encodes n bytes into a new malloc'd array (*out); 0 or -1 on OOM
 * (err filled). n == 0 gives a valid 1-slot allocation. */
int qd_tok_encode_alloc(const void *bytes, size_t n, int32_t **out, char *err, size_t errlen);
/* Decodes n byte tokens into out (n + 1 bytes; NUL-terminated, though the
 * bytes may themselves contain NUL). Returns 0, or -1 when a token is outside
 * [0, 256) (err names its position and value). */
int qd_tok_decode(const int32_t *tok, size_t n, char *out, char *err, size_t errlen);

#endif
