// lightning.cu: the pieces of DeepSeek-V3.2's lightning indexer at any dims:
// the key's LayerNorm, DeepSeek's FP8 numerics (Hadamard rotation, then e4m3
// with a power-of-two scale per block of 128, multiplied back), and the
// scores for shapes the fast indexer.cu kernels do not take. Each follows
// its CPU reference (engine/cpu/ops.c, engine/cpu/fp8.c, engine/dsa/indexer.c).
#include "sightline-kernels.h"

#include "block-sum.cuh"
#include "fp8-common.cuh"
#include "indexer-cache.cuh"

#include <cuda_bf16.h>
#include <math.h>

namespace {

constexpr int THREADS = 256, KEYS_PER_CTA = 128;

// One CTA per row, in place; mean and variance in double, as sl_layernorm.
__global__ void layernorm(float *x, const float *w, const float *b, int dim, float eps)
{
    __shared__ double red[32];
    float *row = x + (size_t)blockIdx.x * dim;
    double sum = 0.0;
    for (int i = threadIdx.x; i < dim; i += blockDim.x)
        sum += row[i];
    double mean = block_sum(sum, red) / dim, var = 0.0;
    for (int i = threadIdx.x; i < dim; i += blockDim.x)
        var += ((double)row[i] - mean) * ((double)row[i] - mean);
    float inv = (float)(1.0 / sqrt(block_sum(var, red) / dim + (double)eps));
    for (int i = threadIdx.x; i < dim; i += blockDim.x)
        row[i] = __fadd_rn(__fmul_rn(__fmul_rn((float)((double)row[i] - mean), inv), w[i]), b[i]);
}

// One CTA per row of dim (a power of two) values in shared memory: the
// butterflies of sl_hadamard (each value's sums are the CPU's, in its order),
// the 1/sqrt(dim) scale, then sl_fp8_fake_quant per block of min(128, dim).
__global__ void hadamard_fp8(float *x, int dim)
{
    extern __shared__ float v[];
    __shared__ float block_max[32];
    float *row = x + (size_t)blockIdx.x * dim;
    for (int i = threadIdx.x; i < dim; i += blockDim.x)
        v[i] = row[i];
    __syncthreads();
    for (int h = 1; h < dim; h *= 2) {
        for (int p = threadIdx.x; p < dim / 2; p += blockDim.x) {
            int j = (p / h) * 2 * h + p % h;
            float a = v[j], b = v[j + h];
            v[j] = a + b;
            v[j + h] = a - b;
        }
        __syncthreads();
    }
    float scale = 1.0f / sqrtf((float)dim);
    int block = dim < 128 ? dim : 128;
    for (int i = threadIdx.x; i < dim; i += blockDim.x)
        v[i] = __fmul_rn(v[i], scale);
    if (threadIdx.x < dim / block)
        block_max[threadIdx.x] = 1e-4f;
    __syncthreads();
    for (int i = threadIdx.x; i < dim; i += blockDim.x) // amax is order-free: exact
        atomicMax(reinterpret_cast<int *>(&block_max[i / block]), __float_as_int(fabsf(v[i])));
    __syncthreads();
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
        float s = ue8m0_scale(block_max[i / block]);
        row[i] = __fmul_rn(static_cast<float>(e4m3_of(v[i], s)), s);
    }
}

// One thread per key, a CTA per (row, tile of keys); the row's queries and
// head weights in shared memory; the heads summed in order, as
// sl_lightning_scores.
__global__ void scores_any(const __nv_bfloat16 *q, const float *w, const __nv_bfloat16 *k,
                           const int32_t *ks, const int32_t *ke, int H, int D, int L,
                           float *scores, size_t stride)
{
    extern __shared__ float qs[]; // H·D queries, then H weights
    int r = blockIdx.y, s = blockIdx.x * KEYS_PER_CTA + threadIdx.x;
    for (int i = threadIdx.x; i < H * D; i += blockDim.x)
        qs[i] = __bfloat162float(q[(size_t)r * H * D + i]);
    for (int h = threadIdx.x; h < H; h += blockDim.x)
        qs[H * D + h] = w[(size_t)r * H + h];
    __syncthreads();
    if (s >= L)
        return;
    float score = -INFINITY;
    if (s >= ks[r] && s < ke[r]) {
        const __nv_bfloat16 *key = k + (size_t)s * D;
        score = 0.0f;
        for (int h = 0; h < H; h++) {
            float dot = 0.0f;
            for (int d = 0; d < D; d++)
                dot = fmaf(qs[h * D + d], __bfloat162float(key[d]), dot);
            score = fmaf(qs[H * D + h], dot > 0.0f ? dot : 0.0f, score);
        }
    }
    scores[(size_t)r * stride + s] = score;
}

// Byte offsets of key s's values and of its scale in the FP8 indexer cache
// of one sequence (its blocks in order).
__device__ size_t key_offset(int D, int s)
{
    return indexer_key_offset(D, s / kIndexerPage, s % kIndexerPage);
}

__device__ size_t scale_offset(int D, int s)
{
    return indexer_scale_offset(D, s / kIndexerPage, s % kIndexerPage);
}

// One warp per key: its ue8m0 scale and e4m3 bytes, at position first + row
// (first_at: non-NULL, first read on the device).
__global__ void keys_to_fp8(const float *k, int n, int D, int first, const int32_t *first_at,
                            uint8_t *cache)
{
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= n)
        return;
    if (first_at)
        first = __ldg(first_at);
    float s = warp_quant_e4m3(k + (size_t)row * D, D, cache + key_offset(D, first + row));
    if (lane == 0)
        *reinterpret_cast<float *>(cache + scale_offset(D, first + row)) = s;
}

// One thread per value: keys 0 … n − 1 back to bf16 (exact); count_at:
// non-NULL, at most *count_at keys (read on the device).
__global__ void keys_from_fp8(const uint8_t *cache, int n, const int32_t *count_at, int D,
                              __nv_bfloat16 *out)
{
    if (count_at)
        n = min(n, __ldg(count_at));
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (size_t)n * D;
         i += (size_t)gridDim.x * blockDim.x) {
        int s = (int)(i / D), d = (int)(i % D);
        __nv_fp8_e4m3 q;
        q.__x = cache[key_offset(D, s) + d];
        float scale = *reinterpret_cast<const float *>(cache + scale_offset(D, s));
        out[i] = __float2bfloat16_rn(__fmul_rn(static_cast<float>(q), scale));
    }
}

} // namespace

size_t sl_k_indexer_fp8_block_bytes(int D)
{
    return D > 0 ? indexer_block_bytes(D) : 0;
}

cudaError_t sl_k_indexer_keys_fp8(const float *k, int n, int D, int first_pos, uint8_t *cache,
                                  cudaStream_t stream)
{
    if (n < 0 || D <= 0 || D > 128 || D % 4 || first_pos < 0)
        return cudaErrorInvalidValue;
    if (n > 0)
        keys_to_fp8<<<(n + 7) / 8, 256, 0, stream>>>(k, n, D, first_pos, nullptr, cache);
    return cudaGetLastError();
}

cudaError_t sl_k_indexer_keys_fp8_at(const float *k, int n, int D, const int32_t *first_pos,
                                     uint8_t *cache, cudaStream_t stream)
{
    if (n < 0 || D <= 0 || D > 128 || D % 4 || !first_pos)
        return cudaErrorInvalidValue;
    if (n > 0)
        keys_to_fp8<<<(n + 7) / 8, 256, 0, stream>>>(k, n, D, 0, first_pos, cache);
    return cudaGetLastError();
}

cudaError_t sl_k_indexer_keys_from_fp8(const uint8_t *cache, int n, int D, sl_bf16 *out,
                                       cudaStream_t stream)
{
    if (n < 0 || D <= 0 || D > 128 || D % 4)
        return cudaErrorInvalidValue;
    size_t blocks = ((size_t)n * D + 255) / 256;
    if (n > 0)
        keys_from_fp8<<<blocks > 65535 ? 65535u : (unsigned)blocks, 256, 0, stream>>>(
            cache, n, nullptr, D, reinterpret_cast<__nv_bfloat16 *>(out));
    return cudaGetLastError();
}

cudaError_t sl_k_indexer_keys_from_fp8_at(const uint8_t *cache, const int32_t *count, int max_n,
                                          int D, sl_bf16 *out, cudaStream_t stream)
{
    if (max_n < 0 || D <= 0 || D > 128 || D % 4 || !count)
        return cudaErrorInvalidValue;
    size_t blocks = ((size_t)max_n * D + 255) / 256;
    if (max_n > 0) /* a grid for about 1M values a pass: short ranges end early */
        keys_from_fp8<<<blocks > 4096 ? 4096u : (unsigned)blocks, 256, 0, stream>>>(
            cache, max_n, count, D, reinterpret_cast<__nv_bfloat16 *>(out));
    return cudaGetLastError();
}

cudaError_t sl_k_layernorm(float *x, const float *weight, const float *bias, int n, int dim,
                           float eps, cudaStream_t stream)
{
    if (n < 0 || dim <= 0)
        return cudaErrorInvalidValue;
    if (n > 0)
        layernorm<<<n, THREADS, 0, stream>>>(x, weight, bias, dim, eps);
    return cudaGetLastError();
}

cudaError_t sl_k_hadamard_fp8(float *x, int n, int dim, cudaStream_t stream)
{
    if (n < 0 || dim < 1 || dim > 8192 || (dim & (dim - 1)))
        return cudaErrorInvalidValue;
    if (n > 0)
        hadamard_fp8<<<n, THREADS, (size_t)dim * sizeof(float), stream>>>(x, dim);
    return cudaGetLastError();
}

bool sl_k_indexer_bf16_takes(int H, int D)
{
    return H % 8 == 0 && H >= 8 && H <= 128 && (D == 64 || D == 128);
}

cudaError_t sl_k_indexer_any(const sl_bf16 *q, const float *w, const sl_bf16 *k, const int32_t *ks,
                             const int32_t *ke, int rows, int H, int D, int L, float *scores,
                             size_t score_stride, cudaStream_t stream)
{
    if (sl_k_indexer_bf16_takes(H, D))
        return sl_k_indexer_bf16(q, w, k, ks, ke, rows, H, D, L, scores, score_stride, stream);
    size_t smem = ((size_t)H * D + H) * sizeof(float);
    if (rows < 0 || H <= 0 || D <= 0 || L < 0 || smem > 48 * 1024 ||
        (rows > 1 && score_stride < (size_t)L) || rows > 65535)
        return cudaErrorInvalidValue;
    if (rows == 0 || L == 0)
        return cudaSuccess;
    dim3 grid((unsigned)((L + KEYS_PER_CTA - 1) / KEYS_PER_CTA), (unsigned)rows);
    scores_any<<<grid, KEYS_PER_CTA, smem, stream>>>(
        reinterpret_cast<const __nv_bfloat16 *>(q), w, reinterpret_cast<const __nv_bfloat16 *>(k),
        ks, ke, H, D, L, scores, score_stride);
    return cudaGetLastError();
}
