/* bench-cuda.h: what the GPU benchmarks share: CK, which stops the run on a
 * CUDA error and says where; bench_device, the GPU to run on; time_ms, the
 * median of timed repeats; and cublasLt.h (whose one declaration with ()
 * would trip -Wstrict-prototypes). */
#ifndef SL_BENCH_CUDA_H
#define SL_BENCH_CUDA_H

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <cublasLt.h>
#pragma GCC diagnostic pop
#include <cuda_runtime_api.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#define CK(call)                                                                           \
    do {                                                                                   \
        cudaError_t e_ = (call);                                                           \
        if (e_ != cudaSuccess) {                                                           \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,                 \
                    cudaGetErrorString(e_));                                               \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

/* Device 0's properties into prop; false, with a line naming the benchmark,
 * where there is no usable GPU. */
static inline bool bench_device(const char *bench, struct cudaDeviceProp *prop)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0 ||
        cudaGetDeviceProperties(prop, 0) != cudaSuccess) {
        fprintf(stderr, "%s: no usable GPU\n", bench);
        return false;
    }
    return true;
}

typedef cudaError_t (*run_fn)(void *ctx, int rep);

static inline int bench_cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* Median milliseconds of `reps` runs of fn (the rep's number passed) after
 * `warm` warm-ups, timed with CUDA events. */
static inline double time_ms(run_fn fn, void *ctx, int warm, int reps)
{
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    for (int i = 0; i < warm; i++)
        CK(fn(ctx, i));
    CK(cudaDeviceSynchronize());
    float *ms = malloc((size_t)reps * sizeof *ms);
    for (int i = 0; i < reps; i++) {
        CK(cudaEventRecord(a, 0));
        CK(fn(ctx, warm + i));
        CK(cudaEventRecord(b, 0));
        CK(cudaEventSynchronize(b));
        CK(cudaEventElapsedTime(&ms[i], a, b));
    }
    qsort(ms, (size_t)reps, sizeof *ms, bench_cmp_float);
    double med = ms[reps / 2];
    free(ms);
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    return med;
}

#endif
