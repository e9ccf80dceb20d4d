#include "cuda/cuda-common.h"

#include "cuda/memory-plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

sl_status sl_cuda_failed(cudaError_t e, const char *what, sl_error *err)
{
    return sl_fail(err, e == cudaErrorMemoryAllocation ? SL_ERR_NO_MEMORY : SL_ERR_IO,
                   "GPU: %s: %s", what, cudaGetErrorString(e));
}

uint16_t sl_bf16_round(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

sl_status sl_cuda_matrix_to(const sl_matrix *w, sl_bf16 *dst, sl_error *err)
{
    size_t rows = (size_t)w->rows, cols = (size_t)w->cols;
    float *row = malloc(cols * sizeof *row);
    uint16_t *host = malloc(rows * cols * sizeof *host);
    cudaError_t e = cudaSuccess;
    if (row && host) {
        for (size_t r = 0; r < rows; r++) {
            sl_matrix_row(w, (int64_t)r, row);
            for (size_t c = 0; c < cols; c++)
                host[r * cols + c] = sl_bf16_round(row[c]);
        }
        e = cudaMemcpy(dst, host, rows * cols * 2, cudaMemcpyHostToDevice);
    }
    free(row);
    free(host);
    if (!row || !host)
        return sl_fail(err, SL_ERR_NO_MEMORY, "GPU: out of host memory converting '%s'", w->name);
    return e == cudaSuccess ? SL_OK : sl_cuda_failed(e, w->name, err);
}

sl_status sl_cuda_upload_floats(const float *v, size_t n, float **out, sl_error *err)
{
    CK(cudaMalloc((void **)out, n ? n * sizeof(float) : 1), "weights");
    CK(cudaMemcpy(*out, v, n * sizeof(float), cudaMemcpyHostToDevice), "weights");
    return SL_OK;
}

static sl_status gemm(cublasHandle_t blas, cudaDataType type, const void *w, int out, int in,
                      const void *x, int n, float alpha, float beta, float *y, const char *what,
                      sl_error *err)
{
    cublasStatus_t st = cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &alpha, w, type,
                                     in, x, type, in, &beta, y, CUDA_R_32F, out,
                                     CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    return st == CUBLAS_STATUS_SUCCESS
               ? SL_OK
               : sl_fail(err, SL_ERR_IO, "%s: cuBLAS failed (status %d)", what, (int)st);
}

sl_status sl_cuda_linear(cublasHandle_t blas, cudaDataType type, const void *w, int out, int in,
                         const void *x, int n, float alpha, float *y, const char *what,
                         sl_error *err)
{
    return gemm(blas, type, w, out, in, x, n, alpha, 0.0f, y, what, err);
}

sl_status sl_cuda_linear_add(cublasHandle_t blas, cudaDataType type, const void *w, int out,
                             int in, const void *x, int n, float *y, const char *what,
                             sl_error *err)
{
    return gemm(blas, type, w, out, in, x, n, 1.0f, 1.0f, y, what, err);
}

sl_status sl_cuda_linear_batched(cublasHandle_t blas, const void *const *w, int out, int in,
                                 const void *const *x, void *const *y, int batch,
                                 const char *what, sl_error *err)
{
    float alpha = 1.0f, beta = 0.0f;
    cublasStatus_t st = cublasGemmBatchedEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, out, 1, in, &alpha, w,
                                            CUDA_R_16BF, in, x, CUDA_R_16BF, in, &beta, y,
                                            CUDA_R_32F, out, batch, CUBLAS_COMPUTE_32F,
                                            CUBLAS_GEMM_DEFAULT);
    return st == CUBLAS_STATUS_SUCCESS
               ? SL_OK
               : sl_fail(err, SL_ERR_IO, "%s: cuBLAS failed (status %d)", what, (int)st);
}

sl_status sl_cuda_capture_end(cudaStream_t stream, sl_status launched, cudaGraphExec_t *exec,
                              sl_error *err)
{
    cudaGraph_t graph = NULL;
    cudaError_t e = cudaStreamEndCapture(stream, &graph);
    *exec = NULL;
    if (!launched && e == cudaSuccess)
        e = cudaGraphInstantiate(exec, graph, 0);
    if (graph)
        cudaGraphDestroy(graph);
    if (!launched && e == cudaSuccess)
        return SL_OK;
    cudaGetLastError();
    *exec = NULL;
    return launched ? launched : sl_cuda_failed(e, "capturing a step", err);
}

sl_status sl_cuda_step_replay(cudaStream_t stream, cudaGraphExec_t exec, int32_t *step,
                              int32_t *step_host, int32_t id, int pos, sl_error *err)
{
    step_host[0] = id;
    step_host[1] = pos;
    step_host[2] = pos + 1;
    CK(cudaMemcpyAsync(step, step_host, 3 * sizeof(int32_t), cudaMemcpyHostToDevice, stream),
       "the step's token");
    CK(cudaGraphLaunch(exec, stream), "launching a step");
    return SL_OK;
}

sl_status sl_cuda_open(int device, uint64_t weight_bytes, char *name, size_t name_cap,
                       sl_error *err)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || device < 0 || device >= count)
        return sl_fail(err, SL_ERR_UNSUPPORTED, "cuda:%d: no such GPU (%s)", device,
                       e != cudaSuccess ? cudaGetErrorString(e)
                                        : count ? "fewer GPUs" : "the driver found none");
    struct cudaDeviceProp prop;
    size_t free_bytes = 0, total = 0;
    CK(cudaSetDevice(device), "choosing the device");
    CK(cudaGetDeviceProperties(&prop, device), "reading the device's properties");
    CK(cudaMemGetInfo(&free_bytes, &total), "reading the device's free memory");
    snprintf(name, name_cap, "cuda:%d (%.100s, %.1f GiB)", device, prop.name,
             (double)total / (double)(1ull << 30));
    sl_memory_plan plan = {.weights = weight_bytes, .total = weight_bytes};
    return sl_memory_plan_check(&plan, free_bytes, name, 0, err);
}

sl_status sl_cuda_rows_to_device(int32_t *ids_dev, const int32_t *ids, int32_t *len_dev, int n,
                                 int pos, cudaStream_t stream, sl_error *err)
{
    CK(cudaMemcpyAsync(ids_dev, ids, (size_t)n * 4, cudaMemcpyHostToDevice, stream), "token ids");
    if (!len_dev)
        return SL_OK;
    int32_t *len = malloc((size_t)(n > 0 ? n : 1) * sizeof *len);
    if (!len)
        return sl_fail(err, SL_ERR_NO_MEMORY, "GPU: out of host memory for row lengths");
    for (int t = 0; t < n; t++)
        len[t] = pos + t + 1;
    /* from pageable memory the copy is staged before it returns: len may go */
    cudaError_t e = cudaMemcpyAsync(len_dev, len, (size_t)n * sizeof *len, cudaMemcpyHostToDevice,
                                    stream);
    free(len);
    return e == cudaSuccess ? SL_OK : sl_cuda_failed(e, "row lengths", err);
}

sl_status sl_cuda_state_buffers(const sl_cuda_buffer *b, size_t n, uint64_t kv_cache,
                                uint64_t indexer_cache, const char *desc, size_t max_tokens,
                                sl_error *err)
{
    size_t free_bytes = 0, total = 0;
    CK(cudaMemGetInfo(&free_bytes, &total), "reading the device's free memory");
    uint64_t need = 0;
    for (size_t i = 0; i < n; i++)
        need += b[i].bytes;
    sl_memory_plan plan = {.kv_cache = kv_cache, .indexer_cache = indexer_cache,
                           .activations = need - kv_cache - indexer_cache, .total = need};
    sl_status st = sl_memory_plan_check(&plan, free_bytes, desc, max_tokens, err);
    for (size_t i = 0; !st && i < n; i++)
        if (b[i].bytes && cudaMalloc(b[i].at, b[i].bytes) != cudaSuccess)
            st = sl_fail(err, SL_ERR_NO_MEMORY, "%s: out of memory for a context of %zu tokens",
                         desc, max_tokens);
    return st;
}

sl_status sl_cuda_blas_new(cudaStream_t *stream, cublasHandle_t *blas, void **ws,
                           size_t ws_bytes, const char *name, sl_error *err)
{
    if (cudaStreamCreateWithFlags(stream, cudaStreamNonBlocking) != cudaSuccess ||
        cublasCreate(blas) != CUBLAS_STATUS_SUCCESS ||
        cublasSetStream(*blas, *stream) != CUBLAS_STATUS_SUCCESS ||
        cudaMalloc(ws, ws_bytes) != cudaSuccess ||
        cublasSetWorkspace(*blas, *ws, ws_bytes) != CUBLAS_STATUS_SUCCESS)
        return sl_fail(err, SL_ERR_IO, "%s: cannot create a stream and a cuBLAS handle", name);
    return SL_OK;
}
