/* The type table, the f16/bf16 conversions and hand-built blocks.
 *
 * f16 → f32 is checked on all 65536 inputs against a formula evaluated in
 * double; f32 → f16 against numpy's rounding (FIXTURE_DIR/f16-rounding.bin)
 * and against a brute-force nearest-value search over a spread of all f32
 * bit patterns. The block layouts are checked bit-exactly against the gguf
 * package in test-gguf; here a few blocks built by hand pin down element
 * order and signs independently of any other implementation.
 *
 * Usage: test-dequant FIXTURE_DIR */
#include "../test-util.h"
#include "model/dequant.h"

#include <math.h>
#include <stdint.h>

static uint32_t bits_of(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

static float from_bits(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

/* ---- type table ------------------------------------------------------------ */

static void test_types(void)
{
    struct {
        uint32_t type;
        const char *name;
        size_t elems, bytes;
        bool supported;
    } cases[] = {
        {SL_TYPE_F32, "F32", 1, 4, true},     {SL_TYPE_F16, "F16", 1, 2, true},
        {SL_TYPE_BF16, "BF16", 1, 2, true},   {SL_TYPE_Q4_0, "Q4_0", 32, 18, true},
        {SL_TYPE_Q4_1, "Q4_1", 32, 20, true}, {SL_TYPE_Q5_0, "Q5_0", 32, 22, true},
        {SL_TYPE_Q5_1, "Q5_1", 32, 24, true}, {SL_TYPE_Q8_0, "Q8_0", 32, 34, true},
        {SL_TYPE_Q8_1, "Q8_1", 32, 40, false}, {SL_TYPE_Q2_K, "Q2_K", 256, 84, true},
        {SL_TYPE_Q3_K, "Q3_K", 256, 110, true}, {SL_TYPE_Q4_K, "Q4_K", 256, 144, true},
        {SL_TYPE_Q5_K, "Q5_K", 256, 176, true}, {SL_TYPE_Q6_K, "Q6_K", 256, 210, true},
        {SL_TYPE_Q8_K, "Q8_K", 256, 292, false}, {16, "IQ2_XXS", 256, 66, false},
        {28, "F64", 1, 8, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *name = sl_type_name(cases[i].type);
        CHECKF(name && strcmp(name, cases[i].name) == 0, "type %u: %s", cases[i].type, name);
        CHECKF(sl_type_block_elems(cases[i].type) == cases[i].elems, "%s", cases[i].name);
        CHECKF(sl_type_block_bytes(cases[i].type) == cases[i].bytes, "%s", cases[i].name);
        CHECKF(sl_type_supported(cases[i].type) == cases[i].supported, "%s", cases[i].name);
    }
    static const uint32_t unknown[] = {4, 5, 31, 32, 33, 36, 37, 38, 63, 64, 1000, UINT32_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        CHECKF(sl_type_name(unknown[i]) == NULL, "type %u", unknown[i]);
        CHECK(!sl_type_supported(unknown[i]));
        CHECK(sl_type_block_elems(unknown[i]) == 0 && sl_type_block_bytes(unknown[i]) == 0);
        CHECK(!sl_type_row_bytes(unknown[i], 32, NULL));
    }

    uint64_t bytes = 0;
    CHECK(sl_type_row_bytes(SL_TYPE_Q4_0, 64, &bytes) && bytes == 36);
    CHECK(sl_type_row_bytes(SL_TYPE_Q6_K, 512, &bytes) && bytes == 420);
    CHECK(sl_type_row_bytes(SL_TYPE_F32, 7, &bytes) && bytes == 28);
    CHECK(sl_type_row_bytes(SL_TYPE_Q4_0, 0, &bytes) && bytes == 0);
    CHECK(!sl_type_row_bytes(SL_TYPE_Q4_0, 33, &bytes));
    CHECK(!sl_type_row_bytes(SL_TYPE_Q4_K, 128, &bytes));
    CHECK(!sl_type_row_bytes(SL_TYPE_F32, (uint64_t)1 << 62, &bytes));      /* 2^64 bytes */
    CHECK(sl_type_row_bytes(SL_TYPE_F32, ((uint64_t)1 << 62) - 1, &bytes)); /* just fits */
    CHECK(!sl_type_row_bytes(SL_TYPE_Q8_0, UINT64_MAX - 31, &bytes));
}

/* ---- f16 / bf16 ----------------------------------------------------------- */

/* The value of an f16 bit pattern, from its definition. */
static double f16_value(uint16_t h)
{
    int sign = h >> 15, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    double v;
    if (exp == 0x1f)
        v = mant ? NAN : INFINITY;
    else if (exp == 0)
        v = ldexp(mant, -24);
    else
        v = ldexp(1024 + mant, exp - 25);
    return sign ? -v : v;
}

static void test_f16_to_f32(void)
{
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = sl_f16_to_f32((uint16_t)h);
        double want = f16_value((uint16_t)h);
        bool ok;
        if (isnan(want)) /* NaN: sign and payload kept, in the top mantissa bits */
            ok = bits_of(f) == (((h & 0x8000u) << 16) | 0x7f800000u | ((h & 0x3ffu) << 13));
        else
            ok = (double)f == want && !signbit(f) == !signbit(want);
        if (!ok && bad++ < 5)
            fprintf(stderr, "f16 %04x → %a (%08x), want %a\n", h, (double)f, bits_of(f), want);
    }
    CHECKF(bad == 0, "%d f16 → f32 conversions wrong", bad);
}

/* Nearest f16 to x, ties to even, by searching the table of positive values;
 * the pattern above 65504 (0x7c00) stands for 2^16 there, the next value in
 * the format's rounding, so large values round to infinity as IEEE says. */
static double positive[0x7c01];

static uint16_t nearest_f16(float x)
{
    if (isnan(x))
        return 0x7e00;
    double a = fabs((double)x);
    uint16_t sign = signbit(x) ? 0x8000 : 0;
    size_t lo = 0, hi = 0x7c00; /* largest h with positive[h] <= a */
    if (a >= positive[0x7c00])
        return sign | 0x7c00;
    while (lo < hi) {
        size_t mid = (lo + hi + 1) / 2;
        if (positive[mid] <= a)
            lo = mid;
        else
            hi = mid - 1;
    }
    double down = a - positive[lo], up = positive[lo + 1] - a;
    uint16_t h = (uint16_t)lo;
    if (up < down || (up == down && (lo & 1)))
        h++;
    return sign | h;
}

static void test_f32_to_f16(const char *dir)
{
    for (uint32_t h = 0; h < 0x7c00; h++)
        positive[h] = f16_value((uint16_t)h);
    positive[0x7c00] = 65536.0;

    /* Every finite f16 survives the round trip; so do infinities and ±0. */
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff))
            continue;
        if (sl_f32_to_f16(sl_f16_to_f32((uint16_t)h)) != h && bad++ < 5)
            fprintf(stderr, "f16 %04x does not round-trip\n", h);
    }
    CHECKF(bad == 0, "%d f16 round trips failed", bad);

    /* A spread over all f32 bit patterns against the nearest-value search. */
    bad = 0;
    for (uint64_t b = 0; b <= UINT32_MAX; b += 4093) {
        float x = from_bits((uint32_t)b);
        uint16_t got = sl_f32_to_f16(x);
        if (isnan(x))
            continue;
        uint16_t want = nearest_f16(x);
        if (got != want && bad++ < 5)
            fprintf(stderr, "f32 %08x (%a) → %04x, want %04x\n", (uint32_t)b, (double)x, got, want);
    }
    CHECKF(bad == 0, "%d f32 → f16 conversions differ from the nearest-value search", bad);

    /* numpy's rounding on boundary cases (ties, subnormals, overflow). */
    char path[4096];
    size_t len = 0;
    snprintf(path, sizeof path, "%s/f16-rounding.bin", dir);
    uint8_t *rec = sl_test_read_file(path, &len);
    CHECKF(rec && len % 8 == 0 && len > 0, "%s", path);
    bad = 0;
    for (size_t i = 0; rec && i + 8 <= len; i += 8) {
        float x;
        uint16_t want;
        memcpy(&x, rec + i, 4);
        memcpy(&want, rec + i + 4, 2);
        uint16_t got = sl_f32_to_f16(x);
        if (got != want && bad++ < 5)
            fprintf(stderr, "f32 %a → %04x, numpy says %04x\n", (double)x, got, want);
        if (got != nearest_f16(x) && bad++ < 5)
            fprintf(stderr, "f32 %a → %04x, search says %04x\n", (double)x, got, nearest_f16(x));
    }
    CHECKF(bad == 0, "%d f32 → f16 conversions differ from numpy", bad);
    free(rec);

    /* NaNs stay NaNs (quiet, like the hardware converters), keeping the sign. */
    static const uint32_t nans[] = {0x7fc00000, 0x7f800001, 0xff800001, 0x7fffffff, 0xffc12345};
    for (size_t i = 0; i < sizeof nans / sizeof nans[0]; i++) {
        uint16_t h = sl_f32_to_f16(from_bits(nans[i]));
        CHECKF((h & 0x7c00) == 0x7c00 && (h & 0x200) && (h >> 15) == (nans[i] >> 31), "NaN %08x → %04x",
               nans[i], h);
    }
}

static void test_bf16(void)
{
    for (uint32_t h = 0; h < 0x10000; h++)
        if (bits_of(sl_bf16_to_f32((uint16_t)h)) != h << 16) {
            CHECKF(0, "bf16 %04x", h);
            break;
        }
}

/* ---- hand-built blocks ------------------------------------------------------ */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

#define F16_ONE 0x3c00
#define F16_HALF 0x3800
#define F16_TWO 0x4000

static void check_row(const char *what, const float *got, const float *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i]) {
            CHECKF(0, "%s[%zu] = %g, want %g", what, i, (double)got[i], (double)want[i]);
            return;
        }
    CHECK(1);
}

static void test_blocks(void)
{
    uint8_t b[2 * 256];
    float y[512], want[512];

    /* Q4_0: element j is the low nibble of qs[j], j+16 the high nibble. */
    memset(b, 0, sizeof b);
    put16(b, F16_TWO);
    for (int j = 0; j < 16; j++)
        b[2 + j] = (uint8_t)(j | (15 - j) << 4);
    for (int j = 0; j < 16; j++) {
        want[j] = (float)(j - 8) * 2;
        want[j + 16] = (float)(15 - j - 8) * 2;
    }
    sl_dequantize_row(SL_TYPE_Q4_0, b, y, 32);
    check_row("Q4_0", y, want, 32);

    /* Q4_1: q * d + m. */
    memset(b, 0, sizeof b);
    put16(b, F16_HALF);
    put16(b + 2, 0xc000); /* m = -2 */
    for (int j = 0; j < 16; j++)
        b[4 + j] = (uint8_t)(j | 3 << 4);
    for (int j = 0; j < 16; j++) {
        want[j] = j * 0.5f - 2;
        want[j + 16] = 1.5f - 2;
    }
    sl_dequantize_row(SL_TYPE_Q4_1, b, y, 32);
    check_row("Q4_1", y, want, 32);

    /* Q5_0: the fifth bit of element j is bit j of qh (little-endian u32). */
    memset(b, 0, sizeof b);
    put16(b, F16_ONE);
    b[2] = 0x01; /* element 0 */
    b[5] = 0x80; /* bit 31: element 31 */
    for (int j = 0; j < 32; j++)
        want[j] = -16;
    want[0] = 0;
    want[31] = 0;
    sl_dequantize_row(SL_TYPE_Q5_0, b, y, 32);
    check_row("Q5_0", y, want, 32);

    /* Q5_1 with d = 1, m = 0.5: element 17 has q = 16 + 15. */
    memset(b, 0, sizeof b);
    put16(b, F16_ONE);
    put16(b + 2, F16_HALF);
    b[4 + 2] = 0x02; /* bit 17 */
    b[8 + 1] = 0xf0;  /* high nibble of qs[1]: element 17 */
    for (int j = 0; j < 32; j++)
        want[j] = 0.5f;
    want[17] = 31.5f;
    sl_dequantize_row(SL_TYPE_Q5_1, b, y, 32);
    check_row("Q5_1", y, want, 32);

    /* Q8_0: signed bytes, two blocks in a row. */
    memset(b, 0, sizeof b);
    put16(b, F16_HALF);
    put16(b + 34, F16_TWO);
    for (int j = 0; j < 32; j++) {
        b[2 + j] = (uint8_t)(int8_t)(j - 16);
        b[36 + j] = (uint8_t)(j == 0 ? -128 : 127);
        want[j] = (j - 16) * 0.5f;
        want[32 + j] = j == 0 ? -256.0f : 254.0f;
    }
    sl_dequantize_row(SL_TYPE_Q8_0, b, y, 64);
    check_row("Q8_0", y, want, 64);

    /* Q4_K: sub-block j has scale j+1 (j<4 in the low six bits of byte j),
     * min 0; qs all 1 in the low nibble and 2 in the high nibble. */
    memset(b, 0, sizeof b);
    put16(b, F16_ONE);
    put16(b + 2, F16_ONE);
    for (int j = 0; j < 4; j++)
        b[4 + j] = (uint8_t)(j + 1); /* scales of sub-blocks 0..3 */
    for (int j = 4; j < 8; j++)
        b[4 + 4 + j] = (uint8_t)(j + 1); /* low nibbles of 4..7 in bytes 8..11; mins 0 */
    b[4] |= 0x40; /* top bits of byte 0 are bits 4..5 of sub-block 4's scale: 5 + 16 */
    memset(b + 16, 0x21, 128);
    for (int j = 0; j < 8; j++) {
        int sc = j + 1 + (j == 4 ? 16 : 0);
        for (int l = 0; l < 32; l++)
            want[32 * j + l] = (float)(sc * (j % 2 ? 2 : 1));
    }
    sl_dequantize_row(SL_TYPE_Q4_K, b, y, 256);
    check_row("Q4_K", y, want, 256);

    /* Q6_K: q = 32 everywhere (value 0) except element 200 = 63 - 32 = 31
     * times scale[12] = -3 times d = 1. Element 200: half 1, k 2, l 8:
     * high nibble of ql[64 + 8], bits 4..5 of qh[32 + 8]. */
    memset(b, 0, sizeof b);
    put16(b + 208, F16_ONE);
    for (int i = 0; i < 64; i++)
        b[128 + i] = 0xaa; /* every 2-bit high part = 2 → q = 32 */
    b[64 + 8] = 0xf0;
    b[128 + 32 + 8] = 0xba; /* bits 4..5 = 3 */
    for (int i = 0; i < 16; i++)
        b[192 + i] = (uint8_t)(int8_t)(i == 12 ? -3 : 1);
    for (int i = 0; i < 256; i++)
        want[i] = 0;
    want[200] = -93;
    sl_dequantize_row(SL_TYPE_Q6_K, b, y, 256);
    check_row("Q6_K", y, want, 256);

    /* F16 and BF16 rows; F32 copies. */
    uint8_t h[6] = {0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00};
    sl_dequantize_row(SL_TYPE_F16, h, y, 3);
    CHECK(y[0] == 1.0f && y[1] == -2.0f && y[2] == ldexpf(1, -24));
    uint8_t bf[4] = {0x80, 0x3f, 0x80, 0xff};
    sl_dequantize_row(SL_TYPE_BF16, bf, y, 2);
    CHECK(y[0] == 1.0f && isinf(y[1]) && y[1] < 0);

    /* Unsupported types and partial trailing blocks give zeros, not garbage. */
    for (int i = 0; i < 64; i++)
        y[i] = 123.0f;
    sl_dequantize_row(SL_TYPE_Q8_1, b, y, 64);
    sl_dequantize_row(9999, b, y + 32, 32);
    bool zero = true;
    for (int i = 0; i < 64; i++)
        zero = zero && y[i] == 0.0f;
    CHECK(zero);
    memset(b, 0, sizeof b);
    put16(b, F16_ONE);
    memset(b + 2, 1, 32);
    for (int i = 0; i < 40; i++)
        y[i] = 123.0f;
    sl_dequantize_row(SL_TYPE_Q8_0, b, y, 40);
    CHECK(y[0] == 1.0f && y[31] == 1.0f && y[32] == 0.0f && y[39] == 0.0f);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]);
        return 2;
    }
    test_types();
    test_f16_to_f32();
    test_f32_to_f16(argv[1]);
    test_bf16();
    test_blocks();
    return sl_test_finish();
}
