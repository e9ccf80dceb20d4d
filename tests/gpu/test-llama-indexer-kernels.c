/* llama-indexer.cu against the CPU: sl_k_layernorm against sl_layernorm,
 * sl_k_indexer_bf16_any against sl_lightning_scores on float copies of the
 * same bf16 values (odd shapes the tensor-core kernel does not take, causal
 * and ragged ranges, outputs poisoned first), and sl_k_selected_sum against
 * a sum on the host. */
#include "gpu-util.h"
#include "cpu/ops.h"
#include "dsa/indexer.h"
#include "llama-indexer.h"

#include <math.h>

static uint64_t rng = 0x1dea5eedull;

static void check_layernorm(int rows, int dim)
{
    size_t n = (size_t)rows * dim;
    float *x = malloc(n * 4), *w = malloc((size_t)dim * 4), *b = malloc((size_t)dim * 4);
    for (size_t i = 0; i < n; i++)
        x[i] = sl_uniform(&rng, -3.0f, 5.0f);
    for (int i = 0; i < dim; i++)
        w[i] = sl_uniform(&rng, 0.5f, 1.5f), b[i] = sl_uniform(&rng, -0.5f, 0.5f);
    float *dx = sl_gpu_upload(x, n * 4), *dw = sl_gpu_upload(w, (size_t)dim * 4),
          *db = sl_gpu_upload(b, (size_t)dim * 4);
    CUDA_CHECK(sl_k_layernorm(dx, dw, db, rows, dim, 1e-6f, 0));
    float *got = sl_gpu_download(dx, n * 4);
    double worst = 0;
    for (int r = 0; r < rows; r++) {
        sl_layernorm(x + (size_t)r * dim, (size_t)dim, w, b, 1e-6f);
        for (int i = 0; got && i < dim; i++) {
            double want = x[(size_t)r * dim + i], d = fabs(got[(size_t)r * dim + i] - want);
            worst = fmax(worst, d / (1.0 + fabs(want)));
        }
    }
    CHECKF(got && worst <= 1e-6, "layernorm %d × %d: %.3g", rows, dim, worst);
    cudaFree(dx), cudaFree(dw), cudaFree(db);
    free(x), free(w), free(b), free(got);
}

static void check_scores(int rows, int H, int D, int L, bool ragged)
{
    size_t nq = (size_t)rows * H * D, nk = (size_t)L * D, stride = (size_t)L + 3;
    float *qf, *kf, *w = malloc((size_t)rows * H * 4), *want = malloc((size_t)L * 4);
    uint16_t *q = sl_random_bf16(&rng, nq, 1.0f, &qf), *k = sl_random_bf16(&rng, nk, 1.0f, &kf);
    int32_t *ks = malloc((size_t)rows * 4), *ke = malloc((size_t)rows * 4);
    for (int i = 0; i < rows * H; i++)
        w[i] = sl_uniform(&rng, -1.0f, 1.0f);
    for (int r = 0; r < rows; r++) {
        ks[r] = ragged ? (int32_t)(sl_splitmix64(&rng) % (uint64_t)(L + 2)) - 1 : 0;
        ke[r] = ragged ? ks[r] + (int32_t)(sl_splitmix64(&rng) % (uint64_t)(L + 2)) : L - rows + r + 1;
    }
    void *dq = sl_gpu_upload(q, nq * 2), *dk = sl_gpu_upload(k, nk * 2);
    float *dw = sl_gpu_upload(w, (size_t)rows * H * 4), *out = sl_gpu_poisoned(rows * stride * 4);
    int32_t *dks = sl_gpu_upload(ks, (size_t)rows * 4), *dke = sl_gpu_upload(ke, (size_t)rows * 4);
    CUDA_CHECK(sl_k_indexer_bf16_any(dq, dw, dk, dks, dke, rows, H, D, L, out, stride, 0));
    float *got = sl_gpu_download(out, rows * stride * 4);
    double num = 0, den = 0;
    bool outside_ok = got != NULL, past_ok = got != NULL;
    for (int r = 0; got && r < rows; r++) {
        const float *row = got + (size_t)r * stride;
        sl_lightning_scores((size_t)H, (size_t)D, qf + (size_t)r * H * D, w + (size_t)r * H, kf, 0,
                            (size_t)L, want);
        for (int s = 0; s < L; s++) {
            if (s < ks[r] || s >= ke[r]) {
                outside_ok &= isinf(row[s]) && row[s] < 0;
                continue;
            }
            num += ((double)row[s] - want[s]) * ((double)row[s] - want[s]);
            den += (double)want[s] * want[s];
        }
        for (size_t s = (size_t)L; s < stride; s++)
            past_ok &= isnan(row[s]);
    }
    double rel = den > 0 ? sqrt(num / den) : sqrt(num);
    CHECKF(got && rel <= 1e-5, "scores %d rows, H %d, D %d, L %d: %.3g", rows, H, D, L, rel);
    CHECKF(outside_ok && past_ok, "scores %d rows, H %d, D %d, L %d: outside the ranges", rows, H,
           D, L);
    cudaFree(dq), cudaFree(dk), cudaFree(dw), cudaFree(out), cudaFree(dks), cudaFree(dke);
    free(q), free(k), free(qf), free(kf), free(w), free(want), free(ks), free(ke), free(got);
}

static void check_selected_sum(int rows, int k, int L)
{
    float *scores = malloc((size_t)rows * L * 4);
    int32_t *sel = malloc((size_t)rows * k * 4);
    for (int i = 0; i < rows * L; i++)
        scores[i] = sl_uniform(&rng, 0.0f, 1.0f);
    for (int i = 0; i < rows * k; i++)
        sel[i] = sl_splitmix64(&rng) % 5 == 0 ? -1 : (int32_t)(sl_splitmix64(&rng) % (uint64_t)L);
    float *ds = sl_gpu_upload(scores, (size_t)rows * L * 4);
    int32_t *dsel = sl_gpu_upload(sel, (size_t)rows * k * 4);
    double *out = sl_gpu_poisoned((size_t)rows * sizeof(double));
    CUDA_CHECK(sl_k_selected_sum(ds, (size_t)L, dsel, rows, k, out, 0));
    double *got = sl_gpu_download(out, (size_t)rows * sizeof(double)), worst = 0;
    for (int r = 0; got && r < rows; r++) {
        double want = 0;
        for (int j = 0; j < k; j++)
            want += sel[r * k + j] >= 0 ? scores[(size_t)r * L + sel[r * k + j]] : 0;
        worst = fmax(worst, fabs(got[r] - want));
    }
    CHECKF(got && worst <= 1e-9, "selected sum %d rows of %d: %.3g", rows, k, worst);
    cudaFree(ds), cudaFree(dsel), cudaFree(out);
    free(scores), free(sel), free(got);
}

int main(void)
{
    sl_gpu_require();
    int dims[] = {1, 24, 64, 129, 1000};
    for (size_t i = 0; i < sizeof dims / sizeof *dims; i++)
        for (int rows = 1; rows <= 37; rows += 18)
            check_layernorm(rows, dims[i]);
    int shapes[][2] = {{1, 1}, {2, 16}, {3, 24}, {5, 100}, {8, 64}, {128, 96}};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        check_scores(1, shapes[i][0], shapes[i][1], 300, false);
        check_scores(37, shapes[i][0], shapes[i][1], 129, false);
        check_scores(9, shapes[i][0], shapes[i][1], 1000, true);
    }
    CHECK(sl_k_indexer_bf16_any(NULL, NULL, NULL, NULL, NULL, 1, 128, 97, 10, NULL, 10, 0) ==
          cudaErrorInvalidValue);
    check_selected_sum(1, 2048, 5000);
    check_selected_sum(33, 16, 300);
    check_selected_sum(512, 7, 40);
    fprintf(stderr, "%d checks\n", sl_test_checks);
    return sl_test_finish();
}
