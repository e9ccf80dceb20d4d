/* simd.h: portable short vectors (GCC/clang vector extensions).
 * They compile to AVX-512, AVX2 or SSE as the target allows, with no
 * intrinsics and no per-ISA code paths. Loads go through memcpy, so no
 * alignment is assumed. */
#ifndef SL_SIMD_H
#define SL_SIMD_H

#include <stdint.h>
#include <string.h>

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

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

/* 16 signed bytes at p to floats. Where AVX-512 or AVX2 is there, through
 * their sign-extending loads: compilers scalarise the generic conversion. */
static inline sl_v16f sl_load_i8_to_f(const void *p)
{
#if defined(__AVX512F__)
    __m512 f = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p)));
    sl_v16f v;
    memcpy(&v, &f, sizeof v);
    return v;
#elif defined(__AVX2__)
    __m128i b = _mm_loadu_si128((const __m128i *)p);
    __m256 lo = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b));
    __m256 hi = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(b, 8)));
    sl_v16f v;
    memcpy(&v, &lo, 32);
    memcpy((char *)&v + 32, &hi, 32);
    return v;
#else
    sl_v16i8 q;
    memcpy(&q, p, sizeof q);
    return __builtin_convertvector(__builtin_convertvector(q, sl_v16i), sl_v16f);
#endif
}

/* 16 unsigned bytes (values 0..255) to floats. */
static inline sl_v16f sl_u8_to_f(sl_v16u8 q)
{
#if defined(__AVX512F__)
    __m128i b;
    memcpy(&b, &q, sizeof b);
    __m512 f = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(b));
    sl_v16f v;
    memcpy(&v, &f, sizeof v);
    return v;
#elif defined(__AVX2__)
    __m128i b;
    memcpy(&b, &q, sizeof b);
    __m256 lo = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b));
    __m256 hi = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(b, 8)));
    sl_v16f v;
    memcpy(&v, &lo, 32);
    memcpy((char *)&v + 32, &hi, 32);
    return v;
#else
    return __builtin_convertvector(__builtin_convertvector(q, sl_v16i), sl_v16f);
#endif
}

static inline float sl_hsum16(sl_v16f v)
{
    float s = 0.0f;
    for (int i = 0; i < 16; i++)
        s += v[i];
    return s;
}

#endif
