/* lightning.cu against its CPU references, fresh random inputs of odd
 * sizes, outputs poisoned first:
 * - sl_k_layernorm against sl_layernorm: within 1e-6 relative per row;
 * - sl_k_hadamard_fp8 against sl_hadamard then sl_fp8_fake_quant per block
 *   of 128: bit for bit (the butterflies add the same values in the same
 *   order; the block maxima are order-free);
 * - sl_k_indexer_any against sl_lightning_scores on float copies of the
 *   same bf16 values, at shapes the fast kernel does not take (and one it
 *   does): ‖gpu − cpu‖/‖cpu‖ ≤ 1e-5 in range, -inf outside, untouched past L;
 * - DeepSeek's FP8 indexer cache (132 bytes a key at D = 128, in blocks of
 *   64): keys written in two calls (positions 0 … and first …) read back bit
 *   for bit as the CPU's rotated and rounded keys, each scale at the block's
 *   tail a power of two; and indexer.cu's paged kernel reading that cache
 *   through one shared block table (stride 0), the queries in e4m3 with their
 *   scales folded into the head weights, against sl_lightning_scores on the
 *   CPU's rounded vectors (≤ 1e-5). */
#include "gpu-util.h"
#include "cpu/fp8.h"
#include "cpu/ops.h"
#include "dsa/indexer.h"
#include "sightline-kernels.h"

static uint64_t rng = 0x11a7;

static float *random_floats(size_t n, float lo, float hi)
{
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = sl_uniform(&rng, lo, hi);
    return v;
}

static void check_layernorm(int n, int dim)
{
    float *x = random_floats((size_t)n * dim, -3.0f, 5.0f), *w = random_floats((size_t)dim, -2.0f, 2.0f);
    float *b = random_floats((size_t)dim, -1.0f, 1.0f);
    float *d_x = sl_gpu_upload(x, (size_t)n * dim * 4), *d_w = sl_gpu_upload(w, (size_t)dim * 4);
    float *d_b = sl_gpu_upload(b, (size_t)dim * 4);
    CUDA_CHECK(sl_k_layernorm(d_x, d_w, d_b, n, dim, 1e-6f, 0));
    float *got = sl_gpu_download(d_x, (size_t)n * dim * 4);
    double worst = 0;
    for (int r = 0; r < n; r++) {
        sl_layernorm(x + (size_t)r * dim, (size_t)dim, w, b, 1e-6f);
        double e = sl_rel_error(got + (size_t)r * dim, x + (size_t)r * dim, (size_t)dim);
        worst = e > worst ? e : worst;
    }
    CHECKF(worst <= 1e-6, "layernorm %d × %d: %.3g", n, dim, worst);
    fprintf(stderr, "layernorm %4d × %4d: %.1e\n", n, dim, worst);
    free(x), free(w), free(b), free(got);
    cudaFree(d_x), cudaFree(d_w), cudaFree(d_b);
}

static void check_hadamard_fp8(int n, int dim, float amp)
{
    float *x = random_floats((size_t)n * dim, -amp, amp);
    float *d_x = sl_gpu_upload(x, (size_t)n * dim * 4);
    CUDA_CHECK(sl_k_hadamard_fp8(d_x, n, dim, 0));
    float *got = sl_gpu_download(d_x, (size_t)n * dim * 4);
    size_t differ = 0;
    for (int r = 0; r < n; r++) {
        float *row = x + (size_t)r * dim;
        sl_hadamard(row, (size_t)dim);
        for (int b = 0; b < dim; b += 128)
            sl_fp8_fake_quant(row + b, (size_t)(dim - b < 128 ? dim - b : 128));
    }
    for (size_t i = 0; i < (size_t)n * dim; i++)
        differ += memcmp(&got[i], &x[i], 4) != 0;
    CHECKF(differ == 0, "hadamard fp8 %d × %d (amplitude %g): %zu values differ", n, dim, amp, differ);
    fprintf(stderr, "hadamard fp8 %4d × %4d, amplitude %g: %zu of %zu differ\n", n, dim, amp,
            differ, (size_t)n * dim);
    free(x), free(got);
    cudaFree(d_x);
}

static void check_indexer(int rows, int H, int D, int L)
{
    float *qf, *kf;
    uint16_t *q = sl_random_bf16(&rng, (size_t)rows * H * D, 1.0f, &qf);
    uint16_t *k = sl_random_bf16(&rng, (size_t)L * D, 1.0f, &kf);
    float *w = random_floats((size_t)rows * H, -0.5f, 1.0f);
    int32_t *ks = malloc((size_t)rows * 4), *ke = malloc((size_t)rows * 4);
    for (int r = 0; r < rows; r++) { /* causal rows at the end, and some ragged ones */
        ks[r] = r % 3 == 2 ? (int32_t)(sl_splitmix64(&rng) % (uint64_t)(L / 2 + 1)) : 0;
        ke[r] = L - rows + r + 1 > 0 ? L - rows + r + 1 : 0;
    }
    size_t stride = (size_t)L + 5;
    sl_bf16 *d_q = sl_gpu_upload(q, (size_t)rows * H * D * 2), *d_k = sl_gpu_upload(k, (size_t)L * D * 2);
    float *d_w = sl_gpu_upload(w, (size_t)rows * H * 4), *d_s = sl_gpu_poisoned((size_t)rows * stride * 4);
    int32_t *d_ks = sl_gpu_upload(ks, (size_t)rows * 4), *d_ke = sl_gpu_upload(ke, (size_t)rows * 4);
    CUDA_CHECK(sl_k_indexer_any(d_q, d_w, d_k, d_ks, d_ke, rows, H, D, L, d_s, stride, 0));
    float *got = sl_gpu_download(d_s, (size_t)rows * stride * 4), *want = malloc((size_t)L * 4);
    double worst = 0;
    for (int r = 0; r < rows; r++) {
        const float *g = got + (size_t)r * stride;
        int a = ks[r], b = ke[r] > a ? ke[r] : a;
        sl_lightning_scores((size_t)H, (size_t)D, qf + (size_t)r * H * D, w + (size_t)r * H, kf,
                            (size_t)a, (size_t)(b - a), want);
        double e = sl_rel_error(g + a, want, (size_t)(b - a));
        worst = e > worst ? e : worst;
        for (int s = 0; s < L; s++)
            if (s < a || s >= b)
                CHECK(isinf(g[s]) && g[s] < 0);
        for (size_t s = (size_t)L; s < stride; s++)
            CHECK(isnan(g[s]));
    }
    CHECKF(worst <= 1e-5, "indexer %d rows, H %d, D %d, L %d: %.3g", rows, H, D, L, worst);
    fprintf(stderr, "indexer %3d rows, H %2d, D %3d, L %4d%s: %.1e\n", rows, H, D, L,
            sl_k_indexer_bf16_takes(H, D) ? " (fast kernel)" : "", worst);
    free(qf), free(kf), free(q), free(k), free(w), free(ks), free(ke), free(got), free(want);
    cudaFree(d_q), cudaFree(d_k), cudaFree(d_w), cudaFree(d_s), cudaFree(d_ks), cudaFree(d_ke);
}

/* x [n][D] rotated and rounded as DeepSeek's FP8 indexer (sl_hadamard, then
 * sl_fp8_fake_quant per block of 128), in place on the CPU. */
static void fp8_rows(float *x, int n, int D)
{
    for (int r = 0; r < n; r++) {
        float *row = x + (size_t)r * D;
        sl_hadamard(row, (size_t)D);
        for (int b = 0; b < D; b += 128)
            sl_fp8_fake_quant(row + b, (size_t)(D - b < 128 ? D - b : 128));
    }
}

/* The indexer cache of L keys in DeepSeek's FP8 layout (written in two calls,
 * positions 0 … first - 1 then first … L - 1), its keys back, and the paged
 * kernel's scores over it against the CPU's. */
static void check_fp8_cache(int rows, int H, int D, int L, int first)
{
    float *k = random_floats((size_t)L * D, -2.0f, 2.0f);
    float *q = random_floats((size_t)rows * H * D, -1.0f, 1.0f);
    float *w = random_floats((size_t)rows * H, -0.5f, 1.0f);
    int32_t *ks = calloc((size_t)rows, 4), *ke = malloc((size_t)rows * 4), table[64];
    for (int r = 0; r < rows; r++)
        ke[r] = L - rows + r + 1;
    for (int b = 0; b < 64; b++)
        table[b] = b;
    size_t block = sl_k_indexer_fp8_block_bytes(D), bytes = (size_t)(L + 63) / 64 * block;
    float *d_k = sl_gpu_upload(k, (size_t)L * D * 4), *d_q = sl_gpu_upload(q, (size_t)rows * H * D * 4);
    float *d_w = sl_gpu_upload(w, (size_t)rows * H * 4), *d_qs = sl_gpu_poisoned((size_t)rows * H * 4);
    float *d_s = sl_gpu_poisoned((size_t)rows * L * 4);
    uint8_t *d_cache = sl_gpu_poisoned(bytes), *d_q8 = sl_gpu_poisoned((size_t)rows * H * D);
    sl_bf16 *d_back = sl_gpu_poisoned((size_t)L * D * 2);
    int32_t *d_table = sl_gpu_upload(table, sizeof table), *d_ks = sl_gpu_upload(ks, (size_t)rows * 4);
    int32_t *d_ke = sl_gpu_upload(ke, (size_t)rows * 4);
    CUDA_CHECK(sl_k_hadamard_fp8(d_k, L, D, 0));
    CUDA_CHECK(sl_k_indexer_keys_fp8(d_k, first, D, 0, d_cache, 0));
    CUDA_CHECK(sl_k_indexer_keys_fp8(d_k + (size_t)first * D, L - first, D, first, d_cache, 0));
    CUDA_CHECK(sl_k_indexer_keys_from_fp8(d_cache, L, D, d_back, 0));
    CUDA_CHECK(sl_k_hadamard_fp8(d_q, rows * H, D, 0));
    CUDA_CHECK(sl_k_quant_e4m3(d_q, d_q8, d_qs, (size_t)rows * H * D, D, 0));
    CUDA_CHECK(sl_k_scale_groups(d_w, d_qs, (size_t)rows * H, 1, 0));
    CUDA_CHECK(sl_k_indexer_fp8_paged(d_q8, d_w, d_cache, d_table, 0, d_ks, d_ke, rows, H, D, L,
                                      d_s, (size_t)L, 0));
    fp8_rows(k, L, D);
    fp8_rows(q, rows * H, D);
    uint16_t *back = sl_gpu_download(d_back, (size_t)L * D * 2);
    uint8_t *cache = sl_gpu_download(d_cache, bytes);
    size_t differ = 0, bad_scales = 0;
    for (size_t i = 0; i < (size_t)L * D; i++)
        differ += sl_bf16_to_f32(back[i]) != k[i];
    for (int p = 0; p < L; p++) {
        float scale;
        memcpy(&scale, cache + (size_t)(p / 64) * block + 64 * (size_t)D + 4 * (size_t)(p % 64), 4);
        int e;
        bad_scales += !(scale > 0 && frexpf(scale, &e) == 0.5f);
    }
    CHECKF(differ == 0 && bad_scales == 0, "FP8 indexer cache D %d: %zu values differ, %zu scales "
           "are not powers of two", D, differ, bad_scales);
    float *got = sl_gpu_download(d_s, (size_t)rows * L * 4), *want = malloc((size_t)L * 4);
    double worst = 0;
    for (int r = 0; r < rows; r++) {
        sl_lightning_scores((size_t)H, (size_t)D, q + (size_t)r * H * D, w + (size_t)r * H, k, 0,
                            (size_t)ke[r], want);
        double e = sl_rel_error(got + (size_t)r * L, want, (size_t)ke[r]);
        worst = e > worst ? e : worst;
    }
    CHECKF(worst <= 1e-5, "FP8 paged scores H %d, D %d, L %d: %.3g", H, D, L, worst);
    fprintf(stderr, "FP8 indexer cache D %3d (%zu B a key), L %d: keys back bit for bit; paged "
            "scores within %.1e\n", D, block / 64, L, worst);
    free(k), free(q), free(w), free(ks), free(ke), free(back), free(cache), free(got), free(want);
    void *dev[] = {d_k, d_q, d_w, d_qs, d_s, d_cache, d_q8, d_back, d_table, d_ks, d_ke};
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++)
        cudaFree(dev[i]);
}

int main(void)
{
    sl_gpu_require();
    check_layernorm(1, 32);
    check_layernorm(37, 64);
    check_layernorm(300, 1000);
    static const int dims[] = {1, 2, 32, 64, 128, 256, 1024};
    for (size_t i = 0; i < sizeof dims / sizeof *dims; i++) {
        check_hadamard_fp8(41, dims[i], 3.0f);
        check_hadamard_fp8(7, dims[i], 1e-5f); /* the 1e-4 floor of amax, subnormal e4m3 */
        check_hadamard_fp8(5, dims[i], 5000.0f);
    }
    check_indexer(5, 16, 32, 300);
    check_indexer(33, 12, 64, 517);
    check_indexer(1, 3, 40, 1000);
    check_indexer(70, 5, 17, 70);
    check_indexer(9, 8, 64, 260);
    check_fp8_cache(7, 64, 128, 300, 70);
    check_fp8_cache(20, 8, 64, 150, 64);
    return sl_test_finish();
}
