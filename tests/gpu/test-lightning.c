/* lightning.cu against its CPU references, fresh random inputs of odd
 * sizes, outputs poisoned first:
 * - sl_k_layernorm against sl_layernorm: within 1e-6 relative per row;
 * - sl_k_hadamard_fp8 against sl_hadamard then sl_fp8_fake_quant per block
 *   of 128: bit for bit (the butterflies add the same values in the same
 *   order; the block maxima are order-free);
 * - sl_k_indexer_any against sl_lightning_scores on float copies of the
 *   same bf16 values, at shapes the fast kernel does not take (and one it
 *   does): ‖gpu − cpu‖/‖cpu‖ ≤ 1e-5 in range, -inf outside, untouched past L. */
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
    return sl_test_finish();
}
