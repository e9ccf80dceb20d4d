/* quant.cu against the CPU: bf16 conversions (round to nearest even) and
 * e4m3 with power-of-two block scales against engine/cpu/fp8.c, itself
 * checked against torch's cast (tests/engine/cpu/test-fp8.c). */
#include "gpu-util.h"
#include "cpu/fp8.h"
#include "sightline-kernels.h"

static float random_value(unsigned *state)
{
    *state = *state * 1664525u + 1013904223u;
    float u = (float)(*state >> 8) / 16777216.0f - 0.5f;
    *state = *state * 1664525u + 1013904223u;
    return ldexpf(u, (int)(*state >> 27) - 12); /* magnitudes 2^-13 … 2^19 */
}

static void check_bf16(size_t n)
{
    float *x = malloc(n * sizeof *x);
    unsigned st = 11;
    for (size_t i = 0; i < n; i++)
        x[i] = random_value(&st);
    float *dx = sl_gpu_upload(x, n * sizeof *x), *back = sl_gpu_poisoned(n * sizeof *x);
    uint16_t *db = sl_gpu_poisoned(n * 2);
    CUDA_CHECK(sl_k_f32_to_bf16(dx, db, n, 0));
    CUDA_CHECK(sl_k_bf16_to_f32(db, back, n, 0));
    uint16_t *b = sl_gpu_download(db, n * 2);
    float *r = sl_gpu_download(back, n * sizeof *x);
    size_t wrong = 0;
    for (size_t i = 0; b && r && i < n; i++)
        wrong += b[i] != sl_f32_to_bf16(x[i]) || r[i] != sl_bf16_to_f32(b[i]);
    CHECKF(b && r && wrong == 0, "bf16: %zu of %zu differ", wrong, n);
    free(x), free(b), free(r);
    cudaFree(dx), cudaFree(db), cudaFree(back);
}

static void check_e4m3(size_t blocks, int block)
{
    size_t n = blocks * (size_t)block;
    float *x = malloc(n * sizeof *x), *ref = malloc(n * sizeof *x);
    unsigned st = 5;
    for (size_t b = 0; b < blocks; b++) {
        float scale = ldexpf(1.0f, (int)(b % 40) - 20); /* blocks of very different size */
        for (int i = 0; i < block; i++)
            x[b * (size_t)block + (size_t)i] = scale * random_value(&st);
    }
    memcpy(ref, x, n * sizeof *x);
    float *dx = sl_gpu_upload(x, n * sizeof *x), *ds = sl_gpu_poisoned(blocks * sizeof(float));
    uint8_t *dq = sl_gpu_poisoned(n);
    CUDA_CHECK(sl_k_quant_e4m3(dx, dq, ds, n, block, 0));
    CUDA_CHECK(cudaDeviceSynchronize());
    uint8_t *q = sl_gpu_download(dq, n);
    float *s = sl_gpu_download(ds, blocks * sizeof(float));
    size_t wrong = 0;
    for (size_t b = 0; q && s && b < blocks; b++) {
        float cpu_scale = sl_fp8_fake_quant(ref + b * (size_t)block, (size_t)block);
        wrong += s[b] != cpu_scale;
        for (int i = 0; i < block; i++) {
            size_t j = b * (size_t)block + (size_t)i;
            wrong += sl_e4m3_to_f32(q[j]) * s[b] != ref[j];
        }
    }
    CHECKF(q && s && wrong == 0, "e4m3 blocks of %d: %zu of %zu differ", block, wrong, n + blocks);
    CHECK(sl_k_quant_e4m3(dx, dq, ds, n, 7, 0) == cudaErrorInvalidValue || n % 7 == 0);
    free(x), free(ref), free(q), free(s);
    cudaFree(dx), cudaFree(dq), cudaFree(ds);
}

/* sl_k_scale_groups, and the fills: in range, reproducible, never NaN. */
static void check_helpers(void)
{
    size_t n = 100003;
    float *x = sl_gpu_poisoned(n * sizeof(float)), *sc = sl_gpu_poisoned((n / 7 + 1) * sizeof(float));
    CUDA_CHECK(sl_k_fill_f32(x, n, 42, 3.0f, 0));
    CUDA_CHECK(sl_k_fill_f32(sc, n / 7 + 1, 43, 1.0f, 0));
    float *hx = sl_gpu_download(x, n * sizeof(float)), *hs = sl_gpu_download(sc, (n / 7 + 1) * sizeof(float));
    CUDA_CHECK(sl_k_scale_groups(x, sc, n, 7, 0));
    float *hy = sl_gpu_download(x, n * sizeof(float));
    size_t wrong = 0;
    for (size_t i = 0; hx && hs && hy && i < n; i++)
        wrong += !(fabsf(hx[i]) <= 3.0f) || hy[i] != hx[i] * hs[i / 7];
    CHECKF(hx && hy && wrong == 0, "fill or scale_groups: %zu wrong", wrong);
    CUDA_CHECK(sl_k_fill_f32(x, n, 42, 3.0f, 0));
    float *again = sl_gpu_download(x, n * sizeof(float));
    CHECK(again && hx && memcmp(again, hx, n * sizeof(float)) == 0);
    uint8_t *kv = sl_gpu_poisoned(656 * 1000);
    CUDA_CHECK(sl_k_fill_kv656(kv, 1000, 9, 0));
    uint8_t *hkv = sl_gpu_download(kv, 656 * 1000);
    for (size_t e = 0; hkv && e < 1000; e++) {
        for (int j = 0; j < 512; j++)
            wrong += isnan(sl_e4m3_to_f32(hkv[e * 656 + (size_t)j]));
        for (int j = 0; j < 4; j++) {
            float f;
            int ex;
            memcpy(&f, hkv + e * 656 + 512 + 4 * (size_t)j, 4);
            wrong += frexpf(f, &ex) != 0.5f;
        }
        for (int j = 0; j < 64; j++) {
            uint16_t b;
            memcpy(&b, hkv + e * 656 + 528 + 2 * (size_t)j, 2);
            wrong += !(fabsf(sl_bf16_to_f32(b)) <= 1.0f);
        }
    }
    CHECKF(hkv && wrong == 0, "kv656 fill: %zu wrong", wrong);
    free(hx), free(hs), free(hy), free(again), free(hkv);
    cudaFree(x), cudaFree(sc), cudaFree(kv);
}

int main(void)
{
    sl_gpu_require();
    check_bf16(1000003);
    check_e4m3(4099, 128);
    check_e4m3(777, 64);
    check_helpers();
    return sl_test_finish();
}
