/* simd.h: portable short vectors (GCC/clang vector extensions).
 * They compile to AVX-512, AVX2 or SSE as the target allows, with no
 * intrinsics and no per-ISA code paths. Loads go through memcpy, so no
 * alignment is assumed. */
#ifndef SL_SIMD_H
#define SL_SIMD_H

#include <stdint.h>
#include <string.h>

typedef float sl_v16f __attribute__((vector_size(64)));
typedef int32_t sl_v16i __attribute__((vector_size(64)));
typedef int8_t sl_v16i8 __attribute__((vector_size(16)));
typedef uint8_t sl_v16u8 __attribute__((vector_size(16)));

static inline sl_v16f sl_load16(const float *p)
{
    sl_v16f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void sl_store16(float *p, sl_v16f v) { memcpy(p, &v, sizeof v); }

static inline sl_v16f sl_splat16(float x) { return (sl_v16f){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}; }

/* Integer lanes to float through int32: a direct 8-bit to float conversion
 * is scalarised by some compilers. */
static inline sl_v16f sl_u8_to_f(sl_v16u8 v)
{
    return __builtin_convertvector(__builtin_convertvector(v, sl_v16i), sl_v16f);
}

static inline sl_v16f sl_i8_to_f(sl_v16i8 v)
{
    return __builtin_convertvector(__builtin_convertvector(v, sl_v16i), sl_v16f);
}

static inline float sl_hsum16(sl_v16f v)
{
    float s = 0.0f;
    for (int i = 0; i < 16; i++)
        s += v[i];
    return s;
}

#endif
