/* bench-topk-gpu.c: the GPU's exact top-k (kernels/topk.cu): rows per
 * second, and GB/s of scores read (rows · L · 4 bytes once, whatever the
 * kernel re-reads), by row kind and path, timed with CUDA events after
 * warm-up (the median of 20 launches). Not a test; run by hand:
 *   build/tests/bench/bench-topk-gpu [--json FILE] */
#include "bench-cuda.h"
#include "sightline-kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t state = 42;

static uint64_t next_u64(void) /* splitmix64 */
{
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static float draw(int kind, size_t i)
{
    uint64_t h = next_u64();
    switch (kind) {
    case 0: return (float)((h >> 40) * (1.0 / 16777216.0)) * 8.0f - 4.0f;
    case 1: return (h & 0xff) < 230 ? 0.0f : (float)((h >> 8) % 512) * 0.0625f;
    default: return (float)i;
    }
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

#define TRY(call)                                                                          \
    do {                                                                                   \
        cudaError_t e_ = (call);                                                           \
        if (e_ != cudaSuccess) {                                                           \
            fprintf(stderr, "bench-topk-gpu: %s: %s\n", #call, cudaGetErrorString(e_));   \
            return 1;                                                                      \
        }                                                                                  \
    } while (0)

int main(int argc, char **argv)
{
    const char *json_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json") && i + 1 < argc)
            json_path = argv[++i];
        else {
            fprintf(stderr, "usage: bench-topk-gpu [--json FILE]\n");
            return 2;
        }
    }
    static const struct {
        int rows, L, k;
    } shapes[] = {{1, 131072, 2048}, {4096, 8192, 2048}, {4096, 131072, 2048}, {1, 1048576, 2048}};
    static const char *const kinds[] = {"uniform", "relu", "increasing"};
    const int n_shapes = 4, n_kinds = 3, reps = 20;

    struct cudaDeviceProp prop;
    if (!bench_device("bench-topk-gpu", &prop))
        return 77;
    FILE *json = json_path ? fopen(json_path, "w") : NULL;
    if (json_path && !json) {
        perror(json_path);
        return 1;
    }
    if (json)
        fprintf(json, "{\"device\": \"%s\", \"results\": [", prop.name);
    printf("%s\n%6s %8s %5s %-10s %-8s %10s %12s %8s\n", prop.name, "rows", "L", "k", "kind",
           "path", "median us", "rows/s", "GB/s");

    cudaEvent_t ev[2];
    TRY(cudaEventCreate(&ev[0]));
    TRY(cudaEventCreate(&ev[1]));
    int first = 1;
    for (int s = 0; s < n_shapes; s++) {
        const int rows = shapes[s].rows, L = shapes[s].L, k = shapes[s].k;
        const size_t n = (size_t)rows * (size_t)L;
        float *host = malloc(n * sizeof *host);
        float *d_scores = NULL;
        int32_t *d_out = NULL;
        void *ws = NULL;
        const size_t ws_bytes = sl_k_topk_workspace(rows, L, k);
        if (!host)
            return 1;
        TRY(cudaMalloc((void **)&d_scores, n * sizeof *d_scores));
        TRY(cudaMalloc((void **)&d_out, (size_t)rows * (size_t)k * sizeof *d_out));
        if (ws_bytes)
            TRY(cudaMalloc(&ws, ws_bytes));
        for (int kind = 0; kind < n_kinds; kind++) {
            for (size_t i = 0; i < n; i++)
                host[i] = draw(kind, i % (size_t)L);
            TRY(cudaMemcpy(d_scores, host, n * sizeof *host, cudaMemcpyHostToDevice));
            /* With the workspace (few long rows split over CTAs) and, where
             * that differs, without (one CTA per row). */
            for (int path_i = ws_bytes > 0 ? 2 : 1; path_i >= (L > 24576 ? 0 : 1); path_i--) {
                static const char *const paths[] = {"per-row-3", "per-row", "split"};
                const char *path = paths[path_i]; /* per-row-3: without the bitmaps */
                const int split = path_i == 2;
                sl_k_topk_tune_bitmaps(path_i != 0);
                void *w_ptr = split ? ws : NULL;
                const size_t w_bytes = split ? ws_bytes : 0;
                for (int w = 0; w < 3; w++)
                    TRY(sl_k_topk(d_scores, (size_t)L, NULL, rows, L, k, d_out, w_ptr, w_bytes, 0));
                TRY(cudaDeviceSynchronize());
                float ms[20];
                for (int r = 0; r < reps; r++) {
                    TRY(cudaEventRecord(ev[0], 0));
                    TRY(sl_k_topk(d_scores, (size_t)L, NULL, rows, L, k, d_out, w_ptr, w_bytes, 0));
                    TRY(cudaEventRecord(ev[1], 0));
                    TRY(cudaEventSynchronize(ev[1]));
                    TRY(cudaEventElapsedTime(&ms[r], ev[0], ev[1]));
                }
                qsort(ms, (size_t)reps, sizeof ms[0], cmp_float);
                const double sec = 1e-3 * (double)ms[reps / 2];
                const double rows_s = (double)rows / sec, gbs = (double)n * 4.0 / sec / 1e9;
                printf("%6d %8d %5d %-10s %-8s %10.1f %12.0f %8.1f\n", rows, L, k, kinds[kind],
                       path, sec * 1e6, rows_s, gbs);
                if (json) {
                    fprintf(json,
                            "%s\n  {\"rows\": %d, \"L\": %d, \"k\": %d, \"kind\": \"%s\", "
                            "\"path\": \"%s\", \"median_us\": %.2f, \"min_us\": %.2f, "
                            "\"rows_per_s\": %.1f, \"gb_per_s\": %.2f}",
                            first ? "" : ",", rows, L, k, kinds[kind], path, sec * 1e6,
                            1e3 * (double)ms[0], rows_s, gbs);
                    first = 0;
                }
            }
        }
        free(host);
        cudaFree(d_scores), cudaFree(d_out), cudaFree(ws);
    }
    if (json) {
        fprintf(json, "\n]}\n");
        fclose(json);
    }
    return 0;
}
