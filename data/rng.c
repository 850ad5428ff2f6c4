/* xoshiro256** with splitmix64 seeding; see rng.h. */
#include "data/rng.h"

#include <math.h>

#define QRNG_GOLDEN 0x9E3779B97F4A7C15ULL

uint64_t qrng_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

uint64_t qrng_hash2(uint64_t seed, uint64_t k) {
    return qrng_mix64(seed + (k + 1) * QRNG_GOLDEN);
}

void qrng_seed(qrng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < QRNG_STATE_WORDS; i++) {
        x += QRNG_GOLDEN;
        r->s[i] = qrng_mix64(x);
    }
    /* xoshiro must not be all zero; splitmix64 outputs make that impossible
     * in practice, but guard anyway. */
    if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3])) r->s[0] = 1;
}

void qrng_seed_stream(qrng *r, uint64_t seed, uint64_t stream) {
    qrng_seed(r, qrng_mix64(seed ^ qrng_mix64(stream + QRNG_GOLDEN)));
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t qrng_next(qrng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float qrng_uniform(qrng *r) {
    return (float)(qrng_next(r) >> 40) * (1.0f / 16777216.0f);
}

double qrng_uniform_d(qrng *r) {
    return (double)(qrng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

uint64_t qrng_below(qrng *r, uint64_t n) {
    if (n == 0) return 0;
    /* Rejection: accept x < limit, limit a multiple of n. */
    uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
    uint64_t x;
    do {
        x = qrng_next(r);
    } while (x >= limit);
    return x % n;
}

int64_t qrng_range(qrng *r, int64_t lo, int64_t hi) {
    if (hi <= lo) return lo;
    uint64_t span = (uint64_t)hi - (uint64_t)lo + 1;
    if (span == 0) return (int64_t)qrng_next(r); /* full 64-bit range */
    return (int64_t)((uint64_t)lo + qrng_below(r, span));
}

float qrng_normal(qrng *r) {
    double u1 = qrng_uniform_d(r), u2 = qrng_uniform_d(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void qrng_shuffle_size(qrng *r, size_t *idx, size_t n) {
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)qrng_below(r, i);
        size_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}
