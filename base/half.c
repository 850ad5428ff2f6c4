/* fp16 and bf16 conversions; see base/half.h. */
#include "base/half.h"

#include <string.h>

/* Round-to-nearest-even fp32 -> fp16 (after F. Giesen's float_to_half_fast3_rtne). */
uint16_t qt_f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = u & 0x80000000u;
    u ^= sign;
    uint16_t o;
    if (u >= 0x47800000u) { /* >= 65536 (rounds to inf at 65520 below) or inf/nan */
        o = u > 0x7f800000u ? 0x7e00 : 0x7c00;
    } else if (u < 0x38800000u) { /* below 2^-14: fp16 subnormal or zero */
        const uint32_t magic_u = (uint32_t)((127 - 15) + (23 - 10) + 1) << 23;
        float magic, v;
        memcpy(&magic, &magic_u, 4);
        memcpy(&v, &u, 4);
        v += magic; /* aligns the 10 mantissa bits at the bottom; RNE by the FPU */
        memcpy(&u, &v, 4);
        o = (uint16_t)(u - magic_u);
    } else {
        uint32_t mant_odd = (u >> 13) & 1;
        u += ((uint32_t)(15 - 127) << 23) + 0xfff;
        u += mant_odd;
        o = (uint16_t)(u >> 13);
    }
    return (uint16_t)(o | (sign >> 16));
}

float qt_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, u;
    if (exp == 0x1f) {
        u = sign | 0x7f800000u | (mant << 13);
    } else if (exp == 0) {
        float v = (float)mant * 0x1p-24f; /* exact */
        memcpy(&u, &v, 4);
        u |= sign;
    } else {
        u = sign | ((exp + 112) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float qt_f16_round(float f) { return qt_f16_to_f32(qt_f32_to_f16(f)); }

float qt_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t qt_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 64); /* NaN: force quiet */
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}
