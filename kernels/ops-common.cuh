// ops-common.cuh: the per-row pieces that ops.cu and gemv.cu share, each
// following its CPU reference in engine/cpu/ops.c formula for formula.
#ifndef SL_OPS_COMMON_CUH
#define SL_OPS_COMMON_CUH

#include <cuda_bf16.h>

// 1 / sqrt(mean(x²) + eps) of x[0, dim), as sl_rmsnorm: the sum of squares in
// float (fma per thread, then a tree over the CTA), IEEE sqrt and division.
// Every thread of the CTA (a multiple of 32 threads) gets it.
static __device__ __forceinline__ float block_rms_scale(const float *x, int dim, float eps)
{
    __shared__ float warp_sums[32];
    __shared__ float row_scale;
    float ss = 0.0f;
    for (int j = threadIdx.x; j < dim; j += blockDim.x)
        ss = fmaf(x[j], x[j], ss);
    for (int off = 16; off > 0; off /= 2)
        ss += __shfl_xor_sync(0xffffffffu, ss, off);
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0)
        warp_sums[warp] = ss;
    __syncthreads();
    if (warp == 0) {
        int warps = blockDim.x / 32;
        ss = lane < warps ? warp_sums[lane] : 0.0f;
        for (int off = 16; off > 0; off /= 2)
            ss += __shfl_xor_sync(0xffffffffu, ss, off);
        if (lane == 0)
            row_scale = 1.0f / sqrtf(ss / (float)dim + eps);
    }
    __syncthreads();
    return row_scale;
}

// silu(g) · u = g / (1 + e^-g) · u, as sl_swiglu; e^-g capped at e^88.3 as
// sl_expf caps it, so that a very negative gate gives the same tiny value.
static __device__ __forceinline__ float silu_mul(float g, float u)
{
    return __fmul_rn(g / (1.0f + expf(fminf(-g, 88.3f))), u);
}

#endif
