/* moe.cu against its CPU references, fresh random inputs, outputs poisoned
 * first:
 * - sl_k_moe_route against sl_moe_route (engine/arch/moe.c) for the test
 *   checkpoints' routings and V3.2's (256 experts in 8 groups): the same
 *   experts in the same order, weights within 1e-6 relative (expf may
 *   differ in its last bit); and with planted ties, the lower index;
 * - sl_k_gather_rows: exact;
 * - sl_k_moe_combine against the CPU's sum (zero, then each expert's
 *   weighted row in turn, then added to x): within 1e-6;
 * - sl_k_moe_token_order: each token's rows in increasing order of expert,
 *   as a sort on the host puts them; sl_k_offset_pointers: exact. */
#include "gpu-util.h"
#include "arch/moe.h"
#include "sightline-kernels.h"

static uint64_t rng = 0x30e;

static void check_route(int n, sl_moe_routing r, bool ties)
{
    int E = r.n_experts, K = r.top_k;
    float *logits = malloc((size_t)n * E * 4), *bias = malloc((size_t)E * 4);
    for (size_t i = 0; i < (size_t)n * E; i++)
        logits[i] = ties ? (float)(sl_splitmix64(&rng) % 3) : sl_uniform(&rng, -4.0f, 4.0f);
    for (int e = 0; e < E; e++)
        bias[e] = ties ? 0.0f : sl_uniform(&rng, -0.1f, 0.1f);
    float *d_logits = sl_gpu_upload(logits, (size_t)n * E * 4), *d_bias = sl_gpu_upload(bias, (size_t)E * 4);
    int32_t *d_ex = sl_gpu_poisoned((size_t)n * K * 4);
    float *d_w = sl_gpu_poisoned((size_t)n * K * 4);
    CUDA_CHECK(sl_k_moe_route(d_logits, d_bias, n, E, r.n_group, r.topk_group, K, r.normalise,
                              r.scale, d_ex, d_w, 0));
    int32_t *ex = sl_gpu_download(d_ex, (size_t)n * K * 4), want_ex[64];
    float *w = sl_gpu_download(d_w, (size_t)n * K * 4), want_w[64];
    float *scratch = malloc(2 * ((size_t)E + (size_t)r.n_group) * 4);
    size_t same = 0;
    double worst = 0;
    for (int t = 0; t < n; t++) {
        sl_moe_route(&r, logits + (size_t)t * E, bias, want_ex, want_w, scratch);
        same += !memcmp(ex + (size_t)t * K, want_ex, (size_t)K * 4);
        double e = sl_rel_error(w + (size_t)t * K, want_w, (size_t)K);
        worst = e > worst ? e : worst;
    }
    CHECKF(same == (size_t)n, "route E %d: %zu of %d tokens choose the same", E, same, n);
    CHECKF(worst <= 1e-6, "route E %d: weights off by %.3g", E, worst);
    fprintf(stderr, "route %3d tokens, %3d experts in %d groups, top %d%s: %zu equal, weights %.1e\n",
            n, E, r.n_group, K, ties ? " (planted ties)" : "", same, worst);
    free(logits), free(bias), free(ex), free(w), free(scratch);
    cudaFree(d_logits), cudaFree(d_bias), cudaFree(d_ex), cudaFree(d_w);
}

static void check_gather_combine(int n, int K, int dim)
{
    int m = n * K;
    float *xv, *y = malloc((size_t)m * dim * 4), *x = malloc((size_t)n * dim * 4);
    float *weights = malloc((size_t)m * 4);
    uint16_t *xb = sl_random_bf16(&rng, (size_t)n * dim, 2.0f, &xv);
    int32_t *rows = malloc((size_t)m * 4), *slot = malloc((size_t)m * 4), *wi = malloc((size_t)m * 4);
    for (int i = 0; i < m; i++) {
        rows[i] = (int32_t)(sl_splitmix64(&rng) % (uint64_t)n);
        slot[i] = (int32_t)(sl_splitmix64(&rng) % (uint64_t)m);
        wi[i] = (int32_t)(sl_splitmix64(&rng) % (uint64_t)m);
        weights[i] = sl_uniform(&rng, 0.0f, 2.0f);
    }
    for (size_t i = 0; i < (size_t)m * dim; i++)
        y[i] = sl_uniform(&rng, -3.0f, 3.0f);
    for (size_t i = 0; i < (size_t)n * dim; i++)
        x[i] = sl_uniform(&rng, -3.0f, 3.0f);
    sl_bf16 *d_x = sl_gpu_upload(xb, (size_t)n * dim * 2), *d_g = sl_gpu_poisoned((size_t)m * dim * 2);
    int32_t *d_rows = sl_gpu_upload(rows, (size_t)m * 4), *d_slot = sl_gpu_upload(slot, (size_t)m * 4);
    int32_t *d_wi = sl_gpu_upload(wi, (size_t)m * 4);
    float *d_y = sl_gpu_upload(y, (size_t)m * dim * 4), *d_w = sl_gpu_upload(weights, (size_t)m * 4);
    float *d_acc = sl_gpu_upload(x, (size_t)n * dim * 4);
    CUDA_CHECK(sl_k_gather_rows(d_x, dim, d_rows, m, d_g, 0));
    CUDA_CHECK(sl_k_moe_combine(d_y, d_slot, d_wi, d_w, n, K, dim, d_acc, 0));
    uint16_t *g = sl_gpu_download(d_g, (size_t)m * dim * 2);
    float *acc = sl_gpu_download(d_acc, (size_t)n * dim * 4), *moe = calloc((size_t)dim, 4);
    size_t wrong = 0;
    for (int i = 0; i < m; i++)
        wrong += memcmp(g + (size_t)i * dim, xb + (size_t)rows[i] * dim, (size_t)dim * 2) != 0;
    CHECKF(wrong == 0, "gather: %zu rows differ", wrong);
    double worst = 0;
    for (int t = 0; t < n; t++) {
        memset(moe, 0, (size_t)dim * 4);
        for (int r = 0; r < K; r++)
            for (int d = 0; d < dim; d++)
                moe[d] += weights[wi[t * K + r]] * y[(size_t)slot[t * K + r] * dim + d];
        for (int d = 0; d < dim; d++)
            x[(size_t)t * dim + d] += moe[d];
        double e = sl_rel_error(acc + (size_t)t * dim, x + (size_t)t * dim, (size_t)dim);
        worst = e > worst ? e : worst;
    }
    CHECKF(worst <= 1e-6, "combine %d × %d: %.3g", n, K, worst);
    fprintf(stderr, "gather and combine %3d tokens × %d experts, dim %4d: %zu rows differ, %.1e\n",
            n, K, dim, wrong, worst);
    free(xv), free(xb), free(y), free(x), free(weights), free(rows), free(slot), free(wi);
    free(g), free(acc), free(moe);
    void *dev[] = {d_x, d_g, d_rows, d_slot, d_wi, d_y, d_w, d_acc};
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++)
        cudaFree(dev[i]);
}

/* n tokens of K distinct experts among E: the rows in expert order, and the
 * experts' matrices' addresses. */
static void check_token_order(int n, int K, int E)
{
    int32_t *ex = malloc((size_t)n * K * 4), *want = malloc((size_t)n * K * 4);
    for (int t = 0; t < n; t++)
        for (int j = 0; j < K; j++) {
            int32_t e;
            bool fresh;
            do { /* distinct within the token, as the router chooses */
                e = (int32_t)(sl_splitmix64(&rng) % (uint64_t)E);
                fresh = true;
                for (int i = 0; i < j; i++)
                    fresh &= ex[t * K + i] != e;
            } while (!fresh);
            ex[t * K + j] = e;
        }
    for (int t = 0; t < n; t++) /* selection sort by expert, on the host */
        for (int r = 0, last = -1; r < K; r++) {
            int best = -1;
            for (int j = 0; j < K; j++)
                if (ex[t * K + j] > last && (best < 0 || ex[t * K + j] < ex[t * K + best]))
                    best = j;
            want[t * K + r] = t * K + best;
            last = ex[t * K + best];
        }
    int32_t *d_ex = sl_gpu_upload(ex, (size_t)n * K * 4), *d_slot = sl_gpu_poisoned((size_t)n * K * 4);
    const void **d_ptr = sl_gpu_poisoned((size_t)n * K * sizeof(void *));
    static const char base[1];
    CUDA_CHECK(sl_k_moe_token_order(d_ex, n, K, d_slot, 0));
    CUDA_CHECK(sl_k_offset_pointers(d_ex, n * K, base, 4096, d_ptr, 0));
    int32_t *slot = sl_gpu_download(d_slot, (size_t)n * K * 4);
    uintptr_t *ptr = sl_gpu_download(d_ptr, (size_t)n * K * sizeof(void *));
    size_t bad = 0;
    for (int i = 0; i < n * K; i++)
        bad += slot[i] != want[i] || ptr[i] != (uintptr_t)base + (uintptr_t)ex[i] * 4096;
    CHECKF(bad == 0, "token order %d × %d of %d experts: %zu wrong", n, K, E, bad);
    free(ex), free(want), free(slot), free(ptr);
    cudaFree(d_ex), cudaFree(d_slot), cudaFree(d_ptr);
}

int main(void)
{
    sl_gpu_require();
    static const sl_moe_routing routings[] = {
        {8, 4, 2, 2, true, 2.5f},   {16, 8, 3, 4, false, 1.5f}, {8, 2, 1, 3, true, 2.5f},
        {256, 8, 4, 8, true, 2.5f}, {7, 1, 1, 1, false, 1.0f},
    };
    for (size_t i = 0; i < sizeof routings / sizeof *routings; i++) {
        check_route(37, routings[i], false);
        check_route(11, routings[i], true);
    }
    check_route(300, routings[3], false);
    check_gather_combine(1, 1, 64);
    check_gather_combine(37, 3, 96);
    check_gather_combine(256, 8, 1000);
    check_token_order(1, 8, 256);
    check_token_order(300, 6, 64);
    check_token_order(5, 1, 7);
    return sl_test_finish();
}
