/* qatc quant/ggml_blocks: llama.cpp's ggml tensor types and block codecs, in
 * one place, as paired quantize / dequantize functions (ggml style).
 *
 * Blocks of 32 values along a row, little endian, d and m fp16:
 *   Q8_0  [d, qs[32] int8]                x = qs·d
 *   Q4_0  [d, qs[16]]                     x = (nibble - 8)·d
 *   Q4_1  [d, m, qs[16]]                  x = nibble·d + m
 *   Q8_1  [d, s = d·Σqs, qs[32] int8]     (matmul inputs only)
 * Nibbles: value j of a block in the low nibble of qs[j], value j + 16 in
 * the high nibble of qs[j].
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
    QT_GGML_Q5_K = 13, QT_GGML_Q6_K = 14, QT_GGML_Q8_K = 15, QT_GGML_BF16 = 30
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
/* llama.cpp's reference quantizer (quantize_row_*_ref) of n values (a
 * multiple of 32 for the block types) to type F32, F16, Q8_0, Q4_0 or Q4_1.
 * Returns 0, or -1 for another type. */
int qt_ggml_quantize_ref(int type, const float *x, void *out, size_t n);
/* n values of type F32, F16, BF16, Q8_0, Q4_0 or Q4_1 (n a multiple of 32
 * for the block types) decoded to floats. Returns 0, or -1 for another type. */
int qt_ggml_dequantize(int type, const void *in, float *out, size_t n);
/* The frozen weight qw as blocks of type Q8_0, Q4_0 or Q4_1 holding it
 * exactly (rows·cols/32 blocks into out; out NULL: only check). Holds: Q8_0 ←
 * sym <= 8 bits, asym <= 7 bits (code q - z); Q4_0 ← sym <= 4 bits; Q4_1 ←
 * float_min <= 4 bits, asym <= 4 bits (m = -z·s), sym <= 4 bits (code c + 8,
 * m = -8·s); groups of 32 along the row; every scale (and min) an fp16 value.
 * Returns 0, or -1 with the reason in why. */
int qt_ggml_quantize_qweight(const struct qt_qweight *qw, int type, void *out, char *why, size_t len);
/* The per-block mins m of nb Q4_1 blocks, in block order, to mins. */
void qt_ggml_q4_1_mins(const void *blocks, size_t nb, float *mins);

/* ---- which type ---- */
/* The type that holds a spec exactly with the same codes, or -1: groups of
 * 32 without sub-scale quantization: sym 8 → Q8_0, sym <= 4 → Q4_0, sym 5 →
 * Q5_0, float_min <= 4 → Q4_1, float_min 5 → Q5_1; a double-quantized spec
 * (quant/quant.h) → the K type of exactly its layout (Q2_K float_min 2-bit
 * g16 dq 4, Q3_K sym 3-bit g16 dq 6, Q4_K / Q5_K float_min 4 / 5-bit g32
 * dq 6, Q6_K sym 6-bit g16 dq 8). */
int qt_ggml_type_of_spec(const struct qt_quant_spec *spec);
/* The grid of a weight type (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K..Q6_K):
 * sets spec's grid, bits, group, dq_bits and fp16_scales (learnable is left
 * as it is). Returns 0, or -1 for another type. */
int qt_ggml_spec_of_type(int type, struct qt_quant_spec *spec);
/* The type llama.cpp's CPU backend rounds a matmul's input to for a weight
 * of type `type`: Q8_0 for Q8_0, Q4_0 and Q5_0, Q8_1 for Q4_1 and Q5_1, Q8_K
 * for the K types, F16 for F16 (ggml-cpu's
 * vec_dot_type; some CPU variants multiply F16 weights by F32 inputs in
 * llamafile's tinyBLAS instead: tests/cli/llamacpp.sh accepts either), F32
 * (no rounding) otherwise. */
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
