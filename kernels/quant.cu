// quant.cu: float32 <-> bf16, and e4m3 with power-of-two block scales.
#include "sightline-kernels.h"

#include "fp8-common.cuh"

#include <cuda_bf16.h>

namespace {

// row: non-NULL, out is row *row of n values (read on the device, for a
// decode step replayed as a graph).
__global__ void f32_to_bf16(const float *in, __nv_bfloat16 *out, size_t n, const int32_t *row)
{
    if (row)
        out += (size_t)__ldg(row) * n;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        out[i] = __float2bfloat16_rn(in[i]);
}

__global__ void bf16_to_f32(const __nv_bfloat16 *in, float *out, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        out[i] = __bfloat162float(in[i]);
}

// One warp per block of values: the block's amax by a warp reduction, then
// each lane converts its share.
__global__ void quant_e4m3(const float *in, uint8_t *out, float *scales, size_t n_blocks, int block)
{
    size_t b = blockIdx.x * (size_t)(blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (b >= n_blocks)
        return;
    float s = warp_quant_e4m3(in + b * (size_t)block, block, out + b * (size_t)block);
    if (lane == 0)
        scales[b] = s;
}

__global__ void scale_groups(float *x, const float *s, size_t n, int group)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        x[i] *= s[i / (size_t)group];
}

unsigned grid_for(size_t n, unsigned threads)
{
    size_t blocks = (n + threads - 1) / threads;
    return blocks > 65535 ? 65535u : (unsigned)(blocks ? blocks : 1);
}

} // namespace

extern "C" cudaError_t sl_k_f32_to_bf16(const float *in, sl_bf16 *out, size_t n, cudaStream_t stream)
{
    f32_to_bf16<<<grid_for(n, 256), 256, 0, stream>>>(in, reinterpret_cast<__nv_bfloat16 *>(out), n,
                                                      nullptr);
    return cudaGetLastError();
}

extern "C" cudaError_t sl_k_f32_to_bf16_at(const float *in, sl_bf16 *out, size_t n,
                                           const int32_t *row, cudaStream_t stream)
{
    if (!row)
        return cudaErrorInvalidValue;
    f32_to_bf16<<<grid_for(n, 256), 256, 0, stream>>>(in, reinterpret_cast<__nv_bfloat16 *>(out), n,
                                                      row);
    return cudaGetLastError();
}

extern "C" cudaError_t sl_k_bf16_to_f32(const sl_bf16 *in, float *out, size_t n, cudaStream_t stream)
{
    bf16_to_f32<<<grid_for(n, 256), 256, 0, stream>>>(reinterpret_cast<const __nv_bfloat16 *>(in), out, n);
    return cudaGetLastError();
}

extern "C" cudaError_t sl_k_quant_e4m3(const float *in, uint8_t *out, float *scales, size_t n,
                                       int block, cudaStream_t stream)
{
    if (block <= 0 || n % (size_t)block)
        return cudaErrorInvalidValue;
    size_t n_blocks = n / (size_t)block;
    unsigned warps = 8;
    size_t grid = (n_blocks + warps - 1) / warps;
    if (grid == 0)
        return cudaSuccess;
    if (grid > 0x7fffffff)
        return cudaErrorInvalidValue;
    quant_e4m3<<<(unsigned)grid, warps * 32, 0, stream>>>(in, out, scales, n_blocks, block);
    return cudaGetLastError();
}

extern "C" cudaError_t sl_k_scale_groups(float *x, const float *s, size_t n, int group,
                                         cudaStream_t stream)
{
    if (group <= 0)
        return cudaErrorInvalidValue;
    scale_groups<<<grid_for(n, 256), 256, 0, stream>>>(x, s, n, group);
    return cudaGetLastError();
}
