/* llama.cpp's ggml types and block codecs; see quant/ggml_blocks.h. */
#include "quant/ggml_blocks.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

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
    {QT_GGML_Q6_K, "Q6_K", 256, 210}, {QT_GGML_Q8_K, "Q8_K", 256, 292}, {QT_GGML_BF16, "BF16", 1, 2},
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

/* ---------------------------------------------------------- fp16 fields */

static void put_f16(uint8_t *p, float v) {
    uint16_t h = qt_f32_to_f16(v);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

/* ---------------------------------------------------------- reference quantizers */

static void quantize_q8_0(const float *x, uint8_t *blk) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    put_f16(blk, d);
    for (int j = 0; j < 32; j++) blk[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
}

static void quantize_q4_0(const float *x, uint8_t *blk) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; j++)
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    float d = max / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    put_f16(blk, d);
    for (int j = 0; j < 16; j++) {
        int a = (int)(int8_t)(x[j] * id + 8.5f), b = (int)(int8_t)(x[16 + j] * id + 8.5f);
        a = a < 15 ? a : 15;
        b = b < 15 ? b : 15;
        blk[2 + j] = (uint8_t)(a | (b << 4));
    }
}

static void quantize_q4_1(const float *x, uint8_t *blk) {
    float mn = x[0], mx = x[0];
    for (int j = 1; j < 32; j++) {
        mn = fminf(mn, x[j]);
        mx = fmaxf(mx, x[j]);
    }
    float d = (mx - mn) / 15.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    put_f16(blk, d);
    put_f16(blk + 2, mn);
    for (int j = 0; j < 16; j++) {
        int a = (int)(int8_t)((x[j] - mn) * id + 0.5f), b = (int)(int8_t)((x[16 + j] - mn) * id + 0.5f);
        a = a < 15 ? a : 15;
        b = b < 15 ? b : 15;
        blk[2 + j] = (uint8_t)(a | (b << 4));
    }
}

int qt_ggml_quantize_ref(int type, const float *x, void *out, size_t n) {
    if (type == QT_GGML_F32) {
        memcpy(out, x, n * sizeof(float));
        return 0;
    }
    if (type == QT_GGML_F16) {
        uint16_t *h = out;
        for (size_t i = 0; i < n; i++) h[i] = qt_f32_to_f16(x[i]);
        return 0;
    }
    if (type != QT_GGML_Q8_0 && type != QT_GGML_Q4_0 && type != QT_GGML_Q4_1) return -1;
    const size_t bsz = qt_ggml_type_size(type);
    uint8_t *o = out;
    for (size_t b = 0; b < n / 32; b++) {
        const float *xb = x + b * 32;
        if (type == QT_GGML_Q8_0) quantize_q8_0(xb, o + b * bsz);
        else if (type == QT_GGML_Q4_0) quantize_q4_0(xb, o + b * bsz);
        else quantize_q4_1(xb, o + b * bsz);
    }
    return 0;
}

/* ---------------------------------------------------------- dequantization */

int qt_ggml_dequantize(int type, const void *in_, float *out, size_t n) {
    const uint8_t *in = in_;
    switch (type) {
    case QT_GGML_F32: memcpy(out, in, n * 4); return 0;
    case QT_GGML_F16:
        for (size_t i = 0; i < n; i++) out[i] = qt_f16_to_f32(le16(in + 2 * i));
        return 0;
    case QT_GGML_BF16:
        for (size_t i = 0; i < n; i++) {
            uint32_t u = (uint32_t)le16(in + 2 * i) << 16;
            memcpy(&out[i], &u, 4);
        }
        return 0;
    case QT_GGML_Q8_0: case QT_GGML_Q4_0: case QT_GGML_Q4_1: break;
    default: return -1;
    }
    const size_t bsz = qt_ggml_type_size(type);
    for (size_t b = 0; b < n / 32; b++) {
        const uint8_t *blk = in + b * bsz;
        float *y = out + b * 32;
        const float d = qt_f16_to_f32(le16(blk));
        if (type == QT_GGML_Q8_0) {
            for (int j = 0; j < 32; j++) y[j] = (float)(int8_t)blk[2 + j] * d;
        } else if (type == QT_GGML_Q4_0) {
            for (int j = 0; j < 16; j++) {
                y[j] = (float)((blk[2 + j] & 15) - 8) * d;
                y[j + 16] = (float)((blk[2 + j] >> 4) - 8) * d;
            }
        } else {
            const float m = qt_f16_to_f32(le16(blk + 2));
            for (int j = 0; j < 16; j++) {
                y[j] = d * (float)(blk[4 + j] & 15) + m;
                y[j + 16] = d * (float)(blk[4 + j] >> 4) + m;
            }
        }
    }
    return 0;
}

void qt_ggml_q4_1_mins(const void *blocks, size_t nb, float *mins) {
    const uint8_t *p = blocks;
    for (size_t b = 0; b < nb; b++) mins[b] = qt_f16_to_f32(le16(p + b * 20 + 2));
}

/* ---------------------------------------------------------- frozen codes */

static const char *grid_name(qt_grid g) {
    return g == QT_GRID_SYM ? "sym" : g == QT_GRID_ASYM ? "asym (integer zero)" : "float_min";
}

/* 1 if v is an fp16 value */
static int is_f16(float v) { return qt_f16_round(v) == v; }

int qt_ggml_quantize_qweight(const qt_qweight *qw, int type, void *out_, char *why, size_t len) {
    uint8_t *out = out_;
    const qt_quant_spec *s = &qw->spec;
    if (s->group != 32) {
        snprintf(why, len, "group %d (%s blocks hold groups of 32 along the row)",
                 s->group, qt_ggml_type_name(type));
        return -1;
    }
    int ok = type == QT_GGML_Q8_0 ? (s->grid == QT_GRID_SYM && s->bits <= 8) || (s->grid == QT_GRID_ASYM && s->bits <= 7)
           : type == QT_GGML_Q4_0 ? s->grid == QT_GRID_SYM && s->bits <= 4
           : s->bits <= 4;
    if (!ok) {
        snprintf(why, len, "%d-bit %s grid (%s holds %s)", s->bits, grid_name(s->grid), qt_ggml_type_name(type),
                 type == QT_GGML_Q8_0 ? "sym <= 8-bit and asym <= 7-bit codes"
                 : type == QT_GGML_Q4_0 ? "sym <= 4-bit codes (levels -8..7)"
                                        : "4-bit codes with a float min");
        return -1;
    }
    const int nb = qw->cols / 32;
    const size_t ng = (size_t)qw->rows * nb, bsz = qt_ggml_type_size(type);
    for (size_t gi = 0; gi < ng; gi++) {
        float d = qw->scales[gi], m = 0.0f;
        if (type == QT_GGML_Q4_1)
            m = s->grid == QT_GRID_FLOAT_MIN ? qw->mins[gi]
              : s->grid == QT_GRID_ASYM ? -(float)qw->zeros[gi] * d : -8.0f * d;
        if (!is_f16(d) || !is_f16(m)) {
            snprintf(why, len, "%s of row %zu, group %zu = %.9g is not an fp16 value (train with "
                     "quant.weights.fp16_scales = true)", is_f16(d) ? "min" : "scale", gi / nb, gi % nb,
                     is_f16(d) ? m : d);
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
        } else if (type == QT_GGML_Q4_0) {
            for (int j = 0; j < 16; j++) blk[2 + j] = (uint8_t)((c[j] + 8) | ((c[j + 16] + 8) << 4));
        } else {
            put_f16(blk + 2, m);
            int add = s->grid == QT_GRID_SYM ? 8 : 0;
            for (int j = 0; j < 16; j++) blk[4 + j] = (uint8_t)((c[j] + add) | ((c[j + 16] + add) << 4));
        }
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
};
#define N_TYPE_GRIDS (sizeof TYPE_GRIDS / sizeof TYPE_GRIDS[0])

int qt_ggml_spec_of_type(int type, qt_quant_spec *spec) {
    for (size_t i = 0; i < N_TYPE_GRIDS; i++)
        if (TYPE_GRIDS[i].type == type) {
            spec->grid = TYPE_GRIDS[i].grid;
            spec->bits = TYPE_GRIDS[i].bits;
            spec->group = TYPE_GRIDS[i].group;
            spec->dq_bits = TYPE_GRIDS[i].dq_bits;
            spec->fp16_scales = 1;
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
    if (s->grid == QT_GRID_SYM && s->bits == 8) return QT_GGML_Q8_0;
    if (s->grid == QT_GRID_SYM && s->bits <= 4) return QT_GGML_Q4_0;
    if (s->grid == QT_GRID_SYM && s->bits == 5) return QT_GGML_Q5_0;
    if (s->grid == QT_GRID_FLOAT_MIN && s->bits <= 4) return QT_GGML_Q4_1;
    if (s->grid == QT_GRID_FLOAT_MIN && s->bits == 5) return QT_GGML_Q5_1;
    return -1;
}

int qt_ggml_vec_dot_type(int type) {
    if (type == QT_GGML_Q4_1 || type == QT_GGML_Q5_1) return QT_GGML_Q8_1;
    if (type == QT_GGML_Q8_0 || type == QT_GGML_Q4_0 || type == QT_GGML_Q5_0) return QT_GGML_Q8_0;
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
