/* qatc quantizers: the spec, learnable scale/offset state for one weight, the
 * fake-quant op (STE + LSQ), scale initialisers, the frozen quantized weight
 * (codes + scales + zero points / mins) with pack/unpack, and activation
 * fake-quant.
 *
 * Grids (b = bits, round = round-half-to-even, rintf):
 *   SYM        q = clamp(round(w/s), -2^(b-1), 2^(b-1)-1)        ŵ = q·s
 *   ASYM       q = clamp(round(w/s) + z, 0, 2^b-1)                ŵ = (q - z)·s
 *              z = clamp(round(z_param), 0, 2^b-1)   (STE round, z_param a float)
 *   FLOAT_MIN  q = clamp(round((w - m)/d), 0, 2^b-1)               ŵ = d·q + m
 *              (GGUF Q4_1 style; "scale" holds d, "offset" holds m)
 * Level grids (4 bits; 16 codes naming fixed levels LEVEL[q], as llama.cpp's
 * non-uniform types): with x = w/s and LEVEL sorted, q = the code of the
 * level nearest to x (ties to the larger level: x passes the midpoint
 * (LEVEL_k + LEVEL_k+1)/2 when x >= it), ŵ = s·LEVEL[q]:
 *   IQ4_NL     LEVEL = -127 -104 -83 -65 -49 -35 -22 -10 1 13 25 38 53 69 89 113
 *              (codes 0..15 in that order; llama.cpp's kvalues_iq4nl). The scale
 *              may be negative (the sign decides which side of the grid gets the
 *              level of magnitude 127, as llama.cpp's quantizer does):
 *              s = sign(scale)·max(|scale|, eps), fp16-rounded with fp16_scales.
 *   MXFP4      LEVEL = the E2M1 values doubled: codes 0..7 = 0 1 2 3 4 6 8 12,
 *              codes 8..15 = -0 -1 -2 -3 -4 -6 -8 -12 (code 8 is never chosen);
 *              s = max(scale, eps) rounded to a power of two (E8M0: the exponent
 *              of the nearest one in log scale, frexp mantissa >= 0x1.6a09e6p-1
 *              rounds up; at most 2^126) whatever fp16_scales says. s is
 *              llama.cpp's d = 2^(e-128) of the block's E8M0 byte e.
 * Every scale is used as s = max(scale, QT_SCALE_EPS) and, with fp16_scales,
 * then clamped to QT_SCALE_MAX_F16 (the largest finite fp16, so a group never
 * turns into inf or NaN) and rounded to the nearest fp16 (and so is m for
 * FLOAT_MIN, clamped to ±QT_SCALE_MAX_F16); all of it is straight-through: the
 * gradient reaches the fp32 parameter unchanged (times the indicator
 * QT_SCALE_EPS <= scale (<= QT_SCALE_MAX_F16 with fp16 scales), as
 * torch.clamp gives it; |scale| for IQ4_NL).
 *
 * Double quantization (dq_bits = D > 0; llama.cpp's K-quants): groups of 16
 * or 32 along a row form super-blocks of QT_SUPERBLOCK = 256 weights whose
 * group scales (and mins) are themselves D-bit integers times an fp16
 * super-block scale. With s_j = max(scale_j, eps) the raw scales of the
 * super-block's groups and L = 2^(D-1)-1 (SYM, signed sub-scales used on
 * their positive side) or 2^D-1 (FLOAT_MIN):
 *   d  = max(fp16(max_j s_j / L), 2^-24)      sc_j = clamp(round(s_j/d), 1, L)
 *   s_eff_j = d·sc_j                          (exact in fp32)
 *   FLOAT_MIN, mins below zero only (m_eff = -dmin·mq, K-quants subtract):
 *   μ_j = max(-offset_j, 0)   dmin = fp16(max_j μ_j / L)
 *   mq_j = dmin > 0 ? clamp(round(μ_j/dmin), 0, L) : 0    m_eff_j = 0 - dmin·mq_j
 * and the group is quantized with (s_eff_j, m_eff_j) as above. Gradients go
 * straight through the sub-scale rounding (d and dmin held fixed): the LSQ
 * gradients of s_eff_j and m_eff_j reach scale_j and offset_j unchanged
 * (times scale_j >= eps, and for the min offset_j <= 0; qt_quantizer_clamp
 * projects positive mins to 0). K types: Q2_K = FLOAT_MIN 2-bit g16 D4,
 * Q3_K = SYM 3-bit g16 D6, Q4_K = FLOAT_MIN 4-bit g32 D6, Q5_K = FLOAT_MIN
 * 5-bit g32 D6, Q6_K = SYM 6-bit g16 D8 (quant/ggml_blocks.h).
 *
 * Gradients (LSQ, Esser et al. 2020), with x the pre-rounding value (w/s, or
 * (w - m)/d) and [lo, hi] its clip range (SYM [-Qn, Qp]; ASYM [-z, 2^b-1-z];
 * FLOAT_MIN [0, 2^b-1]; level grids [LEVEL_min, LEVEL_max], round(x) below
 * meaning the nearest level); "inside" means lo <= x <= hi, decided on the fp32,
 * unrounded x (the clip acts before the rounding, q = round(clip(x)), as in
 * LSQ; ŵ is the same as with clamp(round(x)), only the masks are defined so):
 *   ∂ŵ/∂w = 1 inside, 0 outside (STE)
 *   ∂ŵ/∂s = round(x) - x inside, lo or hi (the clip value) outside
 *           (FLOAT_MIN: ∂ŵ/∂d = q - x inside, 0 or 2^b-1 outside)
 *   ∂ŵ/∂z = 0 inside, -s outside (ASYM, through the STE-rounded z; times the
 *           indicator 0 <= z_param <= 2^b-1 from the clamp of z)
 *   ∂ŵ/∂m = 0 inside, 1 outside (FLOAT_MIN)
 * The scale and offset gradients are multiplied by the LSQ factor
 * g = 1/sqrt(N·Qp), N = number of weights sharing the scale (the group size,
 * the row length, or rows·cols per tensor), Qp = the largest level
 * (2^(b-1)-1 for SYM, 2^b-1 for ASYM and FLOAT_MIN, max |LEVEL| for a level
 * grid: 127 for IQ4_NL, 12 for MXFP4). Straight-through also across MXFP4's
 * power-of-two rounding of the scale. The term round(x) - x is evaluated
 * in double from w and s (round(x) from the fp32 x), and sums in double.
 * This is the derivative of the STE surrogate s·(clip(x) + c) (FLOAT_MIN:
 * d·(clip(x) + c) + m), with the rounding residual c = round(clip(x)) - clip(x)
 * (and for ASYM that of z) held fixed: tests/test_quant.c
 * checks it by finite differences and tests/test_quant_torch.c against torch
 * autograd. */
#ifndef QATC_QUANT_QUANT_H
#define QATC_QUANT_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "autograd/tensor.h"
#include "base/half.h"

typedef enum { QT_GRID_SYM = 0, QT_GRID_ASYM = 1, QT_GRID_FLOAT_MIN = 2, QT_GRID_IQ4_NL = 3, QT_GRID_MXFP4 = 4 } qt_grid;
#define QT_N_GRIDS 5

/* spec.group values besides a positive group size */
#define QT_GROUP_PER_CHANNEL 0   /* one scale per row (output channel) */
#define QT_GROUP_PER_TENSOR (-1) /* one scale for the whole tensor */

/* Smallest scale the forward uses (2^-24, the smallest fp16 subnormal, so an
 * fp16-rounded scale is never 0). A parameter below it acts as 2^-24 and gets
 * no gradient; qt_quantizer_clamp() projects it back. */
#define QT_SCALE_EPS 0x1p-24f
/* Largest scale (and |min|) the forward uses with fp16 scales: the largest finite fp16. */
#define QT_SCALE_MAX_F16 65504.0f

/* Weights per super-block of a double-quantized spec (llama.cpp's QK_K). */
#define QT_SUPERBLOCK 256

typedef struct qt_quant_spec {
    int bits;         /* 2..8 (4 for the level grids) */
    int group;        /* >0: that many contiguous weights of a row (must divide the row);
                         QT_GROUP_PER_CHANNEL (0) or QT_GROUP_PER_TENSOR (-1) */
    qt_grid grid;
    int learnable;    /* 1: scale (and offset) are trained by LSQ; 0: fixed (no gradient) */
    int fp16_scales;  /* 1: the forward uses fp16-rounded scales (and FLOAT_MIN mins) */
    int dq_bits;      /* 0: group scales independent; 4..8: quantized per super-block (see the top) */
} qt_quant_spec;

/* Learnable quantizer state of one weight W [rows, cols] (rows = product of
 * the leading dims). Group k of row r covers W[r, k·gsize .. (k+1)·gsize) and
 * owns scale[(per-tensor ? 0 : r)·ngroups + k]. */
typedef struct qt_quantizer {
    qt_quant_spec spec;
    int rows, cols;     /* weight shape */
    int gsize;          /* weights per group within a row (cols for per-channel and per-tensor) */
    int ngroups;        /* groups per row = cols / gsize */
    int srows;          /* rows of the scale tensor: rows, or 1 for per-tensor */
    qt_tensor *scale;   /* [srows, ngroups] param "<w>.scale": s (SYM, ASYM) or d (FLOAT_MIN) */
    qt_tensor *offset;  /* [srows, ngroups] param "<w>.offset": z (ASYM) or m (FLOAT_MIN); NULL for SYM */
} qt_quantizer;

/* Effective per-group parameters, exactly as the forward uses them. */
typedef struct qt_qparams {
    float s;  /* step: max(scale, eps), fp16-rounded when asked */
    float z;  /* ASYM: integer zero point (as float); FLOAT_MIN: min m; SYM: 0 */
} qt_qparams;

/* ---- spec and levels (fakequant.c) ---- */
/* Lowest code: -2^(b-1) for SYM, 0 otherwise. */
int qt_quant_qmin(const qt_quant_spec *spec);
/* Highest code: 2^(b-1)-1 for SYM, 2^b-1 otherwise (15 for the level grids). */
int qt_quant_qmax(const qt_quant_spec *spec);
/* Qp of the LSQ factor: qt_quant_qmax, or max |LEVEL| for a level grid. */
int qt_quant_lsq_qp(const qt_quant_spec *spec);
/* The mean distance between adjacent levels in scale units: 1 for the
 * uniform grids, (LEVEL_max - LEVEL_min)/15 for a level grid (IQ4_NL 16,
 * MXFP4 1.6). A trainer divides the scales' learning rate by it, so that
 * train.scale_lr moves every grid's quantization step by the same amount
 * (the IQ4_NL scale is 16 times smaller than a 4-bit sym one for the same
 * weights). */
double qt_quant_scale_unit(const qt_quant_spec *spec);
/* 1 for a level grid (IQ4_NL, MXFP4), else 0. */
int qt_quant_is_level_grid(qt_grid grid);
/* The 16 levels of a level grid indexed by code (see the top), or NULL. */
const int8_t *qt_quant_levels(qt_grid grid);
/* The config name of a grid: "sym", "asym", "float_min", "iq4_nl", "mxfp4" ("?" if unknown). */
const char *qt_quant_grid_name(qt_grid grid);
/* Checks a spec for a weight of rows x cols; 0 if valid, else -1 with a
 * message in err naming the field and the value. */
int qt_quant_spec_check(const qt_quant_spec *spec, int rows, int cols, char *err, size_t errlen);

/* Groups whose effective parameters are computed together: 256/group for a
 * double-quantized spec (one super-block), else 1. */
int qt_quant_span_groups(const qt_quant_spec *spec);
/* Effective parameters of qt_quant_span_groups(spec) consecutive groups of
 * one row from their raw scales and offsets (offset NULL for SYM) into p;
 * for a double-quantized spec also the super-block scale to *d and min scale
 * to *dmin (either may be NULL; dmin is 0 for SYM). */
void qt_quant_effective_span(const qt_quant_spec *spec, const float *scale, const float *offset, qt_qparams *p,
                             float *d, float *dmin);

/* ---- quantizer state (fakequant.c) ---- */
/* A quantizer for weight w (shape and name taken from w): scale and offset
 * parameters named "<w->name>.scale" / ".offset", scales 1 and offsets 0
 * until an initialiser runs; requires_grad = spec->learnable. Returns NULL
 * with a message in err when the spec does not fit w. */
qt_quantizer *qt_quantizer_new(const qt_quant_spec *spec, const qt_tensor *w, char *err, size_t errlen);
/* Frees the quantizer and its parameters. */
void qt_quantizer_free(qt_quantizer *q);
/* Projects the parameters back into their domain after an optimizer step:
 * scale >= QT_SCALE_EPS (|scale| for IQ4_NL; <= QT_SCALE_MAX_F16 with fp16
 * scales), ASYM z into [0, 2^b-1], K-quant mins <= 0. NaN becomes eps (or 0). */
void qt_quantizer_clamp(qt_quantizer *q);
/* The LSQ gradient factor g = 1/sqrt(N·Qp) of this quantizer. */
double qt_quantizer_lsq_g(const qt_quantizer *q);
/* Effective parameters from a raw scale and offset (see qt_qparams). */
qt_qparams qt_quant_effective(const qt_quant_spec *spec, float scale, float offset);
/* Quantizes n contiguous values sharing the effective params p: writes ŵ to
 * what and/or unsigned codes to codes (either may be NULL). The unsigned code
 * is q + 2^(b-1) for SYM and q otherwise (a level grid's code). Same arithmetic as qt_fake_quant. */
void qt_quant_group(const qt_quant_spec *spec, qt_qparams p, const float *w, size_t n, float *what,
                    uint8_t *codes);
/* Σ (ŵ - w)² over n values with the effective params p, in double. */
double qt_quant_group_sqerr(const qt_quant_spec *spec, qt_qparams p, const float *w, size_t n);

/* ---- the op (fakequant.c) ---- */
/* ŵ = fake-quant of w (same shape) with q's current parameters; records a node
 * whose backward gives w the STE gradient and scale/offset the LSQ gradients
 * (see the top of this file). One fused pass per group, OpenMP over rows;
 * backward recomputes from w and the parameters, which must not change
 * between forward and backward; q must outlive the backward. */
qt_tensor *qt_fake_quant(qt_ctx *ctx, qt_tensor *w, qt_quantizer *q);

/* ---- initialisers (qinit.c) ---- */
/* Which initialiser finds a quantizer's starting scales. */
typedef enum { QT_INIT_ABSMAX = 0, QT_INIT_MSE = 1 } qt_scale_init;

/* Absmax / min-max init per group: SYM s = max|w|/Qp; ASYM over [min(w,0),
 * max(w,0)]: s = (hi-lo)/(2^b-1), z = clamp(round(-lo/s)); FLOAT_MIN
 * d = (max-min)/(2^b-1), m = min; IQ4_NL s = -M/127 with M the value of
 * largest magnitude (its sign kept, so M gets the level of magnitude 127, as
 * llama.cpp's quantizer starts); MXFP4 s = 2^(floor(log2 max|w|) - 3)
 * (llama.cpp's E8M0 choice). Scales below QT_SCALE_EPS are stored as eps. */
void qt_quant_init_absmax(qt_quantizer *q, const qt_tensor *w);
/* The raw (scale, offset) of the initialisers' candidate with clip ratio r
 * (r = 1: the absmax init above) for the n values w. */
void qt_quant_candidate(const qt_quant_spec *spec, const float *w, size_t n, float r, float *scale, float *offset);
/* MSE clipping search per group: candidate ratios r = 1 - k·(1-min_ratio)/n_grid,
 * k = 0..n_grid, shrink the absmax range (SYM, IQ4_NL: r·M; ASYM: [r·lo, r·hi];
 * FLOAT_MIN: the range shrunk by r about its midpoint; MXFP4 instead tries the
 * absmax power of two, half and twice it) and keep the candidate
 * whose fake-quant (fp16 and z rounding included) has the smallest Σ(ŵ-w)².
 * r = 1 is exactly the absmax init, so the error is never larger.
 * n_grid <= 0 means 50, min_ratio <= 0 means 0.5. */
void qt_quant_init_mse(qt_quantizer *q, const qt_tensor *w, int n_grid, float min_ratio);
/* Σ (ŵ - w)² of the whole weight with q's current parameters (double). */
double qt_quant_sqerr(const qt_quantizer *q, const qt_tensor *w);

/* ---- frozen quantized weight (qweight.c) ---- */
/* What evaluation and exporters consume: codes plus effective per-group
 * parameters (layout as in qt_quantizer). Dequantizing gives the fake-quant
 * forward bit for bit. */
typedef struct qt_qweight {
    qt_quant_spec spec;   /* bits, group, grid, fp16_scales (learnable is ignored) */
    int rows, cols, gsize, ngroups, srows;
    int8_t *codes_s8;     /* SYM: rows·cols codes in [-2^(b-1), 2^(b-1)-1]; else NULL */
    uint8_t *codes_u8;    /* ASYM, FLOAT_MIN, level grids: rows·cols codes in [0, 2^b-1]; else NULL */
    float *scales;        /* [srows·ngroups] effective s or d (eps-clamped, fp16-rounded if fp16_scales;
                             IQ4_NL may be negative, MXFP4 a power of two) */
    uint8_t *zeros;       /* ASYM: integer zero points in [0, 2^b-1]; else NULL */
    float *mins;          /* FLOAT_MIN: m (fp16-rounded if fp16_scales); else NULL */
    float *sb_d;          /* dq_bits: [srows·cols/256] super-block scales d (fp16 values); else NULL */
    float *sb_dmin;       /* dq_bits and FLOAT_MIN: [srows·cols/256] super-block min scales; else NULL */
} qt_qweight;

/* An empty (zeroed) quantized weight for rows x cols; NULL with a message in
 * err when the spec does not fit. For PTQ methods that compute codes themselves. */
qt_qweight *qt_qweight_new(const qt_quant_spec *spec, int rows, int cols, char *err, size_t errlen);
/* Quantizes w with q's current parameters (same arithmetic as qt_fake_quant). */
qt_qweight *qt_freeze(const qt_tensor *w, const qt_quantizer *q);
/* Writes the dequantized rows·cols weights to out (SYM q·s, ASYM (q-z)·s, FLOAT_MIN d·q + m, level s·LEVEL[q]). */
void qt_qweight_dequant(const qt_qweight *qw, float *out);
/* Frees qw and its arrays (NULL is fine). */
void qt_qweight_free(qt_qweight *qw);
/* Bytes of n packed codes: ceil(n/2) for bits <= 4, n otherwise. */
size_t qt_codes_packed_bytes(size_t n, int bits);
/* Packs n unsigned codes (< 2^bits): for bits <= 4 two per byte, code 2i in
 * the low nibble (bits 0-3) and code 2i+1 in the high nibble of byte i (an odd
 * last code leaves the high nibble 0); for bits > 4 one code per byte. */
void qt_codes_pack(const uint8_t *codes, size_t n, int bits, uint8_t *out);
/* Inverse of qt_codes_pack. */
void qt_codes_unpack(const uint8_t *in, size_t n, int bits, uint8_t *codes);
/* Packed size of qw's codes (qt_codes_packed_bytes of rows·cols). */
size_t qt_qweight_packed_bytes(const qt_qweight *qw);
/* Packs qw's codes as unsigned codes (SYM q + 2^(b-1), else q), qt_codes_pack order. */
void qt_qweight_pack(const qt_qweight *qw, uint8_t *out);
/* Fills qw's codes from qt_qweight_pack output. */
void qt_qweight_unpack(qt_qweight *qw, const uint8_t *in);

/* ---- activation fake-quant (actquant.c), symmetric signed b-bit ---- */
typedef enum {
    QT_ACT_NONE = 0,      /* no activation quantizer (a policy value; qt_actquant_new refuses it) */
    QT_ACT_PER_TOKEN = 1, /* dynamic: s = max|x_row|/Qp per row of the last dim, no parameters */
    QT_ACT_STATIC = 2,    /* one learned LSQ scale for the whole tensor */
    QT_ACT_Q8_BLOCKS = 3  /* llama.cpp's Q8_0/Q8_1 rounding of matmul inputs (see qt_act_quant_q8_blocks);
                             bits is 8, no parameters */
} qt_act_mode;

typedef struct qt_actquant {
    int bits;           /* 2..8 */
    qt_act_mode mode;
    qt_tensor *scale;   /* QT_ACT_STATIC: param "<name>.scale" [1]; NULL for per-token */
} qt_actquant;

/* An activation quantizer. For QT_ACT_STATIC, init_scale > 0 sets the scale;
 * init_scale <= 0 leaves it 0, meaning "calibrate from the first batch". */
qt_actquant *qt_actquant_new(const char *name, int bits, qt_act_mode mode, float init_scale);
/* Frees aq and its parameter. */
void qt_actquant_free(qt_actquant *aq);
/* Sets the static scale to max|x|/Qp (at least eps). */
void qt_actquant_calibrate(qt_actquant *aq, const qt_tensor *x);
/* Projects the static scale back to >= QT_SCALE_EPS after an optimizer step. */
void qt_actquant_clamp(qt_actquant *aq);
/* Fake-quantizes x [..., D] with aq. A static quantizer whose scale is still
 * <= 0 (never set, never loaded) first calibrates from this x. */
qt_tensor *qt_act_quant(qt_ctx *ctx, qt_tensor *x, qt_actquant *aq);
/* Per-token dynamic: per row s = max(max|x_row|/Qp, eps), x̂ = clamp(round(x/s), -Qn, Qp)·s;
 * backward is the identity (STE, the scale is not differentiated). */
qt_tensor *qt_act_quant_dynamic(qt_ctx *ctx, qt_tensor *x, int bits);
/* llama.cpp's rounding of a matmul input to Q8_0 (Q8_1 for Q4_1 weights)
 * blocks: each row of the last dim by qt_ggml_q8_round_row (blocks of 32,
 * d = fp16(amax/127), q = round_half_even(x·127/amax), x̂ = q·d). Backward
 * is the identity (STE). */
qt_tensor *qt_act_quant_q8_blocks(qt_ctx *ctx, qt_tensor *x);
/* llama.cpp's rounding of a matmul input x [..., D] for a weight whose
 * input (vec_dot) type is `type` (see qt_ggml_vec_dot_type): F16 each value
 * to the nearest fp16; Q8_0 as qt_act_quant_q8_blocks; Q8_1 the same values
 * and *corr = the Q4_1 min-term corrections [rows, ceil(D/32)] in ctx's
 * arena (qt_ggml_q8_1_round_row). Backward is the identity (STE). */
qt_tensor *qt_act_round_ggml(qt_ctx *ctx, qt_tensor *x, int type, float **corr);
/* Static per-tensor with the LSQ scale param `scale` [1]: same math and
 * gradients as a SYM per-tensor weight quantizer, with N = x->n in g. */
qt_tensor *qt_act_quant_static(qt_ctx *ctx, qt_tensor *x, qt_tensor *scale, int bits);

#endif
