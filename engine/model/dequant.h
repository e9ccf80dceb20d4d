/* dequant.h: ggml tensor types and their dequantisation to float32.
 *
 * Layouts follow the GGUF specification (block sizes and byte layouts of
 * Q4_0 … Q6_K). Every function here is pure and safe on any input bytes. */
#ifndef SL_DEQUANT_H
#define SL_DEQUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    SL_TYPE_F32 = 0,
    SL_TYPE_F16 = 1,
    SL_TYPE_Q4_0 = 2,
    SL_TYPE_Q4_1 = 3,
    SL_TYPE_Q5_0 = 6,
    SL_TYPE_Q5_1 = 7,
    SL_TYPE_Q8_0 = 8,
    SL_TYPE_Q8_1 = 9,
    SL_TYPE_Q2_K = 10,
    SL_TYPE_Q3_K = 11,
    SL_TYPE_Q4_K = 12,
    SL_TYPE_Q5_K = 13,
    SL_TYPE_Q6_K = 14,
    SL_TYPE_Q8_K = 15,
    SL_TYPE_BF16 = 30,
    SL_TYPE_COUNT_MAX = 64,
};

/* Name of a ggml type ("Q4_1"), or NULL for an id unknown to us. */
const char *sl_type_name(uint32_t type);
/* Whether sl_dequantize_row handles this type. */
bool sl_type_supported(uint32_t type);
/* Elements per block and bytes per block; 0 for an unknown type. */
size_t sl_type_block_elems(uint32_t type);
size_t sl_type_block_bytes(uint32_t type);
/* Bytes of n elements; false when n is not a whole number of blocks or
 * the size overflows. */
bool sl_type_row_bytes(uint32_t type, uint64_t n, uint64_t *bytes);

/* Dequantises n elements (a whole number of blocks) of a supported type. */
void sl_dequantize_row(uint32_t type, const void *src, float *dst, size_t n);

float sl_f16_to_f32(uint16_t h);
float sl_bf16_to_f32(uint16_t h);
uint16_t sl_f32_to_f16(float f);

#endif
