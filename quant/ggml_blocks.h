/* qatc quant/ggml_blocks: llama.cpp's ggml tensor types and block codecs, in
 * one place, as paired quantize / dequantize functions (ggml style). The
 * quantizers reproduce llama.cpp's bytes exactly (tests/test_ggml_codecs.c
 * checks them against libggml-base itself).
 *
 * Blocks of 32 values along a row, little endian, d and m fp16:
 *   Q8_0   [d, qs[32] int8]                  x = qs·d
 *   Q4_0   [d, qs[16]]                       x = (q - 8)·d,  q 4 bits
 *   Q4_1   [d, m, qs[16]]                    x = q·d + m,    q 4 bits
 *   Q5_0   [d, qh[4], qs[16]]                x = (q - 16)·d, q 5 bits
 *   Q5_1   [d, m, qh[4], qs[16]]             x = q·d + m,    q 5 bits
 *   IQ4_NL [d, qs[16]]                       x = d·LEVEL[q], q 4 bits, LEVEL the 16
 *          non-uniform levels -127 -104 -83 -65 -49 -35 -22 -10 1 13 25 38 53 69 89 113
 *   MXFP4  [e (E8M0), qs[16]]                x = 2^(e-128)·E2M1x2[q], q 4 bits, E2M1x2
 *          the doubled E2M1 values 0 1 2 3 4 6 8 12 0 -1 -2 -3 -4 -6 -8 -12
 *   Q8_1   [d, s = d·Σqs, qs[32] int8]       (matmul inputs only)
 * Nibbles: value j of a block in the low nibble of qs[j], value j + 16 in
 * the high nibble of qs[j]; the fifth bit of value j in bit j of the 32-bit
 * little-endian qh.
 *
 * K-quants: super-blocks of 256 values in sub-blocks of 16 or 32, each
 * sub-block j with an effective scale d_j (and min m_j) built from the
 * super-block's fp16 d (dmin) and a small integer sub-scale (sub-min):
 *   Q2_K [sc[16], qs[64], d, dmin]           16 × 16; sc low nibble s_j, high
 *        nibble m_j: x = d·s_j·q - dmin·m_j, q 2 bits (0..3)
 *   Q3_K [hmask[32], qs[64], sc[12], d]      16 × 16; 6-bit s_j (stored + 32): low
 *        nibbles in sc[0..7] (j < 8 low, j >= 8 high), top 2 bits in sc[8 + j%4]
 *        at bit 2·(j/4); x = d·(s_j - 32)·q, q = low 2 bits - (hmask bit ? 0 : 4)
 *   Q4_K [d, dmin, sc[12], qs[128]]          8 × 32; 6-bit s_j and m_j: j < 4 in
 *        sc[j], sc[j+4] (low 6 bits); j >= 4 low nibbles in sc[j+4], top 2 bits
 *        in bits 6-7 of sc[j-4] (s) and sc[j] (m); x = d·s_j·q - dmin·m_j, q 4 bits
 *   Q5_K [d, dmin, sc[12], qh[32], qs[128]]  as Q4_K with a fifth bit from qh
 *   Q6_K [ql[128], qh[64], sc[16] int8, d]   16 × 16; x = d·sc_j·(q - 32), q 6 bits
 *   Q8_K [d fp32, qs[256] int8, bsums[16] int16]   x = d·qs (matmul inputs of
 *        K-type weights; bsums the sums of 16 codes)
 * Code positions: Q2_K / Q3_K value e: 2 bits of qs[32·(e/128) + e%32] at bit
 * 2·((e%128)/32); Q3_K high bit: hmask[e%32] bit e/32. Q4_K / Q5_K: qs[32·(e/64)
 * + e%32], low nibble when e%64 < 32; Q5_K fifth bit qh[e%32] bit e/32. Q6_K
 * (e = 128·n + 32·k + l): low nibble of ql[64·n + l + 32·(k%2)] (high nibble
 * when k >= 2), top 2 bits of qh[32·n + l] at bit 2·k.
 *
 * Which ggml type holds a quantizer spec, and how llama.cpp's CPU backend
 * rounds a matmul's input for a weight of each type (its "vec_dot type"),
 * live here too; the rounding itself is qt_ggml_q8_round_row. */
#ifndef QATC_QUANT_GGML_BLOCKS_H
#define QATC_QUANT_GGML_BLOCKS_H

#include <stddef.h>
#include <stdint.h>

struct qt_quant_spec;
struct qt_qweight;

#define QT_GGML_MAX_DIMS 4

/* ggml tensor types whose block size is known (ids as in ggml.h). */
typedef enum {
    QT_GGML_F32 = 0, QT_GGML_F16 = 1, QT_GGML_Q4_0 = 2, QT_GGML_Q4_1 = 3, QT_GGML_Q5_0 = 6, QT_GGML_Q5_1 = 7,
    QT_GGML_Q8_0 = 8, QT_GGML_Q8_1 = 9, QT_GGML_Q2_K = 10, QT_GGML_Q3_K = 11, QT_GGML_Q4_K = 12,
    QT_GGML_Q5_K = 13, QT_GGML_Q6_K = 14, QT_GGML_Q8_K = 15, QT_GGML_IQ4_NL = 20, QT_GGML_BF16 = 30,
    QT_GGML_MXFP4 = 39
} qt_ggml_type;

/* ---- types ---- */
/* Name of a ggml type ("Q4_0") or NULL when unknown. */
const char *qt_ggml_type_name(int type);
/* Type from its name (case-sensitive, "F32", "Q4_0", ...), or -1. */
int qt_ggml_type_from_name(const char *name);
/* Elements per block of a type; 0 when unknown. */
int qt_ggml_block_size(int type);
/* Bytes per block of a type; 0 when unknown. */
size_t qt_ggml_type_size(int type);
/* Bytes of a tensor of this type and shape (ne fastest first, 1..4 dims), or
 * 0 when ne[0] is not a multiple of the block size, the type is unknown or
 * the size overflows. */
size_t qt_ggml_nbytes(int type, int n_dims, const uint64_t *ne);

/* ---- weight codecs ---- */
/* llama.cpp's reference quantizer (quantize_row_*_ref; for F16 and BF16 its
 * fp32 row conversions) of n values to any type above but Q8_1, n a multiple
 * of the block size: the same bytes as llama.cpp's. Where llama.cpp leaves
 * bytes unset, qatc writes zeros: Q8_K's bsums of an all-zero super-block,
 * and IQ4_NL's codes of a block with max |x| < 1e-15 (llama.cpp repeats the
 * previous block's codes there, or stack garbage; d is 0 either way, so the
 * values are zeros, their signs aside; newer llama.cpp zeroes them too). Returns 0,
 * or -1 for another type or n. */
int qt_ggml_quantize_ref(int type, const float *x, void *out, size_t n);
/* llama.cpp's ggml_quantize_chunk (what llama-quantize writes) of nrows rows
 * of n_per_row values (a multiple of the block size), with an importance
 * matrix imatrix (n_per_row weights, one per column, or NULL): the same
 * bytes. With an imatrix Q4_0, Q4_1, Q5_0, Q5_1, Q2_K..Q6_K and IQ4_NL take
 * llama.cpp's importance-weighted path; without one they are the reference
 * quantizer, except IQ4_NL, which always searches 15 scales (weights x²)
 * where its reference searches none. F32, F16, BF16, Q8_0 and MXFP4 ignore
 * the imatrix. Returns 0, or -1 for Q8_1, Q8_K (no chunk quantizer in
 * llama.cpp), another type or n_per_row. */
int qt_ggml_quantize_chunk(int type, const float *x, void *out, size_t nrows, size_t n_per_row, const float *imatrix);
/* n values of any type above but Q8_1 (n a multiple of the block size)
 * decoded to floats exactly as llama.cpp's dequantize_row_* does. Returns 0,
 * or -1 for another type or n. */
int qt_ggml_dequantize(int type, const void *in, float *out, size_t n);
/* The effective sub-block scales d_sub[j] and mins m_sub[j] of one K-type
 * super-block (Q2_K..Q6_K, Q8_K), as llama.cpp's dequantizer forms them:
 * value e of sub-block j = e / (256 / count) is d_sub[j]·q_e - m_sub[j]
 * (m_sub 0 for Q3_K, Q6_K and Q8_K, which have no min; their q is signed).
 * Arrays of 16. Returns the sub-block count (16 for Q2_K, Q3_K, Q6_K; 8 for
 * Q4_K, Q5_K; 1 for Q8_K), or -1 for another type. */
int qt_ggml_k_block_params(int type, const void *block, float *d_sub, float *m_sub);
/* The 256 integer codes q_e of one K-type super-block, in value order (Q2_K
 * 0..3, Q3_K -4..3, Q4_K 0..15, Q5_K 0..31, Q6_K -32..31, Q8_K -128..127).
 * Returns the sub-block count as qt_ggml_k_block_params, or -1. */
int qt_ggml_k_block_codes(int type, const void *block, int8_t *q);
/* The frozen weight qw as blocks of `type` holding it exactly (rows·cols /
 * block size blocks into out; out NULL: only check), codes and scales as they
 * are. Blocks of 32 (groups of 32 along the row, every scale and min an fp16
 * value): Q8_0 ← sym <= 8 bits, asym <= 7 bits (code q - z); Q4_0 / Q5_0 ←
 * sym <= 4 / 5 bits; Q4_1 / Q5_1 ← float_min or asym <= 4 / 5 bits (m = -z·s),
 * sym (code + 8 / 16, m = -8·s / -16·s). K types (Q2_K..Q6_K) ← exactly the
 * type's double-quantized layout (qt_ggml_type_of_spec), with the frozen
 * super-block scales (qw->sb_d, sb_dmin) and integer sub-scales. IQ4_NL /
 * MXFP4 ← the iq4_nl / mxfp4 level grid in groups of 32 (codes as they are;
 * IQ4_NL's fp16 scale, MXFP4's power-of-two scale as its E8M0 byte).
 * Returns 0, or -1 with the reason in why. */
/* 1 if blocks of `type` can hold a frozen weight of spec (its structure:
 * qt_ggml_quantize_qweight's rules, before the fp16 check of the scales),
 * else 0 with the reason in why. */
int qt_ggml_type_holds(int type, const struct qt_quant_spec *spec, char *why, size_t len);
int qt_ggml_quantize_qweight(const struct qt_qweight *qw, int type, void *out, char *why, size_t len);
/* The per-block mins m of nb Q4_1 or Q5_1 blocks of that type, in block
 * order, to mins. */
void qt_ggml_block_mins(int type, const void *blocks, size_t nb, float *mins);

/* ---- which type ---- */
/* The type that holds a spec exactly with the same codes, or -1: groups of
 * 32 without sub-scale quantization: sym 8 → Q8_0, sym <= 4 → Q4_0, sym 5 →
 * Q5_0, float_min <= 4 → Q4_1, float_min 5 → Q5_1; a double-quantized spec
 * (quant/quant.h) → the K type of exactly its layout (Q2_K float_min 2-bit
 * g16 dq 4, Q3_K sym 3-bit g16 dq 6, Q4_K / Q5_K float_min 4 / 5-bit g32
 * dq 6, Q6_K sym 6-bit g16 dq 8); the iq4_nl / mxfp4 level grids in groups
 * of 32 → IQ4_NL / MXFP4. */
int qt_ggml_type_of_spec(const struct qt_quant_spec *spec);
/* The grid of a weight type (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K..Q6_K,
 * IQ4_NL, MXFP4): sets spec's grid, bits, group, dq_bits and fp16_scales (0
 * for MXFP4, whose scales are powers of two; learnable is left as it is).
 * Returns 0, or -1 for another type. */
int qt_ggml_spec_of_type(int type, struct qt_quant_spec *spec);
/* The type llama.cpp's CPU backend rounds a matmul's input to for a weight
 * of type `type`: Q8_0 for Q8_0, Q4_0, Q5_0, IQ4_NL and MXFP4, Q8_1 for Q4_1
 * and Q5_1, Q8_K for the K types, F16 for F16 (ggml-cpu's vec_dot_type; some
 * CPU variants multiply F16 weights by F32 inputs in llamafile's tinyBLAS
 * instead: tests/cli/llamacpp.sh accepts either), F32 (no rounding) otherwise. */
int qt_ggml_vec_dot_type(int type);
/* The same for a weight quantized with spec, as the GGUF type holding it
 * rounds: Q8_K for a double-quantized spec (K types), Q8_1 for float_min
 * with groups of 32 (Q4_1 / Q5_1 blocks), Q8_0 for any other grid. */
int qt_ggml_spec_vec_dot_type(const struct qt_quant_spec *spec);

/* ---- matmul input rounding (Q8_0 / Q8_1) ---- */
/* llama.cpp's Q8_0 (and Q8_1) rounding of n contiguous input values (one
 * row) in blocks of 32 (a shorter last block if n is not a multiple of 32):
 * amax = max|x|, d = fp16(amax/127), q = round_half_even(x·127/amax) (0 when
 * amax = 0), x̂ = q·d to y (may alias x). When qsum is non-NULL, also per
 * block the fp32 d = amax/127 (before fp16 rounding) to d32[b] and Σq to
 * qsum[b] (what Q8_1 stores as s = d32·Σq). */
void qt_ggml_q8_round_row(const float *x, float *y, size_t n, float *d32, int *qsum);
/* The Q8_1 rounding of one row (x̂ to y as qt_ggml_q8_round_row) and per
 * block the correction of the Q4_1 min term to corr[b]: llama.cpp's min term
 * uses s = fp16(d32·Σq) where x̂·Ŵᵀ gives fp16(d32)·Σq, so
 * corr = fp16(d32·Σq) - fp16(d32)·Σq. */
void qt_ggml_q8_1_round_row(const float *x, float *y, size_t n, float *corr);
/* Adds llama.cpp's Q4_1×Q8_1 min-term correction to a matmul output:
 * y [rows, out] += corr [rows, nb] · minsᵀ, mins [out, nb] the weight's
 * per-block mins. */
void qt_ggml_q8_1_add_min_term(float *y, const float *corr, const float *mins, int rows, int out, int nb);

#endif
