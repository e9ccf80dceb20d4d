/* cuda-common.h: what the GPU backends (llama-cuda.c, deepseek-cuda.c, and
 * the llama indexer's llama-cuda-indexer.c) share: CUDA errors as sl_status,
 * weights converted to BF16 on their way to the device, and opening a GPU
 * for a model with its stream and cuBLAS handle. */
#ifndef SL_CUDA_COMMON_H
#define SL_CUDA_COMMON_H

#include "cpu/matmul.h"
#include "error.h"
#include "sightline-kernels.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

/* SL_ERR_NO_MEMORY for an allocation, SL_ERR_IO for any other failure:
 * "GPU: what: CUDA's message". */
sl_status sl_cuda_failed(cudaError_t e, const char *what, sl_error *err);

/* Returns from the calling function (which has an sl_error *err) when a CUDA
 * call fails. */
#define CK(call, what)                                                                     \
    do {                                                                                   \
        cudaError_t e_ = (call);                                                           \
        if (e_ != cudaSuccess)                                                             \
            return sl_cuda_failed(e_, what, err);                                          \
    } while (0)

/* f rounded to the nearest BF16, ties to even; NaN stays NaN. */
uint16_t sl_bf16_round(float f);

/* w (any type the CPU reads) dequantised row by row to BF16 into dst, device
 * memory of w->rows × w->cols. */
sl_status sl_cuda_matrix_to(const sl_matrix *w, sl_bf16 *dst, sl_error *err);

/* n floats of host memory into a new device buffer. */
sl_status sl_cuda_upload_floats(const float *v, size_t n, float **out, sl_error *err);

/* y [n × out] float32 = alpha · x [n × in] · Wᵀ, W [out × in], x and W both
 * of `type` (CUDA_R_16BF or CUDA_R_32F), float32 accumulation. what names the
 * product in the error. */
sl_status sl_cuda_linear(cublasHandle_t blas, cudaDataType type, const void *w, int out, int in,
                         const void *x, int n, float alpha, float *y, const char *what,
                         sl_error *err);
/* sl_cuda_linear added to y (y += x · Wᵀ): a residual in the product's own
 * epilogue, one launch fewer than the product and an add. */
sl_status sl_cuda_linear_add(cublasHandle_t blas, cudaDataType type, const void *w, int out,
                             int in, const void *x, int n, float *y, const char *what,
                             sl_error *err);

/* batch products of one row each, y[j] [out] float32 = W[j] [out × in] · x[j]
 * [in], all BF16 with float32 sums, through device arrays of device
 * pointers (so that which matrices a product takes can be chosen on the
 * device: the routed experts of one token). */
sl_status sl_cuda_linear_batched(cublasHandle_t blas, const void *const *w, int out, int in,
                                 const void *const *x, void *const *y, int batch,
                                 const char *what, sl_error *err);

/* A decode step as a CUDA graph. After launches were captured on stream
 * (launched: their status), ends the capture and instantiates it into
 * *exec; on failure *exec is NULL, CUDA's error cleared, and launched's or the
 * capture's failure returned. */
sl_status sl_cuda_capture_end(cudaStream_t stream, sl_status launched, cudaGraphExec_t *exec,
                              sl_error *err);
/* A replay: the step's {token, position, length = position + 1} written to
 * step (device) through step_host (pinned; the previous step's copy done),
 * then exec launched, on stream. */
sl_status sl_cuda_step_replay(cudaStream_t stream, cudaGraphExec_t exec, int32_t *step,
                              int32_t *step_host, int32_t id, int pos, sl_error *err);

/* Makes GPU `device` current, checks that weight_bytes fit in its free
 * memory (sl_memory_plan_check: SL_ERR_NO_MEMORY naming the sizes) and names
 * it in name: "cuda:N (model, X GiB)". SL_ERR_UNSUPPORTED when there is no
 * such GPU. */
sl_status sl_cuda_open(int device, uint64_t weight_bytes, char *name, size_t name_cap,
                       sl_error *err);

/* A forward call's n rows at positions pos … onto the device, on stream: their
 * token ids into ids_dev, and with len_dev (DSA) the lengths the rows see,
 * pos + t + 1, for every layer's top-k and indexer. */
sl_status sl_cuda_rows_to_device(int32_t *ids_dev, const int32_t *ids, int32_t *len_dev, int n,
                                 int pos, cudaStream_t stream, sl_error *err);

/* One device buffer of a session's state: where its pointer goes, its bytes
 * (0: left NULL). */
typedef struct {
    void **at;
    size_t bytes;
} sl_cuda_buffer;

/* The n buffers of a session's state on the current device, of which
 * kv_cache and indexer_cache bytes are caches: first checked against the
 * device's free memory as one plan (sl_memory_plan_check, which names the
 * parts), then allocated. desc names the device in errors. On failure the
 * buffers already allocated are left for the caller's free. */
sl_status sl_cuda_state_buffers(const sl_cuda_buffer *b, size_t n, uint64_t kv_cache,
                                uint64_t indexer_cache, const char *desc, size_t max_tokens,
                                sl_error *err);

/* A non-blocking stream and a cuBLAS handle on it with a workspace of
 * ws_bytes given to cuBLAS, so that it allocates nothing inside a graph. */
sl_status sl_cuda_blas_new(cudaStream_t *stream, cublasHandle_t *blas, void **ws,
                           size_t ws_bytes, const char *name, sl_error *err);

#endif
