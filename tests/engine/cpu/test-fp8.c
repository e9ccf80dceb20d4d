/* DeepSeek's FP8 indexer numerics: e4m3 rounding against torch's
 * float8_e4m3fn cast (tests/data/deepseek-v32/e4m3-golden.safetensors, from
 * tests/reference/make-deepseek-v32.py: every e4m3 value, every midpoint
 * between neighbours, the floats just beside them, and 20,000 random values
 * of every magnitude, both signs); the ue8m0 block scale; the Hadamard
 * transform's orthonormality. */
#include "../test-util.h"
#include "cpu/fp8.h"
#include "model/safetensors.h"

static void check_rounding(const char *path)
{
    sl_safetensors *st = NULL;
    sl_error err = {0};
    CHECKF(sl_safetensors_open(path, &st, &err) == SL_OK, "%s", err.message);
    const sl_st_tensor *x = st ? sl_safetensors_find(st, "x") : NULL;
    const sl_st_tensor *y = st ? sl_safetensors_find(st, "e4m3") : NULL;
    CHECK(x && y && x->n_elements == y->n_elements && x->n_elements > 40000);
    size_t n = x && y ? (size_t)x->n_elements : 0, wrong = 0;
    float *xs = malloc(n * sizeof *xs + 1), *ys = malloc(n * sizeof *ys + 1);
    if (n) {
        sl_st_to_f32(x, 0, n, xs);
        sl_st_to_f32(y, 0, n, ys);
    }
    for (size_t i = 0; i < n; i++) {
        float got = sl_e4m3_round(xs[i]);
        if (got != ys[i] || signbit(got) != signbit(ys[i])) {
            if (wrong++ < 5)
                fprintf(stderr, "e4m3(%.9g) = %.9g, torch %.9g\n", (double)xs[i], (double)got,
                        (double)ys[i]);
        }
    }
    CHECKF(wrong == 0, "%zu of %zu values round differently from torch", wrong, n);
    fprintf(stderr, "e4m3: %zu values equal torch's cast\n", n - wrong);
    CHECK(sl_e4m3_round(1000.0f) == 448.0f && sl_e4m3_round(-1e30f) == -448.0f);
    CHECK(isnan(sl_e4m3_round(NAN)));
    free(xs);
    free(ys);
    sl_safetensors_close(st);
}

static void check_scale(void)
{
    srand(3);
    for (int trial = 0; trial < 2000; trial++) {
        float x[128], orig[128], amax = 0;
        float mag = ldexpf(1.0f, rand() % 40 - 20);
        for (int i = 0; i < 128; i++) {
            orig[i] = x[i] = mag * ((float)rand() / (float)RAND_MAX - 0.5f);
            amax = fabsf(x[i]) > amax ? fabsf(x[i]) : amax;
        }
        float s = sl_fp8_fake_quant(x, 128);
        int e;
        CHECK(frexpf(s, &e) == 0.5f);                     /* a power of two */
        float floor_amax = amax > 1e-4f ? amax : 1e-4f;
        CHECK(floor_amax / s <= 448.0f && floor_amax / s > 224.0f); /* the smallest such */
        for (int i = 0; i < 128; i++) {
            float q = x[i] / s;
            CHECK(sl_e4m3_round(q) == q);                 /* an e4m3 value times s */
            CHECK(fabsf(x[i] - orig[i]) <= fabsf(orig[i]) / 16 + s / 512); /* within half a step */
        }
    }
}

static void check_hadamard(void)
{
    for (size_t n = 1; n <= 256; n *= 2) {
        float a[256], b[256], a0[256];
        for (size_t i = 0; i < n; i++) {
            a0[i] = a[i] = sinf((float)(i * 7 + n));
            b[i] = cosf((float)(i * 3 + 1));
        }
        double dot = 0, dot2 = 0, back = 0;
        for (size_t i = 0; i < n; i++)
            dot += (double)a[i] * b[i];
        sl_hadamard(a, n);
        sl_hadamard(b, n);
        for (size_t i = 0; i < n; i++)
            dot2 += (double)a[i] * b[i];
        sl_hadamard(a, n); /* H is symmetric and orthonormal: twice is the identity */
        for (size_t i = 0; i < n; i++)
            back = fmax(back, fabs((double)a[i] - a0[i]));
        CHECKF(fabs(dot - dot2) < 1e-4 && back < 1e-5, "n %zu: dot %g vs %g, back %g", n, dot,
               dot2, back);
    }
    float e[4] = {1, 0, 0, 0}; /* the first column of H_4 / 2 */
    sl_hadamard(e, 4);
    CHECK(e[0] == 0.5f && e[1] == 0.5f && e[2] == 0.5f && e[3] == 0.5f);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test-fp8 E4M3-GOLDEN\n");
        return 2;
    }
    check_rounding(argv[1]);
    check_scale();
    check_hadamard();
    return sl_test_finish();
}
