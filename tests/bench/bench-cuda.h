/* bench-cuda.h: what the GPU benchmarks share: CK, which stops the run on a
 * CUDA error and says where, and cublasLt.h (whose one declaration with ()
 * would trip -Wstrict-prototypes). */
#ifndef SL_BENCH_CUDA_H
#define SL_BENCH_CUDA_H

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <cublasLt.h>
#pragma GCC diagnostic pop
#include <cuda_runtime_api.h>
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

#endif
