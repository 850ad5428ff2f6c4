/* qatc data/suites: capability suites. A suite yields (prompt, answer)
 * items; the answer always ends in '\n', which is the stop byte for greedy
 * decoding. Each suite gives
 *   (a) a training text stream: items as prompt+answer, concatenated, and
 *   (b) an eval set of N items.
 * Generated suites draw both from qrng_seed_stream(seed, stream) with
 * different streams (QD_STREAM_TRAIN / QD_STREAM_EVAL), so for one seed the
 * eval items are a different random sequence than the training items.
 *
 * Built-in suites:
 *   "arith":  "123+4567=" -> "4690\n". Each operand's digit count is uniform
 *             in [min_digits, max_digits], the value uniform among numbers
 *             with exactly that many digits (1 digit: 0..9). With
 *             subtraction on, '+' and '-' are equally likely and a - b is
 *             drawn with a >= b (answers are never negative).
 *   "recall": "k17=v842;k3=v5;...;?k17=" -> "v842\n". Distinct keys
 *             k0..k(n_keys-1), values v0..v(n_values-1); pairs are added
 *             while the whole item (prompt + answer) is sure to fit in
 *             ctx_bytes; the queried pair is uniform over the context.
 * User suites (qd_suite_load_file):
 *   *.jsonl   one {"prompt": "...", "answer": "..."} object per line (blank
 *             lines skipped, other keys ignored);
 *   otherwise one "prompt<TAB>answer" per line (blank lines skipped).
 *   A '\n' is appended to an answer that does not end in one. The eval set
 *   is the file's items in order; the training stream draws items from the
 *   file at random, so a file used for both is not held out. */
#ifndef QATC_DATA_SUITES_H
#define QATC_DATA_SUITES_H

#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"
#include "data/rng.h"
#include "data/tokenizer.h"

enum { QD_STREAM_TRAIN = 1, QD_STREAM_EVAL = 2 };

/* One item: malloc'd, NUL-terminated strings. */
typedef struct qd_eval_item {
    char *prompt;
    char *answer;
} qd_eval_item;

typedef struct qd_eval_set {
    qd_eval_item *items;
    size_t n, cap;
} qd_eval_set;

/* Frees an item's strings. */
void qd_eval_item_free(qd_eval_item *it);
/* Appends copies of prompt and answer. */
int qd_eval_set_add(qd_eval_set *set, const char *prompt, const char *answer,
                    char *err, size_t errlen);
/* Frees every item and zeroes the set. */
void qd_eval_set_free(qd_eval_set *set);

typedef struct qd_arith_cfg {
    int min_digits, max_digits; /* 1 <= min <= max <= 18; default 1..4 */
    int subtraction;            /* 0 (default): '+' only; 1: also '-' */
} qd_arith_cfg;

typedef struct qd_recall_cfg {
    int ctx_bytes; /* max bytes of prompt + answer; default 200 */
    int n_keys;    /* key space k0..k(n_keys-1), 2..1000000; default 100 */
    int n_values;  /* value space, 1..1000000000; default 1000 */
} qd_recall_cfg;

enum { QD_SUITE_ARITH = 1, QD_SUITE_RECALL = 2, QD_SUITE_FILE = 3 };

typedef struct qd_suite {
    char name[64];
    int kind;              /* QD_SUITE_* */
    qd_arith_cfg arith;
    qd_recall_cfg recall;
    qd_eval_set file;      /* QD_SUITE_FILE: the items */
} qd_suite;

/* Defaults: arith 1..4 digits, '+' only; recall ctx 200, 100 keys, 1000 values. */
qd_arith_cfg qd_arith_default(void);
qd_recall_cfg qd_recall_default(void);

/* An "arith" suite (cfg NULL = defaults); errors on out-of-range fields. */
int qd_suite_arith(qd_suite *s, const qd_arith_cfg *cfg, char *err, size_t errlen);
/* A "recall" suite (cfg NULL = defaults); errors when ctx_bytes cannot hold
 * one pair, the query and the answer. */
int qd_suite_recall(qd_suite *s, const qd_recall_cfg *cfg, char *err, size_t errlen);
/* A user suite from a JSONL or TAB-separated text file (see above). Errors
 * name file:line and what was expected; an empty file or one without items
 * is an error. The suite's name is the file's base name without extension. */
int qd_suite_load_file(qd_suite *s, const char *path, char *err, size_t errlen);
/* "arith" or "recall" with defaults, else a file path. */
int qd_suite_open(qd_suite *s, const char *name_or_path, char *err, size_t errlen);
/* Frees a suite (file items). */
void qd_suite_free(qd_suite *s);

/* Draws one item (generated suites) or one random file item. */
int qd_suite_sample(const qd_suite *s, qrng *rng, qd_eval_item *out, char *err, size_t errlen);
/* The eval set: n items from the QD_STREAM_EVAL stream of seed; for a file
 * suite the file's first n items (n == 0 or n > count: all of them). */
int qd_suite_eval_set(const qd_suite *s, uint64_t seed, size_t n, qd_eval_set *out,
                      char *err, size_t errlen);
/* The training stream: items from the QD_STREAM_TRAIN stream of seed,
 * prompt+answer concatenated, until at least min_bytes. Recall training items
 * hold 1 .. as many pairs as an eval item (uniform; a curriculum: copying
 * first, then lookup by key); eval items always fill ctx_bytes. *text is malloc'd
 * and NUL-terminated; *starts (malloc'd, may be NULL if not wanted) gets
 * the byte offset of every item. */
int qd_suite_train_text(const qd_suite *s, uint64_t seed, size_t min_bytes, char **text,
                        size_t *len, size_t **starts, size_t *n_starts, char *err, size_t errlen);
/* Adds the suite's training stream (min_bytes long, seed) to a mixture as
 * source s->name with the given weight, tokenized by tok (NULL: bytes) item
 * by item: BOS when the tokenizer adds one to prompts, the prompt's tokens,
 * the answer's tokens (prompt and answer encoded separately, as evaluation
 * and llama.cpp's text path see them); windows start at item starts, so
 * every row begins with a whole item. */
int qd_mix_add_suite(qd_mix *m, const qd_suite *s, uint64_t seed, size_t min_bytes,
                     double weight, const qd_tokenizer *tok, char *err, size_t errlen);

#endif
