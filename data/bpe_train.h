/* qatc data/bpe_train: trains a byte-level BPE tokenizer (GPT-2 style) and
 * writes it as a Hugging Face tokenizer.json that data/tokenizer.h loads.
 *
 * Pre-tokenization: one split regex (PCRE2, UTF + Unicode properties), the
 * pieces between matches kept as pieces too (HF's Split "Isolated"); special
 * tokens are cut out of the text first and never take part in merges. The
 * default pattern is Qwen2's: Llama-3's with \p{N} instead of \p{N}{1,3}, so
 * every digit is its own pre-token and no token ever holds two digits ("47+38=85"
 * is 4 7 + 3 8 = 8 5: column arithmetic sees each digit). llama3 keeps digit
 * groups of up to 3 (a number below 1000 may become one token), gpt2 is GPT-2's.
 *
 * Vocabulary: ids 0..255 are the 256 bytes (id = byte value, in GPT-2's
 * byte-to-unicode form), so no text is ever unknown; then one token per merge
 * in rank order (a merge whose result already exists adds no token, as in HF's
 * trainer); then the special tokens as added tokens. Each step merges the most
 * frequent adjacent pair, counted over distinct pre-tokens times their counts;
 * ties go to the pair whose left token's bytes are lexicographically smallest
 * (memcmp order, a prefix first), then the right token's. Same input, same
 * vocabulary size -> byte-identical tokenizer.json. */
#ifndef QATC_DATA_BPE_TRAIN_H
#define QATC_DATA_BPE_TRAIN_H

#include <stddef.h>
#include <stdint.h>

typedef enum { QD_PRETOK_QWEN2 = 0, QD_PRETOK_LLAMA3 = 1, QD_PRETOK_GPT2 = 2 } qd_pretok;

/* The split regex of a preset. */
const char *qd_pretok_regex(qd_pretok p);
/* "qwen2" | "llama3" | "gpt2" -> *p. Returns 0, or -1 (err names the choices). */
int qd_pretok_parse(const char *name, qd_pretok *p, char *err, size_t errlen);

/* Pre-token counts over the training text. */
typedef struct qd_bpe_counter qd_bpe_counter;

/* A counter splitting with preset p; specials[0..n_special) are cut out of the
 * text before splitting (NULL / 0 for none). NULL with a message on a bad
 * special (empty, repeated) or OOM. */
qd_bpe_counter *qd_bpe_counter_new(qd_pretok p, const char *const *specials, int n_special, char *err, size_t errlen);
/* Counts the pre-tokens of len bytes of text (any bytes: invalid UTF-8 bytes
 * become pieces of their own). Returns 0, or -1 on OOM / a regex failure. */
int qd_bpe_counter_add(qd_bpe_counter *c, const char *text, size_t len, char *err, size_t errlen);
/* qd_bpe_counter_add of a whole file; -1 naming the file when it cannot be read. */
int qd_bpe_counter_add_file(qd_bpe_counter *c, const char *path, char *err, size_t errlen);
/* Distinct pre-tokens and their total count so far. */
size_t qd_bpe_counter_distinct(const qd_bpe_counter *c);
uint64_t qd_bpe_counter_total(const qd_bpe_counter *c);
void qd_bpe_counter_free(qd_bpe_counter *c);

/* A trained model. Token i is the n_bytes[i] raw bytes at bytes[i] (not the
 * byte-to-unicode form); merges[2r], merges[2r+1] are the left and right ids
 * of merge r, merge_id[r] the id it yields. */
typedef struct qd_bpe_model {
    qd_pretok pretok;
    int n_tokens;          /* 256 + learned tokens (specials not included) */
    char **bytes;          /* [n_tokens] */
    size_t *n_bytes;       /* [n_tokens] */
    int n_merges;
    int32_t *merges;       /* [2 * n_merges] */
    int32_t *merge_id;     /* [n_merges] */
    int n_special;
    char **specials;       /* [n_special], ids n_tokens + k */
} qd_bpe_model;

/* Trains from the counter's pre-tokens until 256 + learned tokens + specials
 * == vocab (vocab >= 256 + specials), or until no adjacent pair is left (then
 * fewer tokens; m->n_tokens says how many). Returns 0, or -1 with a message
 * (vocab too small, a special that is already an ordinary token, OOM). */
int qd_bpe_train(const qd_bpe_counter *c, int vocab, qd_bpe_model *m, char *err, size_t errlen);
/* The model as tokenizer.json text (new NUL-terminated buffer). */
char *qd_bpe_model_json(const qd_bpe_model *m, char *err, size_t errlen);
/* Writes the tokenizer.json atomically (base/files.h). Returns 0 or -1. */
int qd_bpe_model_save(const qd_bpe_model *m, const char *path, char *err, size_t errlen);
/* Frees m's arrays and zeroes it. */
void qd_bpe_model_free(qd_bpe_model *m);

#endif
