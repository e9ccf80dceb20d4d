/* kept-mass.cu against a sum on the host: sl_k_selected_sum over rows with
 * unused (-1) entries, long and short selections, outputs poisoned first. */
#include "gpu-util.h"
#include "sightline-kernels.h"

#include <math.h>

static uint64_t rng = 0x1dea5eedull;

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
    check_selected_sum(1, 2048, 5000);
    check_selected_sum(33, 16, 300);
    check_selected_sum(512, 7, 40);
    fprintf(stderr, "%d checks\n", sl_test_checks);
    return sl_test_finish();
}
