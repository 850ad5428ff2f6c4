/* llama.cpp's ggml types and block codecs; see quant/ggml_blocks.h. */
#include "quant/ggml_blocks.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/half.h"
#include "quant/quant.h"

/* ---------------------------------------------------------- types */

static const struct {
    int type;
    const char *name;
    int block;
    size_t size;
} TYPES[] = {
    {QT_GGML_F32, "F32", 1, 4},       {QT_GGML_F16, "F16", 1, 2},       {QT_GGML_Q4_0, "Q4_0", 32, 18},
    {QT_GGML_Q4_1, "Q4_1", 32, 20},   {QT_GGML_Q5_0, "Q5_0", 32, 22},   {QT_GGML_Q5_1, "Q5_1", 32, 24},
    {QT_GGML_Q8_0, "Q8_0", 32, 34},   {QT_GGML_Q8_1, "Q8_1", 32, 36},   {QT_GGML_Q2_K, "Q2_K", 256, 84},
    {QT_GGML_Q3_K, "Q3_K", 256, 110}, {QT_GGML_Q4_K, "Q4_K", 256, 144}, {QT_GGML_Q5_K, "Q5_K", 256, 176},
    {QT_GGML_Q6_K, "Q6_K", 256, 210}, {QT_GGML_Q8_K, "Q8_K", 256, 292}, {QT_GGML_IQ4_NL, "IQ4_NL", 32, 18},
    {QT_GGML_BF16, "BF16", 1, 2},     {QT_GGML_MXFP4, "MXFP4", 32, 17},
};
#define N_TYPES (sizeof TYPES / sizeof TYPES[0])

const char *qt_ggml_type_name(int type) {
    for (size_t i = 0; i < N_TYPES; i++)
        if (TYPES[i].type == type) return TYPES[i].name;
    return NULL;
}

int qt_ggml_type_from_name(const char *name) {
    for (size_t i = 0; i < N_TYPES; i++)
        if (!strcmp(TYPES[i].name, name)) return TYPES[i].type;
    return -1;
}

int qt_ggml_block_size(int type) {
    for (size_t i = 0; i < N_TYPES; i++)
        if (TYPES[i].type == type) return TYPES[i].block;
    return 0;
}

size_t qt_ggml_type_size(int type) {
    for (size_t i = 0; i < N_TYPES; i++)
        if (TYPES[i].type == type) return TYPES[i].size;
    return 0;
}

size_t qt_ggml_nbytes(int type, int n_dims, const uint64_t *ne) {
    int bs = qt_ggml_block_size(type);
    size_t ts = qt_ggml_type_size(type);
    if (!bs || n_dims < 1 || n_dims > QT_GGML_MAX_DIMS) return 0;
    if (ne[0] == 0 || ne[0] % (uint64_t)bs) return 0;
    uint64_t bytes = ne[0] / (uint64_t)bs * ts;
    for (int d = 1; d < n_dims; d++) {
        if (ne[d] == 0) return 0;
        if (bytes > UINT64_MAX / ne[d]) return 0;
        bytes *= ne[d];
    }
    if (bytes > (uint64_t)SIZE_MAX / 2) return 0;
    return (size_t)bytes;
}

/* ---------------------------------------------------------- fields and rounding */

static void put_f16(uint8_t *p, float v) {
    uint16_t h = qt_f32_to_f16(v);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static float get_f16(const uint8_t *p) { return qt_f16_to_f32(le16(p)); }

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* llama.cpp's nearest_int: adding 1.5·2^23 leaves round-half-even(v) in the
 * low mantissa bits (valid for |v| < 2^22, which every caller keeps). */
static int round_magic(float v) {
    float t = v + 12582912.0f;
    int32_t i;
    memcpy(&i, &t, 4);
    return (i & 0x007fffff) - 0x00400000;
}

/* E8M0 exponent e as 2^(e - 128): half the block scale 2^(e - 127), since
 * the E2M1 table below holds doubled values (ggml's e8m0_to_fp32_half). */
static float e8m0_half(uint8_t e) {
    uint32_t bits = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* IQ4_NL's 16 non-uniform levels (sorted) and MXFP4's E2M1 values times 2,
 * by code: the level grids of quant/quant.h */
#define IQ4NL_LEVELS qt_quant_levels(QT_GRID_IQ4_NL)
#define E2M1_X2 qt_quant_levels(QT_GRID_MXFP4)

/* the index of the sorted level nearest to v, ties to the upper level: v
 * passes level i once 2v >= val[i-1] + val[i] (both sides exact); n a power
 * of 2 (ggml's best_index_int8) */
static int nearest_level(int n, const int8_t *val, float v) {
    const float v2 = v + v;
    int idx = 0;
    for (int step = n >> 1; step > 0; step >>= 1) {
        int j = idx + step;
        if (v2 >= (float)(val[j - 1] + val[j])) idx = j;
    }
    return idx;
}

#define EPS_ALL_ZERO 1e-15f /* ggml's GROUP_MAX_EPS: a group this small is all zero */

/* ---------------------------------------------------------- scale fitting (k-quants, imatrix) */

/* the element of largest magnitude, with its sign (the first of equals) */
static float signed_absmax(const float *x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++)
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    return max;
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* the codes l = clamp(round(iscale·x), -nmax, nmax-1) of n values (to L
 * plus off when L is non-NULL) and their sums Σw·x·l, Σw·l² (w NULL: x²) */
static void sym_codes(int n, int nmax, const float *x, const float *w, float iscale, int8_t *L, int off,
                      float *sumlx, float *suml2) {
    float sx = 0.0f, s2 = 0.0f;
    for (int i = 0; i < n; i++) {
        int l = clampi(round_magic(iscale * x[i]), -nmax, nmax - 1);
        if (L) L[i] = (int8_t)(l + off);
        float wi = w ? w[i] : x[i] * x[i];
        sx += wi * x[i] * (float)l;
        s2 += wi * (float)l * (float)l;
    }
    *sumlx = sx;
    *suml2 = s2;
}

/* Symmetric codes l in [-nmax, nmax-1] with a least-squares scale, the scale
 * searched over 19 starting points -(nmax + 0.1·is)/max (max: the element of
 * largest magnitude, with its sign), weights w (NULL: x²). L gets l + nmax.
 * Returns the scale (ggml's make_qx_quants with rmse_type 1). */
static float fit_sym(int n, int nmax, const float *x, int8_t *L, const float *w) {
    const float max = signed_absmax(x, n);
    if (fabsf(max) < EPS_ALL_ZERO) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float sumlx, suml2;
    sym_codes(n, nmax, x, w, (float)-nmax / max, L, nmax, &sumlx, &suml2);
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f, best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        const float iscale = -((float)nmax + 0.1f * (float)is) / max;
        sym_codes(n, nmax, x, w, iscale, NULL, 0, &sumlx, &suml2);
        if (suml2 > 0.0f && sumlx * sumlx > best * suml2) {
            sym_codes(n, nmax, x, w, iscale, L, nmax, &sumlx, &suml2); /* the same sums, and the codes */
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Q3_K's reference fit: codes l in [-nmax, nmax-1] from -nmax/max, then up
 * to 5 sweeps moving single codes to their weighted (x²) optimum while that
 * raises (Σwxl)²/Σwl². L gets l + nmax; returns the scale
 * (ggml's make_q3_quants with do_rmse). */
static float fit_q3(int n, int nmax, const float *x, int8_t *L) {
    const float max = signed_absmax(x, n);
    if (fabsf(max) < EPS_ALL_ZERO) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float sumlx, suml2;
    sym_codes(n, nmax, x, NULL, (float)-nmax / max, L, 0, &sumlx, &suml2);
    for (int pass = 0; pass < 5; pass++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            float w = x[i] * x[i], slx = sumlx - w * x[i] * (float)L[i];
            if (slx > 0.0f) {
                float sl2 = suml2 - w * (float)L[i] * (float)L[i];
                int nl = clampi(round_magic(x[i] * sl2 / slx), -nmax, nmax - 1);
                if (nl != L[i]) {
                    slx += w * x[i] * (float)nl;
                    sl2 += w * (float)nl * (float)nl;
                    if (sl2 > 0.0f && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)nl;
                        sumlx = slx;
                        suml2 = sl2;
                        changed++;
                    }
                }
            }
        }
        if (!changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* Codes l in [0, nmax] for x ≈ scale·l - m (m >= 0 to *neg_min): starts from
 * the range [min(x, 0), max x], then tries nstep+1 scales
 * (rmin + rdelta·is + nmax)/(max - min), each with the weighted least-squares
 * scale and min of its codes (min clamped to <= 0), and keeps the one with the
 * smallest weighted error (|diff| when use_mad, else diff²). Laux: n bytes of
 * scratch. Returns the scale. One function for ggml's make_qkx2_quants and
 * make_qkx3_quants: they differ only on non-finite input (qkx3 clamps the
 * scaled value to [0, nmax] before rounding; both give the same codes for
 * finite values). */
static float fit_scale_min(int n, int nmax, const float *x, const float *w, uint8_t *L, float *neg_min,
                           uint8_t *Laux, float rmin, float rdelta, int nstep, int use_mad) {
    float min = x[0], max = x[0], sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0.0f) min = 0.0f;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *neg_min = -min;
        return 0.0f;
    }
    float iscale = (float)nmax / (max - min), scale = 1.0f / iscale, best_err = 0.0f;
    for (int i = 0; i < n; i++) {
        int l = round_magic(iscale * (x[i] - min));
        L[i] = (uint8_t)clampi(l, 0, nmax);
        float diff = scale * (float)L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_err += w[i] * diff;
    }
    if (nstep < 1) {
        *neg_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * (float)is + (float)nmax) / (max - min);
        float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;
        for (int i = 0; i < n; i++) {
            float v = iscale * (x[i] - min);
            int l = v > 0.0f ? round_magic(v < (float)nmax ? v : (float)nmax) : 0;
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * (float)l;
            sum_l2 += w[i] * (float)l * (float)l;
            sum_xl += w[i] * (float)l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0.0f) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0.0f) {
                this_min = 0.0f;
                this_scale = sum_xl / sum_l2;
            }
            float err = 0.0f;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * (float)Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                err += w[i] * diff;
            }
            if (err < best_err) {
                memcpy(L, Laux, (size_t)n);
                best_err = err;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *neg_min = -min;
    return scale;
}

/* Non-negative codes l in [0, nmax] (stored as bytes, as ggml does) for the
 * non-negative x (sub-block scales or mins) with weights qw: the best of 9
 * starting scales by weighted MSE, then up to 5 sweeps of single-code moves.
 * Returns the scale (ggml's make_qp_quants). */
static float fit_pos(int n, int nmax, const float *x, uint8_t *L, const float *qw) {
    float max = 0.0f;
    for (int i = 0; i < n; i++) max = max > x[i] ? max : x[i];
    if (max < EPS_ALL_ZERO) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = (float)nmax / max;
    for (int i = 0; i < n; i++) L[i] = (uint8_t)round_magic(iscale * x[i]);
    float scale = 1.0f / iscale, best_mse = 0.0f;
    for (int i = 0; i < n; i++) {
        float diff = x[i] - scale * (float)L[i];
        best_mse += qw[i] * diff * diff;
    }
    for (int is = -4; is <= 4; is++) {
        if (is == 0) continue;
        float iscale_is = (0.1f * (float)is + (float)nmax) / max, scale_is = 1.0f / iscale_is, mse = 0.0f;
        for (int i = 0; i < n; i++) {
            int l = round_magic(iscale_is * x[i]);
            l = l < nmax ? l : nmax;
            float diff = x[i] - scale_is * (float)l;
            mse += qw[i] * diff * diff;
        }
        if (mse < best_mse) {
            best_mse = mse;
            iscale = iscale_is;
        }
    }
    float sumlx = 0.0f, suml2 = 0.0f;
    for (int i = 0; i < n; i++) {
        int l = round_magic(iscale * x[i]);
        l = l < nmax ? l : nmax;
        L[i] = (uint8_t)l;
        sumlx += qw[i] * x[i] * (float)l;
        suml2 += qw[i] * (float)l * (float)l;
    }
    for (int pass = 0; pass < 5; pass++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            float w = qw[i], slx = sumlx - w * x[i] * (float)L[i], sl2 = suml2 - w * (float)L[i] * (float)L[i];
            if (slx > 0.0f && sl2 > 0.0f) {
                int nl = round_magic(x[i] * sl2 / slx);
                nl = nl < nmax ? nl : nmax;
                if (nl != L[i]) {
                    slx += w * x[i] * (float)nl;
                    sl2 += w * (float)nl * (float)nl;
                    if (slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (uint8_t)nl;
                        sumlx = slx;
                        suml2 = sl2;
                        changed++;
                    }
                }
            }
        }
        if (!changed) break;
    }
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* ---------------------------------------------------------- blocks of 32 */

static void quantize_q8_0(const float *x, uint8_t *blk) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    put_f16(blk, d);
    for (int j = 0; j < 32; j++) blk[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
}

/* 32 codes of `bits` bits: low nibbles to qs (value j and j + 16 share byte
 * j), the fifth bits (5-bit types) to the 32-bit little-endian qh */
static void pack_32(const int *c, uint8_t *qs, uint8_t *qh) {
    uint32_t h = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((c[j] & 15) | ((c[j + 16] & 15) << 4));
        h |= (uint32_t)((c[j] >> 4) & 1) << j;
        h |= (uint32_t)((c[j + 16] >> 4) & 1) << (j + 16);
    }
    if (qh) put_le32(qh, h);
}

/* Q4_0 (bits 4) and Q5_0 (bits 5): d = max/-2^(bits-1) (max signed), codes
 * min(2^bits - 1, trunc(x/d + 2^(bits-1) + 0.5)) */
static void quantize_qx_0(const float *x, uint8_t *blk, int bits) {
    const float half = (float)(1 << (bits - 1)), top = (float)((1 << bits) - 1);
    float d = signed_absmax(x, 32) / -half, id = d != 0.0f ? 1.0f / d : 0.0f;
    put_f16(blk, d);
    int c[32];
    for (int j = 0; j < 32; j++) {
        int q = (int)(int8_t)(x[j] * id + (half + 0.5f));
        c[j] = q < (int)top ? q : (int)top;
    }
    if (bits == 4) pack_32(c, blk + 2, NULL);
    else pack_32(c, blk + 6, blk + 2);
}

/* Q4_1 (bits 4) and Q5_1 (bits 5): d = (max - min)/(2^bits - 1), m = min,
 * codes trunc((x - min)/d + 0.5) (Q4_1 also capped at 15) */
static void quantize_qx_1(const float *x, uint8_t *blk, int bits) {
    float mn = FLT_MAX, mx = -FLT_MAX;
    for (int j = 0; j < 32; j++) {
        if (x[j] < mn) mn = x[j];
        if (x[j] > mx) mx = x[j];
    }
    float d = (mx - mn) / (float)((1 << bits) - 1), id = d != 0.0f ? 1.0f / d : 0.0f;
    put_f16(blk, d);
    put_f16(blk + 2, mn);
    int c[32];
    for (int j = 0; j < 32; j++) {
        float v = (x[j] - mn) * id + 0.5f;
        if (bits == 4) {
            int q = (int)(int8_t)v;
            c[j] = q < 15 ? q : 15;
        } else {
            c[j] = (int)(uint8_t)v;
        }
    }
    if (bits == 4) pack_32(c, blk + 4, NULL);
    else pack_32(c, blk + 8, blk + 4);
}

/* the weights of the imatrix path of a row's block: qw·sqrt(sigma2 + x²) */
static void imatrix_weights(const float *x, const float *qw, float sigma2, float *w, int n) {
    for (int j = 0; j < n; j++) w[j] = qw[j] * sqrtf(sigma2 + x[j] * x[j]);
}

/* Q4_0 / Q5_0 with importance (ggml's quantize_row_q4_0_impl / q5_0_impl):
 * fit_sym with the imatrix weights; sigma2 = mean x² of the whole row */
static void quantize_qx_0_w(const float *x, uint8_t *blk, const float *qw, float sigma2, int bits) {
    float w[32];
    int8_t L[32];
    int c[32];
    imatrix_weights(x, qw, sigma2, w, 32);
    float d = fit_sym(32, 1 << (bits - 1), x, L, w);
    put_f16(blk, d);
    for (int j = 0; j < 32; j++) c[j] = L[j];
    if (bits == 4) pack_32(c, blk + 2, NULL);
    else pack_32(c, blk + 6, blk + 2);
}

/* Q4_1 / Q5_1 with importance: fit_scale_min (qkx3 settings), m = -min */
static void quantize_qx_1_w(const float *x, uint8_t *blk, const float *qw, float sigma2, int bits) {
    float w[32], neg_min;
    uint8_t L[32], Laux[32];
    int c[32];
    imatrix_weights(x, qw, sigma2, w, 32);
    float d = fit_scale_min(32, (1 << bits) - 1, x, w, L, &neg_min, Laux, -0.9f, 0.05f, 36, 0);
    put_f16(blk, d);
    put_f16(blk + 2, -neg_min);
    for (int j = 0; j < 32; j++) c[j] = L[j];
    if (bits == 4) pack_32(c, blk + 4, NULL);
    else pack_32(c, blk + 8, blk + 4);
}

/* MXFP4: e = floor(log2 amax) - 2 + 127 (0 for an all-zero block), each
 * value the nearest of E2M1_X2·2^(e-128) (first of equals) */
static void quantize_mxfp4(const float *x, uint8_t *blk) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++)
        if (amax < fabsf(x[j])) amax = fabsf(x[j]);
    /* ggml converts the float exponent straight to uint8_t; through int here,
     * which gives the same byte for every finite amax (x86's conversion) */
    uint8_t e = amax > 0.0f ? (uint8_t)(int)(floorf(log2f(amax)) - 2.0f + 127.0f) : 0;
    const float d = e8m0_half(e);
    blk[0] = e;
    int c[32];
    for (int j = 0; j < 32; j++) {
        int best = 0;
        float best_err = fabsf((float)E2M1_X2[0] * d - x[j]);
        for (int i = 1; i < 16; i++) {
            float err = fabsf((float)E2M1_X2[i] * d - x[j]);
            if (err < best_err) {
                best = i;
                best_err = err;
            }
        }
        c[j] = best;
    }
    pack_32(c, blk + 1, NULL);
}

/* IQ4_NL (ggml's quantize_row_iq4_nl_impl for one block of 32): weights
 * qw·sqrt(sigma2 + x²) (sigma2 = 2·mean x² of the block) or x²; codes of
 * x/d for d = ∓max/127, then the weighted least-squares scale of those codes;
 * with ntry > 0 also 2·ntry + 1 further scales (itry - 127)/max, the best
 * kept, and the codes redone from the final scale. The reference quantizer
 * is ntry = -1 without weights; llama-quantize uses ntry = 7. */
static void quantize_iq4_nl(const float *x, uint8_t *blk, const float *qw, int ntry) {
    const int8_t *val = IQ4NL_LEVELS;
    float w[32], sigma2 = 0.0f;
    uint8_t L[32];
    for (int j = 0; j < 32; j++) sigma2 += x[j] * x[j];
    sigma2 *= 2.0f / 32.0f;
    if (qw) imatrix_weights(x, qw, sigma2, w, 32);
    else
        for (int j = 0; j < 32; j++) w[j] = x[j] * x[j];
    const float max = signed_absmax(x, 32);
    float scale;
    if (fabsf(max) < EPS_ALL_ZERO) {
        scale = 0.0f;
        memset(L, 0, 32);
    } else {
        float d = ntry > 0 ? -max / (float)val[0] : max / (float)val[0], id = 1.0f / d;
        float sumqx = 0.0f, sumq2 = 0.0f;
        for (int j = 0; j < 32; j++) {
            int l = nearest_level(16, val, id * x[j]);
            L[j] = (uint8_t)l;
            float q = (float)val[l];
            sumqx += w[j] * q * x[j];
            sumq2 += w[j] * q * q;
        }
        d = sumq2 > 0.0f ? sumqx / sumq2 : 0.0f;
        float best = d * sumqx;
        for (int itry = -ntry; itry <= ntry; itry++) {
            id = (float)(itry + val[0]) / max;
            sumqx = sumq2 = 0.0f;
            for (int j = 0; j < 32; j++) {
                float q = (float)val[nearest_level(16, val, id * x[j])];
                sumqx += w[j] * q * x[j];
                sumq2 += w[j] * q * q;
            }
            if (sumq2 > 0.0f && sumqx * sumqx > best * sumq2) {
                d = sumqx / sumq2;
                best = d * sumqx;
            }
        }
        scale = d;
    }
    put_f16(blk, scale);
    if (ntry > 0) {
        float id = scale != 0.0f ? 1.0f / scale : 0.0f;
        for (int j = 0; j < 32; j++) L[j] = (uint8_t)nearest_level(16, val, id * x[j]);
    }
    int c[32];
    for (int j = 0; j < 32; j++) c[j] = L[j];
    pack_32(c, blk + 2, NULL);
}

/* ---------------------------------------------------------- k-quants: super-blocks of 256 */

/* 2-bit codes of a super-block (Q2_K, Q3_K low bits): value e in qs[32·(e/128)
 * + e%32] at bit 2·((e%128)/32) */
static void pack_2bit(const uint8_t *L, uint8_t *qs) {
    for (int j = 0; j < 256; j += 128)
        for (int l = 0; l < 32; l++)
            qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

/* Q2_K's end: scale bytes sc (low nibble scale, high nibble min), d and
 * dmin written; codes with d·sc ≠ 0 redone from the stored (fp16) values */
/* Q2_K block from its parts: sub-scale bytes sc (low nibble scale, high
 * nibble min), d, dmin and the 256 codes L (0..3) */
static void pack_q2_K(uint8_t *blk, const uint8_t *sc, float d, float dmin, const uint8_t *L) {
    memcpy(blk, sc, 16);
    put_f16(blk + 80, d);
    put_f16(blk + 82, dmin);
    pack_2bit(L, blk + 16);
}

static void finish_q2_K(const float *x, uint8_t *blk, const uint8_t *sc, float d, float dmin, uint8_t *L) {
    const float dh = qt_f16_round(d), mh = qt_f16_round(dmin);
    for (int j = 0; j < 16; j++) {
        const float dl = dh * (float)(sc[j] & 0xF);
        if (dl == 0.0f) continue;
        const float ml = mh * (float)(sc[j] >> 4);
        for (int i = 0; i < 16; i++) {
            int l = round_magic((x[16 * j + i] + ml) / dl);
            L[16 * j + i] = (uint8_t)clampi(l, 0, 3);
        }
    }
    pack_q2_K(blk, sc, d, dmin, L);
}

/* Q2_K reference: per 16 values fit_scale_min (|x| weights, MAD), sub-block
 * scales and mins as 4-bit fractions of their maxima */
static void quantize_q2_K(const float *x, uint8_t *blk) {
    uint8_t L[256], Laux[16], sc[16];
    float w[16], mins[16], scales[16], max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < 16; j++) {
        for (int l = 0; l < 16; l++) w[l] = fabsf(x[16 * j + l]);
        scales[j] = fit_scale_min(16, 3, x + 16 * j, w, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, 1);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float d = 0.0f, dmin = 0.0f;
    memset(sc, 0, sizeof sc);
    if (max_scale > 0.0f) {
        float iscale = 15.0f / max_scale;
        for (int j = 0; j < 16; j++) sc[j] = (uint8_t)round_magic(iscale * scales[j]);
        d = max_scale / 15.0f;
    }
    if (max_min > 0.0f) {
        float iscale = 15.0f / max_min;
        for (int j = 0; j < 16; j++) sc[j] |= (uint8_t)(round_magic(iscale * mins[j]) << 4);
        dmin = max_min / 15.0f;
    }
    finish_q2_K(x, blk, sc, d, dmin, L);
}

/* Q2_K with importance (ggml's quantize_row_q2_K_impl): weights
 * qw·sqrt(mean x² + x²), qkx3 fits, sub-block scales and mins by fit_pos */
static void quantize_q2_K_w(const float *x, uint8_t *blk, const float *qw) {
    uint8_t L[256], Laux[16], Ls[16], Lm[16], sc[16];
    float w[16], mins[16], scales[16], sw[16], sumx2 = 0.0f;
    for (int j = 0; j < 256; j++) sumx2 += x[j] * x[j];
    const float sigma2 = sumx2 / 256.0f;
    for (int j = 0; j < 16; j++) {
        imatrix_weights(x + 16 * j, qw + 16 * j, sigma2, w, 16);
        sw[j] = 0.0f;
        for (int l = 0; l < 16; l++) sw[j] += w[l];
        scales[j] = fit_scale_min(16, 3, x + 16 * j, w, L + 16 * j, &mins[j], Laux, -0.9f, 0.05f, 36, 0);
    }
    float dm = fit_pos(16, 15, scales, Ls, sw), mm = fit_pos(16, 15, mins, Lm, sw);
    for (int j = 0; j < 16; j++) sc[j] = (uint8_t)(Ls[j] | (Lm[j] << 4));
    finish_q2_K(x, blk, sc, dm, mm, L);
}

/* Q3_K's end: 6-bit sub-block scales ls (stored +32) packed into 12 bytes,
 * d written, codes redone from the stored scales, high bits to hmask
 * (value e: hmask[e%32] bit e/32), low 2 bits as pack_2bit */
/* Q3_K block from its parts: 6-bit stored sub-scales ls (scale + 32), d and
 * the 256 codes L (0..7, value q - 4) */
static void pack_q3_K(uint8_t *blk, const int *ls, float d, const int8_t *L) {
    uint8_t *hmask = blk, *qs = blk + 32, *sc = blk + 96;
    memset(sc, 0, 12);
    for (int j = 0; j < 16; j++) {
        int l = ls[j];
        if (j < 8) sc[j] = (uint8_t)(l & 0xF);
        else sc[j - 8] |= (uint8_t)((l & 0xF) << 4);
        sc[j % 4 + 8] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
    }
    put_f16(blk + 108, d);
    memset(hmask, 0, 32);
    uint8_t U[256];
    for (int j = 0; j < 256; j++) {
        U[j] = (uint8_t)L[j];
        if (U[j] > 3) {
            hmask[j % 32] |= (uint8_t)(1u << (j / 32));
            U[j] -= 4;
        }
    }
    pack_2bit(U, qs);
}

static void finish_q3_K(const float *x, uint8_t *blk, const int *ls, float d, int8_t *L) {
    const float dh = qt_f16_round(d);
    for (int j = 0; j < 16; j++) {
        const float dl = dh * (float)(ls[j] - 32);
        if (dl == 0.0f) continue;
        for (int i = 0; i < 16; i++) {
            int l = round_magic(x[16 * j + i] / dl);
            L[16 * j + i] = (int8_t)(clampi(l, -4, 3) + 4);
        }
    }
    pack_q3_K(blk, ls, d, L);
}

/* Q3_K reference: fit_q3 per 16 values, scales as 6-bit fractions of the
 * largest-magnitude one (d = max/-32) */
static void quantize_q3_K(const float *x, uint8_t *blk) {
    int8_t L[256];
    float scales[16], max_scale = 0.0f, amax = 0.0f, d = 0.0f;
    int ls[16] = {0};
    for (int j = 0; j < 16; j++) {
        scales[j] = fit_q3(16, 4, x + 16 * j, L + 16 * j);
        if (fabsf(scales[j]) > amax) {
            amax = fabsf(scales[j]);
            max_scale = scales[j];
        }
    }
    if (max_scale != 0.0f) {
        float iscale = -32.0f / max_scale;
        for (int j = 0; j < 16; j++) {
            int l = (int8_t)round_magic(iscale * scales[j]);
            ls[j] = clampi(l, -32, 31) + 32;
        }
        d = 1.0f / iscale;
    }
    /* an all-zero super-block stores 0 (decoded -32) for every scale, d = 0 */
    finish_q3_K(x, blk, ls, d, L);
}

/* Q3_K with importance: weights qw·sqrt(2·mean x² + x²), fit_sym per 16
 * values and once more over the 16 scales (weights: their sums) */
static void quantize_q3_K_w(const float *x, uint8_t *blk, const float *qw) {
    int8_t L[256], Ls[16];
    float w[16], scales[16], sw[16], sumx2 = 0.0f;
    int ls[16];
    for (int j = 0; j < 256; j++) sumx2 += x[j] * x[j];
    const float sigma2 = 2.0f * sumx2 / 256.0f;
    for (int j = 0; j < 16; j++) {
        imatrix_weights(x + 16 * j, qw + 16 * j, sigma2, w, 16);
        sw[j] = 0.0f;
        for (int l = 0; l < 16; l++) sw[j] += w[l];
        scales[j] = fit_sym(16, 4, x + 16 * j, L + 16 * j, w);
    }
    float d = fit_sym(16, 32, scales, Ls, sw);
    for (int j = 0; j < 16; j++) ls[j] = Ls[j];
    finish_q3_K(x, blk, ls, d, L);
}

/* Q4_K / Q5_K's 6-bit scale and min of sub-block j (of 8) from the 12 bytes q */
static void scale_min_k4(int j, const uint8_t *q, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* Q4_K (bits 4) / Q5_K (bits 5)'s end: 6-bit scales ls and mins lm packed,
 * d and dmin written, codes redone from the stored values, then packed:
 * value e's low nibble in qs[32·(e/64) + e%32] (high nibble when e%64 >= 32),
 * Q5_K's fifth bit in qh[e%32] bit e/32 */
/* Q4_K (bits 4) / Q5_K (bits 5) block from its parts: 6-bit scales ls and
 * mins lm, d, dmin and the 256 codes L (0..2^bits - 1): value e's low nibble
 * in qs[32·(e/64) + e%32] (high nibble when e%64 >= 32), Q5_K's fifth bit in
 * qh[e%32] bit e/32 */
static void pack_q45_K(uint8_t *blk, const uint8_t *ls, const uint8_t *lm, float d, float dmin, const uint8_t *L,
                       int bits) {
    uint8_t *sc = blk + 4;
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            sc[j] = ls[j];
            sc[j + 4] = lm[j];
        } else {
            sc[j + 4] = (uint8_t)((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
            sc[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            sc[j] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
    put_f16(blk, d);
    put_f16(blk + 2, dmin);
    uint8_t *qh = bits == 5 ? blk + 16 : NULL, *qs = bits == 5 ? blk + 48 : blk + 16;
    if (qh) memset(qh, 0, 32);
    for (int n = 0; n < 256; n += 64)
        for (int j = 0; j < 32; j++) {
            int l1 = L[n + j], l2 = L[n + j + 32];
            if (qh) {
                if (l1 > 15) { l1 -= 16; qh[j] |= (uint8_t)(1u << (n / 32)); }
                if (l2 > 15) { l2 -= 16; qh[j] |= (uint8_t)(2u << (n / 32)); }
            }
            qs[n / 2 + j] = (uint8_t)(l1 | (l2 << 4));
        }
}

/* Q4_K / Q5_K's end: codes redone from the stored (fp16) scales, then packed */
static void finish_q45_K(const float *x, uint8_t *blk, const uint8_t *ls, const uint8_t *lm, float d, float dmin,
                         uint8_t *L, int bits) {
    const int nmax = (1 << bits) - 1;
    const float dh = qt_f16_round(d), mh = qt_f16_round(dmin);
    for (int j = 0; j < 8; j++) {
        const float dl = dh * (float)ls[j];
        if (dl == 0.0f) continue;
        const float ml = mh * (float)lm[j];
        for (int i = 0; i < 32; i++) {
            int l = round_magic((x[32 * j + i] + ml) / dl);
            L[32 * j + i] = (uint8_t)clampi(l, 0, nmax);
        }
    }
    pack_q45_K(blk, ls, lm, d, dmin, L, bits);
}

/* Q4_K / Q5_K reference: fit_scale_min per 32 values (weights
 * rms + |x|), scales and mins as 6-bit fractions of their maxima */
static void quantize_q45_K(const float *x, uint8_t *blk, int bits) {
    const int nmax = (1 << bits) - 1;
    uint8_t L[256], Laux[32], ls[8], lm[8];
    float w[32], mins[8], scales[8], max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < 8; j++) {
        float sum_x2 = 0.0f;
        for (int l = 0; l < 32; l++) sum_x2 += x[32 * j + l] * x[32 * j + l];
        float av_x = sqrtf(sum_x2 / 32.0f);
        for (int l = 0; l < 32; l++) w[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = bits == 4 ? fit_scale_min(32, nmax, x + 32 * j, w, L + 32 * j, &mins[j], Laux, -1.0f, 0.1f, 20, 0)
                              : fit_scale_min(32, nmax, x + 32 * j, w, L + 32 * j, &mins[j], Laux, -0.5f, 0.1f, 15, 0);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f, inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
    for (int j = 0; j < 8; j++) {
        uint8_t a = (uint8_t)round_magic(inv_scale * scales[j]), b = (uint8_t)round_magic(inv_min * mins[j]);
        ls[j] = a < 63 ? a : 63;
        lm[j] = b < 63 ? b : 63;
    }
    finish_q45_K(x, blk, ls, lm, max_scale / 63.0f, max_min / 63.0f, L, bits);
}

/* Q4_K / Q5_K with importance: weights qw·sqrt(2·mean x² + x²), qkx3 fits,
 * scales and mins by fit_pos */
static void quantize_q45_K_w(const float *x, uint8_t *blk, const float *qw, int bits) {
    uint8_t L[256], Laux[32], Ls[8], Lm[8];
    float w[32], sw[8], mins[8], scales[8], sum_x2 = 0.0f;
    for (int l = 0; l < 256; l++) sum_x2 += x[l] * x[l];
    const float sigma2 = 2.0f * sum_x2 / 256.0f;
    for (int j = 0; j < 8; j++) {
        imatrix_weights(x + 32 * j, qw + 32 * j, sigma2, w, 32);
        sw[j] = 0.0f;
        for (int l = 0; l < 32; l++) sw[j] += w[l];
        scales[j] = fit_scale_min(32, (1 << bits) - 1, x + 32 * j, w, L + 32 * j, &mins[j], Laux, -0.9f, 0.05f, 36, 0);
    }
    float d = fit_pos(8, 63, scales, Ls, sw), m = fit_pos(8, 63, mins, Lm, sw);
    for (int j = 0; bits == 5 && j < 8; j++) { /* ggml caps the codes for Q5_K only */
        Ls[j] = Ls[j] < 63 ? Ls[j] : 63;
        Lm[j] = Lm[j] < 63 ? Lm[j] : 63;
    }
    finish_q45_K(x, blk, Ls, Lm, d, m, L, bits);
}

/* Q6_K (reference: qw NULL, weights x²; with importance: weights qw):
 * fit_sym per 16 values (nmax 32), 8-bit scales from d = max/-128, codes
 * redone from the stored scales; an all-zero super-block is all zero bytes */
static void pack_q6_K_codes(const int8_t *L, uint8_t *ql, uint8_t *qh);

static void quantize_q6_K(const float *x, uint8_t *blk, const float *qw) {
    int8_t L[256];
    float scales[16], max_scale = 0.0f, max_abs = 0.0f;
    for (int j = 0; j < 16; j++) {
        scales[j] = fit_sym(16, 32, x + 16 * j, L + 16 * j, qw ? qw + 16 * j : NULL);
        if (fabsf(scales[j]) > max_abs) {
            max_abs = fabsf(scales[j]);
            max_scale = scales[j];
        }
    }
    if (max_abs < EPS_ALL_ZERO) {
        memset(blk, 0, 210);
        return;
    }
    uint8_t *ql = blk, *qh = blk + 128;
    int8_t *sc = (int8_t *)(blk + 192);
    float iscale = -128.0f / max_scale;
    put_f16(blk + 208, 1.0f / iscale);
    for (int j = 0; j < 16; j++) {
        int l = round_magic(iscale * scales[j]);
        sc[j] = (int8_t)(l < 127 ? l : 127);
    }
    const float dh = get_f16(blk + 208);
    for (int j = 0; j < 16; j++) {
        const float dl = dh * (float)sc[j];
        if (dl == 0.0f) continue;
        for (int i = 0; i < 16; i++) {
            int l = round_magic(x[16 * j + i] / dl);
            L[16 * j + i] = (int8_t)(clampi(l, -32, 31) + 32);
        }
    }
    pack_q6_K_codes(L, ql, qh);
}

/* Q6_K's 256 codes L (0..63, value q - 32) into ql and qh */
static void pack_q6_K_codes(const int8_t *L, uint8_t *ql, uint8_t *qh) {
    for (int j = 0; j < 256; j += 128) {
        for (int l = 0; l < 32; l++) {
            const int q1 = L[j + l], q2 = L[j + l + 32], q3 = L[j + l + 64], q4 = L[j + l + 96];
            ql[l] = (uint8_t)((q1 & 0xF) | ((q3 & 0xF) << 4));
            ql[l + 32] = (uint8_t)((q2 & 0xF) | ((q4 & 0xF) << 4));
            qh[l] = (uint8_t)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
        }
        ql += 64;
        qh += 32;
    }
}

/* Q8_K: d = max/-127 as fp32 (max signed), q = min(127, round(x/d)), and
 * the sums of 16 codes; an all-zero super-block is all zero bytes */
static void quantize_q8_K(const float *x, uint8_t *blk) {
    const float max = signed_absmax(x, 256);
    memset(blk, 0, 292);
    if (max == 0.0f) return;
    const float iscale = -127.0f / max, d = 1.0f / iscale;
    memcpy(blk, &d, 4);
    for (int j = 0; j < 256; j++) {
        int v = round_magic(iscale * x[j]);
        blk[4 + j] = (uint8_t)(int8_t)(v < 127 ? v : 127);
    }
    for (int j = 0; j < 16; j++) {
        int sum = 0;
        for (int i = 0; i < 16; i++) sum += (int8_t)blk[4 + 16 * j + i];
        blk[260 + 2 * j] = (uint8_t)sum;
        blk[261 + 2 * j] = (uint8_t)((unsigned)sum >> 8);
    }
}

/* ---------------------------------------------------------- quantize entry points */

/* one block of a type by its reference quantizer */
static void quantize_block_ref(int type, const float *x, uint8_t *blk) {
    switch (type) {
    case QT_GGML_Q8_0: quantize_q8_0(x, blk); break;
    case QT_GGML_Q4_0: quantize_qx_0(x, blk, 4); break;
    case QT_GGML_Q5_0: quantize_qx_0(x, blk, 5); break;
    case QT_GGML_Q4_1: quantize_qx_1(x, blk, 4); break;
    case QT_GGML_Q5_1: quantize_qx_1(x, blk, 5); break;
    case QT_GGML_MXFP4: quantize_mxfp4(x, blk); break;
    case QT_GGML_IQ4_NL: quantize_iq4_nl(x, blk, NULL, -1); break;
    case QT_GGML_Q2_K: quantize_q2_K(x, blk); break;
    case QT_GGML_Q3_K: quantize_q3_K(x, blk); break;
    case QT_GGML_Q4_K: quantize_q45_K(x, blk, 4); break;
    case QT_GGML_Q5_K: quantize_q45_K(x, blk, 5); break;
    case QT_GGML_Q6_K: quantize_q6_K(x, blk, NULL); break;
    case QT_GGML_Q8_K: quantize_q8_K(x, blk); break;
    default: break;
    }
}

/* the float types, element by element */
static int quantize_float(int type, const float *x, void *out, size_t n) {
    if (type == QT_GGML_F32) {
        memcpy(out, x, n * sizeof(float));
        return 0;
    }
    uint8_t *o = out;
    for (size_t i = 0; i < n; i++) {
        uint16_t h = type == QT_GGML_F16 ? qt_f32_to_f16(x[i]) : qt_f32_to_bf16(x[i]);
        o[2 * i] = (uint8_t)h;
        o[2 * i + 1] = (uint8_t)(h >> 8);
    }
    return 0;
}

int qt_ggml_quantize_ref(int type, const float *x, void *out, size_t n) {
    if (type == QT_GGML_F32 || type == QT_GGML_F16 || type == QT_GGML_BF16) return quantize_float(type, x, out, n);
    const int bs = qt_ggml_block_size(type);
    if (bs < 32 || type == QT_GGML_Q8_1 || n % (size_t)bs) return -1;
    const size_t bsz = qt_ggml_type_size(type);
    uint8_t *o = out;
    for (size_t b = 0; b < n / (size_t)bs; b++) quantize_block_ref(type, x + b * (size_t)bs, o + b * bsz);
    return 0;
}

/* one row of n values with importance qw (n of them), as llama-quantize
 * does with an imatrix (and for IQ4_NL always) */
static void quantize_row_w(int type, const float *x, uint8_t *o, size_t n, const float *qw) {
    const int bs = qt_ggml_block_size(type);
    const size_t bsz = qt_ggml_type_size(type), nb = n / (size_t)bs;
    float sigma2 = 0.0f; /* the 32-block types' mean x² over the whole row */
    if (bs == 32 && qw) {
        for (size_t j = 0; j < n; j++) sigma2 += x[j] * x[j];
        sigma2 /= (float)n;
    }
    for (size_t b = 0; b < nb; b++) {
        const float *xb = x + b * (size_t)bs, *wb = qw ? qw + b * (size_t)bs : NULL;
        uint8_t *blk = o + b * bsz;
        switch (type) {
        case QT_GGML_Q4_0: quantize_qx_0_w(xb, blk, wb, sigma2, 4); break;
        case QT_GGML_Q5_0: quantize_qx_0_w(xb, blk, wb, sigma2, 5); break;
        case QT_GGML_Q4_1: quantize_qx_1_w(xb, blk, wb, sigma2, 4); break;
        case QT_GGML_Q5_1: quantize_qx_1_w(xb, blk, wb, sigma2, 5); break;
        case QT_GGML_IQ4_NL: quantize_iq4_nl(xb, blk, wb, 7); break;
        case QT_GGML_Q2_K: quantize_q2_K_w(xb, blk, wb); break;
        case QT_GGML_Q3_K: quantize_q3_K_w(xb, blk, wb); break;
        case QT_GGML_Q4_K: quantize_q45_K_w(xb, blk, wb, 4); break;
        case QT_GGML_Q5_K: quantize_q45_K_w(xb, blk, wb, 5); break;
        case QT_GGML_Q6_K: quantize_q6_K(xb, blk, wb); break;
        default: break;
        }
    }
}

int qt_ggml_quantize_chunk(int type, const float *x, void *out, size_t nrows, size_t n_per_row, const float *imatrix) {
    const int bs = qt_ggml_block_size(type);
    if (!bs || type == QT_GGML_Q8_1 || type == QT_GGML_Q8_K || n_per_row % (size_t)bs) return -1;
    const size_t n = nrows * n_per_row;
    /* types without an importance path, and the others without an imatrix,
     * are the reference quantizer over all rows (IQ4_NL aside) */
    if (type == QT_GGML_F32 || type == QT_GGML_F16 || type == QT_GGML_BF16 || type == QT_GGML_Q8_0 ||
        type == QT_GGML_MXFP4 || (!imatrix && type != QT_GGML_IQ4_NL))
        return qt_ggml_quantize_ref(type, x, out, n);
    const size_t row_bytes = n_per_row / (size_t)bs * qt_ggml_type_size(type);
    for (size_t r = 0; r < nrows; r++)
        quantize_row_w(type, x + r * n_per_row, (uint8_t *)out + r * row_bytes, n_per_row, imatrix);
    return 0;
}

/* ---------------------------------------------------------- dequantization */

/* a 32-value block to floats */
static void dequantize_32(int type, const uint8_t *blk, float *y) {
    switch (type) {
    case QT_GGML_Q8_0: {
        const float d = get_f16(blk);
        for (int j = 0; j < 32; j++) y[j] = (float)(int8_t)blk[2 + j] * d;
        return;
    }
    case QT_GGML_Q4_0: case QT_GGML_Q5_0: {
        const float d = get_f16(blk);
        const int five = type == QT_GGML_Q5_0, off = five ? 16 : 8;
        const uint8_t *qs = blk + (five ? 6 : 2);
        const uint32_t qh = five ? le32(blk + 2) : 0;
        for (int j = 0; j < 16; j++) {
            int a = (qs[j] & 15) | (int)(((qh >> j) & 1) << 4), b = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            y[j] = (float)(a - off) * d;
            y[j + 16] = (float)(b - off) * d;
        }
        return;
    }
    case QT_GGML_Q4_1: case QT_GGML_Q5_1: {
        const float d = get_f16(blk), m = get_f16(blk + 2);
        const int five = type == QT_GGML_Q5_1;
        const uint8_t *qs = blk + (five ? 8 : 4);
        const uint32_t qh = five ? le32(blk + 4) : 0;
        for (int j = 0; j < 16; j++) {
            int a = (qs[j] & 15) | (int)(((qh >> j) & 1) << 4), b = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            y[j] = (float)a * d + m;
            y[j + 16] = (float)b * d + m;
        }
        return;
    }
    case QT_GGML_IQ4_NL: case QT_GGML_MXFP4: {
        const int nl = type == QT_GGML_IQ4_NL;
        const float d = nl ? get_f16(blk) : e8m0_half(blk[0]);
        const int8_t *val = nl ? IQ4NL_LEVELS : E2M1_X2;
        const uint8_t *qs = blk + (nl ? 2 : 1);
        for (int j = 0; j < 16; j++) {
            /* ggml: d·level for IQ4_NL, level·d for MXFP4 (the same product) */
            y[j] = d * (float)val[qs[j] & 15];
            y[j + 16] = d * (float)val[qs[j] >> 4];
        }
        return;
    }
    default: return;
    }
}

/* the sub-block count of a k-quant type (0 for others) */
static int k_sub_blocks(int type) {
    switch (type) {
    case QT_GGML_Q2_K: case QT_GGML_Q3_K: case QT_GGML_Q6_K: return 16;
    case QT_GGML_Q4_K: case QT_GGML_Q5_K: return 8;
    case QT_GGML_Q8_K: return 1;
    default: return 0;
    }
}

/* a k-quant super-block's effective sub-block scales and mins (as ggml's
 * dequantizers form them) and its 256 integer codes */
static int k_unpack(int type, const uint8_t *b, float *d_sub, float *m_sub, int8_t *q) {
    const int ns = k_sub_blocks(type);
    switch (type) {
    case QT_GGML_Q2_K: {
        const float d = get_f16(b + 80), dmin = get_f16(b + 82);
        for (int j = 0; j < 16; j++) {
            d_sub[j] = d * (float)(b[j] & 0xF);
            m_sub[j] = dmin * (float)(b[j] >> 4);
        }
        for (int e = 0; q && e < 256; e++) q[e] = (int8_t)((b[16 + 32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3);
        break;
    }
    case QT_GGML_Q3_K: {
        const float d = get_f16(b + 108);
        const uint8_t *sc = b + 96;
        for (int j = 0; j < 16; j++) {
            int s = j < 8 ? sc[j] & 0xF : sc[j - 8] >> 4;
            s = (s | (((sc[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
            d_sub[j] = d * (float)s;
            m_sub[j] = 0.0f;
        }
        for (int e = 0; q && e < 256; e++) {
            int lo = (b[32 + 32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
            q[e] = (int8_t)(lo - ((b[e % 32] >> (e / 32)) & 1 ? 0 : 4));
        }
        break;
    }
    case QT_GGML_Q4_K: case QT_GGML_Q5_K: {
        const float d = get_f16(b), dmin = get_f16(b + 2);
        const int five = type == QT_GGML_Q5_K;
        const uint8_t *qs = b + (five ? 48 : 16);
        for (int j = 0; j < 8; j++) {
            int s, m;
            scale_min_k4(j, b + 4, &s, &m);
            d_sub[j] = d * (float)s;
            m_sub[j] = dmin * (float)m;
        }
        for (int e = 0; q && e < 256; e++) {
            int byte = qs[32 * (e / 64) + e % 32], v = e % 64 < 32 ? byte & 0xF : byte >> 4;
            if (five) v += ((b[16 + e % 32] >> (e / 32)) & 1) << 4;
            q[e] = (int8_t)v;
        }
        break;
    }
    case QT_GGML_Q6_K: {
        const float d = get_f16(b + 208);
        for (int j = 0; j < 16; j++) {
            d_sub[j] = d * (float)(int8_t)b[192 + j];
            m_sub[j] = 0.0f;
        }
        for (int e = 0; q && e < 256; e++) {
            const int n = e / 128, quarter = (e % 128) / 32, l = e % 32;
            const uint8_t lb = b[64 * n + l + (quarter & 1) * 32], hb = b[128 + 32 * n + l];
            int lo = quarter < 2 ? lb & 0xF : lb >> 4;
            q[e] = (int8_t)((lo | (((hb >> (2 * quarter)) & 3) << 4)) - 32);
        }
        break;
    }
    case QT_GGML_Q8_K: {
        memcpy(d_sub, b, 4);
        m_sub[0] = 0.0f;
        for (int e = 0; q && e < 256; e++) q[e] = (int8_t)b[4 + e];
        break;
    }
    default: return -1;
    }
    return ns;
}

int qt_ggml_k_block_params(int type, const void *block, float *d_sub, float *m_sub) {
    return k_unpack(type, block, d_sub, m_sub, NULL);
}

int qt_ggml_k_block_codes(int type, const void *block, int8_t *q) {
    float d[16], m[16];
    return k_unpack(type, block, d, m, q);
}

int qt_ggml_dequantize(int type, const void *in_, float *out, size_t n) {
    const uint8_t *in = in_;
    switch (type) {
    case QT_GGML_F32: memcpy(out, in, n * 4); return 0;
    case QT_GGML_F16:
        for (size_t i = 0; i < n; i++) out[i] = qt_f16_to_f32(le16(in + 2 * i));
        return 0;
    case QT_GGML_BF16:
        for (size_t i = 0; i < n; i++) out[i] = qt_bf16_to_f32(le16(in + 2 * i));
        return 0;
    default: break;
    }
    const int bs = qt_ggml_block_size(type), ns = k_sub_blocks(type);
    if (bs < 32 || type == QT_GGML_Q8_1 || n % (size_t)bs) return -1;
    const size_t bsz = qt_ggml_type_size(type);
    for (size_t b = 0; b < n / (size_t)bs; b++) {
        const uint8_t *blk = in + b * bsz;
        float *y = out + b * (size_t)bs;
        if (bs == 32) {
            dequantize_32(type, blk, y);
            continue;
        }
        float d[16], m[16];
        int8_t q[256];
        k_unpack(type, blk, d, m, q);
        const int sub = 256 / ns;
        /* Q2_K, Q4_K, Q5_K: d·q - m; Q3_K, Q6_K, Q8_K: d·q (ggml's order) */
        const int has_min = type == QT_GGML_Q2_K || type == QT_GGML_Q4_K || type == QT_GGML_Q5_K;
        for (int e = 0; e < 256; e++)
            y[e] = has_min ? d[e / sub] * (float)q[e] - m[e / sub] : d[e / sub] * (float)q[e];
    }
    return 0;
}

void qt_ggml_block_mins(int type, const void *blocks, size_t nb, float *mins) {
    const uint8_t *p = blocks;
    const size_t stride = qt_ggml_type_size(type); /* Q4_1, Q5_1: [d, m, ...] */
    for (size_t b = 0; b < nb; b++) mins[b] = get_f16(p + b * stride + 2);
}

/* ---------------------------------------------------------- frozen codes */

/* 1 if v is an fp16 value */
static int is_f16(float v) { return qt_f16_round(v) == v; }

/* the frozen K-type weight qw (its spec exactly the type's layout) as
 * super-blocks: d, dmin and the integer sub-scales (scales / d) and sub-mins
 * (-mins / dmin) of quant/quant.h's double quantization, the codes as they are */
static int kquant_qweight(const qt_qweight *qw, int type, uint8_t *out, char *why, size_t len) {
    const qt_quant_spec *s = &qw->spec; /* exactly the type's layout (qt_ggml_type_holds) */
    const int per_sb = 256 / s->group, nsb = qw->cols / 256;
    const size_t bsz = qt_ggml_type_size(type);
    for (int r = 0; r < qw->rows; r++)
        for (int b = 0; b < nsb; b++) {
            const size_t sbi = (size_t)r * nsb + b, g0 = sbi * per_sb, o = sbi * 256;
            const float d = qw->sb_d[sbi], dmin = qw->sb_dmin ? qw->sb_dmin[sbi] : 0.0f;
            int sc[16], mq[16] = {0};
            for (int j = 0; j < per_sb; j++) {
                sc[j] = (int)(qw->scales[g0 + j] / d);
                if (dmin > 0.0f) mq[j] = (int)(-qw->mins[g0 + j] / dmin);
                if ((float)sc[j] * d != qw->scales[g0 + j] || (dmin > 0.0f && -(float)mq[j] * dmin != qw->mins[g0 + j])) {
                    snprintf(why, len, "row %d, super-block %d: group %d's scale %.9g is not an integer multiple of "
                             "d = %.9g (freeze it with its double quantization)", r, b, j, qw->scales[g0 + j], d);
                    return -1;
                }
            }
            if (!out) continue;
            uint8_t *blk = out + sbi * bsz;
            if (type == QT_GGML_Q2_K) {
                uint8_t scb[16], L[256];
                for (int j = 0; j < 16; j++) scb[j] = (uint8_t)(sc[j] | (mq[j] << 4));
                memcpy(L, qw->codes_u8 + o, 256);
                pack_q2_K(blk, scb, d, dmin, L);
            } else if (type == QT_GGML_Q3_K) {
                int ls[16];
                int8_t L[256];
                for (int j = 0; j < 16; j++) ls[j] = sc[j] + 32;
                for (int e = 0; e < 256; e++) L[e] = (int8_t)(qw->codes_s8[o + e] + 4);
                pack_q3_K(blk, ls, d, L);
            } else if (type == QT_GGML_Q4_K || type == QT_GGML_Q5_K) {
                uint8_t ls[8], lm[8];
                for (int j = 0; j < 8; j++) ls[j] = (uint8_t)sc[j], lm[j] = (uint8_t)mq[j];
                pack_q45_K(blk, ls, lm, d, dmin, qw->codes_u8 + o, type == QT_GGML_Q5_K ? 5 : 4);
            } else { /* Q6_K */
                int8_t L[256];
                for (int e = 0; e < 256; e++) L[e] = (int8_t)(qw->codes_s8[o + e] + 32);
                for (int j = 0; j < 16; j++) blk[192 + j] = (uint8_t)(int8_t)sc[j];
                put_f16(blk + 208, d);
                pack_q6_K_codes(L, blk, blk + 128);
            }
        }
    return 0;
}

/* the frozen IQ4_NL / MXFP4 weight qw (groups of 32) as blocks: the fp16
 * scale (IQ4_NL) or the E8M0 byte e = log2(s) + 128 (MXFP4), and the codes */
static int level_qweight(const qt_qweight *qw, int type, uint8_t *out, char *why, size_t len) {
    const int nl = type == QT_GGML_IQ4_NL;
    const size_t ng = (size_t)qw->rows * (qw->cols / 32), bsz = qt_ggml_type_size(type);
    for (size_t gi = 0; gi < ng; gi++) {
        const float d = qw->scales[gi];
        int e = 0;
        if (!nl) {
            const float m = frexpf(d, &e); /* d = 2^(e-1) exactly when m = 0.5 */
            e += 127;
            if (m != 0.5f || e < 0 || e > 254) {
                snprintf(why, len, "scale of row %zu, group %zu = %.9g is not a power of two in E8M0's range",
                         gi / (qw->cols / 32), gi % (qw->cols / 32), d);
                return -1;
            }
        } else if (!is_f16(d)) {
            snprintf(why, len, "scale of row %zu, group %zu = %.9g is not an fp16 value (%s)", gi / (qw->cols / 32),
                     gi % (qw->cols / 32), d, qw->spec.fp16_scales ? "the frozen grid was built without fp16 rounding"
                                                                   : "train with quant.weights.fp16_scales = true");
            return -1;
        }
        if (!out) continue;
        uint8_t *blk = out + gi * bsz;
        if (nl) put_f16(blk, d);
        else blk[0] = (uint8_t)e;
        int c[32];
        for (int j = 0; j < 32; j++) c[j] = qw->codes_u8[gi * 32 + j] & 15;
        pack_32(c, blk + (nl ? 2 : 1), NULL);
    }
    return 0;
}

int qt_ggml_type_holds(int type, const qt_quant_spec *s, char *why, size_t len) {
    if (type >= QT_GGML_Q2_K && type <= QT_GGML_Q6_K) {
        if (qt_ggml_type_of_spec(s) == type) return 1;
        snprintf(why, len, "%d-bit %s grid, group %d, %d-bit sub-scales (%s holds exactly its own layout: train with "
                 "quant.weights.type \"%s\")", s->bits, qt_quant_grid_name(s->grid), s->group, s->dq_bits,
                 qt_ggml_type_name(type), qt_ggml_type_name(type));
        return 0;
    }
    if (type == QT_GGML_IQ4_NL || type == QT_GGML_MXFP4) {
        if (qt_ggml_type_of_spec(s) == type) return 1;
        snprintf(why, len, "%d-bit %s grid, group %d (%s holds its own 16 levels in groups of 32: train with "
                 "quant.weights.type \"%s\")", s->bits, qt_quant_grid_name(s->grid), s->group,
                 qt_ggml_type_name(type), qt_ggml_type_name(type));
        return 0;
    }
    if (type != QT_GGML_Q8_0 && type != QT_GGML_Q4_0 && type != QT_GGML_Q4_1 && type != QT_GGML_Q5_0 &&
        type != QT_GGML_Q5_1) {
        snprintf(why, len, "type %s is not one qatc writes from a frozen grid (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, "
                 "Q2_K..Q6_K, IQ4_NL, MXFP4)", qt_ggml_type_name(type) ? qt_ggml_type_name(type) : "?");
        return 0;
    }
    if (qt_quant_is_level_grid(s->grid)) {
        snprintf(why, len, "the %s grid (its levels are not %s's; write it as %s)", qt_quant_grid_name(s->grid),
                 qt_ggml_type_name(type), s->grid == QT_GRID_IQ4_NL ? "IQ4_NL" : "MXFP4");
        return 0;
    }
    if (s->group != 32 || s->dq_bits) {
        snprintf(why, len, "group %d%s (%s blocks hold groups of 32 along the row, each with its own fp16 scale)",
                 s->group, s->dq_bits ? " with super-block sub-scales" : "", qt_ggml_type_name(type));
        return 0;
    }
    const int q5 = type == QT_GGML_Q5_0 || type == QT_GGML_Q5_1, with_min = type == QT_GGML_Q4_1 || type == QT_GGML_Q5_1;
    const int cb = q5 ? 5 : 4;
    int ok = type == QT_GGML_Q8_0 ? (s->grid == QT_GRID_SYM && s->bits <= 8) || (s->grid == QT_GRID_ASYM && s->bits <= 7)
           : !with_min ? s->grid == QT_GRID_SYM && s->bits <= cb
           : s->bits <= cb;
    if (!ok)
        snprintf(why, len, "%d-bit %s grid (%s holds %s)", s->bits, qt_quant_grid_name(s->grid), qt_ggml_type_name(type),
                 type == QT_GGML_Q8_0 ? "sym <= 8-bit and asym <= 7-bit codes"
                 : type == QT_GGML_Q4_0 ? "sym <= 4-bit codes (levels -8..7)"
                 : type == QT_GGML_Q5_0 ? "sym <= 5-bit codes (levels -16..15)"
                 : q5 ? "5-bit codes with a float min" : "4-bit codes with a float min");
    return ok;
}

int qt_ggml_quantize_qweight(const qt_qweight *qw, int type, void *out_, char *why, size_t len) {
    uint8_t *out = out_;
    const qt_quant_spec *s = &qw->spec;
    if (!qt_ggml_type_holds(type, s, why, len)) return -1;
    if (type >= QT_GGML_Q2_K && type <= QT_GGML_Q6_K) return kquant_qweight(qw, type, out, why, len);
    if (type == QT_GGML_IQ4_NL || type == QT_GGML_MXFP4) return level_qweight(qw, type, out, why, len);
    const int q5 = type == QT_GGML_Q5_0 || type == QT_GGML_Q5_1, with_min = type == QT_GGML_Q4_1 || type == QT_GGML_Q5_1;
    const int cb = q5 ? 5 : 4; /* code bits of the 4/5-bit types */
    const int nb = qw->cols / 32, half = 1 << (cb - 1);
    const size_t ng = (size_t)qw->rows * nb, bsz = qt_ggml_type_size(type);
    for (size_t gi = 0; gi < ng; gi++) {
        float d = qw->scales[gi], m = 0.0f;
        if (with_min)
            m = s->grid == QT_GRID_FLOAT_MIN ? qw->mins[gi]
              : s->grid == QT_GRID_ASYM ? -(float)qw->zeros[gi] * d : -(float)half * d;
        if (!is_f16(d) || !is_f16(m)) {
            /* a learned fp16 scale or min fails only without fp16_scales; a min derived from an
             * integer zero point (-z·s) need not be an fp16 value whatever the training did */
            const int derived = is_f16(d) && s->grid != QT_GRID_FLOAT_MIN;
            snprintf(why, len, "%s of row %zu, group %zu = %.9g is not an fp16 value (%s)",
                     is_f16(d) ? (derived ? "min -z·s" : "min") : "scale", gi / nb, gi % nb, is_f16(d) ? m : d,
                     derived ? "the type stores an fp16 min; train the float_min grid, which learns one, or write "
                               "this grid as Q8_0"
                     : s->fp16_scales ? "the frozen grid was built without fp16 rounding of its scales"
                                      : "train with quant.weights.fp16_scales = true");
            return -1;
        }
        if (!out) continue;
        const size_t o = gi * 32; /* groups are contiguous: group gi covers codes [32·gi, 32·gi + 32) */
        uint8_t *blk = out + gi * bsz;
        put_f16(blk, d);
        int c[32];
        for (int j = 0; j < 32; j++)
            c[j] = s->grid == QT_GRID_SYM ? qw->codes_s8[o + j] : (int)qw->codes_u8[o + j];
        if (type == QT_GGML_Q8_0) {
            for (int j = 0; j < 32; j++)
                blk[2 + j] = (uint8_t)(int8_t)(s->grid == QT_GRID_ASYM ? c[j] - (int)qw->zeros[gi] : c[j]);
            continue;
        }
        /* stored codes: sym q + 2^(cb-1); asym / float_min as they are */
        if (s->grid == QT_GRID_SYM)
            for (int j = 0; j < 32; j++) c[j] += half;
        if (with_min) put_f16(blk + 2, m);
        const int off = with_min ? 4 : 2;
        if (q5) pack_32(c, blk + off + 4, blk + off);
        else pack_32(c, blk + off, NULL);
    }
    return 0;
}

/* ---------------------------------------------------------- which type */

/* The grid each weight type stores (block of 32, or K super-blocks of 256
 * with dq_bits sub-scales): grid, bits, group, dq_bits. */
static const struct {
    int type;
    qt_grid grid;
    int bits, group, dq_bits;
} TYPE_GRIDS[] = {
    {QT_GGML_Q8_0, QT_GRID_SYM, 8, 32, 0},       {QT_GGML_Q4_0, QT_GRID_SYM, 4, 32, 0},
    {QT_GGML_Q4_1, QT_GRID_FLOAT_MIN, 4, 32, 0}, {QT_GGML_Q5_0, QT_GRID_SYM, 5, 32, 0},
    {QT_GGML_Q5_1, QT_GRID_FLOAT_MIN, 5, 32, 0}, {QT_GGML_Q2_K, QT_GRID_FLOAT_MIN, 2, 16, 4},
    {QT_GGML_Q3_K, QT_GRID_SYM, 3, 16, 6},       {QT_GGML_Q4_K, QT_GRID_FLOAT_MIN, 4, 32, 6},
    {QT_GGML_Q5_K, QT_GRID_FLOAT_MIN, 5, 32, 6}, {QT_GGML_Q6_K, QT_GRID_SYM, 6, 16, 8},
    {QT_GGML_IQ4_NL, QT_GRID_IQ4_NL, 4, 32, 0},  {QT_GGML_MXFP4, QT_GRID_MXFP4, 4, 32, 0},
};
#define N_TYPE_GRIDS (sizeof TYPE_GRIDS / sizeof TYPE_GRIDS[0])

int qt_ggml_spec_of_type(int type, qt_quant_spec *spec) {
    for (size_t i = 0; i < N_TYPE_GRIDS; i++)
        if (TYPE_GRIDS[i].type == type) {
            spec->grid = TYPE_GRIDS[i].grid;
            spec->bits = TYPE_GRIDS[i].bits;
            spec->group = TYPE_GRIDS[i].group;
            spec->dq_bits = TYPE_GRIDS[i].dq_bits;
            spec->fp16_scales = type != QT_GGML_MXFP4; /* MXFP4: power-of-two scales */
            return 0;
        }
    return -1;
}

int qt_ggml_type_of_spec(const qt_quant_spec *s) {
    if (s->dq_bits) { /* a K type only with exactly its layout */
        for (size_t i = 0; i < N_TYPE_GRIDS; i++)
            if (TYPE_GRIDS[i].dq_bits == s->dq_bits && TYPE_GRIDS[i].grid == s->grid &&
                TYPE_GRIDS[i].bits == s->bits && TYPE_GRIDS[i].group == s->group)
                return TYPE_GRIDS[i].type;
        return -1;
    }
    if (s->group != 32) return -1;
    if (s->grid == QT_GRID_IQ4_NL) return QT_GGML_IQ4_NL;
    if (s->grid == QT_GRID_MXFP4) return QT_GGML_MXFP4;
    if (s->grid == QT_GRID_SYM && s->bits == 8) return QT_GGML_Q8_0;
    if (s->grid == QT_GRID_SYM && s->bits <= 4) return QT_GGML_Q4_0;
    if (s->grid == QT_GRID_SYM && s->bits == 5) return QT_GGML_Q5_0;
    if (s->grid == QT_GRID_FLOAT_MIN && s->bits <= 4) return QT_GGML_Q4_1;
    if (s->grid == QT_GRID_FLOAT_MIN && s->bits == 5) return QT_GGML_Q5_1;
    return -1;
}

int qt_ggml_vec_dot_type(int type) {
    if (type == QT_GGML_Q4_1 || type == QT_GGML_Q5_1) return QT_GGML_Q8_1;
    if (type == QT_GGML_Q8_0 || type == QT_GGML_Q4_0 || type == QT_GGML_Q5_0 || type == QT_GGML_IQ4_NL ||
        type == QT_GGML_MXFP4)
        return QT_GGML_Q8_0;
    if (type >= QT_GGML_Q2_K && type <= QT_GGML_Q6_K) return QT_GGML_Q8_K;
    if (type == QT_GGML_F16) return QT_GGML_F16;
    return QT_GGML_F32;
}

int qt_ggml_spec_vec_dot_type(const qt_quant_spec *s) {
    if (s->dq_bits) return QT_GGML_Q8_K;
    return s->grid == QT_GRID_FLOAT_MIN && s->group == 32 ? QT_GGML_Q8_1 : QT_GGML_Q8_0;
}

/* ---------------------------------------------------------- matmul inputs */

void qt_ggml_q8_round_row(const float *x, float *y, size_t n, float *d32, int *qsum) {
    for (size_t b0 = 0, bi = 0; b0 < n; b0 += 32, bi++) {
        size_t m = n - b0 < 32 ? n - b0 : 32;
        float amax = 0.0f;
#pragma omp simd reduction(max : amax)
        for (size_t i = 0; i < m; i++) {
            float a = fabsf(x[b0 + i]);
            amax = a > amax ? a : amax;
        }
        float d = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f, dh = qt_f16_round(d);
        int s = 0;
        for (size_t i = 0; i < m; i++) {
            float q = rintf(x[b0 + i] * id);
            s += (int)q;
            y[b0 + i] = q * dh;
        }
        if (qsum) {
            d32[bi] = d;
            qsum[bi] = s;
        }
    }
}

void qt_ggml_q8_1_round_row(const float *x, float *y, size_t n, float *corr) {
    const size_t nb = (n + 31) / 32;
    float d32[nb];
    int qs[nb];
    qt_ggml_q8_round_row(x, y, n, d32, qs);
    for (size_t b = 0; b < nb; b++) {
        float s = qt_f16_round(d32[b] * (float)qs[b]);
        corr[b] = s - qt_f16_round(d32[b]) * (float)qs[b];
    }
}

void qt_ggml_q8_1_add_min_term(float *y, const float *corr, const float *mins, int rows, int out, int nb) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out, nb, 1.0f, corr, nb, mins, nb, 1.0f, y, out);
}
