/* qatc data/rng: a small seeded RNG with explicit state (no globals).
 *
 * Generator: xoshiro256** (Blackman & Vigna), seeded by expanding a 64-bit
 * seed with splitmix64. The state is a plain struct of four uint64 words: a
 * checkpoint saves qrng.s[0..3] and restoring them continues the exact same
 * sequence. Every draw below is a pure function of the state, so a run is
 * reproducible from (seed, number of draws). */
#ifndef QATC_DATA_RNG_H
#define QATC_DATA_RNG_H

#include <stddef.h>
#include <stdint.h>

#define QRNG_STATE_WORDS 4

typedef struct qrng {
    uint64_t s[QRNG_STATE_WORDS];
} qrng;

/* splitmix64 finaliser: a bijective 64-bit mix (good for hashing ints). */
uint64_t qrng_mix64(uint64_t x);
/* Output k (k = 0, 1, ...) of the splitmix64 sequence started at seed:
 * qrng_mix64(seed + (k + 1) * 0x9E3779B97F4A7C15). A stateless, well spread
 * hash of (seed, k) used for seeded decisions such as the train/val split. */
uint64_t qrng_hash2(uint64_t seed, uint64_t k);
/* Seeds the state from a 64-bit seed (any value, 0 included). */
void qrng_seed(qrng *r, uint64_t seed);
/* Seeds an independent stream: same seed with different stream ids gives
 * unrelated sequences (used to keep e.g. train and eval draws apart). */
void qrng_seed_stream(qrng *r, uint64_t seed, uint64_t stream);
/* Next raw 64-bit output. */
uint64_t qrng_next(qrng *r);
/* Uniform float in [0, 1) with 24 random bits. */
float qrng_uniform(qrng *r);
/* Uniform double in [0, 1) with 53 random bits. */
double qrng_uniform_d(qrng *r);
/* Uniform integer in [0, n) without modulo bias; returns 0 when n == 0. */
uint64_t qrng_below(qrng *r, uint64_t n);
/* Uniform integer in [lo, hi] (inclusive); returns lo when hi <= lo. */
int64_t qrng_range(qrng *r, int64_t lo, int64_t hi);
/* Standard normal (Box-Muller; consumes two uniforms, keeps no spare). */
float qrng_normal(qrng *r);
/* Shuffles idx[0..n) in place (Fisher-Yates). */
void qrng_shuffle_size(qrng *r, size_t *idx, size_t n);

#endif
