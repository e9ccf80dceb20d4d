// llama-indexer.cu: the lightning indexer of a llama-family model's indexer
// file: its key's LayerNorm, scores for any shape, and a selection's kept sum.
#include "llama-indexer.h"

#include <cuda_bf16.h>
#include <math.h>

namespace {

constexpr int NORM_THREADS = 128, SCORE_THREADS = 128, MAX_QUERY = 12288;

// One CTA per row: mean, then variance, by block reductions in double.
__device__ double block_sum(double v, double *shared)
{
    for (int off = 16; off > 0; off /= 2)
        v += __shfl_xor_sync(0xffffffffu, v, off);
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    __syncthreads();
    if (lane == 0)
        shared[warp] = v;
    __syncthreads();
    double total = 0;
    for (int i = 0; i < (int)blockDim.x / 32; i++)
        total += shared[i];
    return total;
}

__global__ void layernorm(float *x, const float *weight, const float *bias, int dim, float eps)
{
    __shared__ double partial[NORM_THREADS / 32];
    float *row = x + (size_t)blockIdx.x * dim;
    double sum = 0;
    for (int i = threadIdx.x; i < dim; i += blockDim.x)
        sum += row[i];
    double mean = block_sum(sum, partial) / dim, var = 0;
    for (int i = threadIdx.x; i < dim; i += blockDim.x)
        var += ((double)row[i] - mean) * ((double)row[i] - mean);
    var = block_sum(var, partial);
    float inv = (float)(1.0 / sqrt(var / dim + (double)eps));
    for (int i = threadIdx.x; i < dim; i += blockDim.x)
        row[i] = __fadd_rn(__fmul_rn(__fmul_rn((float)((double)row[i] - mean), inv), weight[i]),
                           bias[i]);
}

// Grid: (key tiles of SCORE_THREADS, rows). The row's query as float in
// shared memory; each thread scores one key.
__global__ void scores_any(const __nv_bfloat16 *q, const float *w, const __nv_bfloat16 *k,
                           const int32_t *ks, const int32_t *ke, int H, int D, int L,
                           float *scores, size_t score_stride)
{
    extern __shared__ float query[];
    int r = blockIdx.y;
    for (int i = threadIdx.x; i < H * D; i += blockDim.x)
        query[i] = __bfloat162float(q[(size_t)r * H * D + i]);
    __syncthreads();
    int s = blockIdx.x * blockDim.x + threadIdx.x;
    if (s >= L)
        return;
    float *out = scores + (size_t)r * score_stride + s;
    if (s < ks[r] || s >= ke[r]) {
        *out = -INFINITY;
        return;
    }
    const __nv_bfloat16 *key = k + (size_t)s * D;
    float score = 0.0f;
    for (int h = 0; h < H; h++) {
        float dot = 0.0f;
        for (int d = 0; d < D; d++)
            dot = __fadd_rn(dot, __fmul_rn(query[h * D + d], __bfloat162float(key[d])));
        score = __fadd_rn(score, __fmul_rn(w[(size_t)r * H + h], dot > 0.0f ? dot : 0.0f));
    }
    *out = score;
}

// One warp per row.
__global__ void selected_sum(const float *scores, size_t stride, const int32_t *sel, int rows,
                             int k, double *out)
{
    int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (r >= rows)
        return;
    double sum = 0;
    for (int j = lane; j < k; j += 32) {
        int32_t p = sel[(size_t)r * k + j];
        if (p >= 0)
            sum += scores[(size_t)r * stride + p];
    }
    for (int off = 16; off > 0; off /= 2)
        sum += __shfl_xor_sync(0xffffffffu, sum, off);
    if (lane == 0)
        out[r] = sum;
}

} // namespace

extern "C" cudaError_t sl_k_layernorm(float *x, const float *weight, const float *bias, int n,
                                      int dim, float eps, cudaStream_t stream)
{
    if (n < 0 || dim <= 0)
        return cudaErrorInvalidValue;
    if (n == 0)
        return cudaSuccess;
    layernorm<<<n, NORM_THREADS, 0, stream>>>(x, weight, bias, dim, eps);
    return cudaGetLastError();
}

extern "C" cudaError_t sl_k_indexer_bf16_any(const sl_bf16 *q, const float *w, const sl_bf16 *k,
                                             const int32_t *ks, const int32_t *ke, int rows, int H,
                                             int D, int L, float *scores, size_t score_stride,
                                             cudaStream_t stream)
{
    if (rows < 0 || H < 1 || D < 1 || L < 0 || H * D > MAX_QUERY || rows > 65535 ||
        (rows > 1 && score_stride < (size_t)L))
        return cudaErrorInvalidValue;
    if (rows == 0 || L == 0)
        return cudaSuccess;
    dim3 grid((L + SCORE_THREADS - 1) / SCORE_THREADS, rows);
    scores_any<<<grid, SCORE_THREADS, (size_t)H * D * sizeof(float), stream>>>(
        reinterpret_cast<const __nv_bfloat16 *>(q), w, reinterpret_cast<const __nv_bfloat16 *>(k),
        ks, ke, H, D, L, scores, score_stride);
    return cudaGetLastError();
}

extern "C" cudaError_t sl_k_selected_sum(const float *scores, size_t score_stride,
                                         const int32_t *sel, int rows, int k, double *out,
                                         cudaStream_t stream)
{
    if (rows < 0 || k < 0)
        return cudaErrorInvalidValue;
    if (rows == 0)
        return cudaSuccess;
    selected_sum<<<(rows + 3) / 4, 128, 0, stream>>>(scores, score_stride, sel, rows, k, out);
    return cudaGetLastError();
}
