/* dequant.c: ggml tensor types and their dequantisation to float32.
 *
 * Block layouts (all little-endian; "f16" is an IEEE binary16 scale):
 *   Q4_0  32 elems, 18 B: d f16, qs[16]           x = (q - 8) * d
 *   Q4_1  32 elems, 20 B: d f16, m f16, qs[16]    x = q * d + m
 *   Q5_0  32 elems, 22 B: d, qh u32, qs[16]       x = (q - 16) * d
 *   Q5_1  32 elems, 24 B: d, m, qh u32, qs[16]    x = q * d + m
 *   Q8_0  32 elems, 34 B: d, qs[32] int8          x = q * d
 *   In the 4/5-bit types, element j < 16 is the low nibble of qs[j] and
 *   element j + 16 the high nibble; the fifth bit of element j is bit j of qh.
 *   Q2_K … Q6_K are 256-element super-blocks with packed sub-block scales;
 *   see each function below.
 *
 * The arithmetic is the same float32 operations in the same order as
 * ggml's reference code, so results are bit-identical to it and to the gguf
 * Python package. That holds even where the compiler fuses a product and
 * the following sum into an FMA (the project builds with
 * -ffp-contract=fast): every product here is exact in float32 — an f16
 * scale has at most 11 significant bits, sub-block scales at most 8 and
 * quants at most 6, so no product needs more than 24 bits, and none leaves
 * the normal range — so only the final sum rounds, fused or not. */
#include "model/dequant.h"

#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the GGUF reader and dequantisation assume a little-endian host"
#endif

#define QK 32
#define QK_K 256

/* ---- type table -------------------------------------------------------- */

typedef struct {
    const char *name;
    uint16_t block_elems;
    uint16_t block_bytes;
    bool supported;
} type_traits;

/* Every ggml type id we know of (names and sizes from the GGUF spec), so an
 * error can say "type IQ2_XXS is not supported" rather than a number. */
static const type_traits traits[SL_TYPE_COUNT_MAX] = {
    [SL_TYPE_F32] = {"F32", 1, 4, true},
    [SL_TYPE_F16] = {"F16", 1, 2, true},
    [SL_TYPE_Q4_0] = {"Q4_0", QK, 18, true},
    [SL_TYPE_Q4_1] = {"Q4_1", QK, 20, true},
    [SL_TYPE_Q5_0] = {"Q5_0", QK, 22, true},
    [SL_TYPE_Q5_1] = {"Q5_1", QK, 24, true},
    [SL_TYPE_Q8_0] = {"Q8_0", QK, 34, true},
    [SL_TYPE_Q8_1] = {"Q8_1", QK, 40, false},
    [SL_TYPE_Q2_K] = {"Q2_K", QK_K, 84, true},
    [SL_TYPE_Q3_K] = {"Q3_K", QK_K, 110, true},
    [SL_TYPE_Q4_K] = {"Q4_K", QK_K, 144, true},
    [SL_TYPE_Q5_K] = {"Q5_K", QK_K, 176, true},
    [SL_TYPE_Q6_K] = {"Q6_K", QK_K, 210, true},
    [SL_TYPE_Q8_K] = {"Q8_K", QK_K, 292, false},
    [16] = {"IQ2_XXS", QK_K, 66, false},
    [17] = {"IQ2_XS", QK_K, 74, false},
    [18] = {"IQ3_XXS", QK_K, 98, false},
    [19] = {"IQ1_S", QK_K, 50, false},
    [20] = {"IQ4_NL", QK, 18, false},
    [21] = {"IQ3_S", QK_K, 110, false},
    [22] = {"IQ2_S", QK_K, 82, false},
    [23] = {"IQ4_XS", QK_K, 136, false},
    [24] = {"I8", 1, 1, false},
    [25] = {"I16", 1, 2, false},
    [26] = {"I32", 1, 4, false},
    [27] = {"I64", 1, 8, false},
    [28] = {"F64", 1, 8, false},
    [29] = {"IQ1_M", QK_K, 56, false},
    [SL_TYPE_BF16] = {"BF16", 1, 2, true},
    [34] = {"TQ1_0", QK_K, 54, false},
    [35] = {"TQ2_0", QK_K, 66, false},
    [39] = {"MXFP4", QK, 17, false},
};

static const type_traits *lookup(uint32_t type)
{
    if (type >= SL_TYPE_COUNT_MAX || !traits[type].name)
        return NULL;
    return &traits[type];
}

const char *sl_type_name(uint32_t type)
{
    const type_traits *t = lookup(type);
    return t ? t->name : NULL;
}

bool sl_type_supported(uint32_t type)
{
    const type_traits *t = lookup(type);
    return t && t->supported;
}

size_t sl_type_block_elems(uint32_t type)
{
    const type_traits *t = lookup(type);
    return t ? t->block_elems : 0;
}

size_t sl_type_block_bytes(uint32_t type)
{
    const type_traits *t = lookup(type);
    return t ? t->block_bytes : 0;
}

bool sl_type_row_bytes(uint32_t type, uint64_t n, uint64_t *bytes)
{
    const type_traits *t = lookup(type);
    if (!t || n % t->block_elems != 0)
        return false;
    uint64_t blocks = n / t->block_elems;
    if (blocks > UINT64_MAX / t->block_bytes)
        return false;
    if (bytes)
        *bytes = blocks * t->block_bytes;
    return true;
}

/* ---- scalar conversions ------------------------------------------------ */

static float f32_from_bits(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static uint32_t f32_bits(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return bits;
}

float sl_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    if (exp == 0x1f) /* inf, or NaN with its payload kept */
        return f32_from_bits(sign | 0x7f800000u | (mant << 13));
    if (exp != 0)
        return f32_from_bits(sign | ((exp + 112u) << 23) | (mant << 13));
    if (mant == 0)
        return f32_from_bits(sign);
    /* Subnormal: normalise, counting the shifts into the exponent. */
    uint32_t e = 113; /* biased f32 exponent of 2^-14 */
    while (!(mant & 0x400u)) {
        mant <<= 1;
        e--;
    }
    return f32_from_bits(sign | (e << 23) | ((mant & 0x3ffu) << 13));
}

float sl_bf16_to_f32(uint16_t h)
{
    return f32_from_bits((uint32_t)h << 16);
}

/* Shifts m right by s bits, rounding to nearest, ties to even. */
static uint32_t shift_round_even(uint32_t m, uint32_t s)
{
    if (s == 0)
        return m;
    if (s > 31)
        return 0;
    uint32_t q = m >> s;
    uint32_t rem = m & ((1u << s) - 1);
    uint32_t half = 1u << (s - 1);
    if (rem > half || (rem == half && (q & 1)))
        q++;
    return q;
}

uint16_t sl_f32_to_f16(float f)
{
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t a = x & 0x7fffffffu;
    if (a > 0x7f800000u) /* NaN: keep the top payload bits, stay quiet */
        return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
    if (a >= 0x477ff000u) /* 65520 and above round to infinity */
        return (uint16_t)(sign | 0x7c00u);
    uint32_t exp = a >> 23;
    uint32_t mant = a & 0x7fffffu;
    if (exp >= 113) /* normal in f16; a carry out of the mantissa bumps the exponent */
        return (uint16_t)(sign | shift_round_even(((exp - 112u) << 23) | mant, 13));
    if (exp == 0) /* f32 subnormals are far below the f16 range */
        return sign;
    /* f16 subnormal: the value is m16 * 2^-24 with m16 = (1.mant) >> (126 - exp). */
    return (uint16_t)(sign | shift_round_even(mant | 0x800000u, 126u - exp));
}

/* ---- little-endian loads ----------------------------------------------- */

static uint16_t ld16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t ld32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static float ldh(const uint8_t *p)
{
    return sl_f16_to_f32(ld16(p));
}

/* ---- 32-element blocks ------------------------------------------------- */

static void deq_q4_0(const uint8_t *b, float *y)
{
    float d = ldh(b);
    const uint8_t *qs = b + 2;
    for (int j = 0; j < QK / 2; j++) {
        y[j] = (float)((qs[j] & 0x0f) - 8) * d;
        y[j + QK / 2] = (float)((qs[j] >> 4) - 8) * d;
    }
}

static void deq_q4_1(const uint8_t *b, float *y)
{
    float d = ldh(b), m = ldh(b + 2);
    const uint8_t *qs = b + 4;
    for (int j = 0; j < QK / 2; j++) {
        float lo = (float)(qs[j] & 0x0f) * d;
        float hi = (float)(qs[j] >> 4) * d;
        y[j] = lo + m;
        y[j + QK / 2] = hi + m;
    }
}

static void deq_q5_0(const uint8_t *b, float *y)
{
    float d = ldh(b);
    uint32_t qh = ld32(b + 2);
    const uint8_t *qs = b + 6;
    for (int j = 0; j < QK / 2; j++) {
        int lo = (qs[j] & 0x0f) | (int)(((qh >> j) & 1u) << 4);
        int hi = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
        y[j] = (float)(lo - 16) * d;
        y[j + QK / 2] = (float)(hi - 16) * d;
    }
}

static void deq_q5_1(const uint8_t *b, float *y)
{
    float d = ldh(b), m = ldh(b + 2);
    uint32_t qh = ld32(b + 4);
    const uint8_t *qs = b + 8;
    for (int j = 0; j < QK / 2; j++) {
        int lo = (qs[j] & 0x0f) | (int)(((qh >> j) & 1u) << 4);
        int hi = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
        float vlo = (float)lo * d;
        float vhi = (float)hi * d;
        y[j] = vlo + m;
        y[j + QK / 2] = vhi + m;
    }
}

static void deq_q8_0(const uint8_t *b, float *y)
{
    float d = ldh(b);
    for (int j = 0; j < QK; j++)
        y[j] = (float)(int8_t)b[2 + j] * d;
}

/* ---- 256-element super-blocks ------------------------------------------ */

/* Q2_K, 84 B: scales[16] (low nibble scale, high nibble min), qs[64], d, dmin.
 * Each 128 elements use 32 bytes of qs, four 2-bit planes of 32 elements;
 * sub-blocks of 16 elements. x = d*sc * q - dmin*m. */
static void deq_q2_k(const uint8_t *b, float *y)
{
    const uint8_t *scales = b, *qs = b + 16;
    float d = ldh(b + 80), dmin = ldh(b + 82);
    int is = 0;
    for (int half = 0; half < 2; half++, qs += 32) {
        for (int plane = 0; plane < 4; plane++) {
            for (int sub = 0; sub < 2; sub++, is++) {
                float dl = d * (float)(scales[is] & 0x0f);
                float ml = dmin * (float)(scales[is] >> 4);
                for (int l = 0; l < 16; l++) {
                    float v = dl * (float)((qs[sub * 16 + l] >> (2 * plane)) & 3);
                    *y++ = v - ml;
                }
            }
        }
    }
}

/* The 6-bit scales of Q3_K: 16 values, the low four bits in bytes 0..7
 * (two nibbles each), the top two bits in bytes 8..11 (four pairs each). */
static int q3_k_scale(const uint8_t *s, int i)
{
    int lo = (s[i % 8] >> (4 * (i / 8))) & 0x0f;
    int hi = (s[8 + i % 4] >> (2 * (i / 4))) & 0x03;
    return (lo | (hi << 4)) - 32;
}

/* Q3_K, 110 B: hmask[32], qs[64], scales[12], d. The 3-bit value is the
 * 2-bit plane value minus 4 when its hmask bit is clear. */
static void deq_q3_k(const uint8_t *b, float *y)
{
    const uint8_t *hmask = b, *qs = b + 32, *scales = b + 96;
    float d = ldh(b + 108);
    int is = 0, bit = 0;
    for (int half = 0; half < 2; half++, qs += 32) {
        for (int plane = 0; plane < 4; plane++, bit++) {
            for (int sub = 0; sub < 2; sub++, is++) {
                float dl = d * (float)q3_k_scale(scales, is);
                for (int l = 0; l < 16; l++) {
                    int k = sub * 16 + l;
                    int q = (qs[k] >> (2 * plane)) & 3;
                    if (!(hmask[k] & (1u << bit)))
                        q -= 4;
                    *y++ = dl * (float)q;
                }
            }
        }
    }
}

/* The 6-bit scale and min of sub-block j (0..7) of Q4_K and Q5_K. */
static void k_scale_min(const uint8_t *s, int j, int *sc, int *m)
{
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/* Q4_K, 144 B: d, dmin, scales[12], qs[128]. Eight sub-blocks of 32; each
 * 32 bytes of qs hold two sub-blocks (low nibbles, then high nibbles). */
static void deq_q4_k(const uint8_t *b, float *y)
{
    float d = ldh(b), dmin = ldh(b + 2);
    const uint8_t *scales = b + 4, *qs = b + 16;
    for (int j = 0; j < 8; j++) {
        int sc, m;
        k_scale_min(scales, j, &sc, &m);
        float d1 = d * (float)sc;
        float m1 = dmin * (float)m;
        const uint8_t *q = qs + 32 * (j / 2);
        int shift = 4 * (j % 2);
        for (int l = 0; l < 32; l++) {
            float v = d1 * (float)((q[l] >> shift) & 0x0f);
            *y++ = v - m1;
        }
    }
}

/* Q5_K, 176 B: d, dmin, scales[12], qh[32], qs[128]. As Q4_K, with the
 * fifth bit of element l of sub-block j in bit j of qh[l]. */
static void deq_q5_k(const uint8_t *b, float *y)
{
    float d = ldh(b), dmin = ldh(b + 2);
    const uint8_t *scales = b + 4, *qh = b + 16, *qs = b + 48;
    for (int j = 0; j < 8; j++) {
        int sc, m;
        k_scale_min(scales, j, &sc, &m);
        float d1 = d * (float)sc;
        float m1 = dmin * (float)m;
        const uint8_t *q = qs + 32 * (j / 2);
        int shift = 4 * (j % 2);
        for (int l = 0; l < 32; l++) {
            int v = ((q[l] >> shift) & 0x0f) | (((qh[l] >> j) & 1) << 4);
            float t = d1 * (float)v;
            *y++ = t - m1;
        }
    }
}

/* Q6_K, 210 B: ql[128], qh[64], scales[16] int8, d. Each half of 128
 * elements uses 64 bytes of ql and 32 of qh; in a half, element 32*k + l
 * takes nibble k/2 of ql[32*(k%2) + l] and bits 2k..2k+1 of qh[l].
 * x = d*scale[e/16] * (q - 32). */
static void deq_q6_k(const uint8_t *b, float *y)
{
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *scales = (const int8_t *)(b + 192);
    float d = ldh(b + 208);
    for (int half = 0; half < 2; half++, ql += 64, qh += 32) {
        for (int k = 0; k < 4; k++) {
            for (int l = 0; l < 32; l++) {
                int lo = (ql[32 * (k % 2) + l] >> (4 * (k / 2))) & 0x0f;
                int hi = (qh[l] >> (2 * k)) & 3;
                int e = 128 * half + 32 * k + l;
                float ds = d * (float)scales[e / 16];
                y[e] = ds * (float)((lo | (hi << 4)) - 32);
            }
        }
    }
}

/* ---- rows --------------------------------------------------------------- */

typedef void (*block_fn)(const uint8_t *block, float *out);

static block_fn block_function(uint32_t type)
{
    switch (type) {
    case SL_TYPE_Q4_0: return deq_q4_0;
    case SL_TYPE_Q4_1: return deq_q4_1;
    case SL_TYPE_Q5_0: return deq_q5_0;
    case SL_TYPE_Q5_1: return deq_q5_1;
    case SL_TYPE_Q8_0: return deq_q8_0;
    case SL_TYPE_Q2_K: return deq_q2_k;
    case SL_TYPE_Q3_K: return deq_q3_k;
    case SL_TYPE_Q4_K: return deq_q4_k;
    case SL_TYPE_Q5_K: return deq_q5_k;
    case SL_TYPE_Q6_K: return deq_q6_k;
    default: return NULL;
    }
}

/* Handles the element types; returns how many elements it wrote. */
static size_t dequantize_plain(uint32_t type, const uint8_t *s, float *dst, size_t n)
{
    switch (type) {
    case SL_TYPE_F32:
        memcpy(dst, s, n * sizeof *dst);
        return n;
    case SL_TYPE_F16:
        for (size_t i = 0; i < n; i++)
            dst[i] = sl_f16_to_f32(ld16(s + 2 * i));
        return n;
    case SL_TYPE_BF16:
        for (size_t i = 0; i < n; i++)
            dst[i] = sl_bf16_to_f32(ld16(s + 2 * i));
        return n;
    default:
        return 0;
    }
}

void sl_dequantize_row(uint32_t type, const void *src, float *dst, size_t n)
{
    const uint8_t *s = src;
    size_t done = 0;
    block_fn fn = block_function(type);
    if (fn) {
        size_t qk = sl_type_block_elems(type), bytes = sl_type_block_bytes(type);
        size_t blocks = n / qk;
        for (size_t i = 0; i < blocks; i++)
            fn(s + i * bytes, dst + i * qk);
        done = blocks * qk;
    } else {
        done = dequantize_plain(type, s, dst, n);
    }
    /* An unsupported type or a partial trailing block: defined output. */
    for (size_t i = done; i < n; i++)
        dst[i] = 0.0f;
}
