/* qatc base/half: 16-bit float conversions (fp16 as torch .half() and
 * llama.cpp's ggml_fp16_t; bf16 as torch.bfloat16). */
#ifndef QATC_BASE_HALF_H
#define QATC_BASE_HALF_H

#include <stdint.h>

/* fp32 -> fp16 bits, round-to-nearest-even (overflow gives inf, like torch .half()). */
uint16_t qt_f32_to_f16(float f);
/* fp16 bits -> fp32 (exact). */
float qt_f16_to_f32(uint16_t h);
/* The fp32 value of the nearest fp16 of f. */
float qt_f16_round(float f);
/* bf16 bits -> fp32 (exact). */
float qt_bf16_to_f32(uint16_t h);
/* fp32 -> bf16 bits, round-to-nearest-even; a NaN stays a quiet NaN with its
 * sign and top payload bits (ggml's ggml_compute_fp32_to_bf16). */
uint16_t qt_f32_to_bf16(float f);

#endif
