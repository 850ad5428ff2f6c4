/* qatc data/dataset: text files, the seeded train/val split, token arrays in
 * HDF5, and the weighted token-stream mixture with its random-window batcher.
 *
 * Errors (base/err.h): every function that can fail takes (err, errlen)
 * last and returns 0 on success and -1 on failure, with a one-line message
 * in err that names the file (and what was expected). Nothing here prints or
 * exits. Whole files are read with base/files.h qt_read_file.
 *
 * Split rule (stable, documented so that a val set never silently moves):
 *   The text is cut into consecutive chunks. A chunk starting at byte p ends
 *   right after the last '\n' in text[p .. p+chunk_bytes) (so every chunk
 *   holds whole lines); if that window holds no '\n', the chunk is cut hard
 *   at p+chunk_bytes; the final chunk ends at the end of the text.
 *   Chunk k goes to val when u_k < val_fraction, where
 *   u_k = qrng_hash2(seed, k) / 2^64 (a splitmix64 hash of seed and k).
 *   If that leaves val empty although val_fraction > 0 and there are at
 *   least two chunks, the chunk with the smallest u_k goes to val; if it
 *   leaves train empty, the chunk with the largest u_k goes to train.
 *   Train (val) tokens are the train (val) chunks concatenated in text order.
 *
 * Each chunk is tokenized on its own with the split's tokenizer (bytes by
 * default), so train and val never share a token.
 *
 * Token files (HDF5, written and read through store/h5store.h as bare
 * files): dataset "tokens" (int32, 1-D, values in [0, vocab), chunked and
 * deflated), with scalar attributes format_version = 1, vocab and the
 * provenance of qd_token_meta (part, source_size, source_mtime_ns,
 * source_hash, split_seed, chunk_bytes, val_fraction, and for a tokenizer
 * other than bytes tokenizer_hash and text_bytes).
 * A cache is valid only when size, content hash (FNV-1a 64), split
 * parameters and tokenizer all match the current source; the mtime is stored
 * for information but a mere touch does not invalidate the cache. */
#ifndef QATC_DATA_DATASET_H
#define QATC_DATA_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "data/rng.h"
#include "data/tokenizer.h"

/* A token array (owned, malloc'd). */
typedef struct qd_tokens {
    int32_t *tok;
    size_t n;
    size_t bytes;   /* UTF-8 bytes of the text the tokens encode; 0: one per token */
} qd_tokens;

/* Bytes of text per token of t (1 for the byte tokenizer): bits per byte =
 * bits per token / this. */
double qd_tokens_bytes_per_token(const qd_tokens *t);

/* Frees the array and zeroes the struct (safe on a zeroed struct). */
void qd_tokens_free(qd_tokens *t);

/* FNV-1a 64-bit hash of n bytes. */
uint64_t qd_fnv1a64(const void *data, size_t n);

/* ---- train/val split ---- */

typedef struct qd_split_cfg {
    size_t chunk_bytes;   /* target chunk size (>= 1); default 4096 */
    double val_fraction;  /* in [0, 1); default 0.05 */
    uint64_t seed;        /* default 1 */
    const qd_tokenizer *tok; /* tokenizer of every chunk; NULL = bytes (default) */
} qd_split_cfg;

/* The default split: 4096-byte chunks, 5% val, seed 1, byte tokens. */
qd_split_cfg qd_split_default(void);

typedef struct qd_chunk {
    size_t start, len;
    int is_val;
} qd_chunk;

/* Computes the chunks of the split rule above (malloc'd array in *chunks).
 * Errors on len == 0 or out-of-range cfg values. */
int qd_split_plan(const char *text, size_t len, const qd_split_cfg *cfg, qd_chunk **chunks,
                  size_t *n_chunks, char *err, size_t errlen);
/* Splits text into train and val token arrays by the rule above. */
int qd_split_text(const char *text, size_t len, const qd_split_cfg *cfg, qd_tokens *train,
                  qd_tokens *val, char *err, size_t errlen);

/* ---- HDF5 token files ---- */

enum { QD_PART_ALL = 0, QD_PART_TRAIN = 1, QD_PART_VAL = 2 };

/* Provenance attributes stored beside "tokens". */
typedef struct qd_token_meta {
    uint64_t source_size;    /* bytes of the source file */
    int64_t source_mtime_ns; /* source mtime, ns since the epoch (informative) */
    uint64_t source_hash;    /* qd_fnv1a64 of the source bytes */
    uint64_t split_seed;
    uint64_t chunk_bytes;
    double val_fraction;
    int32_t part;            /* QD_PART_* */
    int32_t vocab;           /* tokenizer vocabulary (256: bytes) */
    uint64_t tokenizer_hash; /* qd_tokenizer_hash of the tokenizer (0: bytes) */
    uint64_t text_bytes;     /* bytes of text the tokens encode (0: one per token) */
} qd_token_meta;

/* A fingerprint of a tokenizer's vocabulary, merges and specials (0 for the
 * byte tokenizer or NULL), so that a token cache never outlives its tokenizer. */
uint64_t qd_tokenizer_hash(const qd_tokenizer *t);

/* Writes tokens (and meta, may be NULL = zeros) to an HDF5 file, atomically
 * (the store's temp file "<path>.tmp.<pid>" renamed over path; on failure,
 * disk full included, no temp file stays and path is untouched). */
int qd_tokens_save_h5(const char *path, const qd_tokens *t, const qd_token_meta *meta,
                      char *err, size_t errlen);
/* Reads an HDF5 token file into t (and its meta, if meta is non-NULL; a
 * missing or malformed attribute leaves its field 0). Errors name the file:
 * missing, not HDF5, no "tokens" dataset, wrong rank, not int32, a length
 * the stored bytes cannot hold, or a token outside [0, vocab) (vocab: the
 * file's attribute, 256 when absent). */
int qd_tokens_load_h5(const char *path, qd_tokens *t, qd_token_meta *meta,
                      char *err, size_t errlen);

/* ---- text datasets ---- */

typedef struct qd_text_data {
    qd_tokens train, val;
    qd_token_meta meta;   /* of the source (part = QD_PART_ALL) */
    int from_cache;       /* 1 when both parts came from a valid cache */
} qd_text_data;

/* Loads a text file and splits it (cfg NULL = qd_split_default()). With a
 * non-NULL cache_prefix, reuses <prefix>.train.h5 and <prefix>.val.h5 when
 * they match the source and cfg, and otherwise rebuilds and rewrites them
 * (a cache that cannot be written is an error). */
int qd_text_load(const char *path, const qd_split_cfg *cfg, const char *cache_prefix,
                 qd_text_data *out, char *err, size_t errlen);
/* Frees both parts. */
void qd_text_free(qd_text_data *d);

/* ---- sequential windows (evaluation) ---- */

/* Number of non-overlapping windows of T inputs in t: (n - 1) / T, 0 if
 * n < T + 1. Window i covers every next-token transition once. */
size_t qd_tokens_n_windows(const qd_tokens *t, int T);
/* Window i: x = tok[i*T .. i*T+T), y = tok[i*T+1 .. i*T+T+1). The caller
 * keeps i < qd_tokens_n_windows(t, T). */
void qd_tokens_window(const qd_tokens *t, size_t i, int T, int32_t *x, int32_t *y);

/* ---- weighted mixture and random-window batcher ---- */

typedef struct qd_source {
    char name[64];
    int32_t *tok;      /* owned copy */
    size_t n;
    size_t *starts;    /* owned copy of allowed window starts (ascending), or NULL = any */
    size_t n_starts;
    double weight;     /* >= 0; a row comes from this source with prob weight / total */
} qd_source;

typedef struct qd_mix {
    qd_source *src;
    int n_src, cap;
    int vocab;         /* tokens must lie in [0, vocab); QD_VOCAB after qd_mix_init */
} qd_mix;

/* An empty mixture of byte tokens (set vocab for another tokenizer). */
void qd_mix_init(qd_mix *m);
/* Frees every source. */
void qd_mix_free(qd_mix *m);
/* Adds a source (copies tok and starts). starts (may be NULL) restricts
 * window starts, e.g. to the beginning of each suite item, and must be
 * ascending and < n. Errors on n == 0, weight < 0 or bad tokens/starts. */
int qd_mix_add(qd_mix *m, const char *name, const int32_t *tok, size_t n, const size_t *starts,
               size_t n_starts, double weight, char *err, size_t errlen);
/* Fills x[B*T] and y[B*T] (row-major, row b = x[b*T ..]) with B random
 * windows; y is x shifted by one token. Row b: u = qrng_uniform_d picks the
 * source by cumulative weight; then the start s is qrng_below over the
 * allowed starts with s + T + 1 <= n. Deterministic given the RNG state,
 * which it advances. src_of_row (may be NULL) receives each row's source
 * index. Errors when the total weight is 0 or a weighted source is shorter
 * than T + 1 tokens (or has no usable start). */
int qd_mix_batch(const qd_mix *m, int B, int T, qrng *rng, int32_t *x, int32_t *y,
                 int *src_of_row, char *err, size_t errlen);

#endif
