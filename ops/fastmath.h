/* Internal math helpers shared by the ops (not part of the public API). */
#ifndef QATC_OPS_FASTMATH_H
#define QATC_OPS_FASTMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* exp(x) in float, branch-free so that loops over it vectorize (libm's expf
 * does not without -ffast-math): Cephes' range reduction x = n·ln2 + r and
 * degree-6 polynomial, max relative error ~1.5 ulp over [-87, 88]; 0 below
 * -87.33 (where expf is denormal or 0), +88.37 caps it. Internal to
 * ops/ (ops.h is the public API). */
static inline float fast_expf(float x) {
    const float under = x < -87.33f ? 0.0f : 1.0f;
    x = x < -87.33f ? -87.33f : x;
    x = x > 88.37f ? 88.37f : x;
    float n = rintf(x * 1.44269504088896341f);
    float r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float y = p * r * r + r + 1.0f;
    int32_t e = ((int32_t)n + 127) << 23;
    float sc;
    memcpy(&sc, &e, sizeof sc);
    return y * sc * under;
}

/* log-sum-exp of x[0..n)·inv_t, summed in double (ops/loss.c, ops/lm_loss.c) */
static inline double row_lse(const float *x, int n, float inv_t) {
    float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
    for (int j = 0; j < n; j++) mx = x[j] * inv_t > mx ? x[j] * inv_t : mx;
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int j = 0; j < n; j++) s += fast_expf(x[j] * inv_t - mx);
    return mx + log(s);
}

#endif
